-- marts.relief_curve: the Kaplan-Meier curve of sessions to relief per condition group and 'all'
-- (metrics.md section 4), one row per time t at which a relief-evaluable episode of the group was
-- relieved or censored, with the episodes at risk and, for publishing (section 9), the distinct
-- patients at risk: a patient is at risk at t while one of their relief-evaluable episodes of the
-- group is.
WITH patients AS (
    SELECT condition_group, clinic_id, patient_id, max(coalesce(sessions_to_relief, censored_at)) AS last_t
    FROM {{ episodes }} WHERE relief_evaluable
    GROUP BY condition_group, clinic_id, patient_id
    UNION ALL
    SELECT 'all', clinic_id, patient_id, max(coalesce(sessions_to_relief, censored_at))
    FROM {{ episodes }} WHERE relief_evaluable
    GROUP BY clinic_id, patient_id
),
curve AS (
    SELECT condition_group, t, at_risk, relieved, censored, survival, ci_low, ci_high
    FROM {{ km }} WHERE breakdown = 'condition'
),
patients_at_risk AS (
    SELECT k.condition_group, k.t, count(p.patient_id) AS n_patients_at_risk
    FROM curve k
    LEFT JOIN patients p ON p.condition_group = k.condition_group AND p.last_t >= k.t
    GROUP BY k.condition_group, k.t
)
SELECT k.condition_group, k.t, k.at_risk, k.relieved, k.censored, k.survival, k.ci_low, k.ci_high,
       r.n_patients_at_risk
FROM curve k
JOIN patients_at_risk r USING (condition_group, t)
ORDER BY k.condition_group = 'all', k.condition_group, k.t
