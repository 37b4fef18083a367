"""Registry: MLflow tracking, the promotion gate, the pyfunc SQL model."""
