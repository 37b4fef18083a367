"""A model evaluated: on a split (generate or vote, then score), on completing gold queries, and during training; the report chart."""
