"""Schema-constrained decoding: every generated token keeps the answer inside its database's grammar.

`SchemaConstraints` compiles one grammar per database (`core.sql.schema_grammar.schema_lark`) for one
tokenizer with llguidance and caches it; `GrammarLogitsProcessor` masks, at each step of
`model.generate`, every token that would leave a row's grammar, so the answer parses as SQLite and
names only that database's tables and columns. The end-of-turn token is allowed exactly where the
grammar can end.

llguidance, not xgrammar: on the same grammar (Lark form for llguidance, GBNF for xgrammar) and the
same gold token streams, llguidance computes a mask many times faster and both accept every stream
(`benchmarks/constrained_decoding_engines.py`, docs/benchmarks.md).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import LogitsProcessor

from t2sql_pipeline.core.data.db_schema import tables_entry_from_sqlite
from t2sql_pipeline.core.settings import PipelineSettings
from t2sql_pipeline.core.sql.schema_grammar import SchemaNames, lark_grammar_limits, schema_lark, text_rejection

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class CompiledGrammar:
    """One database's grammar for one tokenizer: its Lark text and a matcher at the start, copied for each row."""

    lark: str
    matcher: Any  # llguidance.LLMatcher
    vocab_size: int
    stop_tokens: frozenset[int]


# One SchemaConstraints per (tokenizer, vocabulary size): wrapping a tokenizer for llguidance takes about
# a second and each database's grammar compiles once, however many requests a server answers.
_BY_TOKENIZER: weakref.WeakKeyDictionary[Any, dict[int, SchemaConstraints]] = weakref.WeakKeyDictionary()


class SchemaConstraints:
    """Compiled schema grammars for one tokenizer, one per database (compiled once, then reused)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> None:
        import llguidance.hf

        # vocab_size from the model: its output layer can be wider than the tokenizer (padding rows).
        self._tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=tokenizer.eos_token_id)
        self._stop_tokens = frozenset(self._tokenizer.eos_tokens)
        self._by_file: dict[tuple[Path, int, int], CompiledGrammar] = {}
        self.vocab_size = vocab_size

    @classmethod
    def for_model(cls, model: Any, tokenizer: PreTrainedTokenizerBase) -> SchemaConstraints:
        vocab_size = int(model.get_output_embeddings().weight.shape[0])
        by_size = _BY_TOKENIZER.setdefault(tokenizer, {})
        if vocab_size not in by_size:
            by_size[vocab_size] = cls(tokenizer, vocab_size)
        return by_size[vocab_size]

    def for_names(self, names: SchemaNames) -> CompiledGrammar:
        import llguidance

        lark = schema_lark(names)
        matcher = llguidance.LLMatcher(self._tokenizer, llguidance.grammar_from("lark", lark), limits=lark_grammar_limits(), log_level=0)
        if matcher.is_error():
            raise ValueError(f"the schema grammar does not compile: {matcher.get_error()}")
        return CompiledGrammar(lark, matcher, self.vocab_size, self._stop_tokens)

    def for_database(self, db_path: Path | str) -> CompiledGrammar:
        """The compiled grammar of the SQLite database at `db_path` (its tables and columns read from the file)."""
        path = Path(db_path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"database file not found: {path}")
        stat = path.stat()
        key = (path, stat.st_mtime_ns, stat.st_size)  # a server lives long: a database whose file changed is read again
        if key not in self._by_file:
            self._by_file[key] = self.for_names(SchemaNames.from_tables_entry(tables_entry_from_sqlite(path)))
        return self._by_file[key]

    def for_databases(self, db_paths: Sequence[Path | str]) -> list[CompiledGrammar]:
        return [self.for_database(path) for path in db_paths]

    def for_schema_text(self, schema: str) -> CompiledGrammar:
        """The compiled grammar of a schema given as CREATE TABLE text (run into an empty database to read its names)."""
        import sqlite3
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "schema.sqlite"
            conn = sqlite3.connect(path)
            try:
                conn.executescript(schema)
            except sqlite3.Error as error:
                raise ValueError(f"the schema text does not run as CREATE TABLE statements ({error}); constrained decoding needs it") from None
            finally:
                conn.close()
            return self.for_names(SchemaNames.from_tables_entry(tables_entry_from_sqlite(path)))


def check_prefix(grammar: CompiledGrammar, prefix: str) -> None:
    """Raise `PrefixRejectedError` naming where `prefix` (the start of a query) leaves `grammar`."""
    why = text_rejection(grammar.lark, prefix, complete=False)
    if why is not None:
        raise PrefixRejectedError(f"the prefix is not SQL this database's grammar accepts: it {why.replace(': ', ' (', 1)}); check the table and column names")


class PrefixRejectedError(ValueError):
    """A completion prefix that its database's grammar does not accept; the message shows where it stops."""


