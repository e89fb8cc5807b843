"""Loading exports into the warehouse: read, validate, then one transaction per export.

Contract rules (export-format.md):
- an unchanged export (same checksum as its loaded version) is a no-op recorded as ``unchanged``;
- a changed export with the same folder name replaces its earlier version as a whole;
- a whole-export problem, or more than ``reject_share`` of rows breaking a row rule, rejects
  the export and leaves every data table exactly as it was (only ``ops.load_log`` records it);
- otherwise valid rows go to ``raw.*`` and each broken rule of a row to ``quarantine.rejected_rows``.

Every load-log row has two reasons: ``reason``, in full for the data manager (row and line numbers,
counts, the parser's cause), and ``public_reason`` for the published quality page (no count, row or
line number, value, path or parser text). Inbox entries that are not export folders are logged as
``ignored`` with the reason they were skipped.

Exports of one run are validated together (one Great Expectations run per file kind over a scratch
DuckDB file holding every new export's rows, told apart by an ``export`` column) because GX's fixed
cost per run would otherwise dominate; every decision and every write is still per export, and the
warehouse is touched only by :func:`_commit`, one transaction per export, in folder-name order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from expectations.validation import (
    FileValidation,
    collect_failures,
    prepare_scratch,
    validate_file,
    warm_up,
    write_gx_results,
    write_report,
)
from transforms import contract
from transforms.checksums import export_checksums
from transforms.config import Settings
from transforms.exports import (
    ExportFolder,
    ExportRejected,
    IgnoredEntry,
    ReadResult,
    read_export,
    read_exports_together,
)
from transforms.profile_mapping import EXTRA_COLUMNS
from transforms.quality_history import prepare_check_rows, record_row_rules
from transforms.restricted import private_dir
from transforms.sqlmodels import install_macros, query
from transforms.warehouse import transaction

log = logging.getLogger("outcomes")

SCHEMA_SQL = Path(__file__).parent / "sql" / "schema.sql"

# The scratch file is written once and thrown away: checkpoint it only when it is closed.
SCRATCH_CONFIG = {"checkpoint_threshold": "8GB"}
# Read exports are appended to the scratch tables in batches of about this many rows.
APPEND_BATCH_ROWS = 1_000_000

WarehouseConnect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


@dataclass
class LoadOutcome:
    """What happened to one export in one run (one row of ``ops.load_log``)."""

    export: str
    status: str
    reason: str
    checksum: str | None = None
    rows_in: int | None = None
    rows_loaded: int | None = None
    rows_quarantined: int | None = None
    warnings: list[str] = field(default_factory=list)
    failed_rules: dict[str, int] = field(default_factory=dict)
    report: Path | None = None
    public_reason: str = ""  # the reason as the published site may show it
    patients: int | None = None  # distinct (clinic_id, patient_id) of the export's sessions file
    profile: str | None = None  # the mapping profile applied ('profile.toml' or '_profiles/<file>'), if any
    profile_checksum: str | None = None  # sha256 of that profile's bytes


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse schemas and the ops/quarantine/raw tables if they do not exist (and add new columns)."""
    con.execute(SCHEMA_SQL.read_text(encoding="utf-8"))


# --- scratch files ------------------------------------------------------------------------------------

SCRATCH_FOLDER = ".scratch"


def scratch_folder(warehouse: Path) -> Path:
    """The owner-only folder next to the warehouse where runs keep their scratch databases."""
    return warehouse.parent / SCRATCH_FOLDER


