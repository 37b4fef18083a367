"""Prompts and tokenization: only the SQL answer (+ EOS) carries loss; [INST] or the model's chat template."""

from __future__ import annotations

import pytest

from t2sql_pipeline.core.data.sources.examples import Example
from t2sql_pipeline.core.training.base_models import build_demo_tokenizer
from t2sql_pipeline.core.training.tokenization import (
    IGNORE_INDEX,
    INST_CLOSE,
    INST_OPEN,
    SYSTEM_PROMPT,
    build_completion,
    build_prompt,
    encode_prompt,
    resolve_format,
    tokenize_example,
    tokenize_split,
    user_message,
)
from tests.tiny_models import CHAT_TEMPLATE, CORPUS, QUESTION, SCHEMA, SQL


@pytest.fixture(scope="module")
def tokenizer():
    return build_demo_tokenizer(CORPUS, vocab_size=400)


@pytest.fixture
def chat_tokenizer():
    chat = build_demo_tokenizer(CORPUS, vocab_size=400)
    chat.chat_template = CHAT_TEMPLATE
    return chat


def labelled(tokenized) -> list[int]:
    return [label for label in tokenized.labels if label != IGNORE_INDEX]


def make_example(index: int, schema: str, question: str, sql: str, evidence: str = "") -> Example:
    return Example(f"spider/train/{index}", "spider", "train", "db", question, evidence, sql, "easy", "/x.sqlite", schema)


# --- prompt formats --------------------------------------------------------------------


def test_user_message_with_and_without_evidence() -> None:
    assert user_message(SCHEMA, QUESTION, None) == f"Database schema:\n{SCHEMA}\nQuestion: {QUESTION}"
    with_evidence = user_message(SCHEMA, QUESTION, "older refers to age > 30")
    assert with_evidence == f"Database schema:\n{SCHEMA}\nEvidence: older refers to age > 30\nQuestion: {QUESTION}"
    assert user_message(SCHEMA, QUESTION, "") == user_message(SCHEMA, QUESTION, None)


def test_resolve_format(tokenizer, chat_tokenizer) -> None:
    assert resolve_format(tokenizer, "auto") == "inst"
    assert resolve_format(chat_tokenizer, "auto") == "chat_template"
    assert resolve_format(chat_tokenizer, "inst") == "inst"
    assert resolve_format(chat_tokenizer, "chat_template") == "chat_template"
    with pytest.raises(ValueError, match="no chat template"):
        resolve_format(tokenizer, "chat_template")


def test_inst_prompt_when_there_is_no_chat_template(tokenizer) -> None:
    message = user_message(SCHEMA, QUESTION, None)
    prompt = build_prompt(tokenizer, message, resolve_format(tokenizer, "auto"))
    assert prompt.startswith(INST_OPEN) and prompt.endswith(INST_CLOSE)
    assert SYSTEM_PROMPT in prompt and message in prompt
    assert build_completion(tokenizer, message, SQL, "inst").strip() == SQL


def test_chat_prompt_and_completion_follow_the_template(chat_tokenizer) -> None:
    message = user_message(SCHEMA, QUESTION, None)
    prompt = build_prompt(chat_tokenizer, message, resolve_format(chat_tokenizer, "auto"))
    assert prompt == f"<s><|system|>\n{SYSTEM_PROMPT}<|end|>\n<|user|>\n{message}<|end|>\n<|assistant|>\n"
    assert INST_OPEN not in prompt
    completion = build_completion(chat_tokenizer, message, SQL, "chat_template")
    assert completion == f"{SQL}<|end|>\n"


def test_template_that_renders_the_prompt_differently_is_rejected(chat_tokenizer) -> None:
    # A template that only shows the assistant turn marker when no answer follows cannot be split.
    chat_tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}ANSWER:{% endif %}"
    with pytest.raises(ValueError, match="differently"):
        build_completion(chat_tokenizer, "hello", SQL, "chat_template")


# --- labels ---------------------------------------------------------------------------


