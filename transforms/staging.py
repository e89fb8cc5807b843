"""Staging: the latest version of every session, with condition groups, episodes and session numbers.

Models (``transforms/sql/staging/``):

- ``latest_sessions``: when two exports hold the same (clinic_id, session_id), the export loaded
  later (``ops.exports.seq``) holds the session (export-format.md);
- ``condition_groups``: each normalised code's group by longest prefix (metrics.md section 1);
- ``sessions``: episodes (given or derived: gap, discharge) and session numbers (section 2);
- ``rom``: the ROM rows of the staged sessions, from the same export as the session.

Staging is rebuilt from ``raw.*`` alone, in one transaction.

An incremental restaging (:func:`rebuild_staging_for`) also keeps what it restaged in ``ops``
(:data:`RESTAGED_SESSIONS`, :data:`RESTAGED_ROM`, :data:`RESTAGED_EPISODES`), written in the same
transaction as staging itself, so the marts of the run read the sessions of the episodes they
rebuild from those small tables instead of scanning staging once per model. A full rebuild drops
them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import duckdb

from transforms.config import Settings
from transforms.reference import ensure_reference_tables, install_reference_tables
from transforms.sqlmodels import create_table, install_macros, model_sql, query
from transforms.thresholds import install_thresholds, remove_thresholds

# What the latest incremental restaging wrote: every staged row of its patients, and their episode keys
# (before and after). Every staged session whose episode key is listed belongs to one of those patients
# (a derived episode is one patient's; patients sharing a clinic-given episode are restaged together),
# so for any set of listed episodes these tables hold exactly their rows of staging.
RESTAGED_SESSIONS = "ops.restaged_sessions"
RESTAGED_ROM = "ops.restaged_rom"
RESTAGED_EPISODES = "ops.restaged_episodes"
RESTAGED = (RESTAGED_SESSIONS, RESTAGED_ROM, RESTAGED_EPISODES)


def build_staging(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Rebuild ``staging.sessions`` and ``staging.rom`` from ``raw.*``; returns their row counts.

    Intermediate results are ordinary tables (they may spill to disk; temporary tables live in
    memory) and are dropped in the same transaction.
    """
    ensure_reference_tables(con, reference_dir=settings.reference_dir)
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
        for t in RESTAGED:
            con.execute(f"DROP TABLE IF EXISTS {t}")
        con.execute("COMMIT")
    except Exception:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT (full disk) already ended it: keep that error
            con.execute("ROLLBACK")
        raise
    finally:
        con.execute("SET preserve_insertion_order = true")
        remove_thresholds(con)
    return {"staging.sessions": sessions, "staging.rom": rom}


def _close_over_given_episodes(con: duckdb.DuckDBPyConnection, patients: str) -> None:
    """Add to ``patients`` everyone who shares a clinic-given episode with them, until nothing changes."""
    while True:
        added = con.execute(
            f"INSERT INTO {patients} SELECT * FROM ({model_sql('staging/episode_closure', patients=patients)}) "
            f"EXCEPT SELECT clinic_id, patient_id FROM {patients}"
        ).fetchall()[0][0]
        if not added:
            return


def rebuild_staging_for(
    con: duckdb.DuckDBPyConnection, settings: Settings, patients: str = "_affected_patients",
    before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> tuple[int, int]:
    """Rebuild the staging rows of the patients in the temporary table ``patients`` (clinic_id, patient_id).

    The same models as :func:`build_staging`, run over every raw version of those patients' session
    keys (closed over clinic-given episodes shared with other patients), replace their rows of
    ``staging.sessions`` and ``staging.rom`` in one transaction; the result equals a full rebuild.
    Leaves ``_scope_episodes`` (episode_key): the patients' episode keys before and after, for the
    marts to rebuild, and keeps them with the patients' staged rows in :data:`RESTAGED`. ``before_commit``
    runs in the same transaction, last (the caller's bookkeeping: what the marts must rebuild), so a
    failure leaves staging and that bookkeeping as they were. Returns (patients, sessions staged for them).
    """
    ensure_reference_tables(con, reference_dir=settings.reference_dir)
    install_macros(con)
    install_thresholds(con, settings)
    con.execute("SET preserve_insertion_order = false")
    con.execute("BEGIN TRANSACTION")
    try:
        _close_over_given_episodes(con, patients)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _scope_episodes AS SELECT DISTINCT s.episode_key FROM staging.sessions s "
            f"JOIN {patients} p USING (clinic_id, patient_id)"
        )
        create_table(con, "_scope_raw_sessions", "staging/scoped_raw_sessions", patients=patients)
        create_table(con, "_scope_latest", "staging/latest_sessions", raw_sessions="_scope_raw_sessions")
        # a key whose latest version belongs to an unaffected patient keeps its staged row
        con.execute(f"DELETE FROM _scope_latest WHERE (clinic_id, patient_id) NOT IN "
                    f"(SELECT (clinic_id, patient_id) FROM {patients})")
        create_table(con, "_scope_groups", "staging/condition_groups", sessions="_scope_latest")
        sessions = create_table(con, "_scope_staged", "staging/sessions", latest="_scope_latest",
                                groups="_scope_groups")
        con.execute("DELETE FROM staging.rom WHERE episode_key IN (SELECT episode_key FROM _scope_episodes)")
        con.execute(f"DELETE FROM staging.sessions WHERE (clinic_id, patient_id) IN "
                    f"(SELECT (clinic_id, patient_id) FROM {patients})")
        con.execute("INSERT INTO staging.sessions BY NAME SELECT * FROM _scope_staged")
        create_table(con, "_scope_staged_rom", "staging/rom", raw_rom="raw.rom", sessions="_scope_staged")
        con.execute("INSERT INTO staging.rom BY NAME SELECT * FROM _scope_staged_rom")
        con.execute("INSERT INTO _scope_episodes SELECT DISTINCT episode_key FROM _scope_staged "
                    "EXCEPT SELECT episode_key FROM _scope_episodes")
        for table, rows in ((RESTAGED_SESSIONS, "_scope_staged"), (RESTAGED_ROM, "_scope_staged_rom"),
                            (RESTAGED_EPISODES, "_scope_episodes")):
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {rows}")
        n_patients = con.execute(f"SELECT count(*) FROM {patients}").fetchall()[0][0]
        for t in ("_scope_raw_sessions", "_scope_latest", "_scope_groups", "_scope_staged", "_scope_staged_rom"):
            con.execute(f"DROP TABLE {t}")
        if before_commit is not None:
            before_commit(con)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("SET preserve_insertion_order = true")
        remove_thresholds(con)
    return n_patients, sessions


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
