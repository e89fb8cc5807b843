"""Rebuilding the staging rows of the affected patients only gives exactly the full rebuild's staging."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.conftest import sessions_series, write_export
from transforms.config import Settings
from transforms.exports import discover_exports
from transforms.loading import load_exports, new_run_id
from transforms.reference import REFERENCE_DIR
from transforms.sqlmodels import create_table
from transforms.staging import (
    RESTAGED,
    RESTAGED_EPISODES,
    RESTAGED_ROM,
    RESTAGED_SESSIONS,
    build_staging,
    rebuild_staging_for,
)
from transforms.warehouse import open_warehouse

STAGING = ("staging.sessions", "staging.rom")


def _load(settings: Settings) -> None:
    load_exports(discover_exports(settings.inbox), lambda: open_warehouse(settings.warehouse), settings, new_run_id())


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def _incremental_equals_full(settings: Settings, change) -> list[str]:
    """Load and stage the inbox, apply ``change`` to it, load, rebuild only the affected patients,
    and compare with a full staging rebuild of the same warehouse. Returns the affected patients."""
    _load(settings)
    with open_warehouse(settings.warehouse) as con:
        build_staging(con, settings)
        before = dict(con.execute("SELECT export, checksum FROM ops.exports").fetchall())
    change(settings.inbox)
    _load(settings)
    with open_warehouse(settings.warehouse) as con:
        now = con.execute("SELECT export, checksum FROM ops.exports").fetchall()
        con.execute("CREATE OR REPLACE TEMP TABLE _changed_exports (export VARCHAR)")
        con.executemany("INSERT INTO _changed_exports VALUES (?)", [[e] for e, c in now if before.get(e) != c])
        create_table(con, "_affected_patients", "staging/affected_patients", changed="_changed_exports")
        rebuild_staging_for(con, settings)
        patients = sorted(p for (p,) in con.execute("SELECT patient_id FROM _affected_patients").fetchall())
        incremental = {t: _rows(con, t) for t in STAGING}
        _assert_restaged_rows_are_staged_rows(con)
        build_staging(con, settings)
        full = {t: _rows(con, t) for t in STAGING}
        assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name || '.' || table_name "
                               "IN (SELECT unnest(?))", [list(RESTAGED)]).fetchall()[0][0]  # a full rebuild drops them
    assert incremental == full
    return patients


def _assert_restaged_rows_are_staged_rows(con: duckdb.DuckDBPyConnection) -> None:
    """What the marts read instead of staging: exactly staging's rows of the restaged episodes, sessions and ROM."""
    assert con.execute(f"SELECT count(*) FROM {RESTAGED_EPISODES}").fetchall()[0][0] > 0
    for kept, table in ((RESTAGED_SESSIONS, "staging.sessions"), (RESTAGED_ROM, "staging.rom")):
        staged = _rows(con, f"(SELECT * FROM {table} WHERE episode_key IN (SELECT episode_key FROM {RESTAGED_EPISODES}))")
        assert _rows(con, kept) == staged, kept


def _two_patients(inbox: Path) -> None:
    write_export(inbox, "a-2026-01", [*sessions_series(4, patient_id="P1"),
                                      *[{**r, "session_id": f"Q{i}"} for i, r in enumerate(
                                          sessions_series(3, patient_id="P2"))]])


def test_a_replaced_export(settings: Settings) -> None:
    _two_patients(settings.inbox)

    def replace(inbox: Path) -> None:  # P1's pain changes, P2 is untouched
        write_export(inbox, "a-2026-01", [*sessions_series(4, patient_id="P1", pain_pre="3"),
                                          *[{**r, "session_id": f"Q{i}"} for i, r in enumerate(
                                              sessions_series(3, patient_id="P2"))]])

    assert _incremental_equals_full(settings, replace) == ["P1", "P2"]  # every patient of a replaced export


def test_a_correction_moves_a_session_to_another_patient(settings: Settings) -> None:
    _two_patients(settings.inbox)
    write_export(settings.inbox, "b-2026-02",
                 [{**r, "session_id": f"R{i}"} for i, r in enumerate(sessions_series(2, patient_id="P3"))])

    def correct(inbox: Path) -> None:  # S2 was P1's; the correction says it was P3's visit
        write_export(inbox, "c-2026-02-corrections", [{**sessions_series(4, patient_id="P3")[1]}])

    assert _incremental_equals_full(settings, correct) == ["P1", "P3"]


