"""marts.episode_outcomes on hand-worked episodes: every column, exact values (metrics.md sections 3-4, 7)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

SPEC_COLUMNS = [
    "episode_key", "clinic_id", "patient_id", "condition_group", "payer_type", "n_sessions", "first_date",
    "last_date", "baseline_pain", "final_pain", "pain_change", "pain_change_pct", "responder",
    "substantial_responder", "relief_evaluable", "relieved", "sessions_to_relief", "censored_at", "status",
]
EXTRA_COLUMNS = [
    "therapist_id", "age_band", "sex", "symptom_weeks", "start_month", "pain_evaluable", "final_pain_session",
    "n_immediate", "sum_immediate_change", "units_billed", "has_discharge", "relief_session",
    "baseline_function_score", "n_later_measured",
]

# key -> (pain pairs, expected values that differ from the defaults below)
CASES: dict[str, tuple[list[tuple[float | None, float | None]], dict[str, Any]]] = {
    "no_baseline": (
        [(None, None), (5, 3), (4, 2)],
        dict(n_sessions=3, last_date=date(2026, 1, 19), baseline_pain=None, final_pain=4.0, final_pain_session=3,
             n_immediate=2, sum_immediate_change=4.0, units_billed=6),
    ),
    "one_session": (
        [(6, 4)],
        dict(n_sessions=1, last_date=date(2026, 1, 5), baseline_pain=6.0, final_pain=None, final_pain_session=None,
             n_immediate=1, sum_immediate_change=2.0, units_billed=2),
    ),
    "missing_last": (
        [(8, 6), (7, 5), (5, 4), (None, 3)],
        dict(n_sessions=4, last_date=date(2026, 1, 26), baseline_pain=8.0, final_pain=5.0, pain_change=3.0,
             pain_change_pct=0.375, responder=True, substantial_responder=False, relief_evaluable=True,
             relieved=True, sessions_to_relief=2, pain_evaluable=True, final_pain_session=3, n_immediate=3,
             sum_immediate_change=5.0, units_billed=8),
    ),
    "relief_at_2": (
        [(6, 3), (4, 2), (4.5, 2)],
        dict(n_sessions=3, last_date=date(2026, 1, 19), baseline_pain=6.0, final_pain=4.5, pain_change=1.5,
             pain_change_pct=0.25, responder=False, substantial_responder=False, relief_evaluable=True,
             relieved=True, sessions_to_relief=1, pain_evaluable=True, final_pain_session=3, n_immediate=3,
             sum_immediate_change=7.5, units_billed=6),
    ),
    "never_relieved": (
        [(7, 5), (6, 4), (5.5, 4), (6, 5)],
        dict(n_sessions=4, last_date=date(2026, 1, 26), baseline_pain=7.0, final_pain=6.0, pain_change=1.0,
             pain_change_pct=1 / 7, responder=False, substantial_responder=False, relief_evaluable=True,
             relieved=False, censored_at=3, pain_evaluable=True, final_pain_session=4, n_immediate=4,
             sum_immediate_change=6.5, units_billed=8),
    ),
    "censored_before_missing_last": (
        [(7, 5), (6, 4), (6, 5), (None, None)],
        dict(n_sessions=4, last_date=date(2026, 1, 26), baseline_pain=7.0, final_pain=6.0, pain_change=1.0,
             pain_change_pct=1 / 7, responder=False, substantial_responder=False, relief_evaluable=True,
             relieved=False, censored_at=2, pain_evaluable=True, final_pain_session=3, n_immediate=3,
             sum_immediate_change=5.0, units_billed=8),
    ),
    "baseline_2": (
        [(2, 1), (0, 0)],
        dict(n_sessions=2, last_date=date(2026, 1, 12), baseline_pain=2.0, final_pain=0.0, pain_change=2.0,
             pain_change_pct=1.0, responder=True, substantial_responder=True, relief_evaluable=False,
             pain_evaluable=True, final_pain_session=2, n_immediate=2, sum_immediate_change=1.0, units_billed=4),
    ),
    "baseline_0": (
        [(0, 0), (0, 0)],
        dict(n_sessions=2, last_date=date(2026, 1, 12), baseline_pain=0.0, final_pain=0.0, pain_change=0.0,
             pain_change_pct=None, responder=False, substantial_responder=False, relief_evaluable=False,
             pain_evaluable=True, final_pain_session=2, n_immediate=2, sum_immediate_change=0.0, units_billed=4),
    ),
    "baseline_3": (
        [(3, 2), (2, 2), (1, 1)],
        dict(n_sessions=3, last_date=date(2026, 1, 19), baseline_pain=3.0, final_pain=1.0, pain_change=2.0,
             pain_change_pct=2 / 3, responder=True, substantial_responder=True, relief_evaluable=True,
             relieved=True, sessions_to_relief=2, pain_evaluable=True, final_pain_session=3, n_immediate=3,
             sum_immediate_change=1.0, units_billed=6),
    ),
    "seven_to_4.9": (
        [(7, 5), (4.9, 4.9)],
        dict(n_sessions=2, last_date=date(2026, 1, 12), baseline_pain=7.0, final_pain=4.9, pain_change=7 - 4.9,
             pain_change_pct=(7 - 4.9) / 7, responder=True, substantial_responder=False, relief_evaluable=True,
             relieved=True, sessions_to_relief=1, pain_evaluable=True, final_pain_session=2, n_immediate=2,
             sum_immediate_change=2.0, units_billed=4),
    ),
    "seven_to_4.8999999999999995": (
        [(7, 5), (4.8999999999999995, 4.8999999999999995)],
        dict(n_sessions=2, last_date=date(2026, 1, 12), baseline_pain=7.0, final_pain=4.8999999999999995,
             pain_change=7 - 4.8999999999999995, pain_change_pct=(7 - 4.8999999999999995) / 7, responder=True,
             substantial_responder=False, relief_evaluable=True, relieved=True, sessions_to_relief=1,
             pain_evaluable=True, final_pain_session=2, n_immediate=2, sum_immediate_change=2.0, units_billed=4),
    ),
    "ten_to_seven": (
        [(10, 8), (7, 7)],
        dict(n_sessions=2, last_date=date(2026, 1, 12), baseline_pain=10.0, final_pain=7.0, pain_change=3.0,
             pain_change_pct=0.3, responder=True, substantial_responder=False, relief_evaluable=True, relieved=True,
             sessions_to_relief=1, pain_evaluable=True, final_pain_session=2, n_immediate=2,
             sum_immediate_change=2.0, units_billed=4),
    ),
    "exactly_half": (
        [(8, 6), (4, 4)],
        dict(n_sessions=2, last_date=date(2026, 1, 12), baseline_pain=8.0, final_pain=4.0, pain_change=4.0,
             pain_change_pct=0.5, responder=True, substantial_responder=True, relief_evaluable=True, relieved=True,
             sessions_to_relief=1, pain_evaluable=True, final_pain_session=2, n_immediate=2,
             sum_immediate_change=2.0, units_billed=4),
    ),
    "just_under_two_points": (
        [(5, 5), (3.0000001, 3)],
        dict(n_sessions=2, last_date=date(2026, 1, 12), baseline_pain=5.0, final_pain=3.0000001,
             pain_change=5 - 3.0000001, pain_change_pct=(5 - 3.0000001) / 5, responder=False,
             substantial_responder=False, relief_evaluable=True, relieved=False, censored_at=1,
             pain_evaluable=True, final_pain_session=2, n_immediate=2, sum_immediate_change=3.0000001 - 3,
             units_billed=4),
    ),
}

DEFAULTS: dict[str, Any] = dict(
    clinic_id="C1", condition_group="low_back_pain", payer_type="commercial", first_date=date(2026, 1, 5),
    pain_change=None, pain_change_pct=None, responder=None, substantial_responder=None, relief_evaluable=False,
    relieved=None, sessions_to_relief=None, censored_at=None, therapist_id="T1", age_band="40-49", sex="F",
    symptom_weeks=12.0, start_month=date(2026, 1, 1), pain_evaluable=False,
    # every case ends within 30 days of the clinic's data end (2026-01-26) and has no discharge visit
    status="active", has_discharge=False, baseline_function_score=None,
)


def _expected(key: str) -> dict[str, Any]:
    pains, expected = CASES[key]
    out = {**DEFAULTS, **expected}
    # the session relief was first seen at, and the later sessions with a pain score (sessions >= 2)
    out["relief_session"] = None if out["sessions_to_relief"] is None else out["sessions_to_relief"] + 1
    out["n_later_measured"] = sum(1 for pre, _post in pains[1:] if pre is not None)
    return out


@pytest.fixture(scope="module")
def outcomes(warehouse_factory, rows) -> dict[str, dict[str, Any]]:
    wh = warehouse_factory()
    for key, (pains, _expected) in CASES.items():
        wh.load(rows.episode(key, pains))
    wh.build()
    return wh.by_key("marts.episode_outcomes", "episode_key")


def test_columns_spec_first_then_extras(wh, rows) -> None:
    wh.load(rows.episode("e", [(5, 4), (3, 3)]))
    wh.build()
    cols = [r["column_name"] for r in wh.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
        "AND table_name = 'episode_outcomes' ORDER BY ordinal_position")]
    assert cols == SPEC_COLUMNS + EXTRA_COLUMNS


@pytest.mark.parametrize("key", list(CASES))
def test_every_column_exact(outcomes, key: str) -> None:
    expected = {**_expected(key), "episode_key": key, "patient_id": f"P-{key}"}
    got = outcomes[key]
    assert set(got) == set(SPEC_COLUMNS + EXTRA_COLUMNS)
    for column in SPEC_COLUMNS + EXTRA_COLUMNS:
        assert got[column] == expected[column], (key, column, got[column], expected[column])
        if isinstance(expected[column], bool):
            assert isinstance(got[column], bool), (key, column)


def test_boundary_values_are_exactly_the_floating_point_ones(outcomes) -> None:
    """7 -> 4.9 is not exactly 30 % in binary floating point, yet it is a responder and relief (section 7)."""
    assert outcomes["seven_to_4.9"]["pain_change_pct"] < 0.3
    assert outcomes["seven_to_4.9"]["responder"] is True
    assert outcomes["seven_to_4.8999999999999995"]["final_pain"] != 4.9
    assert outcomes["seven_to_4.8999999999999995"]["relieved"] is True


def test_episode_attributes_come_from_session_1(wh, rows) -> None:
    later = dict(therapist_id="T2", condition_group="sciatica", payer_type="self_pay", age_band="50-59", sex="M",
                 symptom_weeks=None, clinic_id="C1")
    wh.load(rows.episode(
        "e", [(6, 5), (5, 4), (3, 3)],
        sessions=[dict(therapist_id="T9", payer_type="medicare", symptom_weeks=None, sex="X"), later, later],
    ))
    wh.build()
    got = wh.by_key("marts.episode_outcomes", "episode_key")["e"]
    assert (got["therapist_id"], got["condition_group"], got["payer_type"], got["sex"], got["symptom_weeks"]) == (
        "T9", "low_back_pain", "medicare", "X", None)


def test_sessions_order_by_session_number_not_by_row_order(wh, rows) -> None:
    sessions = rows.episode("e", [(8, 6), (7, 5), (3, 2)])
    wh.load(list(reversed(sessions)))
    wh.build()
    got = wh.by_key("marts.episode_outcomes", "episode_key")["e"]
    assert (got["baseline_pain"], got["final_pain"], got["sessions_to_relief"]) == (8.0, 3.0, 2)


def test_month_of_start(wh, rows) -> None:
    wh.load(rows.episode("e", [(6, 5), (5, 4)], sessions=[dict(session_date=date(2025, 12, 31)),
                                                          dict(session_date=date(2026, 1, 2))]))
    wh.build()
    got = wh.by_key("marts.episode_outcomes", "episode_key")["e"]
    assert got["start_month"] == date(2025, 12, 1)
    assert (got["first_date"], got["last_date"]) == (date(2025, 12, 31), date(2026, 1, 2))
