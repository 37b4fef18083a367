"""SQL completion: the model continues a query the user has started.

The assistant turn of the training prompt is pre-filled with the prefix and the model
writes the rest, so the returned SQL always starts with the prefix verbatim (training
examples for completion: `core.training.completion_examples`).

>>> join_completion("SELECT count(*) FROM", " shop")
'SELECT count(*) FROM shop;'
>>> join_completion("SELECT * FROM ", " shop; -- done")
'SELECT * FROM shop;'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from t2sql_pipeline.core.sql.statements import ends_a_statement, open_quote, statement_end
from t2sql_pipeline.core.training.tokenization import build_completion, build_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

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
    return full[len(head) :] if full.startswith(head) else tokenizer.decode(new_ids, skip_special_tokens=True)


def join_completion(prefix: str, continuation: str) -> str:
    """The completed statement: the prefix verbatim, then the continuation up to its end (`;` outside quotes,
    a blank line, or a `--` comment), closed with `;`."""
    if open_quote(prefix) is None and ends_a_statement(prefix):
        return prefix  # the prefix already ends a statement
    if prefix.rstrip() != prefix:
        continuation = continuation.lstrip()  # the prefix's own trailing space stands in for the continuation's
    end = statement_end(continuation, quote=open_quote(prefix))
    return f"{prefix}{continuation[:end].rstrip()};"


def complete_sql(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[tuple[list[int], list[int]]],
    prefixes: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    grammars: list[Any] | None = None,
) -> list[str]:
    """Completed SQL for each (prompt ids, pre-filled ids) from `completion_prompt_ids`, batched greedy decoding;
    with `grammars` (one per prompt), each continuation is constrained to its grammar after the pre-filled tokens."""
    from t2sql_pipeline.core.inference.generation import generate_answers

    answers = generate_answers(
        model,
        tokenizer,
        [ids for ids, _ in prompts],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        grammars=grammars,
        grammar_prefixes=[filled for _, filled in prompts] if grammars is not None else None,
    )
    return [
        join_completion(prefix, continuation_text(tokenizer, filled, list(answer.token_ids)))
        for (_, filled), prefix, answer in zip(prompts, prefixes, answers, strict=True)
    ]


def evaluation_prefix(sql: str) -> str:
    """The prefix an evaluation gives the model: the gold SQL's first half of whitespace-separated words
    (users stop typing at a word boundary), at least one word.

    >>> evaluation_prefix("SELECT name FROM singer WHERE age > 30")
    'SELECT name FROM singer'
    """
    words = sql.split()
    return " ".join(words[: max(1, (len(words) + 1) // 2)])
