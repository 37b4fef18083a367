"""A seeded synthetic text-to-SQL benchmark, written in the official release layouts.

`write_synthetic_spider` and `write_synthetic_bird` create real SQLite databases
(related tables with foreign keys) and question/SQL pairs covering counting,
filters, joins, grouping, ordering with limits and aggregates, in varied
phrasing. The pipeline then reads them with the same loaders as the real
Spider and BIRD releases, so the offline demo exercises the real code path.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

from t2sql_pipeline.core.data.sources.synthetic_schemas import (
    DATABASES,
    FIRST_NAMES,
    LAST_NAMES,
    ColumnSpec,
    TableSpec,
)

Pair = tuple[str, str]  # (question, SQL)


def write_synthetic_spider(out_dir: Path, databases: list[str], rows_per_table: int, questions_per_database: int, seed: int) -> Path:
    """Write `train_spider.json`, `dev.json`, `tables.json` and `database/<db>/<db>.sqlite`."""
    rng = random.Random(seed)
    train, dev, tables = [], [], []
    for db_id in databases:
        _write_database(out_dir / "database" / db_id / f"{db_id}.sqlite", db_id, rows_per_table, rng)
        tables.append(tables_json_entry(db_id))
        pairs = _unique_pairs(rng, questions_per_database, lambda schema=DATABASES[db_id]: _spider_pair(rng, schema))
        records = [{"db_id": db_id, "question": q, "query": sql} for q, sql in pairs]
        cut = int(len(records) * 0.85)
        train += records[:cut]
        dev += records[cut:]
    _write_json(out_dir / "train_spider.json", train)
    _write_json(out_dir / "dev.json", dev)
    _write_json(out_dir / "tables.json", tables)
    return out_dir


def write_synthetic_bird(out_dir: Path, databases: list[str], rows_per_table: int, questions_per_database: int, seed: int) -> Path:
    """Write BIRD's `train/` and `dev/` folders: JSON with `evidence` and `difficulty`, tables, databases."""
    rng = random.Random(seed + 1)
    per_split: dict[str, list[dict]] = {"train": [], "dev": []}
    for db_id in databases:
        triples = _unique_pairs(rng, questions_per_database, lambda schema=DATABASES[db_id]: _bird_triple(rng, schema))
        cut = int(len(triples) * 0.85)
        for split, chunk in (("train", triples[:cut]), ("dev", triples[cut:])):
            for question, sql, evidence, difficulty in chunk:
                per_split[split].append({"db_id": db_id, "question": question, "evidence": evidence, "SQL": sql, "difficulty": difficulty})
    for split, records in per_split.items():
        for question_id, record in enumerate(records):
            record["question_id"] = question_id
        db_rng = random.Random(seed + 2)  # same rows in train and dev copies
        for db_id in databases:
            _write_database(out_dir / split / f"{split}_databases" / db_id / f"{db_id}.sqlite", db_id, rows_per_table, db_rng)
        _write_json(out_dir / split / f"{split}.json", records)
        _write_json(out_dir / split / f"{split}_tables.json", [tables_json_entry(db) for db in databases])
    return out_dir


def tables_json_entry(db_id: str) -> dict:
    """The Spider `tables.json` record of a synthetic database."""
    specs = DATABASES[db_id]
    column_names: list[list] = [[-1, "*"]]
    column_types = ["text"]
    primary_keys, foreign_keys, index_of = [], [], {}
    for table_index, table in enumerate(specs):
        for column in table.columns:
            index_of[(table.name, column.name)] = len(column_names)
            column_names.append([table_index, column.name])
            column_types.append("number" if column.sql_type == "INTEGER" else "text")
            if column.kind == "key":
                primary_keys.append(len(column_names) - 1)
    for table in specs:
        for column in table.of_kind("foreign"):
            assert column.references is not None
            foreign_keys.append([index_of[(table.name, column.name)], index_of[column.references]])
    return {
        "db_id": db_id,
        "table_names_original": [t.name for t in specs],
        "table_names": [t.plural for t in specs],
        "column_names_original": column_names,
        "column_names": [[i, name.replace("_", " ")] for i, name in column_names],
        "column_types": column_types,
        "primary_keys": primary_keys,
        "foreign_keys": foreign_keys,
    }


