"""Responder sensitivity to missing follow-up (metrics.md section 13).

Bounds on a tiny case worked by hand; the penalised follow-up model, its probabilities, weights and
the IPW rates against an independent fit (scipy's minimiser on the same penalised likelihood, on
one row per episode), including a level that predicts perfectly and the weight cap.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

END = date(2025, 3, 31)
Z = 1.959963984540054
AGES = ("18-29", "40-49", "60-69")
GROUPS = ("low_back_pain", "neck_pain", "sciatica")
PAYERS = ("auto_pip", "commercial", "medicaid", "self_pay")


def episode(rows, key: str, baseline: float | None, final: float | None, *, status: str = "lost",
            n_sessions: int = 3, **fields) -> list[dict]:
    """An episode with the given baseline and final pain and follow-up status (clinic data end: END)."""
    last = {"lost": END - timedelta(days=60), "discharged": END - timedelta(days=60), "active": END}[status]
    pains = [(baseline, None)] + [(None, None)] * (n_sessions - 2) + [(final, None)]
    dated = [{"session_date": last - timedelta(days=7 * (n_sessions - 1 - i))} for i in range(n_sessions)]
    if status == "discharged":
        dated[-1]["visit_type"] = "discharge"
    return rows.episode(key, pains, sessions=dated, **fields)


def sensitivity(wh) -> dict[str, dict]:
    return wh.by_key("marts.responder_sensitivity", "condition_group")


def test_bounds_on_a_tiny_case(wh, rows) -> None:
    """E = 3 evaluable (R = 2 responders), M = 2 eligible without a final score; active and unscored excluded.

    complete case 2/3, worst case 2/5, best case 4/5.
    """
    wh.load([
        *episode(rows, "r1", 8, 4),  # responder (4 points, 50 %)
        *episode(rows, "r2", 7, 4.9, status="discharged"),  # responder: exactly 30 %
        *episode(rows, "n1", 6, 5),  # not a responder
        *episode(rows, "m1", 6, None),  # lost without a final score
        *episode(rows, "m2", 5, None, status="discharged"),  # discharged without one
        *episode(rows, "act", 8, None, status="active"),  # active: not eligible (and sets the data end)
        *episode(rows, "act2", 8, 2, status="active"),  # active even with a final score: not eligible
        *episode(rows, "nob", None, 3),  # no baseline: not eligible
    ])
    wh.build()
    row = sensitivity(wh)["low_back_pain"]
    assert (row["n_eligible"], row["n_evaluable"], row["n_missing"], row["n_responders"]) == (5, 3, 2, 2)
    assert row["complete_case_rate"] == pytest.approx(2 / 3, rel=1e-15)
    assert row["worst_case_rate"] == pytest.approx(2 / 5, rel=1e-15)
    assert row["best_case_rate"] == pytest.approx(4 / 5, rel=1e-15)
    assert row["worst_case_rate"] <= row["ipw_rate"] <= row["best_case_rate"]
    assert {r["episode_key"] for r in wh.table("intermediate.episode_ipw")} == {"r1", "r2", "n1", "m1", "m2"}
    assert set(sensitivity(wh)) == {"low_back_pain", "all"}


def test_every_eligible_episode_evaluable_gives_weights_one(wh, rows) -> None:
    """p = 1 for all: the IPW rate is the complete-case rate; interval by hand.

    y = 1, 1, 0, 0: rate 1/2; sqrt(sum (y - 1/2)^2) / 4 = 1/4; interval 1/2 -/+ z / 4.
    Changes 4, 3, 1, 0: IPW mean change 2.
    """
    wh.load([
        *episode(rows, "a", 8, 4), *episode(rows, "b", 6, 3, status="discharged"), *episode(rows, "c", 5, 4),
        *episode(rows, "d", 5, 5), *episode(rows, "act", 5, None, status="active"),
    ])
    wh.build()
    weights = wh.table("intermediate.episode_ipw")
    assert {(r["p_evaluable"], r["weight"]) for r in weights} == {(1.0, 1.0)}
    row = sensitivity(wh)["low_back_pain"]
    assert row["ipw_rate"] == pytest.approx(0.5, rel=1e-15) == row["complete_case_rate"]
    assert row["ipw_ci_low"] == pytest.approx(0.5 - Z / 4, rel=1e-12)
    assert row["ipw_ci_high"] == pytest.approx(0.5 + Z / 4, rel=1e-12)
    assert row["ipw_mean_change"] == pytest.approx(2.0, rel=1e-15)
    assert row["max_weight"] == 1.0
    assert wh.rows("SELECT note FROM marts.ipw_coefficients WHERE model = 'evaluable'")[0]["note"].startswith(
        "every eligible episode is evaluable")


def test_intervals_are_clipped_and_null_under_two(wh, rows) -> None:
    """neck_pain: 2 evaluable responders -> interval [1, 1]; sciatica: 1 evaluable -> no interval."""
    wh.load([
        *episode(rows, "n1", 8, 2, condition_group="neck_pain"), *episode(rows, "n2", 7, 1, condition_group="neck_pain"),
        *episode(rows, "s1", 8, 2, condition_group="sciatica"), *episode(rows, "s2", 8, None, condition_group="sciatica"),
        *episode(rows, "act", 5, None, status="active"),
    ])
    wh.build()
    got = sensitivity(wh)
    assert (got["neck_pain"]["ipw_rate"], got["neck_pain"]["ipw_ci_low"], got["neck_pain"]["ipw_ci_high"]) == (
        1.0, 1.0, 1.0)
    assert got["sciatica"]["ipw_rate"] == 1.0
    assert (got["sciatica"]["ipw_ci_low"], got["sciatica"]["ipw_ci_high"]) == (None, None)
    assert got["sciatica"]["max_weight"] is not None


def test_no_evaluable_and_no_eligible_episode(wh, rows) -> None:
    wh.load([*episode(rows, "m1", 6, None), *episode(rows, "m2", 6, None, condition_group="neck_pain"),
             *episode(rows, "act", 5, 1, status="active", condition_group="sciatica")])
    wh.build()
    got = sensitivity(wh)
    assert set(got) == {"low_back_pain", "neck_pain", "all"}  # sciatica has no eligible episode
    row = got["all"]
    assert (row["n_eligible"], row["n_evaluable"], row["complete_case_rate"], row["worst_case_rate"],
            row["best_case_rate"]) == (2, 0, None, 0.0, 1.0)
    assert (row["ipw_rate"], row["ipw_ci_low"], row["ipw_mean_change"], row["max_weight"]) == (None, None, None, None)


def test_all_row_without_eligible_episodes(wh, rows) -> None:
    wh.load(episode(rows, "act", 5, 1, status="active"))
    wh.build()
    assert wh.table("marts.responder_sensitivity") == [
        {**wh.table("marts.responder_sensitivity")[0], "condition_group": "all", "n_eligible": 0, "n_evaluable": 0}]
    row = wh.table("marts.responder_sensitivity")[0]
    assert all(row[c] is None for c in ("complete_case_rate", "worst_case_rate", "best_case_rate", "ipw_rate"))


# ---- the fit against an independent implementation ------------------------------------------------------


def generated(rows, rng: np.random.Generator, n: int) -> list[dict]:
    """Episodes whose chance of a final score depends on the covariates.

    Every ``auto_pip`` episode has a final score (a level that predicts evaluable perfectly); of 80
    ``medicaid`` episodes at baseline 1, two do (their p is below 1/20: their weights hit the cap of 20).
    """
    sessions = [*episode(rows, "anchor", 5, None, status="active")]
    for i in range(n):
        payer = str(rng.choice(PAYERS, p=[0.1, 0.4, 0.25, 0.25]))
        baseline = float(rng.integers(1, 11))
        weeks = None if rng.random() < 0.25 else float(rng.integers(0, 300))
        logit = -5.0 + 0.9 * baseline - (0.4 if weeks is None else 0.0) - (1.0 if payer == "medicaid" else 0.0)
        has_final = payer == "auto_pip" or rng.random() < 1 / (1 + np.exp(-logit))
        final = float(np.clip(baseline - rng.normal(2, 2), 0, 10)) if has_final else None
        status = str(rng.choice(["lost", "discharged", "active"], p=[0.5, 0.4, 0.1]))
        sessions += episode(
            rows, f"e{i:03d}", baseline, final, status=status, n_sessions=int(rng.integers(2, 5)),
            condition_group=str(rng.choice(GROUPS)), age_band=str(rng.choice(AGES)),
            sex=str(rng.choice(["F", "M", "U"], p=[0.6, 0.35, 0.05])), payer_type=payer, symptom_weeks=weeks,
        )
    for i in range(80):
        sessions += episode(rows, f"m{i:02d}", 1.0, 0.0 if i in (0, 1) else None, payer_type="medicaid",
                            condition_group="sciatica", symptom_weeks=float(10 + i))
    return sessions


def independent_fit(eligible: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Section 13's model on one row per episode with scipy's trust-region minimiser (exact derivatives)."""
    x = pd.DataFrame({"intercept": 1.0, "baseline_pain": eligible["baseline_pain"]}, index=eligible.index)
    x["log1p_weeks"] = np.log1p(eligible["symptom_weeks"].fillna(0.0))
    x["symptom_weeks_missing"] = eligible["symptom_weeks"].isna().astype(float)
    for column in ("condition_group", "age_band", "sex", "payer_type"):
        for level in sorted(eligible[column].unique())[1:]:
            x[f"{column}={level}"] = (eligible[column] == level).astype(float)
    a = x.to_numpy()
    y = eligible["pain_evaluable"].astype(float).to_numpy()
    spare = np.r_[0.0, np.ones(a.shape[1] - 1)]

    def f(b):
        eta = a @ b
        return np.sum(np.logaddexp(0.0, eta) - y * eta) + np.sum(spare * b * b)

    def grad(b):
        return a.T @ (1 / (1 + np.exp(-(a @ b))) - y) + 2 * spare * b

    def hess(b):
        mu = 1 / (1 + np.exp(-(a @ b)))
        return (a * (mu * (1 - mu))[:, None]).T @ a + 2 * np.diag(spare)

    result = optimize.minimize(f, np.zeros(a.shape[1]), jac=grad, hess=hess, method="trust-exact")
    # polish: the minimiser of this strictly convex function is the root of its gradient
    b = optimize.root(grad, result.x, jac=hess, method="hybr", tol=1e-14).x
    assert f(b) <= result.fun + 1e-9
    # strong convexity: |b - b*| <= |gradient| / (smallest eigenvalue of the Hessian), well below 1e-6
    assert np.linalg.norm(grad(b)) / np.linalg.eigvalsh(hess(b)).min() < 1e-8
    return list(x.columns), b, 1 / (1 + np.exp(-(a @ b)))


