"""marts.function_outcomes on hand-worked episodes: direction, MCID boundary, intervals (metrics.md section 6)."""

from __future__ import annotations

import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

COLUMNS = [
    "condition_group", "instrument", "n_episodes", "mean_improvement", "improvement_ci_low", "improvement_ci_high",
    "responder_rate", "n_patients", "mcid", "n_responders", "responder_ci_low", "responder_ci_high", "higher_is",
    "mean_baseline", "mean_final", "sd_improvement",
]


def scores(instrument: str, values: list[float | None]) -> list[dict]:
    return [dict(function_instrument=instrument if v is not None else None, function_score=v) for v in values]


@pytest.fixture(scope="module")
def outcomes(warehouse_factory, rows) -> dict[tuple[str, str], dict]:
    wh = warehouse_factory()
    e = rows.episode
    pains = [(6, 5)] * 3
    wh.load([
        # ODI, higher is worse, MCID 10: 40 -> 30 meets it, 40 -> 30.5 does not
        *e("odi_10", pains, sessions=scores("ODI", [40, 35, 30])),
        *e("odi_9.5", pains, sessions=scores("ODI", [40, None, 30.5])),
        *e("odi_single", pains, sessions=scores("ODI", [40, None, None])),
        # LEFS, higher is better, MCID 9: 40 -> 49 meets it, 40 -> 48.9 does not
        *e("lefs_9", pains, sessions=scores("LEFS", [None, 40, 49]), condition_group="sciatica"),
        *e("lefs_8.9", pains, sessions=scores("LEFS", [40, 48.9, None]), condition_group="sciatica"),
        # QuickDASH MCID 15.9: 50 -> 34.1 is 15.899999999999999 in floating point, still a responder
        *e("qdash", pains, sessions=scores("QuickDASH", [50, None, 34.1]), condition_group="shoulder_impingement"),
        # ODI getting worse: improvement is negative
        *e("odi_worse", pains, sessions=scores("ODI", [30, 40, None]), condition_group="neck_pain"),
        # two instruments in one episode are two series
        *e("two", pains, sessions=[dict(function_instrument="PSFS", function_score=3),
                                   dict(function_instrument="NDI", function_score=20),
                                   dict(function_instrument="PSFS", function_score=5)],
           condition_group="thoracic_pain"),
        *e("two_ndi", pains, sessions=[{}, {}, dict(function_instrument="NDI", function_score=10)],
           condition_group="thoracic_pain"),
    ])
    wh.build()
    return {(r["condition_group"], r["instrument"]): r for r in wh.table("marts.function_outcomes")}


def test_columns(outcomes) -> None:
    assert list(next(iter(outcomes.values()))) == COLUMNS


def test_higher_is_worse_and_the_mcid_boundary(outcomes) -> None:
    row = outcomes[("low_back_pain", "ODI")]
    low, high = stats.t.interval(0.95, 1, loc=9.75, scale=stats.sem([10.0, 9.5]))
    w_low, w_high = proportion_confint(1, 2, method="wilson")
    assert (row["n_episodes"], row["n_patients"], row["n_responders"], row["responder_rate"]) == (2, 2, 1, 0.5)
    assert (row["mean_improvement"], row["mean_baseline"], row["mean_final"]) == (9.75, 40.0, 30.25)
    assert (row["improvement_ci_low"], row["improvement_ci_high"]) == (
        pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert (row["responder_ci_low"], row["responder_ci_high"]) == (
        pytest.approx(w_low, rel=1e-12), pytest.approx(w_high, rel=1e-12))
    assert (row["mcid"], row["higher_is"]) == (10.0, "worse")


def test_higher_is_better(outcomes) -> None:
    row = outcomes[("sciatica", "LEFS")]
    assert (row["n_episodes"], row["n_responders"], row["higher_is"], row["mcid"]) == (2, 1, "better", 9.0)
    assert row["mean_improvement"] == (9.0 + (48.9 - 40.0)) / 2


def test_floating_point_mcid_boundary(outcomes) -> None:
    row = outcomes[("shoulder_impingement", "QuickDASH")]
    assert 50 - 34.1 < 15.9
    assert (row["n_episodes"], row["n_responders"], row["responder_rate"], row["mean_improvement"]) == (
        1, 1, 1.0, 50 - 34.1)
    assert (row["improvement_ci_low"], row["responder_ci_low"], row["sd_improvement"]) == (None, None, None)


def test_worsening_is_a_negative_improvement(outcomes) -> None:
    row = outcomes[("neck_pain", "ODI")]
    assert (row["mean_improvement"], row["n_responders"], row["responder_rate"]) == (-10.0, 0, 0.0)


def test_each_instrument_of_an_episode(outcomes) -> None:
    psfs = outcomes[("thoracic_pain", "PSFS")]
    assert (psfs["n_episodes"], psfs["mean_improvement"], psfs["n_responders"]) == (1, 2.0, 1)
    ndi = outcomes[("thoracic_pain", "NDI")]  # one episode's single score and another's: no final anywhere
    assert (ndi["n_episodes"], ndi["mean_improvement"], ndi["responder_rate"]) == (0, None, None)
