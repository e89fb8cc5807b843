"""No two processes write the warehouse at once: the lock serialises them, or fails clearly."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from transforms.warehouse import WarehouseLocked, holds_lock, open_warehouse, warehouse_lock


def _hold(path: str, ready, release) -> None:
    with warehouse_lock(Path(path), timeout=5):
        ready.set()
        release.wait(60)  # held until the test says so, not for a fixed time a stalled machine could outlast


def _writer(path: str, n: int) -> None:
    for _ in range(n):
        with open_warehouse(Path(path), timeout=60) as con:
            value = con.execute("SELECT v FROM counter").fetchall()[0][0]
            time.sleep(0.005)  # widen the read-modify-write window
            con.execute("UPDATE counter SET v = ?", [value + 1])


def test_second_writer_waits_then_fails_with_a_clear_message(tmp_path) -> None:
    warehouse = tmp_path / "w.duckdb"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(warehouse), ready, release))
    holder.start()
    assert ready.wait(20)
    started = time.monotonic()
    with pytest.raises(WarehouseLocked, match="being written by another run"), open_warehouse(warehouse, timeout=0.5):
        pass
    assert time.monotonic() - started >= 0.5
    release.set()
    with open_warehouse(warehouse, timeout=30) as con:  # waits for the holder to finish
        con.execute("SELECT 1").fetchall()
    holder.join()


def test_concurrent_writers_are_serialised(tmp_path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE counter AS SELECT 0 AS v")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(str(warehouse), 15)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT v FROM counter").fetchall() == [(45,)]


def test_the_lock_is_reentrant_within_a_process_and_exclusive_across_processes(tmp_path) -> None:
    """`outcomes run` holds the lock for the whole run; its steps reuse it instead of waiting on themselves."""
    warehouse = tmp_path / "w.duckdb"
    probe = ("import sys; from pathlib import Path; from transforms.warehouse import open_warehouse\n"
             "try:\n    open_warehouse(Path(sys.argv[1]), timeout=0.3).__enter__()\nexcept Exception as e:\n"
             "    print(e)")
    with warehouse_lock(warehouse, timeout=0.1, holder="outcomes run RUN-1"):
        assert holds_lock(warehouse)
        started = time.monotonic()
        with open_warehouse(warehouse, timeout=0.1) as con, warehouse_lock(warehouse, timeout=0.1):
            con.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert time.monotonic() - started < 5
        assert holds_lock(warehouse)  # the inner holders gave it back to the run, not to the kernel
        other = subprocess.run([sys.executable, "-c", probe, str(warehouse)], capture_output=True, text=True,
                               timeout=60, cwd=Path(__file__).resolve().parents[2])
        assert "being written by another run (outcomes run RUN-1, pid " in other.stdout, other.stderr
    assert not holds_lock(warehouse)
    other = subprocess.run([sys.executable, "-c", probe, str(warehouse)], capture_output=True, text=True,
                           timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert other.stdout == "" and other.returncode == 0, other.stderr


def test_a_forked_child_does_not_keep_the_lock(tmp_path) -> None:
    """A forked child (such as a worker of a step) must not keep the lock: killing the parent frees it at once."""
    warehouse = tmp_path / "w.duckdb"
    with warehouse_lock(warehouse, timeout=1):
        ctx = multiprocessing.get_context("fork")
        ready = ctx.Event()
        child = ctx.Process(target=_sleep_after, args=(ready,))
        child.start()
        assert ready.wait(20)
    try:
        with open_warehouse(warehouse, timeout=1) as con:  # the child's copy of the descriptor is closed
            con.execute("SELECT 1").fetchall()
    finally:
        child.kill()
        child.join()


def _sleep_after(ready: multiprocessing.synchronize.Event) -> None:
    ready.set()
    time.sleep(30)

