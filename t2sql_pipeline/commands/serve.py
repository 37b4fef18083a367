"""`t2sql serve`: the HTTP API and form page over a registered model, for databases in one folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from t2sql_pipeline.commands import add_strategy_arguments, strategy_params


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve POST /generate_sql, /complete_sql and a page for a registered model")
    parser.add_argument("--model", required=True, metavar="NAME[@alias|/version]", help="e.g. t2sql-demo@champion")
    parser.add_argument(
        "--db-dir", required=True, type=Path, metavar="DIR", help="databases answered by db_id: DIR/<db_id>/<db_id>.sqlite or DIR/<db_id>.sqlite"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    add_strategy_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from t2sql_pipeline.commands import quiet_library_output
    from t2sql_pipeline.core.registry.model_registry import ModelReferenceError, resolve_reference
    from t2sql_pipeline.core.state import mlflow_tracking_uri
    from t2sql_pipeline.serving.app import create_app
    from t2sql_pipeline.serving.generator import PyfuncGenerator
    from t2sql_pipeline.serving.page_api import model_card_from_tags

    if not args.db_dir.is_dir():
        print(f"t2sql serve: --db-dir {args.db_dir}: not a folder", file=sys.stderr)
        return 2
    tracking_uri = mlflow_tracking_uri()
    try:
        client = MlflowClient(tracking_uri)
        quiet_library_output()
        version = resolve_reference(client, args.model)
        card = model_card_from_tags(version.name, version.version, version.aliases, client.get_model_version(version.name, version.version).tags)
        generator = PyfuncGenerator.from_registry(tracking_uri, f"models:/{version.name}/{version.version}", strategy_params(args))
    except ModelReferenceError as error:
        print(f"t2sql serve: {error}", file=sys.stderr)
        return 2
    except (MlflowException, OSError) as error:
        print(f"t2sql serve: {args.model} does not load as an MLflow model: {error}", file=sys.stderr)
        return 2
    app = create_app(generator, args.db_dir, model_reference=f"{version.name}/{version.version}", card=card)
    print(f"serving {version.name} version {version.version} on http://{args.host}:{args.port}/ (databases in {args.db_dir})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
