"""Loading exports into the warehouse: read, validate, then one transaction per export.

Contract rules (export-format.md):
- an unchanged export (same checksum as its loaded version) is a no-op recorded as ``unchanged``;
- a changed export with the same folder name replaces its earlier version as a whole;
- a whole-export problem, or more than ``reject_share`` of rows breaking a row rule, rejects
  the export and leaves every data table exactly as it was (only ``ops.load_log`` records it);
- otherwise valid rows go to ``raw.*`` and each broken rule of a row to ``quarantine.rejected_rows``.

Exports of one run are validated together (one Great Expectations run per file kind over a scratch
DuckDB file holding every new export's rows, told apart by an ``export`` column) because GX's fixed
cost per run would otherwise dominate; every decision and every write is still per export, and the
warehouse is touched only by :func:`_commit`, one transaction per export, in folder-name order.
"""

from __future__ import annotations

import logging
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
    write_gx_results,
    write_report,
)
from transforms import contract
from transforms.config import Settings
from transforms.exports import ExportFolder, ExportRejected, read_export
from transforms.sqlmodels import install_macros

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


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse schemas and the ops/quarantine/raw tables if they do not exist."""
    con.execute(SCHEMA_SQL.read_text(encoding="utf-8"))


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
           NULLIF(array_to_string(list_filter(list_transform(string_split(techniques, ';'), lambda x: trim(x)),
                  lambda x: x <> ''), ';'), '') AS techniques,
           CAST(pain_pre AS DOUBLE) AS pain_pre, CAST(pain_post AS DOUBLE) AS pain_post,
           function_instrument, CAST(function_score AS DOUBLE) AS function_score,
           age_band, sex, CAST(symptom_weeks AS DOUBLE) AS symptom_weeks,
           CASE WHEN goals_documented IN ({true_list}) THEN TRUE
                WHEN goals_documented IN ({false_list}) THEN FALSE END AS goals_documented,
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


def _previous(con: duckdb.DuckDBPyConnection, export: str, checksum: str) -> tuple[str | None, str | None]:
    """(status, reason) when this exact version was seen before, else (None, checksum of the loaded version)."""
    loaded = con.execute("SELECT checksum, loaded_at FROM ops.exports WHERE export = ?", [export]).fetchall()
    if loaded and loaded[0][0] == checksum:
        return "loaded", f"unchanged since it was loaded at {loaded[0][1]:%Y-%m-%d %H:%M}"
    rejected = con.execute(
        "SELECT reason, loaded_at FROM ops.load_log WHERE export = ? AND checksum = ? AND status = 'rejected' "
        "ORDER BY loaded_at DESC LIMIT 1",
        [export, checksum],
    ).fetchall()
    if rejected:
        return "rejected", f"unchanged since it was rejected at {rejected[0][1]:%Y-%m-%d %H:%M}: {rejected[0][0]}"
    return None, loaded[0][0] if loaded else None


def _log(con: duckdb.DuckDBPyConnection, run_id: str, outcome: LoadOutcome) -> None:
    con.execute(
        "INSERT INTO ops.load_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id, outcome.export, outcome.status, outcome.reason, outcome.rows_in, outcome.rows_loaded,
            outcome.rows_quarantined, outcome.checksum, datetime.now(), "; ".join(outcome.warnings) or None,
        ],
    )


def _summarise_rules(failed: dict[str, int], limit: int = 3) -> str:
    top = sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    text = ", ".join(f"{name} ({n})" for name, n in top)
    return text + (f" and {len(failed) - limit} more" if len(failed) > limit else "")


def _validate(scratch: Path, today: date) -> list[FileValidation]:
    """Run both suites on the scratch file and fill its ``quarantine`` table."""
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


def _commit(con: duckdb.DuckDBPyConnection, run_id: str, outcome: LoadOutcome, replacing: bool) -> None:
    """Replace the export's rows in the warehouse and log the outcome, all in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        if replacing:
            for table in ("raw.sessions", "raw.rom", "quarantine.rejected_rows"):
                con.execute(f"DELETE FROM {table} WHERE export = ?", [outcome.export])
        con.execute("INSERT INTO raw.sessions SELECT * FROM scratch.sessions_typed WHERE export = ?", [outcome.export])
        con.execute("INSERT INTO raw.rom SELECT * FROM scratch.rom_typed WHERE export = ?", [outcome.export])
        con.execute(
            "INSERT INTO quarantine.rejected_rows SELECT export, file, row_number, session_id, rule, column_name, value "
            "FROM scratch.quarantine WHERE export = ? ORDER BY file, row_number, rule, column_name",
            [outcome.export],
        )
        now = datetime.now()
        if replacing:
            con.execute(
                "UPDATE ops.exports SET checksum = ?, loaded_at = ? WHERE export = ?", [outcome.checksum, now, outcome.export]
            )
        else:
            con.execute(
                "INSERT INTO ops.exports SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ? FROM ops.exports",
                [outcome.export, outcome.checksum, now, now],
            )
        _log(con, run_id, outcome)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _decide(scon: duckdb.DuckDBPyConnection, outcome: LoadOutcome, settings: Settings, replacing: bool) -> list[tuple]:
    """Set the outcome from the export's quarantined rows; returns a sample of them for the report."""
    bad_rows = scon.execute(
        "SELECT count(*) FROM (SELECT DISTINCT file, row_number FROM quarantine WHERE export = ?)", [outcome.export]
    ).fetchall()[0][0]
    outcome.failed_rules = dict(
        scon.execute(
            "SELECT file || '.' || column_name || '.' || rule, count(*) FROM quarantine WHERE export = ? GROUP BY ALL",
            [outcome.export],
        ).fetchall()
    )
    outcome.rows_quarantined = bad_rows
    rows_in = outcome.rows_in or 0
    share = Decimal(bad_rows) / Decimal(rows_in) if rows_in else Decimal(0)
    if share > settings.reject_share:
        outcome.status = "rejected"
        outcome.reason = (
            f"{bad_rows} of {rows_in} rows ({share:.1%}) break a row rule, more than the "
            f"{settings.reject_share:.0%} allowed; most often: {_summarise_rules(outcome.failed_rules)}"
        )
    else:
        outcome.rows_loaded = rows_in - bad_rows
        outcome.status = "replaced" if replacing else "loaded"
        verb = "replaced the earlier version with" if replacing else "loaded"
        outcome.reason = f"{verb} {outcome.rows_loaded} of {rows_in} rows"
        if bad_rows:
            outcome.reason += f"; {bad_rows} quarantined: {_summarise_rules(outcome.failed_rules)}"
    return scon.execute(
        "SELECT file, row_number, session_id, rule, column_name, value FROM quarantine WHERE export = ? "
        "ORDER BY file DESC, row_number, rule LIMIT 500",
        [outcome.export],
    ).fetchall()


