"""A helper process that imports Great Expectations once and runs each validation in a fork of itself.

Importing GX takes seconds. :func:`start` launches this process as soon as a run knows it may
validate something (``outcomes run`` at start, the loader before reading the exports), so that the
import happens on another core while the run goes on; each validation then costs only its own work.

Each request (one line of JSON on the helper's stdin: scratch file, file kind, the run's date) is
validated in a child forked from the helper -- a single-threaded process with GX already imported,
so forking is safe -- because GX keeps DuckDB objects alive in module-level caches: a child that
ends releases them, and with them the scratch file, which the loader opens next. The answer is one
line of JSON on the helper's protocol stream. The helper ends when its stdin closes (the run ended,
or died), so it never outlives the run. The loading process itself never imports GX.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import IO, Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What the helper imports before its first request (the fork children find them loaded).
PRELOAD = ("great_expectations", "great_expectations.data_context.types.base", "expectations.gx_duckdb",
           "expectations.validation")
# GX imports these for features the project never uses (charts in data docs; statistical expectations).
# In the helper they load only if something touches them: about 1.8 s of GX's 6.5 s import, which every
# run that validates waits for. Row rules never touch them (tests/loading/test_gx_process.py).
DEFERRED = frozenset({"altair", "scipy.stats"})


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    from expectations.validation import _run_gx

    try:
        outcomes, raw = _run_gx(Path(request["scratch"]), request["file"], date.fromisoformat(request["today"]))
        return {"status": "ok", "outcomes": [asdict(o) for o in outcomes], "raw": raw}
    except Exception as exc:  # reported to the loader, which raises it as a quality-gate error
        return {"status": "error", "message": f"{type(exc).__name__}: {exc}"}


def _validate_in_child(request: dict[str, Any]) -> str:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: validate, write the answer, end without running the helper's cleanup
        os.close(read_end)
        # DuckDB draws a progress bar on standard output for a query that runs a few seconds (a large
        # batch); it would land between the run's own progress lines. GX prints nothing else there.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        status = 0
        try:
            with os.fdopen(write_end, "w", encoding="utf-8") as out:
                json.dump(_answer(request), out, default=str)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as answer:
        text = answer.read()
    _, status = os.waitpid(pid, 0)
    if not text:
        return json.dumps({"status": "error", "message": f"the validation process ended without a result "
                                                         f"(wait status {status})"})
    return text


class _DeferredImports(importlib.abc.MetaPathFinder):
    """Makes the modules of :data:`DEFERRED` load when first used instead of when imported."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name not in DEFERRED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def prepare() -> None:
    """What the helper does before its first request: GX imported (with :data:`DEFERRED` deferred)
    and the DuckDB dialect of SQLAlchemy loaded."""
    if not any(isinstance(f, _DeferredImports) for f in sys.meta_path):
        sys.meta_path.insert(0, _DeferredImports())
    for module in PRELOAD:
        __import__(module)
    # SQLAlchemy finds the DuckDB dialect through package metadata and imports it on first use: done
    # here once instead of in every child (about 0.1 s per validated file kind).
    from sqlalchemy.dialects import registry

    registry.load("duckdb")


def serve() -> None:
    """The helper's main loop (runs in the helper process): import GX, then answer requests until stdin closes."""
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything GX prints goes to stderr, never into the answers
    prepare()
    for line in sys.stdin:
        if line.strip():
            protocol.write(_validate_in_child(json.loads(line)).replace("\n", " ") + "\n")
            protocol.flush()


class Helper:
    """The loader's handle on the helper process (one per loading process, started on demand)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the helper unless it runs already; it imports GX while the caller goes on."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
            self._process = subprocess.Popen(
                [sys.executable, "-c", "from expectations.gx_server import serve; serve()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", env=env,
            )

    def validate(self, scratch: Path, file: str, today: date) -> dict[str, Any]:
        """Validate one file kind of the scratch file; the helper's answer (``status`` ok or error)."""
        self.start()
        with self._lock:
            process = self._process
            assert process is not None and process.stdin is not None and process.stdout is not None
            # an absolute path: the helper's working directory is the one it was started in
            request = {"scratch": str(scratch.resolve()), "file": file, "today": today.isoformat()}
            try:
                _send(process.stdin, json.dumps(request))
                line = process.stdout.readline()
            except (BrokenPipeError, OSError):
                line = ""
            if not line:
                code = process.wait()
                self._process = None
                return {"status": "error", "message": f"the validation helper ended without a result (exit code {code})"}
            return json.loads(line)

    def stop(self) -> None:
        """End the helper now (at exit: it may still be importing GX, which nobody waits for)."""
        with self._lock:
            if self._process is not None:
                if self._process.stdin is not None:
                    self._process.stdin.close()
                self._process.kill()
                self._process.wait()
                if self._process.stdout is not None:
                    self._process.stdout.close()
                self._process = None


def _send(stream: IO[str], line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


HELPER = Helper()
atexit.register(HELPER.stop)
