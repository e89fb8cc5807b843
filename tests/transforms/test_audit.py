"""Payer audit, version 2 (metrics.md section 8): every flag raised by a case at its boundary and not by
its near miss; tiers, details, units at risk, excess units, the summary, payer applicability, worklists.

Episodes are hand-made with the factory of ``tests/transforms/conftest.py``. Unless a case says
otherwise an episode is commercial, referred by a physician, with goals documented, weekly visits
from 2026-01-05, visit 1 an evaluation, CPT 97124 2 units in 30 minutes, and pain scored at visits 1
and 2 only (6 then 5.5: no relief, no plateau), so that only the flag under test can fire.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.audit import (
    FLAG_CATALOGUE,
    FLAGS,
    TIERS,
    WORKLIST_COLUMNS,
    default_payer_rules,
    rule_in_words,
)
from transforms.config import Settings
from transforms.contract import INSURED_PAYERS, PAYER_TYPES
from transforms.marts import write_audit_worklists
from transforms.reference import REFERENCE_DIR

START = date(2026, 1, 5)


def day(n: int) -> date:
    """The date ``n`` days after 2026-01-05."""
    return START + timedelta(days=n)


def neutral(n: int) -> list[tuple[float | None, float | None]]:
    """Pain scored at visits 1 and 2 only (6 -> 5.5): neither relief nor a plateau can be seen."""
    return [(6.0, 5.0), (5.5, 4.5), *[(None, None)] * (n - 2)]


def visits(*types: str, **fields: Any) -> list[dict[str, Any]]:
    return [dict(visit_type=t, **fields) for t in types]


def treatments(n: int) -> list[str]:
    return ["treatment"] * n


def case_sessions(rows) -> dict[str, list[dict]]:
    e = rows.episode
    cases: dict[str, list[dict]] = {
        "clean": e("clean", neutral(4)),
        # --- UNITS_OVER_TIME: the 8-minute rule per patient and day ----------------------------------------
        "min_8_unit_1": e("min_8_unit_1", neutral(2), sessions=[{}, dict(units=1, duration_min=8)]),
        "min_7_unit_1": e("min_7_unit_1", neutral(2), sessions=[{}, dict(units=1, duration_min=7)]),
        "min_37_units_3": e("min_37_units_3", neutral(2), sessions=[{}, dict(units=3, duration_min=37)]),
        "min_38_units_3": e("min_38_units_3", neutral(2), sessions=[{}, dict(units=3, duration_min=38)]),
        # two timed rows of one day: 30 min for 3 units alone is over, with 8 more minutes the day supports 3
        "day_together_supports": e("day_together_supports", neutral(3), sessions=[
            {}, dict(units=3, duration_min=30, cpt_code="97140", session_date=day(7)),
            dict(units=0, duration_min=8, cpt_code="97110", session_date=day(7))]),
        # the reverse: 10 minutes support 1 unit alone, but 20 minutes in a day support only 1 of the 2 billed
        "day_together_over": e("day_together_over", neutral(3), sessions=[
            {}, dict(units=1, duration_min=10, cpt_code="97140", session_date=day(7)),
            dict(units=1, duration_min=10, cpt_code="97124", session_date=day(7))]),
        "untimed_code": e("untimed_code", neutral(3), sessions=[
            {}, dict(units=3, duration_min=10, cpt_code="97010", session_date=day(7)),
            dict(units=1, duration_min=8, session_date=day(7))]),
        # --- OVER_AUTHORIZED -----------------------------------------------------------------------------------
        "auth_reached": e("auth_reached", neutral(5), sessions=[dict(authorized_visits=5)]),
        "auth_exceeded": e("auth_exceeded", neutral(6), sessions=[dict(authorized_visits=5)]),
        "auth_given_later": e("auth_given_later", neutral(7), sessions=[{}, {}, dict(authorized_visits=6)]),
        "auth_extended": e("auth_extended", neutral(7), sessions=[dict(authorized_visits=4), {}, {},
                                                                  dict(authorized_visits=8)]),
        "auth_lowered": e("auth_lowered", neutral(5), sessions=[dict(authorized_visits=10), {},
                                                                dict(authorized_visits=3)]),
        # recorded on every visit, as practice systems do: in force since the visit it was first written
        "auth_repeated": e("auth_repeated", neutral(5), sessions=[{}, *[dict(authorized_visits=3)] * 4]),
        "auth_self_pay": e("auth_self_pay", neutral(6), sessions=[dict(authorized_visits=5)], payer_type="self_pay"),
        # --- NO_REFERRAL (insured and fsa_hsa) -----------------------------------------------------------------
        "no_referral": e("no_referral", neutral(3), sessions=[dict(referral_source="self"),
                                                              dict(referral_source=None), dict(referral_source="")]),
        "one_referral": e("one_referral", neutral(3), sessions=[{}, {}, dict(referral_source="chiropractor")],
                          referral_source="self"),
        "fsa_no_letter": e("fsa_no_letter", neutral(2), referral_source="self", payer_type="fsa_hsa"),
        "fsa_letter": e("fsa_letter", neutral(2), payer_type="fsa_hsa"),
        "self_pay_no_referral": e("self_pay_no_referral", neutral(2), referral_source="self", payer_type="self_pay"),
        # --- NO_EVALUATION -------------------------------------------------------------------------------------
        "no_evaluation": e("no_evaluation", neutral(2), sessions=visits("treatment", "treatment"),
                           payer_type="medicare"),
        "fsa_no_evaluation": e("fsa_no_evaluation", neutral(2), sessions=visits("treatment", "treatment"),
                               payer_type="fsa_hsa"),
        # --- NO_RECERTIFICATION: 90 days -----------------------------------------------------------------------
        "recert_90": e("recert_90", neutral(3), sessions=[{}, dict(session_date=day(45)), dict(session_date=day(90))]),
        "recert_91": e("recert_91", neutral(3), sessions=[{}, dict(session_date=day(45)), dict(session_date=day(91))]),
        "recert_after_reeval": e("recert_after_reeval", neutral(4), sessions=[
            {}, dict(session_date=day(60), visit_type="reevaluation"), dict(session_date=day(150)),
            dict(session_date=day(151))]),
        # a re-evaluation later the same day counts for the treatment entered before it
        "recert_same_day": e("recert_same_day", neutral(3), sessions=[
            {}, dict(session_date=day(120)), dict(session_date=day(120), visit_type="reevaluation")]),
        "recert_no_evaluation": e("recert_no_evaluation", neutral(2), sessions=[
            dict(visit_type="treatment"), dict(session_date=day(91))]),
        # --- CARE_AFTER_GOAL: relief at visit 2 (8 -> 5), then treatment visits --------------------------------
        "goal_3_after": e("goal_3_after", [(8.0, 7.0), (5.0, 4.0), *[(None, None)] * 3]),
        "goal_4_after": e("goal_4_after", [(8.0, 7.0), (5.0, 4.0), *[(None, None)] * 4]),
        "goal_reevaluated": e("goal_reevaluated", [(8.0, 7.0), (5.0, 4.0), *[(None, None)] * 8],
                              sessions=visits("evaluation", *treatments(4), "reevaluation", *treatments(4))),
        "goal_eval_discharge_3": e("goal_eval_discharge_3", [(8.0, 7.0), (5.0, 4.0), *[(None, None)] * 5],
                                   sessions=visits("evaluation", "treatment", "treatment", "evaluation",
                                                   "treatment", "discharge", "treatment")),
        "goal_eval_discharge_4": e("goal_eval_discharge_4", [(8.0, 7.0), (5.0, 4.0), *[(None, None)] * 6],
                                   sessions=visits("evaluation", "treatment", "treatment", "evaluation",
                                                   "treatment", "discharge", "treatment", "treatment")),
        # baseline 2 is not relief-evaluable: relief cannot be judged, so neither can care after it
        "goal_low_baseline": e("goal_low_baseline", [(2.0, 1.0), (0.0, 0.0), *[(None, None)] * 5]),
        # --- NO_GOALS, NO_PROGRESS_NOTE ------------------------------------------------------------------------
        "no_goals": e("no_goals", neutral(3), sessions=[dict(goals_documented=False), dict(goals_documented=None),
                                                        dict(goals_documented=False)]),
        "one_goal": e("one_goal", neutral(3), sessions=[dict(goals_documented=False), {},
                                                        dict(goals_documented=None)]),
        "progress_11": e("progress_11", neutral(12), sessions=visits("evaluation", *treatments(11))),
        "progress_10": e("progress_10", neutral(11), sessions=visits("evaluation", *treatments(10))),
        "progress_discharge": e("progress_discharge", neutral(13),
                                sessions=visits("evaluation", *treatments(6), "discharge", *treatments(5))),
        "progress_reeval": e("progress_reeval", neutral(14),
                             sessions=visits("evaluation", *treatments(6), "reevaluation", *treatments(6))),
        # --- NO_BASELINE_MEASURE -------------------------------------------------------------------------------
        "no_baseline": e("no_baseline", [(None, 5.0), (5.5, 4.5)]),
        "baseline_function_only": e("baseline_function_only", [(None, None), (5.5, 4.5)], sessions=[
            dict(function_instrument="ODI", function_score=40.0)]),
        # --- PLATEAU: >= 6 scored, < 1 point over the last 4, not at the relief level --------------------------
        "plateau_above_relief": e("plateau_above_relief", [(p, p) for p in (8, 7, 7, 6.5, 6.5, 6.2)]),
        "plateau_at_relief": e("plateau_at_relief", [(p, p) for p in (8, 6, 5.5, 5.5, 5.2, 5.0)]),
        "plateau_at_relief_float": e("plateau_at_relief_float",
                                     [(p, p) for p in (7, 6, 5.5, 5.5, 5.0, 4.8999999999999995)]),
        "plateau_change_1": e("plateau_change_1", [(p, p) for p in (8, 8, 7.5, 7.5, 7, 6.5)]),
        "plateau_5_scored": e("plateau_5_scored", [(p, p) for p in (7, 7, 7, 7, 7)]),
        "plateau_no_baseline": e("plateau_no_baseline", [(None, None), *[(p, p) for p in (3, 3, 3, 3, 3, 3)]],
                                 sessions=[dict(function_instrument="ODI", function_score=30.0)]),
        "plateau_low_baseline": e("plateau_low_baseline", [(p, p) for p in (2, 2, 2, 2, 2, 2)]),
        "plateau_low_baseline_relieved": e("plateau_low_baseline_relieved", [(p, p) for p in (2, 1, 0, 0, 0, 0)]),
        "plateau_self_pay": e("plateau_self_pay", [(p, p) for p in (6, 6, 6, 6, 6, 6)], payer_type="self_pay"),
    }
    # UNITS_OVER_TIME across the episodes of one patient: 20 + 7 minutes on one day support 2 units, 3 billed.
    # Text order of session ids decides where the excess is counted: 'A-10' < 'A-9'.
    cases["two_episodes_x"] = e("two_episodes_x", neutral(2), patient_id="P-two", sessions=[
        {}, dict(session_id="A-9", units=2, duration_min=20, session_date=day(7))])
    cases["two_episodes_y"] = e("two_episodes_y", neutral(2), patient_id="P-two", condition_code="M54.2",
                                condition_group="neck_pain", payer_type="self_pay", sessions=[
        dict(session_date=day(1)), dict(session_id="A-10", units=1, duration_min=7, session_date=day(7))])
    return cases


EXPECTED_FLAGS: dict[str, set[str]] = {
    "clean": set(),
    "min_8_unit_1": set(), "min_7_unit_1": {"UNITS_OVER_TIME"}, "min_37_units_3": {"UNITS_OVER_TIME"},
    "min_38_units_3": set(), "day_together_supports": set(), "day_together_over": {"UNITS_OVER_TIME"},
    "untimed_code": set(),
    "auth_reached": set(), "auth_exceeded": {"OVER_AUTHORIZED"}, "auth_given_later": {"OVER_AUTHORIZED"},
    "auth_extended": set(), "auth_lowered": {"OVER_AUTHORIZED"}, "auth_self_pay": set(),
    "auth_repeated": {"OVER_AUTHORIZED"},
    "no_referral": {"NO_REFERRAL"}, "one_referral": set(), "fsa_no_letter": {"NO_REFERRAL"}, "fsa_letter": set(),
    "self_pay_no_referral": set(),
    "no_evaluation": {"NO_EVALUATION"}, "fsa_no_evaluation": set(),
    "recert_90": set(), "recert_91": {"NO_RECERTIFICATION"}, "recert_after_reeval": {"NO_RECERTIFICATION"},
    "recert_same_day": set(), "recert_no_evaluation": {"NO_EVALUATION", "NO_RECERTIFICATION"},
    "goal_3_after": set(), "goal_4_after": {"CARE_AFTER_GOAL"}, "goal_reevaluated": set(),
    "goal_eval_discharge_3": set(), "goal_eval_discharge_4": {"CARE_AFTER_GOAL"}, "goal_low_baseline": set(),
    "no_goals": {"NO_GOALS"}, "one_goal": set(),
    "progress_11": {"NO_PROGRESS_NOTE"}, "progress_10": set(), "progress_discharge": {"NO_PROGRESS_NOTE"},
    "progress_reeval": set(),
    "no_baseline": {"NO_BASELINE_MEASURE"}, "baseline_function_only": set(),
    "plateau_above_relief": {"PLATEAU"}, "plateau_at_relief": set(), "plateau_at_relief_float": set(),
    "plateau_change_1": set(), "plateau_5_scored": set(), "plateau_no_baseline": {"PLATEAU"},
    "plateau_low_baseline": {"PLATEAU"}, "plateau_low_baseline_relieved": set(), "plateau_self_pay": set(),
    "two_episodes_x": {"UNITS_OVER_TIME"}, "two_episodes_y": {"UNITS_OVER_TIME"},
}


@pytest.fixture(scope="module")
def audited(warehouse_factory, rows):
    wh = warehouse_factory()
    wh.load([s for sessions in case_sessions(rows).values() for s in sessions])
    wh.build()
    return wh


@pytest.fixture(scope="module")
def flags(audited) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in audited.table("marts.audit_flags", "episode_key, flag_rank, session_number"):
        out.setdefault(r["episode_key"], []).append(r)
    return out


@pytest.fixture(scope="module")
def episodes(audited) -> dict[str, dict]:
    return audited.by_key("marts.audit_episodes", "episode_key")


def test_every_case_is_a_separate_episode(audited) -> None:
    keys = {r["episode_key"] for r in audited.table("marts.episode_outcomes")}
    assert keys == set(EXPECTED_FLAGS)


@pytest.mark.parametrize("key", list(EXPECTED_FLAGS))
def test_flag_raised_or_not(flags, key: str) -> None:
    assert {f["flag"] for f in flags.get(key, [])} == EXPECTED_FLAGS[key]


def _rows(flags, key: str, flag: str) -> list[dict]:
    return [f for f in flags[key] if f["flag"] == flag]


def _detail(flags, key: str, flag: str) -> str:
    (row,) = _rows(flags, key, flag)
    return row["detail"]


def test_tiers_come_from_the_catalogue(flags) -> None:
    tiers = {f["flag"]: f["tier"] for rows in flags.values() for f in rows}
    assert tiers == {
        "UNITS_OVER_TIME": "billing", "OVER_AUTHORIZED": "billing", "NO_REFERRAL": "necessity",
        "NO_EVALUATION": "necessity", "NO_RECERTIFICATION": "necessity", "CARE_AFTER_GOAL": "necessity",
        "NO_GOALS": "documentation", "NO_PROGRESS_NOTE": "documentation", "NO_BASELINE_MEASURE": "documentation",
        "PLATEAU": "review",
    }
    assert [f.tier for f in FLAG_CATALOGUE] == sorted((f.tier for f in FLAG_CATALOGUE), key=TIERS.index)
    assert len(FLAG_CATALOGUE) == 11 and "MISSING_PAIN" not in FLAGS


def test_the_spec_columns_come_first(audited) -> None:
    columns = list(audited.table("marts.audit_flags")[0])
    assert columns[:7] == ["episode_key", "clinic_id", "payer_type", "flag", "tier", "session_id", "detail"]


# --- UNITS_OVER_TIME ------------------------------------------------------------------------------------


def test_units_over_time_details_name_the_day(flags) -> None:
    assert _detail(flags, "min_37_units_3", "UNITS_OVER_TIME") == (
        "day total 37 minutes supports 2 units, 3 billed (1 excess) on 2026-01-12; timed rows that day: "
        "visit 2 (min_37_units_3-S02) CPT 97124 3 units 37 min")
    assert _detail(flags, "min_7_unit_1", "UNITS_OVER_TIME").startswith(
        "day total 7 minutes supports 0 units, 1 billed (1 excess)")
    rows = _rows(flags, "day_together_over", "UNITS_OVER_TIME")
    assert [(r["session_id"], r["session_number"], r["day_excess_units"]) for r in rows] == [
        ("day_together_over-S02", 2, 1), ("day_together_over-S03", 3, 1)]
    assert rows[0]["detail"] == rows[1]["detail"] == (
        "day total 20 minutes supports 1 unit, 2 billed (1 excess) on 2026-01-12; timed rows that day: "
        "visit 2 (day_together_over-S02) CPT 97140 1 unit 10 min; visit 3 (day_together_over-S03) CPT 97124 "
        "1 unit 10 min")
    assert rows[0]["evidence_sessions"] == [2, 3] and rows[0]["risk_sessions"] == []


def test_units_over_time_across_episodes_and_payers(flags, episodes) -> None:
    x = _rows(flags, "two_episodes_x", "UNITS_OVER_TIME")
    y = _rows(flags, "two_episodes_y", "UNITS_OVER_TIME")
    assert [r["session_id"] for r in x] == ["A-9"] and [r["session_id"] for r in y] == ["A-10"]
    assert y[0]["payer_type"] == "self_pay" and x[0]["payer_type"] == "commercial"
    assert "session A-10 of episode two_episodes_y CPT 97124 1 unit 7 min" in x[0]["detail"]
    assert x[0]["detail"].startswith("day total 27 minutes supports 2 units, 3 billed (1 excess)")
    # the day's excess is counted once, under the episode of the smallest session id as text ('A-10' < 'A-9')
    assert (episodes["two_episodes_y"]["units_over_time"], episodes["two_episodes_x"]["units_over_time"]) == (1, 0)


def test_excess_units_count_each_day_once(episodes) -> None:
    assert episodes["day_together_over"]["units_over_time"] == 1
    assert episodes["day_together_over"]["days_over_time"] == 1
    assert episodes["min_37_units_3"]["units_over_time"] == 1
    assert episodes["day_together_over"]["units_at_risk"] == 0  # excess units are reported apart


# --- OVER_AUTHORIZED ------------------------------------------------------------------------------------


def test_over_authorized_rows_and_details(flags) -> None:
    (row,) = _rows(flags, "auth_exceeded", "OVER_AUTHORIZED")
    assert (row["session_number"], row["detail"]) == (
        6, "visit 6 of 5 authorised (the authorisation of 5 visits in force since visit 1)")
    assert row["evidence_sessions"] == [1, 6] and row["risk_sessions"] == [6]
    later = _rows(flags, "auth_given_later", "OVER_AUTHORIZED")
    assert [r["session_number"] for r in later] == [7]  # nothing in force before visit 3, then 6 authorised
    repeated = _rows(flags, "auth_repeated", "OVER_AUTHORIZED")
    assert [(r["session_number"], r["evidence_sessions"]) for r in repeated] == [(4, [2, 4]), (5, [2, 5])]
    assert repeated[1]["detail"] == "visit 5 of 3 authorised (the authorisation of 3 visits in force since visit 2)"
    lowered = _rows(flags, "auth_lowered", "OVER_AUTHORIZED")
    assert [r["session_number"] for r in lowered] == [4, 5]
    assert lowered[0]["detail"] == "visit 4 of 3 authorised (the authorisation of 3 visits in force since visit 3)"
    assert lowered[0]["evidence_sessions"] == [3, 4]


# --- NO_REFERRAL, NO_EVALUATION ----------------------------------------------------------------------------


def test_referral_details(flags) -> None:
    assert _detail(flags, "no_referral", "NO_REFERRAL") == (
        "none of the 3 visits names a referral source other than self (1 say self, 2 are empty): no referral or "
        "prescription on file")
    assert "letter of medical necessity" in _detail(flags, "fsa_no_letter", "NO_REFERRAL")
    assert _detail(flags, "no_evaluation", "NO_EVALUATION") == (
        "visit 1 on 2026-01-05 is a treatment visit, not an evaluation")
    for key, flag in (("no_referral", "NO_REFERRAL"), ("no_evaluation", "NO_EVALUATION")):
        assert all(f["session_id"] is None for f in _rows(flags, key, flag))


# --- NO_RECERTIFICATION ---------------------------------------------------------------------------------


def test_recertification_at_90_and_91_days(flags) -> None:
    (row,) = _rows(flags, "recert_91", "NO_RECERTIFICATION")
    assert (row["session_number"], row["session_id"]) == (3, "recert_91-S03")
    assert row["detail"] == ("91 days since the last evaluation on 2026-01-05 (visit 1); the plan of care is due "
                             "for recertification every 90 days")
    assert row["evidence_sessions"] == [1, 3] and row["risk_sessions"] == [3]
    (row,) = _rows(flags, "recert_after_reeval", "NO_RECERTIFICATION")
    assert row["session_number"] == 4
    assert row["detail"].startswith("91 days since the last re-evaluation on 2026-03-06 (visit 2)")
    (row,) = _rows(flags, "recert_no_evaluation", "NO_RECERTIFICATION")
    assert row["detail"].startswith("91 days since the first visit on 2026-01-05, with no evaluation or "
                                    "re-evaluation on file")


# --- CARE_AFTER_GOAL ------------------------------------------------------------------------------------


def test_care_after_goal(flags, episodes) -> None:
    (row,) = _rows(flags, "goal_4_after", "CARE_AFTER_GOAL")
    assert row["detail"] == ("4 treatment visits after relief at visit 2 without re-evaluation (visits 3, 4, 5, 6; "
                             "pain 8 at visit 1, 5 at visit 2), up to the end of the episode")
    assert row["evidence_sessions"] == [2, 3, 4, 5, 6] and row["risk_sessions"] == [3, 4, 5, 6]
    (row,) = _rows(flags, "goal_eval_discharge_4", "CARE_AFTER_GOAL")
    assert row["risk_sessions"] == [3, 5, 7, 8]  # the evaluation (4) and the discharge (6) do not count
    # all 8 units of the four treatments after relief are at risk (2 units each)
    assert episodes["goal_4_after"]["units_at_risk"] == 8


# --- NO_GOALS, NO_PROGRESS_NOTE, NO_BASELINE_MEASURE ---------------------------------------------------------


def test_documentation_details(flags) -> None:
    assert _detail(flags, "no_goals", "NO_GOALS") == (
        "none of the 3 visits has treatment goals documented (2 say no, 1 are empty)")
    assert _detail(flags, "progress_11", "NO_PROGRESS_NOTE").startswith(
        "11 treatment visits in a row (visits 2 to 12) without an evaluation or re-evaluation; a progress note is "
        "due at least every 10 treatment visits")
    (row,) = _rows(flags, "progress_discharge", "NO_PROGRESS_NOTE")
    assert row["evidence_sessions"] == [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13]
    assert _detail(flags, "no_baseline", "NO_BASELINE_MEASURE") == (
        "visit 1 (evaluation on 2026-01-05) records neither a pain score before treatment nor a function score")


# --- PLATEAU ---------------------------------------------------------------------------------------------


def test_plateau_detail_is_a_prompt_not_a_denial(flags) -> None:
    detail = _detail(flags, "plateau_above_relief", "PLATEAU")
    assert detail.startswith("pain 7 -> 6.2 over the last 4 scored visits (visits 3 to 6): a change of 0.8, less "
                             "than 1 point, and not at the relief level (baseline 8: relief is pain 5.6 or less)")
    for phrase in ("prompt for review", "not a denial", "skilled maintenance care", "Jimmo v. Sebelius"):
        assert phrase in detail
    assert "no baseline pain score" in _detail(flags, "plateau_no_baseline", "PLATEAU")
    (row,) = _rows(flags, "plateau_above_relief", "PLATEAU")
    assert row["evidence_sessions"] == [3, 4, 5, 6]


# --- NO_OUTCOME_MEASURE: needs the follow-up status of section 12 ---------------------------------------------


@pytest.fixture(scope="module")
def outcome_cases(warehouse_factory, rows):
    """Clinic C2's data ends on 2026-03-30 (the anchor episode); episodes without later measures."""
    e = rows.episode
    unmeasured = [(6.0, 5.0), (None, None), (None, None)]
    wh = warehouse_factory()
    wh.load([
        *e("anchor", neutral(13), sessions=visits("evaluation", *treatments(5), "reevaluation", *treatments(6)),
           clinic_id="C2"),                                                                         # ends 03-30
        *e("discharged", unmeasured, sessions=visits("evaluation", "treatment", "discharge"), clinic_id="C2"),
        *e("discharged_function", unmeasured, clinic_id="C2", sessions=[
            {}, {}, dict(visit_type="discharge", function_instrument="ODI", function_score=20.0)]),
        *e("lost", unmeasured, clinic_id="C2"),                                                     # ends 01-19
        *e("active", unmeasured, clinic_id="C2", sessions=[
            dict(session_date=date(2026, 2, 20)), dict(session_date=date(2026, 2, 25)),
            dict(session_date=date(2026, 2, 28))]),                                                 # 30 days before
        *e("single_visit", [(6.0, 5.0)], sessions=visits("evaluation"), clinic_id="C2"),
        *e("lost_self_pay", unmeasured, clinic_id="C2", payer_type="self_pay"),
    ])
    wh.build()
    return wh


