"""Schema-constrained decoding: every generated token keeps the answer inside its database's grammar.

`SchemaConstraints` compiles one grammar per database (`core.sql.schema_grammar`) for one tokenizer
with xgrammar and caches it; `GrammarLogitsProcessor` masks, at each step of `model.generate`, every
token that would leave a row's grammar, so the answer parses as SQLite and names only that database's
tables and columns. The end-of-turn token is allowed exactly where the grammar can end.

xgrammar, not llguidance: llguidance 1.9.1 masks faster per token but stops most gold SQL streams at
its Earley item limit on these grammars; xgrammar accepts them all (`benchmarks/constrained_decoding_engines.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import LogitsProcessor

from t2sql_pipeline.core.data.db_schema import tables_entry_from_sqlite
from t2sql_pipeline.core.settings import PipelineSettings
from t2sql_pipeline.core.sql.schema_grammar import SchemaNames, schema_grammar

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


class SchemaConstraints:
    """Compiled schema grammars for one tokenizer, one per database (compiled once, then reused)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> None:
        import xgrammar

        # vocab_size from the model: its output layer can be wider than the tokenizer (padding rows).
        stop = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else None
        self._info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop)
        self._compiler = xgrammar.GrammarCompiler(self._info, cache_enabled=True)
        self._by_path: dict[Path, Any] = {}
        self.vocab_size = vocab_size

    @classmethod
    def for_model(cls, model: Any, tokenizer: PreTrainedTokenizerBase) -> SchemaConstraints:
        return cls(tokenizer, int(model.get_output_embeddings().weight.shape[0]))

    def for_names(self, names: SchemaNames) -> Any:
        return self._compiler.compile_grammar(schema_grammar(names))

    def for_database(self, db_path: Path | str) -> Any:
        """The compiled grammar of the SQLite database at `db_path` (its tables and columns read from the file)."""
        path = Path(db_path).resolve()
        if path not in self._by_path:
            self._by_path[path] = self.for_names(SchemaNames.from_tables_entry(tables_entry_from_sqlite(path)))
        return self._by_path[path]

    def for_databases(self, db_paths: Sequence[Path | str]) -> list[Any]:
        return [self.for_database(path) for path in db_paths]

    def for_schema_text(self, schema: str) -> Any:
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


def check_prefix(grammar: Any, prefix: str) -> None:
    """Raise `PrefixRejectedError` naming where `prefix` (the start of a query) leaves `grammar`."""
    import xgrammar

    matcher = xgrammar.GrammarMatcher(grammar)
    for position, char in enumerate(prefix):
        if not matcher.accept_string(char):
            raise PrefixRejectedError(
                f"the prefix is not SQL this database's grammar accepts: it stops at character {position} {char!r} "
                f"({prefix[max(0, position - 30) : position]!r} + {prefix[position : position + 20]!r}); check the table and column names"
            )


class PrefixRejectedError(ValueError):
    """A completion prefix that its database's grammar does not accept; the message shows where it stops."""


class GrammarLogitsProcessor(LogitsProcessor):
    """A transformers logits processor with one grammar matcher per row of the batch.

    Row `i` follows `grammars[i]`, first advanced through `prefixes[i]` (the token ids already
    pre-filled in the answer, for completion). Rows that have ended (end-of-turn accepted, or stopped by
    a stopping criterion that calls `finish`) are left alone: generate pads them. Use one instance per
    `generate` call.
    """

    def __init__(self, grammars: Sequence[Any], prefixes: Sequence[Sequence[int]] | None = None) -> None:
        import xgrammar

        if not grammars:
            raise ValueError("GrammarLogitsProcessor needs one grammar per row, got none")
        self._matchers = [xgrammar.GrammarMatcher(grammar) for grammar in grammars]
        for row, (matcher, prefix) in enumerate(zip(self._matchers, prefixes or [()] * len(grammars), strict=True)):
            for position, token in enumerate(prefix):
                if not matcher.accept_token(int(token)):
                    raise PrefixRejectedError(f"row {row}: the pre-filled token {position} ({token}) leaves the grammar")
        self._bitmask = xgrammar.allocate_token_bitmask(len(grammars), grammars[0].tokenizer_info.vocab_size)
        self._started = False
        self._finished: set[int] = set()

    def finish(self, row: int) -> None:
        """`row` was stopped outside the grammar (its padding is no token of the query): follow it no more."""
        self._finished.add(row)

    def _done(self, row: int, matcher: Any) -> bool:
        return row in self._finished or matcher.is_terminated()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import xgrammar

        if input_ids.shape[0] != len(self._matchers):
            raise RuntimeError(f"constrained decoding: {len(self._matchers)} grammars for a batch of {input_ids.shape[0]} rows")
        if self._started:  # the previous step's tokens, now the last column
            for row, matcher in enumerate(self._matchers):
                if not self._done(row, matcher) and not matcher.accept_token(int(input_ids[row, -1])):
                    raise RuntimeError(f"constrained decoding: row {row} sampled a token its grammar masked")
        self._started = True
        for row, matcher in enumerate(self._matchers):
            if self._done(row, matcher):
                self._bitmask[row].fill_(-1)  # all allowed: generate replaces this row's token with padding
            else:
                matcher.fill_next_token_bitmask(self._bitmask, row)
        xgrammar.apply_token_bitmask_inplace(scores, self._bitmask.to(scores.device), vocab_size=scores.shape[-1])
        return scores


def schema_grammars(model: Any, tokenizer: Any, db_paths: list[Path], settings: PipelineSettings) -> list[Any] | None:
    """One compiled grammar per question when `generation.constrained` is `schema`, else None (free decoding)."""
    if settings.generation.constrained == "none":
        return None
    return SchemaConstraints.for_model(model, tokenizer).for_databases(db_paths)
