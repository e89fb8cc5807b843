"""No two processes write the warehouse at once: the lock serialises them, or fails clearly."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import duckdb
import pytest

from transforms.warehouse import WarehouseLocked, open_warehouse, warehouse_lock


def _hold(path: str, seconds: float, ready) -> None:
    with warehouse_lock(Path(path), timeout=5):
        ready.set()
        time.sleep(seconds)


def _writer(path: str, n: int) -> None:
    for _ in range(n):
        with open_warehouse(Path(path), timeout=60) as con:
            value = con.execute("SELECT v FROM counter").fetchall()[0][0]
            time.sleep(0.005)  # widen the read-modify-write window
            con.execute("UPDATE counter SET v = ?", [value + 1])


def test_second_writer_waits_then_fails_with_a_clear_message(tmp_path) -> None:
    warehouse = tmp_path / "w.duckdb"
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(warehouse), 3.0, ready))
    holder.start()
    assert ready.wait(20)
    started = time.monotonic()
    with pytest.raises(WarehouseLocked, match="being written by another run"), open_warehouse(warehouse, timeout=0.5):
        pass
    assert time.monotonic() - started >= 0.5
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
