"""The training process: `python -m t2sql_pipeline.training_process REQUEST.json` (alone, or as a torchrun worker).

Rank 0 trains, logs to MLflow and saves the adapter. When Dagster launched it through Pipes,
rank 0 streams its progress lines as Pipes logs and reports the AdapterManifest in the
materialization's metadata (a Pipes message, no file read back); otherwise (`t2sql materialize`
with torchrun, or by hand) it writes the manifest to the request's `result_path`. Other ranks
only train their share of each batch. This module lives outside `core/` because it
talks to Dagster Pipes (the small `dagster_pipes` package, not Dagster itself).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from t2sql_pipeline.core.records import AdapterManifest
from t2sql_pipeline.core.training.launch import TrainingRequest, process_rank, world_size
from t2sql_pipeline.core.training.tied_to_parent import die_with_parent


def train(request: TrainingRequest, log: Callable[[str], None], *, write_result: bool = True) -> AdapterManifest | None:
    """Run the stage's training in this process; the manifest on rank 0 (also in `result_path` when asked), None on the other ranks."""
    from t2sql_pipeline.core.stages import RunContext, train_lora_adapter

    ctx = RunContext(request.settings, Path(request.run_dir), request.tracking_uri, log=log)
    manifest = train_lora_adapter(ctx, request.splits, request.base)
    if manifest is not None and write_result:
        path = Path(request.result_path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
        tmp.replace(path)  # the launcher never reads a half-written result
    return manifest


MANIFEST_KEY = "adapter_manifest"  # the metadata entry that carries the manifest to the asset


def report_metadata(manifest: AdapterManifest) -> dict[str, object]:
    """What rank 0 reports to Dagster with the materialization: the manifest itself, and the figures the asset page shows."""
    return {
        MANIFEST_KEY: {"raw_value": manifest.model_dump(mode="json"), "type": "json"},
        "global_step": manifest.global_step,
        "train_loss": manifest.train_loss,
        "eval_loss": manifest.eval_loss,
        "eval_token_accuracy": manifest.eval_token_accuracy,
        "train_seconds": manifest.seconds,
        "num_processes": world_size(),
        "mlflow_run_id": manifest.mlflow_run_id,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m t2sql_pipeline.training_process REQUEST.json", file=sys.stderr)
        return 2
    die_with_parent()
    from t2sql_pipeline.commands import quiet_library_output

    quiet_library_output()  # progress bars of model loading interleave with the progress lines the launcher shows
    request_path = Path(args[0])
    request = TrainingRequest.read(request_path)
    if process_rank() != 0:
        # On a stop, torchrun signals every worker. A worker blocked in a collective would only see KeyboardInterrupt
        # once its peers answer, so other ranks die at once; rank 0's collective then fails and it records the stop.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        train(request, log=lambda _: None)  # rank 0 speaks for every worker
        return 0
    from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, open_dagster_pipes

    if DAGSTER_PIPES_CONTEXT_ENV_VAR not in os.environ:  # launched by `t2sql materialize` or by hand
        train(request, log=lambda message: print(f"[t2sql] {message}", flush=True))
        return 0
    with open_dagster_pipes() as pipes:
        manifest = train(request, log=pipes.log.info, write_result=False)
        if manifest is None:
            raise RuntimeError("rank 0 finished training without an adapter manifest (a bug)")
        pipes.report_asset_materialization(metadata=report_metadata(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