_EXECUTOR: Any = None


def _mask_executor() -> Any:
    """llguidance's thread pool for the rows' masks, as wide as torch's (the model waits while masks are computed)."""
    global _EXECUTOR
    if _EXECUTOR is None:
        import llguidance
        import torch

        _EXECUTOR = llguidance.LLExecutor(num_threads=max(1, torch.get_num_threads()))
    return _EXECUTOR


class GrammarLogitsProcessor(LogitsProcessor):
    """A transformers logits processor with one grammar matcher per row of the batch.

    Row `i` follows `grammars[i]`, first advanced through `prefixes[i]` (the token ids already
    pre-filled in the answer, for completion). Rows that have ended (an end-of-turn token taken, or
    stopped by a stopping criterion that calls `finish`) are left alone: generate pads them. Use one
    instance per `generate` call.
    """

    def __init__(self, grammars: Sequence[CompiledGrammar], prefixes: Sequence[Sequence[int]] | None = None) -> None:
        import llguidance.torch

        if not grammars:
            raise ValueError("GrammarLogitsProcessor needs one grammar per row, got none")
        self._matchers = [grammar.matcher.deep_copy() for grammar in grammars]
        self._stop_tokens = grammars[0].stop_tokens
        for row, (matcher, prefix) in enumerate(zip(self._matchers, prefixes or [()] * len(grammars), strict=True)):
            if prefix and not matcher.consume_tokens([int(token) for token in prefix]):
                raise PrefixRejectedError(f"row {row}: the pre-filled tokens leave the grammar ({matcher.get_error()})")
        self._bitmask = llguidance.torch.allocate_token_bitmask(len(grammars), grammars[0].vocab_size)
        self._started = False
        self._finished: set[int] = set()

    def finish(self, row: int) -> None:
        """`row` was stopped outside the grammar (its padding is no token of the query): follow it no more."""
        self._finished.add(row)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import llguidance.torch

        if input_ids.shape[0] != len(self._matchers):
            raise RuntimeError(f"constrained decoding: {len(self._matchers)} grammars for a batch of {input_ids.shape[0]} rows")
        if self._started:  # the previous step's tokens, now the last column
            for row, matcher in enumerate(self._matchers):
                if row in self._finished:
                    continue
                token = int(input_ids[row, -1])
                if not matcher.consume_token(token):
                    raise RuntimeError(f"constrained decoding: row {row} sampled a token its grammar masked ({matcher.get_error()})")
                if token in self._stop_tokens:
                    self._finished.add(row)
        self._started = True
        live = [(matcher, row) for row, matcher in enumerate(self._matchers) if row not in self._finished]
        for row in self._finished:
            self._bitmask[row].fill_(-1)  # all allowed: generate replaces this row's token with padding
        if live:
            llguidance.torch.fill_next_token_bitmask_par(_mask_executor(), live, self._bitmask)
        return apply_bitmask(scores, self._bitmask)


def apply_bitmask(scores: torch.FloatTensor, bitmask: torch.Tensor) -> torch.FloatTensor:
    """Set to -inf every score whose bit in `bitmask` (int32 words, bit k of word w = token 32w+k) is 0.

    numpy's unpackbits, not `llguidance.torch.apply_token_bitmask_inplace`: that one expands the mask
    with repeat_interleave and costs 10-60 ms a step on a 49k vocabulary on CPU, this about 0.1 ms a row.
    """
    import numpy as np
    import torch

    allowed = np.unpackbits(bitmask.numpy().view(np.uint8), axis=-1, bitorder="little")[:, : scores.shape[-1]]
    scores.masked_fill_(torch.from_numpy(allowed).to(scores.device) == 0, float("-inf"))
    return scores


def schema_grammars(model: Any, tokenizer: Any, db_paths: list[Path], settings: PipelineSettings) -> list[Any] | None:
    """One compiled grammar per question when `generation.constrained` is `schema`, else None (free decoding)."""
    if settings.generation.constrained == "none":
        return None
    return SchemaConstraints.for_model(model, tokenizer).for_databases(db_paths)
