-- marts.rom_gains: range-of-motion gain per condition, joint and movement, sides pooled (metrics.md
-- section 5): over the (episode, side) series that have both a baseline and a final, mean baseline,
-- mean final, mean gain (final - baseline; more motion is better) with a 95% t-interval, and the
-- mean of final / normal (normals from ref.rom_normals; a fraction, 1.0 = normal). n_episodes
-- counts distinct episodes, n_series the series; n_patients is for publishing (section 9).
WITH agg AS (
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
    FROM {{ series }} r
    JOIN ref.rom_normals n USING (joint, movement)
    GROUP BY r.condition_group, r.joint, r.movement
)
SELECT a.condition_group, a.joint, a.movement, a.n_episodes, a.mean_baseline, a.mean_final, a.mean_gain,
       t_low(a.mean_gain, a.sd_gain, a.n_series, q.q) AS gain_ci_low,
       t_high(a.mean_gain, a.sd_gain, a.n_series, q.q) AS gain_ci_high,
       a.pct_of_normal_final,
       a.n_patients, a.normal, a.unit, a.n_series,
       CASE WHEN a.n_series >= 2 THEN a.sd_gain END AS sd_gain,
       CASE WHEN a.n_immediate > 0 THEN a.sum_immediate_gain / a.n_immediate END AS mean_immediate_gain,
       a.n_immediate
FROM agg a
LEFT JOIN _t_quantiles q ON q.df = a.n_series - 1
ORDER BY a.condition_group, a.joint, a.movement
