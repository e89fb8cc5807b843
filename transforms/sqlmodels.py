"""SQL models: the project's SQL lives in ``transforms/sql/<layer>/<model>.sql`` files, read here.

A model file holds one ``SELECT`` (optionally led by ``WITH``), opening with a comment that states
the clinical or payer rule it implements and the spec section. This module reads a model,
substitutes its relation placeholders and runs it:

- ``{{ name }}`` placeholders name *relations* (tables or views) only, never values: each must be
  given and each value must come from :data:`RELATIONS`, an allow-list, so no text from data or
  from the user can reach the SQL text. Values are bound with ``?`` or read from ``_thresholds``
  (:mod:`transforms.thresholds`), the one way thresholds reach SQL.
- :func:`create_table` materialises a model as a table (a full build); :func:`insert_into` appends
  a model's rows to an existing table (an incremental build deletes the rows of the affected
  episodes first; the model then reads a scoped source instead of ``staging.sessions``).

DuckDB-specific syntax that models share (macros for thresholds, intervals and deterministic
aggregates) is defined once, in ``transforms/sql/macros.sql`` (:func:`install_macros`), so that
another engine needs only that file translated, not every model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).parent / "sql"
MACROS_FILE = SQL_DIR / "macros.sql"

# Relations a placeholder may stand for. Scoped sources (``_scope_*``) are temporary tables that hold
# the rows of the episodes an incremental run rebuilds.
RELATIONS = frozenset({
    "raw.sessions", "raw.rom", "staging._latest", "staging._groups", "_codes",
    "staging.sessions", "staging.rom", "_scope_sessions", "_scope_rom", "_scope_outcomes",
    "marts.episode_outcomes", "_scope_episodes",
    "intermediate.outcome_units", "_units_in_scope", "_condition_agg", "intermediate.relief_km", "_relief_km_new",
    "_relief_summary",
    "intermediate.rom_series", "intermediate.function_series",
    "_changed_exports", "_affected_patients", "_scope_raw_sessions", "_scope_latest", "_scope_groups",
    "_scope_staged", "_rules",
    "intermediate.episode_case_mix", "intermediate.episode_ipw", "intermediate.episode_techniques",
    "intermediate.episode_flares",
})



@dataclass(frozen=True)
class Sources:
    """The relations episode-level models read: all of staging (a full build), or the rows of the
    episodes an incremental build rebuilds (``_scope_*`` temporary tables)."""

    sessions: str
    rom: str
    episodes: str


FULL_SOURCES = Sources("staging.sessions", "staging.rom", "marts.episode_outcomes")
SCOPED_SOURCES = Sources("_scope_sessions", "_scope_rom", "_scope_outcomes")

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_MODEL_NAME = re.compile(r"^[a-z_]+/[a-z0-9_]+$")
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$|^_[a-z0-9_]+$")
_MACRO_NAME = re.compile(r"CREATE OR REPLACE TEMP MACRO\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)


@cache
def _read(model: str) -> str:
    if not _MODEL_NAME.match(model):
        raise ValueError(f"bad model name {model!r}: expected '<layer>/<model>'")
    return (SQL_DIR / f"{model}.sql").read_text(encoding="utf-8")


def model_sql(model: str, **relations: str) -> str:
    """The SQL of ``transforms/sql/<model>.sql`` with its ``{{ placeholders }}`` filled from ``relations``.

    Every placeholder of the file must be given, and every given relation must be in :data:`RELATIONS`.
    """
    text = _read(model)
    bad = {k: v for k, v in relations.items() if v not in RELATIONS}
    if bad:
        raise ValueError(f"{model}: relation(s) not in the allow-list: {bad}")
    needed = set(_PLACEHOLDER.findall(text))
    missing = needed - set(relations)
    if missing:
        raise ValueError(f"{model}: no relation given for {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: relations[m.group(1)], text)


def model_comment(model: str) -> str:
    """The rule a model implements: its opening ``--`` comment lines, as plain text."""
    lines = []
    for line in _read(model).splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    return "\n".join(lines).strip()


def checked_table(table: str) -> str:
    """``table`` if it is a plain ``schema.table`` or ``_temporary`` name (it is then written into SQL); else ValueError."""
    if not _TABLE_NAME.match(table):
        raise ValueError(f"bad table name {table!r}")
    return table


def create_table(
    con: duckdb.DuckDBPyConnection, table: str, model: str, params: Sequence[object] = (), **relations: str
) -> int:
    """``CREATE OR REPLACE TABLE table AS <model>``; returns the table's row count."""
    table = checked_table(table)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS\n{model_sql(model, **relations)}", list(params))
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def insert_into(
    con: duckdb.DuckDBPyConnection, table: str, model: str, params: Sequence[object] = (), **relations: str
) -> int:
    """``INSERT INTO table BY NAME <model>``; returns the number of rows inserted."""
    table = checked_table(table)
    return con.execute(
        f"INSERT INTO {table} BY NAME\n{model_sql(model, **relations)}", list(params)
    ).fetchall()[0][0]


def query(con: duckdb.DuckDBPyConnection, model: str, params: Sequence[object] = (), **relations: str):
    """Run a model as a query and return DuckDB's relation result (``.fetchall()``, ``.df()``)."""
    return con.execute(model_sql(model, **relations), list(params))


@cache
def _macro_statements() -> tuple[str, ...]:
    text = MACROS_FILE.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    # a statement ends with ";" at the end of a line (a ";" inside a line may be in a string literal)
    return tuple(s.strip() for s in re.split(r";[ \t]*$", body, flags=re.MULTILINE) if s.strip())


def macro_names() -> tuple[str, ...]:
    """The names of the shared macros, in definition order."""
    return tuple(m.group(1) for s in _macro_statements() if (m := _MACRO_NAME.match(s)))


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the shared temporary macros of ``transforms/sql/macros.sql`` on a connection (idempotent)."""
    for statement in _macro_statements():
        con.execute(statement)


def remove_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the shared macros (later ones first: they may use earlier ones)."""
    for name in reversed(macro_names()):
        con.execute(f"DROP MACRO IF EXISTS temp.main.{name}")
