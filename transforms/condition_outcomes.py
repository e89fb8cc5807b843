"""Outcomes per condition group and ``all``, overall and by clinic, therapist and month (metrics.md sections 3-4, 7).

Clinical rules, per group of episodes (an episode belongs to the group of its first session):

- ``n_patients`` = distinct (clinic, patient); ``n_episodes``; ``n_sessions``;
- mean baseline pain over episodes with a baseline;
- mean sustained change (95% t-interval), SRM (mean / SD of change), responder and substantial
  responder rates (95% Wilson intervals) over pain-evaluable episodes;
- mean immediate change over every session with both pain scores;
- Kaplan-Meier median sessions to relief with its CI, relief by 4 and by 8 sessions over
  relief-evaluable episodes (:mod:`transforms.relief`);
- ``n_with_final_pain``: episodes with a final pain score (follow-up completeness =
  ``n_with_final_pain / n_episodes``).

One implementation serves every breakdown in :data:`BREAKDOWNS` (an allow-list): the rows of each
unit (clinic, therapist or month of episode start) have exactly the definitions of the overall
table, with one ``condition_group = 'all'`` row per unit.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from transforms.config import Settings
from transforms.episode_outcomes import TABLE as EPISODES
from transforms.intervals import T_QUANTILES_TABLE, ensure_t_quantiles
from transforms.relief import UNIT_COLUMNS, install_km, summary_sql
from transforms.thresholds import THRESHOLDS_TABLE

# breakdown name -> (table, grouping columns from transforms.relief.UNIT_COLUMNS)
BREAKDOWNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "condition": ("marts.condition_outcomes", ()),
    "clinic": ("marts.condition_outcomes_by_clinic", ("clinic_id",)),
    "therapist": ("marts.condition_outcomes_by_therapist", ("clinic_id", "therapist_id")),
    "month": ("marts.condition_outcomes_by_month", ("month",)),
}


def _aggregate_sql(units: Sequence[str]) -> str:
    unit_select = "".join(f"{UNIT_COLUMNS[u]} AS {u}, " for u in units)
    unit_keys = "".join(f"{u}, " for u in units)
    return f"""
WITH episodes AS (SELECT {unit_select}* FROM {EPISODES})
SELECT {unit_keys}
       CASE WHEN grouping(condition_group) = 1 THEN 'all' ELSE condition_group END AS condition_group,
       count(DISTINCT (clinic_id, patient_id)) AS n_patients,
       count(*) AS n_episodes,
       CAST(sum(n_sessions) AS BIGINT) AS n_sessions,
       count(*) FILTER (WHERE pain_evaluable) AS n_pain_evaluable,
       count(final_pain) AS n_with_final_pain,
       det_avg(baseline_pain) AS mean_baseline_pain,
       det_avg(pain_change) AS mean_pain_change,
       det_sd(pain_change) AS sd_pain_change,
       count(*) FILTER (WHERE responder) AS n_responders,
       count(*) FILTER (WHERE substantial_responder) AS n_substantial,
       CAST(sum(n_immediate) AS BIGINT) AS n_immediate,
       det_sum(sum_immediate_change) AS sum_immediate_change,
       count(*) FILTER (WHERE relief_evaluable) AS n_relief_evaluable
FROM episodes
GROUP BY GROUPING SETS (({unit_keys}condition_group), ({unit_keys.rstrip(", ")}))
HAVING count(*) > 0  -- no 'all' row over no episode at all
"""


def _finish_sql(table: str, units: Sequence[str], agg: str, summary: str, times: Sequence[int]) -> str:
    unit_cols = "".join(f"a.{u}, " for u in units)
    join_keys = ", ".join([*units, "condition_group"])
    by_t = "".join(f"s.relief_by_{t}, " for t in times)
    order = "".join(f"a.{u}, " for u in units)
    return f"""
CREATE OR REPLACE TABLE {table} AS
SELECT {unit_cols}a.condition_group, a.n_patients, a.n_episodes, a.n_sessions, a.n_pain_evaluable,
       a.mean_baseline_pain, a.mean_pain_change,
       t_low(a.mean_pain_change, a.sd_pain_change, a.n_pain_evaluable, q.q) AS mean_pain_change_ci_low,
       t_high(a.mean_pain_change, a.sd_pain_change, a.n_pain_evaluable, q.q) AS mean_pain_change_ci_high,
       srm(a.mean_pain_change, a.sd_pain_change, a.n_pain_evaluable) AS srm,
       rate(a.n_responders, a.n_pain_evaluable) AS responder_rate,
       wilson_low(a.n_responders, a.n_pain_evaluable, th.z) AS responder_ci_low,
       wilson_high(a.n_responders, a.n_pain_evaluable, th.z) AS responder_ci_high,
       rate(a.n_substantial, a.n_pain_evaluable) AS substantial_rate,
       CASE WHEN a.n_immediate > 0 THEN a.sum_immediate_change / a.n_immediate END AS mean_immediate_change,
       a.n_relief_evaluable,
       s.median_sessions_to_relief, s.median_ci_low, s.median_ci_high, {by_t}
       a.n_with_final_pain,
       CASE WHEN a.n_pain_evaluable >= 2 THEN a.sd_pain_change END AS sd_pain_change,
       a.n_responders, a.n_substantial,
       wilson_low(a.n_substantial, a.n_pain_evaluable, th.z) AS substantial_ci_low,
       wilson_high(a.n_substantial, a.n_pain_evaluable, th.z) AS substantial_ci_high,
       a.n_immediate,
       coalesce(s.n_relieved, 0) AS n_relieved,
       coalesce(s.n_censored, 0) AS n_censored
FROM {agg} a
CROSS JOIN {THRESHOLDS_TABLE} th
LEFT JOIN {T_QUANTILES_TABLE} q ON q.df = a.n_pain_evaluable - 1
LEFT JOIN ({summary}) s USING ({join_keys})
ORDER BY {order}a.condition_group = 'all', a.condition_group
"""


def build_condition_outcomes(con: duckdb.DuckDBPyConnection, settings: Settings, breakdown: str = "condition") -> int:
    """Sections 3-4 and 7: per condition group and ``all`` (per unit of ``breakdown``): counts, means, rates, relief.

    ``breakdown`` is a key of :data:`BREAKDOWNS`; returns the row count of its table.
    """
    if breakdown not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown {breakdown!r}; allowed: {sorted(BREAKDOWNS)}")
    table, units = BREAKDOWNS[breakdown]
    agg = f"_condition_agg_{breakdown}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {agg} AS {_aggregate_sql(units)}")
    ensure_t_quantiles(con, con.execute(f"SELECT max(n_pain_evaluable) FROM {agg}").fetchall()[0][0])
    km = install_km(con, breakdown, units)
    summary, times = summary_sql(km, units, settings)
    con.execute(_finish_sql(table, units, agg, summary, times), times)
    for temp in (agg, km):
        con.execute(f"DROP TABLE {temp}")
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
