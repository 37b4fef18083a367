"""The floor everything stands on: safe read-only SQL execution, result matching (Spider/BIRD), the official Spider exact match, hardness, SQL text metrics."""
