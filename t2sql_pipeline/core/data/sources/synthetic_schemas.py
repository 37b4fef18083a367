"""Declarative schemas of the synthetic demo databases (shop, school, flights).

Each table names itself in English (singular/plural) and says how its columns
are filled and talked about, so that the question templates in
`synthetic.py` can phrase questions without per-database code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ValueKind = Literal["key", "person", "label", "category", "int", "foreign"]

CITIES = ("Paris", "Berlin", "Madrid", "Rome", "Vienna", "Lisbon", "Prague", "Dublin", "Oslo", "Athens")
COUNTRIES = ("France", "Germany", "Spain", "Italy", "Austria", "Portugal", "Norway", "Greece")
FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Karin", "Liam", "Mia", "Noah", "Olga", "Paul")
LAST_NAMES = ("Adler", "Brandt", "Costa", "Duval", "Evans", "Fischer", "Garcia", "Horvat", "Ivanov", "Jansen", "Keller", "Lopez")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: ValueKind
    phrase: str = ""  # how a question names the column ("price", "home city")
    choices: tuple[str, ...] = ()  # for category / label columns
    low: int = 0  # for int columns
    high: int = 0
    references: tuple[str, str] | None = None  # (table, column) for foreign keys

    @property
    def sql_type(self) -> str:
        return "INTEGER" if self.kind in {"key", "int", "foreign"} else "TEXT"


@dataclass(frozen=True)
class TableSpec:
    name: str
    singular: str
    plural: str
    columns: tuple[ColumnSpec, ...]
    label_column: str  # what a question asks for when it says "list the <plural>"
    rows_factor: float = 1.0  # rows = rows_per_table * factor
    descriptors: tuple[tuple[str, str, str], ...] = field(default=())  # (adjective, evidence, SQL condition)

    @property
    def key(self) -> ColumnSpec:
        return next(c for c in self.columns if c.kind == "key")

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    def of_kind(self, *kinds: ValueKind) -> list[ColumnSpec]:
        return [c for c in self.columns if c.kind in kinds]


def _key(name: str) -> ColumnSpec:
    return ColumnSpec(name, "key")


def _fk(name: str, table: str, column: str) -> ColumnSpec:
    return ColumnSpec(name, "foreign", references=(table, column))


DATABASES: dict[str, tuple[TableSpec, ...]] = {
    "shop": (
        TableSpec(
            "customers",
            "customer",
            "customers",
            (
                _key("customer_id"),
                ColumnSpec("name", "person", "name"),
                ColumnSpec("city", "category", "city", choices=CITIES),
                ColumnSpec("age", "int", "age", low=18, high=80),
            ),
            label_column="name",
            descriptors=(("senior", "senior refers to age >= 65", "age >= 65"),),
        ),
        TableSpec(
            "products",
            "product",
            "products",
            (
                _key("product_id"),
                ColumnSpec("name", "label", "name", choices=("Lamp", "Chair", "Desk", "Kettle", "Mirror", "Rug", "Sofa", "Clock", "Vase", "Shelf")),
                ColumnSpec("category", "category", "category", choices=("furniture", "kitchen", "decor", "garden", "lighting")),
                ColumnSpec("price", "int", "price", low=5, high=500),
            ),
            label_column="name",
            descriptors=(("expensive", "expensive refers to price > 300", "price > 300"),),
        ),
        TableSpec(
            "orders",
            "order",
            "orders",
            (
                _key("order_id"),
                _fk("customer_id", "customers", "customer_id"),
                _fk("product_id", "products", "product_id"),
                ColumnSpec("quantity", "int", "quantity", low=1, high=10),
                ColumnSpec("status", "category", "status", choices=("shipped", "pending", "cancelled", "delivered")),
            ),
            label_column="order_id",
            rows_factor=2.0,
            descriptors=(("bulk", "bulk refers to quantity >= 8", "quantity >= 8"),),
        ),
    ),
    "school": (
        TableSpec(
            "teachers",
            "teacher",
            "teachers",
            (
                _key("teacher_id"),
                ColumnSpec("name", "person", "name"),
                ColumnSpec("department", "category", "department", choices=("math", "physics", "history", "biology", "music")),
                ColumnSpec("salary", "int", "salary", low=30000, high=90000),
            ),
            label_column="name",
            rows_factor=0.3,
            descriptors=(("well paid", "well paid refers to salary > 70000", "salary > 70000"),),
        ),
        TableSpec(
            "students",
            "student",
            "students",
            (
                _key("student_id"),
                ColumnSpec("name", "person", "name"),
                ColumnSpec("city", "category", "home city", choices=CITIES),
                ColumnSpec("grade", "int", "grade", low=9, high=12),
            ),
            label_column="name",
            descriptors=(("final-year", "final-year refers to grade = 12", "grade = 12"),),
        ),
        TableSpec(
            "courses",
            "course",
            "courses",
            (
                _key("course_id"),
                ColumnSpec("title", "label", "title", choices=("Algebra", "Optics", "Rome", "Genetics", "Jazz", "Calculus", "Mechanics", "Ecology")),
                _fk("teacher_id", "teachers", "teacher_id"),
                ColumnSpec("credits", "int", "credits", low=1, high=6),
            ),
            label_column="title",
            rows_factor=0.4,
            descriptors=(("intensive", "intensive refers to credits >= 5", "credits >= 5"),),
        ),
        TableSpec(
            "enrollments",
            "enrollment",
            "enrollments",
            (
                _key("enrollment_id"),
                _fk("student_id", "students", "student_id"),
                _fk("course_id", "courses", "course_id"),
                ColumnSpec("score", "int", "score", low=0, high=100),
                ColumnSpec("term", "category", "term", choices=("spring", "summer", "autumn")),
            ),
            label_column="enrollment_id",
            rows_factor=2.0,
            descriptors=(("failing", "failing refers to score < 50", "score < 50"),),
        ),
    ),
    "flights": (
        TableSpec(
            "airlines",
            "airline",
            "airlines",
            (
                _key("airline_id"),
                ColumnSpec("name", "label", "name", choices=("Skyway", "Aerolux", "Bluejet", "Nordair", "Sunwing", "Alpine")),
                ColumnSpec("country", "category", "country", choices=COUNTRIES),
                ColumnSpec("fleet_size", "int", "fleet size", low=5, high=300),
            ),
            label_column="name",
            rows_factor=0.3,
            descriptors=(("major", "major refers to fleet_size > 150", "fleet_size > 150"),),
        ),
        TableSpec(
            "airports",
            "airport",
            "airports",
            (
                _key("airport_id"),
                ColumnSpec("code", "label", "code", choices=("CDG", "TXL", "MAD", "FCO", "VIE", "LIS", "PRG", "DUB", "OSL", "ATH")),
                ColumnSpec("city", "category", "city", choices=CITIES),
                ColumnSpec("runways", "int", "number of runways", low=1, high=6),
            ),
            label_column="code",
            rows_factor=0.3,
            descriptors=(("busy", "busy refers to runways >= 4", "runways >= 4"),),
        ),
        TableSpec(
            "flights",
            "flight",
            "flights",
            (
                _key("flight_id"),
                _fk("airline_id", "airlines", "airline_id"),
                _fk("airport_id", "airports", "airport_id"),
                ColumnSpec("distance", "int", "distance", low=200, high=9000),
                ColumnSpec("status", "category", "status", choices=("on time", "delayed", "cancelled")),
            ),
            label_column="flight_id",
            rows_factor=2.0,
            descriptors=(("long-haul", "long-haul refers to distance > 4000", "distance > 4000"),),
        ),
    ),
}
