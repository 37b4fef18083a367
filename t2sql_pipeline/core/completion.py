"""SQL completion: the model continues a query the user has started.

The assistant turn of the training prompt is pre-filled with the prefix and the model
writes the rest, so the returned SQL always starts with the prefix verbatim. Training
examples for completion cut the gold SQL at a token boundary: the prefix tokens join the
prompt (no loss), the remainder carries the loss.

>>> join_completion("SELECT count(*) FROM", " shop")
'SELECT count(*) FROM shop;'
>>> join_completion("SELECT * FROM ", " shop; -- done")
'SELECT * FROM shop;'
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from t2sql_pipeline.core.tokenization import IGNORE_INDEX, TokenizedExample, build_completion, build_prompt, tokenize_example

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from t2sql_pipeline.core.settings import PipelineSettings
    from t2sql_pipeline.core.sql_model import SqlRequest

Format = Literal["chat_template", "inst"]
_MARK = "\x00SQL\x00"  # a stand-in answer that no template rewrites, to find where the SQL sits in the answer text


def answer_lead(tokenizer: PreTrainedTokenizerBase, message: str, fmt: Format) -> str:
    """The answer text that comes before the SQL: `' '` for [INST], usually empty for chat templates."""
    text = build_completion(tokenizer, message, _MARK, fmt)
    if _MARK not in text:
        raise ValueError("the prompt format does not place the answer verbatim in the assistant turn")
    return text[: text.index(_MARK)]


def completion_prompt_ids(tokenizer: PreTrainedTokenizerBase, message: str, prefix: str, fmt: Format) -> tuple[list[int], list[int]]:
    """(prompt ids with the prefix in the assistant turn, the ids of the pre-filled part alone).

    Trailing whitespace is left out of the pre-filled text: tokenizers attach a space to the
    next word, and a lone trailing space token is one the model never saw in training.
    """
    prompt = build_prompt(tokenizer, message, fmt)
    prompt_ids = list(tokenizer(prompt, add_special_tokens=fmt == "inst")["input_ids"])
    filled = list(tokenizer(answer_lead(tokenizer, message, fmt) + prefix.rstrip(), add_special_tokens=False)["input_ids"])
    return prompt_ids + filled, filled


def continuation_text(tokenizer: PreTrainedTokenizerBase, filled_ids: list[int], new_ids: list[int]) -> str:
    """The text the new tokens add after the pre-filled ones (decoded together: SentencePiece drops a leading space
    when new tokens are decoded alone)."""
    eos = tokenizer.eos_token_id
    if eos is not None and eos in new_ids:
        new_ids = new_ids[: new_ids.index(eos)]
    head = tokenizer.decode(filled_ids, skip_special_tokens=True)
    full = tokenizer.decode(filled_ids + new_ids, skip_special_tokens=True)
    return full[len(head):] if full.startswith(head) else tokenizer.decode(new_ids, skip_special_tokens=True)


def join_completion(prefix: str, continuation: str) -> str:
    """The completed statement: the prefix verbatim, then the continuation up to its end (`;` outside quotes,
    a blank line, or a `--` comment), closed with `;`."""
    if _open_quote(prefix) is None and ";" in _outside_quotes(prefix):
        return prefix  # the prefix already ends a statement
    if prefix.rstrip() != prefix:
        continuation = continuation.lstrip()  # the prefix's own trailing space stands in for the continuation's
    quote = _open_quote(prefix)
    end = len(continuation)
    for index, char in enumerate(continuation):
        if quote:
            quote = None if char == quote else quote
        elif char in {"'", '"', "`"}:
            quote = char
        elif char == ";" or continuation.startswith("\n\n", index) or continuation.startswith("--", index):
            end = index
            break
    return f"{prefix}{continuation[:end].rstrip()};"


def _open_quote(text: str) -> str | None:
    quote: str | None = None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in {"'", '"', "`"}:
            quote = char
    return quote


def _outside_quotes(text: str) -> str:
    kept, quote = [], None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in {"'", '"', "`"}:
            quote = char
        else:
            kept.append(char)
    return "".join(kept)


def complete_sql(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[tuple[list[int], list[int]]],
    prefixes: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> list[str]:
    """Completed SQL for each (prompt ids, pre-filled ids) from `completion_prompt_ids`, batched greedy decoding."""
    from t2sql_pipeline.core.generation import generate_answers

    answers = generate_answers(model, tokenizer, [ids for ids, _ in prompts], max_new_tokens=max_new_tokens, batch_size=batch_size)
    return [
        join_completion(prefix, continuation_text(tokenizer, filled, list(answer.token_ids)))
        for (_, filled), prefix, answer in zip(prompts, prefixes, answers)
    ]


def complete_requests(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, settings: PipelineSettings, prompt_format: str, requests: list[SqlRequest]) -> list[str]:
    """The pyfunc's completion path: each request's training prompt (schema shrunk like `prompt_ids_for`) with its prefix."""
    from pathlib import Path

    from t2sql_pipeline.core.db_schema import render_database_schema
    from t2sql_pipeline.core.schema_prompt import drop_sample_values
    from t2sql_pipeline.core.sql_model import SqlModelInputError
    from t2sql_pipeline.core.tokenization import user_message

    fmt: Format = "inst" if prompt_format == "inst" else "chat_template"
    budget = settings.prompt.max_seq_length
    prompts = []
    for request in requests:
        schema = request.schema if request.schema is not None else render_database_schema(Path(request.db_path or ""), settings.prompt.sample_values)
        evidence = request.evidence if settings.prompt.include_evidence else None
        prompt = completion_prompt_ids(tokenizer, user_message(schema, request.question, evidence), request.prefix or "", fmt)
        if len(prompt[0]) > budget:  # the same first shrink step as training
            prompt = completion_prompt_ids(tokenizer, user_message(drop_sample_values(schema, ""), request.question, evidence), request.prefix or "", fmt)
        if len(prompt[0]) > budget:
            raise SqlModelInputError(f"the prompt with the prefix {(request.prefix or '')[:60]!r} has {len(prompt[0])} tokens, over the model's limit of {budget}; send a smaller schema")
        prompts.append(prompt)
    g = settings.generation
    return complete_sql(model, tokenizer, prompts, [request.prefix or "" for request in requests], max_new_tokens=g.max_new_tokens, batch_size=g.batch_size)


@dataclass(frozen=True)
class CompletionExample:
    """A training example whose answer starts pre-filled: no loss on the prompt or the prefix."""

    tokenized: TokenizedExample
    prefix_tokens: int


def completion_cut(tokenizer: PreTrainedTokenizerBase, input_ids: list[int], prompt_length: int, rng: random.Random) -> int | None:
    """A random token boundary inside the SQL answer `input_ids[prompt_length:]`: how many answer tokens move into
    the prompt (None when no cut leaves SQL on both sides). The end-of-turn token never moves."""
    answer = input_ids[prompt_length:]
    if tokenizer.eos_token_id is not None and answer and answer[-1] == tokenizer.eos_token_id:
        answer = answer[:-1]
    # The first cut holds some SQL, not only the answer's lead (the [INST] format's space can be a token alone).
    first = next((k for k in range(1, len(answer) + 1) if tokenizer.decode(answer[:k], skip_special_tokens=True).strip()), len(answer))
    if first > len(answer) - 1:
        return None
    return rng.randint(first, len(answer) - 1)


def tokenize_completion_example(
    tokenizer: PreTrainedTokenizerBase, message: str, sql: str, fmt: Format, rng: random.Random
) -> CompletionExample | None:
    """The full example with a `completion_cut`: the answer tokens before it join the prompt."""
    full = tokenize_example(tokenizer, message, sql, fmt)
    cut = completion_cut(tokenizer, full.input_ids, full.prompt_length, rng)
    if cut is None:
        return None
    prompt_length = full.prompt_length + cut
    labels = [IGNORE_INDEX] * prompt_length + full.input_ids[prompt_length:]
    return CompletionExample(TokenizedExample(full.input_ids, labels, prompt_length), cut)


def add_completion_examples(rows: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, fraction: float, seed: int) -> tuple[list[dict[str, Any]], int]:
    """The tokenized training rows plus a completion copy of `round(fraction * len(rows))` of them (drawn with
    `seed`): the same tokens, the loss only after a random cut. Copies are marked `example_id#completion`."""
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(rows)), round(fraction * len(rows))))
    extra = []
    for index in chosen:
        row = rows[index]
        prompt_length = len(row["prompt_ids"])
        cut = completion_cut(tokenizer, row["input_ids"], prompt_length, rng)
        if cut is None:
            continue
        length = prompt_length + cut
        extra.append(
            {**row, "example_id": f"{row['example_id']}#completion", "prompt_ids": row["input_ids"][:length], "labels": [IGNORE_INDEX] * length + row["input_ids"][length:]}
        )
    return rows + extra, len(extra)


def evaluation_prefix(sql: str) -> str:
    """The prefix an evaluation gives the model: the gold SQL's first half of whitespace-separated words
    (users stop typing at a word boundary), at least one word.

    >>> evaluation_prefix("SELECT name FROM singer WHERE age > 30")
    'SELECT name FROM singer'
    """
    words = sql.split()
    return " ".join(words[: max(1, (len(words) + 1) // 2)])
