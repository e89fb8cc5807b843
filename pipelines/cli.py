"""`outcomes run`: materialize the Dagster assets in-process on an inbox (metrics.md section 11).

Also `outcomes check` (what an inbox would load and which answers its data supports, without
touching the warehouse) and `outcomes profile init EXPORT` (a draft mapping profile), which exit
the same way: 0 done, 2 with one line on standard error when they cannot run (a profile that is
not valid, a missing folder, an existing profile without ``--force``), 1 on a bug.

The run holds the warehouse's writer lock from its first read to its last page, so a second run
waits (up to ``lock_timeout_s``) and then stops with one line naming the run that holds it, before
it has read or logged anything. Every failure ends in one line on standard error:

- exit 0: the run completed (some exports may have been rejected: the output and the load log say which);
- exit 2: the run could not be carried out (bad setting, missing inbox, locked, unwritable or full
  warehouse folder, a step that failed), with the reason;
- exit 1: an unexpected error (a bug): one line, the traceback with ``-v``;
- exit 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb

from transforms.checksums import stamps_recorded
from transforms.config import Settings, SettingsError, load_settings
from transforms.exports import ExportFolder, IgnoredEntry, discover_exports, ignored_entries
from transforms.loading import ensure_schema, export_status, new_run_id, remove_stale_scratch
from transforms.restricted import apply_umask, make_private, owner_only_umask, private_dir
from transforms.warehouse import (
    WarehouseLocked,
    WarehouseUnavailable,
    check_writable_folder,
    describe_storage_error,
    make_owner_only,
    open_warehouse,
    storage_problem,
    warehouse_lock,
)

if TYPE_CHECKING:
    from dagster import ExecuteInProcessResult
    from dagster._utils.error import SerializableErrorInfo

PROGRESS_LOGGER = "outcomes"
# Dagster's own console log is for -v; without it a failure is reported in one line by the CLI.
QUIET_DAGSTER = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class RunFailed(Exception):
    """The run could not be carried out; the message is the one-line reason."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outcomes", description="Outcomes analytics for manual-therapy clinics.",
        epilog="Default paths are relative to the current folder. Exit status: 0 the run completed (rejected "
               "exports are listed), 2 it could not run (the reason is one line on standard error), 1 an "
               "unexpected error, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="load every export of the inbox, build all tables and publish the site")
    defaults = Settings()
    run.add_argument("--inbox", help=f"folder of export folders (default {defaults.inbox}, env OUTCOMES_INBOX)")
    run.add_argument("--warehouse", help=f"DuckDB file (default {defaults.warehouse}, env OUTCOMES_WAREHOUSE)")
    run.add_argument("--site", help=f"published dashboards folder (default {defaults.site}, env OUTCOMES_SITE)")
    run.add_argument(
        "--restricted", help=f"folder for row-level outputs (default {defaults.restricted}, env OUTCOMES_RESTRICTED)"
    )
    run.add_argument("--full", action="store_true",
                     help="rebuild staging, every mart and every page from scratch (a run normally rebuilds only "
                          "what new or changed exports touch)")
    run.add_argument("-v", "--verbose", action="store_true", help="also show Dagster's own log (and tracebacks)")
    _add_profile_commands(sub, defaults)
    return parser


@dataclass
class _Inbox:
    exports: list[ExportFolder] = field(default_factory=list)
    ignored: list[IgnoredEntry] = field(default_factory=list)


def _prepare_folders(settings: Settings) -> None:
    """Fail fast, with one line, when the folders of the run cannot be written."""
    if not settings.inbox.is_dir():
        raise RunFailed(f"inbox {settings.inbox} does not exist or is not a folder")
    if settings.reference_dir is not None and not settings.reference_dir.is_dir():
        raise RunFailed(f"OUTCOMES_REFERENCE_DIR={settings.reference_dir} is not valid: expected an existing folder "
                        "of reference CSV files")
    try:
        check_writable_folder(settings.warehouse.parent)
        check_writable_folder(settings.site, "the site folder")
        check_writable_folder(settings.restricted, "the restricted folder")
        private_dir(settings.restricted)
    except WarehouseUnavailable as exc:
        raise RunFailed(str(exc)) from exc
    except OSError as exc:
        raise RunFailed(f"cannot create the folder {settings.restricted}: "
                        f"{storage_problem(exc) or exc.strerror or exc}") from exc


@contextmanager
def _run_lock(settings: Settings, run_id: str) -> Iterator[None]:
    """The warehouse's writer lock for the whole run (a second run waits, then stops with one line)."""
    try:
        with warehouse_lock(settings.warehouse, timeout=settings.lock_timeout_s, holder=f"outcomes run {run_id}"):
            yield
    except (WarehouseLocked, WarehouseUnavailable) as exc:
        raise RunFailed(str(exc)) from exc


