"""Staging: the latest version of every session, with condition groups, episodes and session numbers.

Models (``transforms/sql/staging/``):

- ``latest_sessions``: when two exports hold the same (clinic_id, session_id), the export loaded
  later (``ops.exports.seq``) holds the session (export-format.md);
- ``condition_groups``: each normalised code's group by longest prefix (metrics.md section 1);
- ``sessions``: episodes (given or derived: gap, discharge) and session numbers (section 2);
- ``rom``: the ROM rows of the staged sessions, from the same export as the session.

Staging is rebuilt from ``raw.*`` alone, in one transaction.
"""

from __future__ import annotations

import duckdb

from transforms.config import Settings
from transforms.reference import install_reference_tables
from transforms.sqlmodels import create_table, install_macros, query
from transforms.thresholds import install_thresholds, remove_thresholds


def build_staging(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Rebuild ``staging.sessions`` and ``staging.rom`` from ``raw.*``; returns their row counts.

    Intermediate results are ordinary tables (they may spill to disk; temporary tables live in
    memory) and are dropped in the same transaction.
    """
    install_reference_tables(con)
    install_macros(con)
    install_thresholds(con, settings)
    # Row order of staging tables carries no meaning; not preserving it lets DuckDB stream and spill.
    con.execute("SET preserve_insertion_order = false")
    con.execute("BEGIN TRANSACTION")
    try:
        create_table(con, "staging._latest", "staging/latest_sessions", raw_sessions="raw.sessions")
        create_table(con, "staging._groups", "staging/condition_groups", sessions="staging._latest")
        sessions = create_table(con, "staging.sessions", "staging/sessions", latest="staging._latest",
                                groups="staging._groups")
        rom = create_table(con, "staging.rom", "staging/rom", raw_rom="raw.rom", sessions="staging.sessions")
        for t in ("_latest", "_groups"):
            con.execute(f"DROP TABLE staging.{t}")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("SET preserve_insertion_order = true")
        remove_thresholds(con)
    return {"staging.sessions": sessions, "staging.rom": rom}


def condition_groups_of(codes: list[str]) -> dict[str, str]:
    """The condition group of each (normalised) code, computed by the production SQL model.

    For callers outside the warehouse (the sample-data generator, documentation, tests): there is
    one implementation of the grouping rule, ``transforms/sql/staging/condition_groups.sql``.
    """
    with duckdb.connect() as con:
        install_reference_tables(con)
        con.execute("CREATE TEMP TABLE _codes (condition_code VARCHAR)")
        con.executemany("INSERT INTO _codes VALUES (?)", [[c] for c in codes])
        return dict(query(con, "staging/condition_groups", sessions="_codes").fetchall())


def normalise_codes(codes: list[str]) -> list[str]:
    """ICD-10-CM codes normalised by the production macro ``normalise_icd10`` (upper case, dot after 3)."""
    with duckdb.connect() as con:
        install_macros(con)
        return [con.execute("SELECT normalise_icd10(?)", [c]).fetchall()[0][0] for c in codes]
