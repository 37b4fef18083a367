"""SQL completion: the prefix in the assistant turn, the answer starting with it verbatim, training cuts."""

from __future__ import annotations

import pytest

from t2sql_pipeline.core.inference.completion import (
    answer_lead,
    completion_prompt_ids,
    continuation_text,
    evaluation_prefix,
    join_completion,
)
from t2sql_pipeline.core.training.base_models import build_demo_tokenizer
from t2sql_pipeline.core.training.completion_examples import add_completion_examples
from t2sql_pipeline.core.training.tokenization import IGNORE_INDEX, tokenize_example, user_message
from tests.tiny_models import CHAT_TEMPLATE, CORPUS, QUESTION, SCHEMA, SQL


@pytest.fixture(scope="module", params=["inst", "chat_template"])
def tokenizer_and_format(request):
    tokenizer = build_demo_tokenizer(CORPUS, vocab_size=400)
    if request.param == "chat_template":
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer, request.param


MESSAGE = user_message(SCHEMA, QUESTION, None)


@pytest.mark.parametrize(
    ("prefix", "continuation", "expected"),
    [
        ("SELECT count(*) FROM", " singer WHERE age > 30", "SELECT count(*) FROM singer WHERE age > 30;"),
        ("SELECT * FROM ", " singer", "SELECT * FROM singer;"),  # the prefix's own space stands for the continuation's
        ("SELECT name FROM singer WHERE name = 'a", ";b' ORDER BY name; SELECT 2", "SELECT name FROM singer WHERE name = 'a;b' ORDER BY name;"),
        ("SELECT 1", "\n\nHere is why", "SELECT 1;"),
        ("SELECT 1", " -- one", "SELECT 1;"),
        ("SELECT 1;", " anything", "SELECT 1;"),  # the prefix is already a statement
    ],
)
def test_join_completion_keeps_the_prefix_and_cuts_the_statement(prefix: str, continuation: str, expected: str) -> None:
    joined = join_completion(prefix, continuation)
    assert joined == expected
    assert joined.startswith(prefix)


def test_answer_lead_is_what_precedes_the_sql(tokenizer_and_format) -> None:
    tokenizer, fmt = tokenizer_and_format
    assert answer_lead(tokenizer, MESSAGE, fmt) == (" " if fmt == "inst" else "")


def test_the_prompt_is_the_training_sequence_up_to_the_prefix(tokenizer_and_format) -> None:
    """Pre-filling a word-boundary prefix gives exactly the tokens training saw before the rest of the SQL."""
    tokenizer, fmt = tokenizer_and_format
    full = tokenize_example(tokenizer, MESSAGE, SQL, fmt)
    prompt, filled = completion_prompt_ids(tokenizer, MESSAGE, "SELECT count(*) FROM ", fmt)
    assert prompt == full.input_ids[: len(prompt)]
    assert prompt[-len(filled) :] == filled
    rest = full.input_ids[len(prompt) :]
    # The rest of the training answer reads as the rest of the SQL (then the template's end-of-turn markup, if any).
    assert continuation_text(tokenizer, filled, rest).startswith(" singer WHERE age > 30")


def test_continuation_stops_at_end_of_turn(tokenizer_and_format) -> None:
    tokenizer, fmt = tokenizer_and_format
    _, filled = completion_prompt_ids(tokenizer, MESSAGE, "SELECT count(*)", fmt)
    rest = (
        list(tokenizer(" FROM singer", add_special_tokens=False)["input_ids"])
        + [tokenizer.eos_token_id]
        + list(tokenizer(" junk", add_special_tokens=False)["input_ids"])
    )
    assert continuation_text(tokenizer, filled, rest) == " FROM singer"


def training_row(tokenizer, message: str, sql: str, fmt: str) -> dict:
    full = tokenize_example(tokenizer, message, sql, fmt)
    return {"example_id": "q1", "input_ids": full.input_ids, "prompt_ids": full.input_ids[: full.prompt_length], "labels": full.labels}


def test_completion_examples_move_a_cut_of_the_answer_into_the_prompt(tokenizer_and_format) -> None:
    tokenizer, fmt = tokenizer_and_format
    row = training_row(tokenizer, MESSAGE, SQL, fmt)
    cuts = set()
    for seed in range(30):
        rows, added = add_completion_examples([row], tokenizer, fraction=1.0, seed=seed)
        assert added == 1 and rows[0] == row  # the original row stays as it was
        copy = rows[1]
        prompt_length = len(copy["prompt_ids"])
        assert copy["example_id"] == "q1#completion"
        assert copy["input_ids"] == row["input_ids"] and copy["prompt_ids"] == row["input_ids"][:prompt_length]  # only the loss moves
        assert copy["labels"][:prompt_length] == [IGNORE_INDEX] * prompt_length
        assert copy["labels"][prompt_length:] == row["input_ids"][prompt_length:]
        assert copy["labels"][-1] == tokenizer.eos_token_id  # at least the end of turn is still learned, and some SQL
        assert len(copy["input_ids"]) - prompt_length >= 2 and prompt_length > len(row["prompt_ids"])
        cuts.add(prompt_length)
    assert len(cuts) > 3  # cuts vary with the seed


def test_a_one_token_answer_has_no_completion_example() -> None:
    # [INST] only: this test's chat template closes the turn with text tokens, which count as answer.
    tokenizer = build_demo_tokenizer(CORPUS, vocab_size=400)
    row = training_row(tokenizer, MESSAGE, "1", "inst")
    assert add_completion_examples([row], tokenizer, fraction=1.0, seed=0) == ([row], 0)  # " " + "1": the space alone is no cut


def test_evaluation_prefix_is_half_the_words() -> None:
    assert evaluation_prefix("SELECT count(*) FROM singer") == "SELECT count(*)"
    assert evaluation_prefix("SELECT") == "SELECT"


def test_add_completion_examples_copies_a_share_with_the_loss_after_a_cut(tokenizer_and_format) -> None:
    from t2sql_pipeline.core.training.completion_examples import add_completion_examples

    tokenizer, fmt = tokenizer_and_format
    sqls = [SQL, "SELECT name FROM singer ORDER BY age DESC LIMIT 3", "SELECT count(*) FROM singer"] * 4
    rows = []
    for index, sql in enumerate(sqls):
        full = tokenize_example(tokenizer, MESSAGE, sql, fmt)
        rows.append({"example_id": f"e{index}", "input_ids": full.input_ids, "labels": full.labels, "prompt_ids": full.input_ids[: full.prompt_length]})
    mixed, added = add_completion_examples(rows, tokenizer, 0.5, seed=7)
    assert added == 6 and mixed[:12] == rows  # the originals are kept, in order
    for copy in mixed[12:]:
        original = next(r for r in rows if f"{r['example_id']}#completion" == copy["example_id"])
        assert copy["input_ids"] == original["input_ids"]
        cut = len(copy["prompt_ids"])
        assert len(original["prompt_ids"]) < cut < len(copy["input_ids"]) - 1
        assert copy["labels"] == [IGNORE_INDEX] * cut + copy["input_ids"][cut:]
    assert add_completion_examples(rows, tokenizer, 0.5, seed=7) == (mixed, added)  # reproducible
    assert add_completion_examples(rows, tokenizer, 0.0, seed=7) == (rows, 0)
