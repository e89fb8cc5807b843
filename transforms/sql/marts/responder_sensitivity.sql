-- marts.responder_sensitivity: how much missing follow-up could move the responder rate (metrics.md
-- section 13), per condition group with at least one eligible episode, and 'all' (present whenever the
-- warehouse has an episode). Over eligible episodes: R responders among the E evaluable, M eligible
-- but not evaluable (no final score).
-- complete case = R / E; worst case = R / (E + M) (every missing follow-up a non-responder);
-- best case = (R + M) / (E + M) (every one a responder).
-- IPW: over the evaluable episodes with their weights w, rate = sum(w y) / sum(w) (y = 1 for a
-- responder), mean change = sum(w change) / sum(w); 95% interval = rate -/+ z sqrt(sum w^2 (y - rate)^2)
-- / sum(w) (z as in section 7), clipped to [0, 1], null under 2 evaluable episodes; rate, mean change
-- and max_weight (largest weight used) null with none.
WITH units AS (
    SELECT condition_group AS grp, *, CASE WHEN evaluable THEN CAST(responder AS DOUBLE) END AS y
    FROM {{ ipw }}
    UNION ALL
    SELECT 'all' AS grp, *, CASE WHEN evaluable THEN CAST(responder AS DOUBLE) END AS y
    FROM {{ ipw }}
),
groups AS (
    SELECT DISTINCT grp FROM units
    UNION
    SELECT 'all' AS grp WHERE EXISTS (SELECT 1 FROM {{ episodes }})
),
agg AS (
    SELECT grp,
           count(*) AS n_eligible,
           count(*) FILTER (WHERE evaluable) AS n_evaluable,
           count(*) FILTER (WHERE responder) AS n_responders,
           count(DISTINCT (clinic_id, patient_id)) AS n_patients,
           count(DISTINCT (clinic_id, patient_id)) FILTER (WHERE evaluable) AS n_patients_evaluable,
           det_sum(weight) AS sum_weights,
           det_sum(weight * y) AS sum_weighted_responders,
           det_sum(weight * pain_change) AS sum_weighted_change,
           det_sum(weight * weight) AS sum_squared_weights,
           max(weight) AS max_weight
    FROM units
    GROUP BY grp
),
ipw AS (
    SELECT grp, sum_weighted_responders / sum_weights AS ipw_rate,
           sum_weighted_change / sum_weights AS ipw_mean_change
    FROM agg
    WHERE n_evaluable > 0
),
spread AS (
    -- the second pass: deviations from the group's own IPW rate
    SELECT u.grp, det_sum(u.weight * u.weight * (u.y - i.ipw_rate) * (u.y - i.ipw_rate)) AS weighted_ss
    FROM units u
    JOIN ipw i USING (grp)
    WHERE u.evaluable
    GROUP BY u.grp
),
counted AS (
    SELECT g.grp,
           coalesce(a.n_eligible, 0) AS n_eligible,
           coalesce(a.n_evaluable, 0) AS n_evaluable,
           coalesce(a.n_responders, 0) AS n_responders,
           coalesce(a.n_patients, 0) AS n_patients,
           coalesce(a.n_patients_evaluable, 0) AS n_patients_evaluable,
           a.sum_weights, a.sum_squared_weights, a.max_weight, i.ipw_rate, i.ipw_mean_change, s.weighted_ss
    FROM groups g
    LEFT JOIN agg a USING (grp)
    LEFT JOIN ipw i USING (grp)
    LEFT JOIN spread s USING (grp)
)
SELECT c.grp AS condition_group, c.n_eligible, c.n_evaluable,
       rate(c.n_responders, c.n_evaluable) AS complete_case_rate,
       rate(c.n_responders, c.n_eligible) AS worst_case_rate,
       rate(c.n_responders + (c.n_eligible - c.n_evaluable), c.n_eligible) AS best_case_rate,
       c.ipw_rate,
       CASE WHEN c.n_evaluable >= 2 THEN
           greatest(0.0::DOUBLE, least(1.0::DOUBLE, c.ipw_rate - t.z * sqrt(c.weighted_ss) / c.sum_weights)) END
           AS ipw_ci_low,
       CASE WHEN c.n_evaluable >= 2 THEN
           greatest(0.0::DOUBLE, least(1.0::DOUBLE, c.ipw_rate + t.z * sqrt(c.weighted_ss) / c.sum_weights)) END
           AS ipw_ci_high,
       c.ipw_mean_change,
       c.max_weight,
       c.n_patients, c.n_patients_evaluable, c.n_responders,
       c.n_eligible - c.n_evaluable AS n_missing,
       wilson_low(c.n_responders, c.n_evaluable, t.z) AS complete_case_ci_low,
       wilson_high(c.n_responders, c.n_evaluable, t.z) AS complete_case_ci_high,
       c.sum_weights,
       -- Kish's effective sample size (sum w)^2 / sum w^2: how many unweighted episodes the weighted ones are worth
       CASE WHEN c.sum_squared_weights > 0 THEN c.sum_weights * c.sum_weights / c.sum_squared_weights END
           AS effective_n
FROM counted c
CROSS JOIN _thresholds t
ORDER BY c.grp = 'all', c.grp
