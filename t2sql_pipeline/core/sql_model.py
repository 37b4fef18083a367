"""Where registered versions find the pyfunc class: each version's logged code
(`registry/sql_model_code.py` as it was when logged) imports `SqlModel` from this path,
so this name must outlive any move of the class. New code imports `core.registry.sql_model`."""

from t2sql_pipeline.core.registry.sql_model import SqlModel

__all__ = ["SqlModel"]