def _write_json(path: Path, data: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _write_database(path: Path, db_id: str, rows_per_table: int, rng: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    row_counts: dict[str, int] = {}
    with sqlite3.connect(path) as connection:
        for table in DATABASES[db_id]:
            connection.execute(_create_table_sql(table))
            count = max(5, int(rows_per_table * table.rows_factor))
            row_counts[table.name] = count
            rows = [[_value(column, key, rng, row_counts) for column in table.columns] for key in range(1, count + 1)]
            placeholders = ", ".join("?" for _ in table.columns)
            connection.executemany(f"INSERT INTO {table.name} VALUES ({placeholders})", rows)
    connection.close()


def _create_table_sql(table: TableSpec) -> str:
    lines = [f"{c.name} {c.sql_type}{' PRIMARY KEY' if c.kind == 'key' else ''}" for c in table.columns]
    lines += [f"FOREIGN KEY ({c.name}) REFERENCES {c.references[0]}({c.references[1]})" for c in table.of_kind("foreign") if c.references]
    return f"CREATE TABLE {table.name} (\n  " + ",\n  ".join(lines) + "\n)"


def _value(column: ColumnSpec, key: int, rng: random.Random, row_counts: dict[str, int]) -> int | str:
    if column.kind == "key":
        return key
    if column.kind == "foreign":
        assert column.references is not None
        return rng.randint(1, row_counts[column.references[0]])
    if column.kind == "person":
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    if column.kind in {"category", "label"}:
        return rng.choice(column.choices)
    return rng.randint(column.low, column.high)


def _unique_pairs(rng: random.Random, wanted: int, make: Callable[[], tuple]) -> list:
    """Draw until `wanted` distinct questions (or the template space runs dry)."""
    seen: dict[str, tuple] = {}
    for _ in range(wanted * 30):
        if len(seen) >= wanted:
            break
        item = make()
        seen.setdefault(item[0], item)
    return list(seen.values())


# --- Spider-style questions -------------------------------------------------


def _spider_pair(rng: random.Random, tables: tuple[TableSpec, ...]) -> Pair:
    family = rng.choice(_SPIDER_FAMILIES)
    while True:
        if (pair := family(rng, tables)) is not None:
            return pair
        family = rng.choice(_SPIDER_FAMILIES)


def _pick_table(rng: random.Random, tables: tuple[TableSpec, ...], *needs: str) -> TableSpec | None:
    fitting = [t for t in tables if all(t.of_kind(*_KINDS[need]) for need in needs)]
    return rng.choice(fitting) if fitting else None


_KINDS: dict[str, tuple] = {"category": ("category",), "int": ("int",), "label": ("label", "person"), "foreign": ("foreign",)}


def _count_all(rng: random.Random, tables: tuple[TableSpec, ...]) -> Pair | None:
    t = rng.choice(tables)
    question = rng.choice(("How many {p} are there?", "Count the number of {p}.", "What is the total number of {p}?", "Tell me how many {p} there are."))
    return question.format(p=t.plural), f"SELECT count(*) FROM {t.name}"


def _count_where(rng: random.Random, tables: tuple[TableSpec, ...]) -> Pair | None:
    if (t := _pick_table(rng, tables, "category")) is None:
        return None
    c = rng.choice(t.of_kind("category"))
    v = rng.choice(c.choices)
    question = rng.choice(("How many {p} have {c} {v}?", "Count the {p} whose {c} is {v}.", "What is the number of {p} with {c} {v}?"))
    return question.format(p=t.plural, c=c.phrase, v=v), f"SELECT count(*) FROM {t.name} WHERE {c.name} = '{v}'"


def _list_where_category(rng: random.Random, tables: tuple[TableSpec, ...]) -> Pair | None:
    if (t := _pick_table(rng, tables, "category")) is None:
        return None
    c, label = rng.choice(t.of_kind("category")), t.column(t.label_column)
    v = rng.choice(c.choices)
    question = rng.choice(("List the {l} of {p} whose {c} is {v}.", "Which {p} have {c} {v}? Give their {l}.", "Show the {l} of every {s} with {c} {v}."))
    sql = f"SELECT {label.name} FROM {t.name} WHERE {c.name} = '{v}'"
    return question.format(p=t.plural, s=t.singular, c=c.phrase, v=v, l=label.phrase or label.name.replace("_", " ")), sql


def _list_where_number(rng: random.Random, tables: tuple[TableSpec, ...]) -> Pair | None:
    if (t := _pick_table(rng, tables, "int")) is None:
        return None
    n, label = rng.choice(t.of_kind("int")), t.column(t.label_column)
    x = rng.choice(_thresholds(n))
    op, word = rng.choice(((">", "greater than"), (">", "above"), ("<", "less than"), ("<", "below")))
    question = rng.choice(("List the {l} of {p} with {n} {w} {x}.", "Which {p} have a {n} {w} {x}? Show their {l}."))
    sql = f"SELECT {label.name} FROM {t.name} WHERE {n.name} {op} {x}"
    return question.format(p=t.plural, n=n.phrase, w=word, x=x, l=label.phrase or label.name.replace("_", " ")), sql


def _thresholds(column: ColumnSpec, count: int = 8) -> list[int]:
    """Round values inside the column's range: questions name round numbers, and so the model sees each often."""
    span = column.high - column.low
    magnitude = 10 ** max(0, len(str(span // count)) - 1)
    return sorted({column.low + round(span * (k + 1) / (count + 1) / magnitude) * magnitude for k in range(count)})


_AGGREGATES = (("avg", "average"), ("max", "maximum"), ("min", "minimum"), ("sum", "total"))


def _aggregate(rng: random.Random, tables: tuple[TableSpec, ...]) -> Pair | None:
    if (t := _pick_table(rng, tables, "int")) is None:
        return None
    n = rng.choice(t.of_kind("int"))
    fn, word = rng.choice(_AGGREGATES)
    if rng.random() < 0.5 and (cats := t.of_kind("category")):
        c = rng.choice(cats)
        v = rng.choice(c.choices)
        question = rng.choice(("What is the {w} {n} of {p} whose {c} is {v}?", "Find the {w} {n} among {p} with {c} {v}."))
        sql = f"SELECT {fn}({n.name}) FROM {t.name} WHERE {c.name} = '{v}'"
        return question.format(w=word, n=n.phrase, p=t.plural, c=c.phrase, v=v), sql
    question = rng.choice(("What is the {w} {n} of all {p}?", "Find the {w} {n} among {p}.", "Give me the {w} {n} over every {s}."))
    return question.format(w=word, n=n.phrase, p=t.plural, s=t.singular), f"SELECT {fn}({n.name}) FROM {t.name}"


def _group_count(rng: random.Random, tables: tuple[TableSpec, ...]) -> Pair | None:
    if (t := _pick_table(rng, tables, "category")) is None:
        return None
    c = rng.choice(t.of_kind("category"))
    if rng.random() < 0.4:
        k = rng.randint(2, 20)
        question = rng.choice(("Which {c} values have more than {k} {p}?", "List each {c} shared by more than {k} {p}."))
        return question.format(c=c.phrase, k=k, p=t.plural), f"SELECT {c.name} FROM {t.name} GROUP BY {c.name} HAVING count(*) > {k}"
    question = rng.choice(("For each {c}, how many {p} are there?", "Count the {p} in each {c}.", "Show each {c} and the number of {p} with it."))
    return question.format(c=c.phrase, p=t.plural), f"SELECT {c.name}, count(*) FROM {t.name} GROUP BY {c.name}"


def _top_k(rng: random.Random, tables: tuple[TableSpec, ...]) -> Pair | None:
    if (t := _pick_table(rng, tables, "int")) is None:
        return None
    n, label = rng.choice(t.of_kind("int")), t.column(t.label_column)
    k = rng.randint(1, 5)
    direction, word = rng.choice((("DESC", "highest"), ("DESC", "largest"), ("ASC", "lowest"), ("ASC", "smallest")))
    question = rng.choice(("Show the {l} of the {k} {p} with the {w} {n}.", "Which {k} {p} have the {w} {n}? Give their {l}."))
    sql = f"SELECT {label.name} FROM {t.name} ORDER BY {n.name} {direction} LIMIT {k}"
    return question.format(l=label.phrase or label.name.replace("_", " "), k=k, p=t.plural, w=word, n=n.phrase), sql


def _join(rng: random.Random, tables: tuple[TableSpec, ...]) -> Pair | None:
    if (child := _pick_table(rng, tables, "foreign")) is None:
        return None
    fk = rng.choice(child.of_kind("foreign"))
    assert fk.references is not None
    parent = next(t for t in tables if t.name == fk.references[0])
    label = parent.column(parent.label_column)
    on = f"FROM {child.name} AS T1 JOIN {parent.name} AS T2 ON T1.{fk.name} = T2.{fk.references[1]}"
    roll = rng.random()
    if roll < 0.35 and (cats := child.of_kind("category")):
        c = rng.choice(cats)
        v = rng.choice(c.choices)
        question = rng.choice(
            ("List the distinct {l} of {pp} that have {cp} with {c} {v}.", "Which {pp} have at least one {cs} whose {c} is {v}? Give their {l}.")
        )
        sql = f"SELECT DISTINCT T2.{label.name} {on} WHERE T1.{c.name} = '{v}'"
        return question.format(l=label.phrase, pp=parent.plural, cp=child.plural, cs=child.singular, c=c.phrase, v=v), sql
    if roll < 0.7 and (cats := parent.of_kind("category")):
        c = rng.choice(cats)
        v = rng.choice(c.choices)
        question = rng.choice(("How many {cp} belong to {pp} with {c} {v}?", "Count the {cp} of {pp} whose {c} is {v}."))
        return question.format(cp=child.plural, pp=parent.plural, c=c.phrase, v=v), f"SELECT count(*) {on} WHERE T2.{c.name} = '{v}'"
    question = rng.choice(("How many {cp} does each {ps} have? Show the {l} and the count.", "For every {ps}, give its {l} and the number of {cp}."))
    return question.format(cp=child.plural, ps=parent.singular, l=label.phrase), f"SELECT T2.{label.name}, count(*) {on} GROUP BY T2.{label.name}"


_SPIDER_FAMILIES = (_count_all, _count_where, _list_where_category, _list_where_number, _aggregate, _group_count, _top_k, _join, _join)


# --- BIRD-style questions (with evidence) ----------------------------------


def _bird_triple(rng: random.Random, tables: tuple[TableSpec, ...]) -> tuple[str, str, str, str]:
    t = rng.choice([t for t in tables if t.descriptors])
    adjective, evidence, condition = rng.choice(t.descriptors)
    label = t.column(t.label_column)
    roll = rng.random()
    if roll < 0.25:
        question = rng.choice(("How many {a} {p} are there?", "Count the {a} {p}."))
        return question.format(a=adjective, p=t.plural), f"SELECT COUNT(*) FROM {t.name} WHERE {condition}", evidence, "simple"
    if roll < 0.45:
        question = rng.choice(("List the {l} of {a} {p}.", "Which {p} are {a}? Give their {l}."))
        return question.format(a=adjective, p=t.plural, l=label.phrase), f"SELECT {label.name} FROM {t.name} WHERE {condition}", evidence, "simple"
    if roll < 0.65 and (cats := t.of_kind("category")):
        c = rng.choice(cats)
        v = rng.choice(c.choices)
        question = rng.choice(("Among {a} {p}, how many have {c} {v}?", "How many {a} {p} have {c} {v}?"))
        sql = f"SELECT COUNT(*) FROM {t.name} WHERE {condition} AND {c.name} = '{v}'"
        return question.format(a=adjective, p=t.plural, c=c.phrase, v=v), sql, evidence, "moderate"
    if roll < 0.8 and (cats := t.of_kind("category")):
        c = rng.choice(cats)
        question = rng.choice(("For each {c}, how many {a} {p} are there?", "Count the {a} {p} per {c}."))
        sql = f"SELECT {c.name}, COUNT(*) FROM {t.name} WHERE {condition} GROUP BY {c.name}"
        return question.format(a=adjective, p=t.plural, c=c.phrase), sql, evidence, "moderate"
    children = [(child, fk) for child in tables for fk in child.of_kind("foreign") if fk.references and fk.references[0] == t.name]
    if not children:
        return _bird_triple(rng, tables)
    child, fk = rng.choice(children)
    assert fk.references is not None
    qualified = " AND ".join(f"T2.{part.strip()}" for part in condition.split(" AND "))
    sql = f"SELECT COUNT(*) FROM {child.name} AS T1 INNER JOIN {t.name} AS T2 ON T1.{fk.name} = T2.{fk.references[1]} WHERE {qualified}"
    question = rng.choice(("How many {cp} belong to {a} {p}?", "Count the {cp} of {a} {p}."))
    return question.format(cp=child.plural, a=adjective, p=t.plural), sql, evidence, "challenging"
