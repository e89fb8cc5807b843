"""Case-mix models v2: OLS and logistic coefficients equal statsmodels; O - E per unit; calibration; separation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

AGES = ("30-39", "40-49", "50-59", "60-69")
GROUPS = ("low_back_pain", "neck_pain", "sciatica", "fibromyalgia")
SEXES = ("F", "M", "X")
PAYERS = ("commercial", "medicare", "self_pay")
CATEGORICAL = ("age_band", "condition_group", "sex", "payer_type")
Z = 1.959963984540054


def two_visit_episode(rows, key: str, baseline: float, change: float, **fields) -> list[dict]:
    return rows.episode(key, [(baseline, baseline), (baseline - change, baseline - change)], **fields)


def design(episodes: pd.DataFrame) -> pd.DataFrame:
    """The documented case-mix design, built independently in pandas."""
    x = pd.DataFrame(index=episodes.index)
    x["intercept"] = 1.0
    x["baseline_pain"] = episodes["baseline_pain"]
    log_weeks = np.log1p(episodes["symptom_weeks"])
    x["log1p_weeks"] = log_weeks.fillna(log_weeks.mean())
    if episodes["symptom_weeks"].isna().any():
        x["symptom_weeks_missing"] = episodes["symptom_weeks"].isna().astype(float)
    for column in CATEGORICAL:
        counts = episodes[column].value_counts()
        reference = sorted(counts[counts == counts.max()].index)[0]
        for level in sorted(set(episodes[column]) - {reference}):
            x[f"{column}={level}"] = (episodes[column] == level).astype(float)
    return x


def coefficients(wh, model: str) -> dict[str, dict]:
    return {r["term"]: r for r in wh.rows(
        "SELECT * FROM marts.model_coefficients WHERE model = ? ORDER BY position", [model])}


def random_sessions(rows, rng, n: int, payer_bias: float = 0.0) -> list[dict]:
    sessions = []
    for i in range(n):
        weeks = None if rng.random() < 0.2 else float(rng.lognormal(2.5, 1.0))
        baseline = float(rng.integers(2, 11))
        payer = str(rng.choice(PAYERS))
        shift = payer_bias if payer == "medicare" else 0.0
        change = float(np.clip(np.round(0.3 * baseline + shift + rng.normal(0, 1.5), 1), baseline - 10, baseline))
        sessions += two_visit_episode(
            rows, f"e{i:03d}", baseline, change, age_band=str(rng.choice(AGES)),
            condition_group=str(rng.choice(GROUPS)), sex=str(rng.choice(SEXES, p=[0.55, 0.4, 0.05])),
            payer_type=payer, symptom_weeks=weeks, clinic_id=f"C{i % 4}", therapist_id=f"T{i % 7}",
        )
    return sessions


@pytest.fixture(scope="module")
def fitted(warehouse_factory, rows):
    rng = np.random.default_rng(3)
    wh = warehouse_factory()
    wh.load(random_sessions(rows, rng, 400, payer_bias=0.5))
    wh.build()
    episodes = pd.DataFrame(wh.rows("SELECT * FROM marts.episode_outcomes WHERE pain_evaluable ORDER BY episode_key"))
    episodes.index = pd.Index(episodes["episode_key"].to_list())
    return wh, episodes


def test_linear_model_equals_statsmodels_ols(fitted) -> None:
    wh, episodes = fitted
    x = design(episodes)
    assert {"sex=M", "sex=X", "payer_type=medicare", "symptom_weeks_missing"} <= set(x.columns)
    y = episodes["pain_change"]
    ols = sm.OLS(y, x).fit()
    got = coefficients(wh, "pain_change")
    estimated = [t for t, r in got.items() if r["note"] != "reference level"]
    assert estimated == list(x.columns)
    lstsq = np.linalg.lstsq(x.to_numpy(), y.to_numpy(), rcond=None)[0]
    for i, term in enumerate(x.columns):
        row = got[term]
        assert row["method"] == "ols"
        assert row["estimate"] == pytest.approx(ols.params[term], rel=1e-8, abs=1e-10)
        assert row["estimate"] == pytest.approx(lstsq[i], rel=1e-8, abs=1e-10)
        assert row["std_error"] == pytest.approx(ols.bse[term], rel=1e-8)
        low, high = ols.conf_int().loc[term]
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low, rel=1e-8), pytest.approx(high, rel=1e-8))
        assert row["n_obs"] == len(episodes)
        assert row["r_squared"] == pytest.approx(ols.rsquared, rel=1e-9)
        assert row["residual_sd"] == pytest.approx(np.sqrt(ols.scale), rel=1e-9)
    references = {t for t, r in got.items() if r["note"] == "reference level"}
    assert references == {"age_band=" + _reference(episodes, "age_band"), "sex=F", "payer_type=" +
                          _reference(episodes, "payer_type"), "condition_group=" + _reference(episodes, "condition_group")}
    assert all(got[t]["estimate"] == 0.0 for t in references)
    # the per-episode expectations are the fitted values, the residuals the OLS residuals
    case_mix = pd.DataFrame(wh.table("intermediate.episode_case_mix")).set_index("episode_key")
    np.testing.assert_allclose(case_mix.loc[episodes.index, "expected_change"], ols.fittedvalues, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(case_mix.loc[episodes.index, "residual_change"], ols.resid, atol=1e-9)


def _reference(episodes: pd.DataFrame, column: str) -> str:
    counts = episodes[column].value_counts()
    return sorted(counts[counts == counts.max()].index)[0]


def test_responder_model_equals_statsmodels_logit(fitted) -> None:
    wh, episodes = fitted
    x = design(episodes)
    y = episodes["responder"].astype(float)
    logit = sm.Logit(y, x).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    got = coefficients(wh, "responder")
    assert [t for t, r in got.items() if r["note"] != "reference level"] == list(x.columns)
    for term in x.columns:
        row = got[term]
        assert row["method"] == "logit_ml"
        assert row["estimate"] == pytest.approx(logit.params[term], rel=1e-7, abs=1e-9)
        assert row["std_error"] == pytest.approx(logit.bse[term], rel=1e-6)
        low, high = logit.conf_int().loc[term]
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low, rel=1e-6), pytest.approx(high, rel=1e-6))
        assert row["residual_sd"] is None and row["n_obs"] == len(episodes)
    case_mix = pd.DataFrame(wh.table("intermediate.episode_case_mix")).set_index("episode_key")
    np.testing.assert_allclose(case_mix.loc[episodes.index, "expected_responder"], logit.predict(x), atol=1e-9)
    assert list(case_mix.loc[episodes.index, "responder"]) == list(episodes["responder"])


def test_unit_scores_are_mean_residuals(fitted) -> None:
    wh, episodes = fitted
    x = design(episodes)
    ols = sm.OLS(episodes["pain_change"], x).fit()
    episodes = episodes.assign(expected=ols.fittedvalues, residual=ols.resid)
    got = {(r["level"], r["clinic_id"], r["unit_id"]): r for r in wh.table("marts.risk_adjusted")}
    for level, keys in (("clinic", ["clinic_id"]), ("therapist", ["clinic_id", "therapist_id"])):
        for key, unit in episodes.groupby(keys):
            row = got[(level, key[0], key[-1])]
            assert row["n"] == len(unit)
            assert row["observed_mean"] == pytest.approx(unit["pain_change"].mean(), rel=1e-12)
            assert row["expected_mean"] == pytest.approx(unit["expected"].mean(), rel=1e-8)
            assert row["o_minus_e"] == pytest.approx(unit["residual"].mean(), abs=1e-9)
            n = len(unit)
            low, high = stats.t.interval(0.95, n - 1, loc=unit["residual"].mean(), scale=stats.sem(unit["residual"]))
            assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low, abs=1e-8), pytest.approx(high, abs=1e-8))
    assert len(got) == episodes["clinic_id"].nunique() + len(episodes.groupby(["clinic_id", "therapist_id"]))


def test_responder_rates_observed_vs_expected_per_unit(fitted) -> None:
    """O, E = sum of p, O - E over n with the null-variance interval sqrt(sum p(1 - p)) / n (funnel on proportions)."""
    wh, episodes = fitted
    x = design(episodes)
    p = sm.Logit(episodes["responder"].astype(float), x).fit(disp=0, method="newton", tol=1e-12).predict(x)
    episodes = episodes.assign(p=p, y=episodes["responder"].astype(float))
    got = {(r["level"], r["clinic_id"], r["unit_id"]): r for r in wh.table("marts.risk_adjusted_responders")}
    assert len(got) == episodes["clinic_id"].nunique() + len(episodes.groupby(["clinic_id", "therapist_id"]))
    for level, keys in (("clinic", ["clinic_id"]), ("therapist", ["clinic_id", "therapist_id"])):
        for key, unit in episodes.groupby(keys):
            row = got[(level, key[0], key[-1])]
            n, o, e = len(unit), unit["y"].sum(), unit["p"].sum()
            se = np.sqrt((unit["p"] * (1 - unit["p"])).sum()) / n
            assert (row["n"], row["n_responders"], row["n_patients"]) == (n, o, unit["patient_id"].nunique())
            assert row["observed_rate"] == pytest.approx(o / n, rel=1e-12)
            assert row["expected_rate"] == pytest.approx(e / n, rel=1e-8)
            assert row["o_minus_e"] == pytest.approx((o - e) / n, abs=1e-9)
            assert row["o_to_e"] == pytest.approx(o / e, rel=1e-8)
            assert row["se"] == pytest.approx(se, rel=1e-8)
            assert row["ci_low"] == pytest.approx((o - e) / n - Z * se, abs=1e-9)
            assert row["ci_high"] == pytest.approx((o - e) / n + Z * se, abs=1e-9)
            assert row["z_score"] == pytest.approx((o - e) / (se * n), rel=1e-7, abs=1e-9)


def _deciles(frame: pd.DataFrame, expected: str, observed: str) -> list[tuple[int, float, float]]:
    ordered = frame.sort_values([expected, "episode_key"])
    parts = np.array_split(np.arange(len(ordered)), min(10, len(ordered)))
    return [(len(ix), ordered[expected].iloc[ix].mean(), ordered[observed].iloc[ix].mean()) for ix in parts]


def test_calibration_deciles_equal_an_independent_computation(fitted) -> None:
    wh, episodes = fitted
    x = design(episodes)
    ols = sm.OLS(episodes["pain_change"], x).fit()
    logit = sm.Logit(episodes["responder"].astype(float), x).fit(disp=0, method="newton", tol=1e-12)
    frame = episodes.assign(e_change=ols.fittedvalues, e_resp=logit.predict(x), y=episodes["responder"].astype(float))
    for model, expected, observed in (("pain_change", "e_change", "pain_change"), ("responder", "e_resp", "y")):
        got = wh.rows("SELECT * FROM marts.risk_calibration WHERE model = ? ORDER BY decile", [model])
        want = _deciles(frame, expected, observed)
        assert [r["decile"] for r in got] == list(range(1, 11))
        assert sum(r["n"] for r in got) == len(episodes)
        for row, (n, mean_expected, mean_observed) in zip(got, want, strict=True):
            assert row["n"] == n
            assert row["mean_expected"] == pytest.approx(mean_expected, rel=1e-8, abs=1e-9)
            assert row["mean_observed"] == pytest.approx(mean_observed, rel=1e-12, abs=1e-12)
            assert row["min_expected"] <= row["mean_expected"] <= row["max_expected"]


def test_calibration_of_a_known_model(warehouse_factory, rows) -> None:
    """Changes exactly linear in the covariates: the model is recovered, so every decile has observed = expected.

    23 episodes with distinct expected changes: deciles of sizes 3, 3, 3, 2, ... (ntile), ordered by
    the known expected change.
    """
    effects = {"40-49": 0.0, "60-69": -0.5, "low_back_pain": 0.0, "neck_pain": 0.4, "F": 0.0, "M": 0.25,
               "commercial": 0.0, "medicare": -0.3}
    combos = [("40-49", "low_back_pain", "F", "commercial"), ("60-69", "neck_pain", "M", "medicare"),
              ("40-49", "neck_pain", "M", "commercial"), ("60-69", "low_back_pain", "F", "commercial"),
              ("40-49", "low_back_pain", "M", "medicare")]
    wh = warehouse_factory()
    sessions, truth = [], {}
    for i in range(23):
        age, group, sex, payer = combos[i % len(combos)]
        baseline = 3.0 + (i * 7 % 23) * 0.25
        weeks = None if i % 6 == 5 else float(2 + 3 * i)
        w = np.log1p(weeks) if weeks is not None else 0.0
        change = 0.5 + 0.3 * baseline - 0.2 * w + (0.7 if weeks is None else 0.0) + sum(
            effects[v] for v in (age, group, sex, payer))
        key = f"k{i:02d}"
        truth[key] = change
        sessions += two_visit_episode(rows, key, baseline, change, age_band=age, condition_group=group, sex=sex,
                                      payer_type=payer, symptom_weeks=weeks)
    wh.load(sessions)
    wh.build()
    got = wh.rows("SELECT * FROM marts.risk_calibration WHERE model = 'pain_change' ORDER BY decile")
    assert [r["n"] for r in got] == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    order = sorted(truth, key=lambda k: truth[k])
    start = 0
    for row in got:
        members = order[start:start + row["n"]]
        start += row["n"]
        assert row["mean_observed"] == pytest.approx(np.mean([truth[k] for k in members]), abs=1e-9)
        assert row["mean_expected"] == pytest.approx(row["mean_observed"], abs=1e-9)
    assert coefficients(wh, "pain_change")["intercept"]["r_squared"] == pytest.approx(1.0, abs=1e-12)


def penalised_fit(x: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """The section 13 ridge fit (1.0 x sum of squared coefficients, intercept spared) by scipy's BFGS."""
    a = x.to_numpy()
    spare = np.r_[0.0, np.ones(a.shape[1] - 1)]

    def f(b: np.ndarray) -> float:
        eta = a @ b
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + np.sum(spare * b * b))

    def gradient(b: np.ndarray) -> np.ndarray:
        return a.T @ (1.0 / (1.0 + np.exp(-(a @ b))) - y) + 2.0 * spare * b

    return optimize.minimize(f, np.zeros(a.shape[1]), jac=gradient, method="BFGS", options={"gtol": 1e-10}).x


