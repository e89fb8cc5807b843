"""Helpers of the fault tests: tiny inboxes, real `outcomes run` processes, and table snapshots.

A run is a real process of the installed ``outcomes`` command. ``OUTCOMES_TEST_PAUSE_AT`` (see
``pipelines/fault_hooks.py``) makes it pause inside a named stage and say so on its output, so a
test can kill it there with SIGKILL, or let it go on by writing a line to its standard input.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb

from tests.conftest import rom, sessions_series, write_export

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = str(Path(sys.executable).with_name("outcomes"))


@dataclass(frozen=True)
class Layout:
    """The folders of one run."""

    inbox: Path
    warehouse: Path
    site: Path
    restricted: Path

    @classmethod
    def under(cls, root: Path, inbox: Path | None = None) -> Layout:
        """Inbox, warehouse, site and restricted folder under ``root`` (the inbox may be shared)."""
        return cls(inbox or root / "inbox", root / "build" / "warehouse.duckdb", root / "build" / "site",
                   root / "build" / "restricted")

    def args(self) -> list[str]:
        """The command line of `outcomes run` on these folders."""
        return ["run", "--inbox", str(self.inbox), "--warehouse", str(self.warehouse), "--site", str(self.site),
                "--restricted", str(self.restricted)]


def tiny_export(inbox: Path, name: str, clinic: str) -> None:
    """Six sessions of one clinic (one of them quarantined) and two ROM rows."""
    rows = sessions_series(6, clinic_id=clinic, patient_id=f"P-{clinic}")
    rows[4] = {**rows[4], "pain_pre": "12"}
    write_export(inbox, name, rows, [rom(session_id="S1", clinic_id=clinic), rom(session_id="S6", clinic_id=clinic)])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a run: this one without any OUTCOMES_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTCOMES_")}
    return {**env, **extra}


class Run:
    """A real `outcomes run` process whose output is read as it comes."""

    def __init__(self, layout: Layout, pause_at: str | None = None, full: bool = False, **env: str) -> None:
        extra = {**env, **({"OUTCOMES_TEST_PAUSE_AT": pause_at} if pause_at else {})}
        self.proc = subprocess.Popen(
            [OUTCOMES, *layout.args(), *(["--full"] if full else [])], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT, env=clean_env(**extra),
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pumps = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.out, True), daemon=True),
                       threading.Thread(target=self._pump, args=(self.proc.stderr, self.err, False), daemon=True)]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream: IO[str], sink: list[str], notify: bool) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if notify:
                self._lines.put(line)
        if notify:
            self._lines.put(None)

    def wait_for(self, text: str, timeout: float = 180) -> None:
        """Block until a line of the output contains ``text`` (fails, with the output, if the run ends first)."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout} s:\n" + "\n".join(self.out + self.err)) from None
            if line is None:
                raise AssertionError(f"the run ended without {text!r}:\n" + "\n".join(self.out + self.err))
            if text in line:
                return

    def resume(self) -> None:
        """Let a paused run go on."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """kill -9, and reap the process (a zombie would still count as running)."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        self._drain()

    def finish(self, timeout: float = 300) -> int:
        """Wait for the end; returns the exit code."""
        code = self.proc.wait(timeout=timeout)
        if self.proc.stdin:
            self.proc.stdin.close()
        self._drain()
        return code

    def _drain(self) -> None:
        # The process can end before the reader threads have taken its last lines off the pipes.
        for pump in self._pumps:
            pump.join(timeout=60)

    @property
    def output(self) -> str:
        """Standard output and error so far."""
        return "\n".join(self.out + self.err)


def run(layout: Layout, **env: str) -> Run:
    """Run `outcomes run` to the end."""
    process = Run(layout, **env)
    process.finish()
    return process


def data_tables(warehouse: Path) -> dict[str, list[tuple]]:
    """Every data table (raw, quarantine, staging, marts) as sorted rows, plus the export order.

    Load times and the load log differ between runs by nature; everything else must not.
    """
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema IN ('raw', 'quarantine', 'staging', 'marts') ORDER BY 1"
        ).fetchall()
        snap = {name: sorted(con.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for (name,) in tables}
        snap["ops.exports"] = con.execute("SELECT export, seq, checksum FROM ops.exports ORDER BY seq").fetchall()
    return snap


def exports_are_whole(warehouse: Path) -> None:
    """The warehouse opens, and every export is in it as a whole or not at all."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = {r[0] for r in con.execute("SELECT export FROM ops.exports").fetchall()}
        in_raw = {r[0] for r in con.execute("SELECT export FROM raw.sessions UNION SELECT export FROM raw.rom").fetchall()}
        logged = {r[0] for r in con.execute(
            "SELECT export FROM ops.load_log WHERE status IN ('loaded', 'replaced')").fetchall()}
    assert in_raw <= loaded and loaded == logged, (loaded, in_raw, logged)


def private_mounts() -> list[str] | None:
    """A command prefix that runs a program in its own mount namespace (to mount a small or read-only
    file system there without touching the machine), or None where that is not allowed."""
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-Urm"]
    # Probe with a real mount: some containers allow the namespace but not mounting in it.
    probe = tempfile.mkdtemp(prefix="mount-probe-")
    try:
        done = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        os.rmdir(probe)
    return prefix if done.returncode == 0 else None