def test_inst_labels_mask_exactly_the_prompt(tokenizer) -> None:
    message = user_message(SCHEMA, QUESTION, None)
    tokenized = tokenize_example(tokenizer, message, SQL, "inst")
    n = tokenized.prompt_length
    assert len(tokenized.input_ids) == len(tokenized.labels)
    assert tokenized.labels[:n] == [IGNORE_INDEX] * n
    assert tokenized.labels[n:] == tokenized.input_ids[n:]
    assert IGNORE_INDEX not in tokenized.labels[n:]
    assert tokenized.input_ids[:n] == encode_prompt(tokenizer, message, "inst")
    assert tokenized.input_ids[0] == tokenizer.bos_token_id  # the [INST] format relies on the tokenizer's BOS
    assert tokenized.input_ids.count(tokenizer.bos_token_id) == 1
    assert tokenized.labels[-1] == tokenizer.eos_token_id
    assert tokenizer.eos_token_id not in tokenized.labels[n:-1]


def test_only_the_sql_carries_loss(tokenizer) -> None:
    message = user_message(SCHEMA, QUESTION, "older refers to age > 30")
    tokenized = tokenize_example(tokenizer, message, SQL, "inst")
    assert tokenizer.decode(labelled(tokenized), skip_special_tokens=True).strip() == SQL
    prompt_text = tokenizer.decode(tokenized.input_ids[: tokenized.prompt_length], skip_special_tokens=True)
    assert QUESTION in prompt_text and INST_CLOSE in prompt_text and SQL not in prompt_text


def test_chat_labels_cover_sql_and_end_markup(chat_tokenizer) -> None:
    message = user_message(SCHEMA, QUESTION, None)
    tokenized = tokenize_example(chat_tokenizer, message, SQL, "chat_template")
    n = tokenized.prompt_length
    assert tokenized.labels[:n] == [IGNORE_INDEX] * n
    assert tokenized.labels[n:] == tokenized.input_ids[n:]
    assert chat_tokenizer.decode(labelled(tokenized), skip_special_tokens=True) == f"{SQL}<|end|>\n"
    assert chat_tokenizer.decode(tokenized.input_ids[:n], skip_special_tokens=True).endswith("<|assistant|>\n")
    assert tokenized.labels[-1] == chat_tokenizer.eos_token_id
    # The template writes BOS itself; the tokenizer must not add a second one.
    assert tokenized.input_ids.count(chat_tokenizer.bos_token_id) == 1


def test_prompt_tokens_are_what_generation_sees(chat_tokenizer) -> None:
    message = user_message(SCHEMA, QUESTION, None)
    tokenized = tokenize_example(chat_tokenizer, message, SQL, "chat_template")
    assert tokenized.input_ids[: tokenized.prompt_length] == encode_prompt(chat_tokenizer, message, "chat_template")


def test_eos_is_not_doubled_when_the_template_ends_with_it(chat_tokenizer) -> None:
    chat_tokenizer.chat_template = CHAT_TEMPLATE.replace("<|end|>\n{% endfor %}", "<|end|>{{ eos_token }}{% endfor %}")
    tokenized = tokenize_example(chat_tokenizer, "hello", SQL, "chat_template")
    assert tokenized.labels[-1] == chat_tokenizer.eos_token_id
    assert tokenized.labels[-2] != chat_tokenizer.eos_token_id


# --- whole splits ---------------------------------------------------------------------


