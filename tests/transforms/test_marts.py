"""build_marts: every table, in one transaction, idempotent, nothing temporary left behind; plus invariants (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.marts import MART_TABLES, build_marts

REQUIRED = {
    "intermediate.rom_series", "intermediate.function_series", "marts.episode_outcomes", "marts.condition_outcomes", "marts.relief_curve", "marts.rom_gains",
    "marts.function_outcomes", "marts.audit_flags", "marts.audit_episodes", "marts.audit_summary", "marts.condition_outcomes_by_clinic",
    "marts.condition_outcomes_by_therapist", "marts.condition_outcomes_by_month",
    "marts.condition_outcomes_by_clinic_month", "marts.risk_adjusted",
    "marts.model_coefficients", "intermediate.episode_case_mix", "marts.risk_adjusted_responders",
    "marts.risk_calibration", "marts.follow_up", "intermediate.episode_ipw", "marts.responder_sensitivity",
    "marts.ipw_coefficients", "intermediate.episode_techniques", "marts.technique_outcomes",
    "intermediate.episode_flares", "marts.flares",
    "intermediate.outcome_units", "intermediate.condition_long", "intermediate.relief_km",
}


def _sample(rows) -> tuple[list[dict], list[dict]]:
    sessions = [
        *rows.episode("a", [(8, 6), (6, 5), (4, 4)], sessions=[dict(function_instrument="ODI", function_score=40), {},
                                                              dict(function_instrument="ODI", function_score=25)]),
        *rows.episode("b", [(6, 4), (5, 5)], clinic_id="C2", symptom_weeks=None),
        *rows.episode("c", [(7, 6), (4.9, 4)], condition_group="neck_pain", age_band="60-69"),
    ]
    rom = [rows.rom("a", 1, "lumbar", "flexion", 40), rows.rom("a", 3, "lumbar", "flexion", 50)]
    return sessions, rom


def test_every_table_with_its_row_count(wh, rows) -> None:
    wh.load(*_sample(rows))
    counts = wh.build()
    assert set(counts) == set(MART_TABLES) == REQUIRED
    for table, n in counts.items():
        assert wh.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"] == n
    assert counts["marts.episode_outcomes"] == 3


def test_rebuilding_gives_the_same_tables(wh, rows) -> None:
    wh.load(*_sample(rows))
    wh.build()
    first = {t: wh.table(t, "ALL") for t in MART_TABLES}
    wh.build()
    assert {t: wh.table(t, "ALL") for t in MART_TABLES} == first


def test_nothing_temporary_is_left(wh, rows) -> None:
    wh.load(*_sample(rows))
    wh.build()
    assert wh.rows("SELECT table_name FROM duckdb_tables() WHERE temporary") == []
    assert wh.rows("SELECT function_name FROM duckdb_functions() WHERE schema_name = 'main' "
                   "AND database_name = 'temp' AND function_type = 'macro'") == []


def test_a_failed_model_keeps_its_previous_tables(wh, rows) -> None:
    """Each model is one transaction: a model that fails leaves its tables exactly as they were."""
    wh.load(*_sample(rows))
    wh.build()
    before = {t: wh.table(t, "ALL") for t in ("marts.rom_gains", "intermediate.rom_series")}
    wh.con.execute("DELETE FROM staging.sessions WHERE episode_key = 'a'")
    wh.con.execute("ALTER TABLE staging.rom RENAME TO rom_gone")
    with pytest.raises(Exception, match="rom"):
        build_marts(wh.con, wh.settings)
    assert {t: wh.table(t, "ALL") for t in before} == before
    assert "a" not in {r["episode_key"] for r in wh.table("marts.episode_outcomes")}


def test_empty_staging_builds_empty_tables(wh) -> None:
    counts = wh.build()
    assert set(counts) == REQUIRED
    assert all(n == 0 for n in counts.values())


# ---- invariants on random data ---------------------------------------------------------------------

pain = st.one_of(st.none(), st.integers(0, 20).map(lambda x: x / 2))
episode_strategy = st.fixed_dictionaries({
    "clinic_id": st.sampled_from(["C1", "C2"]),
    "therapist_id": st.sampled_from(["T1", "T2"]),
    "patient_id": st.sampled_from(["P1", "P2", "P3", "P4", "P5"]),
    "condition_group": st.sampled_from(["low_back_pain", "neck_pain", "sciatica"]),
    "payer_type": st.sampled_from(["commercial", "medicare", "self_pay"]),
    "start": st.integers(0, 70),
    "pains": st.lists(st.tuples(pain, pain), min_size=1, max_size=9),
    "units": st.lists(st.tuples(st.integers(0, 5), st.integers(1, 75)), min_size=9, max_size=9),
})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(episodes=st.lists(episode_strategy, min_size=1, max_size=14))
def test_invariants(warehouse_factory, rows, episodes) -> None:
    wh = warehouse_factory()
    sessions = []
    for i, ep in enumerate(episodes):
        start = date(2026, 1, 1) + timedelta(days=ep["start"])
        per = [dict(session_date=start + timedelta(days=7 * k), units=u, duration_min=d)
               for k, (u, d) in enumerate(ep["units"][: len(ep["pains"])])]
        sessions += rows.episode(
            f"e{i:02d}", ep["pains"], sessions=per, clinic_id=ep["clinic_id"], therapist_id=ep["therapist_id"],
            patient_id=ep["patient_id"], condition_group=ep["condition_group"], payer_type=ep["payer_type"],
        )
    wh.load(sessions)
    wh.build()
    episodes_out = wh.table("marts.episode_outcomes")

    # responders are pain-evaluable; substantial responders are responders; relieved + censored = relief-evaluable
    for e in episodes_out:
        if e["responder"] is not None:
            assert e["pain_evaluable"]
        if e["responder"]:
            assert e["pain_change"] >= 2 - 1e-9
        if e["substantial_responder"]:
            assert e["responder"]
        assert e["pain_evaluable"] == (e["responder"] is not None)
        if e["relief_evaluable"]:
            assert (e["sessions_to_relief"] is None) != (e["censored_at"] is None)
            assert e["relieved"] == (e["sessions_to_relief"] is not None)
        else:
            assert (e["relieved"], e["sessions_to_relief"], e["censored_at"]) == (None, None, None)

    # Kaplan-Meier: survival never increases, the band holds it, relieved + censored = relief-evaluable
    outcomes = wh.by_key("marts.condition_outcomes", "condition_group")
    curve = wh.table("marts.relief_curve", "condition_group, t")
    for group, row in outcomes.items():
        points = [c for c in curve if c["condition_group"] == group]
        survival = [p["survival"] for p in points]
        assert all(b <= a for a, b in zip(survival, survival[1:], strict=False))
        assert all(0 <= p["ci_low"] <= p["survival"] <= p["ci_high"] <= 1 for p in points)
        assert sum(p["relieved"] + p["censored"] for p in points) == row["n_relief_evaluable"]
        assert row["n_relieved"] + row["n_censored"] == row["n_relief_evaluable"]
        if points:
            assert points[0]["at_risk"] == row["n_relief_evaluable"]
            assert all(p["n_patients_at_risk"] <= p["at_risk"] for p in points)
        # every interval contains its estimate
        for est, low, high in (("mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high"),
                               ("responder_rate", "responder_ci_low", "responder_ci_high"),
                               ("substantial_rate", "substantial_ci_low", "substantial_ci_high")):
            if row[low] is not None:
                assert row[low] - 1e-12 <= row[est] <= row[high] + 1e-12
            else:
                assert row["n_pain_evaluable"] < 2
        if row["median_sessions_to_relief"] is not None:
            assert row["median_ci_low"] <= row["median_sessions_to_relief"]
            if row["median_ci_high"] is not None:
                assert row["median_sessions_to_relief"] <= row["median_ci_high"]
        if row["srm"] is not None:
            assert row["n_pain_evaluable"] >= 2

    # counts add up: groups to 'all', and every breakdown's units to the overall table
    groups = [r for g, r in outcomes.items() if g != "all"]
    columns = ("n_episodes", "n_sessions", "n_pain_evaluable", "n_relief_evaluable", "n_responders",
               "n_with_final_pain", "n_immediate")
    for column in columns:
        assert sum(r[column] for r in groups) == outcomes["all"][column]
    sums = ", ".join(f"sum({c}) AS {c}" for c in columns)
    for table in ("marts.condition_outcomes_by_clinic", "marts.condition_outcomes_by_therapist",
                  "marts.condition_outcomes_by_month", "marts.condition_outcomes_by_clinic_month"):
        totals = {r["condition_group"]: r for r in wh.rows(f"SELECT condition_group, {sums} FROM {table} GROUP BY 1")}
        assert set(totals) == set(outcomes)
        for group, row in outcomes.items():
            assert {c: totals[group][c] for c in columns} == {c: row[c] for c in columns}, (table, group)
    assert outcomes["all"]["n_episodes"] == len(episodes)

    summary = wh.table("marts.audit_summary")
    assert sum(r["n_episodes"] for r in summary) == len(episodes)
    assert sum(r["n_sessions"] for r in summary) == len(sessions)
    assert all(r["n_flagged_episodes"] <= r["n_episodes"] for r in summary)
    assert all(0 <= r["units_at_risk"] <= r["units_billed"] for r in summary)


def _scope_fixture(restaged: bool):
    import duckdb

    con = duckdb.connect()
    for schema in ("staging", "marts", "ops"):
        con.execute(f"CREATE SCHEMA {schema}")
    for table in ("staging.sessions", "staging.rom", "marts.episode_outcomes"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM (VALUES ('e1', 'staged'), ('e2', 'staged'), "
                    "('e3', 'staged')) t(episode_key, source)")
    if restaged:  # the restaged copies are marked so that the test sees which one was read
        for table in ("ops.restaged_sessions", "ops.restaged_rom"):
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM (VALUES ('e1', 'kept'), ('e2', 'kept')) "
                        "t(episode_key, source)")
        con.execute("CREATE TABLE ops.restaged_episodes AS SELECT * FROM (VALUES ('e1'), ('e2')) t(episode_key)")
    return con


@pytest.mark.parametrize(("restaged", "scope", "expected"), [
    (True, ["e1", "e2"], "kept"),  # the restaging kept every scoped episode: read its copy
    (True, ["e1", "e3"], "staged"),  # e3 was not restaged (a status change): scan staging
    (False, ["e1"], "staged"),  # after a full rebuild nothing is kept
])
def test_scoped_sources_come_from_the_restaged_rows_only_when_they_cover_the_scope(restaged, scope, expected) -> None:
    from transforms import changes, marts

    con = _scope_fixture(restaged)
    con.execute(f"CREATE TEMP TABLE {changes.SCOPE_KEYS} AS SELECT unnest(?) AS episode_key", [scope])
    made = marts._scope_sources(con, (marts.STAGING_SESSIONS, marts.EPISODES))
    assert made == ["_scope_sessions", "_scope_outcomes"]  # no ROM copy for a model that does not read ROM
    assert con.execute("SELECT DISTINCT source FROM _scope_sessions").fetchall() == [(expected,)]
    assert sorted(k for (k,) in con.execute("SELECT episode_key FROM _scope_sessions").fetchall()) == scope
    assert con.execute("SELECT DISTINCT source FROM _scope_outcomes").fetchall() == [("staged",)]
    assert marts._scope_sources(con, (marts.STAGING_ROM,)) == ["_scope_rom"]
    assert con.execute("SELECT DISTINCT source FROM _scope_rom").fetchall() == [(expected,)]
