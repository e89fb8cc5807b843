"""marts.condition_outcomes and its breakdowns by clinic, therapist and month on a hand-worked case."""

from __future__ import annotations

from datetime import date

import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from transforms.condition_outcomes import BREAKDOWNS, update_condition_outcomes
from transforms.marts import MODELS_BY_NAME, build_model, prepare_connection, release_connection

SPEC_COLUMNS = [
    "condition_group", "n_patients", "n_episodes", "n_sessions", "n_pain_evaluable", "mean_baseline_pain",
    "mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high", "srm", "responder_rate",
    "responder_ci_low", "responder_ci_high", "substantial_rate", "mean_immediate_change", "n_relief_evaluable",
    "median_sessions_to_relief", "median_ci_low", "median_ci_high", "relief_by_4", "relief_by_8",
]


@pytest.fixture(scope="module")
def wh(warehouse_factory, rows):
    w = warehouse_factory()
    e = rows.episode
    feb = [dict(session_date=date(2026, 2, 2)), dict(session_date=date(2026, 2, 9))]
    w.load([
        *e("a", [(8, 6), (6, 5), (4, 4)], patient_id="P1"),
        *e("b", [(6, 4), (5, 5)], sessions=feb, patient_id="P1"),
        *e("c", [(None, None), (5, 3)], patient_id="P2", therapist_id="T2", condition_group="neck_pain"),
        *e("d", [(7, 6), (4.9, 4)], clinic_id="C2", patient_id="P1"),
        *e("e", [(5, 4)], clinic_id="C2", patient_id="P3", therapist_id="T3", condition_group="neck_pain"),
    ])
    w.build()
    return w


def test_spec_columns_come_first(wh) -> None:
    row = wh.table("marts.condition_outcomes")[0]
    assert list(row)[: len(SPEC_COLUMNS)] == SPEC_COLUMNS
    assert "n_with_final_pain" in row


