"""The floor everything stands on: safe read-only SQL execution, result matching (Spider/BIRD), hardness, SQL text metrics."""
