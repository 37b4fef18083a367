"""Execution-guided voting: sample several SQL candidates, run each read-only, answer with the largest agreeing group.

Candidates that fail to run are dropped; the rest are grouped by result with the evaluator's own
comparison (Spider semantics: rows as bags, columns in any order, row order only when the query
orders them). The largest group wins; a tie goes to the group whose best member has the highest
mean token log-probability; when no candidate runs, the greedy answer stands.

>>> rows = {"SELECT 1": ((1,),), "SELECT 2": ((2,),), "SELECT 1 AS x": ((1,),)}
>>> run = lambda sql: ExecResult(rows[sql], None, None, 0.0) if sql in rows else ExecResult(None, "syntax", "near x", 0.0)
>>> cands = [Candidate("SELECT 2", -0.1), Candidate("SELECT 1", -0.5), Candidate("SELECT 1 AS x", -0.9), Candidate("oops", -0.01)]
>>> vote(cands, greedy_sql="SELECT 2", run=run)
VoteOutcome(sql='SELECT 1', candidates=4, executed=3, agreeing=2, fell_back=False)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t2sql_pipeline.core.inference.constrained_decoding import schema_grammars
from t2sql_pipeline.core.inference.generation import LoopStop, grammar_processors, left_padded, releasing
from t2sql_pipeline.core.settings import PipelineSettings
from t2sql_pipeline.core.sql.execution import ExecLimits, ExecResult, execute_readonly
from t2sql_pipeline.core.sql.extraction import extract_sql
from t2sql_pipeline.core.sql.result_match import order_matters, spider_rows_match

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Candidate:
    """One sampled answer: its SQL and the mean log-probability of its generated tokens."""

    sql: str
    mean_logprob: float


@dataclass(frozen=True)
class VoteOutcome:
    """The chosen SQL and how the vote went (what the report keeps per question)."""

    sql: str
    candidates: int  # voted: sampled and not cut by the length budget
    executed: int  # ran without error
    agreeing: int  # members of the winning group (0 when no candidate ran)
    fell_back: bool  # no candidate ran: the greedy answer was kept


@dataclass
class _Group:
    rows: tuple[tuple[object, ...], ...]
    ordered: bool
    members: list[Candidate]

    @property
    def best(self) -> Candidate:
        return max(self.members, key=lambda c: c.mean_logprob)


def vote(candidates: Sequence[Candidate], *, greedy_sql: str, run: Callable[[str], ExecResult]) -> VoteOutcome:
    """Group the candidates that run by result and return the largest group's most probable SQL.

    `run` executes one statement read-only (e.g. `execute_readonly` with limits bound); each
    distinct SQL text is run once.
    """
    results: dict[str, ExecResult] = {}
    groups: list[_Group] = []
    executed = 0
    for candidate in candidates:
        if candidate.sql not in results:
            results[candidate.sql] = run(candidate.sql) if candidate.sql.strip() else ExecResult(None, "syntax", "empty", 0.0)
        result = results[candidate.sql]
        if not result.ok or result.rows is None:
            continue
        executed += 1
        ordered = order_matters(candidate.sql)
        for group in groups:
            if spider_rows_match(group.rows, result.rows, order_matters=group.ordered and ordered):
                group.members.append(candidate)
                break
        else:
            groups.append(_Group(result.rows, ordered, [candidate]))
    if not groups:
        return VoteOutcome(greedy_sql, len(candidates), 0, 0, True)
    winner = max(groups, key=lambda g: (len(g.members), g.best.mean_logprob))
    return VoteOutcome(winner.best.sql, len(candidates), executed, len(winner.members), False)


@dataclass(frozen=True)
class SampledAnswer:
    text: str  # decoded without special tokens
    mean_logprob: float  # mean log-probability of the generated tokens (the end-of-turn token included)
    stopped: bool  # ended with the end-of-turn token
    new_tokens: int
    greedy: bool = False  # the greedy answer, decoded in the same batch as the samples
    cut: bool = False  # stopped by `length_budget` or a loop before it ended: an unfinished answer, left out of the vote


def sample_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[int]],
    *,
    num_candidates: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int = 0,
    on_batch: Callable[[int, int], None] | None = None,
    grammars: Sequence[Any] | None = None,
    length_budget: float = 0.0,
) -> list[list[SampledAnswer]]:
    """`num_candidates` answers per prompt: the greedy answer first, then `num_candidates - 1` samples.

    Each batch of prompts is prefilled once and its key/value cache repeated for the candidates, so a
    prompt's tokens go through the model once however many candidates it gets; one `generate` call
    then decodes every candidate of the batch, the greedy ones included (`_GreedyRows`), so voting
    needs no second pass. A batch holds about `batch_size` sequences (prompts x candidates), length-sorted
    and left-padded like the greedy path; answers return in input order. Log-probabilities are those of the
    sampling distribution (after temperature and top-p and, with `grammars` (one per prompt), the grammar
    mask), for the greedy answer too.

    A row caught in a loop stops there (`LoopStop`, `cut`), the greedy row too, as in `generate_answers`.
    With `length_budget` > 0, a sampled candidate still writing after `length_budget` times as many
    tokens as its prompt's greedy answer (plus `LENGTH_BUDGET_SLACK`) is stopped there (`cut`): a batch
    decodes until its longest row ends, so one rambling sample would otherwise hold every row of it.
    """
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList, TemperatureLogitsWarper

    torch.manual_seed(seed)
    model.eval()
    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
    per_batch = max(1, batch_size // num_candidates)
    device = next(model.parameters()).device
    answers: list[list[SampledAnswer]] = [[] for _ in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)  # batches of like lengths: little padding
    for start in range(0, len(order), per_batch):
        if on_batch is not None and start:
            on_batch(start, len(prompts))
        indices = order[start : start + per_batch]
        batch = [prompts[i] for i in indices]
        input_ids, attention = (t.to(device) for t in left_padded(batch, pad_id))
        width = input_ids.shape[1]
        # row = position in the batch x num_candidates + k; k = 0 decodes greedily; `rows` names each row's prompt
        rows = [i for i in indices for _ in range(num_candidates)]
        greedy_rows = _GreedyRows(list(range(0, len(rows), num_candidates)))
        # The sampling distribution is built here, in this order, and nowhere else (top_k=0 and the neutral
        # temperature and top_p below keep generate from adding its own): grammar mask, temperature, top-p, greedy rows.
        warpers = [TemperatureLogitsWarper(temperature)] if temperature != 1.0 else []
        warpers += [NucleusWarper(top_p)] if top_p < 1.0 else []
        constraints = list(grammar_processors(grammars, rows) or [])
        processors = LogitsProcessorList([*constraints, *warpers, greedy_rows])
        release = releasing(constraints)
        stops = [LoopStop(width, eos_id, on_cut=release)]  # as in greedy decoding, so the greedy row is the greedy answer
        if length_budget > 0 and eos_id is not None:
            stops.append(_LengthBudget(width, num_candidates, eos_id, length_budget, on_cut=release))
        with torch.inference_mode():
            cache = _prefill(model, input_ids, attention, num_candidates)
            output = model.generate(
                input_ids=input_ids.repeat_interleave(num_candidates, dim=0),
                attention_mask=attention.repeat_interleave(num_candidates, dim=0),
                past_key_values=cache,
                logits_processor=processors,
                max_new_tokens=max_new_tokens,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                pad_token_id=pad_id,
                eos_token_id=eos_id,
                output_scores=True,
                return_dict_in_generate=True,
                stopping_criteria=StoppingCriteriaList(stops),
            )
            scores = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)
            scores[greedy_rows.rows] = greedy_rows.recorded(scores.shape[1]).to(scores.dtype)  # forced rows score 0 in `scores`
        for prompt_index in range(len(batch)):
            group = []
            for k in range(num_candidates):
                row = prompt_index * num_candidates + k
                generated = output.sequences[row, width:].tolist()
                cut_at = min((stop.cut[row] for stop in stops if row in stop.cut), default=None)
                if cut_at is not None:  # the rest of the row is padding, which may be the eos token
                    length, stopped = cut_at, False
                else:
                    length = generated.index(eos_id) + 1 if eos_id is not None and eos_id in generated else len(generated)
                    stopped = eos_id is not None and eos_id in generated
                logprobs = scores[row, :length].float()
                mean = float(logprobs[torch.isfinite(logprobs)].mean()) if length else float("-inf")
                text = tokenizer.decode(generated[:length], skip_special_tokens=True)
                group.append(SampledAnswer(text, mean, stopped, length, greedy=k == 0, cut=cut_at is not None))
            answers[indices[prompt_index]] = group
    if on_batch is not None:
        on_batch(len(prompts), len(prompts))
    return answers


def _prefill(model: Any, input_ids: Any, attention: Any, copies: int) -> Any:
    """The key/value cache of every prompt token but the last, computed once and repeated `copies` times per row.

    `generate` then runs only the last prompt token and what follows; positions are the ones `generate`
    gives a left-padded row (counted from its first real token).
    """
    if input_ids.shape[1] < 2:
        return None
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    # logits_to_keep=1: only the cache is wanted; the vocabulary projection of every prompt token would cost about
    # a fifth of the prefill for SmolLM2 (its 49k-token head) and hold prompts x tokens x 49k floats.
    out = model(input_ids=input_ids[:, :-1], attention_mask=attention[:, :-1], position_ids=positions[:, :-1], use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(copies)
    return cache


LENGTH_BUDGET_SLACK = 8  # tokens a sampled candidate may write beyond length_budget x its greedy answer


class _LengthBudget:
    """A stopping criterion for one sampling batch (rows: prompt x candidates, the greedy row first): once a
    prompt's greedy row has ended after L tokens, its other rows stop at `factor` x L + slack tokens.
    Records the rows it cut and where; returns one flag per row, as transformers' criteria do."""

    def __init__(self, width: int, num_candidates: int, eos_id: int, factor: float, on_cut: Callable[[int], Any] = lambda _row: None) -> None:
        self.width, self.num_candidates, self.eos_id, self.factor, self.on_cut = width, num_candidates, eos_id, factor, on_cut
        self.greedy_length: dict[int, int] = {}  # greedy row -> its answer's tokens, the eos included
        self.cut: dict[int, int] = {}  # row -> tokens kept

    def __call__(self, input_ids: Any, scores: Any, **_: Any) -> Any:
        import math

        import torch

        new = input_ids[:, self.width :]
        steps = new.shape[1]
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for greedy in range(0, input_ids.shape[0], self.num_candidates):
            if greedy not in self.greedy_length and int(new[greedy, -1]) == self.eos_id:
                self.greedy_length[greedy] = steps
            if greedy not in self.greedy_length or steps < math.ceil(self.factor * self.greedy_length[greedy]) + LENGTH_BUDGET_SLACK:
                continue
            for row in range(greedy + 1, greedy + self.num_candidates):
                if row not in self.cut and not bool((new[row] == self.eos_id).any()):
                    self.cut[row] = steps
                    done[row] = True
                    self.on_cut(row)
        return done


