-- Case-mix linear model (risk adjustment): goodness of fit from the per-episode predictions.
-- rss = sum of squared residuals; tss = sum of squared deviations of the observed change from its mean
-- (R^2 = 1 - rss / tss; residual SD = sqrt(rss / (n - terms))); imputed_log1p_weeks = the mean of the
-- observed ln(1 + symptom weeks), the value a missing one is given.
SELECT det_sum(c.residual_change * c.residual_change) AS rss,
       det_sum(c.observed_change * c.observed_change)
           - det_sum(c.observed_change) * det_sum(c.observed_change) / count(*) AS tss,
       (SELECT det_avg(CASE WHEN m = 0 THEN w END) FROM _case_mix_rows) AS imputed_log1p_weeks
FROM {{ case_mix }} c
