"""Prompts and tokenization: the same prompt at training, evaluation and serving time.

The base model's own chat template is used when it has one; otherwise an
`[INST] ... [/INST]` instruction format. Only the SQL answer carries loss:
prompt tokens get the label -100. A prompt over the token budget loses schema
detail step by step (`SHRINK_STEPS`) before it is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from t2sql_pipeline.core.data.schema_prompt import drop_sample_values, keep_referenced_tables
from t2sql_pipeline.core.records import SplitStats

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100
SYSTEM_PROMPT = "You translate questions into SQLite SQL. Answer with a single SQL query."
INST_OPEN, INST_CLOSE = "[INST]", "[/INST]"
PromptFormat = Literal["auto", "chat_template", "inst"]


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]
    prompt_length: int


def resolve_format(tokenizer: PreTrainedTokenizerBase, requested: PromptFormat) -> Literal["chat_template", "inst"]:
    if requested == "auto":
        return "chat_template" if getattr(tokenizer, "chat_template", None) else "inst"
    if requested == "chat_template" and not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt.format is 'chat_template' but the base model's tokenizer has no chat template")
    return requested


def user_message(schema: str, question: str, evidence: str | None) -> str:
    parts = [f"Database schema:\n{schema}"]
    if evidence:
        parts.append(f"Evidence: {evidence}")
    parts.append(f"Question: {question}")
    return "\n".join(parts)


def build_prompt(tokenizer: PreTrainedTokenizerBase, message: str, fmt: Literal["chat_template", "inst"]) -> str:
    """The text the model sees before it writes SQL."""
    if fmt == "inst":
        return f"{INST_OPEN} {SYSTEM_PROMPT}\n{message}\n{INST_CLOSE}"
    return tokenizer.apply_chat_template(_messages(message), add_generation_prompt=True, tokenize=False)


def build_completion(tokenizer: PreTrainedTokenizerBase, message: str, sql: str, fmt: Literal["chat_template", "inst"]) -> str:
    """The answer text after the prompt, including the template's end-of-turn markup."""
    if fmt == "inst":
        return f" {sql}"
    prompt = build_prompt(tokenizer, message, fmt)
    full = tokenizer.apply_chat_template(_messages(message) + [{"role": "assistant", "content": sql}], tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently with and without the answer")
    return full[len(prompt) :]


def tokenize_example(tokenizer: PreTrainedTokenizerBase, message: str, sql: str, fmt: Literal["chat_template", "inst"]) -> TokenizedExample:
    """Prompt and answer tokenized separately so the boundary is exact; EOS closes the answer."""
    prompt_ids = _encode(tokenizer, build_prompt(tokenizer, message, fmt), add_special=fmt == "inst")
    answer_ids = _encode(tokenizer, build_completion(tokenizer, message, sql, fmt), add_special=False)
    eos = tokenizer.eos_token_id
    if eos is not None and eos in answer_ids:
        # ChatML closes the turn with eos (`<|im_end|>`) and then a newline: generation stops at eos, so the
        # answer ends there; learning the newline after it would only teach a token that is never generated.
        answer_ids = answer_ids[: len(answer_ids) - answer_ids[::-1].index(eos)]
    elif eos is not None:
        answer_ids.append(eos)
    return TokenizedExample(
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
        prompt_length=len(prompt_ids),
    )


def encode_prompt(tokenizer: PreTrainedTokenizerBase, message: str, fmt: Literal["chat_template", "inst"]) -> list[int]:
    return _encode(tokenizer, build_prompt(tokenizer, message, fmt), add_special=fmt == "inst")


def _encode(tokenizer: PreTrainedTokenizerBase, text: str, *, add_special: bool) -> list[int]:
    # Chat templates already contain the BOS token; the [INST] format relies on the tokenizer adding it.
    return list(tokenizer(text, add_special_tokens=add_special)["input_ids"])


def _messages(message: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": message}]


# Ordered shrink steps tried, one after the other, while a prompt exceeds the budget;
# the gold SQL is never cut, and nothing is truncated: what still does not fit is dropped and counted.
SHRINK_STEPS: tuple[tuple[str, Callable[[str, str], str]], ...] = (
    ("sample_values", drop_sample_values),
    ("unreferenced_tables", keep_referenced_tables),
)


def tokenize_split(
    examples: list[Any], tokenizer: PreTrainedTokenizerBase, fmt: Literal["chat_template", "inst"], max_seq_length: int, include_evidence: bool
) -> tuple[list[dict[str, Any]], SplitStats]:
    """Rows with `input_ids`, `labels`, `prompt_ids` plus the example's fields.

    A prompt over `max_seq_length` has its schema shrunk by `SHRINK_STEPS`, in order,
    until it fits; one that never fits is counted, not kept.
    """
    rows: list[dict[str, Any]] = []
    shrunk = {name: 0 for name, _ in SHRINK_STEPS}
    dropped = 0
    for example in examples:
        evidence = example.evidence if include_evidence else None
        schema = example.schema
        tokenized = tokenize_example(tokenizer, user_message(schema, example.question, evidence), example.gold_sql, fmt)
        for name, step in SHRINK_STEPS:
            if len(tokenized.input_ids) <= max_seq_length:
                break
            smaller = step(schema, example.gold_sql)
            if smaller != schema:
                schema, shrunk[name] = smaller, shrunk[name] + 1
                tokenized = tokenize_example(tokenizer, user_message(schema, example.question, evidence), example.gold_sql, fmt)
        if len(tokenized.input_ids) > max_seq_length:
            dropped += 1
            continue
        rows.append(
            {
                "example_id": example.example_id,
                "source": example.source,
                "db_id": example.db_id,
                "db_path": example.db_path,
                "question": example.question,
                "difficulty": example.difficulty,
                "gold_sql": example.gold_sql,
                "input_ids": tokenized.input_ids,
                "labels": tokenized.labels,
                "prompt_ids": tokenized.input_ids[: tokenized.prompt_length],
            }
        )
    lengths = sorted(len(row["input_ids"]) for row in rows) or [0]
    stats = SplitStats(
        examples=len(rows),
        databases=len({example.db_id for example in examples}),
        shrunk_sample_values=shrunk["sample_values"],
        shrunk_unreferenced_tables=shrunk["unreferenced_tables"],
        dropped_too_long=dropped,
        min_tokens=lengths[0],
        median_tokens=lengths[len(lengths) // 2],
        p95_tokens=lengths[min(len(lengths) - 1, int(0.95 * len(lengths)))],
        max_tokens=lengths[-1],
    )
    return rows, stats
