"""Pure-Python core of the pipeline. Nothing here may import dagster (a test enforces it)."""