def test_no_outcome_measure_needs_an_ended_episode(outcome_cases) -> None:
    found = {}
    for r in outcome_cases.table("marts.audit_flags"):
        found.setdefault(r["episode_key"], {})[r["flag"]] = r["detail"]
    status = {r["episode_key"]: r["status"] for r in outcome_cases.table("marts.episode_outcomes")}
    assert (status["discharged"], status["lost"], status["active"]) == ("discharged", "lost_to_follow_up", "active")
    assert {k: set(v) for k, v in found.items()} == {"discharged": {"NO_OUTCOME_MEASURE"},
                                                      "lost": {"NO_OUTCOME_MEASURE"}}
    assert found["discharged"]["NO_OUTCOME_MEASURE"] == (
        "discharged after 3 visits, and none of visits 2 to 3 records a pain score before treatment or a function "
        "score")
    assert found["lost"]["NO_OUTCOME_MEASURE"] == (
        "lost to follow-up after 3 visits: no discharge, and no visit since 2026-01-19, more than 30 days before the "
        "clinic's latest recorded visit, and none of visits 2 to 3 records a pain score before treatment or a "
        "function score")


# --- units at risk --------------------------------------------------------------------------------------


def test_units_at_risk_count_each_session_once(warehouse_factory, rows) -> None:
    """Visits 4-6 are over the authorisation (3) and past 90 days; visits 3-6 are care after the goal."""
    wh = warehouse_factory()
    days = (0, 7, 14, 100, 107, 114)
    units = (1, 2, 3, 1, 2, 3)
    wh.load([
        *rows.episode("overlap", [(8.0, 7.0), (5.0, 4.0), *[(None, None)] * 4], sessions=[
            dict(session_date=day(d), units=u, duration_min=60, authorized_visits=3 if i == 0 else None)
            for i, (d, u) in enumerate(zip(days, units, strict=True))]),
        *rows.episode("whole", neutral(4), sessions=[
            dict(visit_type="treatment", units=1, duration_min=60), dict(units=4, duration_min=60),
            dict(session_date=day(120), units=2, duration_min=60), dict(units=3, duration_min=60,
                                                                         session_date=day(121))],
            payer_type="medicare", patient_id="P-whole"),
    ])
    wh.build()
    flags = {}
    for r in wh.table("marts.audit_flags"):
        flags.setdefault(r["episode_key"], set()).add(r["flag"])
    assert flags == {"overlap": {"OVER_AUTHORIZED", "NO_RECERTIFICATION", "CARE_AFTER_GOAL"},
                     "whole": {"NO_EVALUATION", "NO_RECERTIFICATION"}}
    risk = wh.by_key("marts.audit_episodes", "episode_key")
    # overlap: visits 3, 4, 5, 6 once each = 3 + 1 + 2 + 3; whole: every unit of the episode = 1 + 4 + 2 + 3
    assert (risk["overlap"]["units_at_risk"], risk["overlap"]["n_sessions_at_risk"]) == (9, 4)
    assert (risk["whole"]["units_at_risk"], risk["whole"]["n_sessions_at_risk"]) == (10, 4)
    assert (risk["overlap"]["top_tier"], risk["overlap"]["flags"]) == (
        "billing", ["OVER_AUTHORIZED", "NO_RECERTIFICATION", "CARE_AFTER_GOAL"])


