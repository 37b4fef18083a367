"""Evaluation: SQL generation, the file evaluator (`t2sql evaluate`), the model evaluation, charts and significance."""
