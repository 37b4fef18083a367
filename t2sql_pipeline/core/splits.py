"""Train / validation / test splits that never leak a database or a question across splits."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from t2sql_pipeline.core.sources.examples import Example

SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitLeak:
    kind: Literal["database", "question"]
    key: str
    splits: tuple[str, ...]


def question_key(example: Example) -> str:
    """Same database and same question (case and spacing ignored) = same item."""
    return f"{example.db_id}::{' '.join(example.question.lower().split())}"


def split_examples(
    examples: list[Example], mode: Literal["by_database", "by_question"], validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[Example]]:
    """Group examples (by database, or by question+database), shuffle groups, fill test then validation."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        key = f"{example.source}:{example.db_id}" if mode == "by_database" else question_key(example)
        groups[key].append(example)
    if mode == "by_database" and len(groups) < 3:
        raise ValueError(f"split mode 'by_database' needs at least 3 databases, found {len(groups)}")
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    targets = {"test": test_fraction * len(examples), "validation": validation_fraction * len(examples)}
    splits: dict[str, list[Example]] = {name: [] for name in SPLIT_NAMES}
    remaining = keys
    for name in ("test", "validation"):
        taken = 0
        while remaining and (taken == 0 or taken + len(groups[remaining[0]]) / 2 <= targets[name]) and len(remaining) > 1:
            key = remaining.pop(0)
            splits[name].extend(groups[key])
            taken += len(groups[key])
    for key in remaining:
        splits["train"].extend(groups[key])
    return splits


def find_leaks(splits: dict[str, list[Example]], *, by_database: bool) -> list[SplitLeak]:
    """Databases (when splitting by database) or question+database pairs found in more than one split."""
    leaks: list[SplitLeak] = []
    for kind, key_of in (("database", lambda e: f"{e.source}:{e.db_id}"), ("question", question_key)):
        if kind == "database" and not by_database:
            continue
        seen: dict[str, set[str]] = defaultdict(set)
        for name, members in splits.items():
            for example in members:
                seen[key_of(example)].add(name)
        leaks += [SplitLeak(kind, key, tuple(sorted(names))) for key, names in seen.items() if len(names) > 1]  # type: ignore[arg-type]
    return leaks
