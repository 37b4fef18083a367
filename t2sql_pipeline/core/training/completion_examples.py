"""Completion training examples: the gold SQL cut at a token boundary, the prefix in the prompt, the loss on the rest."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from t2sql_pipeline.core.training.tokenization import IGNORE_INDEX, TokenizedExample, tokenize_example

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Format = Literal["chat_template", "inst"]


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


def tokenize_completion_example(tokenizer: PreTrainedTokenizerBase, message: str, sql: str, fmt: Format, rng: random.Random) -> CompletionExample | None:
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
            {
                **row,
                "example_id": f"{row['example_id']}#completion",
                "prompt_ids": row["input_ids"][:length],
                "labels": [IGNORE_INDEX] * length + row["input_ids"][length:],
            }
        )
    return rows + extra, len(extra)
