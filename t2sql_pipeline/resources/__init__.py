"""Dagster resources: experiment settings, MLflow tracking, manifest storage and the Pipes client of training."""
