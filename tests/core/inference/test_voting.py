"""Execution-guided voting: the majority result wins, ties go to the likelier answer, writes and runaways never win."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from functools import partial
from pathlib import Path

import pytest

from t2sql_pipeline.core.inference.voting import Candidate, SampledAnswer, sample_answers, vote
from t2sql_pipeline.core.sql.execution import ExecLimits, execute_readonly
from tests.core.conftest import TINY_PROMPTS
from tests.core.inference.test_generation import looping

SLOW = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "singers.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE singer(id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INT);"
        "INSERT INTO singer VALUES (1, 'Ann', 'FR', 30), (2, 'Bob', 'US', 41), (3, 'Cy', 'FR', 25);"
    )
    conn.commit()
    conn.close()
    return path


def run_on(db: Path, timeout_s: float = 2.0):  # type: ignore[no-untyped-def]
    return partial(execute_readonly, db, limits=ExecLimits(timeout_s=timeout_s))


def test_the_largest_group_of_equal_results_wins(db: Path) -> None:
    candidates = [
        Candidate("SELECT count(*) FROM singer", -0.05),  # 3: alone, although the likeliest
        Candidate("SELECT count(*) FROM singer WHERE country = 'FR'", -0.9),  # 2
        Candidate("SELECT count(name) FROM singer WHERE country = 'FR'", -0.7),  # 2, another text
        Candidate("SELECT count(*) FROM singer WHERE age < 35", -0.8),  # 2, a third text
    ]
    outcome = vote(candidates, greedy_sql="SELECT 0", run=run_on(db))
    assert outcome.sql == "SELECT count(name) FROM singer WHERE country = 'FR'"  # the group's likeliest member
    assert (outcome.candidates, outcome.executed, outcome.agreeing, outcome.fell_back) == (4, 4, 3, False)


def test_results_are_compared_like_the_evaluator_does(db: Path) -> None:
    # Same rows in another column order and row order: one result. With ORDER BY on both, order counts.
    same = [Candidate("SELECT name, age FROM singer", -1.0), Candidate("SELECT age, name FROM singer ORDER BY age", -2.0)]
    assert vote(same, greedy_sql="", run=run_on(db)).agreeing == 2
    ordered = [Candidate("SELECT name FROM singer ORDER BY age", -1.0), Candidate("SELECT name FROM singer ORDER BY name", -2.0)]
    assert vote(ordered, greedy_sql="", run=run_on(db)).agreeing == 1


def test_a_tie_goes_to_the_group_with_the_likeliest_answer(db: Path) -> None:
    candidates = [
        Candidate("SELECT name FROM singer WHERE id = 1", -0.6),
        Candidate("SELECT name FROM singer WHERE age = 30", -0.4),  # Ann, best of its group: -0.4
        Candidate("SELECT name FROM singer WHERE id = 2", -0.5),
        Candidate("SELECT name FROM singer WHERE age = 41", -0.45),  # Bob, best of its group: -0.45
    ]
    outcome = vote(candidates, greedy_sql="SELECT 0", run=run_on(db))
    assert outcome.sql == "SELECT name FROM singer WHERE age = 30" and outcome.agreeing == 2
    flipped = [Candidate(c.sql, p) for c, p in zip(candidates, [-0.6, -0.5, -0.4, -0.45], strict=True)]  # Bob's best is now -0.4
    assert vote(flipped, greedy_sql="SELECT 0", run=run_on(db)).sql == "SELECT name FROM singer WHERE id = 2"


def test_failures_are_dropped_and_the_greedy_answer_stands_when_nothing_runs(db: Path) -> None:
    broken = [Candidate("SELECT nope FROM singer", -0.1), Candidate("SELEC name", -0.2), Candidate("", -0.3)]
    outcome = vote(broken, greedy_sql="SELECT name FROM singer", run=run_on(db))
    assert outcome.sql == "SELECT name FROM singer" and outcome.fell_back and (outcome.executed, outcome.agreeing) == (0, 0)
    mixed = [*broken, Candidate("SELECT 1", -5.0)]
    assert vote(mixed, greedy_sql="SELECT name FROM singer", run=run_on(db)).sql == "SELECT 1"


def test_a_write_never_runs_and_never_wins(db: Path) -> None:
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    writes = ["DELETE FROM singer", "DROP TABLE singer", "UPDATE singer SET age = 0", "INSERT INTO singer VALUES (9, 'x', 'y', 1)"]
    candidates = [Candidate(sql, -0.01) for sql in writes * 2] + [Candidate("SELECT count(*) FROM singer", -3.0)]
    outcome = vote(candidates, greedy_sql="SELECT 0", run=run_on(db))
    assert outcome.sql == "SELECT count(*) FROM singer" and outcome.executed == 1
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert execute_readonly(db, "SELECT count(*) FROM singer").rows == ((3,),)


def test_a_runaway_candidate_is_stopped_at_the_timeout(db: Path) -> None:
    candidates = [Candidate(SLOW, -0.01), Candidate(SLOW + " ", -0.02), Candidate("SELECT 7", -1.0)]
    started = time.monotonic()
    outcome = vote(candidates, greedy_sql="SELECT 0", run=run_on(db, timeout_s=0.3))
    elapsed = time.monotonic() - started
    assert outcome.sql == "SELECT 7" and outcome.executed == 1
    assert elapsed < 2 * 0.3 + 1.0  # two runaways, each cut at its timeout


def test_identical_candidates_run_once(db: Path) -> None:
    calls: list[str] = []

    def counting(sql: str):  # type: ignore[no-untyped-def]
        calls.append(sql)
        return execute_readonly(db, sql)

    outcome = vote([Candidate("SELECT 1", -0.1)] * 5, greedy_sql="", run=counting)
    assert calls == ["SELECT 1"] and outcome.agreeing == 5


def test_sampling_gives_every_prompt_its_candidates_with_log_probabilities(tiny_model) -> None:
    model, tokenizer = tiny_model
    prompts = [tokenizer(text)["input_ids"] for text in TINY_PROMPTS[:3]]
    answers = sample_answers(model, tokenizer, prompts, num_candidates=4, temperature=1.0, top_p=0.95, max_new_tokens=8, batch_size=8, seed=1)
    assert [len(group) for group in answers] == [4, 4, 4]
    assert all(a.mean_logprob <= 0.0 for group in answers for a in group)
    assert len({a.text for group in answers for a in group}) > 3  # sampled, not 4 copies of the greedy answer
    again = sample_answers(model, tokenizer, prompts, num_candidates=4, temperature=1.0, top_p=0.95, max_new_tokens=8, batch_size=8, seed=1)
    assert again == answers  # seeded


def test_the_first_candidate_is_the_greedy_answer_with_its_sampling_log_probability(tiny_model) -> None:
    from t2sql_pipeline.core.inference.generation import generate_answers

    model, tokenizer = tiny_model
    prompts = [tokenizer(text)["input_ids"] for text in TINY_PROMPTS[:3]]
    answers = sample_answers(model, tokenizer, prompts, num_candidates=4, temperature=0.8, top_p=0.95, max_new_tokens=8, batch_size=8, seed=1)
    greedy = generate_answers(model, tokenizer, prompts, max_new_tokens=8, batch_size=8)
    assert [[a.greedy for a in group] for group in answers] == [[True, False, False, False]] * 3
    assert [group[0].text for group in answers] == [a.text for a in greedy]
    # Forced to its top token, the greedy row would score log 1 = 0; what is kept is the sampling distribution's
    # value, which for the most probable token at every step is above what the samples score on average.
    assert all(-50.0 < group[0].mean_logprob < 0.0 for group in answers)
    assert all(group[0].mean_logprob > sum(a.mean_logprob for a in group[1:]) / 3 for group in answers)


def test_answers_return_in_input_order_however_the_prompts_are_batched(tiny_model) -> None:
    from t2sql_pipeline.core.inference.generation import generate_answers

    model, tokenizer = tiny_model
    prompts = sorted((tokenizer(text)["input_ids"] for text in TINY_PROMPTS[:4]), key=len)  # batches take the longest first
    assert len({len(p) for p in prompts}) > 1
    greedy = [a.text for a in generate_answers(model, tokenizer, prompts, max_new_tokens=8, batch_size=4)]
    for batch_size in (3, 6, 12):  # one, two and four prompts of 3 candidates per batch
        answers = sample_answers(model, tokenizer, prompts, num_candidates=3, temperature=0.8, top_p=0.95, max_new_tokens=8, batch_size=batch_size, seed=1)
        assert [group[0].text for group in answers] == greedy, batch_size


def test_sharing_the_prefill_changes_no_candidate(tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:
    from t2sql_pipeline.core.inference import voting

    model, tokenizer = tiny_model
    prompts = [tokenizer(text)["input_ids"] for text in TINY_PROMPTS[:4]]
    kwargs = {"num_candidates": 4, "temperature": 0.8, "top_p": 0.95, "max_new_tokens": 8, "batch_size": 8, "seed": 3}
    shared = sample_answers(model, tokenizer, prompts, **kwargs)
    monkeypatch.setattr(voting, "_prefill", lambda *_args: None)  # every candidate row prefills its own prompt
    separate = sample_answers(model, tokenizer, prompts, **kwargs)
    assert [[a.text for a in g] for g in shared] == [[a.text for a in g] for g in separate]
    assert [a.mean_logprob for g in shared for a in g] == pytest.approx([a.mean_logprob for g in separate for a in g], abs=1e-4)


def test_the_length_budget_cuts_samples_that_outrun_their_greedy_answer() -> None:
    import torch

    from t2sql_pipeline.core.inference.voting import LENGTH_BUDGET_SLACK, _LengthBudget

    eos, width = 2, 3  # rows: prompt 0 (greedy row 0, samples 1-2), prompt 1 (greedy row 3, samples 4-5)
    budget = _LengthBudget(width, num_candidates=3, eos_id=eos, factor=1.5)
    prompt = [[7, 7, 7]] * 6
    answers = [[5, eos], [5, 5], [5, eos], [5, 5], [5, 5], [5, 5]]  # greedy row 0 ends after 2 tokens; row 3 never
    limit = 3 + LENGTH_BUDGET_SLACK  # ceil(1.5 x 2) + slack
    flags = []
    for step in range(1, limit + 1):
        ids = torch.tensor([p + (a + [5] * limit)[:step] for p, a in zip(prompt, answers, strict=True)])
        flags.append(budget(ids, None).tolist())
    assert all(not any(f) for f in flags[:-1])  # nothing is cut before the budget is reached
    assert flags[-1] == [False, True, False, False, False, False]  # row 1 outran it; row 2 had ended; prompt 1's greedy row runs on
    assert budget.cut == {1: limit} and budget.greedy_length == {0: 2}


def test_cut_candidates_are_left_out_of_the_vote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from t2sql_pipeline.core.inference import voting
    from t2sql_pipeline.core.settings import load_settings

    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript("CREATE TABLE item(id INT); INSERT INTO item VALUES (1), (2);")
    group = [
        SampledAnswer("SELECT count(*) FROM item", -0.3, True, 6, greedy=True),
        SampledAnswer("SELECT id FROM item", -0.1, False, 12, cut=True),  # cut: would win 2 to 1 if it counted
        SampledAnswer("SELECT id FROM item", -0.2, False, 12, cut=True),
    ]
    monkeypatch.setattr(voting, "sample_answers", lambda *_a, **_k: [group])
    settings = load_settings("demo", ["generation.strategy=execution_vote", "generation.num_candidates=3", "generation.vote_length_budget=1.5"])
    answers, outcomes = voting.vote_answers(None, None, [[1, 2]], [db], settings, lambda _d, _t: None)
    assert answers[0].sql == "SELECT count(*) FROM item;" and outcomes[0].candidates == 1


@pytest.mark.parametrize("scale", [0.5, 3.0, 8.0])  # flat (nucleus past the top k, sorted in full), wide, peaked
def test_the_nucleus_warper_keeps_what_transformers_top_p_keeps(scale: float) -> None:
    import torch
    from transformers import TopPLogitsWarper

    from t2sql_pipeline.core.inference.voting import NucleusWarper

    scores = torch.randn(6, 5000, generator=torch.Generator().manual_seed(1)) * scale
    scores[0] = -1e4
    scores[0, 7] = 0.0  # one certain token
    ids = torch.zeros(6, 1, dtype=torch.long)
    expected = TopPLogitsWarper(0.95)(ids, scores.clone())
    assert torch.equal(NucleusWarper(0.95, k=64)(ids, scores.clone()), expected)
    assert int(torch.isfinite(expected[0]).sum()) == 1


def test_candidates_caught_in_a_loop_are_cut_like_the_greedy_answer(tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:
    model, tokenizer = tiny_model
    cycle = [t for t in range(10, 1000) if t != tokenizer.eos_token_id][:12]
    looping(model, cycle, monkeypatch)
    (group,) = sample_answers(
        model, tokenizer, [tokenizer(TINY_PROMPTS[0])["input_ids"]], num_candidates=3, temperature=0.8, top_p=0.95, max_new_tokens=60, batch_size=3
    )
    assert [(a.cut, a.stopped, a.new_tokens) for a in group] == [(True, False, 24)] * 3
