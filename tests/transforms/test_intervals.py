"""t- and Wilson intervals (the SQL macros, the one implementation) equal scipy.stats / statsmodels; fewer than 2 values give NULL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from transforms.intervals import (
    T_QUANTILES_TABLE,
    ensure_t_quantiles,
    install_interval_sql,
    t_quantile,
    z_value,
)


@pytest.fixture
def con(wh):
    install_interval_sql(wh.con)
    return wh.con


def test_z_is_the_normal_quantile() -> None:
    assert z_value() == pytest.approx(1.959963984540054, abs=1e-15)


@pytest.mark.parametrize("confidence", [0.95, 0.90, 0.99])
def test_quantiles_are_scipy_stats_bit_for_bit(confidence: float) -> None:
    """The quantiles come from scipy.special (fast to import); they must be exactly scipy.stats' own."""
    z_value.cache_clear()
    assert z_value(confidence) == stats.norm.ppf(1 - (1 - confidence) / 2)
    dfs = np.arange(1, 20_001)
    assert np.array_equal(t_quantile(dfs, confidence), stats.t.ppf(1 - (1 - confidence) / 2, dfs.astype(float)))


@pytest.mark.parametrize("seed", range(5))
def test_sql_t_interval_equals_scipy(con, seed: int) -> None:
    rng = np.random.default_rng(seed)
    groups = [(g, rng.normal(rng.uniform(-3, 3), rng.uniform(0.1, 3), size=int(rng.integers(2, 60))))
              for g in range(20)]
    frame = pd.DataFrame([(g, float(v)) for g, values in groups for v in values], columns=["g", "x"])
    con.register("samples", frame)
    agg = con.execute("SELECT g, count(*) n, avg(x) m, stddev_samp(x) sd FROM samples GROUP BY g").df()
    ensure_t_quantiles(con, int(agg["n"].max()))
    got = con.execute(
        f"SELECT a.g, t_low(a.m, a.sd, a.n, q.q), t_high(a.m, a.sd, a.n, q.q) FROM "
        f"(SELECT g, count(*) n, avg(x) m, stddev_samp(x) sd FROM samples GROUP BY g) a "
        f"LEFT JOIN {T_QUANTILES_TABLE} q ON q.df = a.n - 1 ORDER BY a.g"
    ).fetchall()
    for g, low, high in got:
        values = dict(groups)[g]
        exp_low, exp_high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert low == pytest.approx(exp_low, rel=1e-12, abs=1e-12)
        assert high == pytest.approx(exp_high, rel=1e-12, abs=1e-12)
        assert low <= values.mean() <= high


@pytest.mark.parametrize("seed", range(5))
def test_sql_wilson_equals_statsmodels(con, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = rng.integers(2, 500, size=200)
    x = np.array([rng.integers(0, k + 1) for k in n])
    x[:5], x[5:10] = 0, n[5:10]  # the edges
    con.register("counts", pd.DataFrame({"x": x, "n": n}))
    got = con.execute(
        "SELECT wilson_low(x, n, ?), wilson_high(x, n, ?) FROM counts", [z_value(), z_value()]
    ).fetchall()
    exp_low, exp_high = proportion_confint(x, n, alpha=0.05, method="wilson")
    np.testing.assert_allclose([g[0] for g in got], exp_low, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose([g[1] for g in got], exp_high, rtol=1e-12, atol=1e-15)
    for (low, high), xi, ni in zip(got, x, n, strict=True):
        assert 0.0 <= low <= xi / ni <= high <= 1.0


def test_fewer_than_two_values_give_null_never_zero(con) -> None:
    ensure_t_quantiles(con, 10)
    row = con.execute(
        f"SELECT t_low(5.0, NULL, 1, q.q), t_high(5.0, NULL, 1, q.q), wilson_low(1, 1, 1.96), wilson_high(0, 1, 1.96), "
        f"wilson_low(0, 0, 1.96), srm(5.0, NULL, 1), srm(2.0, 0.0, 3), rate(0, 0), rate(1, 1) "
        f"FROM (SELECT 1) LEFT JOIN {T_QUANTILES_TABLE} q ON q.df = 0"
    ).fetchall()[0]
    assert row == (None, None, None, None, None, None, None, None, 1.0)


def test_quantile_table_grows_on_demand(con) -> None:
    ensure_t_quantiles(con, 3)
    ensure_t_quantiles(con, 50)
    ensure_t_quantiles(con, 20)
    rows = con.execute(f"SELECT df, q FROM {T_QUANTILES_TABLE} ORDER BY df").fetchall()
    assert [r[0] for r in rows] == list(range(1, 50))
    assert rows[0][1] == pytest.approx(stats.t.ppf(0.975, 1), rel=1e-15)
