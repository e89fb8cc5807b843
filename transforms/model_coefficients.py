"""The published coefficients of every fitted model: ``marts.model_coefficients`` (metrics.md sections 13-14).

Researchers must be able to reproduce every expected value and weight the pipeline publishes, so
each model the pipeline fits lists its terms here, one row per term, named by ``model``:

- ``pain_change``: the case-mix linear model of sustained pain change (:mod:`transforms.risk_adjustment`);
- ``responder``: the case-mix logistic model of the responder outcome (same module);
- ``evaluable``: the follow-up model of section 13 that gives the inverse probability weights
  (:mod:`transforms.sensitivity`).

Each builder replaces only the rows of its own models, so the models can be rebuilt separately.
Reference levels are listed with estimate 0 and the note ``reference level``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import duckdb

TABLE = "marts.model_coefficients"

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


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``marts.model_coefficients`` unless it exists with exactly these columns (an older layout is replaced)."""
    have = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'marts' AND table_name = 'model_coefficients' ORDER BY ordinal_position"
    ).fetchall()
    if [(c, t) for c, t in have] != list(COLUMNS):
        con.execute(f"CREATE OR REPLACE TABLE {TABLE} ({', '.join(f'{c} {t}' for c, t in COLUMNS)})")


def replace_model_rows(
    con: duckdb.DuckDBPyConnection, models: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """Replace the rows of ``models`` by ``rows`` (tuples in :data:`COLUMNS` order)."""
    ensure_table(con)
    con.execute(f"DELETE FROM {TABLE} WHERE list_contains(?, model)", [list(models)])
    rows = [tuple(r) for r in rows]
    if rows:
        marks = ", ".join("?" for _ in COLUMNS)
        con.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", rows)


def count_rows(con: duckdb.DuckDBPyConnection) -> int:
    """Rows of ``marts.model_coefficients`` (every model)."""
    return con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0]
