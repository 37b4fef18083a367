"""Base models: the built-in demo model and pretrained checkpoints, loaded the same way.

The demo model is a small Llama-architecture network built from a config, with a
byte-level BPE tokenizer trained on the demo corpus. Both are saved in the
standard Hugging Face layout, so everything downstream loads them with
`AutoModelForCausalLM.from_pretrained` exactly as it would load a hub model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from t2sql_pipeline.core.records import BaseModelManifest
from t2sql_pipeline.core.settings import DemoModelSettings, ModelSettings, QuantizationSettings

if TYPE_CHECKING:
    from transformers import BitsAndBytesConfig, PreTrainedModel, PreTrainedTokenizerBase

    from t2sql_pipeline.core.settings import PipelineSettings
    from t2sql_pipeline.core.training.hardware import HardwarePlan

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")


def build_demo_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer trained on `texts` that prepends `<s>` like Llama's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,  # its progress display leaves blank lines on the user's terminal
    )  # fmt: skip
    tokenizer.train_from_iterator(texts, trainer)
    bos_id = tokenizer.token_to_id("<s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def build_demo_model(settings: DemoModelSettings, tokenizer: PreTrainedTokenizerBase, seed: int) -> PreTrainedModel:
    """A randomly initialised Llama-architecture model sized by `settings`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        intermediate_size=settings.intermediate_size,
        num_hidden_layers=settings.num_hidden_layers,
        num_attention_heads=settings.num_attention_heads,
        num_key_value_heads=settings.num_attention_heads,
        max_position_embeddings=settings.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save_demo_base_model(settings: ModelSettings, corpus: Iterable[str], out_dir: Path, seed: int) -> BaseModelManifest:
    """Train the tokenizer on `corpus`, build the model, save both in Hugging Face layout."""
    tokenizer = build_demo_tokenizer(corpus, settings.demo.vocab_size)
    model = build_demo_model(settings.demo, tokenizer, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return describe_base_model(str(out_dir), settings.name_or_path)


def resolve_pretrained(settings: ModelSettings) -> str:
    """Download (or find in the local cache) a hub checkpoint; a local directory is used as is."""
    if Path(settings.name_or_path).is_dir():
        return str(Path(settings.name_or_path).resolve())
    from huggingface_hub import snapshot_download

    return snapshot_download(settings.name_or_path, revision=settings.revision)


def describe_base_model(path: str, name: str) -> BaseModelManifest:
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return BaseModelManifest(
        path=path,
        name=name,
        parameters=estimate_parameters(config),
        vocab_size=len(tokenizer),
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
    )


def estimate_parameters(config: object) -> int:
    """Parameter count of a decoder-only transformer from its config (no weights loaded)."""
    hidden = config.hidden_size
    layers = config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", heads) or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    intermediate = config.intermediate_size
    vocab = config.vocab_size
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)
    mlp = 3 * hidden * intermediate
    embeddings = vocab * hidden * (1 if getattr(config, "tie_word_embeddings", False) else 2)
    return layers * (attention + mlp + 2 * hidden) + embeddings + hidden


def load_tokenizer(path: str, *, for_generation: bool = False) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if for_generation:
        tokenizer.padding_side = "left"  # generation appends on the right
    return tokenizer


def build_quantization_config(quantization: QuantizationSettings, compute_dtype: str) -> BitsAndBytesConfig:
    """4-bit (QLoRA) loading of the base model; `compute_dtype` is the resolved matmul dtype (e.g. "bfloat16")."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quantization.quant_type,
        bnb_4bit_use_double_quant=quantization.double_quant,
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_quant_storage=compute_dtype,  # same dtype as the compute: lets FSDP/merging treat the weights uniformly
    )


def load_base_for_training(
    path: str, *, dtype: str, quantization: BitsAndBytesConfig | None, gradient_checkpointing: bool, attention: str = "sdpa"
) -> PreTrainedModel:
    """The base model for LoRA training: in `dtype`, or 4-bit and prepared for k-bit training when `quantization` is given."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, quantization_config=quantization, attn_implementation=attention)
    if quantization is not None:
        from peft import prepare_model_for_kbit_training

        # Casts norms to fp32 and enables input gradients so checkpointing works through frozen 4-bit layers.
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing, gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    return model


def load_planned_base(path: str, settings: PipelineSettings, plan: HardwarePlan) -> PreTrainedModel:
    """The base model as the hardware plan loads it (dtype, 4-bit where planned, attention): SFT and GRPO both load through it."""
    quantization = build_quantization_config(settings.quantization, plan.compute_dtype) if plan.load_in_4bit else None
    return load_base_for_training(
        path, dtype=plan.compute_dtype, quantization=quantization, gradient_checkpointing=settings.training.gradient_checkpointing, attention=plan.attention
    )
