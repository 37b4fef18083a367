"""Thin Dagster wiring around `t2sql_pipeline.core.stages`, one module per asset group."""
