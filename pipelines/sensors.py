"""Sensors: notice new or changed exports in the inbox, and refresh downstream tables after loads."""


import json
from pathlib import Path

import dagster as dg

from pipelines.jobs import load_exports_job, refresh_job
from pipelines.partitions import exports_partitions
from pipelines.resources import OutcomesSettings
from transforms.exports import discover_exports


def inbox_fingerprints(inbox: Path) -> dict[str, str]:
    """export -> a cheap fingerprint (file names, sizes, modification times) of its data files.

    The loader computes the real checksum; the fingerprint only decides whether to ask for a run.
    """
    prints = {}
    for export in discover_exports(inbox):
        parts = []
        for kind, file in sorted(export.files.items()):
            stat = file.stat()
            parts.append(f"{kind}={file.name}:{stat.st_size}:{stat.st_mtime_ns}")
        prints[export.name] = "|".join(parts) or "empty"
    return prints


@dg.sensor(job=load_exports_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def inbox_sensor(
    context: dg.SensorEvaluationContext, outcomes_settings: OutcomesSettings
) -> dg.SensorResult | dg.SkipReason:
    """Add a partition for every new export folder and request a load run for each new or changed one."""
    inbox = Path(outcomes_settings.inbox)
    if not inbox.is_dir():
        return dg.SkipReason(f"inbox {inbox} does not exist")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = inbox_fingerprints(inbox)
    changed = sorted(name for name, fp in current.items() if seen.get(name) != fp)
    if not changed:
        return dg.SkipReason("no new or changed exports")
    known = set(context.instance.get_dynamic_partitions(exports_partitions.name))
    new = [name for name in changed if name not in known]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=name, run_key=f"{name}:{current[name]}") for name in changed],
        dynamic_partitions_requests=[exports_partitions.build_add_request(new)] if new else [],
        cursor=json.dumps(current, sort_keys=True),
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[load_exports_job],
    request_job=refresh_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def refresh_after_load(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    """After a load run succeeds, rebuild staging, marts and the site (one refresh per load run)."""
    return dg.RunRequest(run_key=f"refresh-after-{context.dagster_run.run_id}")
