"""`t2sql export`: a registered version for other runtimes: merged Hugging Face weights, or GGUF with an Ollama Modelfile."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a registered model: merged weights, or GGUF for llama.cpp and Ollama")
    parser.add_argument("--model", required=True, metavar="NAME[@alias|/version]", help="e.g. t2sql-demo@champion")
    parser.add_argument(
        "--format", required=True, choices=("merged", "gguf"), help="merged: Hugging Face folder, adapter merged; gguf: one GGUF file and a Modelfile"
    )
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="a folder that does not exist yet (default: <state>/exports/NAME-vN-FORMAT)")
    parser.add_argument("--quantization", choices=("f16", "q8_0"), default="f16", help="GGUF weights: f16 (default) or q8_0 (about half the size)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from t2sql_pipeline.commands import quiet_library_output
    from t2sql_pipeline.core.registry.export import ExportError, GgufExportError, default_export_dir, export_version
    from t2sql_pipeline.core.registry.model_registry import ModelReferenceError, resolve_reference
    from t2sql_pipeline.core.state import mlflow_tracking_uri, state_dir

    if args.format == "merged" and args.quantization != "f16":
        return fail("--quantization applies to --format gguf only")
    quiet_library_output()
    tracking_uri = mlflow_tracking_uri()
    out = args.out
    if out is None:
        from mlflow import MlflowClient

        try:
            version = resolve_reference(MlflowClient(tracking_uri), args.model)
        except ModelReferenceError as error:
            return fail(str(error))
        out = default_export_dir(state_dir() / "exports", version.name, version.version, args.format, args.quantization)
    try:
        result = export_version(tracking_uri, args.model, args.format, out.resolve(), args.quantization)
    except (ExportError, GgufExportError) as error:
        return fail(str(error))
    print(f"exported {args.model} to {result.path}")
    print(f"{result.tag}: {result.sha256}")
    if result.artifact_path:
        print(f"logged to the version's run as {result.artifact_path}")
    if args.format == "gguf":
        print(f"Ollama: cd {result.path} && ollama create <name> -f Modelfile   llama.cpp: llama-cli -m {result.path / 'model.gguf'}")
    return 0


def fail(message: str) -> int:
    print(f"t2sql export: {message}", file=sys.stderr)
    return 2
