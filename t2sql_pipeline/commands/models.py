"""`t2sql models list`: registered adapters and their aliases in the MLflow registry."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="look up adapters in the MLflow model registry")
    actions = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every registered model version with its aliases and metrics")
    listing.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from t2sql_pipeline.core.registry import list_versions
    from t2sql_pipeline.core.state import mlflow_tracking_uri

    client = MlflowClient(mlflow_tracking_uri())
    versions = list_versions(client)
    if not versions:
        print(f"no registered models in {mlflow_tracking_uri()}")
        return 0
    print(f"{'model':<28}{'version':>8}  {'aliases':<22}{'EX':>8}  run")
    for version in versions:
        tags = client.get_model_version(version.name, version.version).tags
        accuracy = tags.get("execution_accuracy", "")
        ex = f"{float(accuracy):.1%}" if accuracy else "-"
        print(f"{version.name:<28}{version.version:>8}  {','.join(version.aliases) or '-':<22}{ex:>8}  {version.run_id}")
    return 0
