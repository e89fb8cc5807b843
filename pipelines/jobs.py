"""The pipeline's job: load what is new in the inbox and bring every table, page and restricted output up to date.

One job covers everything, in one process (the in-process executor: no process start-up per step,
and one writer of the DuckDB warehouse at a time). Each step does only the work that is due, so
the same job serves the first run, a monthly export and a run with nothing new.
"""

from __future__ import annotations

import dagster as dg

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    description="Load new and changed exports, restage the patients they touch, rebuild the affected marts, "
                "and rewrite the pages and restricted outputs whose contents changed.",
    executor_def=dg.in_process_executor,
)
