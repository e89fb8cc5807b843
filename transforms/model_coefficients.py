"""The layout of a published coefficient table (risk adjustment; metrics.md section 13).

Researchers must be able to reproduce every expected value and weight the pipeline publishes, so
each fitted model lists its terms, one row per term, in a table of this layout:

- ``marts.model_coefficients``: the case-mix models ``pain_change`` (linear) and ``responder``
  (logistic) of :mod:`transforms.risk_adjustment`;
- ``marts.ipw_coefficients``: the follow-up model ``evaluable`` of section 13 that gives the inverse
  probability weights (:mod:`transforms.sensitivity`).

Each table belongs to one builder (one Dagster asset). Reference levels are listed with estimate 0
and a note starting ``reference level``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import duckdb

COLUMNS: tuple[tuple[str, str], ...] = (
    ("model", "VARCHAR"),
    ("position", "INTEGER"),
    ("term", "VARCHAR"),
    ("estimate", "DOUBLE"),
    ("std_error", "DOUBLE"),
    ("ci_low", "DOUBLE"),
    ("ci_high", "DOUBLE"),
    ("n_obs", "BIGINT"),
    ("r_squared", "DOUBLE"),
    ("residual_sd", "DOUBLE"),
    ("method", "VARCHAR"),
    ("note", "VARCHAR"),
)

# allow-list of the tables written here
TABLES = frozenset({"marts.model_coefficients", "marts.ipw_coefficients"})


def write_coefficients(con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[Sequence[object]]) -> int:
    """(Re)create ``table`` with :data:`COLUMNS` and the given rows (tuples in that order); returns the row count."""
    if table not in TABLES:
        raise ValueError(f"{table} is not a coefficient table")
    con.execute(f"CREATE OR REPLACE TABLE {table} ({', '.join(f'{c} {t}' for c, t in COLUMNS)})")
    rows = [tuple(r) for r in rows]
    if rows:
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in COLUMNS)})", rows)
    return len(rows)
