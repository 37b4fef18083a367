"""t2sql_pipeline: a Dagster pipeline that fine-tunes small LLMs to write SQL."""

__version__ = "0.1.0"
