"""Great Expectations suites built from the contract's row rules.

``sessions`` and ``rom`` each get one suite; every :class:`~expectations.rules.RowRule` becomes
an ``UnexpectedRowsExpectation`` whose SQL runs inside DuckDB (pushed down, never a pandas copy).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from expectations.rules import PARAM_TODAY, RULES_BY_FILE, RowRule

if TYPE_CHECKING:
    import great_expectations as gx


def rule_query(rule: RowRule, today: date, table: str = "{batch}") -> str:
    """The rule's SQL with the run date filled in.

    For Great Expectations (``{batch}`` kept) it selects the breaking rows' keys only: GX decides
    whether the export passes and counts the rows, and runs each query twice (row count, sample), so
    the identifier-withholding expression (dozens of patterns, compiled whenever a query is bound)
    cost about 1.5 s of every validation; and GX's results then hold no value at all. The
    quarantine's own query (``table`` given) also selects the values, withheld where they look like
    identifiers or (outside ``session_date``) dates.
    """
    gx = table == "{batch}"
    sql = rule.query("{batch}", values=not gx).replace(PARAM_TODAY, f"DATE '{today.isoformat()}'")
    # GX formats the query with str.format (so regex braces are doubled); do the same for our own runs.
    return sql if gx else sql.format(batch=table)


def build_suite(file: str, today: date) -> gx.ExpectationSuite:
    """The expectation suite of one export file kind (``sessions`` or ``rom``)."""
    import great_expectations as gx  # imported on use: seconds of start-up for runs that validate nothing

    suite = gx.ExpectationSuite(name=f"{file}_contract")
    for rule in RULES_BY_FILE[file]():
        suite.add_expectation(
            gx.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query=rule_query(rule, today),
                description=rule.description,
                meta={"rule": rule.rule, "column": rule.column, "file": rule.file, "name": rule.name},
            )
        )
    return suite