class NucleusWarper:
    """Top-p sampling's mask, the same as transformers' `TopPLogitsWarper` but without sorting the vocabulary.

    A token is kept when the probability of the tokens ranked above it is below `top_p` (the top token
    always). `TopPLogitsWarper` sorts all 49k scores of every row at every step, which cost more than a
    16-row decode step of SmolLM2-135M on 2 CPU cores; a fine-tuned model's nucleus is mostly a few tokens,
    so the top `k` decide it and only a row whose nucleus is wider than `k` is sorted in full.
    """

    def __init__(self, top_p: float, k: int = 256) -> None:
        self.top_p, self.k = top_p, k

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch
        from transformers import TopPLogitsWarper

        top, index = scores.topk(min(self.k, scores.shape[-1]), dim=-1)  # descending
        probs = (top - scores.logsumexp(dim=-1, keepdim=True)).exp()
        keep = probs.cumsum(-1) - probs < self.top_p  # the mass ranked above each token
        keep[:, 0] = True
        kept = torch.full_like(scores, float("-inf")).scatter_(1, index, top.masked_fill(~keep, float("-inf")))
        wide = keep[:, -1]  # the nucleus may go on past the top k
        if bool(wide.any()):
            kept[wide] = TopPLogitsWarper(self.top_p)(input_ids[wide], scores[wide])
        return kept