def _open_inbox(settings: Settings) -> _Inbox:
    """Check the warehouse opens (creating its tables), tidy up after killed runs, and list the inbox."""
    try:
        with open_warehouse(settings.warehouse, timeout=settings.lock_timeout_s) as con:
            ensure_schema(con)
    except (WarehouseLocked, WarehouseUnavailable) as exc:
        raise RunFailed(str(exc)) from exc
    log = logging.getLogger(PROGRESS_LOGGER)
    removed = remove_stale_scratch(settings.warehouse)
    if removed:
        log.info(f"removed the scratch files of an interrupted run: {', '.join(removed)}")
    inbox = _Inbox(discover_exports(settings.inbox), ignored_entries(settings.inbox))
    for entry in inbox.ignored:
        log.info(f"ignored: {entry.name} ({entry.reason})")
    return inbox


def _summary(settings: Settings, run_id: str, inbox: set[str]) -> list[str]:
    """The warehouse's current state (not this run's delta), then what this run did, and the loaded
    exports whose folder is no longer among ``inbox``'s (they stay loaded, decision 5)."""
    with open_warehouse(settings.warehouse, timeout=settings.lock_timeout_s) as con:
        state = export_status(con).fetchall()
        columns = [d[0] for d in con.description]
        this_run = dict(
            con.execute("SELECT status, count(*) FROM ops.load_log WHERE run_id = ? GROUP BY ALL", [run_id]).fetchall()
        )
    rows = [dict(zip(columns, r, strict=True)) for r in state]
    loaded = [r for r in rows if r["status"] == "loaded"]
    rejected = [r for r in rows if r["status"] == "rejected"]
    rows_loaded = sum(r["rows_loaded"] or 0 for r in loaded)
    rows_quarantined = sum(r["rows_quarantined"] or 0 for r in loaded)
    lines = [
        f"exports in the warehouse: {len(loaded)} loaded, {len(rejected)} rejected; "
        f"rows loaded: {rows_loaded}, quarantined: {rows_quarantined}",
        "this run: " + ", ".join(f"{this_run.get(s, 0)} {s}" for s in
                                 ("loaded", "replaced", "unchanged", "rejected", "ignored")),
    ]
    lines += [f"  rejected {r['export']}: {r['reason']}" for r in rejected]
    lines += [f"  newer version of {r['export']} rejected (the earlier one stays loaded): {r['rejected_reason']}"
              for r in loaded if r["newer_version_rejected"]]
    gone = sorted(r["export"] for r in loaded if r["export"] not in inbox)
    if gone:
        shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        lines.append(f"  {len(gone)} loaded export(s) no longer in the inbox stay loaded (to take data back, send a "
                     f"corrected export): {shown}")
    index = settings.site / "index.html"
    lines += [
        f"warehouse:  {settings.warehouse}",
        f"dashboards: {index.resolve() if index.exists() else settings.site}",
        f"restricted: {settings.restricted} (validation reports, audit worklists and packets; owner-only, not for publication)",
    ]
    return lines


def _inbox_as_recorded(settings: Settings) -> bool:
    """Whether no export's files changed since the last run hashed them (so nothing will need validating).

    Decides only whether Great Expectations' helper, started before this check so that a run with
    work loses no time, is stopped again: on two cores its import would take the other core from a
    run that has nothing to load. The loader starts it when it needs it after all.
    """
    if not settings.warehouse.is_file():
        return False
    try:
        exports = discover_exports(settings.inbox)
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            return stamps_recorded(con, exports)
    except (duckdb.Error, OSError):
        return False  # being written by another run, not yet a warehouse, ...: start the helper as usual


