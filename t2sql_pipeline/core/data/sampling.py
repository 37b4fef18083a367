"""Distribution-preserving stratified sampling.

Strata are source x difficulty x evidence-length bucket (quantile buckets over
the examples that carry evidence). Each stratum's quota comes from
largest-remainder rounding of its share of the target size, so every
stratum's share of the sample stays within a rounding step of its share of
the population. Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from t2sql_pipeline.core.data.sources.examples import Example
from t2sql_pipeline.core.records import StratumRow


@dataclass(frozen=True)
class SampleResult:
    examples: list[Example]
    strata: list[StratumRow]

    @property
    def max_shift_pct_points(self) -> float:
        return max((s.shift_pct_points for s in self.strata), default=0.0)


def evidence_length(example: Example) -> int:
    return len(example.evidence.split())


def bucket_edges(lengths: list[int], buckets: int) -> list[int]:
    """Upper edges of `buckets` quantile buckets (the last bucket is open)."""
    ordered = sorted(lengths)
    if not ordered:
        return []
    return sorted({ordered[min(len(ordered) - 1, (len(ordered) * k) // buckets)] for k in range(1, buckets)})


def stratum_of(example: Example, edges: list[int]) -> str:
    if not example.evidence:
        bucket = "no-evidence"
    else:
        length = evidence_length(example)
        index = sum(1 for edge in edges if length >= edge)
        bucket = f"evidence-q{index + 1}"
    return f"{example.source}|{example.difficulty}|{bucket}"


def largest_remainder_quotas(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` across strata in proportion to `sizes`; leftovers go to the largest remainders."""
    population = sum(sizes.values())
    exact = {key: total * size / population for key, size in sizes.items()}
    quotas = {key: int(value) for key, value in exact.items()}
    leftover = total - sum(quotas.values())
    # Ties broken by stratum name so the result is deterministic.
    for key in sorted(exact, key=lambda k: (-(exact[k] - quotas[k]), k))[:leftover]:
        quotas[key] += 1
    return quotas


def stratified_sample(examples: list[Example], fraction: float, evidence_buckets: int, seed: int) -> SampleResult:
    if not examples:
        raise ValueError("cannot sample from an empty population")
    edges = bucket_edges([evidence_length(e) for e in examples if e.evidence], evidence_buckets)
    by_stratum: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_stratum[stratum_of(example, edges)].append(example)
    target = max(1, round(fraction * len(examples)))
    quotas = largest_remainder_quotas({k: len(v) for k, v in by_stratum.items()}, target)
    rng = random.Random(seed)
    chosen: list[Example] = []
    shares: list[StratumRow] = []
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum], key=lambda e: e.example_id)
        picked = rng.sample(members, quotas[stratum])
        chosen.extend(picked)
        population_share, sample_share = len(members) / len(examples), len(picked) / target
        shares.append(
            StratumRow(
                stratum=stratum,
                population=len(members),
                sample=len(picked),
                population_share=population_share,
                sample_share=sample_share,
                shift_pct_points=abs(sample_share - population_share) * 100.0,
            )
        )
    chosen.sort(key=lambda e: e.example_id)
    return SampleResult(chosen, shares)
