"""Risk adjustment: coefficients equal statsmodels / numpy; observed minus expected recovers a known clinic effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

AGES = ("30-39", "40-49", "50-59", "60-69")
GROUPS = ("low_back_pain", "neck_pain", "sciatica", "fibromyalgia")


def two_visit_episode(rows, key: str, baseline: float, change: float, **fields) -> list[dict]:
    return rows.episode(key, [(baseline, baseline), (baseline - change, baseline - change)], **fields)


def design(episodes: pd.DataFrame) -> pd.DataFrame:
    """The documented design, built independently in pandas."""
    x = pd.DataFrame(index=episodes.index)
    x["intercept"] = 1.0
    x["baseline_pain"] = episodes["baseline_pain"]
    log_weeks = np.log1p(episodes["symptom_weeks"])
    x["log1p_weeks"] = log_weeks.fillna(log_weeks.mean())
    if episodes["symptom_weeks"].isna().any():
        x["symptom_weeks_missing"] = episodes["symptom_weeks"].isna().astype(float)
    for column in ("age_band", "condition_group"):
        counts = episodes[column].value_counts()
        reference = sorted(counts[counts == counts.max()].index)[0]
        for level in sorted(set(episodes[column]) - {reference}):
            x[f"{column}={level}"] = (episodes[column] == level).astype(float)
    return x


@pytest.fixture(scope="module")
def fitted(warehouse_factory, rows):
    rng = np.random.default_rng(3)
    wh = warehouse_factory()
    sessions = []
    for i in range(300):
        weeks = None if rng.random() < 0.2 else float(rng.lognormal(2.5, 1.0))
        baseline = float(rng.integers(2, 11))
        change = float(np.clip(np.round(0.3 * baseline + rng.normal(0, 1.2), 1), baseline - 10, baseline))
        sessions += two_visit_episode(
            rows, f"e{i:03d}", baseline, change, age_band=str(rng.choice(AGES)), condition_group=str(rng.choice(GROUPS)),
            symptom_weeks=weeks, clinic_id=f"C{i % 4}", therapist_id=f"T{i % 7}",
        )
    wh.load(sessions)
    wh.build()
    episodes = pd.DataFrame(wh.rows("SELECT * FROM marts.episode_outcomes WHERE pain_evaluable ORDER BY episode_key"))
    return wh, episodes


def test_coefficients_equal_statsmodels_and_lstsq(fitted) -> None:
    wh, episodes = fitted
    x = design(episodes)
    y = episodes["pain_change"]
    ols = sm.OLS(y, x).fit()
    coefficients = {r["term"]: r for r in wh.table("marts.model_coefficients", "position")}
    estimated = [t for t, r in coefficients.items() if r["note"] != "reference level"]
    assert estimated == list(x.columns)
    lstsq = np.linalg.lstsq(x.to_numpy(), y.to_numpy(), rcond=None)[0]
    for i, term in enumerate(x.columns):
        row = coefficients[term]
        assert row["estimate"] == pytest.approx(ols.params[term], rel=1e-8, abs=1e-10)
        assert row["estimate"] == pytest.approx(lstsq[i], rel=1e-8, abs=1e-10)
        assert row["std_error"] == pytest.approx(ols.bse[term], rel=1e-8)
        low, high = ols.conf_int().loc[term]
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low, rel=1e-8), pytest.approx(high, rel=1e-8))
        assert row["n_obs"] == len(episodes)
        assert row["r_squared"] == pytest.approx(ols.rsquared, rel=1e-9)
        assert row["residual_sd"] == pytest.approx(np.sqrt(ols.scale), rel=1e-9)
    references = {t for t, r in coefficients.items() if r["note"] == "reference level"}
    assert len(references) == 2 and all(coefficients[t]["estimate"] == 0.0 for t in references)


def test_unit_scores_are_mean_residuals(fitted) -> None:
    wh, episodes = fitted
    x = design(episodes)
    ols = sm.OLS(episodes["pain_change"], x).fit()
    episodes = episodes.assign(expected=ols.fittedvalues, residual=ols.resid)
    got = {(r["level"], r["clinic_id"], r["unit_id"]): r for r in wh.table("marts.risk_adjusted")}
    for level, keys in (("clinic", ["clinic_id"]), ("therapist", ["clinic_id", "therapist_id"])):
        for key, unit in episodes.groupby(keys):
            clinic, unit_id = (key[0], key[-1])
            row = got[(level, clinic, unit_id)]
            assert row["n"] == len(unit)
            assert row["observed_mean"] == pytest.approx(unit["pain_change"].mean(), rel=1e-12)
            assert row["expected_mean"] == pytest.approx(unit["expected"].mean(), rel=1e-8)
            assert row["o_minus_e"] == pytest.approx(unit["residual"].mean(), abs=1e-9)
            n = len(unit)
            if n >= 2:
                from scipy import stats

                low, high = stats.t.interval(0.95, n - 1, loc=unit["residual"].mean(), scale=stats.sem(unit["residual"]))
                assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low, abs=1e-8), pytest.approx(high, abs=1e-8))
    assert len(got) == episodes["clinic_id"].nunique() + len(episodes.groupby(["clinic_id", "therapist_id"]))


def test_a_clinic_one_point_better_is_recovered(warehouse_factory, rows) -> None:
    """Five clinics with the same case mix; clinic C0's episodes improve exactly 1 point more.

    The model (which does not know the clinic) puts 1/5 of that point in its intercept, so C0's
    observed minus expected is 1 - 1/5 and every other clinic's is -1/5: C0 is 1 point better.
    """
    rng = np.random.default_rng(11)
    mix = [
        (float(rng.integers(3, 10)), str(rng.choice(AGES)), str(rng.choice(GROUPS)),
         None if rng.random() < 0.2 else float(rng.integers(1, 200)))
        for _ in range(40)
    ]
    effects = {"30-39": 0.2, "40-49": 0.0, "50-59": -0.3, "60-69": -0.5, "low_back_pain": 0.0, "neck_pain": 0.4,
               "sciatica": -0.2, "fibromyalgia": -0.6}
    wh = warehouse_factory()
    sessions = []
    for clinic in range(5):
        for i, (baseline, age, group, weeks) in enumerate(mix):
            w = np.log1p(weeks) if weeks is not None else 2.0
            change = 0.5 + 0.3 * baseline - 0.2 * w + effects[age] + effects[group] + (1.0 if clinic == 0 else 0.0)
            sessions += two_visit_episode(rows, f"c{clinic}e{i:02d}", baseline, change, age_band=age,
                                          condition_group=group, symptom_weeks=weeks, clinic_id=f"C{clinic}",
                                          therapist_id=f"T{clinic}")
    wh.load(sessions)
    wh.build()
    scores = {(r["level"], r["unit_id"]): r for r in wh.table("marts.risk_adjusted")}
    assert scores[("clinic", "C0")]["o_minus_e"] == pytest.approx(0.8, abs=1e-9)
    for clinic in range(1, 5):
        assert scores[("clinic", f"C{clinic}")]["o_minus_e"] == pytest.approx(-0.2, abs=1e-9)
        assert scores[("clinic", "C0")]["o_minus_e"] - scores[("clinic", f"C{clinic}")]["o_minus_e"] == (
            pytest.approx(1.0, abs=1e-9))
        assert scores[("therapist", f"T{clinic}")]["o_minus_e"] == pytest.approx(-0.2, abs=1e-9)
    # raw means differ by case mix only through the shift: observed - expected removes the mix
    c0 = scores[("clinic", "C0")]
    assert c0["observed_mean"] - c0["expected_mean"] == pytest.approx(c0["o_minus_e"], abs=1e-12)


def test_no_pain_evaluable_episode_gives_empty_tables(wh, rows) -> None:
    wh.load(rows.episode("only", [(5, 4)]))
    counts = wh.build()
    assert counts["marts.risk_adjusted"] == 0 and counts["marts.model_coefficients"] == 0


def test_degenerate_designs_still_fit(wh, rows) -> None:
    """One group, one age band, no symptom weeks: intercept and baseline only."""
    wh.load([s for i, (b, c) in enumerate([(5, 1), (6, 2), (8, 3), (4, 1.5)])
             for s in two_visit_episode(rows, f"e{i}", b, c, symptom_weeks=None)])
    wh.build()
    terms = [r["term"] for r in wh.table("marts.model_coefficients", "term")]
    assert set(terms) == {"intercept", "baseline_pain", "age_band=40-49", "condition_group=low_back_pain"}
    coefficients = {r["term"]: r["estimate"] for r in wh.table("marts.model_coefficients")}
    slope, intercept = np.polyfit([5, 6, 8, 4], [1, 2, 3, 1.5], 1)
    assert coefficients["baseline_pain"] == pytest.approx(slope, rel=1e-9)
    assert coefficients["intercept"] == pytest.approx(intercept, rel=1e-9)
