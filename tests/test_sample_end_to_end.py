"""`outcomes run` on the committed sample inbox, end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _args(build: Path) -> list[str]:
    return ["run", "--inbox", str(SAMPLE), "--warehouse", str(build / "warehouse.duckdb"), "--site", str(build / "site"),
            "--restricted", str(build / "restricted")]


@pytest.fixture(scope="module")
def sample_run(sample_build: Path):
    """The whole job run once on data/sample (the session's shared build: see ``tests/conftest.py``)."""
    return 0, sample_build, _args(sample_build)


def test_run_completes_and_shows_the_quality_gate(sample_run) -> None:
    code, build, _ = sample_run
    assert code == 0
    with duckdb.connect(str(build / "warehouse.duckdb"), read_only=True) as con:
        statuses = dict(con.execute("SELECT status, count(*) FROM ops.load_log GROUP BY 1").fetchall())
        rejected = con.execute("SELECT export FROM ops.load_log WHERE status = 'rejected'").fetchall()
        quarantined = con.execute("SELECT count(DISTINCT (export, file, row_number)) FROM quarantine.rejected_rows").fetchall()
        clinics = con.execute("SELECT count(DISTINCT clinic_id) FROM staging.sessions").fetchall()[0][0]
        months = con.execute("SELECT count(DISTINCT date_trunc('month', session_date)) FROM staging.sessions").fetchall()[0][0]
        sessions = con.execute("SELECT count(*) FROM staging.sessions").fetchall()[0][0]
        groups = con.execute("SELECT count(DISTINCT condition_group) FROM staging.sessions").fetchall()[0][0]
    assert statuses["rejected"] == 1 and statuses["loaded"] >= 10
    assert rejected == [("clinic-east-2026-05-resend-with-names",)]
    assert quarantined[0][0] > 0
    assert clinics >= 3 and months >= 6 and sessions >= 3000 and groups == 19
    assert (build / "restricted" / "validation" / "clinic-north-2026-03" / "index.html").exists()


def _files(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under a folder: (modification time, bytes)."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_second_run_changes_no_table_and_rewrites_no_page(sample_run, capsys, tmp_path: Path) -> None:
    """An unchanged rerun only notices that nothing changed: no table, page or restricted output is rewritten."""
    from tests.conftest import table_snapshot

    # on a copy (modification times kept): other tests read the shared build and its run history
    build = tmp_path / "build"
    shutil.copytree(sample_run[1], build)
    args = _args(build)
    before = table_snapshot(build / "warehouse.duckdb")
    site, audit = _files(build / "site"), _files(build / "restricted" / "audit_packets")
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "0 loaded, 0 replaced, 14 unchanged, 0 rejected" in out
    assert "nothing changed since the last run" in out
    assert table_snapshot(build / "warehouse.duckdb") == before
    assert _files(build / "site") == site and _files(build / "restricted" / "audit_packets") == audit


def test_runs_are_recorded_in_the_persistent_dagster_instance(sample_run, dagster_home: Path) -> None:
    """`outcomes run` uses the instance at DAGSTER_HOME, so `dagster dev` shows its runs and materializations."""
    import dagster as dg

    from pipelines.assets import RUN_TAG

    _, build, _ = sample_run
    with duckdb.connect(str(build / "warehouse.duckdb"), read_only=True) as con:
        run_id = con.execute("SELECT run_id FROM ops.runs ORDER BY started_at LIMIT 1").fetchall()[0][0]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG: run_id}))
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        materialized = {
            event.asset_materialization.asset_key
            for r in runs
            for event in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
            if event.asset_materialization is not None
        }
        assert dg.AssetKey(["staging", "sessions"]) in materialized
        assert dg.AssetKey(["marts", "episode_outcomes"]) in materialized


def test_no_direct_identifier_reached_the_warehouse(sample_run) -> None:
    from tests.conftest import warehouse_contains

    _, build, _ = sample_run
    assert warehouse_contains(build / "warehouse.duckdb", "Test Person") == []


def test_sample_relief_curves_equal_lifelines(sample_run) -> None:
    """Kaplan-Meier curves, bands, medians and their intervals of the sample equal lifelines for every group."""
    from tests.transforms.conftest import assert_relief_matches_lifelines

    _, build, _ = sample_run
    with duckdb.connect(str(build / "warehouse.duckdb"), read_only=True) as con:
        groups = con.execute("SELECT count(DISTINCT condition_group) FROM marts.relief_curve").fetchall()[0][0]
        assert groups >= 19  # the 19 condition groups and 'all'
        assert assert_relief_matches_lifelines(con) == groups