def _separated_warehouse(warehouse_factory, rows, seed: int, respond) -> tuple:
    rng = np.random.default_rng(seed)
    wh = warehouse_factory()
    sessions = random_sessions(rows, rng, 120)
    for s in sessions:
        if s["session_number"] == 2:
            first = next(f for f in sessions if f["episode_key"] == s["episode_key"] and f["session_number"] == 1)
            # full relief (a responder: baselines are >= 2) or no change at all
            s["pain_pre"] = s["pain_post"] = 0.0 if respond(first) else first["pain_pre"]
    wh.load(sessions)
    wh.build()
    episodes = pd.DataFrame(wh.rows("SELECT * FROM marts.episode_outcomes WHERE pain_evaluable ORDER BY episode_key"))
    return wh, episodes


def _assert_penalised_fit(wh, episodes: pd.DataFrame, reason: str) -> dict[str, dict]:
    x = design(episodes)
    y = episodes["responder"].astype(float).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logit = sm.Logit(y, x).fit(disp=0, maxiter=200, method="newton")
    assert np.abs(logit.params).max() > 15  # statsmodels' unpenalised estimate runs off to infinity
    best = penalised_fit(x, y)
    got = coefficients(wh, "responder")
    assert reason in got["intercept"]["note"]
    for i, term in enumerate(x.columns):
        assert got[term]["method"] == "logit_ridge"
        assert got[term]["estimate"] == pytest.approx(best[i], abs=1e-6)
        assert got[term]["std_error"] is None and np.isfinite(got[term]["estimate"])
    return got


