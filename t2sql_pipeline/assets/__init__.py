"""Thin Dagster wiring around `t2sql_pipeline.core.pipeline`, one module per asset group."""
