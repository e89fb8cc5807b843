"""Sessions to relief: Kaplan-Meier curves, medians and cumulative relief (metrics.md section 4).

Clinical rule: among relief-evaluable episodes, S(t) is the probability of not yet being relieved
after t sessions, estimated by Kaplan-Meier with unrelieved episodes (drop-outs included)
*censored* at their last scored session, never dropped and never counted as failures. The 95%
pointwise band is the exponential Greenwood (log(-log)) band. Median = smallest t with
S(t) <= 0.5; its CI: lower = smallest t whose lower band is <= 0.5, upper = smallest t whose upper
band is <= 0.5 (null if never). Cumulative relief by t = 1 - S(t), S a right-continuous step
function carried forward from the last time at or before t (as ``lifelines`` does).

One SQL implementation serves ``marts.relief_curve`` (per condition group and ``all``) and the
per-unit medians of the breakdown tables (grouping columns from :data:`UNIT_COLUMNS` only).
The formulas reproduce ``lifelines.KaplanMeierFitter`` (survival, ``confidence_interval_``,
``median_survival_time_`` and ``median_survival_times`` of the band); see docs/metrics.md for the
one deliberate difference (a survival value within 1e-9 of 0.5 counts as reaching it).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from transforms.config import Settings
from transforms.episode_outcomes import TABLE as EPISODES
from transforms.thresholds import THRESHOLDS_TABLE

CURVE_TABLE = "marts.relief_curve"
ALL_GROUPS = "all"  # the label of the pooled row; written as the literal 'all' in the SQL below

# Grouping columns a breakdown may use -> their expression over marts.episode_outcomes.
UNIT_COLUMNS: dict[str, str] = {
    "clinic_id": "clinic_id",
    "therapist_id": "therapist_id",
    "month": "start_month",
}


def _units(units: Sequence[str]) -> list[str]:
    bad = [u for u in units if u not in UNIT_COLUMNS]
    if bad:
        raise ValueError(f"unknown grouping column(s) {bad}; allowed: {sorted(UNIT_COLUMNS)}")
    return list(units)


def km_sql(units: Sequence[str] = ()) -> str:
    """Kaplan-Meier per (units..., condition group incl. ``all``, t): counts, S(t) and the log(-log) band.

    Needs ``_thresholds`` (for z). Columns: the units, ``condition_group``, ``t``, ``at_risk``,
    ``relieved``, ``censored``, ``survival``, ``ci_low``, ``ci_high``.
    """
    units = _units(units)
    unit_select = "".join(f"{UNIT_COLUMNS[u]} AS {u}, " for u in units)
    keys = ", ".join([*units, "condition_group"])
    return f"""
WITH observed AS (
    SELECT {unit_select}condition_group, coalesce(sessions_to_relief, censored_at) AS t, relieved
    FROM {EPISODES} WHERE relief_evaluable
    UNION ALL
    SELECT {unit_select}'all' AS condition_group, coalesce(sessions_to_relief, censored_at) AS t, relieved
    FROM {EPISODES} WHERE relief_evaluable
),
counts AS (
    SELECT {keys}, t,
           count(*) FILTER (WHERE relieved) AS relieved,
           count(*) FILTER (WHERE NOT relieved) AS censored
    FROM observed
    GROUP BY {keys}, t
),
risk AS (
    SELECT *, sum(relieved + censored) OVER (PARTITION BY {keys} ORDER BY t DESC ROWS UNBOUNDED PRECEDING)
              AS at_risk
    FROM counts
),
products AS (
    SELECT *,
           product(1.0::DOUBLE - CAST(relieved AS DOUBLE) / at_risk) OVER w AS product_survival,
           sum(CASE WHEN at_risk > relieved
                    THEN CAST(relieved AS DOUBLE) / (CAST(at_risk AS DOUBLE) * (at_risk - relieved))
                    ELSE 0.0::DOUBLE END) OVER w AS greenwood
    FROM risk
    WINDOW w AS (PARTITION BY {keys} ORDER BY t ROWS UNBOUNDED PRECEDING)
),
steps AS (
    -- a running minimum: the window product may associate differently row to row, and a rounding
    -- error must never make the curve rise
    SELECT *, min(product_survival) OVER (PARTITION BY {keys} ORDER BY t ROWS UNBOUNDED PRECEDING) AS survival
    FROM products
),
banded AS (
    SELECT s.*,
           CASE WHEN s.survival >= 1 THEN 1.0::DOUBLE WHEN s.survival <= 0 THEN 0.0::DOUBLE
                ELSE exp(-exp(ln(-ln(s.survival)) - th.z * sqrt(s.greenwood) / ln(s.survival))) END AS band_low,
           CASE WHEN s.survival >= 1 THEN 1.0::DOUBLE WHEN s.survival <= 0 THEN 0.0::DOUBLE
                ELSE exp(-exp(ln(-ln(s.survival)) + th.z * sqrt(s.greenwood) / ln(s.survival))) END AS band_high
    FROM steps s CROSS JOIN {THRESHOLDS_TABLE} th
)
SELECT {keys}, CAST(t AS INTEGER) AS t, CAST(at_risk AS BIGINT) AS at_risk, relieved, censored, survival,
       least(band_low, survival) AS ci_low, greatest(band_high, survival) AS ci_high
