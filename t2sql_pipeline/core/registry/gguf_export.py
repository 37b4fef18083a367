"""A merged Llama-architecture model written as one GGUF file, readable by llama.cpp, Ollama and transformers.

The tensors are renamed to llama.cpp's names with the `gguf` package's own name map, and the
query/key projections are reordered the way llama.cpp's converter stores them (its rotary
embedding pairs neighbouring dimensions; Hugging Face's pairs the two halves of each head).
Metadata comes from the base GGUF file when the model was trained on one, so the tokenizer,
chat template and the base's own descriptions travel unchanged; otherwise it is built from the
model's config and its byte-level BPE tokenizer.

Written in a fixed order from fixed inputs, the same model gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

Quantization = Literal["f16", "q8_0"]
GGUF_ARCHITECTURE = "llama"
# Keys the writer sets itself or that describe the base file's encoding, not the model.
_NOT_CARRIED = ("GGUF.", "general.architecture", "general.file_type", "general.quantization_version")
_TOKEN_NORMAL, _TOKEN_CONTROL = 1, 3  # llama.cpp token types


class GgufExportError(ValueError):
    """A model this writer cannot express as GGUF; the message says why."""


def check_gguf_architecture(config: Any, label: str) -> None:
    """Only Llama-architecture models (SmolLM2, TinyLlama, Llama 3.2, the demo's) have a tensor layout written here."""
    model_type = getattr(config, "model_type", None)
    if model_type != GGUF_ARCHITECTURE:
        raise GgufExportError(f"{label}: --format gguf writes Llama-architecture models; this one is {model_type!r} (use --format merged)")


def write_gguf(model: Any, tokenizer: Any, path: Path, quantization: Quantization, base_gguf: Path | None, name: str) -> None:
    """Write `model` (merged, float weights) to `path`; metadata from `base_gguf` when given, else from config and tokenizer."""
    import gguf

    config = model.config
    check_gguf_architecture(config, name)
    metadata = _carried_metadata(base_gguf) if base_gguf is not None else _built_metadata(config, tokenizer)
    metadata["general.name"] = (name, gguf.GGUFValueType.STRING, None)
    file_type = gguf.LlamaFileType.MOSTLY_F16 if quantization == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0
    metadata["general.file_type"] = (int(file_type), gguf.GGUFValueType.UINT32, None)
    metadata["general.quantization_version"] = (gguf.GGML_QUANT_VERSION, gguf.GGUFValueType.UINT32, None)

    writer = gguf.GGUFWriter(path, GGUF_ARCHITECTURE)
    for key in sorted(metadata):
        value, value_type, sub_type = metadata[key]
        writer.add_key_value(key, value, value_type, sub_type)
    for tensor_name, data, raw_type in _gguf_tensors(model, quantization):
        writer.add_tensor(tensor_name, data, raw_dtype=raw_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _gguf_tensors(model: Any, quantization: Quantization) -> list[tuple[str, np.ndarray, Any]]:
    import gguf
    import torch

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    tensors = []
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # llama.cpp reuses token_embd for a tied output layer
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise GgufExportError(f"tensor {hf_name!r} has no llama.cpp name; the model is not a plain Llama layout")
        values = tensor.detach().to(torch.float32).cpu().numpy()
        if hf_name.endswith("self_attn.q_proj.weight"):
            values = _interleave_rotary_halves(values, heads)
        elif hf_name.endswith("self_attn.k_proj.weight"):
            values = _interleave_rotary_halves(values, kv_heads)
        tensors.append((gguf_name, *_encoded(values, quantization)))
    return tensors


def _interleave_rotary_halves(weight: np.ndarray, heads: int) -> np.ndarray:
    """Reorder each head's output rows from [first half, second half] to pairs (h0, h1, h0', h1', ...).

    >>> import numpy as np
    >>> _interleave_rotary_halves(np.arange(4).reshape(4, 1), 1).ravel().tolist()
    [0, 2, 1, 3]
    """
    rows = weight.shape[0]
    half = rows // heads // 2
    return weight.reshape(heads, 2, half, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _encoded(values: np.ndarray, quantization: Quantization) -> tuple[np.ndarray, Any]:
    """Norms (1-D) stay float32 as llama.cpp keeps them; matrices become f16, or q8_0 where rows split into its 32-value blocks."""
    import gguf
    import numpy as np

    if values.ndim == 1:
        return values.astype(np.float32), None
    if quantization == "q8_0" and values.shape[-1] % gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0] == 0:
        return gguf.quants.quantize(values, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0
    return values.astype(np.float16), None


def _carried_metadata(base_gguf: Path) -> dict[str, tuple[Any, Any, Any]]:
    """Every key of the base file except the ones that describe its own encoding."""
    import gguf

    reader = gguf.GGUFReader(base_gguf)
    carried = {}
    for key, field in reader.fields.items():
        if key.startswith(_NOT_CARRIED) or not field.types:
            continue
        value_type = field.types[0]
        sub_type = field.types[1] if value_type == gguf.GGUFValueType.ARRAY else None
        carried[key] = (field.contents(), value_type, sub_type)
    return carried


def _built_metadata(config: Any, tokenizer: Any) -> dict[str, tuple[Any, Any, Any]]:
    """llama.cpp's hyperparameter and tokenizer keys for a model that did not come from a GGUF file."""
    import gguf

    u32, f32 = gguf.GGUFValueType.UINT32, gguf.GGUFValueType.FLOAT32
    arch = GGUF_ARCHITECTURE
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rope_theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta", getattr(config, "rope_theta", 10000.0))
    metadata: dict[str, tuple[Any, Any, Any]] = {
        f"{arch}.block_count": (config.num_hidden_layers, u32, None),
        f"{arch}.context_length": (config.max_position_embeddings, u32, None),
        f"{arch}.embedding_length": (config.hidden_size, u32, None),
        f"{arch}.feed_forward_length": (config.intermediate_size, u32, None),
        f"{arch}.attention.head_count": (config.num_attention_heads, u32, None),
        f"{arch}.attention.head_count_kv": (config.num_key_value_heads, u32, None),
        f"{arch}.attention.layer_norm_rms_epsilon": (config.rms_norm_eps, f32, None),
        f"{arch}.rope.freq_base": (float(rope_theta), f32, None),
        f"{arch}.rope.dimension_count": (head_dim, u32, None),
        f"{arch}.vocab_size": (config.vocab_size, u32, None),
    }
    metadata.update(_tokenizer_metadata(tokenizer, config.vocab_size))
    return metadata


def _tokenizer_metadata(tokenizer: Any, vocab_size: int) -> dict[str, tuple[Any, Any, Any]]:
    """A byte-level BPE tokenizer as llama.cpp's `gpt2` vocabulary: tokens by id, merges, special ids, chat template."""
    import json

    import gguf

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model = state["model"]
    if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(state.get("pre_tokenizer")):
        raise GgufExportError("--format gguf writes byte-level BPE tokenizers only (or any tokenizer carried from a GGUF base)")
    by_id = {index: token for token, index in model["vocab"].items()}
    special = {added["id"]: added["content"] for added in state.get("added_tokens", []) if added.get("special")}
    by_id.update(special)
    if sorted(by_id) != list(range(len(by_id))) or len(by_id) > vocab_size:
        raise GgufExportError(f"the tokenizer's ids are not 0..{len(by_id) - 1} within the model's vocabulary of {vocab_size}")
    tokens = [by_id[i] for i in range(len(by_id))] + [f"[PAD{i}]" for i in range(len(by_id), vocab_size)]
    token_types = [_TOKEN_CONTROL if i in special or i >= len(by_id) else _TOKEN_NORMAL for i in range(vocab_size)]
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model.get("merges", [])]
    array, text, u32 = gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.STRING, gguf.GGUFValueType.UINT32
    metadata: dict[str, tuple[Any, Any, Any]] = {
        "tokenizer.ggml.model": ("gpt2", text, None),
        "tokenizer.ggml.pre": ("gpt-2", text, None),
        "tokenizer.ggml.tokens": (tokens, array, text),
        "tokenizer.ggml.token_type": (token_types, array, gguf.GGUFValueType.INT32),
        "tokenizer.ggml.merges": (merges, array, text),
        "tokenizer.ggml.add_bos_token": (_adds_bos(tokenizer), gguf.GGUFValueType.BOOL, None),
    }
    for key, token_id in (("bos", tokenizer.bos_token_id), ("eos", tokenizer.eos_token_id), ("padding", tokenizer.pad_token_id)):
        if token_id is not None:
            metadata[f"tokenizer.ggml.{key}_token_id"] = (int(token_id), u32, None)
    if getattr(tokenizer, "chat_template", None):
        metadata["tokenizer.chat_template"] = (tokenizer.chat_template, text, None)
    return metadata


def _adds_bos(tokenizer: Any) -> bool:
    """Whether encoding a text puts BOS first (the demo's tokenizer does it in its post-processor)."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a")["input_ids"][:1] == [bos]