def test_a_level_that_predicts_perfectly_switches_to_the_penalised_fit(warehouse_factory, rows) -> None:
    """Every 'medicare' episode is a responder: no finite maximum-likelihood estimate (statsmodels agrees).

    The responder model is then the section 13 ridge fit (intercept spared), equal to scipy's minimiser.
    """
    wh, episodes = _separated_warehouse(warehouse_factory, rows, 8, lambda first: first["payer_type"] == "medicare"
                                        or first["pain_pre"] >= 8)
    assert episodes.loc[episodes["payer_type"] == "medicare", "responder"].all() and not episodes["responder"].all()
    got = _assert_penalised_fit(wh, episodes, "payer_type=medicare")
    assert got["payer_type=medicare"]["estimate"] > 0


def test_a_separating_combination_of_covariates_switches_to_the_penalised_fit(warehouse_factory, rows) -> None:
    """Responders are exactly the episodes with baseline >= 6: every level has both outcomes, yet the
    baseline separates them. Newton's method does not converge; the ridge fit is used."""
    wh, episodes = _separated_warehouse(warehouse_factory, rows, 10, lambda first: first["pain_pre"] >= 6)
    for column in CATEGORICAL:
        assert (episodes.groupby(column)["responder"].nunique() == 2).all(), column
    _assert_penalised_fit(wh, episodes, "does not converge")


