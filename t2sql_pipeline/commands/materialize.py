"""`t2sql materialize`: run every stage of an experiment in this process, without Dagster."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import TextIO

PROGRESS_LINE = re.compile(r"step \d+/\d+ \(")  # core.training.progress.progress_line


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("materialize", help="run the whole pipeline for an experiment, without Dagster")
    parser.add_argument("--experiment", default="demo", help="name under configs/experiments/ or a YAML path (default: demo)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a setting (repeatable)")
    parser.add_argument(
        "--select",
        default=None,
        metavar="ASSET[,...]",
        help="only these assets, Dagster-style: +ASSET adds its ancestors (e.g. +tokenized_splits: the data stages); default: all",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an expected error (bad settings or data) too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Expected errors (settings, data files, a model file) print one line naming the file or key; --debug re-raises."""
    from t2sql_pipeline.core.training.checkpoint_lock import CheckpointBusyError

    try:
        return materialize(args)
    # Settings, data and model-file errors are ValueErrors naming their source; a busy checkpoint folder names its holder.
    except (ValueError, OSError, CheckpointBusyError) as error:
        if args.debug or os.environ.get("T2SQL_DEBUG"):
            raise
        print(f"t2sql materialize: error: {error}", file=sys.stderr)
        return 2


class ProgressPrinter:
    """`[t2sql] message` lines; on a terminal, training's `step N/M ...` lines overwrite each other like a progress bar."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar_open = False  # the last thing written is a progress line without its newline

    def __call__(self, message: str) -> None:
        is_step = PROGRESS_LINE.match(message) is not None
        if is_step and self.stream.isatty():
            self.stream.write(f"\r\033[K[t2sql] {message}")
            self.bar_open = True
        else:
            self.stream.write(("\n" if self.bar_open else "") + f"[t2sql] {message}\n")
            self.bar_open = False
        self.stream.flush()


def materialize(args: argparse.Namespace) -> int:
    from t2sql_pipeline.commands import quiet_library_output
    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.stages import ASSET_PARENTS, RunContext, beats_base_model, run_all, run_selected, select_assets
    from t2sql_pipeline.core.state import artifacts_dir, mlflow_tracking_uri

    assets = select_assets(args.select) if args.select else list(ASSET_PARENTS)  # a bad selection fails before any work
    settings = load_settings(args.experiment, args.overrides)
    quiet_library_output()
    run_id = time.strftime("cli-%Y%m%d-%H%M%S") + f"-{os.getpid()}"  # two runs started in the same second get their own folders
    ctx = RunContext(settings, artifacts_dir() / settings.experiment.name / run_id, mlflow_tracking_uri(), log=ProgressPrinter(sys.stdout))
    if "registered_adapter" not in assets:
        done = run_selected(ctx, assets)
        if "evaluation_report" in done:
            report = done["evaluation_report"]
            print(f"base model execution accuracy:    {report.base.execution_accuracy:.1%} ({report.base.n_scored} {report.evaluated_split} questions)")
            print(f"fine-tuned execution accuracy:    {report.adapter.execution_accuracy:.1%}")
            print(f"beats_base_model: {beats_base_model(report)[1]} (registered_adapter not selected)")
        print(f"materialized {', '.join(done)} in {ctx.run_dir}")
        return 0
    result = run_all(ctx)
    report, registration = result.report, result.registration
    print(f"base model execution accuracy:    {report.base.execution_accuracy:.1%} ({report.base.n_scored} {report.evaluated_split} questions)")
    print(f"fine-tuned execution accuracy:    {report.adapter.execution_accuracy:.1%}")
    if registration is None:
        # The same blocking check that stops registration in Dagster: a failed gate is a failed run.
        print(f"MLflow run: {report.mlflow_run_id}; not registered")
        print(f"t2sql materialize: blocking check beats_base_model failed: {result.gate_reason}", file=sys.stderr)
        return 1
    print(f"MLflow run: {report.mlflow_run_id}; registered {registration.registered_model} v{registration.registered_version} {registration.aliases}")
    return 0
