-- Case-mix linear model (risk adjustment): the sufficient statistics of ordinary least squares per cell
-- of the categorical covariates and the missing-weeks indicator. Within a cell the design row is
-- (1, b, w, m, level indicators) with only b and w varying, so X'X and X'y are sums of these cell
-- sums and the fit costs the same at any warehouse size. Sums in sorted order (bit-identical reruns).
SELECT age_band, condition_group, sex, payer_type, m, count(*) AS n,
       det_sum(b) AS sb, det_sum(w) AS sw, det_sum(b * b) AS sbb, det_sum(w * w) AS sww, det_sum(b * w) AS sbw,
       det_sum(y) AS sy, det_sum(b * y) AS sby, det_sum(w * y) AS swy
FROM _case_mix_rows
GROUP BY age_band, condition_group, sex, payer_type, m
ORDER BY age_band, condition_group, sex, payer_type, m
