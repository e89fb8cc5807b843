-- marts.function_outcomes per condition and instrument (metrics.md section 6): over episodes with
-- both a baseline and a final score, mean improvement with a 95% t-interval and the MCID responder
-- rate with a 95% Wilson interval; n_patients is for publishing (section 9).
WITH agg AS (
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
    FROM {{ series }}
    GROUP BY condition_group, instrument
)
SELECT a.condition_group, a.instrument, a.n_episodes, a.mean_improvement,
       t_low(a.mean_improvement, a.sd_improvement, a.n_episodes, q.q) AS improvement_ci_low,
       t_high(a.mean_improvement, a.sd_improvement, a.n_episodes, q.q) AS improvement_ci_high,
       rate(a.n_responders, a.n_episodes) AS responder_rate,
       a.n_patients, a.mcid, a.n_responders,
       wilson_low(a.n_responders, a.n_episodes, th.z) AS responder_ci_low,
       wilson_high(a.n_responders, a.n_episodes, th.z) AS responder_ci_high,
       a.higher_is, a.mean_baseline, a.mean_final,
       CASE WHEN a.n_episodes >= 2 THEN a.sd_improvement END AS sd_improvement
FROM agg a
CROSS JOIN _thresholds th
LEFT JOIN _t_quantiles q ON q.df = a.n_episodes - 1
ORDER BY a.condition_group, a.instrument
