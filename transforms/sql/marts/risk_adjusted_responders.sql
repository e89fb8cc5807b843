-- marts.risk_adjusted_responders: observed vs case-mix expected responder rate per clinic and per
-- therapist (MIPS-style risk-adjusted outcome measure; docs/metrics.md). Over a unit's pain-evaluable
-- episodes: O = responders, E = sum of the logistic model's probabilities p_i, n = episodes.
-- observed_rate = O / n, expected_rate = E / n, o_minus_e = (O - E) / n, o_to_e = O / E.
-- If the unit performed exactly as the model expects, O would vary around E with variance
-- V = sum p_i (1 - p_i) (a sum of independent Bernoulli outcomes), so se = sqrt(V) / n is the
-- standard error of o_minus_e under that hypothesis; the 95% interval is o_minus_e -/+ z x se and the
-- funnel plot's control limits at n are -/+ z x se around 0: a unit is outside the funnel exactly when
-- its interval excludes 0. z as in section 7; intervals null under 2 episodes or when V = 0.
WITH units AS (
    SELECT 'clinic' AS level, clinic_id AS unit_id, clinic_id, patient_id, responder, expected_responder
    FROM {{ case_mix }}
    UNION ALL
    SELECT 'therapist', therapist_id, clinic_id, patient_id, responder, expected_responder
    FROM {{ case_mix }}
),
agg AS (
    SELECT level, unit_id, clinic_id, count(*) AS n, count(DISTINCT patient_id) AS n_patients,
           count(*) FILTER (WHERE responder) AS n_responders,
           det_sum(expected_responder) AS expected_responders,
           det_sum(expected_responder * (1.0::DOUBLE - expected_responder)) AS null_variance
    FROM units
    GROUP BY level, unit_id, clinic_id
),
scored AS (
    SELECT a.*,
           CAST(a.n_responders AS DOUBLE) / a.n AS observed_rate,
           a.expected_responders / a.n AS expected_rate,
           (a.n_responders - a.expected_responders) / a.n AS o_minus_e,
           CASE WHEN a.null_variance > 0 THEN sqrt(a.null_variance) / a.n END AS se
    FROM agg a
)
SELECT s.level, s.unit_id, s.clinic_id, s.n, s.n_patients, s.n_responders, s.observed_rate, s.expected_rate,
       s.o_minus_e,
       CASE WHEN s.expected_responders > 0 THEN s.n_responders / s.expected_responders END AS o_to_e,
       CASE WHEN s.n >= 2 THEN s.o_minus_e - t.z * s.se END AS ci_low,
       CASE WHEN s.n >= 2 THEN s.o_minus_e + t.z * s.se END AS ci_high,
       s.expected_responders, s.se,
       CASE WHEN s.se IS NOT NULL THEN (s.n_responders - s.expected_responders) / sqrt(s.null_variance) END
           AS z_score
FROM scored s
CROSS JOIN _thresholds t
ORDER BY s.level, s.clinic_id, s.unit_id
