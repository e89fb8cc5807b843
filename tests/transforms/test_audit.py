"""Payer audit flags (metrics.md section 8): each flag raised by a case and not by its near miss; summary; worklists."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from transforms.audit import FLAGS, WORKLIST_COLUMNS
from transforms.marts import write_audit_worklists


def falling(n: int) -> list[tuple[float, float]]:
    """n sessions whose pain keeps falling by 0.5 a visit (no plateau), both scores present."""
    return [(9.0 - 0.5 * i, 8.0 - 0.5 * i) for i in range(n)]


def visits(*types: str) -> list[dict[str, Any]]:
    return [dict(visit_type=t) for t in types]


def scored(pre: list[float | None]) -> list[tuple[float | None, float | None]]:
    return [(p, p) for p in pre]


def case_sessions(rows) -> dict[str, list[dict]]:
    e = rows.episode
    return {
        # UNITS_OVER_TIME: 22 min support 1 unit, 23 min support 2
        "units_22": e("units_22", falling(2), sessions=[{}, dict(units=2, duration_min=22)]),
        "units_23": e("units_23", falling(2), sessions=[{}, dict(units=2, duration_min=23)]),
        "units_45": e("units_45", falling(2), sessions=[{}, dict(units=4, duration_min=45, cpt_code="97140")]),
        "units_7min": e("units_7min", falling(2), sessions=[{}, dict(units=1, duration_min=7)]),
        "units_untimed": e("units_untimed", falling(2), sessions=[{}, dict(units=3, duration_min=10, cpt_code="97010")]),
        "units_self_pay": e("units_self_pay", falling(2), sessions=[{}, dict(units=3, duration_min=30)],
                            payer_type="self_pay"),
        # MISSING_PAIN
        "missing_post": e("missing_post", [(6, 5), (5, None), (4, 3)]),
        "missing_both": e("missing_both", [(6, 5), (5, 4), (None, None)]),
        # NO_REFERRAL (insured only)
        "no_referral": e("no_referral", falling(3), sessions=[dict(referral_source="self"), dict(referral_source=None),
                                                             dict(referral_source="")]),
        "one_referral": e("one_referral", falling(3), sessions=[dict(referral_source="self"), {},
                                                               dict(referral_source="chiropractor")],
                          referral_source="self"),
        "self_pay_no_referral": e("self_pay_no_referral", falling(2), referral_source="self", payer_type="self_pay"),
        # NO_EVALUATION (insured only)
        "no_evaluation": e("no_evaluation", falling(2), sessions=visits("treatment", "treatment"), payer_type="medicare"),
        "evaluation": e("evaluation", falling(2), sessions=visits("evaluation", "treatment"), payer_type="medicare"),
        "fsa_no_evaluation": e("fsa_no_evaluation", falling(2), sessions=visits("treatment", "treatment"),
                               payer_type="fsa_hsa"),
        # NO_GOALS (insured only)
        "no_goals": e("no_goals", falling(3), sessions=[dict(goals_documented=False), dict(goals_documented=None),
                                                       dict(goals_documented=False)]),
        "one_goal": e("one_goal", falling(3), sessions=[dict(goals_documented=False), dict(goals_documented=True),
                                                       dict(goals_documented=None)]),
        # NO_PROGRESS_NOTE: more than 10 treatment visits with no (re)evaluation between them
        "progress_11": e("progress_11", falling(12), sessions=visits("evaluation", *["treatment"] * 11)),
        "progress_10": e("progress_10", falling(11), sessions=visits("evaluation", *["treatment"] * 10)),
        "progress_reeval": e("progress_reeval", falling(14),
                             sessions=visits("evaluation", *["treatment"] * 6, "reevaluation", *["treatment"] * 6)),
        "progress_discharge": e("progress_discharge", falling(13),
                                sessions=visits("evaluation", *["treatment"] * 6, "discharge", *["treatment"] * 5)),
        "progress_self_pay": e("progress_self_pay", falling(12), sessions=visits("evaluation", *["treatment"] * 11),
                               payer_type="self_pay"),
        # PLATEAU: >= 6 scored visits and first - last over the last 4 scored < 1 point (any payer)
        "plateau_0.9": e("plateau_0.9", scored([8, 7, 6, 5, 4.6, 4.3, 4.1])),
        "plateau_1.0": e("plateau_1.0", scored([8, 7, 6, 5, 4.6, 4.3, 4.0])),
        "plateau_float_1.0": e("plateau_float_1.0", scored([8, 7, 6, 5.1, 4.6, 4.3, 4.1])),
        "plateau_5_scored": e("plateau_5_scored", scored([5, 5, 5, 5, 5])),
        "plateau_gaps": e("plateau_gaps", scored([8, None, 6, 5, None, 5, 5, 4.5]), referral_source="physician"),
        "plateau_self_pay": e("plateau_self_pay", scored([6, 6, 6, 6, 6, 6]), payer_type="self_pay"),
        "clean": e("clean", falling(4)),
    }


EXPECTED_FLAGS: dict[str, set[str]] = {
    "units_22": {"UNITS_OVER_TIME"}, "units_23": set(), "units_45": {"UNITS_OVER_TIME"},
    "units_7min": {"UNITS_OVER_TIME"}, "units_untimed": set(), "units_self_pay": {"UNITS_OVER_TIME"},
    "missing_post": {"MISSING_PAIN"}, "missing_both": {"MISSING_PAIN"},
    "no_referral": {"NO_REFERRAL"}, "one_referral": set(), "self_pay_no_referral": set(),
    "no_evaluation": {"NO_EVALUATION"}, "evaluation": set(), "fsa_no_evaluation": set(),
    "no_goals": {"NO_GOALS"}, "one_goal": set(),
    "progress_11": {"NO_PROGRESS_NOTE"}, "progress_10": set(), "progress_reeval": set(),
    "progress_discharge": {"NO_PROGRESS_NOTE"}, "progress_self_pay": set(),
    "plateau_0.9": {"PLATEAU"}, "plateau_1.0": set(), "plateau_float_1.0": set(), "plateau_5_scored": set(),
    "plateau_gaps": {"PLATEAU", "MISSING_PAIN"}, "plateau_self_pay": {"PLATEAU"}, "clean": set(),
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
    for r in audited.table("marts.audit_flags", "episode_key, flag, session_number"):
        out.setdefault(r["episode_key"], []).append(r)
    return out


@pytest.mark.parametrize("key", list(EXPECTED_FLAGS))
def test_flag_raised_or_not(flags, key: str) -> None:
    assert {f["flag"] for f in flags.get(key, [])} == EXPECTED_FLAGS[key]


def _detail(flags, key: str, flag: str) -> str:
    (row,) = [f for f in flags[key] if f["flag"] == flag]
    return row["detail"]


def test_units_over_time_detail(flags) -> None:
    assert _detail(flags, "units_22", "UNITS_OVER_TIME").startswith(
        "2 units billed for 22 min; the 8-minute rule allows 1")
    assert _detail(flags, "units_45", "UNITS_OVER_TIME").startswith(
        "4 units billed for 45 min; the 8-minute rule allows 3")
    assert _detail(flags, "units_7min", "UNITS_OVER_TIME").startswith(
        "1 unit billed for 7 min; the 8-minute rule allows 0")
    row = flags["units_45"][0]
    assert (row["session_id"], row["session_number"], row["payer_type"]) == ("units_45-S02", 2, "commercial")


def test_missing_pain_detail(flags) -> None:
    assert _detail(flags, "missing_post", "MISSING_PAIN") == "pain after treatment (pain_post) not recorded (session 2)"
    assert _detail(flags, "missing_both", "MISSING_PAIN") == (
        "pain before and after treatment (pain_pre, pain_post) not recorded (session 3)")


def test_episode_flag_details(flags) -> None:
    assert "referral source other than self" in _detail(flags, "no_referral", "NO_REFERRAL")
    assert _detail(flags, "no_evaluation", "NO_EVALUATION") == (
        "session 1 of this medicare episode is a treatment visit, not an evaluation")
    assert "goals documented" in _detail(flags, "no_goals", "NO_GOALS")
    assert _detail(flags, "progress_11", "NO_PROGRESS_NOTE").startswith(
        "11 treatment visits in a row (sessions 2 to 12) without an evaluation or re-evaluation")
    assert _detail(flags, "progress_discharge", "NO_PROGRESS_NOTE").startswith(
        "11 treatment visits in a row (sessions 2 to 13)")
    for f in flags["no_referral"]:
        assert f["session_id"] is None


def test_plateau_detail_is_a_prompt_not_a_denial(flags) -> None:
    detail = _detail(flags, "plateau_0.9", "PLATEAU")
    assert detail.startswith("pain 5 -> 4.1 over the last 4 scored visits (sessions 4 to 7): a change of 0.9, "
                             "less than 1 point")
    for phrase in ("prompt for review", "not a denial", "discharge", "skilled maintenance care",
                   "improvement standard", "Jimmo v. Sebelius"):
        assert phrase in detail
    assert "(sessions 4 to 8)" in _detail(flags, "plateau_gaps", "PLATEAU")


def test_flag_rows_carry_the_episode(flags) -> None:
    row = flags["progress_11"][0]
    assert (row["clinic_id"], row["payer_type"], row["first_date"], row["last_date"]) == (
        "C1", "commercial", date(2026, 1, 5), date(2026, 3, 23))


def test_summary_per_clinic_and_payer(warehouse_factory, rows) -> None:
    wh = warehouse_factory()
    e = rows.episode
    wh.load([
        *e("a", falling(2), sessions=[{}, dict(units=4, duration_min=45)]),           # 1 unit over time
        *e("b", [(6, 5), (5, None)], sessions=[{}, dict(cpt_code="97010", units=1)]),  # missing pain
        *e("c", falling(2), patient_id="P-a", goals_documented=False),                 # no goals, same patient as a
        *e("d", falling(2), clinic_id="C2", payer_type="self_pay", referral_source="self"),
    ])
    wh.build()
    summary = {(r["clinic_id"], r["payer_type"]): r for r in wh.table("marts.audit_summary")}
    c1 = summary[("C1", "commercial")]
    assert {k: c1[k] for k in ("n_episodes", "n_flagged_episodes", "n_sessions", "n_patients")} == {
        "n_episodes": 3, "n_flagged_episodes": 3, "n_sessions": 6, "n_patients": 2}
    # units: a = 2 + 4, b = 2 + 1 (untimed), c = 2 + 2
    assert (c1["units_billed"], c1["units_billed_timed"], c1["units_supported"], c1["units_over_time"]) == (
        13, 12, 11, 1)
    assert {FLAGS[f]: c1[FLAGS[f]] for f in FLAGS} == {
        "units_over_time_flags": 1, "missing_pain": 1, "no_referral": 0, "no_evaluation": 0, "no_goals": 1,
        "no_progress_note": 0, "plateau": 0}
    c2 = summary[("C2", "self_pay")]
    assert (c2["n_episodes"], c2["n_flagged_episodes"], c2["units_over_time"], c2["no_referral"]) == (1, 0, 0, 0)
    columns = list(c1)
    assert columns[:7] == ["clinic_id", "payer_type", "n_episodes", "n_flagged_episodes", "n_sessions",
                           "units_billed", "units_over_time"]
    assert columns[7:14] == list(FLAGS.values())


def test_worklists_one_csv_per_payer_in_the_restricted_folder(audited, tmp_path: Path) -> None:
    restricted = tmp_path / "restricted"
    restricted.mkdir()
    stale = restricted / "audit_worklist_auto_pip.csv"
    stale.write_text("old\n")
    paths = write_audit_worklists(audited.con, restricted)
    assert not stale.exists()
    assert sorted(p.name for p in paths) == ["audit_worklist_commercial.csv", "audit_worklist_medicare.csv",
                                             "audit_worklist_self_pay.csv"]
    assert all(p.parent == restricted for p in paths)
    with open(restricted / "audit_worklist_commercial.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == list(WORKLIST_COLUMNS)
    assert "patient_id" not in table[0]
    by_key = {r["episode_key"]: r for r in table}
    assert by_key["plateau_gaps"]["flags"] == "MISSING_PAIN;PLATEAU"
    assert by_key["plateau_gaps"]["n_flags"] == "3"  # two sessions without pain_pre, one plateau
    details = by_key["plateau_gaps"]["details"].split(" | ")
    assert [d.split(":")[0] for d in details] == ["MISSING_PAIN", "MISSING_PAIN", "PLATEAU"]
    sessions = [int(d.rsplit("session ", 1)[1].rstrip(")")) for d in details[:2]]
    assert sessions == sorted(sessions)
    assert (by_key["units_45"]["n_sessions"], by_key["units_45"]["units_billed"]) == ("2", "6")
    assert by_key["units_45"]["first_date"] == "2026-01-05"
    assert set(by_key) == {k for k, v in EXPECTED_FLAGS.items() if v} - {"no_evaluation", "plateau_self_pay",
                                                                       "units_self_pay"}


def test_worklists_refuse_the_public_site(audited, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with pytest.raises(ValueError, match="must not be in or around the site"):
        write_audit_worklists(audited.con, site / "restricted", site=site)
    assert not (site / "restricted").exists()
    assert write_audit_worklists(audited.con, tmp_path / "restricted", site=site)
