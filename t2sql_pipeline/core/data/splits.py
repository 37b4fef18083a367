"""Train / validation / test splits that never leak a database or a question across splits."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from t2sql_pipeline.core.data.sources.examples import Example

SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitLeak:
    kind: Literal["database", "question"]
    key: str
    splits: tuple[str, ...]


def question_key(example: Example) -> str:
    """Same database and same question (case and spacing ignored) = same item."""
    return question_pair_key(example.db_id, example.question)


def question_pair_key(db_id: str, question: str) -> str:
    return f"{db_id}::{' '.join(question.lower().split())}"


SplitMode = Literal["by_database", "by_question", "official_dev"]


def split_examples(
    examples: list[Example],
    mode: SplitMode,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    test_databases: list[str] | tuple[str, ...] = (),
    validation_databases: list[str] | tuple[str, ...] = (),
) -> dict[str, list[Example]]:
    """Group examples (by database, or by question+database), shuffle groups, fill test then validation.

    `official_dev`: test is the source's `dev` split as released (`test_fraction` unused);
    validation and train are cut by question from the rest. `test_databases` (by database only):
    these whole databases are the test split, the same in every run; validation is cut from the rest,
    or is `validation_databases` whole when given (so recipes on different training data compare).
    """
    if mode == "official_dev":
        return _split_official_dev(examples, validation_fraction, seed)
    if test_databases:
        return _split_fixed_test_databases(examples, list(test_databases), validation_fraction, seed, list(validation_databases))
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


def _split_fixed_test_databases(
    examples: list[Example], test_databases: list[str], validation_fraction: float, seed: int, validation_databases: list[str]
) -> dict[str, list[Example]]:
    present = {e.db_id for e in examples}
    for key, wanted in (("test_databases", test_databases), ("validation_databases", validation_databases)):
        if missing := [db for db in wanted if db not in present]:
            raise ValueError(f"splits.{key}: no loaded examples for {missing} (loaded databases: {sorted(present)})")
    chosen = set(test_databases)
    if validation_databases:
        fixed = set(validation_databases)
        return {
            "train": [e for e in examples if e.db_id not in chosen | fixed],
            "validation": [e for e in examples if e.db_id in fixed],
            "test": [e for e in examples if e.db_id in chosen],
        }
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        if example.db_id not in chosen:
            groups[f"{example.source}:{example.db_id}"].append(example)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target = validation_fraction * len(examples)  # a share of all examples, as in the other modes
    validation: list[Example] = []
    while len(keys) > 1 and (not validation or len(validation) + len(groups[keys[0]]) / 2 <= target):
        validation.extend(groups[keys.pop(0)])
    test = [e for e in examples if e.db_id in chosen]
    return {"train": [e for key in keys for e in groups[key]], "validation": validation, "test": test}


def _split_official_dev(examples: list[Example], validation_fraction: float, seed: int) -> dict[str, list[Example]]:
    test = [e for e in examples if e.split == "dev"]
    rest = [e for e in examples if e.split != "dev"]
    if not test or not rest:
        raise ValueError(
            f"split mode 'official_dev' needs a loaded 'dev' split and another split to train on "
            f"(found {len(test)} dev and {len(rest)} other examples); add dev and train to data.<source>.splits"
        )
    # A training question that is also asked of the same database in dev would leak the answer:
    # it stays with its twin in test rather than being dropped silently.
    in_test = {question_key(e) for e in test}
    test += [e for e in rest if question_key(e) in in_test]
    rest = [e for e in rest if question_key(e) not in in_test]
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in rest:
        groups[question_key(example)].append(example)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target = max(1, round(validation_fraction * len(rest)))
    validation: list[Example] = []
    while len(keys) > 1 and len(validation) < target:
        validation.extend(groups[keys.pop(0)])
    return {"train": [e for key in keys for e in groups[key]], "validation": validation, "test": test}


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
