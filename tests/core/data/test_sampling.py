"""Stratified sampling: largest-remainder quotas, every stratum's share kept within a point, deterministic."""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from t2sql_pipeline.core.data.sampling import bucket_edges, largest_remainder_quotas, stratified_sample, stratum_of
from t2sql_pipeline.core.data.sources.examples import Example

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = Path(os.environ.get("T2SQL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def make_example(index: int, source: str, difficulty: str, evidence: str = "", db_id: str = "db") -> Example:
    return Example(
        example_id=f"{source}/train/{index:05d}",
        source=source,  # type: ignore[arg-type]
        split="train",
        db_id=db_id,
        question=f"question {index}",
        evidence=evidence,
        gold_sql="SELECT 1",
        difficulty=difficulty,
        db_path="",
        schema="",
    )


def skewed_population(seed: int = 0) -> list[Example]:
    """Spider without evidence and BIRD with evidence of varied length; strata from 700 down to 3 members."""
    rng = random.Random(seed)
    examples: list[Example] = []
    for difficulty, count in (("easy", 700), ("medium", 260), ("hard", 41), ("extra", 3)):
        for _ in range(count):
            examples.append(make_example(len(examples), "spider", difficulty))
    for difficulty, count in (("simple", 520), ("moderate", 190), ("challenging", 37)):
        for _ in range(count):
            words = " ".join(["word"] * rng.choice((2, 3, 5, 8, 13, 21)))
            examples.append(make_example(len(examples), "bird", difficulty, evidence=words))
    rng.shuffle(examples)
    assert len({e.example_id for e in examples}) == len(examples)
    return examples


def shares(examples: list[Example], key) -> dict[str, float]:
    counts = Counter(key(e) for e in examples)
    return {k: v / len(examples) for k, v in counts.items()}


def max_shift_pct_points(population: list[Example], sample: list[Example], key) -> float:
    before, after = shares(population, key), shares(sample, key)
    return max(abs(after.get(k, 0.0) - share) * 100 for k, share in before.items())


# --- largest remainder ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "total", "expected"),
    [
        ({"a": 1, "b": 1, "c": 1}, 2, {"a": 1, "b": 1, "c": 0}),  # ties broken by name
        ({"a": 50, "b": 30, "c": 20}, 10, {"a": 5, "b": 3, "c": 2}),  # exact shares
        ({"a": 5, "b": 3, "c": 2}, 10, {"a": 5, "b": 3, "c": 2}),  # the whole population
        ({"a": 7, "b": 2, "c": 1}, 5, {"a": 4, "b": 1, "c": 0}),  # 3.5, 1.0, 0.5 -> tie at .5 goes to "a"
        ({"big": 999, "tiny": 1}, 1, {"big": 1, "tiny": 0}),
    ],
)
def test_largest_remainder_examples(sizes: dict[str, int], total: int, expected: dict[str, int]) -> None:
    assert largest_remainder_quotas(sizes, total) == expected


def test_largest_remainder_sums_to_target_and_rounds_each_share() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        sizes = {f"s{i}": rng.randint(1, 500) for i in range(rng.randint(1, 12))}
        population = sum(sizes.values())
        total = rng.randint(1, population)
        quotas = largest_remainder_quotas(sizes, total)
        assert set(quotas) == set(sizes)
        assert sum(quotas.values()) == total, (sizes, total)
        for key, size in sizes.items():
            exact = total * size / population
            assert quotas[key] in {math.floor(exact), math.ceil(exact)}, (key, exact, quotas[key])
            assert quotas[key] <= size


# --- strata -----------------------------------------------------------------------


def test_bucket_edges_are_quantiles() -> None:
    assert bucket_edges([], 3) == []
    assert bucket_edges(list(range(1, 10)), 3) == [4, 7]
    assert bucket_edges([5] * 9, 3) == [5]  # repeated edges collapse
    assert bucket_edges([1, 2, 3, 4], 1) == []


def test_stratum_of_names_source_difficulty_and_evidence_bucket() -> None:
    edges = [3, 6]
    assert stratum_of(make_example(0, "spider", "easy"), edges) == "spider|easy|no-evidence"
    assert stratum_of(make_example(0, "bird", "simple", "a b"), edges) == "bird|simple|evidence-q1"
    assert stratum_of(make_example(0, "bird", "simple", "a b c d"), edges) == "bird|simple|evidence-q2"
    assert stratum_of(make_example(0, "bird", "simple", " ".join("x" * 9)), edges) == "bird|simple|evidence-q3"


# --- the sample --------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.45, 0.8])
def test_every_stratum_keeps_its_share_on_a_skewed_population(fraction: float) -> None:
    population = skewed_population()
    result = stratified_sample(population, fraction, evidence_buckets=3, seed=7)
    sample = result.examples
    assert len(sample) == round(fraction * len(population))
    assert len({e.example_id for e in sample}) == len(sample)
    assert {e.example_id for e in sample} <= {e.example_id for e in population}

    edges = bucket_edges([len(e.evidence.split()) for e in population if e.evidence], 3)
    assert max_shift_pct_points(population, sample, lambda e: stratum_of(e, edges)) <= 1.0
    assert max_shift_pct_points(population, sample, lambda e: (e.source, e.difficulty)) <= 1.0
    assert max_shift_pct_points(population, sample, lambda e: e.source) <= 1.0
    assert result.max_shift_pct_points <= 1.0


def test_reported_strata_match_the_sample() -> None:
    population = skewed_population()
    result = stratified_sample(population, 0.3, evidence_buckets=3, seed=7)
    edges = bucket_edges([len(e.evidence.split()) for e in population if e.evidence], 3)
    in_sample = Counter(stratum_of(e, edges) for e in result.examples)
    in_population = Counter(stratum_of(e, edges) for e in population)
    assert {s.stratum for s in result.strata} == set(in_population)
    for share in result.strata:
        assert share.population == in_population[share.stratum]
        assert share.sample == in_sample[share.stratum]
        assert share.population_share == pytest.approx(in_population[share.stratum] / len(population))
        assert share.sample_share == pytest.approx(in_sample[share.stratum] / len(result.examples))
    assert sum(s.sample for s in result.strata) == len(result.examples)


def test_evidence_buckets_are_strata() -> None:
    population = skewed_population()
    result = stratified_sample(population, 0.3, evidence_buckets=3, seed=7)
    buckets = {s.stratum.split("|")[2] for s in result.strata if s.stratum.startswith("bird|")}
    assert buckets == {"evidence-q1", "evidence-q2", "evidence-q3"}


def test_deterministic_for_a_seed() -> None:
    population = skewed_population()
    first = stratified_sample(population, 0.3, 3, seed=11)
    again = stratified_sample(list(reversed(population)), 0.3, 3, seed=11)  # input order does not matter
    other = stratified_sample(population, 0.3, 3, seed=12)
    assert [e.example_id for e in first.examples] == [e.example_id for e in again.examples]
    assert [e.example_id for e in first.examples] != [e.example_id for e in other.examples]


def test_fraction_one_keeps_everything() -> None:
    population = skewed_population()
    result = stratified_sample(population, 1.0, 3, seed=3)
    assert sorted(e.example_id for e in result.examples) == sorted(e.example_id for e in population)
    assert result.max_shift_pct_points == pytest.approx(0.0, abs=1e-9)


def test_tiny_fraction_keeps_at_least_one() -> None:
    assert len(stratified_sample(skewed_population(), 1e-6, 3, seed=3).examples) == 1


def test_empty_population_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        stratified_sample([], 0.5, 3, seed=0)


def test_real_bird_dev_at_45_percent() -> None:
    path = SHARED_DATA / "bird-dev" / "dev.json"
    if not path.is_file():
        pytest.skip(f"BIRD dev not found at {path} (set T2SQL_SHARED_DATA)")
    records = json.loads(path.read_text(encoding="utf-8"))
    population = [
        Example(
            example_id=f"bird/dev/{index}",
            source="bird",
            split="dev",
            db_id=record["db_id"],
            question=record["question"],
            evidence=record.get("evidence") or "",
            gold_sql=record["SQL"],
            difficulty=record["difficulty"],
            db_path="",
            schema="",
        )
        for index, record in enumerate(records)
    ]
    assert len(population) == 1534
    result = stratified_sample(population, 0.45, evidence_buckets=3, seed=42)
    assert len(result.examples) == round(0.45 * 1534)
    edges = bucket_edges([len(e.evidence.split()) for e in population if e.evidence], 3)
    assert max_shift_pct_points(population, result.examples, lambda e: stratum_of(e, edges)) <= 1.0
    assert max_shift_pct_points(population, result.examples, lambda e: e.difficulty) <= 1.0
    assert result.max_shift_pct_points <= 1.0
    assert len(result.strata) >= 9  # 3 difficulties x 3 evidence buckets (+ no-evidence if any)


def test_real_bird_dev_at_45_percent_through_the_loader() -> None:
    root = SHARED_DATA / "bird-dev"
    if not (root / "dev.json").is_file():
        pytest.skip(f"BIRD dev not found at {root} (set T2SQL_SHARED_DATA)")
    from t2sql_pipeline.core.data.sources.bird import load_bird_local

    population = load_bird_local(root, ["dev"], require_database=False).examples
    result = stratified_sample(population, 0.45, evidence_buckets=3, seed=42)
    assert len(result.examples) == round(0.45 * 1534)
    assert result.max_shift_pct_points <= 1.0
    assert max_shift_pct_points(population, result.examples, lambda e: e.db_id) <= 1.0  # databases too, though not strata