def _scratch_file(warehouse: Path, run_id: str) -> Path:
    # The process id in the name tells a killed run's leftovers from a running one's.
    return scratch_folder(warehouse) / f"{warehouse.name}.{run_id}.{os.getpid()}.duckdb"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_scratch(warehouse: Path) -> list[str]:
    """Delete the scratch files (database, log, spill folder) of runs of ``warehouse`` that no longer run.

    A run deletes its scratch file when it ends; one killed with ``kill -9`` cannot, so the next
    start does. Returns the names removed.
    """
    folder = scratch_folder(warehouse)
    if not folder.is_dir():
        return []
    ours = re.compile(rf"^{re.escape(warehouse.name)}\.[^/]+\.(?P<pid>[0-9]+)\.duckdb(\.wal|\.tmp)?$")
    older = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}\.duckdb(\.wal|\.tmp)?$")  # names before the process id
    removed = []
    for path in sorted(folder.iterdir()):
        match = ours.match(path.name)
        stale = not _running(int(match["pid"])) if match else bool(older.match(path.name))
        if not stale:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def new_run_id() -> str:
    """An identifier for one pipeline run (time-ordered, unique)."""
    return datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _typed_sessions_sql() -> str:
    t = contract.BOOLEAN_TRUE
    f = contract.BOOLEAN_FALSE
    true_list = ", ".join(f"'{v}'" for v in t)
    false_list = ", ".join(f"'{v}'" for v in f)
    return f"""
    SELECT export, row_number, session_id, clinic_id, patient_id, episode_id, therapist_id,
           CAST(session_date AS DATE) AS session_date, visit_type,
           normalise_icd10(condition_code) AS condition_code,
           referral_source, payer_type, cpt_code,
           CAST(CAST(units AS DOUBLE) AS INTEGER) AS units,
           CAST(CAST(duration_min AS DOUBLE) AS INTEGER) AS duration_min,
           NULLIF(array_to_string(list_filter(list_transform(string_split(techniques, ';'),
                  lambda x: {contract.trim_sql('x')}), lambda x: x <> ''), ';'), '') AS techniques,
           CAST(pain_pre AS DOUBLE) AS pain_pre, CAST(pain_post AS DOUBLE) AS pain_post,
           function_instrument, CAST(function_score AS DOUBLE) AS function_score,
           age_band, sex, CAST(symptom_weeks AS DOUBLE) AS symptom_weeks,
           CASE WHEN lower(goals_documented) IN ({true_list}) THEN TRUE
                WHEN lower(goals_documented) IN ({false_list}) THEN FALSE END AS goals_documented,
           CAST(CAST(authorized_visits AS DOUBLE) AS INTEGER) AS authorized_visits
    FROM sessions_in
    WHERE export IN (SELECT export FROM accepted)
      AND (export, row_number) NOT IN (SELECT (export, row_number) FROM quarantine WHERE file = 'sessions')
    ORDER BY export, row_number
    """


TYPED_ROM_SQL = """
SELECT export, row_number, session_id, clinic_id, joint, movement, side, timing, CAST(value AS DOUBLE) AS value
FROM rom_in
WHERE export IN (SELECT export FROM accepted)
  AND (export, row_number) NOT IN (SELECT (export, row_number) FROM quarantine WHERE file = 'rom')
ORDER BY export, row_number
"""


class _Phases:
    """Wall time of the load phases, logged at debug level (`outcomes run -v` shows them)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        log.debug(f"    load phase {phase}: {now - self.last:.2f} s")
        self.last = now


def _previous(con: duckdb.DuckDBPyConnection, outcomes: list[LoadOutcome]) -> dict[str, bool | None]:
    """Per export: None when this exact version was seen before (the outcome is then set to
    ``unchanged``), else whether another version of it is loaded (the new one will replace it).

    A new export whose files are exactly those of another loaded export gets a warning (a renamed or
    copied folder). Three queries for the whole inbox: a run over hundreds of unchanged exports must
    stay quick.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE _seen AS SELECT unnest(?::VARCHAR[]) AS export, "
                "unnest(?::VARCHAR[]) AS checksum", [[o.export for o in outcomes], [o.checksum for o in outcomes]])
    loaded = {e: (c, t) for e, c, t in con.execute(
        "SELECT e.export, e.checksum, e.loaded_at FROM ops.exports e JOIN _seen USING (export)").fetchall()}
    # a folder whose files are exactly those of another loaded export: most likely renamed or copied
    twins = dict(con.execute(
        "SELECT s.export, min(e.export) FROM _seen s JOIN ops.exports e ON e.checksum = s.checksum "
        "AND e.export <> s.export GROUP BY s.export").fetchall())
    rejected = {e: (r, p, t) for e, r, p, t in con.execute(
        "SELECT l.export, arg_max(l.reason, l.loaded_at), arg_max(coalesce(l.public_reason, 'see the load log'), "
        "l.loaded_at), max(l.loaded_at) FROM ops.load_log l JOIN _seen s ON s.export = l.export "
        "AND s.checksum = l.checksum WHERE l.status = 'rejected' GROUP BY l.export").fetchall()}
    con.execute("DROP TABLE _seen")
    result: dict[str, bool | None] = {}
    for outcome in outcomes:
        current = loaded.get(outcome.export)
        if current and current[0] == outcome.checksum:
            outcome.status = "unchanged"
            outcome.reason = outcome.public_reason = f"unchanged since it was loaded at {current[1]:%Y-%m-%d %H:%M}"
            result[outcome.export] = None
        elif outcome.export in rejected:
            reason, public, when = rejected[outcome.export]
            outcome.status = "unchanged"
            outcome.reason = f"unchanged since it was rejected at {when:%Y-%m-%d %H:%M}: {reason}"
            outcome.public_reason = f"unchanged since it was rejected at {when:%Y-%m-%d %H:%M}: {public}"
            result[outcome.export] = None
        else:
            result[outcome.export] = current is not None
            if outcome.export in twins:
                outcome.warnings.append(
                    f"its files are the same as those of the loaded export {twins[outcome.export]} (a renamed or "
                    "copied folder?): both stay loaded, so its rows count twice in the load totals, and as the "
                    "later export its sessions take precedence over any correction loaded before it")
    return result


