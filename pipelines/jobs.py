"""Jobs: loading exports (partitioned) and refreshing everything downstream of the loads."""

from __future__ import annotations

import dagster as dg

from pipelines.assets import RAW_EXPORTS
from pipelines.partitions import exports_partitions

load_exports_job = dg.define_asset_job(
    "load_exports",
    selection=dg.AssetSelection.keys(RAW_EXPORTS),
    partitions_def=exports_partitions,
    description="Validate and load export folders (one partition per export).",
)

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.keys(RAW_EXPORTS).downstream(include_self=False),
    description="Rebuild staging, marts, the published site and the restricted outputs from the loaded exports.",
)
