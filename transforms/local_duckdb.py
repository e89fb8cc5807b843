"""One in-memory DuckDB per process for small computations outside the warehouse.

Checking names and values against the identifier rule, or a file's header, runs the production SQL
on a handful of values. Opening a DuckDB database costs 20-40 ms (more than the query); a run did it
about ten times. Every caller now gets a cursor of one in-memory database: a cursor is a connection
of its own (its temporary objects end with it, and each thread may hold one), at no start-up cost.
The database holds nothing persistent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

_LOCK = threading.Lock()
# By process id: a forked child opens its own, and leaves the parent's untouched (its threads do not
# exist in the child, so even closing it there could wait forever).
_DATABASE: dict[int, duckdb.DuckDBPyConnection] = {}


@contextmanager
def local_cursor() -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh connection (cursor) to the process's in-memory DuckDB, closed on exit."""
    with _LOCK:
        pid = os.getpid()
        if pid not in _DATABASE:
            _DATABASE[pid] = duckdb.connect(":memory:")
        cursor = _DATABASE[pid].cursor()
    try:
        yield cursor
    finally:
        cursor.close()
