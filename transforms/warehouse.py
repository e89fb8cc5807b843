"""Opening the DuckDB warehouse with a single-writer lock.

DuckDB allows one writing process per database file. Every writer of this project opens the
warehouse through :func:`open_warehouse`, which first takes an exclusive ``flock`` on
``<warehouse>.lock``; a second writer (another run, another Dagster step, another process)
waits up to ``timeout`` seconds and then fails with :class:`WarehouseLocked` instead of racing
DuckDB's own file lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


class WarehouseLocked(RuntimeError):
    """Another process is writing the warehouse."""


class WarehouseUnavailable(RuntimeError):
    """The warehouse file cannot be created or opened."""


def lock_path(warehouse: Path) -> Path:
    """The lock file that guards one warehouse file."""
    return warehouse.with_name(warehouse.name + ".lock")


@contextmanager
def warehouse_lock(warehouse: Path, timeout: float) -> Iterator[None]:
    """Hold the exclusive writer lock of ``warehouse`` (waiting at most ``timeout`` seconds)."""
    try:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path(warehouse), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WarehouseUnavailable(f"cannot write the warehouse folder {warehouse.parent}: {exc.strerror}") from exc
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                    raise WarehouseLocked(
                        f"the warehouse {warehouse} is being written by another run (pid {holder}); "
                        f"waited {timeout:g} s"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def open_warehouse(
    warehouse: Path, timeout: float = 10.0, read_only: bool = False, memory_limit: str = "600MB"
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection to the warehouse; writers hold the single-writer lock while it is open."""
    if read_only:
        if not warehouse.exists():
            raise WarehouseUnavailable(f"the warehouse {warehouse} does not exist yet; run `outcomes run` first")
        with duckdb.connect(str(warehouse), read_only=True) as con:
            yield con
        return
    with warehouse_lock(warehouse, timeout):
        try:
            # Many small per-export transactions: checkpoint once at the end, not after every few of them.
            con = duckdb.connect(
                str(warehouse), config={"checkpoint_threshold": "1GB", "memory_limit": memory_limit}
            )
        except duckdb.IOException as exc:
            message = str(exc).splitlines()[0]
            if "lock" in message.lower():
                raise WarehouseLocked(f"the warehouse {warehouse} is locked by another program: {message}") from exc
            raise WarehouseUnavailable(f"cannot open the warehouse {warehouse}: {message}") from exc
        try:
            yield con
        finally:
            con.close()
