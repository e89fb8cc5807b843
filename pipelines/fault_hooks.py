"""A hook for the fault tests (``tests/faults/``): pause a real run inside a named stage, to kill it there.

With ``OUTCOMES_TEST_PAUSE_AT`` set to ``load``, ``staging`` or ``marts``, a run pauses just before
the ``COMMIT`` of that stage's warehouse transaction (every statement of it has run, none is
committed); with ``site``, when the second page of the site is about to be written. It prints one
line, ``outcomes: paused at <stage>``, and waits for a line on its standard input (a test then
kills it, or lets it go on). Without the variable, connections are returned untouched.
"""

from __future__ import annotations

import os
import sys
from typing import Any

ENV = "OUTCOMES_TEST_PAUSE_AT"
# The first part of an asset key -> the stage named in the variable.
STAGES = {"raw": "load", "staging": "staging", "marts": "marts", "site": "site"}

_state = {"paused": False, "site_connections": 0}


def _current_stage() -> str | None:
    import dagster as dg

    try:
        context = dg.AssetExecutionContext.get()
        keys = list(context.selected_asset_keys)
    except Exception:  # not inside an asset (a check, a sensor, a plain function)
        return None
    return STAGES.get(keys[0].path[0]) if keys else None


def _pause(stage: str) -> None:
    if _state["paused"]:
        return
    _state["paused"] = True
    print(f"outcomes: paused at {stage}", flush=True)
    sys.stdin.readline()


class _PausingConnection:
    """A DuckDB connection that pauses before the first ``COMMIT`` it is asked to run."""

    def __init__(self, con: Any, stage: str) -> None:
        self._con = con
        self._stage = stage

    def execute(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(sql, str) and sql.lstrip().upper().startswith("COMMIT"):
            _pause(self._stage)
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def __enter__(self) -> _PausingConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.__exit__(*exc)


def pausing(con: Any) -> Any:
    """``con``, or a pausing stand-in for it when the hook is set for the current stage."""
    wanted = os.environ.get(ENV)
    if not wanted or _state["paused"]:
        return con
    stage = _current_stage()
    if stage != wanted:
        return con
    if stage == "site":
        _state["site_connections"] += 1
        if _state["site_connections"] == 2:
            _pause(stage)
        return con
    return _PausingConnection(con, stage)
