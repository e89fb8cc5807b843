"""ops.runs: one row per run with the settings, the pipeline version, exports, reference checksums and period."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from transforms.config import Settings
from transforms.loading import ensure_schema
from transforms.reference import install_reference_tables
from transforms.runs import (
    begin_run,
    default_settings,
    finish_run,
    pipeline_version,
    read_run,
    settings_in_force,
)


@pytest.fixture
def con():
    c = duckdb.connect()
    ensure_schema(c)
    install_reference_tables(c)
    yield c
    c.close()


def test_a_run_records_what_produced_it(con) -> None:
    con.execute("INSERT INTO ops.exports VALUES ('north-2026-02', 1, 'a' || repeat('0', 63), now(), now()), "
                "('north-2026-03', 2, 'b' || repeat('0', 63), now(), now())")
    con.execute("CREATE TABLE staging.sessions (clinic_id VARCHAR, session_date DATE)")
    con.execute("INSERT INTO staging.sessions VALUES ('N', DATE '2026-02-03'), ('N', DATE '2026-03-30'), "
                "('S', DATE '2026-03-01')")
    settings = Settings().with_overrides(responder_min_fraction="0.35")
    begin_run(con, "run-1", settings)
    begin_run(con, "run-1", settings)  # a later step of the same run finds it started
    assert read_run(con, "run-1").status == "running"
    finish_run(con, "run-1")
    run = read_run(con)
    assert (run.run_id, run.status) == ("run-1", "succeeded") and run.finished_at >= run.started_at
    assert run.settings["responder_min_fraction"] == "0.35" and run.settings["relief_report_times"] == [4, 8]
    assert [e["export"] for e in run.exports] == ["north-2026-02", "north-2026-03"]
    assert [e["load_order"] for e in run.exports] == [1, 2]
    assert run.data_period == {"N": ["2026-02-03", "2026-03-30"], "S": ["2026-03-01", "2026-03-01"]}
    assert set(run.reference) >= {"condition_prefixes", "rom_normals", "instruments"}
    assert all(len(v) == 32 for v in run.reference.values())
    assert (run.rows_loaded, run.rows_quarantined) == (0, 0)
    assert run.pipeline_version == pipeline_version()[0]
    assert date.fromisoformat(run.data_period["N"][0]).month == 2


def test_a_changed_reference_table_changes_its_checksum(con) -> None:
    begin_run(con, "r1", Settings())
    finish_run(con, "r1")
    before = read_run(con, "r1").reference
    con.execute("INSERT INTO ref.condition_prefixes VALUES ('M99', 'other_thing')")
    begin_run(con, "r2", Settings())
    finish_run(con, "r2")
    after = read_run(con, "r2").reference
    assert after["condition_prefixes"] != before["condition_prefixes"]
    assert after["rom_normals"] == before["rom_normals"]


def test_public_settings_leave_out_folders_and_mark_the_reference_override() -> None:
    public = settings_in_force(Settings(), public=True)
    assert not {"inbox", "warehouse", "site", "restricted", "reference_dir", "lock_timeout_s"} & set(public)
    assert public["reference_tables"] == "shipped" and public == default_settings()
    assert settings_in_force(Settings().with_overrides(reference_dir="/x"), public=True)["reference_tables"] == \
        "overridden"
    full = settings_in_force(Settings())
    assert full["warehouse"] == "build/warehouse.duckdb" and json.dumps(full)


def test_no_run_recorded(con) -> None:
    assert read_run(con) is None
    with pytest.raises(ValueError):
        finish_run(con, "x", status="maybe")