def test_tokenize_split_drops_and_counts_too_long_examples(tokenizer) -> None:
    examples = [make_example(i, SCHEMA + (" extra_column TEXT," * (i % 5) * 8), QUESTION, SQL, evidence="older refers to age > 30") for i in range(20)]
    lengths = [len(tokenize_example(tokenizer, user_message(e.schema, e.question, e.evidence), e.gold_sql, "inst").input_ids) for e in examples]
    limit = sorted(lengths)[11]
    rows, stats = tokenize_split(examples, tokenizer, "inst", max_seq_length=limit, include_evidence=True)
    kept = [n for n in lengths if n <= limit]
    assert stats.dropped_too_long == sum(1 for n in lengths if n > limit) > 0
    assert stats.examples == len(rows) == len(kept)
    assert all(len(row["input_ids"]) <= limit for row in rows)
    assert (stats.min_tokens, stats.max_tokens) == (min(kept), max(kept))
    assert min(kept) <= stats.median_tokens <= stats.p95_tokens <= max(kept)
    assert stats.median_tokens in kept and stats.p95_tokens in kept
    assert sorted(kept)[(len(kept) - 1) // 2] <= stats.median_tokens <= sorted(kept)[len(kept) // 2]


def test_tokenize_split_rows(tokenizer) -> None:
    examples = [make_example(i, SCHEMA, f"{QUESTION} ({i})", SQL, evidence="older refers to age > 30") for i in range(3)]
    rows, stats = tokenize_split(examples, tokenizer, "inst", max_seq_length=10_000, include_evidence=True)
    assert stats.dropped_too_long == 0 and stats.examples == 3
    assert [row["example_id"] for row in rows] == [e.example_id for e in examples]
    for row, example in zip(rows, examples, strict=True):
        assert row["gold_sql"] == example.gold_sql and row["db_path"] == example.db_path
        assert row["input_ids"][: len(row["prompt_ids"])] == row["prompt_ids"]
        assert row["labels"][: len(row["prompt_ids"])] == [IGNORE_INDEX] * len(row["prompt_ids"])
        assert "older refers to" in tokenizer.decode(row["prompt_ids"])


def test_tokenize_split_without_evidence(tokenizer) -> None:
    examples = [make_example(0, SCHEMA, QUESTION, SQL, evidence="older refers to age > 30")]
    rows, _ = tokenize_split(examples, tokenizer, "inst", max_seq_length=10_000, include_evidence=False)
    assert "Evidence" not in tokenizer.decode(rows[0]["prompt_ids"])


def test_tokenize_split_all_dropped_reports_zeros(tokenizer) -> None:
    rows, stats = tokenize_split([make_example(0, SCHEMA, QUESTION, SQL)], tokenizer, "inst", max_seq_length=3, include_evidence=True)
    assert rows == []
    assert (stats.examples, stats.dropped_too_long, stats.max_tokens) == (0, 1, 0)


# --- shrinking the schema to the token budget ----------------------------------------------

BIG_SCHEMA = "\n".join(
    [SCHEMA, "-- examples: singer_id: 1, 2, 3; name: 'Joe', 'Ann'; age: 52, 29"]
    + [f"CREATE TABLE other_{k} (other_id INTEGER PRIMARY KEY, name TEXT, age INTEGER);\n-- examples: name: 'x{k}'" for k in range(6)]
)


def prompt_length(tokenizer, schema: str) -> int:
    return len(tokenize_example(tokenizer, user_message(schema, QUESTION, None), SQL, "inst").input_ids)


def test_shrink_steps_apply_in_order_and_only_as_needed(tokenizer) -> None:
    from t2sql_pipeline.core.data.schema_prompt import drop_sample_values, keep_referenced_tables

    full = prompt_length(tokenizer, BIG_SCHEMA)
    no_values = prompt_length(tokenizer, drop_sample_values(BIG_SCHEMA, SQL))
    referenced = prompt_length(tokenizer, keep_referenced_tables(drop_sample_values(BIG_SCHEMA, SQL), SQL))
    assert full > no_values > referenced
    examples = [make_example(i, BIG_SCHEMA, QUESTION, SQL) for i in range(3)]
    for limit, (values, tables, dropped) in [(full, (0, 0, 0)), (no_values, (3, 0, 0)), (referenced, (3, 3, 0)), (referenced - 1, (3, 3, 3))]:
        rows, stats = tokenize_split(examples, tokenizer, "inst", max_seq_length=limit, include_evidence=True)
        assert (stats.shrunk_sample_values, stats.shrunk_unreferenced_tables, stats.dropped_too_long) == (values, tables, dropped)
        assert len(rows) == 3 - dropped and all(len(row["input_ids"]) <= limit for row in rows)


def test_shrunk_prompt_keeps_the_referenced_table_and_the_whole_sql(tokenizer) -> None:
    limit = prompt_length(tokenizer, SCHEMA)
    rows, stats = tokenize_split([make_example(0, BIG_SCHEMA, QUESTION, SQL)], tokenizer, "inst", max_seq_length=limit, include_evidence=True)
    assert stats.shrunk_unreferenced_tables == 1
    prompt = tokenizer.decode(rows[0]["prompt_ids"], skip_special_tokens=True)
    assert "singer_id" in prompt and "other_" not in prompt and "examples" not in prompt
    assert tokenizer.decode(labelled_row(rows[0]), skip_special_tokens=True).strip() == SQL


def labelled_row(row: dict) -> list[int]:
    return [label for label in row["labels"] if label != IGNORE_INDEX]
