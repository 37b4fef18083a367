"""The evaluation report's accuracy chart: base model vs adapter, overall and per difficulty level."""

from __future__ import annotations

from pathlib import Path

from t2sql_pipeline.core.records import ModelScore

# Official orders (Spider hardness, BIRD difficulty); unknown levels follow, alphabetically.
LEVEL_ORDER = ("easy", "medium", "hard", "extra", "simple", "moderate", "challenging")


def ordered_levels(*scores: ModelScore) -> list[str]:
    """Every `<source>/<difficulty>` level in the scores, by source, then in the benchmark's own order.

    >>> ordered_levels(ModelScore(execution_accuracy=0, valid_sql_rate=0, end_of_turn_rate=0, seconds_per_question=0, n_questions=0, n_scored=0,
    ...     per_level={"spider/hard": 0.0, "bird/simple": 0.0, "spider/easy": 0.0}))
    ['bird/simple', 'spider/easy', 'spider/hard']
    """

    def key(level: str) -> tuple[str, int, str]:
        source, _, difficulty = level.rpartition("/")
        rank = LEVEL_ORDER.index(difficulty) if difficulty in LEVEL_ORDER else len(LEVEL_ORDER)
        return source, rank, difficulty

    return sorted({level for score in scores for level in score.per_level}, key=key)


def accuracy_chart(base: ModelScore, adapter: ModelScore, path: Path) -> Path:
    """A grouped bar chart of execution accuracy (overall and per level) and valid-SQL rate, saved as PNG.

    Bars are labelled with their percentage, so a 0% bar still reads as a measured zero.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in Dagster's run workers
    import matplotlib.pyplot as plt

    levels = ordered_levels(base, adapter)
    groups = ["EX overall", *(f"EX {level}" for level in levels), "valid SQL"]

    def values(score: ModelScore) -> list[float]:
        return [score.execution_accuracy, *(score.per_level.get(level, 0.0) for level in levels), score.valid_sql_rate]

    width = 0.38
    figure, axis = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) + 1.5), 3.8))
    for offset, (label, score, color) in ((-width / 2, ("base", base, "#9aa5b1")), (width / 2, ("adapter", adapter, "#2f6fdd"))):
        xs = [i + offset for i in range(len(groups))]
        bars = axis.bar(xs, [100 * v for v in values(score)], width, label=label, color=color)
        axis.bar_label(bars, labels=[f"{100 * v:.0f}%" for v in values(score)], fontsize=8, padding=2)
    axis.axvline(len(groups) - 1.5, color="#cccccc", linewidth=1)  # valid SQL is not an accuracy: set it apart
    axis.set_xticks(range(len(groups)), groups, rotation=20, ha="right", fontsize=9)
    axis.set_ylim(0, 112)
    axis.set_ylabel("% of test questions")
    axis.set_title(f"Execution accuracy on {adapter.n_questions} test questions: base vs adapter", fontsize=10)
    axis.legend(loc="upper left", fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