def test_a_level_with_one_outcome_is_found() -> None:
    from transforms.risk_adjustment import CaseMixDesign, single_outcome_levels

    patterns = pd.DataFrame({
        "age_band": ["40-49", "40-49", "60-69"], "condition_group": ["a", "b", "a"], "sex": ["F", "F", "F"],
        "payer_type": ["p", "p", "p"], "m": [0.0, 1.0, 0.0], "n": [3, 2, 4], "k": [1, 2, 0],
    })
    design = CaseMixDesign(("intercept",), {"age_band": "40-49", "condition_group": "a", "sex": "F",
                                            "payer_type": "p"},
                           {"age_band": ("60-69",), "condition_group": ("b",), "sex": (), "payer_type": ()},
                           has_weeks=True, has_missing=True)
    assert single_outcome_levels(patterns, design) == [
        "age_band=60-69", "condition_group=b", "symptom_weeks_missing=1.0"]


def test_a_constant_outcome_gives_the_constant_expectation(wh, rows) -> None:
    wh.load([s for i, (b, c) in enumerate([(8, 5), (6, 3), (9, 6)]) for s in two_visit_episode(rows, f"e{i}", b, c)])
    wh.build()
    assert {r["expected_responder"] for r in wh.table("intermediate.episode_case_mix")} == {1.0}
    (row,) = wh.rows("SELECT * FROM marts.model_coefficients WHERE model = 'responder'")
    assert row["method"] == "constant" and row["estimate"] is None
    clinic = wh.rows("SELECT * FROM marts.risk_adjusted_responders WHERE level = 'clinic'")[0]
    assert (clinic["observed_rate"], clinic["expected_rate"], clinic["o_minus_e"], clinic["se"]) == (1.0, 1.0, 0.0, None)


