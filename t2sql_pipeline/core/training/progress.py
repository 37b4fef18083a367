"""Training progress for people watching: the steps a run will take and one line per logging step."""

from __future__ import annotations

import math
import time

from t2sql_pipeline.core.settings import PipelineSettings


def planned_steps(settings: PipelineSettings, train_examples: int) -> int:
    """Optimizer steps the run will take: `max_steps`, or epochs x batches per epoch (the Trainer's own count).

    >>> from t2sql_pipeline.core.settings import load_settings
    >>> planned_steps(load_settings("demo", ["training.max_steps=-1", "training.epochs=2"]), 100)  # batch 16: 7 per epoch
    14
    """
    t = settings.training
    if t.max_steps > 0:
        return t.max_steps
    per_epoch = max(1, math.ceil(train_examples / (t.per_device_batch_size * t.num_processes)) // t.gradient_accumulation_steps)
    return math.ceil(per_epoch * t.epochs)


def progress_line(step: int, total: int, metrics: dict[str, float], since_step: int, since_time: float, now: float | None = None) -> str:
    """`step 25/294 (9%): loss 0.840, 110 tokens/s, 33 min left`, the time left at the pace since `since_step`.

    >>> progress_line(25, 100, {"loss": 0.84, "tokens_per_second": 110.2}, since_step=5, since_time=0.0, now=240.0)
    'step 25/100 (25%): loss 0.840, 110 tokens/s, 15 min left'
    """
    now = time.monotonic() if now is None else now
    parts = [f"loss {metrics['loss']:.3f}"]
    if "tokens_per_second" in metrics:
        parts.append(f"{metrics['tokens_per_second']:.0f} tokens/s")
    if since_step < step < total:
        parts.append(f"{(now - since_time) / (step - since_step) * (total - step) / 60:.0f} min left")
    return f"step {step}/{total} ({step / total:.0%}): " + ", ".join(parts)
