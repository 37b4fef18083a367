"""`t2sql models list|show`: registered adapters, their aliases, metrics and runs in the MLflow registry."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="look up adapters in the MLflow model registry")
    actions = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every registered model version with its aliases and metrics")
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help="one version: aliases, tags, metrics, run and artifacts")
    show.add_argument("reference", metavar="NAME[@alias|/version]", help="e.g. t2sql-demo@champion or t2sql-demo/2")
    show.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from t2sql_pipeline.core.registry.model_registry import list_versions
    from t2sql_pipeline.core.state import mlflow_tracking_uri

    client = MlflowClient(mlflow_tracking_uri())
    versions = list_versions(client)
    if not versions:
        print(f"no registered models in {mlflow_tracking_uri()}")
        return 0
    rows = []
    for version in versions:
        tags = client.get_model_version(version.name, version.version).tags
        accuracy = tags.get("execution_accuracy", "")
        ex = f"{float(accuracy):.1%}" if accuracy else "-"
        rows.append((version.name, str(version.version), ",".join(version.aliases) or "-", ex, version.run_id or "-"))
    print(format_table(("model", "version", "aliases", "EX", "run"), rows, right_aligned={1, 3}))
    return 0


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]], right_aligned: set[int]) -> str:
    """Columns as wide as their longest cell, so a long model name or alias never shifts the next column."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        padded = [cell.rjust(w) if i in right_aligned else cell.ljust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(padded).rstrip()

    return "\n".join(line(row) for row in [header, *rows])


def run_show(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from t2sql_pipeline.core.registry.model_registry import ModelReferenceError, resolve_reference
    from t2sql_pipeline.core.state import mlflow_tracking_uri

    client = MlflowClient(mlflow_tracking_uri())
    try:
        version = resolve_reference(client, args.reference)
    except ModelReferenceError as error:
        print(f"t2sql models show: {error}", file=sys.stderr)
        return 2
    details = client.get_model_version(version.name, version.version)
    print(f"{version.name} version {version.version}  aliases: {', '.join(version.aliases) or '-'}")
    print(f"source: {version.source}")
    for key, value in sorted(details.tags.items()):
        print(f"tag {key}: {value}")
    if version.run_id:
        run = client.get_run(version.run_id)
        print(f"run: {version.run_id} ({run.info.status}) in experiment {run.info.experiment_id}")
        for key, value in sorted(run.data.metrics.items()):
            print(f"metric {key}: {value:.4g}")
        print("artifacts: " + ", ".join(a.path for a in client.list_artifacts(version.run_id)))
    return 0