_LOG_COLUMNS = (
    "run_id", "export", "status", "reason", "rows_in", "rows_loaded", "rows_quarantined", "checksum", "loaded_at",
    "warnings", "public_reason", "patients_in", "profile", "profile_checksum",
)


def _log_row(run_id: str, outcome: LoadOutcome) -> list[object]:
    return [
        run_id, outcome.export, outcome.status, outcome.reason, outcome.rows_in, outcome.rows_loaded,
        outcome.rows_quarantined, outcome.checksum, datetime.now(), "; ".join(outcome.warnings) or None,
        outcome.public_reason or outcome.reason, outcome.patients, outcome.profile, outcome.profile_checksum,
    ]


_LOG_SQL = f"INSERT INTO ops.load_log ({', '.join(_LOG_COLUMNS)}) VALUES ({', '.join('?' for _ in _LOG_COLUMNS)})"


def _log(con: duckdb.DuckDBPyConnection, run_id: str, outcome: LoadOutcome) -> None:
    con.execute(_LOG_SQL, _log_row(run_id, outcome))


def _log_many(con: duckdb.DuckDBPyConnection, run_id: str, outcomes: list[LoadOutcome], chunk: int = 400) -> None:
    """Log many outcomes with a few multi-row statements (one ``executemany`` round trip per row is slow)."""
    placeholders = "(" + ", ".join("?" for _ in _LOG_COLUMNS) + ")"
    for start in range(0, len(outcomes), chunk):
        part = outcomes[start:start + chunk]
        con.execute(f"INSERT INTO ops.load_log ({', '.join(_LOG_COLUMNS)}) VALUES "
                    + ", ".join(placeholders for _ in part), [v for o in part for v in _log_row(run_id, o)])


def record_ignored(con: duckdb.DuckDBPyConnection, run_id: str, entries: list[IgnoredEntry]) -> None:
    """Log the inbox entries a run skipped (status ``ignored``, with the reason)."""
    ensure_schema(con)
    for entry in entries:
        _log(con, run_id, LoadOutcome(export=entry.name, status="ignored", reason=entry.reason))


def export_status(con: duckdb.DuckDBPyConnection):
    """The warehouse's current state, one row per export ever seen (``transforms/sql/ops/export_status.sql``).

    Returns DuckDB's result (``.df()``, ``.fetchall()``): whether the export's data is in the
    warehouse now (``loaded``) or not (``rejected``), the counts of the version in force, and the
    latest attempt when it was a rejected newer version.
    """
    return query(con, "ops/export_status")


def _summarise_rules(failed: dict[str, int], limit: int = 3, counts: bool = True) -> str:
    top = sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    text = ", ".join(f"{name} ({n})" if counts else name for name, n in top)
    return text + (f" and {len(failed) - limit} more" if len(failed) > limit else "")


