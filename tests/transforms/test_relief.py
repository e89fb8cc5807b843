"""Kaplan-Meier relief curves, medians and their CIs equal lifelines (metrics.md section 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

GROUPS = ("low_back_pain", "neck_pain")


def relief_episode(rows, key: str, t: int, relieved: bool, **fields) -> list[dict]:
    """An episode relief-evaluable at baseline 8: relieved after t sessions, or censored at t."""
    pains = [(8.0, 8.0)] + [(7.0, 7.0)] * (t - 1) + [(2.0, 2.0) if relieved else (7.0, 7.0)]
    return rows.episode(key, pains, **fields)


def _random_cases(seed: int) -> list[tuple[str, str, int, bool]]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 50))
    p_event = rng.uniform(0.2, 0.9)
    return [
        (f"e{i}", str(rng.choice(GROUPS)), int(rng.integers(1, 13)), bool(rng.random() < p_event))
        for i in range(n)
    ]


@pytest.mark.parametrize("seed", range(8))
def test_curve_median_and_band_equal_lifelines(warehouse_factory, rows, relief_oracle, seed: int) -> None:
    cases = _random_cases(seed)
    wh = warehouse_factory()
    wh.load([s for key, group, t, event in cases for s in relief_episode(rows, key, t, event, condition_group=group)])
    wh.build()
    assert relief_oracle(wh.con) == len({c[1] for c in cases}) + 1


def test_dropouts_are_censored_not_dropped(wh, rows) -> None:
    """2 relieved and 2 dropped out after 1 session: S(1) = 1/2, so the median is 1 (dropping would give 0)."""
    for i, event in enumerate([True, True, False, False]):
        wh.load(relief_episode(rows, f"e{i}", 1, event))
    wh.build()
    (row,) = wh.rows("SELECT * FROM marts.relief_curve WHERE condition_group = 'all'")
    assert (row["t"], row["at_risk"], row["relieved"], row["censored"], row["survival"]) == (1, 4, 2, 2, 0.5)
    summary = wh.by_key("marts.condition_outcomes", "condition_group")["all"]
    assert (summary["n_relief_evaluable"], summary["n_relieved"], summary["n_censored"]) == (4, 2, 2)
    assert summary["median_sessions_to_relief"] == 1
    assert summary["relief_by_4"] == 0.5


def test_exact_half_reaches_the_median(wh, rows) -> None:
    """3 of 6 relieved at t = 1: S(1) is exactly 1/2, the median is 1 (lifelines' float product says never)."""
    for i in range(6):
        wh.load(relief_episode(rows, f"e{i}", 1 if i < 3 else 2, i < 3))
    wh.build()
    summary = wh.by_key("marts.condition_outcomes", "condition_group")["all"]
    assert summary["median_sessions_to_relief"] == 1
    kmf = KaplanMeierFitter().fit([1, 1, 1, 2, 2, 2], [True, True, True, False, False, False])
    assert math.isinf(kmf.median_survival_time_)  # documented difference


def test_no_relief_gives_null_median_and_zero_cumulative_relief(wh, rows) -> None:
    for i in range(3):
        wh.load(relief_episode(rows, f"e{i}", 2 + i, False))
    wh.build()
    summary = wh.by_key("marts.condition_outcomes", "condition_group")["all"]
    assert (summary["median_sessions_to_relief"], summary["median_ci_low"], summary["median_ci_high"]) == (
        None, None, None)
    assert (summary["relief_by_4"], summary["relief_by_8"]) == (0.0, 0.0)
    curve = wh.table("marts.relief_curve", "condition_group, t")
    assert all(r["survival"] == 1.0 and r["ci_low"] == 1.0 and r["ci_high"] == 1.0 for r in curve)


def test_group_without_relief_evaluable_episodes(wh, rows) -> None:
    wh.load(rows.episode("low", [(2, 2), (1, 1)]))  # baseline 2: not relief-evaluable
    wh.build()
    summary = wh.by_key("marts.condition_outcomes", "condition_group")["all"]
    assert summary["n_relief_evaluable"] == 0
    assert (summary["median_sessions_to_relief"], summary["relief_by_4"], summary["relief_by_8"]) == (None, None, None)
    assert wh.table("marts.relief_curve") == []


def test_patients_at_risk_counts_distinct_patients(wh, rows) -> None:
    """One patient with two episodes counts once while either episode is at risk."""
    wh.load(relief_episode(rows, "a1", 2, True, patient_id="P1"))
    wh.load(relief_episode(rows, "a2", 4, False, patient_id="P1", session_date=None))
    wh.load(relief_episode(rows, "b1", 3, True, patient_id="P2"))
    wh.build()
    curve = {r["t"]: r for r in wh.rows("SELECT * FROM marts.relief_curve WHERE condition_group = 'all'")}
    assert {t: (r["at_risk"], r["n_patients_at_risk"]) for t, r in curve.items()} == {
        2: (3, 2), 3: (2, 2), 4: (1, 1)}
