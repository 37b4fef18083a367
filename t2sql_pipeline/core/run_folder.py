"""The layout of a run's folder, named here once: `<state>/artifacts/<experiment>/<run>/`.

One subfolder per stage (the asset's name). The stages write these paths, and `t2sql evaluate-run`,
`t2sql rl-run`, the benchmarks and the tests read them through `RunFolder` instead of spelling them out.
Checkpoints live beside the runs (`<experiment>/checkpoints/<key>/`) so a new run can resume them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ADAPTER = "adapter"  # inside a training stage's folder (lora_adapter/, rl_adapter/): the saved adapter
LOG_HISTORY = "log_history.json"  # ... the Trainer's log rows
LOSS_CURVE = "loss_curve.png"  # ... and their chart


@dataclass(frozen=True)
class RunFolder:
    path: Path

    def stage(self, name: str) -> Path:
        """A stage's folder (not created)."""
        return self.path / name

    def raw_examples(self, source: str) -> Path:
        return self.path / f"raw_{source}" / "examples.parquet"

    @property
    def sample_examples(self) -> Path:
        return self.path / "stratified_sample" / "examples.parquet"

    @property
    def demo_base_model(self) -> Path:
        return self.path / "base_model" / "model"  # the demo's own base; other bases live in <state>/models

    @property
    def tokenized_splits(self) -> Path:
        return self.path / "tokenized_splits" / "dataset"

    @property
    def sft_adapter(self) -> Path:
        return self.path / "lora_adapter" / ADAPTER

    @property
    def rl_adapter(self) -> Path:
        return self.path / "rl_adapter" / ADAPTER

    @property
    def report(self) -> Path:
        return self.path / "evaluation_report" / "report.json"

    @property
    def predictions(self) -> Path:
        return self.path / "evaluation_report" / "predictions.jsonl"

    @property
    def completions(self) -> Path:
        return self.path / "evaluation_report" / "completions.jsonl"

    @property
    def registration(self) -> Path:
        return self.path / "registered_adapter" / "registration.json"

    def evaluation(self, name: str) -> Path:
        """A later evaluation's folder (`t2sql evaluate-run --name`), with its own predictions.jsonl and report.json."""
        return self.path / "evaluations" / name

    @property
    def checkpoints(self) -> Path:
        return self.path.parent / "checkpoints"