@pytest.fixture(scope="module")
def fitted(warehouse_factory, rows):
    wh = warehouse_factory()
    wh.load(generated(rows, np.random.default_rng(5), 260))
    wh.build()
    episodes = pd.DataFrame(wh.table("marts.episode_outcomes", "episode_key"))
    eligible = episodes[episodes["baseline_pain"].notna() & (episodes["status"] != "active")].set_index("episode_key")
    terms, b, p = independent_fit(eligible)
    return wh, eligible.assign(p=p), terms, b


def test_coefficients_equal_scipy(fitted) -> None:
    wh, eligible, terms, b = fitted
    got = wh.rows("SELECT * FROM marts.ipw_coefficients WHERE model = 'evaluable' ORDER BY position")
    estimated = [r for r in got if r["note"] != "reference level (alphabetically first)"]
    assert [r["term"] for r in estimated] == terms
    np.testing.assert_allclose([r["estimate"] for r in estimated], b, rtol=0, atol=1e-6)
    assert {r["term"] for r in got if r["estimate"] == 0.0 and r["note"].startswith("reference")} == {
        "condition_group=low_back_pain", "age_band=18-29", "sex=F", "payer_type=auto_pip"}
    assert all(r["n_obs"] == len(eligible) and r["method"] == "logit_ridge_1" for r in got)


