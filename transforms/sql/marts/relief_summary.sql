-- Median sessions to relief and cumulative relief (metrics.md section 4), per unit and group:
-- median = smallest t with S(t) <= 0.5 (null if never); its CI: lower = smallest t whose lower band
-- is <= 0.5, upper = smallest t whose upper band is <= 0.5 (a value within 1e-9 of 0.5 reaches it,
-- section 7). Cumulative relief by t = 1 - S(t), S a right-continuous step function carried
-- forward from the last time at or before t (1 before the first time), at every report time of
-- the run (relief_report_times; 4 and 8 always).
WITH medians AS (
    SELECT k.breakdown, k.unit, k.condition_group,
           CAST(min(k.t) FILTER (WHERE meets_max(k.survival, th.median_survival, th.tol)) AS INTEGER)
               AS median_sessions_to_relief,
           CAST(min(k.t) FILTER (WHERE meets_max(k.ci_low, th.median_survival, th.tol)) AS INTEGER) AS median_ci_low,
           CAST(min(k.t) FILTER (WHERE meets_max(k.ci_high, th.median_survival, th.tol)) AS INTEGER) AS median_ci_high,
           CAST(sum(k.relieved) AS BIGINT) AS n_relieved,
           CAST(sum(k.censored) AS BIGINT) AS n_censored
    FROM {{ km }} k CROSS JOIN _thresholds th
    GROUP BY k.breakdown, k.unit, k.condition_group
),
report_times AS (
    SELECT DISTINCT unnest(relief_report_times) AS report_t FROM _thresholds
),
survival_at AS (
    -- S at each report time: the last step at or before it (none yet: nobody relieved, S = 1)
    SELECT k.breakdown, k.unit, k.condition_group, r.report_t,
           arg_max(k.survival, k.t) FILTER (WHERE k.t <= r.report_t) AS survival
    FROM {{ km }} k CROSS JOIN report_times r
    GROUP BY k.breakdown, k.unit, k.condition_group, r.report_t
),
relief_by AS (
    SELECT breakdown, unit, condition_group,
           list(struct_pack(t := report_t, relief := 1.0::DOUBLE - coalesce(survival, 1.0::DOUBLE))
                ORDER BY report_t) AS relief_by
    FROM survival_at
    GROUP BY breakdown, unit, condition_group
)
SELECT m.*, b.relief_by
FROM medians m
JOIN relief_by b USING (breakdown, unit, condition_group)