# --- the summary --------------------------------------------------------------------------------------------


def test_summary_per_clinic_and_payer(warehouse_factory, rows) -> None:
    wh = warehouse_factory()
    e = rows.episode
    wh.load([
        *e("a", neutral(2), sessions=[{}, dict(units=4, duration_min=45)]),              # 1 excess unit
        *e("b", neutral(7), sessions=[dict(authorized_visits=5)]),                     # visits 6, 7: 4 units
        *e("c", neutral(2), patient_id="P-a", goals_documented=False,                  # same patient as a,
           sessions=[dict(session_date=day(1)), dict(session_date=day(8))]),             # other days
        *e("d", neutral(2), clinic_id="C2", payer_type="self_pay", referral_source="self"),
        *e("f", neutral(2), clinic_id="C2", payer_type="fsa_hsa", referral_source="self"),  # 2 sessions, 4 units
    ])
    wh.build()
    summary = {(r["clinic_id"], r["payer_type"]): r for r in wh.table("marts.audit_summary")}
    assert set(summary) == {("C1", "commercial"), ("C2", "self_pay"), ("C2", "fsa_hsa")}
    c1 = summary[("C1", "commercial")]
    assert {k: c1[k] for k in ("n_episodes", "n_flagged_episodes", "n_sessions", "n_patients", "units_billed",
                               "units_over_time", "units_at_risk")} == {
        "n_episodes": 3, "n_flagged_episodes": 3, "n_sessions": 11, "n_patients": 2, "units_billed": 24,
        "units_over_time": 1, "units_at_risk": 4}
    assert {column: c1[column] for column in FLAGS.values()} == {
        **dict.fromkeys(FLAGS.values(), 0), "units_over_time_episodes": 1, "over_authorized": 1, "no_goals": 1}
    assert (summary[("C2", "self_pay")]["n_flagged_episodes"], summary[("C2", "fsa_hsa")]["no_referral"]) == (0, 1)
    assert summary[("C2", "fsa_hsa")]["units_at_risk"] == 4
    columns = list(c1)
    assert columns[:8] == ["clinic_id", "payer_type", "n_episodes", "n_flagged_episodes", "n_sessions",
                           "units_billed", "units_over_time", "units_at_risk"]
    assert columns[8:19] == list(FLAGS.values())


