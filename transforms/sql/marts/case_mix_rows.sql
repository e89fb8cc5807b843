-- Case-mix models (risk adjustment): one row per pain-evaluable episode with the covariates of both
-- models (docs/metrics.md, risk adjustment). Raw change must never rank clinics: intake pain and case
-- mix dominate it, so each episode's outcome is compared with what the model expects for its intake.
-- y = sustained pain change (section 3); r = 1 for a responder, else 0; b = baseline pain;
-- m = 1 when symptom weeks are missing; w = ln(1 + symptom weeks), imputed with the mean of the
-- observed values when missing (the indicator m then absorbs any difference of those episodes).
-- Every covariate is the episode's, from its session 1.
WITH rows AS (
    SELECT episode_key, clinic_id, therapist_id, patient_id, condition_group, age_band, sex, payer_type,
           pain_change AS y,
           CASE WHEN responder THEN 1.0::DOUBLE ELSE 0.0::DOUBLE END AS r,
           baseline_pain AS b,
           CASE WHEN symptom_weeks IS NULL THEN 1.0::DOUBLE ELSE 0.0::DOUBLE END AS m,
           ln(1.0::DOUBLE + symptom_weeks) AS w_observed
    FROM {{ episodes }}
    WHERE pain_evaluable
)
SELECT r.* EXCLUDE (w_observed),
       -- mean imputation of the missing chronicity (0 when no episode has symptom weeks)
       coalesce(r.w_observed, (SELECT coalesce(det_avg(w_observed), 0.0::DOUBLE) FROM rows)) AS w
FROM rows r