def test_a_perfectly_predicting_level_stays_finite(fitted) -> None:
    """auto_pip (the reference) is always evaluable: the other payer levels' estimates are finite and negative."""
    wh, eligible, terms, b = fitted
    assert eligible.loc[eligible["payer_type"] == "auto_pip", "pain_evaluable"].all()
    for level in ("commercial", "medicaid", "self_pay"):
        estimate = b[terms.index(f"payer_type={level}")]
        assert np.isfinite(estimate) and estimate < 0
    got = {r["term"]: r["estimate"] for r in wh.rows("SELECT * FROM marts.ipw_coefficients WHERE model = 'evaluable'")}
    assert got["payer_type=medicaid"] == pytest.approx(b[terms.index("payer_type=medicaid")], abs=1e-6)


def test_probabilities_and_capped_weights_equal_the_independent_fit(fitted) -> None:
    wh, eligible, _terms, _b = fitted
    ipw = pd.DataFrame(wh.table("intermediate.episode_ipw")).set_index("episode_key")
    assert set(ipw.index) == set(eligible.index)
    np.testing.assert_allclose(ipw.loc[eligible.index, "p_evaluable"], eligible["p"], rtol=0, atol=1e-6)
    evaluable = eligible[eligible["pain_evaluable"]]
    want = np.minimum(1 / evaluable["p"], 20.0)
    np.testing.assert_allclose(ipw.loc[evaluable.index, "weight"], want, rtol=1e-6)
    assert ipw.loc[~ipw["evaluable"], "weight"].isna().all()
    capped = evaluable[1 / evaluable["p"] > 20]
    assert len(capped) >= 2 and (ipw.loc[capped.index, "weight"] == 20.0).all()


