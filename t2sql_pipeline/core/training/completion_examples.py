"""Completion training examples: the gold SQL cut at a token boundary, the prefix in the prompt, the loss on the rest."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from t2sql_pipeline.core.training.tokenization import IGNORE_INDEX

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


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
