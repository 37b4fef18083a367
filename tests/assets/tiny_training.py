"""Upstream manifests for training tests: a tiny base model and tokenized splits, stored where the IO manager reads them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from t2sql_pipeline.core.records import BaseModelManifest, Manifest, SplitsManifest
from tests.tiny_models import make_rows, make_tiny_base


def make_tiny_upstream(root: Path) -> tuple[SplitsManifest, BaseModelManifest]:
    """A 2-layer base model and train/validation splits of the test questions, under `root`."""
    from datasets import Dataset, DatasetDict

    base_path = make_tiny_base(root / "base")
    rows = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in make_rows(base_path)]
    DatasetDict({"train": Dataset.from_list(rows), "validation": Dataset.from_list(rows[:10])}).save_to_disk(str(root / "dataset"))
    splits = SplitsManifest(path=str(root / "dataset"), prompt_format="inst", splits={})
    base = BaseModelManifest(path=base_path, name="tiny", parameters=0, vocab_size=300, has_chat_template=False)
    return splits, base


def store_manifest(manifests_dir: Path, asset: str, manifest: Manifest) -> None:
    """Write `manifest` the way ManifestIOManager stores an asset's output."""
    manifests_dir.mkdir(parents=True, exist_ok=True)
    kind = f"{type(manifest).__module__}:{type(manifest).__name__}"
    (manifests_dir / f"{asset}.json").write_text(json.dumps({"type": kind, "manifest": manifest.model_dump()}), encoding="utf-8")


def training_processes(marker_value: str) -> list[int]:
    """Pids of live processes whose environment carries the training marker with this value (this user's only)."""
    from t2sql_pipeline.core.training.launch import MARKER_ENV

    needle = f"{MARKER_ENV}={marker_value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found
