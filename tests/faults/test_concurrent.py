"""Three real `outcomes run` processes on one warehouse: the lock covers each whole run.

While the first runs, a second with a short lock timeout stops with one line naming the first,
and a third waits, then runs. Neither reads or logs anything while it waits: no duplicate key, no
spurious load-log row.
"""

from __future__ import annotations

import shutil
import time

import duckdb

from tests.faults.harness import Layout, Run, tiny_export


def test_a_second_run_stops_after_the_timeout_and_a_third_waits_its_turn(tmp_path, clean_build) -> None:
    # a private inbox with a fifth export, so that the first run has staging work to pause in
    inbox = tmp_path / "inbox"
    shutil.copytree(clean_build.layout.inbox, inbox)
    tiny_export(inbox, "e-2026-05", clinic="C9")
    copied = clean_build.copy(tmp_path)
    layout = Layout(inbox, copied.warehouse, copied.site, copied.restricted)
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        rows_before = con.execute("SELECT count(*) FROM ops.load_log").fetchall()[0][0]
    first = Run(layout, pause_at="staging")
    first.wait_for("outcomes: paused at staging")
    second = Run(layout, OUTCOMES_LOCK_TIMEOUT_S="1")
    third = Run(layout, OUTCOMES_LOCK_TIMEOUT_S="300")
    assert second.finish(timeout=120) == 2
    assert second.out == []
    (line,) = second.err
    assert line.startswith(f"outcomes: the warehouse {layout.warehouse} is being written by another run "
                           "(outcomes run ")
    assert f", pid {first.proc.pid}, since " in line and line.endswith("waited 1 s: try again when it has finished")
    time.sleep(1)
    assert third.proc.poll() is None and third.out == []  # waiting, having read nothing
    first.resume()
    assert first.finish() == 0, first.output
    assert third.finish() == 0, third.output
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        added = con.execute("SELECT status, count(*) FROM ops.load_log GROUP BY 1").fetchall()
        total = con.execute("SELECT count(*) FROM ops.load_log").fetchall()[0][0]
    assert total == rows_before + 10  # the first and the third run: five exports each
    # the first run loads the new export; the third finds all five unchanged
    assert dict(added)["unchanged"] == 4 + 5 and dict(added)["loaded"] == 4 + 1 and "rejected" not in dict(added)