def validate_scratch(scratch: Path, today: date) -> list[FileValidation]:
    """Run both suites on the scratch file (closed) and fill its ``quarantine`` table."""
    validations = []
    for file in ("sessions", "rom"):
        validation = validate_file(scratch, file, today)
        with duckdb.connect(str(scratch)) as con:
            collect_failures(con, validation, today)
            if file == "sessions":
                con.execute(
                    "CREATE OR REPLACE TABLE sessions_valid_keys AS SELECT DISTINCT export, clinic_id, session_id "
                    "FROM sessions_in WHERE (export, row_number) NOT IN "
                    "(SELECT (export, row_number) FROM quarantine WHERE file = 'sessions')"
                )
        validations.append(validation)
    return validations


def _append_held(scon: duckdb.DuckDBPyConnection, held: list[int]) -> None:
    """Append the held exports' text tables to ``sessions_in`` / ``rom_in``, one statement per file kind.

    One write (and commit) per batch instead of one per export: on a scratch file, per-export
    commits cost more than reading the files.
    """
    if not held:
        return
    scon.execute("SET preserve_insertion_order = false")  # every row carries its export and row number
    for kind in contract.FILE_COLUMNS:
        scon.execute(f"INSERT INTO {kind}_in " + " UNION ALL ".join(f"SELECT * FROM {kind}_held_{i}" for i in held))
        for i in held:
            scon.execute(f"DROP TABLE {kind}_held_{i}")


def _accepted_reasons(outcome: LoadOutcome, replacing: bool) -> None:
    """Status and reasons of an export that loads (its counts were set by :func:`_decide`)."""
    outcome.status = "replaced" if replacing else "loaded"
    rows_in, loaded, bad = outcome.rows_in or 0, outcome.rows_loaded or 0, outcome.rows_quarantined or 0
    verb = "replaced the earlier version with" if replacing else "loaded"
    if rows_in == 0:
        empty = "the sessions file has a header and no rows (a period without visits)"
        outcome.reason = outcome.public_reason = f"{verb} 0 rows: {empty}"
        return
    outcome.reason = f"{verb} {loaded} of {rows_in} rows"
    outcome.public_reason = "replaced the earlier version" if replacing else "loaded"
    if bad:
        outcome.reason += f"; {bad} quarantined: {_summarise_rules(outcome.failed_rules)}"
        outcome.public_reason += f"; some rows quarantined, most often for {_summarise_rules(outcome.failed_rules, counts=False)}"


def _commit(con: duckdb.DuckDBPyConnection, run_id: str, accepted: list[LoadOutcome],
            rejected: list[LoadOutcome]) -> None:
    """Load the accepted exports (replacing their earlier versions) and log every outcome, in one transaction.

    One statement per table for the whole batch: on hundreds of exports, a transaction each costs
    more than the data. The batch is atomic, so a run killed during it leaves no export half loaded.
    Whether an earlier version is loaded is read again inside the transaction: a writer outside
    ``outcomes run`` (another Dagster run) may have loaded an export since it was looked up; a version
    it already loaded is then ``unchanged``.
    """
    with transaction(con):
        con.execute("CREATE OR REPLACE TEMP TABLE _committing AS SELECT unnest(?::VARCHAR[]) AS export, "
                    "unnest(?::VARCHAR[]) AS checksum", [[o.export for o in accepted], [o.checksum for o in accepted]])
        current = dict(con.execute("SELECT e.export, e.checksum FROM ops.exports e JOIN _committing c USING (export)"
                                   ).fetchall())
        going = []
        for outcome in accepted:
            if current.get(outcome.export) == outcome.checksum:
                outcome.status = "unchanged"
                outcome.reason = outcome.public_reason = "unchanged: another run loaded this version meanwhile"
                outcome.rows_in = outcome.rows_loaded = outcome.rows_quarantined = None
            else:
                _accepted_reasons(outcome, outcome.export in current)
                going.append(outcome)
        con.execute("DELETE FROM _committing WHERE export NOT IN (SELECT unnest(?::VARCHAR[]))",
                    [[o.export for o in going]])
        replaced = [o.export for o in going if o.export in current]
        if replaced:
            for table in ("raw.sessions", "raw.rom", "quarantine.rejected_rows"):
                con.execute(f"DELETE FROM {table} WHERE export IN (SELECT unnest(?::VARCHAR[]))", [replaced])
        con.execute("INSERT INTO raw.sessions SELECT t.* FROM scratch.sessions_typed t "
                    "WHERE t.export IN (SELECT export FROM _committing)")
        con.execute("INSERT INTO raw.rom SELECT t.* FROM scratch.rom_typed t "
                    "WHERE t.export IN (SELECT export FROM _committing)")
        con.execute(
            "INSERT INTO quarantine.rejected_rows BY NAME SELECT q.export, q.file, q.row_number, q.session_id, q.rule, "
            "q.column_name, q.value, q.original_value, c.clinic_id, c.session_month FROM scratch.quarantine q "
            "LEFT JOIN scratch.quarantine_context c USING (export, file, row_number) "
            "WHERE q.export IN (SELECT export FROM _committing) "
            "ORDER BY q.export, q.file, q.row_number, q.rule, q.column_name"
        )
        record_row_rules(con, run_id, "_committing", accepted=True)
        now = datetime.now()
        con.execute("UPDATE ops.exports SET checksum = c.checksum, loaded_at = ? FROM _committing c "
                    "WHERE ops.exports.export = c.export", [now])
        # new exports take the next places in the load order, in folder-name order
        con.execute(
            "INSERT INTO ops.exports SELECT c.export, (SELECT coalesce(max(seq), 0) FROM ops.exports) "
            "+ row_number() OVER (ORDER BY c.export), c.checksum, ?, ? FROM _committing c "
            "WHERE c.export NOT IN (SELECT export FROM ops.exports)", [now, now])
        _log_many(con, run_id, accepted)
        _log_many(con, run_id, rejected)
        con.execute("CREATE OR REPLACE TEMP TABLE _committing AS SELECT unnest(?::VARCHAR[]) AS export",
                    [[o.export for o in rejected]])
        record_row_rules(con, run_id, "_committing", accepted=False)
        con.execute("DROP TABLE _committing")


