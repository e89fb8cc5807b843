"""95% confidence intervals for means (Student t) and rates (Wilson) (metrics.md section 7).

Clinical/statistical rules: a mean gets a 95% t-interval with the sample SD and n - 1 degrees of
freedom; a rate gets a 95% Wilson score interval (Brown, Cai & DasGupta 2001); an interval, SD or
SRM on fewer than 2 values is null, never 0.

The marts compute their intervals inside DuckDB with the temporary macros installed by
:func:`install_interval_sql` (the arithmetic mirrors ``scipy.stats.t.interval`` and
``statsmodels.stats.proportion.proportion_confint(method="wilson")`` operation for operation).
t quantiles come from scipy (DuckDB has no t distribution) through a small lookup table
``_t_quantiles(df, q)`` that :func:`ensure_t_quantiles` extends on demand. The numpy functions are
the same formulas for small results and for tests.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
T_QUANTILES_TABLE = "_t_quantiles"

_MACROS: dict[str, str] = {
    # Order-independent aggregates. Parallel floating-point aggregation adds values in a different
    # order on every run and changes the last bits; feeding each group's values in sorted order makes
    # a rebuild of the marts bit-identical (metrics.md section 11: running twice changes nothing).
    "det_sum": "CREATE OR REPLACE TEMP MACRO det_sum(x) AS sum(x ORDER BY x)",
    "det_avg": "CREATE OR REPLACE TEMP MACRO det_avg(x) AS avg(x ORDER BY x)",
    "det_sd": "CREATE OR REPLACE TEMP MACRO det_sd(x) AS stddev_samp(x ORDER BY x)",
    # Wilson score interval, in statsmodels' order of operations; clipped to [0, 1] and widened by
    # at most a rounding error so that it always contains x / n.
    "wilson_denom": "CREATE OR REPLACE TEMP MACRO wilson_denom(n, z) AS 1 + (z * z) / n",
    "wilson_centre": (
        "CREATE OR REPLACE TEMP MACRO wilson_centre(x, n, z) AS "
        "(CAST(x AS DOUBLE) / n + (z * z) / (2 * n)) / wilson_denom(n, z)"
    ),
    "wilson_dist": (
        "CREATE OR REPLACE TEMP MACRO wilson_dist(x, n, z) AS "
        "z * sqrt((CAST(x AS DOUBLE) / n) * (1.0::DOUBLE - CAST(x AS DOUBLE) / n) / n "
        "+ (z * z) / (4.0::DOUBLE * n * n)) / wilson_denom(n, z)"
    ),
    "wilson_low": (
        "CREATE OR REPLACE TEMP MACRO wilson_low(x, n, z) AS CASE WHEN n >= 2 THEN "
        "least(greatest(wilson_centre(x, n, z) - wilson_dist(x, n, z), 0.0::DOUBLE), CAST(x AS DOUBLE) / n) END"
    ),
    "wilson_high": (
        "CREATE OR REPLACE TEMP MACRO wilson_high(x, n, z) AS CASE WHEN n >= 2 THEN "
        "greatest(least(wilson_centre(x, n, z) + wilson_dist(x, n, z), 1.0::DOUBLE), CAST(x AS DOUBLE) / n) END"
    ),
    # Student t interval of a mean: mean -/+ q * sd / sqrt(n), q = t quantile with n - 1 df.
    "t_low": "CREATE OR REPLACE TEMP MACRO t_low(mean, sd, n, q) AS CASE WHEN n >= 2 THEN mean - q * (sd / sqrt(n)) END",
    "t_high": "CREATE OR REPLACE TEMP MACRO t_high(mean, sd, n, q) AS CASE WHEN n >= 2 THEN mean + q * (sd / sqrt(n)) END",
    # Standardised response mean: mean change / SD of change; null under 2 values or when SD is 0.
    "srm": "CREATE OR REPLACE TEMP MACRO srm(mean, sd, n) AS CASE WHEN n >= 2 AND sd > 0 THEN mean / sd END",
    # A rate over n units (null when there is no unit).
    "rate": "CREATE OR REPLACE TEMP MACRO rate(x, n) AS CASE WHEN n > 0 THEN CAST(x AS DOUBLE) / n END",
}


def z_value(confidence: float = CONFIDENCE) -> float:
    """Intervals are 95%: the two-sided normal quantile of a confidence level (1.959963984540054)."""
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


def t_quantile(df: np.ndarray | int, confidence: float = CONFIDENCE) -> np.ndarray:
    """Means get t-intervals: the two-sided Student t quantile with ``df`` degrees of freedom (vectorised)."""
    return stats.t.ppf(1 - (1 - confidence) / 2, np.asarray(df, dtype=float))


def t_interval(
    mean: np.ndarray, sd: np.ndarray, n: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Means get a 95% t-interval (sample SD, n - 1 df); NaN (null) under 2 values."""
    mean, sd, n = (np.asarray(a, dtype=float) for a in (mean, sd, n))
    ok = n >= 2
    q = np.where(ok, t_quantile(np.where(ok, n - 1, 1), confidence), np.nan)
    half = q * (sd / np.sqrt(np.where(ok, n, 1)))
    return np.where(ok, mean - half, np.nan), np.where(ok, mean + half, np.nan)


def wilson_interval(x: np.ndarray, n: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Rates get a 95% Wilson score interval; NaN (null) under 2 units."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    ok = n >= 2
    nn = np.where(ok, n, 2.0)
    z = z_value(confidence)
    p = x / nn
    denom = 1 + z**2 / nn
    centre = (p + z**2 / (2 * nn)) / denom
    dist = z * np.sqrt(p * (1.0 - p) / nn + z**2 / (4.0 * nn**2)) / denom
    low = np.minimum(np.maximum(centre - dist, 0.0), p)
    high = np.maximum(np.minimum(centre + dist, 1.0), p)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def install_interval_sql(con: duckdb.DuckDBPyConnection) -> None:
    """Means get t-intervals and rates Wilson intervals: installs the macros and the quantile table."""
    for macro in _MACROS.values():
        con.execute(macro)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {T_QUANTILES_TABLE} (df BIGINT NOT NULL, q DOUBLE NOT NULL)")


def remove_interval_sql(con: duckdb.DuckDBPyConnection) -> None:
    """Intervals are computed inside a build only: drop the interval macros and the quantile table."""
    con.execute(f"DROP TABLE IF EXISTS {T_QUANTILES_TABLE}")
    for name in reversed(list(_MACROS)):  # macros that use others first
        con.execute(f"DROP MACRO IF EXISTS temp.main.{name}")


def ensure_t_quantiles(con: duckdb.DuckDBPyConnection, max_n: int | None, confidence: float = CONFIDENCE) -> None:
    """Means get t-intervals with n - 1 df: ``_t_quantiles`` holds the quantiles for every n up to ``max_n``."""
    if not max_n or max_n < 2:
        return
    have = con.execute(f"SELECT coalesce(max(df), 0) FROM {T_QUANTILES_TABLE}").fetchall()[0][0]
    if have >= max_n - 1:
        return
    dfs = np.arange(have + 1, max_n, dtype=np.int64)
    frame = pd.DataFrame({"df": dfs, "q": t_quantile(dfs, confidence)})
    con.register("_new_t_quantiles", frame)
    try:
        con.execute(f"INSERT INTO {T_QUANTILES_TABLE} SELECT df, q FROM _new_t_quantiles")
    finally:
        con.unregister("_new_t_quantiles")
