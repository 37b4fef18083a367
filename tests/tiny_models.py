"""Tiny models and data that tests build in seconds (no model hub): demo settings, a 2-layer Llama saved
in Hugging Face layout with rows tokenized for it, and a prompt corpus with a chat template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t2sql_pipeline.core.settings import PipelineSettings, load_settings
from t2sql_pipeline.core.training.tokenization import SYSTEM_PROMPT

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
QUESTIONS = [("customers", "city"), ("orders", "total"), ("products", "price"), ("singers", "age"), ("flights", "origin")]


def tiny_settings(*overrides: str) -> PipelineSettings:
    return load_settings("demo", overrides=list(overrides), config_dir=CONFIG_DIR)


def make_tiny_base(out_dir: Path) -> str:
    """A 2-layer Llama with a BPE tokenizer trained on the test questions, saved in Hugging Face layout."""
    from t2sql_pipeline.core.settings import DemoModelSettings
    from t2sql_pipeline.core.training.base_models import build_demo_model, build_demo_tokenizer

    corpus = [f"[INST] How many {t} per {c}? [/INST] SELECT {c}, count(*) FROM {t} GROUP BY {c}" for t, c in QUESTIONS] * 10
    tokenizer = build_demo_tokenizer(corpus, vocab_size=300)
    demo = DemoModelSettings(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=128)
    model = build_demo_model(demo, tokenizer, seed=0)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return str(out_dir)


def make_rows(base_path: str, repeat: int = 4) -> list[dict[str, Any]]:
    from transformers import AutoTokenizer

    from t2sql_pipeline.core.training.tokenization import tokenize_example

    tokenizer = AutoTokenizer.from_pretrained(base_path)
    rows = []
    for table, column in QUESTIONS * repeat:
        example = tokenize_example(tokenizer, f"How many {table} per {column}?", f"SELECT {column}, count(*) FROM {table} GROUP BY {column}", "inst")
        rows.append({"input_ids": example.input_ids, "labels": example.labels, "prompt_length": example.prompt_length})
    return rows


# A singer question, its SQL, and a corpus to train a tokenizer for prompts about them.
SCHEMA = "CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER);"
QUESTION = "How many singers are older than 30?"
SQL = "SELECT count(*) FROM singer WHERE age > 30"
CORPUS = [
    SCHEMA,
    QUESTION,
    SQL,
    SYSTEM_PROMPT,
    "SELECT name FROM singer ORDER BY age DESC LIMIT 3",
    "List the names of singers. Evidence: older refers to age > 30",
    "[INST] Database schema: Question: [/INST]",
] * 10

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