def run(settings: Settings, verbose: bool = False, full: bool = False) -> list[str]:
    """Run the whole job; returns the summary lines. Raises :class:`RunFailed` when it cannot run.

    Two Dagster runs in the persistent instance (``DAGSTER_HOME``, see :mod:`pipelines.instance`):
    loading, then -- only when there is work to do -- everything downstream, which rebuilds only
    what new or changed exports touch (everything with ``full``).
    """
    _prepare_folders(settings)  # before importing Dagster: a run that cannot start says so at once
    if settings.inbox.is_dir() and any(settings.inbox.iterdir()):
        from expectations.validation import cool_down, warm_up

        warm_up()  # Great Expectations loads on the other core while Dagster starts
        if _inbox_as_recorded(settings):
            cool_down()  # nothing will need validating: give the core back to the run
    import dagster as dg

    from pipelines.assets import RAW_EXPORTS, RUN_TAG
    from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, resources
    from pipelines.instance import persistent_instance
    from transforms.changes import anything_pending
    from transforms.runs import begin_run, finish_run

    log = logging.getLogger(PROGRESS_LOGGER)
    run_id = new_run_id()  # the pipeline run: one ops.runs row for both Dagster runs below, and the lock's holder
    with _run_lock(settings, run_id), owner_only_umask() as user_umask:
        try:
            inbox = _open_inbox(settings)
            res = resources(
                warehouse=str(settings.warehouse), inbox=str(settings.inbox), site=str(settings.site),
                restricted=str(settings.restricted),
            )
            instance = persistent_instance()
            quiet = {} if verbose else QUIET_DAGSTER
            names = [e.name for e in inbox.exports]
            log.info(f"loading {len(names)} export(s) from {settings.inbox}" if names
                     else f"no export folders in {settings.inbox}")
            result = dg.materialize(
                ALL_ASSETS, selection=[RAW_EXPORTS], instance=instance, resources=res, run_config=quiet or None,
                tags={RUN_TAG: run_id}, raise_on_error=False,
            )
            _raise_if_failed(result, "loading exports")
            with open_warehouse(settings.warehouse, timeout=settings.lock_timeout_s) as con:
                pending = full or anything_pending(con, settings)
            if pending:
                downstream = dg.AssetSelection.keys(RAW_EXPORTS).downstream(include_self=False)
                config = {**quiet, "ops": {"staging_tables": {"config": {"full": True}}}} if full else quiet
                result = dg.materialize(
                    [*ALL_ASSETS, *ALL_CHECKS], selection=downstream, instance=instance, resources=res,
                    run_config=config or None, raise_on_error=False, tags={RUN_TAG: run_id},
                )
                _raise_if_failed(result, "building tables")
            else:
                log.info("nothing changed since the last run: every table and page is up to date")
            with open_warehouse(settings.warehouse, timeout=settings.lock_timeout_s) as con:
                begin_run(con, run_id, settings)
                finish_run(con, run_id)
            return _summary(settings, run_id, set(names))
        except (duckdb.Error, OSError) as exc:
            storage = describe_storage_error(exc, settings.warehouse)
            if storage is None:
                raise
            raise RunFailed(storage) from exc
        finally:
            # Restricted outputs and the warehouse owner-only, the public site with the user's usual modes.
            with suppress(OSError):
                make_private(settings.restricted)
            with suppress(OSError):
                make_owner_only(settings.warehouse)
            with suppress(OSError):
                apply_umask(settings.site, user_umask)


def _chain(error: SerializableErrorInfo) -> Iterator[SerializableErrorInfo]:
    """An error and every error it was raised from or during, outermost first."""
    seen = []
    stack = [error]
    while stack:
        current = stack.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        yield current
        stack += [getattr(current, "cause", None), getattr(current, "context", None)]


def _failed_checks(result: ExecuteInProcessResult, step_key: str | None) -> list[str]:
    """The names of the asset checks that failed in one step of a run."""
    return sorted(e.event_specific_data.check_name for e in result.all_events
                  if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.step_key == step_key
                  and not e.event_specific_data.passed)


def _raise_if_failed(result: ExecuteInProcessResult, stage: str) -> None:
    if result.success:
        return
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            errors = list(_chain(event.step_failure_data.error))
            storage = next((d for e in errors if (d := describe_storage_error(e.message or ""))), None)
            if storage:
                raise RunFailed(f"{stage} failed in step {event.step_key}: {storage}")
            error = next((e for e in errors if e.cls_name not in ("DagsterExecutionStepExecutionError",)), errors[0])
            message = error.message.strip().splitlines()[0] if error.message else error.cls_name
            failed_checks = _failed_checks(result, event.step_key)
            if failed_checks:  # a step runs several checks: name the ones that failed
                message = message.removeprefix("dagster._core.errors.DagsterAssetCheckFailedError: ")
                message = f"{message.rstrip(':')}: {', '.join(failed_checks)}"
            raise RunFailed(f"{stage} failed in step {event.step_key}: {message}")
    raise RunFailed(f"{stage} failed")


