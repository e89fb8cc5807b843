"""kill -9 of a real `outcomes run` during load, staging, marts and site; the next run repairs everything.

One chain of runs on one warehouse and the inbox of the clean build: each run is killed inside a
stage, and the next run is the rerun of the previous kill. The last run must leave every data table
exactly as the clean run over the same inbox did.
"""

from __future__ import annotations

from tests.faults.harness import Layout, Run, data_tables, exports_are_whole, run

STAGES = ("load", "staging", "marts", "site")


def test_kill_at_every_stage_then_a_rerun_equals_a_clean_run(tmp_path, clean_build) -> None:
    faulted = Layout.under(tmp_path, inbox=clean_build.layout.inbox)
    for stage in STAGES:
        process = Run(faulted, pause_at=stage)
        process.wait_for(f"outcomes: paused at {stage}")
        process.kill()
        exports_are_whole(faulted.warehouse)
        tables = data_tables(faulted.warehouse)
        if stage == "load":  # killed inside the first export's transaction: nothing of it is stored
            assert tables.get("raw.sessions") == [] and tables["ops.exports"] == []
        if stage == "staging":  # it began by removing the scratch file the run killed during load left
            assert "removed the scratch files of an interrupted run" in process.output
            assert "staging.sessions" not in tables  # the kill came before staging's COMMIT
        if stage == "site":
            assert tables == clean_build.tables  # every table was committed before the site
    rerun = run(faulted)
    assert rerun.proc.returncode == 0, rerun.output
    assert "exports in the warehouse: 4 loaded, 0 rejected; rows loaded: 28, quarantined: 4" in rerun.output
    assert not any(p.is_file() for p in faulted.warehouse.parent.joinpath(".scratch").rglob("*"))
    assert data_tables(faulted.warehouse) == clean_build.tables
    assert {p.name for p in faulted.site.glob("*.html")} == {p.name for p in clean_build.layout.site.glob("*.html")}