def test_a_new_export_starts_a_new_episode_of_an_existing_patient(settings: Settings) -> None:
    _two_patients(settings.inbox)

    def later(inbox: Path) -> None:  # 100 days after P1's last visit: a new derived episode
        rows = sessions_series(3, patient_id="P1")
        for i, r in enumerate(rows):
            r["session_id"] = f"L{i}"
            r["session_date"] = f"2026-05-{10 + i:02d}"
        write_export(inbox, "d-2026-05", rows)

    assert _incremental_equals_full(settings, later) == ["P1"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT episode_key) FROM staging.sessions WHERE patient_id = 'P1'"
                           ).fetchall()[0][0] == 2


def test_a_given_episode_shared_by_two_patients_is_rebuilt_whole(settings: Settings) -> None:
    write_export(settings.inbox, "a-2026-01", [
        *sessions_series(3, patient_id="P1", episode_id="CASE-1"),
        *[{**r, "session_id": f"Q{i}", "session_date": f"2026-01-{6 + 7 * i:02d}"}
          for i, r in enumerate(sessions_series(2, patient_id="P2", episode_id="CASE-1"))],
    ])

    def more(inbox: Path) -> None:  # a new visit of P2 renumbers the whole shared episode
        write_export(inbox, "b-2026-02", [{**sessions_series(1, patient_id="P2", episode_id="CASE-1")[0],
                                           "session_id": "Q9", "session_date": "2026-01-04"}])

    assert _incremental_equals_full(settings, more) == ["P1", "P2"]


@pytest.mark.parametrize("rom_session", ["S2", "S3"])
def test_rom_rows_follow_their_sessions(settings: Settings, rom_session: str) -> None:
    from tests.conftest import rom

    write_export(settings.inbox, "a-2026-01", sessions_series(4, patient_id="P1"), [rom(session_id=rom_session)])

    def replace(inbox: Path) -> None:
        write_export(inbox, "b-2026-02", [sessions_series(4, patient_id="P1", pain_pre="2")[1]],
                     [rom(session_id="S2", value="55")])

    _incremental_equals_full(settings, replace)


def test_a_replaced_export_that_drops_a_patient_removes_their_rows(settings: Settings) -> None:
    """P1's rows exist only in staging once the new version drops them: the old owner must still be found."""
    _two_patients(settings.inbox)

    def replace(inbox: Path) -> None:
        write_export(inbox, "a-2026-01", [{**sessions_series(4, patient_id="P5")[3]},
                                          *[{**r, "session_id": f"Q{i}"} for i, r in enumerate(
                                              sessions_series(3, patient_id="P2"))]])

    assert _incremental_equals_full(settings, replace) == ["P1", "P2", "P5"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.sessions WHERE patient_id = 'P1'").fetchall()[0][0] == 0


def test_restaging_uses_the_reference_tables_in_force(settings: Settings, tmp_path: Path) -> None:
    """With a run's own condition groups, restaged patients get the same groups as a full rebuild."""
    folder = tmp_path / "reference"
    folder.mkdir()
    shipped = (REFERENCE_DIR / "condition_groups.csv").read_text(encoding="utf-8")
    (folder / "condition_groups.csv").write_text(shipped.replace("M54.5,low_back_pain", "M54.5,sciatica"),
                                                 encoding="utf-8")
    settings = settings.with_overrides(reference_dir=str(folder))
    _two_patients(settings.inbox)

    def add(inbox: Path) -> None:
        write_export(inbox, "a-2026-02", [{**r, "session_id": f"R{i}"} for i, r in enumerate(
            sessions_series(2, patient_id="P3", condition_code="M54.5"))])

    assert _incremental_equals_full(settings, add) == ["P3"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        groups = con.execute("SELECT DISTINCT condition_group FROM staging.sessions WHERE patient_id = 'P3'").fetchall()
    assert groups == [("sciatica",)]
