"""Run the contract suites with Great Expectations against an export's scratch DuckDB file.

The scratch file holds the export's text tables (see :mod:`transforms.exports`). GX connects to
it through a SQL datasource, so every check is a query inside DuckDB. GX decides pass/fail and
counts per expectation; the failing rows themselves are then collected by running each failed
rule's own query in DuckDB (GX caps the rows it returns at 200), and the two counts are compared
so that the quarantine can never silently differ from the validation result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from expectations.rules import RULES_BY_FILE
from expectations.suites import build_suite, rule_query
from transforms.reference import read_reference
from transforms.restricted import private_dir, write_private


class QualityGateError(RuntimeError):
    """Great Expectations could not evaluate the suite (not a data problem)."""


@dataclass
class ExpectationOutcome:
    """One expectation's result: its rule and how many rows broke it."""

    name: str
    file: str
    rule: str
    column: str
    description: str
    success: bool
    unexpected_count: int


@dataclass
class FileValidation:
    """The validation of one file of an export."""

    file: str
    rows: int
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    gx_result: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        """The expectations that at least one row broke."""
        return [o for o in self.outcomes if not o.success]


def prepare_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Add what the rules need next to ``sessions_in`` / ``rom_in``: reference tables and duplicate counts."""
    con.execute(
        "CREATE OR REPLACE TABLE ref_instruments (instrument VARCHAR, score_min DOUBLE, score_max DOUBLE)"
    )
    con.executemany(
        "INSERT INTO ref_instruments VALUES (?, ?, ?)",
        [[r["instrument"], r["score_min"], r["score_max"]] for r in read_reference("instruments")],
    )
    con.execute("CREATE OR REPLACE TABLE ref_rom_normals (joint VARCHAR, movement VARCHAR, plausible_max DOUBLE)")
    con.executemany(
        "INSERT INTO ref_rom_normals VALUES (?, ?, ?)",
        [[r["joint"], r["movement"], r["plausible_max"]] for r in read_reference("rom_normals")],
    )
    # A session_id repeated within the export (same clinic) quarantines every copy.
    con.execute(
        "CREATE OR REPLACE TABLE sessions_in AS SELECT *, count(*) OVER (PARTITION BY export, clinic_id, session_id) "
        "AS _dup_count FROM sessions_in"
    )


def _release(datasource: Any) -> None:
    """Close every DuckDB connection GX opened on the scratch file (GX itself never does)."""
    execution_engine = getattr(datasource, "_execution_engine", None)
    if execution_engine is not None:
        connection = getattr(execution_engine, "_connection", None)
        if connection is not None:
            connection.close()
            execution_engine._connection = None
        execution_engine.engine.dispose()
    engine = getattr(datasource, "_engine", None)
    if engine is not None:
        engine.dispose()


def _exception_infos(info: Any) -> list[dict[str, Any]]:
    # GX reports either one exception dict or a dict of them keyed by metric.
    if not info:
        return []
    if "raised_exception" in info:
        return [info]
    return [v for v in info.values() if isinstance(v, dict)]


def _run_gx(scratch: Path, file: str, today: date) -> tuple[list[ExpectationOutcome], dict[str, Any]]:
    # GX takes seconds to import; only runs that validate something pay for it (see _run_gx_isolated).
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from expectations.gx_duckdb import enable_duckdb_persisted_connection

    enable_duckdb_persisted_connection()
    context = gx.get_context(mode="ephemeral")
    # GX's tqdm bars would interleave with the pipeline's own per-export progress lines.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_sql(name=f"scratch_{file}", connection_string=f"duckdb:///{scratch.resolve()}")
    try:
        batch_definition = datasource.add_table_asset(name=file, table_name=f"{file}_in").add_batch_definition_whole_table(
            "whole_export"
        )
        suite = context.suites.add(build_suite(file, today))
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{file}_validation", data=batch_definition, suite=suite)
        )
        result = validation.run(result_format="SUMMARY")
    finally:
        _release(datasource)
    outcomes = []
    for r in result.results:
        for info in _exception_infos(r.exception_info):
            if info.get("raised_exception"):
                raise QualityGateError(
                    f"Great Expectations could not evaluate {r.expectation_config.meta.get('name')}: "
                    f"{info.get('exception_message')}"
                )
        meta = r.expectation_config.meta
        outcomes.append(
            ExpectationOutcome(
                name=meta["name"], file=meta["file"], rule=meta["rule"], column=meta["column"],
                description=r.expectation_config.description or "", success=bool(r.success),
                unexpected_count=int(r.result.get("observed_value") or 0),
            )
        )
    return outcomes, result.to_json_dict()


def warm_up() -> None:
    """Start the validation helper (:mod:`expectations.gx_server`) now, so that it imports Great
    Expectations (seconds of work) on another core while this process goes on (starting Dagster,
    reading the exports). Does nothing when it runs already."""
    from expectations.gx_server import HELPER

    HELPER.start()


def cool_down() -> None:
    """Stop the validation helper started by :func:`warm_up` when nothing will need validating, so that its
    import stops taking a core from the run; the loader starts it again if an export needs it after all."""
    from expectations.gx_server import HELPER

    HELPER.stop()


def _run_gx_isolated(scratch: Path, file: str, today: date) -> tuple[list[ExpectationOutcome], dict[str, Any]]:
    """Run GX on one file kind of the scratch file in a child of the validation helper, which has GX
    imported already (see :mod:`expectations.gx_server` for why a child process)."""
    from expectations.gx_server import HELPER

    answer = HELPER.validate(scratch, file, today)
    if answer["status"] != "ok":
        raise QualityGateError(answer["message"])
    return [ExpectationOutcome(**o) for o in answer["outcomes"]], answer["raw"]


def validate_file(scratch: Path, file: str, today: date) -> FileValidation:
    """Validate ``<file>_in`` of the scratch database with the file's suite (scratch must be closed)."""
    outcomes, raw = _run_gx_isolated(scratch, file, today)
    with duckdb.connect(str(scratch), read_only=True) as con:
        rows = con.execute(f"SELECT count(*) FROM {file}_in").fetchone()[0]
    return FileValidation(file=file, rows=rows, outcomes=outcomes, gx_result=raw)


