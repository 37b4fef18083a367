"""Data-parallel training on CPU: torchrun with 2 gloo workers against 1 process with the same effective batch.

Both runs go through the real launcher (`core.launch.run_training_processes` → the training command).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

from t2sql_pipeline.core.records import AdapterManifest, BaseModelManifest, SplitsManifest
from t2sql_pipeline.core.training.launch import run_training_processes
from tests.assets.tiny_training import make_tiny_upstream, training_processes
from tests.tiny_models import QUESTIONS, make_rows, tiny_settings

STEPS = 8
COMMON = [
    f"training.max_steps={STEPS}",
    "training.logging_steps=1",
    f"training.eval_steps={STEPS}",
    "training.save_steps=2",
    "training.save_total_limit=10",
    "training.warmup_fraction=0.0",
    "lora.dropout=0.0",
]
# Relative tolerances between the 1- and 2-process runs. With the same effective batch (1 x 4 vs 2 x 2 examples) the
# seeded sampler deals the same shuffled global batches, split across the ranks, and DDP averages the two halves'
# gradients: the runs differ only by floating-point reduction order. Measured on CPU (torch 2.13, gloo): final
# validation loss 5.1183 vs 5.1183, adapter norm 12.8255 vs 12.8255. 0.1% leaves room for summation order and
# thread count, and still catches ranks that do not average their gradients (each would follow its own half-batches).
EVAL_LOSS_TOLERANCE = 1e-3
ADAPTER_NORM_TOLERANCE = 1e-3


def adapter_norm(manifest: AdapterManifest) -> tuple[float, float]:
    """(norm of all LoRA B matrices, norm of all trainable adapter tensors); LoRA B starts at zero."""
    from safetensors.torch import load_file

    tensors = load_file(str(Path(manifest.path) / "adapter_model.safetensors"))
    lora_b = math.sqrt(sum(float(t.float().pow(2).sum()) for k, t in tensors.items() if "lora_B" in k))
    everything = math.sqrt(sum(float(t.float().pow(2).sum()) for t in tensors.values()))
    return lora_b, everything


def with_scored_validation(root: Path, splits: SplitsManifest, base: BaseModelManifest) -> tuple[SplitsManifest, BaseModelManifest]:
    """The tiny splits with what EX while training needs on the validation rows (prompts, gold SQL, a database)."""
    import sqlite3

    from datasets import Dataset, DatasetDict, load_from_disk

    db = root / "db" / "tiny" / "tiny.sqlite"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        for table, column in QUESTIONS:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({column} TEXT)")
    conn.close()
    data = load_from_disk(splits.path)
    validation = [
        {
            **row,
            "prompt_ids": row["input_ids"][: made["prompt_length"]],
            "gold_sql": f"SELECT {c}, count(*) FROM {t} GROUP BY {c}",
            "db_id": "tiny",
            "db_path": str(db),
            "source": "spider",
        }
        for row, made, (t, c) in zip(data["validation"].to_list(), make_rows(base.path), QUESTIONS * 4, strict=False)  # as many as validation holds
    ]
    path = root / "dataset-scored"
    DatasetDict({"train": data["train"], "validation": Dataset.from_list(validation)}).save_to_disk(str(path))
    return splits.model_copy(update={"path": str(path)}), base


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[AdapterManifest, set[str], str, Path]]:
    """One training per process count, each with its own tracking store; the files seen under its checkpoints."""
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"
    root = tmp_path_factory.mktemp("ddp")
    splits, base = with_scored_validation(root, *make_tiny_upstream(root))
    results = {}
    for processes, batch in ((1, 4), (2, 2)):
        settings = tiny_settings(*COMMON, f"training.num_processes={processes}", f"training.per_device_batch_size={batch}")
        run_dir = root / f"p{processes}" / "run"
        uri = f"sqlite:///{root / f'p{processes}.db'}"
        seen: set[str] = set()
        done = threading.Event()

        def watch(folder: Path = run_dir.parent / "checkpoints", seen: set[str] = seen, done: threading.Event = done) -> None:
            while not done.wait(0.02):  # checkpoints are deleted after success: record what appears meanwhile
                seen.update(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            manifest = run_training_processes(settings, splits, base, run_dir, uri)
        finally:
            done.set()
            watcher.join()
        results[processes] = (manifest, seen, uri, run_dir)
    return results


@pytest.mark.slow
def test_two_gloo_workers_train_like_one_process(runs: dict[int, tuple[AdapterManifest, set[str], str, Path]]) -> None:
    (one, *_), (two, *_) = runs[1], runs[2]
    assert one.global_step == two.global_step == STEPS
    for manifest in (one, two):
        assert manifest.eval_loss is not None and manifest.eval_loss < 5.6  # the untrained tiny model starts near ln(300) = 5.7
        assert adapter_norm(manifest)[0] > 0  # LoRA B moved away from its zero initialisation
    assert abs(two.eval_loss - one.eval_loss) / one.eval_loss < EVAL_LOSS_TOLERANCE, (one.eval_loss, two.eval_loss)
    norm_one, norm_two = adapter_norm(one)[1], adapter_norm(two)[1]
    assert abs(norm_two - norm_one) / norm_one < ADAPTER_NORM_TOLERANCE, (norm_one, norm_two)


@pytest.mark.slow
def test_only_rank_zero_tracks_saves_and_reports(runs: dict[int, tuple[AdapterManifest, set[str], str, Path]]) -> None:
    from mlflow import MlflowClient

    manifest, seen, uri, run_dir = runs[2]
    client = MlflowClient(uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "t2sql-demo"]
    (run,) = client.search_runs([experiment.experiment_id])  # one MLflow run, not one per rank
    assert run.info.run_id == manifest.mlflow_run_id and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == list(range(1, STEPS + 1))  # no rank logs twice
    assert run.data.params["training.num_processes"] == "2"
    # EX while training: rank 0 alone generates at the evaluation step (rank 1 waits), one row, one MLflow point.
    assert [row["step"] for row in manifest.during_training] == [STEPS]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "eval_ex")] == [STEPS]

    # One checkpoint tree, saved every 2 steps. The Trainer writes the adapter, optimizer, scheduler and state on rank 0
    # only; each rank adds its own RNG state (rng_state_<rank>.pth), which an exact resume of that rank needs.
    checkpoints = {name.split("/")[1] for name in seen if name.count("/") >= 2}
    assert checkpoints == {f"checkpoint-{s}" for s in range(2, STEPS + 1, 2)}
    rank_files = {name.rsplit("/", 1)[1] for name in seen if "rank" in name or "rng_state" in name}
    assert rank_files == {"rng_state_0.pth", "rng_state_1.pth"}
    assert len({name.split("/")[0] for name in seen}) == 1  # one settings-keyed folder
    assert not (run_dir.parent / "checkpoints").exists() or not any((run_dir.parent / "checkpoints").rglob("checkpoint-*"))

    stage = run_dir / "lora_adapter"
    assert sorted(p.name for p in stage.iterdir()) == ["adapter", "adapter_manifest.json", "log_history.json", "loss_curve.png", "training_request.json"]
    assert training_processes(str(stage / "training_request.json")) == []  # torchrun and both workers are gone