# --- payer applicability as reference data --------------------------------------------------------------------


def test_the_shipped_table_is_the_spec_default() -> None:
    with open(REFERENCE_DIR / "audit_payer_rules.csv", newline="", encoding="utf-8") as fh:
        shipped = {(r["flag"], r["payer_type"]): r["applies"] == "true" for r in csv.DictReader(fh)}
    assert shipped == {(f, p): a for f, p, a in default_payer_rules()}
    insured = set(INSURED_PAYERS)
    for flag in FLAGS:
        applies = {p for p in PAYER_TYPES if shipped[(flag, p)]}
        expected = set(PAYER_TYPES) if flag == "UNITS_OVER_TIME" else insured | (
            {"fsa_hsa"} if flag == "NO_REFERRAL" else set())
        assert applies == expected, flag


def _override(folder: Path, changes: dict[tuple[str, str], bool]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "audit_payer_rules.csv", "w", newline="", encoding="utf-8") as fh:
        fh.write("flag,payer_type,applies\n")
        for flag, payer, applies in default_payer_rules():
            fh.write(f"{flag},{payer},{'yes' if changes.get((flag, payer), applies) else 'no'}\n")
    return folder


def test_payer_applicability_override(warehouse_factory, rows, tmp_path: Path) -> None:
    folder = _override(tmp_path / "ref", {("PLATEAU", "self_pay"): True, ("UNITS_OVER_TIME", "self_pay"): False,
                                          ("NO_GOALS", "commercial"): False})
    wh = warehouse_factory(Settings().with_overrides(reference_dir=str(folder)))
    cases = case_sessions(rows)
    wh.load([s for key in ("plateau_self_pay", "no_goals", "two_episodes_x", "two_episodes_y") for s in cases[key]])
    wh.build()
    found = {(r["episode_key"], r["flag"]) for r in wh.table("marts.audit_flags")}
    assert found == {("plateau_self_pay", "PLATEAU"), ("two_episodes_x", "UNITS_OVER_TIME")}
    # the self-pay row is no longer flagged: the day's excess goes to the flagged row's episode
    assert wh.by_key("marts.audit_episodes", "episode_key")["two_episodes_x"]["units_over_time"] == 1
    rules = dict(((f, p), a) for f, p, a in wh.con.execute("SELECT * FROM ref.audit_payer_rules").fetchall())
    assert rules[("PLATEAU", "self_pay")] is True and rules[("NO_GOALS", "commercial")] is False


