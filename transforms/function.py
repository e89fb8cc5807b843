"""Function-instrument outcomes per condition and instrument (metrics.md section 6): ``marts.function_outcomes``.

Clinical rules: per episode and instrument, baseline = the earliest score, final = the latest score
at a later session; improvement = baseline - final where a higher score is worse, final - baseline
where higher is better (directions and MCIDs from ``transforms/reference/instruments.csv``);
responder: improvement >= the instrument's MCID (within the section 7 tolerance). Per condition
(the episode's group) and instrument: mean improvement with a 95% t-interval and the responder
rate with a 95% Wilson interval, over episodes with both a baseline and a final score.
"""

from __future__ import annotations

import duckdb

from transforms.episode_outcomes import TABLE as EPISODES
from transforms.intervals import T_QUANTILES_TABLE, ensure_t_quantiles
from transforms.thresholds import THRESHOLDS_TABLE

TABLE = "marts.function_outcomes"

_SERIES_SQL = f"""
CREATE OR REPLACE TABLE _function_series AS
WITH series AS (
    SELECT episode_key, function_instrument AS instrument,
           arg_min(function_score, session_number) AS baseline,
           min(session_number) AS baseline_session,
           arg_max(function_score, session_number) AS last_score,
           max(session_number) AS last_session
    FROM staging.sessions
    WHERE function_instrument IS NOT NULL AND function_score IS NOT NULL
    GROUP BY episode_key, function_instrument
)
SELECT e.condition_group, e.clinic_id, e.patient_id, s.episode_key, s.instrument, i.higher_is, i.mcid,
       s.baseline, f.final,
       CASE WHEN i.higher_is = 'better' THEN f.final - s.baseline ELSE s.baseline - f.final END AS improvement,
       meets_min(CASE WHEN i.higher_is = 'better' THEN f.final - s.baseline ELSE s.baseline - f.final END,
                 i.mcid, t.tol) AS responder
FROM series s
CROSS JOIN LATERAL (SELECT CASE WHEN s.last_session > s.baseline_session THEN s.last_score END AS final) f
JOIN {EPISODES} e USING (episode_key)
JOIN ref.instruments i USING (instrument)
CROSS JOIN {THRESHOLDS_TABLE} t
"""

_AGG_SQL = """
CREATE OR REPLACE TEMP TABLE _function_agg AS
SELECT condition_group, instrument,
       count(improvement) AS n_episodes,
       count(DISTINCT (clinic_id, patient_id)) FILTER (WHERE improvement IS NOT NULL) AS n_patients,
       det_avg(CASE WHEN improvement IS NOT NULL THEN baseline END) AS mean_baseline,
       det_avg(final) AS mean_final,
       det_avg(improvement) AS mean_improvement,
       det_sd(improvement) AS sd_improvement,
       count(*) FILTER (WHERE responder) AS n_responders,
       any_value(mcid) AS mcid,
       any_value(higher_is) AS higher_is
FROM _function_series
GROUP BY condition_group, instrument
"""

_FINISH_SQL = f"""
CREATE OR REPLACE TABLE {TABLE} AS
SELECT a.condition_group, a.instrument, a.n_episodes, a.mean_improvement,
       t_low(a.mean_improvement, a.sd_improvement, a.n_episodes, q.q) AS improvement_ci_low,
       t_high(a.mean_improvement, a.sd_improvement, a.n_episodes, q.q) AS improvement_ci_high,
       rate(a.n_responders, a.n_episodes) AS responder_rate,
       a.n_patients, a.mcid, a.n_responders,
       wilson_low(a.n_responders, a.n_episodes, th.z) AS responder_ci_low,
       wilson_high(a.n_responders, a.n_episodes, th.z) AS responder_ci_high,
       a.higher_is, a.mean_baseline, a.mean_final,
       CASE WHEN a.n_episodes >= 2 THEN a.sd_improvement END AS sd_improvement
FROM _function_agg a
CROSS JOIN {THRESHOLDS_TABLE} th
LEFT JOIN {T_QUANTILES_TABLE} q ON q.df = a.n_episodes - 1
ORDER BY a.condition_group, a.instrument
"""


def build_function_outcomes(con: duckdb.DuckDBPyConnection) -> int:
    """Section 6: improvement (direction-aware) and MCID responder rate per condition and instrument.

    Needs ``marts.episode_outcomes``, ``ref.instruments``, ``_thresholds`` and the interval macros;
    returns the row count.
    """
    con.execute(_SERIES_SQL)
    con.execute(_AGG_SQL)
    ensure_t_quantiles(con, con.execute("SELECT max(n_episodes) FROM _function_agg").fetchall()[0][0])
    con.execute(_FINISH_SQL)
    for temp in ("_function_series", "_function_agg"):
        con.execute(f"DROP TABLE {temp}")
    return con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0]
