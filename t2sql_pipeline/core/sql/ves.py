"""BIRD's valid efficiency score (VES) and the mini-dev reward-based R-VES.

>>> ves([1.0, 0.0])
50.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def mean_without_outliers(values: Sequence[float]) -> float:
    """Mean of `values` within 3 standard deviations of their mean (BIRD's cleaning)."""
    if not values:
        raise ValueError("mean_without_outliers needs at least one value")
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    kept = [v for v in values if mean - 3 * std < v < mean + 3 * std] or list(values)
    return sum(kept) / len(kept)


def ves(time_ratios: Sequence[float]) -> float:
    """BIRD VES: mean of sqrt(gold time / predicted time) * 100, 0 for wrong answers."""
    return sum(math.sqrt(r) * 100 for r in time_ratios) / len(time_ratios)


def _reward(ratio: float) -> float:
    if ratio == 0:
        return 0.0
    for bound, reward in ((2, 1.25), (1, 1.0), (0.5, 0.75), (0.25, 0.5)):
        if ratio >= bound:
            return reward
    return 0.25


def r_ves(time_ratios: Sequence[float]) -> float:
    """BIRD mini-dev R-VES: time ratios bucketed into rewards, mean of sqrt(reward) * 100."""
    return sum(math.sqrt(_reward(r)) * 100 for r in time_ratios) / len(time_ratios)