def load_exports(
    exports: list[ExportFolder],
    connect: WarehouseConnect,
    settings: Settings,
    run_id: str,
    today: date | None = None,
    progress: Callable[[LoadOutcome], None] | None = None,
) -> list[LoadOutcome]:
    """Load export folders into the warehouse; returns one outcome per export, in folder-name order.

    ``connect`` opens the (locked) warehouse connection; it is held only for the quick look-up of
    previous versions and for each export's commit, never while files are read or GX runs.
    ``progress`` is called once per export as soon as its outcome is known.
    """
    today = today or date.today()
    exports = sorted(exports, key=lambda e: e.name)
    outcomes = {e.name: LoadOutcome(export=e.name, status="", reason="", checksum=e.checksum) for e in exports}
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
    with connect() as con:
        ensure_schema(con)
        for e in exports:
            status, detail = _previous(con, e.name, outcomes[e.name].checksum)
            if status is not None:
                outcomes[e.name].status, outcomes[e.name].reason = "unchanged", detail or ""
                finish(outcomes[e.name], con)
            else:
                replacing[e.name] = detail is not None
                pending.append(e)
    if not pending:
        return [outcomes[e.name] for e in exports]

    scratch_dir = settings.warehouse.parent / ".scratch"
    scratch_dir.mkdir(parents=True, exist_ok=True)
    scratch = scratch_dir / f"{run_id}.duckdb"
    scratch.unlink(missing_ok=True)
    try:
        readable: list[ExportFolder] = []
        rejected_on_read: list[LoadOutcome] = []
        scratch_config = {**SCRATCH_CONFIG, "memory_limit": settings.duckdb_memory_limit}
        with duckdb.connect(str(scratch), config=scratch_config) as scon:
            for kind, columns in contract.FILE_COLUMNS.items():
                cols = ", ".join(f"{c} VARCHAR" for c in columns)
                scon.execute(f"CREATE TABLE {kind}_in (row_number BIGINT, export VARCHAR, {cols})")
            held: list[int] = []  # exports whose text tables wait to be appended to the *_in tables
            held_rows = 0
            log.info(f"  reading {len(pending)} new or changed export(s)")
            step = max(1, len(pending) // 10)
            for i, e in enumerate(pending, 1):
                if len(pending) >= 20 and i % step == 0:
                    log.info(f"    read {i}/{len(pending)}")
                outcome = outcomes[e.name]
                try:
                    read = read_export(e, scon)
                except ExportRejected as exc:
                    outcome.status, outcome.reason = "rejected", str(exc)
                    rejected_on_read.append(outcome)
                    continue
                outcome.warnings = read.warnings
                outcome.rows_in = sum(read.rows.values())
                for kind in contract.FILE_COLUMNS:
                    scon.execute(f"ALTER TABLE {kind}_new RENAME TO {kind}_held_{i}")
                held.append(i)
                held_rows += outcome.rows_in
                if held_rows >= APPEND_BATCH_ROWS:
                    _append_held(scon, held)
                    held, held_rows = [], 0
                readable.append(e)
            _append_held(scon, held)
            phases.mark("read files")
            prepare_scratch(scon)
            phases.mark("prepare scratch")
        if rejected_on_read:
            with connect() as con:
                for outcome in rejected_on_read:
                    finish(outcome, con)
        if not readable:
            return [outcomes[e.name] for e in exports]
        log.info(f"  checking the rows of {len(readable)} export(s) with Great Expectations")
        validations = _validate(scratch, today)
        phases.mark("great expectations")
        write_gx_results(validations, settings.restricted / "validation" / "_great_expectations" / run_id)
        accepted: list[str] = []
        with duckdb.connect(str(scratch), config=scratch_config) as scon:
            for e in readable:
                outcome = outcomes[e.name]
                sample = _decide(scon, outcome, settings, replacing[e.name])
                outcome.report = write_report(
                    e.name, settings.restricted / "validation" / e.name, outcome.failed_rules, validations, sample
                )
                if outcome.status != "rejected":
                    accepted.append(e.name)
            phases.mark("decide and report")
            # Typed rows of every accepted export at once; each export's commit then takes its own.
            scon.execute("CREATE OR REPLACE TEMP TABLE accepted (export VARCHAR)")
            if accepted:
                scon.executemany("INSERT INTO accepted VALUES (?)", [[name] for name in accepted])
            install_macros(scon)  # normalise_icd10
            scon.execute(f"CREATE OR REPLACE TABLE sessions_typed AS {_typed_sessions_sql()}")
            scon.execute(f"CREATE OR REPLACE TABLE rom_typed AS {TYPED_ROM_SQL}")
        phases.mark("typed rows")
        with connect() as con:
            con.execute("ATTACH ? AS scratch (READ_ONLY)", [str(scratch)])
            try:
                for e in readable:
                    outcome = outcomes[e.name]
                    if outcome.status == "rejected":
                        finish(outcome, con)
                    else:
                        _commit(con, run_id, outcome, replacing[e.name])
                        announce(outcome)
            finally:
                con.execute("DETACH scratch")
        phases.mark("commit")
        return [outcomes[e.name] for e in exports]
    finally:
        scratch.unlink(missing_ok=True)
        Path(str(scratch) + ".wal").unlink(missing_ok=True)
