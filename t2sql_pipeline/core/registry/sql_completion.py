"""The pyfunc SQL model's completion path: a request's prompt with its prefix pre-filled, completed by the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from t2sql_pipeline.core.evaluation.completion import Format, complete_sql, completion_prompt_ids

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from t2sql_pipeline.core.registry.sql_model import SqlRequest
    from t2sql_pipeline.core.settings import PipelineSettings


def complete_requests(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, settings: PipelineSettings, prompt_format: str, requests: list[SqlRequest]
) -> list[str]:
    """The pyfunc's completion path: each request's training prompt (schema shrunk like `prompt_ids_for`) with its prefix."""
    from pathlib import Path

    from t2sql_pipeline.core.data.db_schema import render_database_schema
    from t2sql_pipeline.core.data.schema_prompt import drop_sample_values
    from t2sql_pipeline.core.registry.sql_model import SqlModelInputError
    from t2sql_pipeline.core.training.tokenization import user_message

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
            raise SqlModelInputError(
                f"the prompt with the prefix {(request.prefix or '')[:60]!r} has {len(prompt[0])} tokens, over the model's limit of {budget}; send a smaller schema"
            )
        prompts.append(prompt)
    g = settings.generation
    grammars = request_grammars(model, tokenizer, settings, requests)
    return complete_sql(
        model, tokenizer, prompts, [request.prefix or "" for request in requests],
        max_new_tokens=g.max_new_tokens, batch_size=g.batch_size, grammars=grammars,
    )  # fmt: skip


def request_grammars(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, settings: PipelineSettings, requests: list[SqlRequest]) -> list[Any] | None:
    """With `generation.constrained: schema`, one grammar per request (from its database file or its schema text),
    and each request's prefix checked against it: a prefix the grammar rejects is a `SqlModelInputError` naming where."""
    if settings.generation.constrained == "none":
        return None
    from t2sql_pipeline.core.evaluation.constrained_decoding import PrefixRejectedError, SchemaConstraints, check_prefix
    from t2sql_pipeline.core.registry.sql_model import SqlModelInputError

    constraints = SchemaConstraints.for_model(model, tokenizer)
    grammars = []
    for index, request in enumerate(requests):
        try:
            grammar = constraints.for_database(request.db_path) if request.db_path else constraints.for_schema_text(request.schema or "")
            if request.prefix is not None:
                check_prefix(grammar, request.prefix.rstrip())
        except PrefixRejectedError as error:
            raise SqlModelInputError(f"row {index}: {error}") from None
        except ValueError as error:
            raise SqlModelInputError(f"row {index}: {error}") from None
        grammars.append(grammar)
    return grammars
