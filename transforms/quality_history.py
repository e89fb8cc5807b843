"""Data-quality history: every check's result per run, export and rule, with its numerator and denominator.

``ops.check_results`` holds, for every run, the result of each row rule of the contract for every
export the run validated (rows checked, rows failing, whether that version was loaded), and of
each integrity check of staging and the marts. From it:

- the *state* after a run is, for every export, the results of its latest *accepted* validation at
  or before that run (an export that was never accepted has no state);
- between two consecutive runs that validated something, an (export, rule) pair is **new** when it
  fails now and did not before, **resolved** when it failed before and does not now, and
  **persisting** when it fails in both.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from expectations.rules import RULES_BY_FILE
from transforms.sqlmodels import create_table, query


def prepare_check_rows(scon: duckdb.DuckDBPyConnection) -> None:
    """On a run's scratch database (after validation): ``check_rows`` (each export x rule: rows checked and
    failing) and ``quarantine_context`` (each quarantined row's clinic and session month)."""
    scon.execute("CREATE OR REPLACE TEMP TABLE _rules (file VARCHAR, rule VARCHAR)")
    scon.executemany("INSERT INTO _rules VALUES (?, ?)",
                     [[file, r.name] for file, rules in RULES_BY_FILE.items() for r in rules()])
    create_table(scon, "main.check_rows", "ops/check_rows", rules="_rules")
    create_table(scon, "main.quarantine_context", "ops/quarantine_context")


def record_row_rules(con: duckdb.DuckDBPyConnection, run_id: str, exports: str, accepted: bool) -> None:
    """Keep the row-rule results of validated exports: those listed in the temporary table ``exports``
    (column ``export``), with the run's scratch database attached as ``scratch``."""
    if not exports.replace("_", "").isalnum():
        raise ValueError(f"bad table name {exports!r}")
    con.execute(
        "INSERT INTO ops.check_results SELECT ?, ?, 'row_rule', export, ?, rule, rows_checked, rows_failing "
        f"FROM scratch.check_rows WHERE export IN (SELECT export FROM {exports}) ORDER BY export, rule",
        [run_id, datetime.now().replace(microsecond=0), accepted],
    )


def record_integrity(con: duckdb.DuckDBPyConnection, run_id: str, rule: str, checked: int, failing: int) -> None:
    """Keep one integrity check's result (its denominator and the rows or groups that break it)."""
    con.execute(
        "INSERT INTO ops.check_results VALUES (?, ?, 'integrity', NULL, NULL, ?, ?, ?)",
        [run_id, datetime.now().replace(microsecond=0), rule, int(checked), int(failing)],
    )


def rule_changes(con: duckdb.DuckDBPyConnection):
    """Per row rule: failing rows of the current state after each run, and the (export, rule) pairs that
    are new, resolved or persisting since the previous run (``transforms/sql/ops/rule_changes.sql``)."""
    return query(con, "ops/rule_changes")
