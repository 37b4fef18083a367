"""`t2sql rl-run`: GRPO on a finished run's SFT adapter, without training SFT again."""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from t2sql_pipeline.commands import add_finished_run_arguments

    parser = subparsers.add_parser(
        "rl-run",
        help="continue a finished run's SFT adapter with GRPO (the rl.* settings) into <run>/rl_adapter/, without training SFT again; score it with t2sql evaluate-run",
    )
    add_finished_run_arguments(parser, "rl.max_steps=30")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an expected error too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print where the GRPO adapter is and its training time; 2 on bad input."""
    from t2sql_pipeline.commands import quiet_library_output
    from t2sql_pipeline.commands.materialize import ProgressPrinter
    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.stages import RunContext
    from t2sql_pipeline.core.stages.training import rl_adapter_of_finished_run
    from t2sql_pipeline.core.state import artifacts_dir, mlflow_tracking_uri

    try:
        settings = load_settings(args.experiment, [*args.overrides, "rl.enabled=true"])
        quiet_library_output()
        ctx = RunContext(settings, artifacts_dir() / settings.experiment.name / args.run, mlflow_tracking_uri(), log=ProgressPrinter(sys.stdout))
        manifest = rl_adapter_of_finished_run(ctx)
    except (ValueError, OSError) as error:
        if args.debug or os.environ.get("T2SQL_DEBUG"):
            raise
        print(f"t2sql rl-run: error: {error}", file=sys.stderr)
        return 2
    took = f"{manifest.seconds:.0f} s" if manifest.seconds < 120 else f"{manifest.seconds / 60:.1f} min"
    print(f"GRPO adapter: {manifest.path} ({manifest.global_step} steps, {took}); MLflow run {manifest.mlflow_run_id} (curves rl/*)")
    print(f"score it: t2sql evaluate-run --experiment {args.experiment} --run {args.run}")
    return 0