def _add_profile_commands(sub: argparse._SubParsersAction, defaults: Settings) -> None:
    """The `check` and `profile` sub-commands (mapping profiles and the readiness check)."""
    check = sub.add_parser(
        "check", help="say what every export of the inbox would load, what would be quarantined or rejected, and "
                      "which answers the data supports; writes nothing to the warehouse",
    )
    check.add_argument("--inbox", help=f"folder of export folders (default {defaults.inbox}, env OUTCOMES_INBOX)")
    check.add_argument("--restricted", help="folder for the readiness page (default "
                                            f"{defaults.restricted}, env OUTCOMES_RESTRICTED)")
    check.add_argument("-v", "--verbose", action="store_true", help="show progress (and tracebacks)")
    profile = sub.add_parser("profile", help="mapping profiles that turn a system's own export into the contract")
    actions = profile.add_subparsers(dest="profile_command", required=True)
    init = actions.add_parser("init", help="write a draft profile.toml into an export folder from its header and "
                                           "values, for you to complete")
    init.add_argument("export", help="the export folder")
    init.add_argument("--force", action="store_true", help="replace an existing profile.toml")


def _check_profiles(exports: list[ExportFolder]) -> None:
    """Stop with one line when an export's mapping profile cannot be used (`outcomes check`)."""
    from transforms.profiles import ProfileError, read_profile

    for export in exports:
        if export.profile_problem:
            raise RunFailed(f"export {export.name}: {export.profile_problem}")
        if export.profile is not None:
            try:
                read_profile(export.profile, export.profile_label)
            except ProfileError as exc:
                raise RunFailed(f"the mapping profile of export {export.name} is not valid: {exc}") from exc


def check_command(args: argparse.Namespace) -> int:
    """`outcomes check`: print what the inbox would give and write the readiness page; never opens the warehouse."""
    from transforms.readiness import check_inbox
    from transforms.readiness_report import check_lines, write_page

    settings = load_settings(inbox=args.inbox, restricted=args.restricted)
    if not settings.inbox.is_dir():
        raise RunFailed(f"inbox {settings.inbox} does not exist or is not a folder")
    _check_profiles(discover_exports(settings.inbox))
    report = check_inbox(settings)
    try:
        page = write_page(report, settings.restricted)
    except OSError as exc:
        raise RunFailed(f"cannot write the readiness page into {settings.restricted}: "
                        f"{storage_problem(exc) or exc.strerror or exc}") from exc
    for line in check_lines(report, page):
        print(line)
    return 0


def profile_command(args: argparse.Namespace) -> int:
    """`outcomes profile init EXPORT`: write a draft profile.toml (never over an existing one without --force)."""
    from pathlib import Path

    from transforms.profile_draft import DraftError, write_draft

    try:
        path, draft = write_draft(Path(args.export), force=args.force)
    except DraftError as exc:
        raise RunFailed(str(exc)) from exc
    except OSError as exc:
        raise RunFailed(f"cannot write the profile into {args.export}: {storage_problem(exc) or exc.strerror or exc}") \
            from exc
    print(f"wrote {path}: a draft with {draft.todos} TODO(s) to complete")
    for note in draft.notes:
        print(f"note: {note}")
    print(f"next: complete the TODOs in {path.name}, then run `outcomes check --inbox {path.parent.parent}`")
    return 0


def _progress_to_stdout(level: int) -> None:
    """Progress lines go to standard output, bare, at ``level`` (DEBUG adds the per-step detail)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger(PROGRESS_LOGGER)
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _exit_status(command: Callable[[], int], verbose: bool) -> int:
    """Run a command with the documented exit statuses: 2 for a refused run or bad settings, 130 when
    interrupted, 1 for an unexpected error (one line; the traceback only with -v)."""
    try:
        return command()
    except (RunFailed, SettingsError) as exc:
        print(f"outcomes: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("outcomes: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, the traceback only on request
        if verbose:
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"outcomes: unexpected error: {type(exc).__name__}: {first} (run with -v for details)", file=sys.stderr)
        return 1


def _run_command(args: argparse.Namespace) -> int:
    """`outcomes run`: the whole job, then the timing and where the outputs are."""
    started = time.monotonic()
    settings = load_settings(inbox=args.inbox, warehouse=args.warehouse, site=args.site, restricted=args.restricted)
    lines = run(settings, verbose=args.verbose, full=args.full)
    print(f"done in {time.monotonic() - started:.1f} s")
    for line in lines:
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `outcomes` console script."""
    args = _parser().parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    if args.command == "run":
        _progress_to_stdout(logging.DEBUG if verbose else logging.INFO)
        return _exit_status(lambda: _run_command(args), verbose)
    if verbose:
        _progress_to_stdout(logging.DEBUG)
    return _exit_status(lambda: check_command(args) if args.command == "check" else profile_command(args), verbose)


if __name__ == "__main__":
    raise SystemExit(main())
