"""Invariants of the follow-up, sensitivity, technique and flare marts on random warehouses (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TECHNIQUES = ("trigger_point", "swedish", " deep_tissue", "cupping;swedish", None)
pain = st.one_of(st.none(), st.integers(0, 20).map(lambda x: x / 2))
episode_strategy = st.fixed_dictionaries({
    "clinic_id": st.sampled_from(["C1", "C2"]),
    "patient_id": st.sampled_from(["P1", "P2", "P3", "P4"]),
    "condition_group": st.sampled_from(["low_back_pain", "neck_pain"]),
    "payer_type": st.sampled_from(["commercial", "medicare"]),
    "sex": st.sampled_from(["F", "M"]),
    "start": st.integers(0, 120),
    "discharge": st.booleans(),
    "visits": st.lists(st.tuples(pain, pain, st.sampled_from(TECHNIQUES)), min_size=1, max_size=6),
})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(episodes=st.lists(episode_strategy, min_size=1, max_size=12))
def test_invariants(warehouse_factory, rows, episodes) -> None:
    wh = warehouse_factory()
    sessions = []
    for i, ep in enumerate(episodes):
        start = date(2026, 1, 1) + timedelta(days=ep["start"])
        per = [{"session_date": start + timedelta(days=7 * k), "techniques": t} for k, (_a, _b, t) in
               enumerate(ep["visits"])]
        if ep["discharge"]:
            per[-1]["visit_type"] = "discharge"
        sessions += rows.episode(
            f"e{i:02d}", [(a, b) for a, b, _t in ep["visits"]], sessions=per, clinic_id=ep["clinic_id"],
            patient_id=ep["patient_id"], condition_group=ep["condition_group"], payer_type=ep["payer_type"],
            sex=ep["sex"],
        )
    wh.load(sessions)
    wh.build()
    n = len(episodes)

    follow = {(r["condition_group"], r["clinic_id"]): r for r in wh.table("marts.follow_up")}
    assert follow[("all", "all")]["n_episodes"] == n
    for row in follow.values():
        assert row["n_discharged"] + row["n_active"] + row["n_lost"] == row["n_episodes"]
        assert row["n_patients"] <= row["n_episodes"]
        if row["lost_rate"] is not None:
            assert row["n_ended"] > 0
            if row["lost_ci_low"] is not None:
                assert row["lost_ci_low"] - 1e-12 <= row["lost_rate"] <= row["lost_ci_high"] + 1e-12
    for column in ("n_episodes", "n_lost", "n_active"):
        assert sum(r[column] for (g, c), r in follow.items() if g != "all" and c != "all") == \
            follow[("all", "all")][column]

    for row in wh.table("marts.responder_sensitivity"):
        assert row["n_evaluable"] <= row["n_eligible"]
        if row["n_eligible"]:
            assert row["worst_case_rate"] <= row["best_case_rate"]
        if row["complete_case_rate"] is not None:
            assert row["worst_case_rate"] - 1e-12 <= row["complete_case_rate"] <= row["best_case_rate"] + 1e-12
            assert 0.0 <= row["ipw_rate"] <= 1.0 and 1.0 <= row["max_weight"] <= 20.0
        if row["ipw_ci_low"] is not None:
            assert 0.0 <= row["ipw_ci_low"] <= row["ipw_rate"] <= row["ipw_ci_high"] <= 1.0
    for row in wh.table("intermediate.episode_ipw"):
        assert 0.0 <= row["p_evaluable"] <= 1.0
        assert (row["weight"] is not None) == row["evaluable"]

    flares = {(r["condition_group"], r["technique"]): r for r in wh.table("marts.flares")}
    scored = sum(1 for s in sessions if s["pain_pre"] is not None and s["pain_post"] is not None)
    assert flares[("all", "all")]["n_sessions_scored"] == scored
    groups = {ep["condition_group"] for ep in episodes}
    assert {g for g, t in flares if t == "all"} == groups | {"all"}
    for (group, technique), row in flares.items():
        assert row["n_flares"] <= row["n_sessions_scored"]
        assert row["n_sessions_scored"] <= flares[(group, "all")]["n_sessions_scored"]
        if technique != "all":
            assert row["n_sessions_scored"] > 0

    outcomes = {(r["condition_group"], r["technique"]): r for r in wh.table("marts.technique_outcomes")}
    for (group, technique), row in outcomes.items():
        assert row["n_pain_evaluable"] <= row["n_episodes"] and row["n_patients"] <= row["n_episodes"]
        if group == "all":
            parts = [r for (g, t), r in outcomes.items() if t == technique and g != "all"]
            assert sum(r["n_episodes"] for r in parts) == row["n_episodes"]
    primary = {(r["episode_key"], r["technique"]) for r in wh.table("intermediate.episode_techniques") if r["is_primary"]}
    assert sum(r["n_episodes"] for (g, _t), r in outcomes.items() if g == "all") == len(primary)
