"""The one Dagster ``Definitions`` of the project (loaded by `dagster dev -m pipelines`)."""

from __future__ import annotations

import dagster as dg

from pipelines.assets import (
    audit_packets,
    audit_worklists,
    mart_assets,
    raw_exports,
    site_index,
    site_pages,
    staging_tables,
)
from pipelines.checks import integrity_checks
from pipelines.jobs import refresh_job
from pipelines.readiness import readiness_job
from pipelines.resources import OutcomesSettings, WarehouseResource
from pipelines.sensors import inbox_sensor

ALL_ASSETS = [raw_exports, staging_tables, *mart_assets, audit_worklists, audit_packets, *site_pages, site_index]
ALL_CHECKS = [*integrity_checks]


def resources(**overrides: str) -> dict[str, dg.ConfigurableResource]:
    """The resources of a run; ``warehouse``, ``inbox``, ``site`` and ``restricted`` may be overridden."""
    warehouse = WarehouseResource(**{k: overrides[k] for k in ("path", "memory_limit") if k in overrides})
    if "warehouse" in overrides:
        warehouse = WarehouseResource(path=overrides["warehouse"], memory_limit=warehouse.memory_limit)
    folders = {k: overrides[k] for k in ("inbox", "site", "restricted") if k in overrides}
    return {"warehouse": warehouse, "outcomes_settings": OutcomesSettings(**folders)}


defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[refresh_job, readiness_job],
    sensors=[inbox_sensor],
    resources=resources(),
    # In one process, one step at a time: DuckDB allows one writer per file, and a process per step
    # would cost seconds of start-up each (`dagster asset materialize --select '*'` uses this too).
    executor=dg.in_process_executor,
)
