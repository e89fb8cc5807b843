-- marts.risk_adjusted: risk-adjusted sustained pain change per clinic and per therapist (FOTO-style
-- risk adjustment; docs/metrics.md). Raw change must never rank clinics: a unit's score is observed
-- minus expected change (the mean residual of the case-mix linear model over its pain-evaluable
-- episodes) with a 95% t-interval over those episodes (section 7), null under 2 episodes. The
-- interval treats the model as known. Therapists are (clinic, therapist) pairs.
WITH units AS (
    SELECT 'clinic' AS level, clinic_id AS unit_id, clinic_id, observed_change, expected_change, patient_id
    FROM {{ case_mix }}
    UNION ALL
    SELECT 'therapist', therapist_id, clinic_id, observed_change, expected_change, patient_id
    FROM {{ case_mix }}
),
agg AS (
    SELECT level, unit_id, clinic_id, count(*) AS n, count(DISTINCT patient_id) AS n_patients,
           det_avg(observed_change) AS observed_mean, det_avg(expected_change) AS expected_mean,
           det_avg(observed_change - expected_change) AS o_minus_e,
           det_sd(observed_change - expected_change) AS sd_residual
    FROM units
    GROUP BY level, unit_id, clinic_id
)
SELECT a.level, a.unit_id, a.clinic_id, a.n, a.n_patients, a.observed_mean, a.expected_mean, a.o_minus_e,
       t_low(a.o_minus_e, a.sd_residual, a.n, q.q) AS ci_low,
       t_high(a.o_minus_e, a.sd_residual, a.n, q.q) AS ci_high,
       CASE WHEN a.n >= 2 THEN a.sd_residual END AS sd_residual
FROM agg a
LEFT JOIN _t_quantiles q ON q.df = a.n - 1
ORDER BY a.level, a.clinic_id, a.unit_id
