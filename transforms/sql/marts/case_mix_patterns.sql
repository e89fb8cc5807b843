-- Case-mix logistic model of the responder outcome (risk adjustment): pain-evaluable episodes grouped
-- by covariate pattern (identical covariates), with n episodes and k responders each. The binomial
-- likelihood of the patterns equals the likelihood of the episodes, so the fit is the episode fit.
SELECT b, w, m, age_band, condition_group, sex, payer_type, count(*) AS n, det_sum(r) AS k
FROM _case_mix_rows
GROUP BY b, w, m, age_band, condition_group, sex, payer_type
ORDER BY b, w, m, age_band, condition_group, sex, payer_type