def ensure_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    """Create the scratch ``quarantine`` table (broken rule of a row) if it is not there yet."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS quarantine (export VARCHAR, file VARCHAR, row_number BIGINT, session_id VARCHAR, "
        "rule VARCHAR, column_name VARCHAR, value VARCHAR, original_value VARCHAR)"
    )


def collect_failures(con: duckdb.DuckDBPyConnection, validation: FileValidation, today: date) -> None:
    """Write every (row, broken rule) of the failed expectations into the scratch ``quarantine`` table.

    Raises :class:`QualityGateError` when a rule's rows differ in number from GX's count.
    """
    ensure_quarantine(con)
    rules = {r.name: r for r in RULES_BY_FILE[validation.file]()}
    for outcome in validation.failed:
        rule = rules[outcome.name]
        query = rule_query(rule, today, table=f"{validation.file}_in")
        inserted = con.execute(
            f"INSERT INTO quarantine SELECT export, ?, row_number, session_id, ?, ?, left(value, 200), "
            f"left(original_value, 200) FROM ({query})",
            [validation.file, rule.rule, rule.column],
        ).fetchone()[0]
        if inserted != outcome.unexpected_count:
            raise QualityGateError(
                f"{outcome.name}: Great Expectations counted {outcome.unexpected_count} rows but the rule selects {inserted}"
            )


def write_gx_results(validations: list[FileValidation], folder: Path) -> None:
    """Keep Great Expectations' own validation results (JSON) of a run in the restricted folder (owner-only)."""
    private_dir(folder)
    for v in validations:
        write_private(folder / f"{v.file}.json", json.dumps(v.gx_result, indent=1, default=str))


def write_report(
    export: str, folder: Path, failed_rules: dict[str, int], validations: list[FileValidation], sample: list[tuple],
    outcome: str = "",
) -> Path:
    """Write one export's validation report (an offline HTML page) into the restricted folder (owner-only).

    The outcome (``outcome``: status and full reason, with row and line numbers) comes first, then
    each expectation of both suites with the number of this export's rows breaking it, then the
    first quarantined rows. The page names rows, so it never goes to the site. An export rejected
    before validation (it could not be read, or holds an identifier) has only its outcome.
    """
    private_dir(folder)
    return write_private(folder / "index.html", _render_report(export, failed_rules, validations, sample, outcome))


def _esc(value: object) -> str:
    from html import escape

    return escape("" if value is None else str(value))


def _render_report(
    export: str, failed_rules: dict[str, int], validations: list[FileValidation], sample: list[tuple], outcome: str = ""
) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Validation: " + _esc(export) + "</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.fail{color:#b00020}.ok{color:#1b7f3b}"
        ".note{background:#fff4e5;padding:.6em 1em;border-left:4px solid #e69500}</style></head><body>",
        f"<h1>Validation results for export <code>{_esc(export)}</code></h1>",
        "<p class='note'>Restricted: this page lists failing rows (session ids and values). "
        "Keep it inside the clinic; it is never published.</p>",
    ]
    if outcome:
        parts.append(f"<h2>Outcome</h2><p>{_esc(outcome)}</p>")
    for v in validations:
        failed = sum(1 for o in v.outcomes if failed_rules.get(o.name))
        parts.append(f"<h2>{_esc(v.file)}: {len(v.outcomes)} expectations, {failed} failed for this export</h2>")
        parts.append("<table><tr><th>expectation</th><th>rule</th><th>status</th><th>rows breaking it</th></tr>")
        for o in v.outcomes:
            n = failed_rules.get(o.name, 0)
            status = "<span class='fail'>failed</span>" if n else "<span class='ok'>passed</span>"
            parts.append(
                f"<tr><td><code>{_esc(o.name)}</code></td><td>{_esc(o.description)}</td><td>{status}</td><td>{n}</td></tr>"
            )
        parts.append("</table>")
    if sample:
        parts.append(
            f"<h2>Quarantined rows (first {len(sample)})</h2><table><tr><th>file</th><th>row</th>"
            "<th>session_id</th><th>rule</th><th>column</th><th>value</th><th>value in the export (before its "
            "mapping profile)</th></tr>"
        )
        for row in sample:
            parts.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
