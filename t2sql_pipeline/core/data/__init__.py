"""Data stages: sources (Spider, BIRD, synthetic), schema rendering and prompts, sampling, splits, checks, versions."""
