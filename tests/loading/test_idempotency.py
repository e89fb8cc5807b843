"""Load semantics: unchanged exports are no-ops, corrections replace, later exports supersede."""

from __future__ import annotations

import duckdb

from tests.conftest import rom, sessions_series, table_snapshot, write_export


def _query(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_two_runs_give_identical_tables(settings, load) -> None:
    write_export(settings.inbox, "a", sessions_series(8), [rom(session_id="S2")])
    write_export(settings.inbox, "b", sessions_series(4, clinic_id="C2"), fmt="parquet")
    load()
    first = table_snapshot(settings.warehouse)
    outcomes = load()
    assert [o.status for o in outcomes] == ["unchanged", "unchanged"]
    assert table_snapshot(settings.warehouse) == first
    assert _query(settings, "SELECT status, count(*) FROM ops.load_log GROUP BY 1 ORDER BY 1") == [
        ("loaded", 2), ("unchanged", 2),
    ]


def test_changed_export_replaces_its_earlier_version(settings, load) -> None:
    write_export(settings.inbox, "a", sessions_series(8), [rom(session_id="S2"), rom(session_id="S3")])
    load()
    corrected = sessions_series(5)
    corrected[1] = {**corrected[1], "pain_pre": "3"}
    write_export(settings.inbox, "a", corrected, [rom(session_id="S2", value="55")])
    (outcome,) = load()
    assert outcome.status == "replaced"
    assert _query(settings, "SELECT count(*) FROM raw.sessions") == [(5,)]
    assert _query(settings, "SELECT pain_pre FROM staging.sessions WHERE session_id = 'S2'") == [(3.0,)]
    assert _query(settings, "SELECT session_id, value FROM staging.rom") == [("S2", 55.0)]
    assert _query(settings, "SELECT export, seq FROM ops.exports") == [("a", 1)]


def test_replacement_clears_old_quarantine_rows(settings, load) -> None:
    rows = sessions_series(8)
    rows[0] = {**rows[0], "sex": "?"}
    write_export(settings.inbox, "a", rows)
    load()
    assert _query(settings, "SELECT count(*) FROM quarantine.rejected_rows") == [(1,)]
    write_export(settings.inbox, "a", sessions_series(8))
    load()
    assert _query(settings, "SELECT count(*) FROM quarantine.rejected_rows") == [(0,)]


def test_later_export_supersedes_sessions_and_their_rom(settings, load) -> None:
    write_export(settings.inbox, "2026-01", sessions_series(4), [rom(session_id="S3", value="30")])
    load()
    later = sessions_series(4)[2:]  # S3, S4 again with corrected pain
    later = [{**r, "pain_pre": "1"} for r in later]
    write_export(settings.inbox, "2026-02", later, [rom(session_id="S4", value="45")])
    load()
    assert _query(settings, "SELECT session_id, pain_pre, export FROM staging.sessions ORDER BY 1") == [
        ("S1", 6.0, "2026-01"), ("S2", 6.0, "2026-01"), ("S3", 1.0, "2026-02"), ("S4", 1.0, "2026-02"),
    ]
    # S3's ROM row came from the superseded export, so it is no longer staged.
    assert _query(settings, "SELECT session_id, value, export FROM staging.rom") == [("S4", 45.0, "2026-02")]


def test_load_order_is_first_load_then_folder_name(settings, load) -> None:
    """An export first loaded later wins even when its folder name sorts first."""
    write_export(settings.inbox, "zz-first", sessions_series(2))
    load()
    write_export(settings.inbox, "aa-second", [{**r, "pain_pre": "2"} for r in sessions_series(2)])
    write_export(settings.inbox, "ab-third", [{**r, "pain_pre": "3"} for r in sessions_series(2)])
    load()
    assert _query(settings, "SELECT export, seq FROM ops.exports ORDER BY seq") == [
        ("zz-first", 1), ("aa-second", 2), ("ab-third", 3),
    ]
    assert _query(settings, "SELECT DISTINCT pain_pre, export FROM staging.sessions") == [(3.0, "ab-third")]


def test_replaced_export_keeps_its_place_in_the_order(settings, load) -> None:
    write_export(settings.inbox, "a", sessions_series(2))
    write_export(settings.inbox, "b", [{**r, "pain_pre": "2"} for r in sessions_series(2)])
    load()
    write_export(settings.inbox, "a", [{**r, "pain_pre": "9"} for r in sessions_series(2)])
    load()
    # 'b' was first loaded after 'a', so it still holds the sessions both exports share.
    assert _query(settings, "SELECT DISTINCT pain_pre, export FROM staging.sessions") == [(2.0, "b")]


def test_an_export_loaded_by_another_run_meanwhile_is_not_inserted_twice(settings) -> None:
    """Two loads of the same new export interleave (possible between Dagster runs outside `outcomes run`):
    the one that commits second finds the version already loaded and records `unchanged`."""
    from transforms.exports import discover_exports
    from transforms.loading import load_exports, new_run_id
    from transforms.warehouse import open_warehouse

    write_export(settings.inbox, "a", sessions_series(6), [rom(session_id="S2")])
    calls = []

    def connect():
        calls.append(1)
        if len(calls) == 2:  # the first run is about to commit: the other run loads the export first
            other = load_exports(discover_exports(settings.inbox), lambda: open_warehouse(settings.warehouse),
                                 settings, new_run_id())
            assert [o.status for o in other] == ["loaded"]
        return open_warehouse(settings.warehouse)

    (outcome,) = load_exports(discover_exports(settings.inbox), connect, settings, new_run_id())
    assert (outcome.status, outcome.reason) == ("unchanged", "unchanged: another run loaded this version meanwhile")
    assert _query(settings, "SELECT count(*) FROM raw.sessions") == [(6,)]
    assert _query(settings, "SELECT status FROM ops.load_log ORDER BY loaded_at") == [("loaded",), ("unchanged",)]


def test_a_copied_or_renamed_folder_loads_with_a_warning_naming_its_twin(settings, load) -> None:
    import shutil

    write_export(settings.inbox, "clinic-2026-01", sessions_series(4))
    write_export(settings.inbox, "clinic-2026-02", sessions_series(4, clinic_id="C2"))
    load()
    shutil.copytree(settings.inbox / "clinic-2026-01", settings.inbox / "renamed-2026-01")
    outcomes = {o.export: o for o in load()}
    assert outcomes["renamed-2026-01"].status == "loaded"
    (warning,) = outcomes["renamed-2026-01"].warnings
    assert warning.startswith("its files are the same as those of the loaded export clinic-2026-01 (a renamed")
    assert outcomes["clinic-2026-01"].warnings == [] and outcomes["clinic-2026-02"].warnings == []
    assert _query(settings, "SELECT warnings FROM ops.load_log WHERE export = 'renamed-2026-01'") == [(warning,)]
