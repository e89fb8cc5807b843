-- Outcomes per unit and condition group with their intervals (metrics.md sections 3, 4 and 7):
-- mean sustained change with a 95% t-interval, SRM, responder and substantial-responder rates with
-- 95% Wilson intervals (over pain-evaluable episodes), mean immediate change (over sessions with
-- both scores), and the relief summary (median sessions to relief with its CI, cumulative relief
-- at the report times, over relief-evaluable episodes), and the share of episodes with a final
-- pain score with its Wilson interval. An interval, SD or SRM on fewer than 2 values is null, never 0.
SELECT a.breakdown, a.unit, a.unit_clinic_id, a.unit_therapist_id, a.unit_month,
       a.condition_group, a.n_patients, a.n_episodes, a.n_sessions, a.n_pain_evaluable,
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
       s.median_sessions_to_relief, s.median_ci_low, s.median_ci_high,
       s.relief_by,
       a.n_with_final_pain,
       wilson_low(a.n_with_final_pain, a.n_episodes, th.z) AS final_pain_ci_low,
       wilson_high(a.n_with_final_pain, a.n_episodes, th.z) AS final_pain_ci_high,
       CASE WHEN a.n_pain_evaluable >= 2 THEN a.sd_pain_change END AS sd_pain_change,
       a.n_responders, a.n_substantial,
       wilson_low(a.n_substantial, a.n_pain_evaluable, th.z) AS substantial_ci_low,
       wilson_high(a.n_substantial, a.n_pain_evaluable, th.z) AS substantial_ci_high,
       a.n_immediate,
       a.n_patients_pain_evaluable, a.n_patients_relief_evaluable,
       coalesce(s.n_relieved, 0) AS n_relieved,
       coalesce(s.n_censored, 0) AS n_censored
FROM {{ aggregates }} a
CROSS JOIN _thresholds th
LEFT JOIN _t_quantiles q ON q.df = a.n_pain_evaluable - 1
LEFT JOIN {{ summary }} s USING (breakdown, unit, condition_group)
