"""`outcomes run`: materialize the Dagster assets in-process on an inbox (metrics.md section 11)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

import dagster as dg
import duckdb

from transforms.config import Settings, load_settings
from transforms.exports import discover_exports
from transforms.warehouse import WarehouseLocked, WarehouseUnavailable, open_warehouse

PROGRESS_LOGGER = "outcomes"
# Dagster's own console log is for -v; without it a failure is reported in one line by the CLI.
QUIET_DAGSTER = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class RunFailed(Exception):
    """The run could not be carried out; the message is the one-line reason."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="outcomes", description="Outcomes analytics for manual-therapy clinics.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="load every export of the inbox, build all tables and publish the site")
    defaults = Settings()
    run.add_argument("--inbox", help=f"folder of export folders (default {defaults.inbox}, env OUTCOMES_INBOX)")
    run.add_argument("--warehouse", help=f"DuckDB file (default {defaults.warehouse}, env OUTCOMES_WAREHOUSE)")
    run.add_argument("--site", help=f"published dashboards folder (default {defaults.site}, env OUTCOMES_SITE)")
    run.add_argument(
        "--restricted", help=f"folder for row-level outputs (default {defaults.restricted}, env OUTCOMES_RESTRICTED)"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="also show Dagster's own log")
    return parser


def _preflight(settings: Settings) -> list:
    """Fail fast, with one line, when the run cannot happen at all."""
    if not settings.inbox.is_dir():
        raise RunFailed(f"inbox {settings.inbox} does not exist or is not a folder")
    exports = discover_exports(settings.inbox)
    try:
        with open_warehouse(settings.warehouse, timeout=min(settings.lock_timeout_s, 2.0)):
            pass
    except (WarehouseLocked, WarehouseUnavailable) as exc:
        raise RunFailed(str(exc)) from exc
    except duckdb.Error as exc:
        raise RunFailed(f"cannot open the warehouse {settings.warehouse}: {str(exc).splitlines()[0]}") from exc
    for folder in (settings.site, settings.restricted):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFailed(f"cannot create the folder {folder}: {exc.strerror}") from exc
    return exports


def _summary(settings: Settings, run_id: str) -> list[str]:
    with open_warehouse(settings.warehouse, read_only=True) as con:
        counts = dict(
            con.execute("SELECT status, count(*) FROM ops.load_log WHERE run_id = ? GROUP BY ALL", [run_id]).fetchall()
        )
        quarantined = con.execute(
            "SELECT coalesce(sum(rows_quarantined), 0) FROM ops.load_log WHERE run_id = ? "
            "AND status IN ('loaded', 'replaced')",
            [run_id],
        ).fetchall()[0][0]
        rejected = con.execute(
            "SELECT export, reason FROM ops.load_log WHERE run_id = ? AND status = 'rejected' ORDER BY export", [run_id]
        ).fetchall()
    lines = [
        "exports: "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("loaded", "replaced", "unchanged", "rejected"))
        + f"; rows quarantined: {quarantined}",
    ]
    lines += [f"  rejected {export}: {reason}" for export, reason in rejected]
    index = settings.site / "index.html"
    lines += [
        f"warehouse:  {settings.warehouse}",
        f"dashboards: {index.resolve() if index.exists() else settings.site}",
        f"restricted: {settings.restricted} (validation reports, audit worklists; not for publication)",
    ]
    return lines


def run(settings: Settings, verbose: bool = False) -> list[str]:
    """Run the whole job; returns the summary lines. Raises :class:`RunFailed` when it cannot run."""
    from pipelines.assets import RAW_EXPORTS, RUN_TAG
    from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, resources
    from transforms.loading import new_run_id

    exports = _preflight(settings)
    res = resources(
        warehouse=str(settings.warehouse), inbox=str(settings.inbox), site=str(settings.site),
        restricted=str(settings.restricted),
    )
    instance = dg.DagsterInstance.ephemeral()
    run_config = None if verbose else QUIET_DAGSTER
    log = logging.getLogger(PROGRESS_LOGGER)
    names = [e.name for e in exports]
    load_run_id = ""
    pipeline_run = new_run_id()  # one ops.runs row for both Dagster runs below
    if names:
        instance.add_dynamic_partitions("exports", names)
        log.info(f"loading {len(names)} export(s) from {settings.inbox}")
        result = dg.materialize(
            ALL_ASSETS, selection=[RAW_EXPORTS], instance=instance, resources=res, run_config=run_config,
            tags={"dagster/asset_partition_range_start": names[0], "dagster/asset_partition_range_end": names[-1],
                  RUN_TAG: pipeline_run},
            raise_on_error=False,
        )
        _raise_if_failed(result, "loading exports")
        load_run_id = result.run_id
    else:
        log.info(f"no export folders in {settings.inbox}; rebuilding tables from what is already loaded")
    downstream = dg.AssetSelection.keys(RAW_EXPORTS).downstream(include_self=False)
    result = dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS], selection=downstream, instance=instance, resources=res, run_config=run_config,
        raise_on_error=False, tags={RUN_TAG: pipeline_run},
    )
    _raise_if_failed(result, "building tables")
    return _summary(settings, load_run_id)


def _raise_if_failed(result: dg.ExecuteInProcessResult, stage: str) -> None:
    if result.success:
        return
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None and error.cls_name in ("DagsterExecutionStepExecutionError",):
                error = error.cause
            message = error.message.strip().splitlines()[0] if error.message else error.cls_name
            raise RunFailed(f"{stage} failed in step {event.step_key}: {message}")
    raise RunFailed(f"{stage} failed")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `outcomes` console script."""
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger(PROGRESS_LOGGER)
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    log.propagate = False
    started = time.monotonic()
    try:
        settings = load_settings(inbox=args.inbox, warehouse=args.warehouse, site=args.site, restricted=args.restricted)
        lines = run(settings, verbose=args.verbose)
    except (RunFailed, ValueError) as exc:
        print(f"outcomes: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("outcomes: interrupted", file=sys.stderr)
        return 130
    print(f"done in {time.monotonic() - started:.1f} s")
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
