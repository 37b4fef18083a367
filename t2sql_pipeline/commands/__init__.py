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