def test_a_clinic_one_point_better_is_recovered(warehouse_factory, rows) -> None:
    """Five clinics with the same case mix; clinic C0's episodes improve exactly 1 point more.

    The model (which does not know the clinic) puts 1/5 of that point in its intercept, so C0's
    observed minus expected is 1 - 1/5 and every other clinic's is -1/5: C0 is 1 point better.
    """
    rng = np.random.default_rng(11)
    mix = [
        (float(rng.integers(3, 10)), str(rng.choice(AGES)), str(rng.choice(GROUPS)), str(rng.choice(SEXES[:2])),
         str(rng.choice(PAYERS)), None if rng.random() < 0.2 else float(rng.integers(1, 200)))
        for _ in range(40)
    ]
    effects = {"30-39": 0.2, "40-49": 0.0, "50-59": -0.3, "60-69": -0.5, "low_back_pain": 0.0, "neck_pain": 0.4,
               "sciatica": -0.2, "fibromyalgia": -0.6, "F": 0.0, "M": 0.3, "commercial": 0.0, "medicare": -0.4,
               "self_pay": 0.1}
    wh = warehouse_factory()
    sessions = []
    for clinic in range(5):
        for i, (baseline, age, group, sex, payer, weeks) in enumerate(mix):
            w = np.log1p(weeks) if weeks is not None else 2.0
            change = (0.5 + 0.3 * baseline - 0.2 * w + effects[age] + effects[group] + effects[sex] + effects[payer]
                      + (1.0 if clinic == 0 else 0.0))
            sessions += two_visit_episode(rows, f"c{clinic}e{i:02d}", baseline, change, age_band=age,
                                          condition_group=group, sex=sex, payer_type=payer, symptom_weeks=weeks,
                                          clinic_id=f"C{clinic}", therapist_id=f"T{clinic}")
    wh.load(sessions)
    wh.build()
    scores = {(r["level"], r["unit_id"]): r for r in wh.table("marts.risk_adjusted")}
    assert scores[("clinic", "C0")]["o_minus_e"] == pytest.approx(0.8, abs=1e-9)
    for clinic in range(1, 5):
        assert scores[("clinic", f"C{clinic}")]["o_minus_e"] == pytest.approx(-0.2, abs=1e-9)
        assert scores[("therapist", f"T{clinic}")]["o_minus_e"] == pytest.approx(-0.2, abs=1e-9)
    c0 = scores[("clinic", "C0")]
    assert c0["observed_mean"] - c0["expected_mean"] == pytest.approx(c0["o_minus_e"], abs=1e-12)


