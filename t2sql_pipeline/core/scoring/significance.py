"""Paired significance of two models' per-question results: the exact McNemar test.

Only questions where the two models disagree count: `b` where only the first is right,
`c` where only the second is. Under the null hypothesis each disagreement goes either
way with probability 1/2, so the two-sided p-value is twice the binomial tail of the
smaller count (capped at 1).

>>> r = mcnemar_exact([True, False, False, False], [True, True, True, True])
>>> (r.only_first, r.only_second, r.p_value)
(0, 3, 0.25)
>>> mcnemar_exact([], []).p_value
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb


@dataclass(frozen=True)
class McNemarResult:
    only_first: int  # questions only the first model answers correctly
    only_second: int  # questions only the second model answers correctly
    n_paired: int  # questions scored for both models
    p_value: float  # two-sided, exact (binomial)


def mcnemar_exact(first: list[bool], second: list[bool]) -> McNemarResult:
    """The exact two-sided McNemar test on aligned per-question results (True = correct)."""
    if len(first) != len(second):
        raise ValueError(f"paired results need equal lengths, got {len(first)} and {len(second)}")
    b = sum(1 for x, y in zip(first, second, strict=True) if x and not y)
    c = sum(1 for x, y in zip(first, second, strict=True) if y and not x)
    n = b + c
    tail = sum(comb(n, k) for k in range(min(b, c) + 1)) / 2**n if n else 1.0
    return McNemarResult(b, c, len(first), min(1.0, 2 * tail))
