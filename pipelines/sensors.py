"""Sensor: notice new or changed exports in the inbox and request one run for the whole batch."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg

from pipelines.jobs import refresh_job
from pipelines.resources import OutcomesSettings
from transforms.exports import discover_exports
from transforms.profiles import PROFILES_FOLDER


def _files_print(folder: Path) -> str:
    parts = []
    try:
        for file in sorted(p for p in folder.iterdir() if p.is_file()):
            stat = file.stat()
            parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    except OSError as exc:  # an unreadable folder: the loader refuses it with the reason
        return f"unreadable:{exc.errno}"
    return "|".join(parts) or "empty"


def inbox_fingerprints(inbox: Path) -> dict[str, str]:
    """export -> a cheap fingerprint (file names, sizes, modification times) of its files, its own mapping
    profile included; plus the inbox's shared profiles (``_profiles``), which apply to several exports.

    The loader computes the real checksum; the fingerprint only decides whether to ask for a run.
    """
    prints = {export.name: _files_print(export.path) for export in discover_exports(inbox)}
    shared = inbox / PROFILES_FOLDER
    if shared.is_dir():
        prints[PROFILES_FOLDER] = _files_print(shared)
    return prints


@dg.sensor(job=refresh_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def inbox_sensor(
    context: dg.SensorEvaluationContext, outcomes_settings: OutcomesSettings
) -> dg.SensorResult | dg.SkipReason:
    """Request one run of the ``refresh`` job for every batch of new or changed export folders.

    Exports that arrive together are loaded, staged and published by a single run; a batch that
    arrives while a run is going on gets the next one (runs are queued one at a time).
    """
    inbox = Path(outcomes_settings.inbox)
    if not inbox.is_dir():
        return dg.SkipReason(f"inbox {inbox} does not exist")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = inbox_fingerprints(inbox)
    changed = sorted(name for name, fp in current.items() if seen.get(name) != fp)
    if not changed:
        return dg.SkipReason("no new or changed exports")
    batch = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"inbox-{batch}", tags={"outcomes/exports": ",".join(changed)[:900]})],
        cursor=json.dumps(current, sort_keys=True),
    )
