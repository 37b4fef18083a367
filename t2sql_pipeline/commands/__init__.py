"""One module per `t2sql` subcommand; each exposes `register(subparsers)`."""


def quiet_library_output() -> None:
    """Progress bars and deprecation notices from the libraries drown a command's own output on a terminal."""
    import os
    import warnings

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)


def add_strategy_arguments(parser: object) -> None:
    """`--strategy greedy|execution_vote` and `--candidates N`: the registered model's generation, chosen per call."""
    parser.add_argument(
        "--strategy",
        choices=("greedy", "execution_vote"),
        default=None,  # type: ignore[attr-defined]
        help="execution_vote: sample --candidates SQL, run each read-only on the database, answer with the largest agreeing group (default: the model's own)",
    )
    parser.add_argument("--candidates", type=int, default=None, metavar="N", help="candidates per question with execution_vote (default: the model's own, 8)")  # type: ignore[attr-defined]
    add_constrained_argument(parser)


def add_constrained_argument(parser: object) -> None:
    """`--constrained none|schema`: schema-constrained decoding, chosen per call."""
    parser.add_argument(  # type: ignore[attr-defined]
        "--constrained",
        choices=("none", "schema"),
        default=None,
        help="schema: every token keeps the SQL inside the database's grammar (it parses and names only its tables and columns; default: the model's own)",
    )


def add_finished_run_arguments(parser: object, set_example: str) -> None:
    """`--experiment`, `--run` and `--set`: the commands that work on a finished run's folder (evaluate-run, rl-run)."""
    parser.add_argument("--experiment", required=True, help="the run's experiment (name under configs/experiments/ or a YAML path)")  # type: ignore[attr-defined]
    parser.add_argument(  # type: ignore[attr-defined]
        "--run", required=True, metavar="RUN_ID", help="the run's folder name under <state>/artifacts/<experiment>/ (e.g. cli-20261130-094156)"
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=f"override a setting (repeatable), e.g. {set_example}"
    )  # type: ignore[attr-defined]


def strategy_params(args: object) -> dict[str, object]:
    """The predict-time params the flags ask for (empty: the model's own settings)."""
    params: dict[str, object] = {}
    if getattr(args, "strategy", None):
        params["strategy"] = args.strategy  # type: ignore[attr-defined]
    if getattr(args, "candidates", None) is not None:
        params["num_candidates"] = args.candidates  # type: ignore[attr-defined]
    if getattr(args, "constrained", None):
        params["constrained"] = args.constrained  # type: ignore[attr-defined]
    return params


class CommandError(Exception):
    """An expected failure of a `t2sql` command: its message is the one line to print."""


def load_registered_generator(model: str, db: object, params: dict[str, object] | None = None) -> object:
    """The registered model `model` (NAME@alias | NAME/version) as a `PyfuncGenerator`, after checking the
    database file `db` (a wrong path should not wait for a model to load); `CommandError` says what is wrong."""
    from pathlib import Path

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from t2sql_pipeline.core.data.db_schema import tables_entry_from_sqlite
    from t2sql_pipeline.core.registry.model_registry import ModelReferenceError, resolve_reference
    from t2sql_pipeline.core.state import mlflow_tracking_uri
    from t2sql_pipeline.serving.generator import PyfuncGenerator

    try:
        tables_entry_from_sqlite(Path(str(db)))
    except (OSError, ValueError) as error:
        raise CommandError(f"--db {db}: {error}") from None
    tracking_uri = mlflow_tracking_uri()  # MLFLOW_TRACKING_URI, else $T2SQL_HOME/mlflow.db
    try:
        version = resolve_reference(MlflowClient(tracking_uri), model)
    except ModelReferenceError as error:
        raise CommandError(str(error)) from None
    try:
        return PyfuncGenerator.from_registry(tracking_uri, f"models:/{version.name}/{version.version}", params)
    except (MlflowException, OSError) as error:
        raise CommandError(f"{version.name} version {version.version} does not load as an MLflow model ({version.source}): {error}") from None