def test_all_row_exact(wh) -> None:
    row = wh.by_key("marts.condition_outcomes", "condition_group")["all"]
    changes = [4.0, 1.0, 7 - 4.9]
    mean = sum(changes) / 3
    low, high = stats.t.interval(0.95, 2, loc=mean, scale=stats.sem(changes))
    w_low, w_high = proportion_confint(2, 3, method="wilson")
    assert {k: row[k] for k in ("n_patients", "n_episodes", "n_sessions", "n_pain_evaluable", "n_with_final_pain",
                                "n_relief_evaluable", "n_responders", "n_substantial", "n_immediate")} == {
        "n_patients": 4, "n_episodes": 5, "n_sessions": 10, "n_pain_evaluable": 3, "n_with_final_pain": 4,
        "n_relief_evaluable": 3, "n_responders": 2, "n_substantial": 1, "n_immediate": 9}
    assert row["mean_baseline_pain"] == 6.5
    assert row["mean_pain_change"] == pytest.approx(mean, rel=1e-15)
    assert (row["mean_pain_change_ci_low"], row["mean_pain_change_ci_high"]) == (
        pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert row["srm"] == pytest.approx(mean / stats.tstd(changes), rel=1e-12)
    assert row["responder_rate"] == 2 / 3
    assert (row["responder_ci_low"], row["responder_ci_high"]) == (
        pytest.approx(w_low, rel=1e-12), pytest.approx(w_high, rel=1e-12))
    assert row["substantial_rate"] == 1 / 3
    assert row["mean_immediate_change"] == pytest.approx(9.9 / 9, rel=1e-15)
    # relief: d relieved after 1, b censored at 1, a relieved after 2 -> S(1) = 2/3, S(2) = 0
    assert (row["median_sessions_to_relief"], row["relief_by_4"], row["relief_by_8"]) == (2, 1.0, 1.0)
    assert (row["n_relieved"], row["n_censored"]) == (2, 1)


def test_group_without_pain_evaluable_episodes(wh) -> None:
    row = wh.by_key("marts.condition_outcomes", "condition_group")["neck_pain"]
    assert (row["n_patients"], row["n_episodes"], row["n_sessions"], row["n_pain_evaluable"]) == (2, 2, 3, 0)
    assert row["mean_baseline_pain"] == 5.0
    for column in ("mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high", "srm",
                   "responder_rate", "responder_ci_low", "responder_ci_high", "substantial_rate",
                   "median_sessions_to_relief", "relief_by_4"):
        assert row[column] is None, column
    assert (row["n_responders"], row["n_with_final_pain"], row["mean_immediate_change"]) == (0, 1, 1.5)


def test_by_clinic(wh) -> None:
    rows = {(r["clinic_id"], r["condition_group"]): r for r in wh.table("marts.condition_outcomes_by_clinic")}
    assert set(rows) == {("C1", "low_back_pain"), ("C1", "neck_pain"), ("C1", "all"), ("C2", "low_back_pain"),
                         ("C2", "neck_pain"), ("C2", "all")}
    c2 = rows[("C2", "low_back_pain")]  # episode d alone: a mean of one value is that value, no interval
    assert (c2["n_episodes"], c2["mean_pain_change"], c2["mean_pain_change_ci_low"], c2["srm"]) == (
        1, 7 - 4.9, None, None)
    assert (c2["responder_rate"], c2["responder_ci_low"], c2["median_sessions_to_relief"]) == (1.0, None, 1)
    assert rows[("C1", "all")]["n_patients"] == 2 and rows[("C1", "all")]["n_episodes"] == 3


def test_by_therapist_and_month(wh) -> None:
    therapists = {(r["clinic_id"], r["therapist_id"], r["condition_group"]): r["n_episodes"]
                  for r in wh.table("marts.condition_outcomes_by_therapist")}
    assert therapists == {
        ("C1", "T1", "low_back_pain"): 2, ("C1", "T1", "all"): 2, ("C1", "T2", "neck_pain"): 1, ("C1", "T2", "all"): 1,
        ("C2", "T1", "low_back_pain"): 1, ("C2", "T1", "all"): 1, ("C2", "T3", "neck_pain"): 1, ("C2", "T3", "all"): 1}
    months = {(r["month"], r["condition_group"]): r["n_episodes"] for r in wh.table("marts.condition_outcomes_by_month")}
    assert months == {
        (date(2026, 1, 1), "low_back_pain"): 2, (date(2026, 1, 1), "neck_pain"): 2, (date(2026, 1, 1), "all"): 4,
        (date(2026, 2, 1), "low_back_pain"): 1, (date(2026, 2, 1), "all"): 1}
    clinic_months = {(r["clinic_id"], r["month"], r["condition_group"]): r["n_episodes"]
                     for r in wh.table("marts.condition_outcomes_by_clinic_month")}
    assert clinic_months == {
        ("C1", date(2026, 1, 1), "low_back_pain"): 1, ("C1", date(2026, 1, 1), "neck_pain"): 1,
        ("C1", date(2026, 1, 1), "all"): 2, ("C1", date(2026, 2, 1), "low_back_pain"): 1,
        ("C1", date(2026, 2, 1), "all"): 1, ("C2", date(2026, 1, 1), "low_back_pain"): 1,
        ("C2", date(2026, 1, 1), "neck_pain"): 1, ("C2", date(2026, 1, 1), "all"): 2}


def test_share_with_a_final_pain_score_has_a_wilson_interval(wh) -> None:
    row = wh.by_key("marts.condition_outcomes", "condition_group")["all"]
    low, high = proportion_confint(4, 5, method="wilson")
    assert (row["n_with_final_pain"], row["n_episodes"]) == (4, 5)
    assert (row["final_pain_ci_low"], row["final_pain_ci_high"]) == (
        pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))


def test_breakdowns_have_the_same_columns(wh) -> None:
    base = list(wh.table("marts.condition_outcomes")[0])
    for table, units in BREAKDOWNS.values():
        assert list(wh.table(table)[0]) == [*(name for name, _ in units), *base]


def test_other_report_times_add_columns_and_keep_4_and_8(warehouse_factory, rows) -> None:
    """relief_by_4 and relief_by_8 always exist; report times 2 and 6 add relief_by_2 and relief_by_6."""
    w = warehouse_factory()
    w.settings = w.settings.with_overrides(relief_report_times="2,6")
    # relief at session 3 (after 2 treatments): S = 1 until t = 2, then 0
    w.load(rows.episode("a", [(8, 6), (7, 6), (4, 4), (4, 4)]))
    w.build()
    for table, _units in BREAKDOWNS.values():
        columns = list(w.table(table)[0])
        relief = [c for c in columns if c.startswith("relief_by_")]
        assert relief == ["relief_by_2", "relief_by_4", "relief_by_6", "relief_by_8"], table
    row = w.by_key("marts.condition_outcomes", "condition_group")["all"]
    assert (row["relief_by_2"], row["relief_by_4"], row["relief_by_6"], row["relief_by_8"]) == (1.0, 1.0, 1.0, 1.0)
    w.con.close()


