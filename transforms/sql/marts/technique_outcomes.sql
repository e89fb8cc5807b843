-- marts.technique_outcomes: pain outcomes of the episodes where a technique is primary (metrics.md
-- section 14), per condition group (the episode's) and 'all', and technique. Rows: every (group or
-- 'all', technique) with at least one episode where the technique is primary.
-- Over its episodes: distinct patients (clinic, patient), episodes, pain-evaluable episodes; over the
-- pain-evaluable ones: responder rate (Wilson) and mean sustained change (t-interval), and
-- adjusted_difference = mean of observed minus case-mix expected sustained change (the project's
-- linear case-mix model, which does not see techniques) with a t-interval (section 7).
-- Techniques are chosen by the therapist for the patient in front of them: differences between
-- techniques are associations, not effects. An episode with several primary techniques counts under each.
WITH primary_episodes AS (
    SELECT t.technique, e.condition_group, e.clinic_id, e.patient_id, e.episode_key, e.pain_evaluable,
           e.responder, e.pain_change, c.residual_change
    FROM {{ techniques }} t
    JOIN {{ episodes }} e USING (episode_key)
    LEFT JOIN {{ case_mix }} c USING (episode_key)
    WHERE t.is_primary
),
agg AS (
    SELECT CASE WHEN grouping(condition_group) = 1 THEN 'all' ELSE condition_group END AS condition_group,
           technique,
           count(DISTINCT (clinic_id, patient_id)) AS n_patients,
           count(*) AS n_episodes,
           count(*) FILTER (WHERE pain_evaluable) AS n_pain_evaluable,
           count(DISTINCT (clinic_id, patient_id)) FILTER (WHERE pain_evaluable) AS n_patients_pain_evaluable,
           count(*) FILTER (WHERE responder) AS n_responders,
           det_avg(pain_change) AS mean_pain_change,
           det_sd(pain_change) AS sd_pain_change,
           count(residual_change) AS n_adjusted,
           det_avg(residual_change) AS adjusted_difference,
           det_sd(residual_change) AS sd_adjusted
    FROM primary_episodes
    GROUP BY GROUPING SETS ((condition_group, technique), (technique))
)
SELECT a.condition_group, a.technique, a.n_patients, a.n_episodes, a.n_pain_evaluable,
       rate(a.n_responders, a.n_pain_evaluable) AS responder_rate,
       wilson_low(a.n_responders, a.n_pain_evaluable, t.z) AS responder_ci_low,
       wilson_high(a.n_responders, a.n_pain_evaluable, t.z) AS responder_ci_high,
       a.mean_pain_change,
       t_low(a.mean_pain_change, a.sd_pain_change, a.n_pain_evaluable, q.q) AS mean_pain_change_ci_low,
       t_high(a.mean_pain_change, a.sd_pain_change, a.n_pain_evaluable, q.q) AS mean_pain_change_ci_high,
       a.adjusted_difference,
       t_low(a.adjusted_difference, a.sd_adjusted, a.n_adjusted, qa.q) AS adjusted_ci_low,
       t_high(a.adjusted_difference, a.sd_adjusted, a.n_adjusted, qa.q) AS adjusted_ci_high,
       a.n_patients_pain_evaluable, a.n_responders, a.n_adjusted,
       CASE WHEN a.n_pain_evaluable >= 2 THEN a.sd_pain_change END AS sd_pain_change
FROM agg a
CROSS JOIN _thresholds t
LEFT JOIN _t_quantiles q ON q.df = a.n_pain_evaluable - 1
LEFT JOIN _t_quantiles qa ON qa.df = a.n_adjusted - 1
ORDER BY a.condition_group = 'all', a.condition_group, a.technique
