"""The exact McNemar test: known binomial values, symmetry, and only discordant pairs count."""

from __future__ import annotations

import pytest

from t2sql_pipeline.core.scoring.significance import mcnemar_exact


def pairs(only_first: int, only_second: int, both: int = 0, neither: int = 0) -> tuple[list[bool], list[bool]]:
    first = [True] * only_first + [False] * only_second + [True] * both + [False] * neither
    second = [False] * only_first + [True] * only_second + [True] * both + [False] * neither
    return first, second


@pytest.mark.parametrize(
    ("only_first", "only_second", "p_value"),
    [
        (0, 10, 2 / 2**10),  # all ten disagreements one way: 2 * 0.5^10
        (1, 9, 2 * 11 / 2**10),  # 2 * (C(10,0) + C(10,1)) / 2^10
        (5, 5, 1.0),
        (0, 0, 1.0),
        (3, 17, 2 * sum([1, 20, 190, 1140]) / 2**20),
    ],
)
def test_known_values(only_first: int, only_second: int, p_value: float) -> None:
    result = mcnemar_exact(*pairs(only_first, only_second, both=7, neither=40))
    assert (result.only_first, result.only_second, result.n_paired) == (only_first, only_second, only_first + only_second + 47)
    assert result.p_value == pytest.approx(p_value)


def test_symmetric_and_blind_to_agreements() -> None:
    assert mcnemar_exact(*pairs(2, 12)).p_value == mcnemar_exact(*pairs(12, 2)).p_value
    assert mcnemar_exact(*pairs(2, 12, both=0)).p_value == mcnemar_exact(*pairs(2, 12, both=100, neither=100)).p_value


def test_unpaired_results_are_refused() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        mcnemar_exact([True], [True, False])