class _GreedyRows:
    """The last logits processor of a sampling batch: it makes some rows decode greedily.

    Their scores are cut to the top token, so sampling must pick it (the grammar mask, temperature and
    top-p before it never move the top token); the token's log-probability under the sampling
    distribution is recorded first, since the forced scores would report it as certain.
    """

    def __init__(self, rows: list[int]) -> None:
        self.rows = rows
        self._steps: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        chosen = scores[self.rows]
        best = chosen.argmax(dim=-1, keepdim=True)
        self._steps.append(torch.log_softmax(chosen.float(), dim=-1).gather(1, best)[:, 0])
        scores = scores.clone()
        scores[self.rows] = torch.full_like(chosen, float("-inf")).scatter_(1, best, 0.0)
        return scores

    def recorded(self, steps: int) -> Any:
        """The recorded log-probabilities, one column per generated step (rows x steps)."""
        import torch

        return torch.stack(self._steps[:steps], dim=1)


@dataclass(frozen=True)
class VotedAnswer:
    """The answer a question gets: the chosen candidate's text, its SQL, and how its generation ended."""

    text: str
    sql: str
    stopped: bool
    new_tokens: int


def vote_answers(
    model: Any, tokenizer: Any, prompts: list[list[int]], db_paths: list[Path], settings: PipelineSettings, on_batch: Callable[[int, int], None]
) -> tuple[list[VotedAnswer], list[VoteOutcome]]:
    """`generation.num_candidates` answers per question (the greedy one among them), voted by execution; the
    greedy answer stands where none ran."""
    g = settings.generation
    grammars = schema_grammars(model, tokenizer, db_paths, settings)
    sampled = sample_answers(
        model, tokenizer, prompts, num_candidates=g.num_candidates, temperature=g.temperature, top_p=g.top_p,
        max_new_tokens=g.max_new_tokens, batch_size=g.vote_batch_size, seed=settings.experiment.seed, on_batch=on_batch,
        grammars=grammars, length_budget=g.vote_length_budget,
    )  # fmt: skip
    limits = ExecLimits(timeout_s=g.vote_timeout_s)
    answers: list[VotedAnswer] = []
    votes = []
    for group, db_path in zip(sampled, db_paths, strict=True):
        finished = [a for a in group if not a.cut]  # a cut candidate is an unfinished answer
        candidates = [Candidate(extract_sql(a.text), a.mean_logprob) for a in finished]
        greedy = next(a for a in group if a.greedy)
        outcome = vote(candidates, greedy_sql=extract_sql(greedy.text), run=partial(execute_readonly, db_path, limits=limits))
        chosen = greedy if outcome.fell_back else next(a for a, c in zip(finished, candidates, strict=True) if c.sql == outcome.sql)
        answers.append(VotedAnswer(chosen.text, outcome.sql, chosen.stopped, chosen.new_tokens))
        votes.append(outcome)
    return answers, votes
