"""Fixtures shared by the core tests: a tiny random Llama to generate with, and prompts for it."""

from __future__ import annotations

import pytest

CORPUS = [
    "SELECT name FROM customers WHERE city = 'Paris'",
    "How many customers are there?",
    "SELECT count(*) FROM orders",
    "List the names of products with price above 100.",
] * 20


@pytest.fixture(scope="module")
def tiny_model():
    """(model, tokenizer): a two-layer random Llama and a tokenizer trained on `CORPUS`, built in a second."""
    from t2sql_pipeline.core.settings import DemoModelSettings
    from t2sql_pipeline.core.training.base_models import build_demo_model, build_demo_tokenizer

    tokenizer = build_demo_tokenizer(CORPUS, vocab_size=300)
    settings = DemoModelSettings(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=256)
    return build_demo_model(settings, tokenizer, seed=0), tokenizer


TINY_PROMPTS = [
    "How many customers are there?",
    "SELECT",
    "List the names of products with price above 100. How many customers are there? SELECT name FROM",
    "SELECT count(*) FROM orders",
    "List the names",
]