def decide(scon: duckdb.DuckDBPyConnection, outcome: LoadOutcome, settings: Settings, replacing: bool) -> list[tuple]:
    """Set the outcome from the export's quarantined rows (the scratch ``quarantine`` table): accepted, or
    rejected when more than ``reject_share`` of its rows break a rule. Returns a sample of the quarantined
    rows for the report: (file, row_number, session_id, rule, column_name, value, original_value)."""
    bad_rows = scon.execute(
        "SELECT count(*) FROM (SELECT DISTINCT file, row_number FROM quarantine WHERE export = ?)", [outcome.export]
    ).fetchall()[0][0]
    outcome.failed_rules = dict(
        scon.execute(
            # rows of the file: the rows a profile split one visit into share its row number
            "SELECT file || '.' || column_name || '.' || rule, count(DISTINCT row_number) FROM quarantine "
            "WHERE export = ? GROUP BY ALL",
            [outcome.export],
        ).fetchall()
    )
    outcome.rows_quarantined = bad_rows
    rows_in = outcome.rows_in or 0
    # The share counts the quarantined rows of both files over all rows of both files (contract 1.1).
    share = Decimal(bad_rows) / Decimal(rows_in) if rows_in else Decimal(0)
    if share > settings.reject_share:
        outcome.status = "rejected"
        outcome.reason = (
            f"{bad_rows} of {rows_in} rows ({share:.1%}) break a row rule, more than the "
            f"{settings.reject_share:.0%} allowed; most often: {_summarise_rules(outcome.failed_rules)}"
        )
        outcome.public_reason = (
            f"more than {settings.reject_share:.0%} of its rows break a row rule; most often: "
            f"{_summarise_rules(outcome.failed_rules, counts=False)}"
        )
    else:
        outcome.rows_loaded = rows_in - bad_rows
        _accepted_reasons(outcome, replacing)
    return scon.execute(
        "SELECT file, row_number, session_id, rule, column_name, value, original_value FROM quarantine "
        "WHERE export = ? ORDER BY file DESC, row_number, rule LIMIT 500",
        [outcome.export],
    ).fetchall()


