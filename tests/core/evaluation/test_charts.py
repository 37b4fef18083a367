"""The accuracy chart of the evaluation report."""

import struct
from pathlib import Path

from t2sql_pipeline.core.evaluation.charts import accuracy_chart, ordered_levels
from t2sql_pipeline.core.records import ModelScore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def score(ex: float, per_level: dict[str, float]) -> ModelScore:
    return ModelScore(
        execution_accuracy=ex, valid_sql_rate=0.9, end_of_turn_rate=1.0, seconds_per_question=0.1, n_questions=20, n_scored=20, per_level=per_level
    )


def test_levels_follow_each_benchmark_order_then_unknown_ones() -> None:
    base = score(0.1, {"spider/extra": 0.0, "spider/easy": 0.2, "bird/challenging": 0.0})
    adapter = score(0.5, {"bird/simple": 0.4, "spider/medium": 0.5, "spider/odd": 0.1})
    assert ordered_levels(base, adapter) == ["bird/simple", "bird/challenging", "spider/easy", "spider/medium", "spider/extra", "spider/odd"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_chart_is_a_png_with_one_group_per_level(tmp_path: Path) -> None:
    many = {f"spider/{d}": 0.5 for d in ("easy", "medium", "hard", "extra")} | {f"bird/{d}": 0.2 for d in ("simple", "moderate", "challenging")}
    without = accuracy_chart(score(0.0, {}), score(0.75, {}), tmp_path / "charts" / "overall.png")
    with_levels = accuracy_chart(score(0.0, many), score(0.75, many), tmp_path / "charts" / "levels.png")
    (width, height), (wide, _) = png_size(without), png_size(with_levels)
    assert height > 300 and width >= 600
    assert wide > width + 7 * 80  # each level adds a group of two bars


def test_chart_is_readable_by_an_image_reader(tmp_path: Path) -> None:
    import matplotlib.image

    path = accuracy_chart(score(0.2, {"spider/easy": 0.3}), score(0.6, {"spider/easy": 0.9}), tmp_path / "a.png")
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.std() > 0.01  # not a blank canvas
