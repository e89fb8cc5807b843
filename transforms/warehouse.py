"""Opening the DuckDB warehouse with a single-writer lock, and saying clearly why it cannot be written.

DuckDB allows one writing process per database file. Every writer of this project opens the
warehouse through :func:`open_warehouse`, which first takes an exclusive ``flock`` on
``<warehouse>.lock``; a second writer (another run, another Dagster step, another process)
waits up to ``timeout`` seconds and then fails with :class:`WarehouseLocked`, naming the run
that holds it, instead of racing DuckDB's own file lock.

The lock is re-entrant within a process. ``outcomes run`` takes it once, from its first read to
its last page (:func:`warehouse_lock`), and every step of the run then reuses it: ``flock`` locks
belong to an open file description, so a step opening the lock file again and calling ``flock``
would wait for its own process until the timeout.

The warehouse file and its lock file are owner-only (0600) whatever the umask: the warehouse
holds row-level data.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from transforms.config import DEFAULT_MEMORY_LIMIT

PRIVATE_FILE_MODE = 0o600


class WarehouseLocked(RuntimeError):
    """Another process is writing the warehouse."""


class WarehouseUnavailable(RuntimeError):
    """The warehouse file cannot be created or opened."""


def lock_path(warehouse: Path) -> Path:
    """The lock file that guards one warehouse file."""
    return warehouse.with_name(warehouse.name + ".lock")


@dataclass
class _Held:
    fd: int
    depth: int


# Warehouse locks this process holds: absolute lock path -> descriptor and nesting depth.
_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()


def _forget_locks_in_child() -> None:
    # A forked child (Great Expectations runs in one) must not keep the parent's lock alive: if the
    # parent is killed, the lock must go with it, not wait for the child to finish.
    global _GUARD
    for held in _HELD.values():
        with suppress(OSError):
            os.close(held.fd)
    _HELD.clear()
    _GUARD = threading.Lock()


os.register_at_fork(after_in_child=_forget_locks_in_child)


def _key(warehouse: Path) -> str:
    return os.path.realpath(lock_path(warehouse))


def holds_lock(warehouse: Path) -> bool:
    """True when this process already holds the writer lock of ``warehouse``."""
    with _GUARD:
        return _key(warehouse) in _HELD


# --- one line for a failure of the storage ---------------------------------------------------------

_STORAGE_CAUSES = (
    ((errno.ENOSPC, errno.EDQUOT), r"no space left on device|disk quota exceeded|disk is full",
     "the disk is full"),
    ((errno.EROFS,), r"read-only file system", "the folder is on a read-only file system"),
    ((errno.EACCES, errno.EPERM), r"permission denied|operation not permitted",
     "permission denied (the folder is read-only for this user)"),
)


def storage_problem(error: BaseException | str) -> str | None:
    """A short description when ``error`` is a full disk, a read-only file system or a denied write, else None."""
    number = getattr(error, "errno", None)
    text = str(error).lower()
    for numbers, pattern, description in _STORAGE_CAUSES:
        if number in numbers or re.search(pattern, text):
            return description
    return None


def storage_path(error: BaseException | str) -> str | None:
    """The file or folder a storage error names (an ``OSError``'s filename, or a quoted path in a message)."""
    filename = getattr(error, "filename", None)
    if filename:
        return str(filename)
    found = re.search(r"[\"']((?:/|\.{1,2}/)[^\"']+)[\"']", str(error))
    return found.group(1) if found else None


def describe_storage_error(error: BaseException | str, fallback_path: Path | str | None = None) -> str | None:
    """``"the disk is full: cannot write <path>"`` and the like, or None when it is not a storage failure."""
    problem = storage_problem(error)
    if problem is None:
        return None
    path = storage_path(error) or (str(fallback_path) if fallback_path else None)
    return f"{problem}: cannot write {path}" if path else problem


def check_writable_folder(folder: Path, what: str = "the warehouse folder") -> None:
    """Create ``folder`` if needed and prove it can be written (a probe file), or raise :class:`WarehouseUnavailable`.

    Permission bits do not stop root, and a read-only mount stops everyone: writing a file is the
    only reliable test. ``what`` names the folder in the message.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        problem = storage_problem(exc) or (exc.strerror or str(exc)).lower()
        raise WarehouseUnavailable(f"cannot write {what} {folder}: {problem}") from exc


# --- the lock -----------------------------------------------------------------------------------------


def _acquire(warehouse: Path, timeout: float, holder: str) -> int:
    try:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path(warehouse), os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    except OSError as exc:
        problem = storage_problem(exc) or (exc.strerror or str(exc)).lower()
        raise WarehouseUnavailable(f"cannot write the warehouse folder {warehouse.parent}: {problem}") from exc
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    other = os.pread(fd, 300, 0).decode(errors="replace").strip() or "a process that did not say"
                    raise WarehouseLocked(
                        f"the warehouse {warehouse} is being written by another run ({other}); "
                        f"waited {timeout:g} s: try again when it has finished"
                    ) from None
                time.sleep(0.05)
        os.fchmod(fd, PRIVATE_FILE_MODE)
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _holder_text(holder: str | None) -> str:
    who = holder or "a pipeline step"
    return f"{who}, pid {os.getpid()}, since {datetime.now():%Y-%m-%d %H:%M:%S}"


@contextmanager
def warehouse_lock(warehouse: Path, timeout: float, holder: str | None = None) -> Iterator[None]:
    """Hold the exclusive writer lock of ``warehouse`` (waiting at most ``timeout`` seconds).

    Re-entrant within this process: when the process already holds the lock (an ``outcomes run``
    holds it for the whole run), the inner holder reuses it at once. ``holder`` says who holds it
    (for example ``"outcomes run 20261006T101502-ab12cd"``); a run that has to give up quotes it.
    """
    key = _key(warehouse)
    with _GUARD:
        held = _HELD.get(key)
        if held is not None:
            held.depth += 1
    if held is not None:
        try:
            yield
        finally:
            with _GUARD:
                held.depth -= 1
        return
    fd = _acquire(warehouse, timeout, _holder_text(holder))
    with _GUARD:
        _HELD[key] = _Held(fd, 1)
    try:
        yield
    finally:
        with _GUARD:
            _HELD.pop(key, None)
        os.close(fd)  # closing the descriptor releases the lock


def make_owner_only(warehouse: Path) -> None:
    """Make the warehouse file and its write-ahead log owner-only (0600), whatever the umask."""
    for path in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
        with suppress(FileNotFoundError):
            os.chmod(path, PRIVATE_FILE_MODE)


@contextmanager
def open_warehouse(
    warehouse: Path, timeout: float = 10.0, read_only: bool = False, memory_limit: str = DEFAULT_MEMORY_LIMIT
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
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            if "lock" in message.lower():
                raise WarehouseLocked(f"the warehouse {warehouse} is locked by another program: {message}") from exc
            storage = describe_storage_error(exc, warehouse)
            raise WarehouseUnavailable(f"cannot open the warehouse {warehouse}: {storage or message}") from exc
        make_owner_only(warehouse)
        try:
            yield con
        finally:
            con.close()
            make_owner_only(warehouse)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``BEGIN`` ... ``COMMIT``, rolled back on any error, and the *original* error raised.

    When ``COMMIT`` itself fails (a full disk), DuckDB has already ended the transaction; a second
    error from ``ROLLBACK`` ("no transaction is active") must not hide the real cause.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):  # the transaction may already be over; the error being raised says why
            con.execute("ROLLBACK")
        raise
