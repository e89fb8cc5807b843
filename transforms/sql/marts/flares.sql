-- marts.flares: post-treatment flares per condition group (the episode's; and 'all') and technique
-- (and 'all') (metrics.md section 14), aggregated from intermediate.episode_flares. A session flares when
-- pain_post - pain_pre >= 2 points (setting): pain worse right after treatment.
-- n_sessions_scored = sessions with both scores; n_flares; flare_rate with a Wilson interval (section 7).
-- Rows: technique 'all' for every condition group of the warehouse and for 'all' (0 scored sessions
-- and null rates when nothing is scored), and a technique row wherever at least one scored session of
-- that group lists it. n_patients: distinct (clinic, patient) of the scored sessions.
WITH agg AS (
    SELECT CASE WHEN grouping(condition_group) = 1 THEN 'all' ELSE condition_group END AS condition_group,
           technique,
           CAST(sum(n_sessions_scored) AS BIGINT) AS n_sessions_scored,
           CAST(sum(n_flares) AS BIGINT) AS n_flares,
           count(DISTINCT (clinic_id, patient_id)) FILTER (WHERE n_sessions_scored > 0) AS n_patients,
           count(*) FILTER (WHERE n_sessions_scored > 0) AS n_episodes
    FROM {{ flares }}
    GROUP BY GROUPING SETS ((condition_group, technique), (technique))
)
SELECT a.condition_group, a.technique, a.n_sessions_scored, a.n_flares,
       rate(a.n_flares, a.n_sessions_scored) AS flare_rate,
       wilson_low(a.n_flares, a.n_sessions_scored, t.z) AS flare_ci_low,
       wilson_high(a.n_flares, a.n_sessions_scored, t.z) AS flare_ci_high,
       a.n_patients, a.n_episodes
FROM agg a
CROSS JOIN _thresholds t
ORDER BY a.condition_group = 'all', a.condition_group, a.technique = 'all' DESC, a.technique
