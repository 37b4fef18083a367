"""Inference: a model writing SQL. Loading base + adapter, batched greedy generation, sampling and
execution-guided voting, completing a started query, schema-constrained decoding, and the requests
the registered model and `t2sql serve` answer (their prompts built by the training prompt builder)."""
