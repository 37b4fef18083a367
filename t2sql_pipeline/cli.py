"""`t2sql`: the pipeline's core from the command line, without Dagster.

Each subcommand lives in its own module under `t2sql_pipeline.commands` and
registers itself here; heavy libraries are imported inside the commands so
that `t2sql --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules, in the order `t2sql --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "t2sql_pipeline.commands.materialize",
    "t2sql_pipeline.commands.evaluate_run",
    "t2sql_pipeline.commands.rl_run",
    "t2sql_pipeline.commands.evaluate",
    "t2sql_pipeline.commands.models",
    "t2sql_pipeline.commands.generate",
    "t2sql_pipeline.commands.complete",
    "t2sql_pipeline.commands.export",
    "t2sql_pipeline.commands.serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t2sql", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
