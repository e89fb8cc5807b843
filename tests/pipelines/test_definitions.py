"""The Dagster definitions load, one job runs everything in one process, the sensor batches exports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import yaml

from pipelines.assets import RAW_EXPORTS, STAGING_SESSIONS
from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, defs, resources
from pipelines.instance import INSTANCE_YAML, ensure_instance_folder
from pipelines.sensors import inbox_sensor
from tests.conftest import sessions_series, write_export

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert RAW_EXPORTS in graph.get_all_asset_keys()
    assert STAGING_SESSIONS in graph.get_all_asset_keys()
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"refresh"}
    assert not any(a.partitions_def for a in ALL_ASSETS)  # `dagster asset materialize --select '*'` works


def test_the_definitions_load_without_pandas_or_plotly() -> None:
    """Dagster's start-up (every `outcomes run`, `dagster dev`) does not pay for the page builders: they
    are imported by the steps that build pages, which an unchanged rerun skips."""
    code = "import sys, pipelines.definitions; print(sorted(m for m in ('pandas', 'plotly') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_page_has_a_builder() -> None:
    from dashboards.outputs import PAGES
    from dashboards.site import PAGE_BUILDERS

    assert tuple(PAGE_BUILDERS) == PAGES


def test_the_job_runs_in_one_process() -> None:
    job = defs.resolve_job_def("refresh")
    assert job.executor_def is dg.in_process_executor
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor


def test_the_instance_runs_one_run_at_a_time(tmp_path: Path) -> None:
    committed = (ROOT / "dagster_home" / "dagster.yaml").read_text()
    assert committed == INSTANCE_YAML  # `outcomes run` creates the same file where it is missing
    home = ensure_instance_folder(tmp_path / "home")
    assert (home / "dagster.yaml").read_text() == INSTANCE_YAML
    config = yaml.safe_load(INSTANCE_YAML)
    with dg.instance_for_test(overrides={"concurrency": config["concurrency"]}) as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_sensor_requests_one_run_per_batch_of_new_or_changed_exports(settings) -> None:
    write_export(settings.inbox, "b", sessions_series(2))
    write_export(settings.inbox, "a", sessions_series(2))
    res = resources(inbox=str(settings.inbox), warehouse=str(settings.warehouse))
    with dg.instance_for_test() as instance:
        result = inbox_sensor(dg.build_sensor_context(instance=instance, resources=res))
        assert len(result.run_requests) == 1  # two new exports: one run loads and publishes both
        assert result.run_requests[0].job_name in (None, "refresh")
        assert result.run_requests[0].tags["outcomes/exports"] == "a,b"

        again = inbox_sensor(dg.build_sensor_context(instance=instance, resources=res, cursor=result.cursor))
        assert isinstance(again, dg.SkipReason)

        folder = write_export(settings.inbox, "a", sessions_series(3))
        os.utime(folder / "sessions.csv", ns=(1, 1))
        write_export(settings.inbox, "c", sessions_series(2))
        changed = inbox_sensor(dg.build_sensor_context(instance=instance, resources=res, cursor=result.cursor))
        assert len(changed.run_requests) == 1 and changed.run_requests[0].tags["outcomes/exports"] == "a,c"
        assert changed.run_requests[0].run_key != result.run_requests[0].run_key

        (settings.inbox / "_profiles").mkdir()
        (settings.inbox / "_profiles" / "default.toml").write_text("[columns]\n")
        profile = inbox_sensor(dg.build_sensor_context(instance=instance, resources=res, cursor=changed.cursor))
        assert len(profile.run_requests) == 1  # a new shared mapping profile can change every export


def test_assets_materialize_on_a_temporary_inbox(settings) -> None:
    write_export(settings.inbox, "exp-1", sessions_series(6))
    write_export(settings.inbox, "exp-2", sessions_series(4, clinic_id="C2"), fmt="parquet")
    res = resources(
        inbox=str(settings.inbox), warehouse=str(settings.warehouse), site=str(settings.site),
        restricted=str(settings.restricted),
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize([*ALL_ASSETS, *ALL_CHECKS], instance=instance, resources=res)
        assert result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks["exports_accepted"] and checks["quarantine_within_limit"]
        assert all(checks.values()), checks
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert materialized >= {RAW_EXPORTS, STAGING_SESSIONS, dg.AssetKey(["site", "index"])}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT clinic_id, count(*) FROM staging.sessions GROUP BY 1 ORDER BY 1").fetchall() == [
            ("C1", 6), ("C2", 4)]
        integrity = con.execute("SELECT DISTINCT run_id FROM ops.check_results WHERE check_kind = 'integrity'"
                                ).fetchall()
    assert integrity == [(result.run_id,)]  # outside `outcomes run`, a Dagster run is the pipeline run
    assert (settings.site / "index.html").exists()


def test_the_implicit_asset_job_runs_every_asset_and_check(settings) -> None:
    """What `dagster asset materialize --select '*'` executes: every asset and check, in one process."""
    write_export(settings.inbox, "exp-1", sessions_series(6))
    res = resources(inbox=str(settings.inbox), warehouse=str(settings.warehouse), site=str(settings.site),
                    restricted=str(settings.restricted))
    job = dg.Definitions(assets=ALL_ASSETS, asset_checks=ALL_CHECKS, resources=res,
                         executor=dg.in_process_executor).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance)
        assert result.success
        assert {e.check_name for e in result.get_asset_check_evaluations()} >= {"session_key_unique",
                                                                              "no_identifier_values"}


def test_rejected_export_fails_the_acceptance_check(settings) -> None:
    write_export(settings.inbox, "bad", None, [{"session_id": "S1"}])
    res = resources(inbox=str(settings.inbox), warehouse=str(settings.warehouse), restricted=str(settings.restricted))
    with dg.instance_for_test() as instance:
        result = dg.materialize(ALL_ASSETS, selection=[RAW_EXPORTS], instance=instance, resources=res)
        assert result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks["exports_accepted"] is False


def test_too_many_bad_rows_fails_the_quarantine_check(settings) -> None:
    rows = sessions_series(10)
    for i in range(3):
        rows[i] = {**rows[i], "pain_pre": "12"}
    write_export(settings.inbox, "noisy", rows)
    res = resources(inbox=str(settings.inbox), warehouse=str(settings.warehouse), restricted=str(settings.restricted))
    with dg.instance_for_test() as instance:
        result = dg.materialize(ALL_ASSETS, selection=[RAW_EXPORTS], instance=instance, resources=res)
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"exports_accepted": False, "quarantine_within_limit": False}