def test_relief_before_the_first_event_is_zero_and_null_without_relief_evaluable(warehouse_factory, rows) -> None:
    w = warehouse_factory()
    w.settings = w.settings.with_overrides(relief_report_times="1")
    w.load([*rows.episode("a", [(8, 6), (7, 6), (4, 4)]),                         # relieved at t = 2
            *rows.episode("b", [(2, 2), (1, 1)], condition_group="neck_pain")])   # baseline 2: not evaluable
    w.build()
    by_group = w.by_key("marts.condition_outcomes", "condition_group")
    assert (by_group["low_back_pain"]["relief_by_1"], by_group["low_back_pain"]["relief_by_4"]) == (0.0, 1.0)
    assert by_group["neck_pain"]["relief_by_4"] is None
    w.con.close()


def _condition_tables(w) -> dict[str, list[tuple]]:
    tables = ("intermediate.outcome_units", "intermediate.condition_long", "intermediate.relief_km",
              *(t for t, _ in BREAKDOWNS.values()), "marts.relief_curve")
    return {t: w.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}


def _rebuild_changed(w, episode_keys: list[str]) -> dict[str, int]:
    """What an incremental run does after staging changed: the episodes' models for the dirty episodes."""
    for model in ("episode_outcomes", "condition_outcomes"):
        w.con.executemany("INSERT INTO ops.dirty VALUES (?, ?)", [[model, k] for k in episode_keys])
    prepare_connection(w.con, w.settings)
    try:
        build_model(w.con, w.settings, MODELS_BY_NAME["episode_outcomes"], incremental=True)
        return build_model(w.con, w.settings, MODELS_BY_NAME["condition_outcomes"], incremental=True)
    finally:
        release_connection(w.con)


def _changing_sessions(rows) -> tuple[list[dict], list[dict]]:
    e = rows.episode
    before = [
        *e("a", [(8, 6), (6, 5), (4, 4)], patient_id="P1"),
        *e("c", [(6, 4), (5, 5), (3, 3)], patient_id="P2", therapist_id="T2", condition_group="neck_pain"),
        *e("d", [(7, 6), (4.9, 4)], clinic_id="C2", patient_id="P1"),
    ]
    later = [  # clinic C2's next export: a third visit of episode d and a new patient
        rows.session("d", 3, clinic_id="C2", patient_id="P1", pain_pre=3.5, pain_post=3),
        *e("f", [(9, 7), (6, 5), (2, 2)], clinic_id="C2", patient_id="P4", therapist_id="T3"),
    ]
    return before, later


def test_an_update_recomputes_the_changed_units_and_equals_a_full_build(warehouse_factory, rows,
                                                                          monkeypatch) -> None:
    from transforms import condition_outcomes

    recomputed: list[set[tuple[str, str]]] = []
    compute = condition_outcomes._compute_units

    def spying(con, units, long_table, km_table):
        recomputed.append(set(con.execute(f"SELECT DISTINCT breakdown, unit FROM {units}").fetchall()))
        return compute(con, units, long_table, km_table)

    monkeypatch.setattr(condition_outcomes, "_compute_units", spying)
    before, later = _changing_sessions(rows)
    full = warehouse_factory().load([*before, *later])
    full.build()
    monthly = warehouse_factory().load(before)
    monthly.build()
    untouched = monthly.con.execute("SELECT * FROM intermediate.condition_long WHERE breakdown = 'clinic' "
                                    "AND unit = 'C1' ORDER BY ALL").fetchall()
    monthly.load(later)
    recomputed.clear()
    counts = _rebuild_changed(monthly, ["d", "f"])
    assert "marts.condition_outcomes_by_clinic" in counts  # the published tables were cut again
    # only the network, clinic C2, its therapists, and the months and clinic-months of d and f
    (units,) = recomputed
    assert ("clinic", "C2") in units and ("condition", "-") in units
    assert not any(unit == "C1" or unit.startswith("C1\x1f") for _, unit in units)
    assert _condition_tables(monthly) == _condition_tables(full)
    assert monthly.con.execute("SELECT * FROM intermediate.condition_long WHERE breakdown = 'clinic' "
                               "AND unit = 'C1' ORDER BY ALL").fetchall() == untouched
    assert not monthly.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name IN "
                                   "('_episode_delta', '_affected_units')").fetchall()[0][0]


def test_episodes_rebuilt_unchanged_leave_the_tables_alone(warehouse_factory, rows) -> None:
    before, _later = _changing_sessions(rows)
    w = warehouse_factory().load(before)
    w.build()
    tables = _condition_tables(w)
    counts = _rebuild_changed(w, ["a", "d"])
    assert counts == {"intermediate.outcome_units": 10}  # the episodes' unit rows, and no unit recomputed
    assert _condition_tables(w) == tables


def test_update_reads_only_allowed_delta_names(wh) -> None:
    with pytest.raises(ValueError, match="bad table name"):
        update_condition_outcomes(wh.con, wh.settings, "x; DROP TABLE staging.sessions")
