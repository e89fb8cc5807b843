"""marts.rom_gains on hand-worked episodes (metrics.md section 5)."""

from __future__ import annotations

import statistics

import pytest
from scipy import stats

COLUMNS = [
    "condition_group", "joint", "movement", "n_episodes", "mean_baseline", "mean_final", "mean_gain",
    "gain_ci_low", "gain_ci_high", "pct_of_normal_final", "n_patients", "normal", "unit", "n_series", "sd_gain",
    "mean_immediate_gain", "n_immediate",
]


@pytest.fixture(scope="module")
def gains(warehouse_factory, rows) -> dict[tuple[str, str, str], dict]:
    wh = warehouse_factory()
    r = rows.rom
    sessions = [
        *rows.episode("r1", [(6, 5)] * 3),
        *rows.episode("r2", [(6, 5)] * 2),
        *rows.episode("r3", [(6, 5)] * 2, condition_group="neck_pain"),
    ]
    rom = [
        # r1 cervical rotation left: 50 -> 60 (session 2 is neither first nor last), immediate +5 and +2
        r("r1", 1, "cervical", "rotation", 50, side="left"), r("r1", 1, "cervical", "rotation", 55, side="left",
                                                               timing="post"),
        r("r1", 2, "cervical", "rotation", 52, side="left"),
        r("r1", 3, "cervical", "rotation", 60, side="left"), r("r1", 3, "cervical", "rotation", 62, side="left",
                                                               timing="post"),
        # r1 right: 40 -> mean(40, 44) = 42 (a repeated measurement is averaged)
        r("r1", 1, "cervical", "rotation", 40, side="right"),
        r("r1", 3, "cervical", "rotation", 40, side="right"), r("r1", 3, "cervical", "rotation", 44, side="right"),
        # r1 cervical flexion: a baseline only (no later pre value), immediate +5
        r("r1", 2, "cervical", "flexion", 30), r("r1", 2, "cervical", "flexion", 35, timing="post"),
        # r2 cervical rotation left: 70 -> 66 (a loss)
        r("r2", 1, "cervical", "rotation", 70, side="left"), r("r2", 2, "cervical", "rotation", 66, side="left"),
        # r3 (neck pain) lumbar flexion 40 -> 50, immediate +5 and +8; a post value with no pre value is ignored
        r("r3", 1, "lumbar", "flexion", 40), r("r3", 2, "lumbar", "flexion", 50),
        r("r3", 2, "lumbar", "flexion", 58, timing="post"), r("r3", 1, "lumbar", "flexion", 45, timing="post"),
        r("r3", 1, "lumbar", "extension", 20, timing="post"),
    ]
    wh.load(sessions, rom)
    wh.build()
    return {(g["condition_group"], g["joint"], g["movement"]): g for g in wh.table("marts.rom_gains")}


def test_columns(gains) -> None:
    assert list(next(iter(gains.values()))) == COLUMNS


def test_pooled_sides_exact(gains) -> None:
    row = gains[("low_back_pain", "cervical", "rotation")]
    changes = [10.0, 2.0, -4.0]
    low, high = stats.t.interval(0.95, 2, loc=statistics.mean(changes), scale=stats.sem(changes))
    assert (row["n_episodes"], row["n_patients"], row["n_series"]) == (2, 2, 3)
    assert row["mean_baseline"] == pytest.approx(160 / 3, rel=1e-15)
    assert row["mean_final"] == 56.0
    assert row["mean_gain"] == pytest.approx(8 / 3, rel=1e-15)
    assert row["sd_gain"] == pytest.approx(statistics.stdev(changes), rel=1e-12)
    assert (row["gain_ci_low"], row["gain_ci_high"]) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert row["pct_of_normal_final"] == pytest.approx((60 + 42 + 66) / 80 / 3, rel=1e-15)
    assert (row["normal"], row["unit"]) == (80.0, "deg")
    assert (row["mean_immediate_gain"], row["n_immediate"]) == (3.5, 2)


def test_baseline_without_final_is_not_a_gain(gains) -> None:
    row = gains[("low_back_pain", "cervical", "flexion")]
    assert (row["n_episodes"], row["n_series"], row["mean_baseline"], row["mean_final"], row["mean_gain"]) == (
        0, 0, None, None, None)
    assert (row["gain_ci_low"], row["gain_ci_high"], row["pct_of_normal_final"]) == (None, None, None)
    assert (row["mean_immediate_gain"], row["n_immediate"]) == (5.0, 1)


def test_one_series_mean_is_its_value_and_interval_is_null(gains) -> None:
    row = gains[("neck_pain", "lumbar", "flexion")]
    assert (row["n_episodes"], row["mean_baseline"], row["mean_final"], row["mean_gain"]) == (1, 40.0, 50.0, 10.0)
    assert (row["gain_ci_low"], row["gain_ci_high"], row["sd_gain"]) == (None, None, None)
    assert row["pct_of_normal_final"] == 50 / 60
    assert (row["mean_immediate_gain"], row["n_immediate"]) == (6.5, 2)


def test_post_without_pre_is_nothing(gains) -> None:
    row = gains[("neck_pain", "lumbar", "extension")]
    assert (row["n_episodes"], row["mean_gain"], row["mean_immediate_gain"], row["n_immediate"]) == (0, None, None, 0)


def test_only_measured_combinations(gains) -> None:
    assert set(gains) == {("low_back_pain", "cervical", "rotation"), ("low_back_pain", "cervical", "flexion"),
                          ("neck_pain", "lumbar", "flexion"), ("neck_pain", "lumbar", "extension")}
