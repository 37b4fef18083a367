"""The loss curve of a training run: training and validation loss against step, as a PNG."""

from __future__ import annotations

from pathlib import Path


def draw_loss_curve(history: list[dict[str, float]], path: Path) -> Path:
    """Plot the Trainer's `log_history` rows (`loss`, `eval_loss` by `step`), on a log scale when all are positive; save as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    values: list[float] = []
    for key, label in (("loss", "train loss"), ("eval_loss", "validation loss")):
        points = [(row["step"], row[key]) for row in history if key in row and "step" in row]
        if points:
            axis.plot(*zip(*points, strict=True), marker="." if key == "eval_loss" else None, label=label)
            values += [value for _, value in points]
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    if values and min(values) > 0:  # SFT losses span decades; a GRPO loss can be 0 or negative
        axis.set_yscale("log")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
