"""Batched greedy SQL generation (the answers' SQL is read out by `core.sql.extraction.extract_sql`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class GeneratedAnswer:
    text: str  # decoded without special tokens
    stopped: bool  # the model ended its answer with the end-of-turn (eos) token, not max_new_tokens or a loop
    new_tokens: int  # tokens generated, the eos included
    token_ids: tuple[int, ...] = ()  # the generated ids, the eos included (completion decodes them with the prefix)


def left_padded(prompts: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """(input_ids, attention_mask) tensors for a batch, each prompt padded on the left to the longest."""
    import torch

    width = max(len(ids) for ids in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        attention[row, width - len(ids) :] = 1
    return input_ids, attention


def generate_completions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> list[str]:
    """Greedy decoding of every prompt (see `generate_answers`); the answer texts only."""
    return [answer.text for answer in generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)]


def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    batch_size: int,
    on_batch: Callable[[int, int], None] | None = None,
    grammars: Sequence[Any] | None = None,
    grammar_prefixes: Sequence[Sequence[int]] | None = None,
) -> list[GeneratedAnswer]:
    """Greedy decoding of every prompt; batches are length-sorted and left-padded, answers return in input order.

    Each row stops at its own end-of-turn token (a finished row only receives padding) or when it is caught
    in a loop (`LoopStop`), and a batch stops as soon as every row has finished. `on_batch(done, total)` is called after each batch. `grammars`
    (one compiled schema grammar per prompt, `SchemaConstraints`) constrains each answer to its grammar;
    `grammar_prefixes` (per prompt, the answer's pre-filled token ids, for completion) are accepted first.
    """
    import torch
    from transformers import StoppingCriteriaList

    model.eval()
    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    answers: list[GeneratedAnswer | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        input_ids, attention = left_padded([prompts[i] for i in batch], pad_id)
        width = input_ids.shape[1]
        processors = grammar_processors(grammars, batch, grammar_prefixes)
        loops = LoopStop(width, eos_id, on_cut=releasing(processors or []))
        with torch.inference_mode():
            output = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                logits_processor=processors,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                use_cache=True,
                pad_token_id=pad_id,
                eos_token_id=eos_id,
                stopping_criteria=StoppingCriteriaList([loops]),
            )
        for row, index in enumerate(batch):
            generated = output[row, width:].tolist()
            # pad = eos for many chat models: the first eos ends the answer, what follows is padding.
            stopped = row not in loops.cut and eos_id is not None and eos_id in generated
            kept = generated[: loops.cut[row]] if row in loops.cut else generated[: generated.index(eos_id) + 1] if stopped else generated
            answers[index] = GeneratedAnswer(tokenizer.decode(kept, skip_special_tokens=True), stopped, len(kept), tuple(kept))
        if on_batch is not None:
            on_batch(min(start + batch_size, len(order)), len(order))
    return [answer for answer in answers if answer is not None]


def grammar_processors(grammars: Sequence[Any] | None, rows: Sequence[int], prefixes: Sequence[Sequence[int]] | None = None) -> Any:
    """A logits-processor list constraining batch row j to `grammars[rows[j]]`, advanced through `prefixes[rows[j]]`
    when given (None: free decoding)."""
    if grammars is None:
        return None
    from transformers import LogitsProcessorList

    from t2sql_pipeline.core.inference.constrained_decoding import GrammarLogitsProcessor

    row_prefixes = [prefixes[i] for i in rows] if prefixes is not None else None
    return LogitsProcessorList([GrammarLogitsProcessor([grammars[i] for i in rows], row_prefixes)])


def releasing(constraints: Sequence[Any]) -> Callable[[int], None]:
    """An `on_cut` for stopping criteria: a row stopped outside its grammar is padded from then on, so each
    `GrammarLogitsProcessor` in `constraints` stops following it."""

    def release(row: int) -> None:
        for constraint in constraints:
            constraint.finish(row)

    return release


LOOP_BLOCK_TOKENS = (10, 48)  # the lengths of a block whose back-to-back repeat ends a row (greedy or sampled)


class LoopStop:
    """A stopping criterion: a row whose newest tokens are one block of 10-48 tokens written twice in a row stops there.

    Greedy decoding that repeats a block is in a cycle it rarely leaves (a subquery nested again and
    again, `(SELECT ... WHERE x = (SELECT ...`), and a batch decodes until its longest row ends, so one
    such row held all of them to `max_new_tokens`. The repeat is kept in the answer (`cut[row]`: tokens
    kept); a looping answer is unfinished SQL either way. `on_cut(row)` tells the grammar to let go.
    """

    def __init__(self, width: int, eos_id: int | None, on_cut: Callable[[int], Any] = lambda _row: None) -> None:
        self.width, self.eos_id, self.on_cut = width, eos_id, on_cut
        self.cut: dict[int, int] = {}

    def __call__(self, input_ids: Any, scores: Any, **_: Any) -> Any:
        import torch

        new = input_ids[:, self.width :].tolist()
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        shortest, longest = LOOP_BLOCK_TOKENS
        for row, tokens in enumerate(new):
            if row in self.cut:
                done[row] = True
            elif len(tokens) >= 2 * shortest and self.eos_id not in tokens and _ends_with_repeat(tokens, shortest, longest):
                self.cut[row] = len(tokens)
                done[row] = True
                self.on_cut(row)
        return done


def _ends_with_repeat(tokens: list[int], shortest: int, longest: int) -> bool:
    """Whether `tokens` ends with some block of `shortest`..`longest` tokens twice in a row.

    >>> _ends_with_repeat([7, 1, 2, 3, 1, 2, 3], 2, 5), _ends_with_repeat([1, 2, 3, 1, 2, 4], 2, 5)
    (True, False)
    """
    return any(tokens[-k:] == tokens[-2 * k : -k] for k in range(shortest, min(longest, len(tokens) // 2) + 1))
