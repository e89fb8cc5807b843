-- intermediate.episode_case_mix: per pain-evaluable episode, the observed outcomes and what the case-mix
-- models expect for its intake (risk adjustment; docs/metrics.md). Expected sustained change is the
-- linear model's prediction; expected responder is the logistic model's probability
-- 1 / (1 + exp(-eta)). Both models see baseline pain, ln(1 + symptom weeks) (mean-imputed) with a
-- missing indicator, age band, condition group, sex and payer type, and never the technique, the
-- clinic or the therapist (their differences are what the comparison looks for).
-- Coefficients come from _case_mix_terms (model, term, estimate): a reference level has no row and
-- contributes 0; term '_constant' stands for a model whose outcome never varies (its value).
WITH numeric AS (
    SELECT model,
           coalesce(max(estimate) FILTER (WHERE term = 'intercept'), 0.0::DOUBLE) AS b0,
           coalesce(max(estimate) FILTER (WHERE term = 'baseline_pain'), 0.0::DOUBLE) AS b_pain,
           coalesce(max(estimate) FILTER (WHERE term = 'log1p_weeks'), 0.0::DOUBLE) AS b_weeks,
           coalesce(max(estimate) FILTER (WHERE term = 'symptom_weeks_missing'), 0.0::DOUBLE) AS b_missing,
           max(estimate) FILTER (WHERE term = '_constant') AS constant_value
    FROM _case_mix_terms
    GROUP BY model
),
predicted AS (
    SELECT r.episode_key, n.model, n.constant_value,
           n.b0 + n.b_pain * r.b + n.b_weeks * r.w + n.b_missing * r.m
               + coalesce(a.estimate, 0.0::DOUBLE) + coalesce(g.estimate, 0.0::DOUBLE)
               + coalesce(s.estimate, 0.0::DOUBLE) + coalesce(p.estimate, 0.0::DOUBLE) AS eta
    FROM _case_mix_rows r
    CROSS JOIN numeric n
    LEFT JOIN _case_mix_terms a ON a.model = n.model AND a.term = 'age_band=' || r.age_band
    LEFT JOIN _case_mix_terms g ON g.model = n.model AND g.term = 'condition_group=' || r.condition_group
    LEFT JOIN _case_mix_terms s ON s.model = n.model AND s.term = 'sex=' || r.sex
    LEFT JOIN _case_mix_terms p ON p.model = n.model AND p.term = 'payer_type=' || r.payer_type
)
SELECT r.episode_key, r.clinic_id, r.therapist_id, r.patient_id, r.condition_group,
       r.y AS observed_change,
       lin.eta AS expected_change,
       r.y - lin.eta AS residual_change,
       r.r = 1.0 AS responder,
       -- the logistic probability; exp is bounded so that an extreme eta gives 0 or 1, not an overflow
       coalesce(lgt.constant_value, 1.0::DOUBLE / (1.0::DOUBLE + exp(least(-lgt.eta, 700.0::DOUBLE))))
           AS expected_responder
FROM _case_mix_rows r
LEFT JOIN predicted lin ON lin.episode_key = r.episode_key AND lin.model = 'pain_change'
LEFT JOIN predicted lgt ON lgt.episode_key = r.episode_key AND lgt.model = 'responder'
ORDER BY r.clinic_id, r.episode_key
