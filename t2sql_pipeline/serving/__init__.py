"""`t2sql serve`: a small HTTP API and a one-page form over a registered SQL model."""
