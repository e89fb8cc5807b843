"""ops.check_results: every rule's result per run and export, and what is new, resolved or persisting."""

from __future__ import annotations

from typing import Any

import duckdb

from tests.conftest import sessions_series, write_export
from transforms.config import Settings
from transforms.exports import discover_exports
from transforms.loading import load_exports
from transforms.quality_history import record_integrity, rule_changes
from transforms.warehouse import open_warehouse

PAIN = "sessions.pain_pre.out_of_range"
UNITS = "sessions.units.not_an_integer"


def _load(settings: Settings, run_id: str) -> None:
    load_exports(discover_exports(settings.inbox), lambda: open_warehouse(settings.warehouse), settings, run_id)


def _bad(n: int, **bad: Any) -> list[dict]:
    rows = sessions_series(n)
    rows[1] = {**rows[1], **bad}
    return rows


def _changes(settings: Settings) -> dict[int, dict[tuple[str, str], tuple[int, str]]]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = rule_changes(con).fetchall()
    out: dict[int, dict] = {}
    for run_order, _run, _at, export, rule, _checked, failing, change in rows:
        if rule in (PAIN, UNITS):
            out.setdefault(run_order, {})[(export, rule)] = (failing, change)
    return out


def test_new_resolved_and_persisting_across_three_runs(settings: Settings) -> None:
    write_export(settings.inbox, "a", _bad(8, pain_pre="11"))
    write_export(settings.inbox, "b", sessions_series(6, clinic_id="C2"))
    _load(settings, "run-1")
    write_export(settings.inbox, "a", sessions_series(8))                       # corrected: resolved
    write_export(settings.inbox, "b", _bad(6, clinic_id="C2", units="1.5"))     # a new problem
    _load(settings, "run-2")
    write_export(settings.inbox, "c", _bad(5, clinic_id="C3", units="2.5"))     # b is not sent again
    _load(settings, "run-3")
    history = _changes(settings)
    assert history[1] == {("a", PAIN): (1, "new"), ("a", UNITS): (0, "passing"),
                          ("b", PAIN): (0, "passing"), ("b", UNITS): (0, "passing")}
    assert history[2] == {("a", PAIN): (0, "resolved"), ("a", UNITS): (0, "passing"),
                          ("b", PAIN): (0, "passing"), ("b", UNITS): (1, "new")}
    assert history[3][("b", UNITS)] == (1, "persisting")  # not validated again: its state carries over
    assert history[3][("c", UNITS)] == (1, "new") and history[3][("a", PAIN)] == (0, "passing")


def test_every_rule_has_its_numerator_and_denominator(settings: Settings) -> None:
    write_export(settings.inbox, "a", _bad(8, pain_pre="11"), [{"session_id": "S1", "clinic_id": "C1",
                                                                "joint": "lumbar", "movement": "flexion",
                                                                "side": "na", "timing": "pre", "value": "40"}])
    _load(settings, "run-1")
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = con.execute("SELECT rule, rows_checked, rows_failing, accepted FROM ops.check_results "
                           "WHERE run_id = 'run-1' ORDER BY rule").fetchall()
    by_rule = {r[0]: r[1:] for r in rows}
    assert by_rule[PAIN] == (8, 1, True) and by_rule[UNITS] == (8, 0, True)
    assert by_rule["rom.value.out_of_range"] == (1, 0, True)
    assert all(r.startswith(("sessions.", "rom.")) for r in by_rule) and len(by_rule) > 40


def test_a_rejected_version_is_recorded_but_does_not_change_the_state(settings: Settings) -> None:
    write_export(settings.inbox, "a", sessions_series(5))
    _load(settings, "run-1")
    rows = sessions_series(5)
    for i in range(3):
        rows[i] = {**rows[i], "pain_pre": "12"}  # 3 of 5 broken: rejected whole
    write_export(settings.inbox, "a", rows)
    _load(settings, "run-2")
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        kept = con.execute("SELECT rows_failing, accepted FROM ops.check_results WHERE run_id = 'run-2' "
                           "AND rule = ?", [PAIN]).fetchall()
    assert kept == [(3, False)]
    assert _changes(settings)[1][("a", PAIN)] == (0, "passing")  # the run-2 state is still the loaded version


def test_integrity_results_keep_their_denominator(settings: Settings) -> None:
    with open_warehouse(settings.warehouse) as con:
        from transforms.loading import ensure_schema

        ensure_schema(con)
        record_integrity(con, "run-1", "session_key_unique", 1200, 3)
        assert con.execute("SELECT check_kind, export, rule, rows_checked, rows_failing FROM ops.check_results"
                           ).fetchall() == [("integrity", None, "session_key_unique", 1200, 3)]
