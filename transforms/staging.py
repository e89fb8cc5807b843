"""Staging: the latest version of every session, with condition groups, episodes and session numbers.

Clinical/contract rules: when two exports hold the same (clinic_id, session_id), the export
loaded later (``ops.exports.seq``) holds the session, and that session's ROM rows come from the
same export (export-format.md). Staging is rebuilt from ``raw.*`` alone, in one transaction.
"""

from __future__ import annotations

import duckdb

from transforms.conditions import CONDITION_GROUP_SQL
from transforms.config import Settings
from transforms.episodes import EPISODES_SQL
from transforms.reference import install_reference_tables

LATEST_SESSIONS_SQL = """
SELECT s.* EXCLUDE (row_number)
FROM raw.sessions s
JOIN ops.exports e USING (export)
QUALIFY row_number() OVER (PARTITION BY s.clinic_id, s.session_id ORDER BY e.seq DESC) = 1
"""


def build_staging(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Rebuild ``staging.sessions`` and ``staging.rom`` from ``raw.*``; returns their row counts.

    Intermediate results are ordinary tables (they may spill to disk; temporary tables live in
    memory) and are dropped in the same transaction.
    """
    install_reference_tables(con, reference_dir=settings.reference_dir)
    # Row order of staging tables carries no meaning; not preserving it lets DuckDB stream and spill.
    con.execute("SET preserve_insertion_order = false")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE TABLE staging._latest AS {LATEST_SESSIONS_SQL}")
        con.execute(f"CREATE OR REPLACE TABLE staging._groups AS {CONDITION_GROUP_SQL.format(source='staging._latest')}")
        con.execute(
            "CREATE OR REPLACE TABLE staging._grouped AS SELECT l.*, g.condition_group "
            "FROM staging._latest l JOIN staging._groups g ON g.code = l.condition_code"
        )
        con.execute(
            f"CREATE OR REPLACE TABLE staging.sessions AS {EPISODES_SQL.format(source='staging._grouped')}",
            [settings.episode_gap_days],
        )
        con.execute(
            "CREATE OR REPLACE TABLE staging.rom AS "
            "SELECT r.* EXCLUDE (row_number), s.episode_key FROM raw.rom r "
            "JOIN staging.sessions s ON s.clinic_id = r.clinic_id AND s.session_id = r.session_id AND s.export = r.export"
        )
        for t in ("_latest", "_groups", "_grouped"):
            con.execute(f"DROP TABLE staging.{t}")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("SET preserve_insertion_order = true")
    return {
        "staging.sessions": con.execute("SELECT count(*) FROM staging.sessions").fetchall()[0][0],
        "staging.rom": con.execute("SELECT count(*) FROM staging.rom").fetchall()[0][0],
    }
