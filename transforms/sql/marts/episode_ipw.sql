-- intermediate.episode_ipw: section 13, one row per eligible episode (a baseline, status not active) with the
-- follow-up model's probability of being evaluable, p_evaluable (from _ipw_probabilities, one row per
-- covariate pattern), and, for an evaluable episode, its inverse probability weight
-- min(1 / p, ipw_max_weight (setting, default 20)): an evaluable episode stands in for itself and for
-- the missing episodes that resemble it. The cap keeps one episode from dominating a rate.
SELECT e.episode_key, e.clinic_id, e.patient_id, e.condition_group, e.status, e.evaluable, e.responder,
       e.pain_change, p.p_evaluable,
       CASE WHEN e.evaluable THEN
           CASE WHEN p.p_evaluable > 0 THEN least(1.0::DOUBLE / p.p_evaluable, t.ipw_max_weight)
                ELSE t.ipw_max_weight END
       END AS weight
FROM _ipw_eligible e
JOIN _ipw_probabilities p
  ON p.baseline_pain = e.baseline_pain
 AND p.symptom_weeks IS NOT DISTINCT FROM e.symptom_weeks
 AND p.condition_group IS NOT DISTINCT FROM e.condition_group
 AND p.age_band IS NOT DISTINCT FROM e.age_band
 AND p.sex IS NOT DISTINCT FROM e.sex
 AND p.payer_type IS NOT DISTINCT FROM e.payer_type
CROSS JOIN _thresholds t
ORDER BY e.clinic_id, e.episode_key