def test_no_pain_evaluable_episode_gives_empty_tables(wh, rows) -> None:
    wh.load(rows.episode("only", [(5, 4)]))
    counts = wh.build()
    for table in ("marts.risk_adjusted", "marts.model_coefficients", "intermediate.episode_case_mix",
                  "marts.risk_adjusted_responders", "marts.risk_calibration"):
        assert counts[table] == 0, table


def test_degenerate_designs_still_fit(wh, rows) -> None:
    """One group, age band, sex and payer, no symptom weeks: intercept and baseline only."""
    wh.load([s for i, (b, c) in enumerate([(5, 1), (6, 2), (8, 3), (4, 1.5)])
             for s in two_visit_episode(rows, f"e{i}", b, c, symptom_weeks=None)])
    wh.build()
    got = coefficients(wh, "pain_change")
    assert set(got) == {"intercept", "baseline_pain", "age_band=40-49", "condition_group=low_back_pain", "sex=F",
                        "payer_type=commercial"}
    slope, intercept = np.polyfit([5, 6, 8, 4], [1, 2, 3, 1.5], 1)
    assert got["baseline_pain"]["estimate"] == pytest.approx(slope, rel=1e-9)
    assert got["intercept"]["estimate"] == pytest.approx(intercept, rel=1e-9)


def test_an_older_coefficients_table_is_replaced(wh, rows) -> None:
    """A warehouse built before the model column existed gets the new layout on the next build."""
    wh.con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    wh.con.execute("CREATE TABLE marts.model_coefficients (position INTEGER, term VARCHAR, estimate DOUBLE)")
    wh.load([s for i, (b, c) in enumerate([(5, 1), (6, 2), (8, 3)]) for s in two_visit_episode(rows, f"e{i}", b, c)])
    wh.build()
    assert {r["model"] for r in wh.table("marts.model_coefficients")} == {"pain_change", "responder"}
