"""The code MLflow logs with each registered version ("models from code"): it names the pyfunc class.

Loading a version runs this file instead of unpickling an object, so a version holds no
pickled code; the class itself lives in `core.registry.sql_model` (`core.sql_model` re-exports it
under the path older versions' logged code imports).
"""

import mlflow

from t2sql_pipeline.core.registry.sql_model import SqlModel

mlflow.models.set_model(SqlModel())
