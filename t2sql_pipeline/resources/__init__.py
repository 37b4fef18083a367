"""Dagster resources: experiment settings, MLflow tracking, and manifest storage."""
