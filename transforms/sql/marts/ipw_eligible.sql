-- Section 13: the episodes eligible for the responder sensitivity analysis, with the covariates of the
-- follow-up model. Eligible: a baseline pain score (section 3) and a status other than active
-- (section 12: an active episode may still get its final score). Evaluable: eligible and
-- pain-evaluable (a final score too). Every covariate is the episode's, from its session 1.
SELECT episode_key, clinic_id, patient_id, condition_group, age_band, sex, payer_type,
       baseline_pain, symptom_weeks, status,
       pain_evaluable AS evaluable, responder, pain_change
FROM {{ episodes }}
WHERE baseline_pain IS NOT NULL AND status <> 'active'
