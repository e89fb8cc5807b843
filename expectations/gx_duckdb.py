"""Make Great Expectations 1.24 work on DuckDB through SQLAlchemy (duckdb-engine).

GX reads metric results after closing a pooled connection, which on DuckDB returns no rows
(every expectation fails with ``MetricResolutionError: list index out of range``; GX issues
#10738 and #11579). GX already keeps one persisted connection for a few dialects (SQLite,
SQL Server...); registering ``duckdb`` among them fixes the problem. The list holds
``GXSqlDialect`` enum members, which are compared both by ``.value`` and by equality with the
dialect name, so the registered marker is a ``str`` that also has a ``.value``.

``tests/expectations/test_gx_duckdb.py`` fails if a GX upgrade breaks this.
"""

from __future__ import annotations

from great_expectations.execution_engine import sqlalchemy_execution_engine as _engine


class _DialectName(str):
    """A dialect name usable where GX expects a ``GXSqlDialect`` member."""

    @property
    def value(self) -> str:
        return str(self)


DUCKDB = _DialectName("duckdb")


def enable_duckdb_persisted_connection() -> None:
    """Register DuckDB among GX's persisted-connection dialects (idempotent)."""
    dialects = _engine._PERSISTED_CONNECTION_DIALECTS
    if DUCKDB not in dialects:
        _engine._PERSISTED_CONNECTION_DIALECTS = (*dialects, DUCKDB)
