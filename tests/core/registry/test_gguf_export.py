"""The GGUF writer on a small random Llama: transformers reads the file back to the same logits and tokens."""

from pathlib import Path

import pytest
import torch

from t2sql_pipeline.core.registry.gguf_export import GgufExportError, check_gguf_architecture, write_gguf

TEXTS = ["SELECT name FROM singer WHERE age > 30;", "How many singers are there?", "SELECT count(*) FROM concert;"] * 40


@pytest.fixture(scope="module")
def tiny_llama():
    """Grouped-query attention (4 heads, 2 kv heads) and an untied output layer: both layouts the writer must get right."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from t2sql_pipeline.core.training.base_models import build_demo_tokenizer

    tokenizer = build_demo_tokenizer(TEXTS, 320)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():  # sharp attention: at init it is nearly uniform, and a wrong rotary row order would hardly show
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(8.0)
            layer.self_attn.k_proj.weight.mul_(8.0)
    return model, tokenizer


def read_back(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype="float32").eval()
    return model, AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


@pytest.mark.parametrize(("quantization", "tolerance"), [("f16", 2e-3), ("q8_0", 5e-2)])
def test_transformers_reads_back_the_same_model(tiny_llama, tmp_path: Path, quantization: str, tolerance: float) -> None:
    model, tokenizer = tiny_llama
    path = tmp_path / "model.gguf"
    write_gguf(model, tokenizer, path, quantization, None, "tiny")
    back, back_tokenizer = read_back(path)
    text = "SELECT name FROM singer WHERE age > 30;"
    ids = tokenizer(text, return_tensors="pt").input_ids
    assert back_tokenizer(text, return_tensors="pt").input_ids.tolist() == ids.tolist()  # BOS included, same merges
    with torch.no_grad():
        expected, actual = model(ids).logits, back(ids).logits
    # A wrong query/key row order (the rotary layout) or a swapped projection moves logits by far more than rounding.
    assert (expected - actual).abs().max().item() < tolerance
    if quantization == "f16":  # q8_0 rounding may flip a near tie of this random model's logits
        assert torch.equal(expected.argmax(-1), actual.argmax(-1))


def test_q8_0_is_smaller_and_the_same_model_gives_the_same_bytes(tiny_llama, tmp_path: Path) -> None:
    model, tokenizer = tiny_llama
    paths = {name: tmp_path / f"{name}.gguf" for name in ("f16", "f16-again", "q8_0")}
    for name, path in paths.items():
        write_gguf(model, tokenizer, path, name.removesuffix("-again"), None, "tiny")
    assert paths["f16"].read_bytes() == paths["f16-again"].read_bytes()
    assert paths["q8_0"].stat().st_size < 0.75 * paths["f16"].stat().st_size


def test_metadata_from_a_base_gguf_is_carried_over(tiny_llama, tmp_path: Path) -> None:
    import gguf

    model, tokenizer = tiny_llama
    base = tmp_path / "base.gguf"
    write_gguf(model, tokenizer, base, "q8_0", None, "the base")
    exported = tmp_path / "exported.gguf"
    write_gguf(model, tokenizer, exported, "f16", base, "the fine-tune")
    fields = gguf.GGUFReader(exported).fields
    base_fields = gguf.GGUFReader(base).fields
    assert fields["general.name"].contents() == "the fine-tune"
    assert fields["general.file_type"].contents() == int(gguf.LlamaFileType.MOSTLY_F16)
    assert fields["tokenizer.ggml.merges"].contents() == base_fields["tokenizer.ggml.merges"].contents()
    assert fields["llama.attention.head_count_kv"].contents() == 2


def test_other_architectures_are_refused_by_name() -> None:
    from transformers import Qwen2Config

    with pytest.raises(GgufExportError, match=r"t2sql-bird/3: --format gguf writes Llama-architecture models; this one is 'qwen2' \(use --format merged\)"):
        check_gguf_architecture(Qwen2Config(), "t2sql-bird/3")


def test_llama_cpp_reads_the_file_to_the_same_tokens_and_logits(tiny_llama, tmp_path: Path) -> None:
    """Where llama-cpp-python is installed (not a dependency: it builds llama.cpp from source, ~13 min on 2 cores)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    import numpy as np

    model, tokenizer = tiny_llama
    path = tmp_path / "model.gguf"
    write_gguf(model, tokenizer, path, "f16", None, "tiny")
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False, logits_all=True)
    try:
        text = "SELECT name FROM singer WHERE age > 30;"
        ids = tokenizer(text)["input_ids"]
        assert llm.tokenize(text.encode(), add_bos=True) == ids  # llama.cpp's own tokenizer, from the file's metadata
        llm.eval(ids)
        theirs = np.array(llm.scores[: len(ids)])
    finally:
        llm.close()
    with torch.no_grad():
        ours = model(torch.tensor([ids])).logits[0].numpy()
    assert np.abs(theirs - ours).max() < 2e-3
    assert (theirs.argmax(-1) == ours.argmax(-1)).all()