def read_into_scratch(
    scon: duckdb.DuckDBPyConnection, exports: list[ExportFolder], outcomes: dict[str, LoadOutcome]
) -> tuple[list[ExportFolder], list[LoadOutcome]]:
    """Read the exports (and apply their profiles) into the scratch tables ``sessions_in`` / ``rom_in``.

    Sets each outcome's row counts, patients and warnings, or marks it rejected with the reason when
    the export cannot be read (a whole-export rule). Returns the readable exports and the outcomes of
    those rejected on reading. Touches nothing but the scratch connection.
    """
    for kind, columns in contract.FILE_COLUMNS.items():
        cols = ", ".join(f"{c} VARCHAR" for c in (*columns, *EXTRA_COLUMNS))
        scon.execute(f"CREATE TABLE {kind}_in (row_number BIGINT, export VARCHAR, {cols})")
    readable: list[ExportFolder] = []
    rejected_on_read: list[LoadOutcome] = []
    held: list[int] = []  # exports whose text tables wait to be appended to the *_in tables
    held_rows = 0
    log.info(f"  reading {len(exports)} new or changed export(s)")

    def take(e: ExportFolder, read: ReadResult | ExportRejected) -> bool:
        outcome = outcomes[e.name]
        if isinstance(read, ExportRejected):
            outcome.status, outcome.reason, outcome.public_reason = "rejected", str(read), read.public
            rejected_on_read.append(outcome)
            return False
        outcome.warnings = [*outcome.warnings, *read.warnings]
        outcome.rows_in = sum(read.rows.values())
        outcome.patients = read.patients
        readable.append(e)
        return True

    together, alone = read_exports_together(exports, scon)
    for kind in contract.FILE_COLUMNS:
        scon.execute(f"INSERT INTO {kind}_in SELECT * FROM {kind}_read")
        scon.execute(f"DROP TABLE {kind}_read")
    for e in exports:
        if e.name in together:
            take(e, together[e.name])
    if together:
        log.info(f"    read {len(together)} export(s) together, {len(alone)} one by one")
    step = max(1, len(alone) // 10)
    for i, e in enumerate(alone, 1):
        if len(alone) >= 20 and i % step == 0:
            log.info(f"    read {i}/{len(alone)}")
        try:
            read: ReadResult | ExportRejected = read_export(e, scon)
        except ExportRejected as exc:
            read = exc
        if not take(e, read):
            continue
        for kind in contract.FILE_COLUMNS:
            scon.execute(f"ALTER TABLE {kind}_new RENAME TO {kind}_held_{i}")
        held.append(i)
        held_rows += outcomes[e.name].rows_in or 0
        if held_rows >= APPEND_BATCH_ROWS:
            _append_held(scon, held)
            held, held_rows = [], 0
    _append_held(scon, held)
    order = {e.name: i for i, e in enumerate(exports)}
    readable.sort(key=lambda e: order[e.name])
    rejected_on_read.sort(key=lambda o: order[o.export])
    return readable, rejected_on_read


def build_typed_rows(scon: duckdb.DuckDBPyConnection, accepted: list[str]) -> None:
    """``sessions_typed`` / ``rom_typed`` on the scratch: the typed rows (as in ``raw.*``) of the accepted
    exports that broke no rule (a quarantined row of the file holds back every row derived from it)."""
    scon.execute("CREATE OR REPLACE TEMP TABLE accepted (export VARCHAR)")
    if accepted:
        scon.executemany("INSERT INTO accepted VALUES (?)", [[name] for name in accepted])
    install_macros(scon)  # normalise_icd10
    scon.execute(f"CREATE OR REPLACE TABLE sessions_typed AS {_typed_sessions_sql()}")
    scon.execute(f"CREATE OR REPLACE TABLE rom_typed AS {TYPED_ROM_SQL}")


def new_outcome(export: ExportFolder, checksum: str | None = None) -> LoadOutcome:
    """The outcome of an export before anything happened to it (its version and its profile)."""
    return LoadOutcome(export=export.name, status="", reason="", checksum=checksum or export.checksum,
                       profile=export.profile_label, profile_checksum=export.profile_checksum)


def load_exports(
    exports: list[ExportFolder],
    connect: WarehouseConnect,
    settings: Settings,
    run_id: str,
    today: date | None = None,
    progress: Callable[[LoadOutcome], None] | None = None,
) -> list[LoadOutcome]:
    """Load export folders into the warehouse; returns one outcome per export, in folder-name order.

    ``connect`` opens the (locked) warehouse connection; here it is held only for the quick look-up
    of previous versions and for each export's commit (``outcomes run`` holds the lock for the whole
    run anyway). ``progress`` is called once per export as soon as its outcome is known.
    """
    today = today or date.today()
    exports = sorted(exports, key=lambda e: e.name)
    outcomes: dict[str, LoadOutcome] = {}
    replacing: dict[str, bool] = {}
    pending: list[ExportFolder] = []
    done: list[LoadOutcome] = []

    def announce(outcome: LoadOutcome) -> None:
        done.append(outcome)
        log.info(f"  [{len(done)}/{len(exports)}] {outcome.export}: {outcome.status}: {outcome.reason}")
        for warning in outcome.warnings:
            log.info(f"      warning: {warning}")
        if progress:
            progress(outcome)

    def finish(outcome: LoadOutcome, con: duckdb.DuckDBPyConnection) -> None:
        _log(con, run_id, outcome)
        announce(outcome)

    phases = _Phases()
    removed = remove_stale_scratch(settings.warehouse)
    if removed:
        log.info(f"  removed the scratch files of an interrupted run: {', '.join(removed)}")
    with connect() as con:
        ensure_schema(con)
        checksums = export_checksums(con, exports)
        outcomes.update({e.name: new_outcome(e, checksums[e.name]) for e in exports})
        earlier = _previous(con, [outcomes[e.name] for e in exports])
        unchanged = [outcomes[e.name] for e in exports if earlier[e.name] is None]
        if unchanged:
            with transaction(con):  # one commit for every unchanged export's log row
                _log_many(con, run_id, unchanged)
        for outcome in unchanged:
            announce(outcome)
        for e in exports:
            if earlier[e.name] is not None:
                replacing[e.name] = bool(earlier[e.name])
                pending.append(e)
    if not pending:
        return [outcomes[e.name] for e in exports]

    warm_up()  # Great Expectations loads on the other core while the exports are read
    private_dir(scratch_folder(settings.warehouse))
    scratch = _scratch_file(settings.warehouse, run_id)
    scratch.unlink(missing_ok=True)
    reports = settings.restricted / "validation"
    try:
        scratch_config = {**SCRATCH_CONFIG, "memory_limit": settings.duckdb_memory_limit}
        with duckdb.connect(str(scratch), config=scratch_config) as scon:
            readable, rejected_on_read = read_into_scratch(scon, pending, outcomes)
            phases.mark("read files")
            prepare_scratch(scon)
            phases.mark("prepare scratch")
        if rejected_on_read:
            for outcome in rejected_on_read:
                outcome.report = write_report(outcome.export, reports / outcome.export, {}, [], [],
                                              outcome=f"rejected: {outcome.reason}")
            with connect() as con:
                for outcome in rejected_on_read:
                    finish(outcome, con)
        if not readable:
            return [outcomes[e.name] for e in exports]
        log.info(f"  checking the rows of {len(readable)} export(s) with Great Expectations")
        validations = validate_scratch(scratch, today)
        phases.mark("great expectations")
        write_gx_results(validations, reports / "_great_expectations" / run_id)
        accepted: list[str] = []
        with duckdb.connect(str(scratch), config=scratch_config) as scon:
            for e in readable:
                outcome = outcomes[e.name]
                sample = decide(scon, outcome, settings, replacing[e.name])
                outcome.report = write_report(
                    e.name, reports / e.name, outcome.failed_rules, validations, sample,
                    outcome=f"{outcome.status}: {outcome.reason}",
                )
                if outcome.status != "rejected":
                    accepted.append(e.name)
            prepare_check_rows(scon)
            phases.mark("decide and report")
            # Typed rows of every accepted export at once; each export's commit then takes its own.
            build_typed_rows(scon, accepted)
        phases.mark("typed rows")
        with connect() as con:
            con.execute("ATTACH ? AS scratch (READ_ONLY)", [str(scratch)])
            try:
                batch = [outcomes[e.name] for e in readable]
                _commit(con, run_id, [o for o in batch if o.status != "rejected"],
                        [o for o in batch if o.status == "rejected"])
                for outcome in batch:
                    announce(outcome)
            finally:
                with contextlib.suppress(duckdb.Error):  # after a failed commit: keep that error
                    con.execute("DETACH scratch")
        phases.mark("commit")
        return [outcomes[e.name] for e in exports]
    finally:
        for leftover in (scratch, Path(str(scratch) + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(str(scratch) + ".tmp", ignore_errors=True)
