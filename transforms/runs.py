"""Run provenance: ``ops.runs``, one row per pipeline run (issue: which exports and settings made this number?).

A run is recorded when it starts (its settings and the pipeline's version) and completed when it has
built everything (the exports in the warehouse with their checksums, the reference tables'
checksums, the data period per clinic and the rows loaded and quarantined). The published pages
name the run that produced them; the index page shows its exports and settings.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from transforms.config import Settings

PACKAGE = "massage-outcomes"
PATH_SETTINGS = frozenset({"inbox", "warehouse", "site", "restricted", "reference_dir"})
OPERATIONAL_SETTINGS = frozenset({"lock_timeout_s", "duckdb_memory_limit"})


@cache
def pipeline_version() -> tuple[str, str | None]:
    """(package version, git commit) of the running pipeline; the commit is None outside a git checkout."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "unknown"
    root = Path(__file__).resolve().parents[1]
    commit = None
    if (root / ".git").exists():
        try:
            out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                 text=True, timeout=5, check=False)
            commit = out.stdout.strip() or None
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5, check=False)
            if commit and dirty.stdout.strip():
                commit += "+modified"
        except (OSError, subprocess.SubprocessError):
            commit = None
    return version, commit


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def settings_in_force(settings: Settings, *, public: bool = False) -> dict[str, Any]:
    """Every setting of a run as JSON-ready values; ``public`` leaves out folders and operational knobs."""
    values = {f.name: _plain(getattr(settings, f.name)) for f in dataclasses.fields(Settings)}
    if public:
        values = {k: v for k, v in values.items() if k not in PATH_SETTINGS | OPERATIONAL_SETTINGS}
        values["reference_tables"] = "shipped" if settings.reference_dir is None else "overridden"
    return values


def default_settings() -> dict[str, Any]:
    """The spec's defaults, in the same form as :func:`settings_in_force` (public)."""
    return settings_in_force(Settings(), public=True)


def begin_run(con: duckdb.DuckDBPyConnection, run_id: str, settings: Settings) -> None:
    """Record that a run started (idempotent: a run's later steps find the row already there)."""
    version, commit = pipeline_version()
    con.execute(
        "INSERT INTO ops.runs (run_id, started_at, status, pipeline_version, git_commit, settings_json) "
        "VALUES (?, ?, 'running', ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
        [run_id, datetime.now().replace(microsecond=0), version, commit,
         json.dumps(settings_in_force(settings), sort_keys=True)],
    )


_REFERENCE_SQL = """
SELECT table_name FROM duckdb_tables() WHERE schema_name = 'ref' AND NOT temporary ORDER BY table_name
"""


def _reference_checksums(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    sums = {}
    for (name,) in con.execute(_REFERENCE_SQL).fetchall():
        if not name.replace("_", "").isalnum():
            continue
        digest = con.execute(
            f"SELECT md5(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)), '')) "
            f"FROM ref.{name} t"
        ).fetchall()[0][0]
        sums[name] = digest
    return sums


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str = "succeeded") -> None:
    """Complete a run's row with what it produced: exports, reference checksums, data period, row counts."""
    if status not in ("succeeded", "failed"):
        raise ValueError(f"bad run status {status!r}")
    exports = [
        {"export": e, "checksum": c, "load_order": int(s)}
        for e, c, s in con.execute("SELECT export, checksum, seq FROM ops.exports ORDER BY seq").fetchall()
    ]
    period = {}
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'staging' "
                   "AND table_name = 'sessions'").fetchall()[0][0]:
        period = {c: [str(a), str(b)] for c, a, b in con.execute(
            "SELECT clinic_id, min(session_date), max(session_date) FROM staging.sessions GROUP BY 1 ORDER BY 1"
        ).fetchall()}
    loaded = con.execute(
        "SELECT (SELECT count(*) FROM raw.sessions) + (SELECT count(*) FROM raw.rom)").fetchall()[0][0]
    quarantined = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT export, file, row_number FROM quarantine.rejected_rows)"
    ).fetchall()[0][0]
    con.execute(
        "UPDATE ops.runs SET finished_at = ?, status = ?, reference_json = ?, exports_json = ?, "
        "data_period_json = ?, rows_loaded = ?, rows_quarantined = ? WHERE run_id = ?",
        [datetime.now().replace(microsecond=0), status, json.dumps(_reference_checksums(con), sort_keys=True),
         json.dumps(exports), json.dumps(period, sort_keys=True), loaded, quarantined, run_id],
    )


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One row of ``ops.runs`` as the pages show it."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    pipeline_version: str
    git_commit: str | None
    settings: dict[str, Any]
    reference: dict[str, str]
    exports: list[dict[str, Any]]
    data_period: dict[str, list[str]]
    rows_loaded: int | None
    rows_quarantined: int | None

    @property
    def version_text(self) -> str:
        """``0.1.0 (commit abc123)`` or just the version."""
        return self.pipeline_version + (f" (commit {self.git_commit})" if self.git_commit else "")


def read_run(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> RunRecord | None:
    """The given run, or the latest one; None when no run is recorded."""
    sql = ("SELECT run_id, started_at, finished_at, status, pipeline_version, git_commit, settings_json, "
           "reference_json, exports_json, data_period_json, rows_loaded, rows_quarantined FROM ops.runs ")
    rows = (con.execute(sql + "WHERE run_id = ?", [run_id]) if run_id
            else con.execute(sql + "ORDER BY started_at DESC, run_id DESC LIMIT 1")).fetchall()
    if not rows:
        return None
    r = rows[0]
    return RunRecord(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7] or "{}"),
                     json.loads(r[8] or "[]"), json.loads(r[9] or "{}"), r[10], r[11])
