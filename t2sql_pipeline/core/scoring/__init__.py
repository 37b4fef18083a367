"""The SQL scoring engine, torch-free: `t2sql evaluate`, the gold cache, split rows scored by database, paired significance."""
