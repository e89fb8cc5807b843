-- Outcome counts and sums per unit and condition group, plus the unit's 'all' row (metrics.md
-- section 3): patients are distinct (clinic, patient) pairs; mean baseline pain is over episodes
-- with a baseline; mean sustained change, its SD, and responder counts over pain-evaluable
-- episodes; immediate change over every session with both scores (summed per episode upstream).
SELECT breakdown, unit,
       any_value(unit_clinic_id) AS unit_clinic_id,
       any_value(unit_therapist_id) AS unit_therapist_id,
       any_value(unit_month) AS unit_month,
       CASE WHEN grouping(condition_group) = 1 THEN 'all' ELSE condition_group END AS condition_group,
       count(DISTINCT (clinic_id, patient_id)) AS n_patients,
       -- the support of the unit's pain and relief figures, for suppression (section 9)
       count(DISTINCT (clinic_id, patient_id)) FILTER (WHERE pain_evaluable) AS n_patients_pain_evaluable,
       count(DISTINCT (clinic_id, patient_id)) FILTER (WHERE relief_evaluable) AS n_patients_relief_evaluable,
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
FROM {{ units }}
GROUP BY GROUPING SETS ((breakdown, unit, condition_group), (breakdown, unit))
