"""The Dagster definitions load, every warehouse writer is in the single-writer pool, the sensor works."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
import yaml

from pipelines.assets import RAW_EXPORTS, STAGING_SESSIONS
from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, defs, resources
from pipelines.partitions import WAREHOUSE_POOL, exports_partitions
from pipelines.sensors import inbox_sensor
from tests.conftest import sessions_series, write_export

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert RAW_EXPORTS in graph.get_all_asset_keys()
    assert STAGING_SESSIONS in graph.get_all_asset_keys()
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"load_exports", "refresh"}


def test_every_warehouse_step_is_in_the_single_writer_pool() -> None:
    for asset in ALL_ASSETS:
        assert asset.op.pool == WAREHOUSE_POOL, asset.keys
    for check in ALL_CHECKS:
        assert check.op.pool == WAREHOUSE_POOL, check.check_keys


def test_instance_config_limits_the_pool_to_one_step() -> None:
    config = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text())
    with dg.instance_for_test(overrides={"concurrency": config["concurrency"]}) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_sensor_adds_partitions_and_requests_runs_for_new_and_changed_exports(settings) -> None:
    write_export(settings.inbox, "b", sessions_series(2))
    write_export(settings.inbox, "a", sessions_series(2))
    res = resources(inbox=str(settings.inbox), warehouse=str(settings.warehouse))
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources=res)
        result = inbox_sensor(ctx)
        assert [r.partition_key for r in result.run_requests] == ["a", "b"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["a", "b"]
        instance.add_dynamic_partitions(exports_partitions.name, ["a", "b"])

        again = inbox_sensor(dg.build_sensor_context(instance=instance, resources=res, cursor=result.cursor))
        assert isinstance(again, dg.SkipReason)

        folder = write_export(settings.inbox, "a", sessions_series(3))
        os.utime(folder / "sessions.csv", ns=(1, 1))
        changed = inbox_sensor(dg.build_sensor_context(instance=instance, resources=res, cursor=result.cursor))
        assert [r.partition_key for r in changed.run_requests] == ["a"]
        assert changed.dynamic_partitions_requests == []


def test_assets_materialize_on_a_temporary_inbox(settings) -> None:
    write_export(settings.inbox, "exp-1", sessions_series(6))
    write_export(settings.inbox, "exp-2", sessions_series(4, clinic_id="C2"), fmt="parquet")
    res = resources(
        inbox=str(settings.inbox), warehouse=str(settings.warehouse), site=str(settings.site),
        restricted=str(settings.restricted),
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(exports_partitions.name, ["exp-1", "exp-2"])
        first = dg.materialize(ALL_ASSETS, selection=[RAW_EXPORTS], partition_key="exp-2", instance=instance, resources=res)
        assert first.success
        checks = {c.check_name: c.passed for c in first.get_asset_check_evaluations()}
        assert checks == {"exports_accepted": True, "quarantine_within_limit": True}
        rest = dg.materialize(
            [*ALL_ASSETS, *ALL_CHECKS], selection=dg.AssetSelection.keys(RAW_EXPORTS).downstream(include_self=False),
            instance=instance, resources=res,
        )
        assert rest.success
        assert all(c.passed for c in rest.get_asset_check_evaluations())
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT clinic_id, count(*) FROM staging.sessions GROUP BY 1").fetchall() == [("C2", 4)]


def test_rejected_export_fails_the_acceptance_check(settings) -> None:
    write_export(settings.inbox, "bad", None, [{"session_id": "S1"}])
    res = resources(inbox=str(settings.inbox), warehouse=str(settings.warehouse), restricted=str(settings.restricted))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(exports_partitions.name, ["bad"])
        result = dg.materialize(ALL_ASSETS, selection=[RAW_EXPORTS], partition_key="bad", instance=instance, resources=res)
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
        instance.add_dynamic_partitions(exports_partitions.name, ["noisy"])
        result = dg.materialize(ALL_ASSETS, selection=[RAW_EXPORTS], partition_key="noisy", instance=instance, resources=res)
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"exports_accepted": False, "quarantine_within_limit": False}
