"""Primary techniques and outcomes by technique (metrics.md section 14)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint


def listing(*techniques: str | None) -> list[dict]:
    return [{"techniques": t} for t in techniques]


def primary(wh) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in wh.table("intermediate.episode_techniques"):
        out.setdefault(r["episode_key"], set())
        if r["is_primary"]:
            out[r["episode_key"]].add(r["technique"])
    return out


def test_primary_at_exactly_half_of_the_sessions_that_list_any(wh, rows) -> None:
    wh.load([
        # 4 sessions list techniques (the 5th lists none and does not count): 2 of 4 is half -> primary
        *rows.episode("half", sessions=listing("trigger_point;swedish", "trigger_point", "swedish",
                                               "myofascial_release", None)),
        # 5 sessions list techniques: 2 of 5 is not half, 3 of 5 is
        *rows.episode("odd", sessions=listing("cupping", "cupping;pnf", "pnf", "pnf", "stretching")),
        # items trimmed; a technique listed twice at one session counts once (1 of 2 sessions: half)
        *rows.episode("dup", sessions=listing(" deep_tissue ; deep_tissue;", "swedish; ")),
        *rows.episode("none", sessions=listing(None, None)),
    ])
    wh.build()
    assert primary(wh) == {
        "half": {"trigger_point", "swedish"},
        "odd": {"pnf"},
        "dup": {"deep_tissue", "swedish"},
    }
    rows_by = {(r["episode_key"], r["technique"]): r for r in wh.table("intermediate.episode_techniques")}
    assert rows_by[("half", "myofascial_release")]["n_sessions_listed"] == 1
    assert rows_by[("half", "trigger_point")]["n_sessions_with_techniques"] == 4
    assert rows_by[("odd", "cupping")]["is_primary"] is False
    assert rows_by[("dup", "deep_tissue")]["n_sessions_listed"] == 1
    assert ("dup", "") not in rows_by


def episode(rows, key: str, baseline: float | None, final: float | None, techniques: str, **fields) -> list[dict]:
    return rows.episode(key, [(baseline, None), (final, None)], sessions=listing(techniques, techniques), **fields)


def test_technique_outcomes_on_a_hand_case(wh, rows) -> None:
    lbp, neck = {"condition_group": "low_back_pain"}, {"condition_group": "neck_pain"}
    wh.load([
        *episode(rows, "t1", 8, 4, "trigger_point", patient_id="P1", **lbp),  # change 4, responder
        *episode(rows, "t2", 7, 4.9, "trigger_point;swedish", patient_id="P1", **lbp),  # 2.1, responder (30 %)
        *episode(rows, "t3", 6, 5, "trigger_point", patient_id="P2", **lbp),  # 1, not
        *episode(rows, "t4", None, 5, "trigger_point", patient_id="P3", **lbp),  # not pain-evaluable
        *episode(rows, "n1", 6, 2, "trigger_point", patient_id="P4", **neck),  # 4, responder
        *episode(rows, "n2", 5, 5, "lymphatic_drainage", patient_id="P5", **neck),  # 0, not
    ])
    wh.build()
    got = {(r["condition_group"], r["technique"]): r for r in wh.table("marts.technique_outcomes")}
    assert set(got) == {("low_back_pain", "trigger_point"), ("low_back_pain", "swedish"),
                        ("neck_pain", "trigger_point"), ("neck_pain", "lymphatic_drainage"),
                        ("all", "trigger_point"), ("all", "swedish"), ("all", "lymphatic_drainage")}
    expected_change = {r["episode_key"]: r["expected_change"] for r in wh.table("intermediate.episode_case_mix")}
    changes = {"t1": 4.0, "t2": 7 - 4.9, "t3": 1.0, "n1": 4.0, "n2": 0.0}
    cases = {
        ("low_back_pain", "trigger_point"): (3, 4, ["t1", "t2", "t3"], 2),
        ("all", "trigger_point"): (4, 5, ["t1", "t2", "t3", "n1"], 3),
        ("low_back_pain", "swedish"): (1, 1, ["t2"], 1),
        ("neck_pain", "lymphatic_drainage"): (1, 1, ["n2"], 0),
    }
    for key, (patients, n_episodes, evaluable, responders) in cases.items():
        row = got[key]
        n = len(evaluable)
        assert (row["n_patients"], row["n_episodes"], row["n_pain_evaluable"]) == (patients, n_episodes, n), key
        assert row["responder_rate"] == pytest.approx(responders / n, rel=1e-12), key
        values = np.array([changes[k] for k in evaluable])
        residuals = np.array([changes[k] - expected_change[k] for k in evaluable])
        assert row["mean_pain_change"] == pytest.approx(values.mean(), rel=1e-12), key
        assert row["adjusted_difference"] == pytest.approx(residuals.mean(), abs=1e-9), key
        if n >= 2:
            low, high = proportion_confint(responders, n, method="wilson")
            assert (row["responder_ci_low"], row["responder_ci_high"]) == (
                pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12)), key
            low, high = stats.t.interval(0.95, n - 1, loc=values.mean(), scale=stats.sem(values))
            assert (row["mean_pain_change_ci_low"], row["mean_pain_change_ci_high"]) == (
                pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9)), key
            low, high = stats.t.interval(0.95, n - 1, loc=residuals.mean(), scale=stats.sem(residuals))
            assert (row["adjusted_ci_low"], row["adjusted_ci_high"]) == (
                pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9)), key
        else:
            assert all(row[c] is None for c in ("responder_ci_low", "mean_pain_change_ci_low", "adjusted_ci_low"))


def test_adjusted_difference_recovers_a_known_association(warehouse_factory, rows) -> None:
    """The same case mix treated twice, once with each technique; technique B's episodes improve 1 point more.

    The case-mix model (which does not see techniques) puts half of that point in its intercept, so
    A's adjusted difference is -1/2 and B's +1/2, though raw means differ by case mix too.
    """
    rng = np.random.default_rng(4)
    mix = [(float(rng.integers(3, 10)), str(rng.choice(["40-49", "60-69"])), str(rng.choice(["F", "M"])),
            None if rng.random() < 0.2 else float(rng.integers(1, 100))) for _ in range(30)]
    wh = warehouse_factory()
    sessions = []
    for technique, extra in (("swedish", 0.0), ("trigger_point", 1.0)):
        for i, (baseline, age, sex, weeks) in enumerate(mix):
            w = np.log1p(weeks) if weeks is not None else 1.0
            change = 0.4 + 0.3 * baseline - 0.2 * w + (0.3 if sex == "M" else 0.0) + extra
            sessions += episode(rows, f"{technique}{i:02d}", baseline, baseline - change, technique, age_band=age,
                                sex=sex, symptom_weeks=weeks)
    wh.load(sessions)
    wh.build()
    got = {(r["condition_group"], r["technique"]): r for r in wh.table("marts.technique_outcomes")}
    assert got[("all", "swedish")]["adjusted_difference"] == pytest.approx(-0.5, abs=1e-9)
    assert got[("all", "trigger_point")]["adjusted_difference"] == pytest.approx(0.5, abs=1e-9)
    assert got[("low_back_pain", "trigger_point")]["n_episodes"] == 30


def test_no_primary_technique_no_row(wh, rows) -> None:
    wh.load(episode(rows, "e", 6, 3, None))
    wh.build()
    assert wh.table("marts.technique_outcomes") == []