FROM banded
"""


def install_km(con: duckdb.DuckDBPyConnection, name: str, units: Sequence[str] = ()) -> str:
    """Section 4: Kaplan-Meier with drop-outs censored, per grouping, as the temporary table ``_km_<name>``."""
    if not name.isidentifier():
        raise ValueError(f"bad KM table name {name!r}")
    table = f"_km_{name}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {km_sql(units)}")
    return table


def summary_sql(km_table: str, units: Sequence[str], settings: Settings) -> tuple[str, list[int]]:
    """Section 4: median = first t with S(t) <= 1/2 (CI from the band), relief by t = 1 - S(t), per group.

    Returns the SQL and its ``?`` parameters (the report times of ``settings.relief_report_times``).
    """
    units = _units(units)
    keys = ", ".join(f"k.{c}" for c in [*units, "condition_group"])
    times = [int(t) for t in settings.relief_report_times]
    by_t = "".join(
        f",\n       1.0::DOUBLE - coalesce(arg_max(k.survival, k.t) FILTER (WHERE k.t <= ?), 1.0::DOUBLE) "
        f"AS relief_by_{t}"
        for t in times
    )
    sql = f"""
SELECT {keys},
       CAST(min(k.t) FILTER (WHERE meets_max(k.survival, th.median_survival, th.tol)) AS INTEGER)
           AS median_sessions_to_relief,
       CAST(min(k.t) FILTER (WHERE meets_max(k.ci_low, th.median_survival, th.tol)) AS INTEGER) AS median_ci_low,
       CAST(min(k.t) FILTER (WHERE meets_max(k.ci_high, th.median_survival, th.tol)) AS INTEGER) AS median_ci_high,
       CAST(sum(k.relieved) AS BIGINT) AS n_relieved,
       CAST(sum(k.censored) AS BIGINT) AS n_censored{by_t}
FROM {km_table} k CROSS JOIN {THRESHOLDS_TABLE} th
GROUP BY {keys}
"""
    return sql, times


RELIEF_CURVE_SQL = f"""
CREATE OR REPLACE TABLE {CURVE_TABLE} AS
WITH patients AS (
    -- a patient is at risk at t while one of their relief-evaluable episodes of the group is
    SELECT condition_group, clinic_id, patient_id, max(coalesce(sessions_to_relief, censored_at)) AS last_t
    FROM {EPISODES} WHERE relief_evaluable
    GROUP BY condition_group, clinic_id, patient_id
    UNION ALL
    SELECT 'all', clinic_id, patient_id, max(coalesce(sessions_to_relief, censored_at))
    FROM {EPISODES} WHERE relief_evaluable
    GROUP BY clinic_id, patient_id
),
patients_at_risk AS (
    SELECT k.condition_group, k.t, count(p.patient_id) AS n_patients_at_risk
    FROM {{km}} k
    LEFT JOIN patients p ON p.condition_group = k.condition_group AND p.last_t >= k.t
    GROUP BY k.condition_group, k.t
)
SELECT k.condition_group, k.t, k.at_risk, k.relieved, k.censored, k.survival, k.ci_low, k.ci_high,
       r.n_patients_at_risk
FROM {{km}} k
JOIN patients_at_risk r USING (condition_group, t)
ORDER BY k.condition_group = 'all', k.condition_group, k.t
"""


def build_relief_curve(con: duckdb.DuckDBPyConnection) -> int:
    """Section 4: the Kaplan-Meier relief curve per condition group and ``all`` (drop-outs censored).

    One row per time t at which an episode of the group was relieved or censored; returns the row count.
    """
    km = install_km(con, "curve")
    con.execute(RELIEF_CURVE_SQL.format(km=km))
    con.execute(f"DROP TABLE {km}")
    return con.execute(f"SELECT count(*) FROM {CURVE_TABLE}").fetchall()[0][0]
