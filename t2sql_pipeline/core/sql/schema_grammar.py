"""A grammar per database: the SQLite SELECT dialect of Spider and BIRD gold, naming only that database's tables and columns.

One dialect, written once as GBNF rules below, in two forms: `schema_lark(names)` for llguidance
(the engine constrained decoding uses: names, keywords, literals and whitespace are whole lexemes)
and `schema_grammar(names)` as GBNF text (llama.cpp's format, which xgrammar and vLLM's xgrammar
backend compile as is). Either way decoding can only write a query that parses and whose FROM
clause and column references exist. Keywords and names match in any letter case, as in SQLite.
What stays free: aliases after AS, the alias of a table in a join (`T1`-style when written without
AS), string and number literals, and double-quoted text (SQLite reads it as a string when no column
has that name). A qualifier before a column is a table name, a `T1`-style alias or (in joins) a
camelCase alias of at most two humps: an unbounded identifier would let the model escape the schema.
Two words always have whitespace between them: SQLite reads `PetsINTERSECT` as one name, which the
schema lacks (a model in a loop wrote one). Operators and commas need none. Clause and logic keywords
keep a space even beside a bracket (`WHERE (`, `) AND`), while `IN(`, `EXISTS(`, `DISTINCT(` need none:
of the Spider and BIRD gold, only one BIRD query writes `)AND`, and it was rejected for another reason.

>>> names = SchemaNames.from_tables_entry({"table_names_original": ["singer"], "column_names_original": [[-1, "*"], [0, "Name"], [0, "Age"]]})
>>> grammar_rejection(names, "SELECT name FROM Singer WHERE age > 30") is None
True
>>> grammar_rejection(names, "SELECT height FROM singer")
"stops at character 13 ' ': 'SELECT height' + ' FROM singer'"
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

BARE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names that cannot be written bare because the grammar reads them as keywords (they are quoted instead).
RESERVED = frozenset(
    "select from where group by having order limit offset union intersect except all distinct as on join inner left right "
    "full outer cross natural and or not in is null like glob between case when then else end exists cast asc desc".split()
)
FUNCTIONS = (
    "count sum avg min max total group_concat abs round length lower upper substr substring instr replace trim ltrim rtrim "
    "coalesce ifnull nullif iif strftime date time datetime julianday unixepoch cast typeof printf format char hex random "
    "like glob sign ceil ceiling floor sqrt power pow exp ln log log10 mod "
    "rank dense_rank row_number ntile lag lead first_value last_value nth_value percent_rank cume_dist"  # window functions (OVER)
).split()
KEYWORDS = (
    "select distinct all from where group by having order limit offset union intersect except as on using join inner left "
    "right full outer cross natural and or not in is null like glob regexp between case when then else end exists cast asc "
    "desc nulls first last true false current_date current_time current_timestamp escape collate over partition with recursive"
).split()


@dataclass(frozen=True)
class SchemaNames:
    """The tables of one database and the columns of each, in the database's own spelling."""

    tables: tuple[str, ...]
    columns: tuple[str, ...]  # every column name of every table, each once (case-insensitively)
    columns_by_table: tuple[tuple[str, ...], ...] = ()  # the columns of tables[i], for single-table scoping

    @classmethod
    def from_tables_entry(cls, entry: dict[str, Any]) -> SchemaNames:
        """From a Spider-format `tables.json` entry (`table_names_original`, `column_names_original`)."""
        original = list(entry["table_names_original"])
        if not original:
            raise ValueError(f"schema {entry.get('db_id', '?')!r} has no tables: no query can name one")
        by_table: dict[str, list[str]] = {}
        for table_index, name in entry["column_names_original"]:
            if table_index >= 0:
                by_table.setdefault(original[table_index].lower(), []).append(name)
        tables = _unique(original)
        columns = _unique([name for names in by_table.values() for name in names])
        return cls(tables, columns, tuple(_unique(by_table.get(t.lower(), [])) for t in tables))