def test_an_incomplete_override_stops_the_build(warehouse_factory, rows, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    folder.mkdir()
    (folder / "audit_payer_rules.csv").write_text("flag,payer_type,applies\nPLATEAU,self_pay,true\n"
                                                  "MISSING_PAIN,commercial,true\n", encoding="utf-8")
    wh = warehouse_factory(Settings().with_overrides(reference_dir=str(folder)))
    wh.load(rows.episode("e", neutral(2)))
    with pytest.raises(ValueError, match="unknown flag 'MISSING_PAIN'.*missing UNITS_OVER_TIME x commercial"):
        wh.build()


# --- thresholds come from the settings ------------------------------------------------------------------------


def test_thresholds_come_from_settings(warehouse_factory, rows) -> None:
    wh = warehouse_factory(Settings().with_overrides(recertification_days=60, care_after_goal_visits=3,
                                                     plateau_window=3, plateau_min_sessions=5))
    cases = case_sessions(rows)
    e = rows.episode
    wh.load([*cases["goal_3_after"], *e("recert_61", neutral(2), sessions=[{}, dict(session_date=day(61))]),
             *e("recert_60", neutral(2), sessions=[{}, dict(session_date=day(60))]),
             *e("plateau_3", [(p, p) for p in (8, 7, 7, 6.5, 6.1)])])
    wh.build()
    found = {(r["episode_key"], r["flag"]): r["detail"] for r in wh.table("marts.audit_flags")}
    assert set(found) == {("goal_3_after", "CARE_AFTER_GOAL"), ("recert_61", "NO_RECERTIFICATION"),
                          ("plateau_3", "PLATEAU")}
    assert found[("recert_61", "NO_RECERTIFICATION")].endswith("due for recertification every 60 days")
    assert "over the last 3 scored visits (visits 3 to 5): a change of 0.9" in found[("plateau_3", "PLATEAU")]


def test_rules_in_words_follow_the_settings() -> None:
    settings = Settings().with_overrides(recertification_days=77, progress_note_max_visits=13,
                                         care_after_goal_visits=5, plateau_window=3, plateau_min_sessions=7)
    assert "more than 77 days" in rule_in_words("NO_RECERTIFICATION", settings)
    assert "More than 13 treatment visits" in rule_in_words("NO_PROGRESS_NOTE", settings)
    assert "5 or more treatment visits" in rule_in_words("CARE_AFTER_GOAL", settings)
    assert "At least 7 visits" in rule_in_words("PLATEAU", settings) and "last 3 of them" in rule_in_words(
        "PLATEAU", settings)
    text = " ".join(rule_in_words(f.name, settings) for f in FLAG_CATALOGUE)
    assert "90 days" not in text and "10 treatment" not in text


# --- worklists ------------------------------------------------------------------------------------------------


def test_worklists_one_csv_per_payer_in_the_restricted_folder(audited, tmp_path: Path) -> None:
    restricted = tmp_path / "restricted"
    restricted.mkdir()
    stale = restricted / "audit_worklist_auto_pip.csv"
    stale.write_text("old\n")
    paths = write_audit_worklists(audited.con, restricted)
    assert not stale.exists()
    assert [p.name for p in paths] == ["audit_worklist_commercial.csv", "audit_worklist_medicare.csv",
                                       "audit_worklist_fsa_hsa.csv", "audit_worklist_self_pay.csv"]
    with open(restricted / "audit_worklist_commercial.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == list(WORKLIST_COLUMNS)
    assert "patient_id" not in table[0]
    # ordered by tier, then units at risk (largest first)
    order = [(TIERS.index(r["tier"]), -int(r["units_at_risk"])) for r in table]
    assert order == sorted(order)
    by_key = {r["episode_key"]: r for r in table}
    assert set(by_key) == {k for k, v in EXPECTED_FLAGS.items() if v} - {
        "no_evaluation", "fsa_no_letter", "two_episodes_y"}
    assert (by_key["goal_4_after"]["tier"], by_key["goal_4_after"]["units_at_risk"]) == ("necessity", "8")
    assert by_key["day_together_over"]["units_over_time"] == "1"
    assert by_key["day_together_over"]["flags"] == "UNITS_OVER_TIME"
    assert by_key["day_together_over"]["n_flags"] == "2"  # one per timed row of the day
    assert by_key["recert_91"]["details"].startswith("NO_RECERTIFICATION: 91 days since the last evaluation")
    assert by_key["plateau_above_relief"]["first_date"] == "2026-01-05"


def test_worklists_refuse_the_public_site(audited, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with pytest.raises(ValueError, match="must not be in or around the site"):
        write_audit_worklists(audited.con, site / "restricted", site=site)
    assert not (site / "restricted").exists()
    assert write_audit_worklists(audited.con, tmp_path / "restricted", site=site)


# --- an independent implementation of section 8, compared on random data --------------------------------------

TIMED = {"97110", "97112", "97124", "97140", "97530"}


def reference_audit(sessions: list[dict], settings: Settings) -> tuple[set, dict, dict]:
    """Section 8 in plain Python, written from the specification alone (exact decimals for thresholds).

    Returns the raised (episode, flag, session_id or None), units at risk and excess units per episode.
    """
    from decimal import Decimal

    def dec(x: float | None) -> Decimal | None:
        return None if x is None else Decimal(repr(x))

    rules = {(f, p): a for f, p, a in default_payer_rules()}
    by_episode: dict[str, list[dict]] = {}
    for s in sessions:
        by_episode.setdefault(s["episode_key"], []).append(s)
    for rows_ in by_episode.values():
        rows_.sort(key=lambda s: s["session_number"])
    payer = {k: v[0]["payer_type"] for k, v in by_episode.items()}
    data_end: dict[str, date] = {}
    for s in sessions:
        data_end[s["clinic_id"]] = max(data_end.get(s["clinic_id"], s["session_date"]), s["session_date"])
    raised: set[tuple[str, str, str | None]] = set()
    risk: dict[str, set[int]] = {k: set() for k in by_episode}

    def raise_(key: str, flag: str, session: dict | None = None, at_risk: list[int] | None = None) -> None:
        if rules[(flag, payer[key])]:
            raised.add((key, flag, None if session is None else session["session_id"]))
            risk[key].update(at_risk or [])

    # UNITS_OVER_TIME per (clinic, patient, day) over timed rows of any episode
    days: dict[tuple, list[dict]] = {}
    for s in sessions:
        if s["cpt_code"] in TIMED:
            days.setdefault((s["clinic_id"], s["patient_id"], s["session_date"]), []).append(s)
    excess = dict.fromkeys(by_episode, 0)
    for day_rows in days.values():
        units, minutes = sum(r["units"] for r in day_rows), sum(r["duration_min"] for r in day_rows)
        if units > (minutes + 7) // 15:
            flagged = [r for r in day_rows if rules[("UNITS_OVER_TIME", payer[r["episode_key"]])]]
            for r in flagged:
                raise_(r["episode_key"], "UNITS_OVER_TIME", r)
            if flagged:
                excess[min(flagged, key=lambda r: r["session_id"])["episode_key"]] += units - (minutes + 7) // 15
    for key, rows_ in by_episode.items():
        numbers = [s["session_number"] for s in rows_]
        first = rows_[0]
        baseline = dec(first["pain_pre"])
        # OVER_AUTHORIZED
        authorised = None
        for s in rows_:
            if s.get("authorized_visits") is not None:
                authorised = s["authorized_visits"]
            if authorised is not None and s["session_number"] > authorised:
                raise_(key, "OVER_AUTHORIZED", s, [s["session_number"]])
        if not any((s["referral_source"] or "").strip() not in ("", "self") for s in rows_):
            raise_(key, "NO_REFERRAL", None, numbers)
        if first["visit_type"] != "evaluation":
            raise_(key, "NO_EVALUATION", None, numbers)
        assessed = [s["session_date"] for s in rows_ if s["visit_type"] in ("evaluation", "reevaluation")]
        for s in rows_:
            before = [d for d in assessed if d <= s["session_date"]]
            anchor = max(before) if before else first["session_date"]
            if (s["session_date"] - anchor).days > settings.recertification_days:
                raise_(key, "NO_RECERTIFICATION", s, [s["session_number"]])
        later_scored = [s for s in rows_ if s["session_number"] >= 2 and s["pain_pre"] is not None]
        if baseline is not None and baseline >= 3 and later_scored:
            relieved = [s["session_number"] for s in later_scored
                        if dec(s["pain_pre"]) <= baseline - 2 and dec(s["pain_pre"]) <= Decimal("0.7") * baseline]
            if relieved:
                k = relieved[0]
                stop = min([s["session_number"] for s in rows_ if s["session_number"] > k
                            and s["visit_type"] == "reevaluation"], default=10**9)
                counted = [s["session_number"] for s in rows_ if k < s["session_number"] < stop
                           and s["visit_type"] == "treatment"]
                if len(counted) >= settings.care_after_goal_visits:
                    raise_(key, "CARE_AFTER_GOAL", None, counted)
        if not any(s["goals_documented"] is True for s in rows_):
            raise_(key, "NO_GOALS")
        run = longest = 0
        for s in rows_:
            if s["visit_type"] in ("evaluation", "reevaluation"):
                run = 0
            elif s["visit_type"] == "treatment":
                run += 1
                longest = max(longest, run)
        if longest > settings.progress_note_max_visits:
            raise_(key, "NO_PROGRESS_NOTE")
        if first["pain_pre"] is None and first["function_score"] is None:
            raise_(key, "NO_BASELINE_MEASURE")
        if any(s["visit_type"] == "discharge" for s in rows_):
            status = "discharged"
        elif (data_end[first["clinic_id"]] - rows_[-1]["session_date"]).days <= settings.follow_up_active_days:
            status = "active"
        else:
            status = "lost_to_follow_up"
        if status != "active" and len(rows_) >= 2 and not any(
                s["pain_pre"] is not None or s["function_score"] is not None for s in rows_[1:]):
            raise_(key, "NO_OUTCOME_MEASURE")
        scored = [dec(s["pain_pre"]) for s in rows_ if s["pain_pre"] is not None]
        if len(scored) >= max(settings.plateau_min_sessions, settings.plateau_window):
            window = scored[-settings.plateau_window:]
            last = window[-1]
            at_relief = baseline is not None and last <= baseline - 2 and last <= Decimal("0.7") * baseline
            if window[0] - last < Decimal(str(settings.plateau_min_change)) and not at_relief:
                raise_(key, "PLATEAU")
    units = {(s["episode_key"], s["session_number"]): s["units"] for s in sessions}
    at_risk = {k: sum(units[(k, n)] for n in v) for k, v in risk.items()}
    return raised, at_risk, excess


_pain = st.one_of(st.none(), st.integers(0, 20).map(lambda x: x / 2))
_session = st.fixed_dictionaries({
    "gap": st.sampled_from([0, 3, 7, 14, 30, 59, 60, 61, 90]),
    "visit_type": st.sampled_from(["evaluation", "treatment", "treatment", "treatment", "reevaluation", "discharge"]),
    "pain": _pain,
    "function_score": st.one_of(st.none(), st.just(30.0)),
    "referral_source": st.sampled_from([None, "", "self", "physician"]),
    "goals_documented": st.sampled_from([None, False, True]),
    "authorized_visits": st.one_of(st.none(), st.none(), st.integers(1, 8)),
    "cpt_code": st.sampled_from(["97124", "97140", "97110", "97010"]),
    "units": st.integers(0, 4),
    "duration_min": st.sampled_from([5, 7, 8, 10, 22, 23, 37, 38, 52, 53]),
})
_episode = st.fixed_dictionaries({
    "clinic_id": st.sampled_from(["C1", "C2"]),
    "patient_id": st.sampled_from(["P1", "P2", "P3"]),
    "payer_type": st.sampled_from(["commercial", "medicare", "fsa_hsa", "self_pay"]),
    "start": st.sampled_from([0, 0, 1, 7]),
    "sessions": st.lists(_session, min_size=1, max_size=14),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(episodes=st.lists(_episode, min_size=1, max_size=8))
def test_flags_equal_an_independent_implementation(warehouse_factory, rows, episodes) -> None:
    sessions = []
    for i, ep in enumerate(episodes):
        when = START + timedelta(days=ep["start"])
        per = []
        for k, s in enumerate(ep["sessions"], start=1):
            when = when + timedelta(days=s["gap"] if k > 1 else 0)
            per.append({key: value for key, value in s.items() if key not in ("gap", "pain")} | dict(
                session_date=when, pain_pre=s["pain"], pain_post=None,
                session_id=f"{'ZA'[k % 2]}{(i * 7 + k * 3) % 10}-{i}-{k}",
                function_instrument=None if s["function_score"] is None else "ODI"))
        sessions += rows.episode(f"e{i}", sessions=per, clinic_id=ep["clinic_id"], payer_type=ep["payer_type"],
                                 patient_id=ep["patient_id"])
    # smaller thresholds than the defaults, so that random courses of up to 14 visits raise every flag
    wh = warehouse_factory(Settings().with_overrides(progress_note_max_visits=3, care_after_goal_visits=2,
                                                     plateau_min_sessions=4, plateau_window=3,
                                                     recertification_days=60))
    wh.load(sessions)
    wh.build()
    expected, at_risk, excess = reference_audit(sessions, wh.settings)
    found = {(r["episode_key"], r["flag"], r["session_id"]) for r in wh.table("marts.audit_flags")}
    assert found == expected
    audit = wh.by_key("marts.audit_episodes", "episode_key")
    assert set(audit) == {k for k, _, _ in expected}
    assert {k: (r["units_at_risk"], r["units_over_time"]) for k, r in audit.items()} == {
        k: (at_risk[k], excess[k]) for k in audit}
    summary = wh.table("marts.audit_summary")
    assert sum(r["units_over_time"] for r in summary) == sum(excess.values())
    assert sum(r["units_at_risk"] for r in summary) == sum(at_risk.values())
    for flag, column in FLAGS.items():
        assert sum(r[column] for r in summary) == len({k for k, f, _ in expected if f == flag}), flag


def test_hand_made_cases_equal_the_independent_implementation(audited, outcome_cases) -> None:
    for wh in (audited, outcome_cases):
        expected, at_risk, excess = reference_audit(wh.table("staging.sessions"), wh.settings)
        assert {(r["episode_key"], r["flag"], r["session_id"]) for r in wh.table("marts.audit_flags")} == expected
        assert {k: (r["units_at_risk"], r["units_over_time"]) for k, r in wh.by_key(
            "marts.audit_episodes", "episode_key").items()} == {k: (at_risk[k], excess[k]) for k, _, _ in expected}
