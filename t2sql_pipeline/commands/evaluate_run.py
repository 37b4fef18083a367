"""`t2sql evaluate-run`: a finished run's adapter scored again with other generation settings (no training)."""

from __future__ import annotations

import argparse
import os
import sys
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    from t2sql_pipeline.commands import add_finished_run_arguments

    parser = subparsers.add_parser(
        "evaluate-run",
        help="score a finished run's adapter again with other generation settings (e.g. execution-guided voting), without training",
    )
    add_finished_run_arguments(parser, "generation.strategy=execution_vote")
    parser.add_argument("--name", help="folder name under <run>/evaluations/ (default: a timestamp and the strategy)")
    parser.add_argument(
        "--adapter",
        choices=("final", "sft"),
        default="final",
        help="final: the GRPO adapter when the run has one (t2sql rl-run), else the SFT adapter; sft: the SFT adapter",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an expected error too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the score and the paired comparison with the run's own evaluation; 2 on bad input."""
    from t2sql_pipeline.commands import quiet_library_output
    from t2sql_pipeline.commands.materialize import ProgressPrinter
    from t2sql_pipeline.core.settings import load_settings
    from t2sql_pipeline.core.stages.rerun import reevaluate_run
    from t2sql_pipeline.core.state import artifacts_dir

    try:
        settings = load_settings(args.experiment, args.overrides)
        run_dir = artifacts_dir() / settings.experiment.name / args.run
        if not run_dir.is_dir():
            raise ValueError(f"{run_dir}: no such run folder")
        quiet_library_output()
        g = settings.generation
        name = args.name or time.strftime("%Y%m%d-%H%M%S-") + (f"vote{g.num_candidates}" if g.strategy == "execution_vote" else "greedy")
        result = reevaluate_run(settings, run_dir, name, ProgressPrinter(sys.stdout), args.adapter)
    except (ValueError, OSError) as error:
        if args.debug or os.environ.get("T2SQL_DEBUG"):
            raise
        print(f"t2sql evaluate-run: error: {error}", file=sys.stderr)
        return 2
    s = result.score
    print(
        f"execution accuracy: {s.execution_accuracy:.1%} ({s.n_scored} {result.split} questions); valid SQL {s.valid_sql_rate:.1%}; {s.seconds_per_question:.2f} s/question"
    )
    if result.compared_with_run is not None:
        m = result.compared_with_run
        print(
            f"the run's own evaluation: {result.run_execution_accuracy:.1%}; paired exact McNemar: {m.only_second} questions only this answers, {m.only_first} only the run's; p = {m.p_value:.3g}"
        )
    print(f"report: {result.report_path}")
    return 0