def _unique(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return tuple(sorted(seen.values(), key=str.lower))


def _literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _any_case(text: str) -> str:
    """`text` in any letter case: "Id" -> [iI][dD]."""
    parts = []
    for char in text:
        if char.isascii() and char.isalpha():
            parts.append(f"[{char.lower()}{char.upper()}]")
        else:
            parts.append(_literal(char))
    return " ".join(parts) if parts else '""'


def _name_forms(name: str) -> str:
    """Every way SQLite lets a query spell `name`: bare (when it can be), "quoted", `backticked`, [bracketed]."""
    forms = [f'"\\"" {_any_case(name.replace(chr(34), chr(34) * 2))} "\\""', f'"`" {_any_case(name.replace("`", "``"))} "`"']
    if "]" not in name:
        forms.append(f'"[" {_any_case(name)} "]"')
    if BARE_NAME.match(name) and name.lower() not in RESERVED:
        forms.insert(0, _any_case(name))
    return " | ".join(f"({form})" for form in forms)


@lru_cache(maxsize=256)
def schema_grammar(names: SchemaNames) -> str:
    """GBNF text of the SELECT dialect over `names` (cached per schema: databases repeat across questions).

    A query over one table (no join, no subquery in FROM) is read by a copy of the expression rules per
    table (suffix `_t<i>`) whose columns are only that table's: the model cannot write `FROM visit WHERE
    age > 30` when `age` belongs to `visitor`. The table is chosen at FROM, after the select list, so the
    grammar keeps every table whose columns the select list used and FROM can only name one of those.
    Queries that join tables fall back to the columns of any table (which alias means which table is
    not context-free). A query after WITH is read by a copy of the dialect (rule names ending in `_w`) where a table or
    column may also be a common table expression or one of its columns: names a context-free grammar
    cannot check, so only WITH queries get them.
    """
    keyword_rules = [f"kw_{word} ::= {_any_case(word)}" for word in KEYWORDS]
    table_rule = "table_name ::= " + " | ".join(f"({_name_forms(t)})" for t in names.tables)
    column_rule = "column_name ::= " + (" | ".join(f"({_name_forms(c)})" for c in names.columns) or '"rowid"')
    function_rule = "function_name ::= " + " | ".join(f"({_any_case(f)})" for f in FUNCTIONS)
    with_copy = [_WITH_RENAMES.sub(lambda m: m.group(0) + "_w", _unscoped(line)) for line in _DIALECT if line.split(" ::=")[0] in _WITH_COPIED]
    with_names = ["table_name_w ::= table_name | alias", "column_name_w ::= column_name | alias"]
    scoped = _single_table_rules(names)
    return "\n".join([*_ROOT, *_DIALECT, *scoped, *with_copy, *with_names, table_rule, column_rule, function_rule, *keyword_rules]) + "\n"


def _unscoped(line: str) -> str:
    """A dialect rule without the single-table branch (the WITH copy: its names may be a CTE's)."""
    return line.replace("single_query | ", "").replace("from_joined", "from_clause").replace("any_core", "select_core")


def _single_table_rules(names: SchemaNames) -> list[str]:
    """`single_query` and one copy of the expression rules per table, scoped to that table's columns."""
    by_table = names.columns_by_table or tuple(names.columns for _ in names.tables)
    tables = range(len(names.tables))
    rules = [f"{rule} ::= " + " | ".join(f"{rule}_t{i}" for i in tables) for rule in ("single_query", "single_core")]
    for i, (table, columns) in enumerate(zip(names.tables, by_table, strict=True)):
        suffix = f"_t{i}"
        rules += [_SCOPED_RENAMES.sub(lambda m, s=suffix: m.group(0) + s, line) for line in _SCOPED]
        rules.append(f"table_name{suffix} ::= {_name_forms(table)}")
        rules.append(f"column_name{suffix} ::= " + " | ".join(f"({_name_forms(c)})" for c in (*columns, "rowid")))
    return rules


_ROOT = r"""
root ::= ws (query | with_clause ws query_w) ws (";" ws)?
with_clause ::= kw_with sp (kw_recursive sp)? common_table (ws "," ws common_table)*
common_table ::= alias (ws "(" ws alias (ws "," ws alias)* ws ")")? sp kw_as ws "(" ws query_w ws ")"
""".strip().splitlines()

_DIALECT = r"""
query ::= single_query | select_core (sp order_by)? (sp limit_clause)? | any_core (sp compound_op sp any_core)+ (sp order_by)? (sp limit_clause)?
any_core ::= select_core | single_core
compound_op ::= kw_union (sp kw_all)? | kw_intersect | kw_except
select_core ::= kw_select (sp (kw_distinct | kw_all))? select_list (sp kw_from sp from_joined)? (sp kw_where sp expr)? (sp kw_group sp kw_by sp expr_list)? (sp kw_having sp expr)?
from_joined ::= from_item (join_part)+ | "(" ws query ws ")" (ws kw_as sp alias | sp alias)? | "(" ws from_clause ws ")"
select_list ::= sp result_list | ws paren_primary expr_rest (sp kw_as sp alias | sp alias)? (ws "," ws result_column)*
result_list ::= result_column (ws "," ws result_column)*
result_column ::= "*" | qualifier "." "*" | expr (sp kw_as sp alias | sp alias)?
from_clause ::= from_item (join_part)*
join_part ::= ws "," ws from_item | sp join_operator sp from_item (sp kw_on sp expr | sp kw_using ws "(" ws column_name (ws "," ws column_name)* ws ")")?
join_operator ::= (kw_natural sp)? ((kw_left | kw_right | kw_full) (sp kw_outer)? sp | kw_inner sp | kw_cross sp)? kw_join
from_item ::= table_name (sp kw_as sp alias | sp short_alias)? | "(" ws query ws ")" (ws kw_as sp alias | sp alias)? | "(" ws from_clause ws ")"
order_by ::= kw_order sp kw_by sp ordering_term (ws "," ws ordering_term)*
ordering_term ::= expr (sp (kw_asc | kw_desc))? (sp kw_nulls sp (kw_first | kw_last))?
limit_clause ::= kw_limit sp expr ((ws "," ws | sp kw_offset sp) expr)?
expr_list ::= expr (ws "," ws expr)*
expr ::= unary expr_rest
expr_rest ::= (ws symbol_operator ws unary | sp word_operator sp unary | sp postfix)*
arith ::= unary (ws symbol_operator ws unary)*
symbol_operator ::= "||" | "*" | "/" | "%" | "+" | "-" | "<<" | ">>" | "&" | "|" | "<=" | ">=" | "<" | ">" | "==" | "=" | "!=" | "<>"
word_operator ::= kw_and | kw_or | kw_is (sp kw_not)? | (kw_not sp)? (kw_like | kw_glob | kw_regexp) | kw_escape
postfix ::= (kw_not sp)? kw_in ws "(" ws (query | expr_list)? ws ")" | (kw_not sp)? kw_between sp arith sp kw_and sp arith | kw_collate sp alias | kw_not sp kw_null
unary ::= (("-" | "+" | "~") ws | kw_not sp)* primary
primary ::= literal | column_reference | function_call | case_expression | cast_expression | kw_exists ws "(" ws query ws ")" | paren_primary
paren_primary ::= "(" ws query ws ")" | "(" ws expr_list ws ")"
column_reference ::= column_name | qualifier "." column_name
qualifier ::= table_name | short_alias | compound_alias
function_call ::= function_name ws "(" ws ("*" | (kw_distinct sp)? expr_list)? ws ")" (ws over_clause)?
over_clause ::= kw_over ws "(" ws (kw_partition sp kw_by sp expr_list (sp order_by)? | order_by)? ws ")"
case_expression ::= kw_case (sp expr)? (sp kw_when sp expr sp kw_then sp expr)+ (sp kw_else sp expr)? sp kw_end
cast_expression ::= kw_cast ws "(" ws expr sp kw_as sp type_name ws ")"
type_name ::= [A-Za-z]+ (sp [A-Za-z]+)? (ws "(" ws [0-9]+ (ws "," ws [0-9]+)? ws ")")?
literal ::= number | single_quoted | double_quoted | kw_null | kw_true | kw_false | kw_current_date | kw_current_time | kw_current_timestamp
number ::= [0-9]+ ("." [0-9]*)? ([eE] [+-]? [0-9]+)? | "." [0-9]+ ([eE] [+-]? [0-9]+)?
single_quoted ::= "'" ([^'] | "''")* "'"
double_quoted ::= "\"" ([^"] | "\"\"")* "\""
alias ::= [A-Za-z_] [A-Za-z0-9_]* | "`" [^`]+ "`" | double_quoted | single_quoted
short_alias ::= [A-Za-z] [0-9]? [0-9]?
compound_alias ::= [a-z]+ [A-Z] [a-z]+ ([A-Z] [a-z]+)?
ws ::= [ \t\r\n]*
sp ::= [ \t\r\n]+
""".strip().splitlines()
# The single-table copy: a query over one table, its expressions naming only that table's columns
# (subqueries inside it are whole queries again, over any table).
_SCOPED = r"""
single_query ::= single_core (sp order_by)? (sp limit_clause)?
single_core ::= kw_select (sp (kw_distinct | kw_all))? select_list sp kw_from sp single_from (sp kw_where sp expr)? (sp kw_group sp kw_by sp expr_list)? (sp kw_having sp expr)?
single_from ::= table_name (sp kw_as sp alias | sp short_alias)?
select_list ::= sp result_list | ws paren_primary expr_rest (sp kw_as sp alias | sp alias)? (ws "," ws result_column)*
result_list ::= result_column (ws "," ws result_column)*
result_column ::= "*" | qualifier "." "*" | expr (sp kw_as sp alias | sp alias)?
order_by ::= kw_order sp kw_by sp ordering_term (ws "," ws ordering_term)*
ordering_term ::= expr (sp (kw_asc | kw_desc))? (sp kw_nulls sp (kw_first | kw_last))?
expr_list ::= expr (ws "," ws expr)*
expr ::= unary expr_rest
expr_rest ::= (ws symbol_operator ws unary | sp word_operator sp unary | sp postfix)*
arith ::= unary (ws symbol_operator ws unary)*
postfix ::= (kw_not sp)? kw_in ws "(" ws (query | expr_list)? ws ")" | (kw_not sp)? kw_between sp arith sp kw_and sp arith | kw_collate sp alias | kw_not sp kw_null
unary ::= (("-" | "+" | "~") ws | kw_not sp)* primary
primary ::= literal | column_reference | function_call | case_expression | cast_expression | kw_exists ws "(" ws query ws ")" | paren_primary
paren_primary ::= "(" ws query ws ")" | "(" ws expr_list ws ")"
column_reference ::= column_name | qualifier "." column_name
qualifier ::= table_name | short_alias
function_call ::= function_name ws "(" ws ("*" | (kw_distinct sp)? expr_list)? ws ")" (ws over_clause)?
over_clause ::= kw_over ws "(" ws (kw_partition sp kw_by sp expr_list (sp order_by)? | order_by)? ws ")"
case_expression ::= kw_case (sp expr)? (sp kw_when sp expr sp kw_then sp expr)+ (sp kw_else sp expr)? sp kw_end
cast_expression ::= kw_cast ws "(" ws expr sp kw_as sp type_name ws ")"
""".strip().splitlines()
_SCOPED_RENAMED = frozenset(line.split(" ::=")[0] for line in _SCOPED) | {"table_name", "column_name"}
_SCOPED_RENAMES = re.compile(r"\b(" + "|".join(sorted(_SCOPED_RENAMED - {"query"})) + r")\b(?!_)")
# The rules the WITH copy renames: every rule of the dialect that can reach a table or column name.
_WITH_SHARED = ("ws", "sp", "literal", "number", "single_quoted", "double_quoted", "alias", "short_alias", "symbol_operator", "type_name")
_WITH_COPIED = frozenset(line.split(" ::=")[0] for line in _DIALECT) - set(_WITH_SHARED) - {"any_core", "from_joined"}
_WITH_RENAMES = re.compile(r"\b(" + "|".join(sorted(_WITH_COPIED | {"table_name", "column_name"})) + r")\b")


# llguidance's Lark form: the rules that are one lexeme (a regex), named in upper case there.
_LEXEMES = {
    "number": r"/[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?/",
    "single_quoted": r"/'([^']|'')*'/",
    "double_quoted": r'/"([^"]|"")*"/',
    "alias": r"/[A-Za-z_][A-Za-z0-9_]*/ | /`[^`]+`/ | DOUBLE_QUOTED | SINGLE_QUOTED",
    "short_alias": r"/[A-Za-z][0-9]?[0-9]?/",  # T1 to T99: more digits were a loop (`Y2014140100000...`)
    # camelCase with one or two humps (BIRD gold: `teamDetails`, `patientData`): a snake_case qualifier
    # let a model that wrote a column the table lacks (`tickets_bought`) extend it to the token cap.
    "compound_alias": r"/[a-z]+[A-Z][a-z]+([A-Z][a-z]+)?/",
}
# Character runs inside other rules (`type_name`), as lexemes; a lexeme must not end in optional
# whitespace: the lexer is greedy, so `REAL )` would fail inside one `REAL ` lexeme.
_RUNS = {"[A-Za-z]+": "WORD", "[0-9]+": "DIGITS"}
_NAME_RULE = re.compile(r"^(?:(?:table_name|column_name)(?:_t\d+)?|function_name)$")
# A reference to a lexeme rule (its WITH copy `_w` is the same lexeme) or to a name rule, upper-cased in Lark.
_LEXEME_REFERENCE = re.compile(r"\b(?:(" + "|".join(_LEXEMES) + r")(?:_w)?|((?:table_name|column_name)(?:_t\d+)?|function_name))\b")
# Earley items one mask step may build. llguidance's default (50,000) is too few where a select list
# starts over a many-table database (every table's scoped copy is live until FROM); 500,000 takes every
# Spider and BIRD dev gold query (tests/core/sql/test_schema_grammar.py).
STEP_MAX_ITEMS = 500_000


def _lark_string(text: str) -> str:
    return json.dumps(text) + "i"  # a case-insensitive Lark string literal


def _lark_name_forms(name: str) -> list[str]:
    """The Lark form of `_name_forms`: bare (when it can be), "quoted", `backticked`, [bracketed]."""
    forms = [_lark_string(f'"{name.replace(chr(34), chr(34) * 2)}"'), _lark_string(f"`{name.replace('`', '``')}`")]
    if "]" not in name:
        forms.append(_lark_string(f"[{name}]"))
    if BARE_NAME.match(name) and name.lower() not in RESERVED:
        forms.insert(0, _lark_string(name))
    return forms


@lru_cache(maxsize=256)
def schema_lark(names: SchemaNames) -> str:
    """The grammar of `schema_grammar` in llguidance's Lark syntax (cached per schema).

    Derived from the GBNF rules, not written twice: `ws`/`sp` become an optional/required whitespace
    lexeme (so two words still need a space between them), keywords case-insensitive strings, and the rules of `_LEXEMES` and of table, column and function names
    single lexemes, so llguidance's lexer takes a name in one step instead of its Earley parser taking
    it one character at a time (which stops at the parser's item limit).
    """
    by_table = names.columns_by_table or tuple(names.columns for _ in names.tables)
    name_lexemes = {
        "table_name": [form for table in names.tables for form in _lark_name_forms(table)],
        "column_name": [form for column in names.columns for form in _lark_name_forms(column)] or ['"rowid"i'],
        "function_name": [_lark_string(function) for function in FUNCTIONS],
    }
    for i, (table, columns) in enumerate(zip(names.tables, by_table, strict=True)):
        name_lexemes[f"table_name_t{i}"] = _lark_name_forms(table)
        name_lexemes[f"column_name_t{i}"] = [form for column in (*columns, "rowid") for form in _lark_name_forms(column)]

    def upper(body: str) -> str:
        return _LEXEME_REFERENCE.sub(lambda m: (m.group(1) or m.group(2)).upper(), body)

    lines = ["%llguidance {}"]
    for line in schema_grammar(names).splitlines():
        rule, body = line.split(" ::= ", 1)
        if rule.startswith("kw_") or rule in ("ws", "sp") or _NAME_RULE.match(rule) or rule.removesuffix("_w") in _LEXEMES:
            continue
        body = re.sub(r"\bws\b", "SP?", re.sub(r"\bsp\b", "SP", body))
        body = re.sub(r"\bkw_(\w+)", lambda m: _lark_string(m.group(1)), body)
        for run, lexeme in _RUNS.items():
            body = body.replace(run, lexeme)
        lines.append(f"{'start' if rule == 'root' else rule}: {upper(body)}")
    lines += [f"{rule.upper()}: {upper(body)}" for rule, body in _LEXEMES.items()] + [r"SP: /[ \t\r\n]+/"]
    lines += [f"{lexeme}: /{run}/" for run, lexeme in _RUNS.items()]
    lines += [f"{rule.upper()}: " + " | ".join(forms) for rule, forms in name_lexemes.items()]
    return "\n".join(lines) + "\n"


def lark_grammar_limits() -> Any:
    import llguidance

    return llguidance.LLParserLimits(step_max_items=STEP_MAX_ITEMS)


@lru_cache(maxsize=256)
def _checking_matcher(lark: str) -> Any:
    """A byte-level llguidance matcher of `lark`, to copy for each check (compiling it is the slow part)."""
    import llguidance

    matcher = llguidance.LLMatcher(llguidance.LLTokenizer("byte"), llguidance.grammar_from("lark", lark), limits=lark_grammar_limits(), log_level=0)
    if matcher.is_error():
        raise ValueError(f"the schema grammar does not compile: {matcher.get_error()}")
    return matcher


def text_rejection(lark: str, sql: str, *, complete: bool = True) -> str | None:
    """Why the Lark grammar `lark` rejects `sql` (the first character it cannot take, or, when `complete`, an unfinished query); None when it takes it."""
    matcher = _checking_matcher(lark).deep_copy()
    for position, char in enumerate(sql):
        if not matcher.consume_tokens(list(char.encode("utf-8"))):
            return f"stops at character {position} {char!r}: {sql[max(0, position - 30) : position]!r} + {sql[position : position + 20]!r}"
    if complete and not matcher.is_accepting():
        return "the query is unfinished"
    return None


def grammar_rejection(names: SchemaNames, sql: str) -> str | None:
    """Why the grammar of `names` rejects `sql` (the first character it cannot take, or an unfinished query); None when it accepts."""
    return text_rejection(schema_lark(names), sql)
