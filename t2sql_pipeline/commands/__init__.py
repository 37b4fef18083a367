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


def strategy_params(args: object) -> dict[str, object]:
    """The predict-time params the flags ask for (empty: the model's own settings)."""
    params: dict[str, object] = {}
    if getattr(args, "strategy", None):
        params["strategy"] = args.strategy  # type: ignore[attr-defined]
    if getattr(args, "candidates", None) is not None:
        params["num_candidates"] = args.candidates  # type: ignore[attr-defined]
    return params
