"""SQL floor: official Spider exact-set match (a reading of SQL as the official evaluator reads it)."""
