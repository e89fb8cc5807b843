-- Section 13: eligible episodes grouped by the covariate pattern of the follow-up model (baseline pain,
-- symptom weeks, condition group, age band, sex, payer type), with n episodes and k evaluable each.
-- The binomial likelihood of the patterns equals the summed likelihood of the episodes.
SELECT baseline_pain, symptom_weeks, condition_group, age_band, sex, payer_type,
       count(*) AS n, count(*) FILTER (WHERE evaluable) AS k
FROM _ipw_eligible
GROUP BY baseline_pain, symptom_weeks, condition_group, age_band, sex, payer_type
ORDER BY baseline_pain, symptom_weeks, condition_group, age_band, sex, payer_type
