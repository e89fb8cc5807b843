"""Thresholds are met within 1e-9 (metrics.md section 7) and come from Settings, not from literals."""

from __future__ import annotations

import pytest

from transforms.config import Settings
from transforms.thresholds import install_thresholds, threshold_values


@pytest.fixture
def con(wh):
    install_thresholds(wh.con, Settings())
    return wh.con


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("meets_min(7.0::DOUBLE - 4.9::DOUBLE, t.responder_min_points, t.tol)", True),
        ("meets_min((7.0::DOUBLE - 4.9::DOUBLE) / 7.0::DOUBLE, t.responder_min_fraction, t.tol)", True),
        ("meets_max(4.9::DOUBLE, t.relief_max_fraction * 7.0::DOUBLE, t.tol)", True),
        ("meets_max(4.8999999999999995::DOUBLE, t.relief_max_fraction * 7.0::DOUBLE, t.tol)", True),
        ("meets_min(1.999999998::DOUBLE, t.responder_min_points, t.tol)", False),
        ("falls_short(5.1::DOUBLE - 4.1::DOUBLE, t.plateau_min_change, t.tol)", False),
        ("falls_short(0.9::DOUBLE, t.plateau_min_change, t.tol)", True),
        ("typeof(t.relief_max_fraction)", "DOUBLE"),
        ("list_contains(t.timed_cpt_codes, '97140')", True),
        ("list_contains(t.insured_payers, 'self_pay')", False),
    ],
)
def test_decisions(con, sql: str, expected: object) -> None:
    assert con.execute(f"SELECT {sql} FROM _thresholds t").fetchall()[0][0] == expected


def test_values_follow_settings() -> None:
    values = threshold_values(Settings().with_overrides(responder_min_points="3", plateau_window=5))
    assert values["responder_min_points"] == 3.0 and values["plateau_window"] == 5
    assert values["tol"] == 1e-9


def test_marts_use_the_settings(warehouse_factory, rows) -> None:
    wh = warehouse_factory(Settings().with_overrides(responder_min_points="3", progress_note_max_visits=5,
                                                     relief_report_times="2,6"))
    wh.load(rows.episode("e", [(8.0 - 0.5 * i, 7.0) for i in range(7)]))  # change 3.0 in six visits
    wh.build()
    episode = wh.by_key("marts.episode_outcomes", "episode_key")["e"]
    assert (episode["pain_change"], episode["responder"]) == (3.0, True)
    assert {f["flag"] for f in wh.table("marts.audit_flags")} == {"NO_PROGRESS_NOTE"}
    outcomes = wh.table("marts.condition_outcomes")[0]
    assert {"relief_by_2", "relief_by_4", "relief_by_6", "relief_by_8"} <= set(outcomes)  # 4 and 8 always

    wh2 = warehouse_factory(Settings().with_overrides(responder_min_points="3.5"))
    wh2.load(rows.episode("e", [(8.0 - 0.5 * i, 7.0) for i in range(7)]))
    wh2.build()
    assert wh2.by_key("marts.episode_outcomes", "episode_key")["e"]["responder"] is False
