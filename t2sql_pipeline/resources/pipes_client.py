"""The Pipes client that launches training out of process (a local subprocess here).

Swapping in `PipesK8sClient` or `PipesDatabricksClient` under the same resource key moves
training onto a cluster; the asset only builds the command and reads the result.
"""

from dagster import PipesSubprocessClient

from t2sql_pipeline.core.training.launch import STOP_GRACE_S

RESOURCE_KEY = "pipes_subprocess_client"


def training_pipes_client() -> PipesSubprocessClient:
    """A subprocess client that forwards a run's termination as SIGINT and waits for the process tree to stop."""
    # torchrun gives its workers up to 30 s after forwarding the signal, then kills them: wait a little longer.
    return PipesSubprocessClient(forward_termination=True, termination_timeout_seconds=STOP_GRACE_S + 15)
