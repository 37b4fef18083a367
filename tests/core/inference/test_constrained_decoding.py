"""Schema-constrained decoding with the tiny test model: answers keep to the grammar, prefixes are checked, wide schemas compile."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlglot

from t2sql_pipeline.core.data.db_schema import tables_entry_from_sqlite
from t2sql_pipeline.core.inference.constrained_decoding import PrefixRejectedError, SchemaConstraints, check_prefix
from t2sql_pipeline.core.inference.generation import generate_answers
from t2sql_pipeline.core.sql.extraction import extract_sql
from t2sql_pipeline.core.sql.schema_grammar import SchemaNames, grammar_rejection
from tests.core.conftest import TINY_PROMPTS

SCHEMA = "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT);\nCREATE TABLE orders (id INTEGER, customer_id INTEGER, total REAL);"


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.close()
    return path


def test_every_answer_keeps_to_the_grammar(tiny_model, shop: Path) -> None:
    model, tokenizer = tiny_model  # random weights: free decoding writes byte soup
    constraints = SchemaConstraints.for_model(model, tokenizer)
    grammar = constraints.for_database(shop)
    names = SchemaNames.from_tables_entry(tables_entry_from_sqlite(shop))
    prompts = [tokenizer(text)["input_ids"] for text in TINY_PROMPTS]
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens=48, batch_size=5, grammars=[grammar] * len(prompts))
    for answer in answers:
        if answer.stopped:  # ended where the grammar can end: a whole query over this schema
            assert grammar_rejection(names, answer.text) is None
            assert sqlglot.parse_one(extract_sql(answer.text), read="sqlite") is not None
        else:  # cut at max_new_tokens: still a start the grammar accepts
            check_prefix(grammar, answer.text)
    free = generate_answers(model, tokenizer, prompts, max_new_tokens=48, batch_size=5)
    assert any(grammar_rejection(names, a.text) is not None for a in free)  # the constraint is what made the difference


def test_a_prefix_is_checked_where_it_leaves_the_grammar(tiny_model, shop: Path) -> None:
    model, tokenizer = tiny_model
    grammar = SchemaConstraints.for_model(model, tokenizer).for_database(shop)
    check_prefix(grammar, "SELECT count(*) FROM customers WHERE city")
    # "heigheight" could still start a function call; the space after it is where no column name fits.
    with pytest.raises(PrefixRejectedError, match=r"stops at character 17 ' ' \('SELECT heigheight' \+ ' FROM customers'\)"):
        check_prefix(grammar, "SELECT heigheight FROM customers")


def test_a_database_grammar_is_compiled_once_and_again_when_the_file_changes(tiny_model, shop: Path) -> None:
    model, tokenizer = tiny_model
    grammar = SchemaConstraints.for_model(model, tokenizer).for_database(shop)
    assert SchemaConstraints.for_model(model, tokenizer).for_database(shop) is grammar  # one per tokenizer, then cached
    with pytest.raises(PrefixRejectedError):
        check_prefix(grammar, "SELECT sku FROM products")
    conn = sqlite3.connect(shop)
    conn.execute("CREATE TABLE products (sku TEXT)")
    conn.commit()
    conn.close()
    check_prefix(SchemaConstraints.for_model(model, tokenizer).for_database(shop), "SELECT sku FROM products")
    with pytest.raises(FileNotFoundError, match="database file not found"):
        SchemaConstraints.for_model(model, tokenizer).for_database(shop.with_name("missing.sqlite"))


def test_a_schema_text_compiles_like_its_database(tiny_model, shop: Path) -> None:
    model, tokenizer = tiny_model
    constraints = SchemaConstraints.for_model(model, tokenizer)
    from_text = constraints.for_schema_text(SCHEMA)
    check_prefix(from_text, "SELECT total FROM orders WHERE customer_id")
    with pytest.raises(PrefixRejectedError):
        check_prefix(from_text, "SELECT total FROM customers;")  # total is an orders column, and no join follows
    with pytest.raises(ValueError, match="the schema text does not run as CREATE TABLE statements"):
        constraints.for_schema_text("CREATE TABLE (")


def test_a_schema_with_hundreds_of_columns_compiles_in_bounded_time(tiny_model) -> None:
    model, tokenizer = tiny_model
    tables = [f"table_{t}" for t in range(12)]
    columns = [[-1, "*"]] + [[t, f"column_{t}_{c}"] for t in range(len(tables)) for c in range(40)]  # 480 columns
    names = SchemaNames.from_tables_entry({"table_names_original": tables, "column_names_original": columns})
    started = time.perf_counter()
    grammar = SchemaConstraints.for_model(model, tokenizer).for_names(names)
    elapsed = time.perf_counter() - started
    check_prefix(grammar, "SELECT column_11_39 FROM table_11 WHERE column_11_0 >")
    # A BIRD-sized schema: the per-table scoping must not blow up with the column count (0.3 s here with 480 columns).
    assert elapsed < 60.0


def test_a_row_stopped_outside_the_grammar_is_followed_no_more(tiny_model, shop: Path) -> None:
    # The voting length budget cuts a sampled row mid-query; generate then pads it (here with the eos
    # token), which the grammar would reject: `finish` tells the processor to leave that row alone.
    import torch

    from t2sql_pipeline.core.inference.constrained_decoding import GrammarLogitsProcessor

    model, tokenizer = tiny_model
    grammar = SchemaConstraints.for_model(model, tokenizer).for_database(shop)
    first, second = tokenizer("SELECT count(*) FROM customers", add_special_tokens=False)["input_ids"][:2]
    prompt = torch.tensor([[5, 6], [5, 6]])
    step_two = torch.tensor([[5, 6, first, second], [5, 6, first, tokenizer.eos_token_id]])

    def run(finish: bool) -> None:
        processor = GrammarLogitsProcessor([grammar, grammar])
        processor(prompt, torch.zeros(2, model.config.vocab_size))
        processor(prompt.new_tensor([[5, 6, first], [5, 6, first]]), torch.zeros(2, model.config.vocab_size))
        if finish:
            processor.finish(1)
        scores = processor(step_two, torch.zeros(2, model.config.vocab_size))
        assert torch.isfinite(scores[1]).all()  # the finished row: every token allowed (generate pads it anyway)

    with pytest.raises(RuntimeError, match="row 1 sampled a token its grammar masked"):
        run(finish=False)
    run(finish=True)


def test_the_bitmask_masks_exactly_what_llguidance_masks() -> None:
    import llguidance.torch
    import torch

    from t2sql_pipeline.core.inference.constrained_decoding import apply_bitmask

    generator = torch.Generator().manual_seed(0)
    bitmask = torch.randint(-(2**31), 2**31 - 1, (3, 4), dtype=torch.int32, generator=generator)  # 128 bits for 100 tokens
    scores = torch.randn(3, 100, generator=generator)
    reference = scores.clone()
    llguidance.torch.apply_token_bitmask_inplace(reference, bitmask)
    assert torch.equal(apply_bitmask(scores, bitmask), reference)
    assert 0 < int(torch.isinf(reference).sum()) < reference.numel()  # some masked, some kept