def test_ipw_rates_equal_the_independent_weights(fitted) -> None:
    wh, eligible, _terms, _b = fitted
    evaluable = eligible[eligible["pain_evaluable"]].assign(w=lambda f: np.minimum(1 / f["p"], 20.0))
    got = sensitivity(wh)
    assert set(got) == {*eligible["condition_group"].unique(), "all"}
    for group, row in got.items():
        part = evaluable if group == "all" else evaluable[evaluable["condition_group"] == group]
        mine = eligible if group == "all" else eligible[eligible["condition_group"] == group]
        y = part["responder"].astype(float)
        rate = float((part["w"] * y).sum() / part["w"].sum())
        half = Z * np.sqrt((part["w"] ** 2 * (y - rate) ** 2).sum()) / part["w"].sum()
        assert (row["n_eligible"], row["n_evaluable"]) == (len(mine), len(part)), group
        assert row["ipw_rate"] == pytest.approx(rate, abs=1e-6), group
        assert row["ipw_ci_low"] == pytest.approx(max(0.0, rate - half), abs=1e-6), group
        assert row["ipw_ci_high"] == pytest.approx(min(1.0, rate + half), abs=1e-6), group
        assert row["ipw_mean_change"] == pytest.approx(
            float((part["w"] * part["pain_change"]).sum() / part["w"].sum()), abs=1e-6), group
        assert row["max_weight"] == pytest.approx(part["w"].max(), rel=1e-6), group
        assert row["complete_case_rate"] == pytest.approx(y.mean(), rel=1e-12), group
        assert row["worst_case_rate"] <= row["complete_case_rate"] <= row["best_case_rate"], group
        assert row["n_patients"] == mine["patient_id"].nunique(), group


def test_the_weight_cap_is_a_setting(warehouse_factory, rows) -> None:
    wh = warehouse_factory()
    wh.settings = wh.settings.with_overrides(ipw_max_weight="1.5")
    wh.load(generated(rows, np.random.default_rng(5), 60))
    wh.build()
    weights = [r["weight"] for r in wh.table("intermediate.episode_ipw") if r["evaluable"]]
    assert max(weights) == 1.5 and min(weights) >= 1.0
    assert all(w == min(1 / r["p_evaluable"], 1.5) for r in wh.table("intermediate.episode_ipw") if r["evaluable"]
               for w in [r["weight"]])
