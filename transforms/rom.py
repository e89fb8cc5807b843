"""Range-of-motion gains per condition, joint and movement (metrics.md section 5): ``marts.rom_gains``.

Clinical rules: for each episode, joint, movement and side, baseline = the ``pre`` value at the
earliest session that has one, final = the ``pre`` value at the latest *later* session that has
one, gain = final - baseline (more motion = better). Immediate gain of a session = ``post - pre``.
Per condition (the episode's group), joint and movement, sides pooled: mean baseline, mean final,
mean gain with a 95% t-interval, and the mean of final / normal (normals from
``transforms/reference/rom_normals.csv``).

Readings (docs/metrics.md): the unit of the means is one (episode, side) series with both a
baseline and a final (``n_series``; ``n_episodes`` counts distinct episodes among them); when a
session holds the same measurement more than once, its values are averaged;
``pct_of_normal_final`` is a fraction (1.0 = the normal value).
"""

from __future__ import annotations

import duckdb

from transforms.episode_outcomes import TABLE as EPISODES
from transforms.intervals import T_QUANTILES_TABLE, ensure_t_quantiles

TABLE = "marts.rom_gains"

_SERIES_SQL = f"""
CREATE OR REPLACE TABLE _rom_series AS
WITH per_session AS (
    SELECT r.episode_key, r.joint, r.movement, r.side, s.session_number,
           det_avg(CASE WHEN r.timing = 'pre' THEN r.value END) AS pre,
           det_avg(CASE WHEN r.timing = 'post' THEN r.value END) AS post
    FROM staging.rom r
    JOIN staging.sessions s ON s.clinic_id = r.clinic_id AND s.session_id = r.session_id
    GROUP BY r.episode_key, r.joint, r.movement, r.side, s.session_number
),
series AS (
    SELECT episode_key, joint, movement, side,
           arg_min(pre, session_number) FILTER (WHERE pre IS NOT NULL) AS baseline,
           min(session_number) FILTER (WHERE pre IS NOT NULL) AS baseline_session,
           arg_max(pre, session_number) FILTER (WHERE pre IS NOT NULL) AS last_pre,
           max(session_number) FILTER (WHERE pre IS NOT NULL) AS last_session,
           count(*) FILTER (WHERE pre IS NOT NULL AND post IS NOT NULL) AS n_immediate,
           det_sum(post - pre) AS sum_immediate_gain
    FROM per_session
    GROUP BY episode_key, joint, movement, side
)
SELECT e.condition_group, e.clinic_id, e.patient_id, s.episode_key, s.joint, s.movement, s.side,
       s.baseline, CASE WHEN s.last_session > s.baseline_session THEN s.last_pre END AS final,
       s.n_immediate, s.sum_immediate_gain
FROM series s
JOIN {EPISODES} e USING (episode_key)
"""

_AGG_SQL = """
CREATE OR REPLACE TEMP TABLE _rom_agg AS
SELECT r.condition_group, r.joint, r.movement,
       count(DISTINCT r.episode_key) FILTER (WHERE r.final IS NOT NULL) AS n_episodes,
       count(DISTINCT (r.clinic_id, r.patient_id)) FILTER (WHERE r.final IS NOT NULL) AS n_patients,
       count(r.final) AS n_series,
       det_avg(CASE WHEN r.final IS NOT NULL THEN r.baseline END) AS mean_baseline,
       det_avg(r.final) AS mean_final,
       det_avg(r.final - r.baseline) AS mean_gain,
       det_sd(r.final - r.baseline) AS sd_gain,
       det_avg(r.final / n.normal) AS pct_of_normal_final,
       any_value(n.normal) AS normal,
       any_value(n.unit) AS unit,
       CAST(sum(r.n_immediate) AS BIGINT) AS n_immediate,
       det_sum(r.sum_immediate_gain) AS sum_immediate_gain
FROM _rom_series r
JOIN ref.rom_normals n USING (joint, movement)
GROUP BY r.condition_group, r.joint, r.movement
"""

_FINISH_SQL = f"""
CREATE OR REPLACE TABLE {TABLE} AS
SELECT a.condition_group, a.joint, a.movement, a.n_episodes, a.mean_baseline, a.mean_final, a.mean_gain,
       t_low(a.mean_gain, a.sd_gain, a.n_series, q.q) AS gain_ci_low,
       t_high(a.mean_gain, a.sd_gain, a.n_series, q.q) AS gain_ci_high,
       a.pct_of_normal_final,
       a.n_patients, a.normal, a.unit, a.n_series,
       CASE WHEN a.n_series >= 2 THEN a.sd_gain END AS sd_gain,
       CASE WHEN a.n_immediate > 0 THEN a.sum_immediate_gain / a.n_immediate END AS mean_immediate_gain,
       a.n_immediate
FROM _rom_agg a
LEFT JOIN {T_QUANTILES_TABLE} q ON q.df = a.n_series - 1
ORDER BY a.condition_group, a.joint, a.movement
"""


def build_rom_gains(con: duckdb.DuckDBPyConnection) -> int:
    """Section 5: ROM gain (final - baseline pre value) per condition, joint and movement, sides pooled.

    Needs ``marts.episode_outcomes``, ``ref.rom_normals`` and the interval macros; returns the row count.
    """
    con.execute(_SERIES_SQL)
    con.execute(_AGG_SQL)
    ensure_t_quantiles(con, con.execute("SELECT max(n_series) FROM _rom_agg").fetchall()[0][0])
    con.execute(_FINISH_SQL)
    for temp in ("_rom_series", "_rom_agg"):
        con.execute(f"DROP TABLE {temp}")
    return con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0]
