-- Sessions to relief by Kaplan-Meier (metrics.md section 4), per unit, condition group and 'all':
-- among relief-evaluable episodes, S(t) is the probability of not yet being relieved after t
-- sessions; unrelieved episodes (drop-outs included) are censored at their last scored session,
-- never dropped and never counted as failures. One row per time t at which an episode was relieved
-- or censored. The 95% pointwise band is the exponential Greenwood (log(-log)) band, as lifelines
-- computes it: var = sum d / (n (n - d)), band = S^exp(-/+ z sqrt(var) / ln S).
WITH observed AS (
    SELECT breakdown, unit, condition_group, coalesce(sessions_to_relief, censored_at) AS t, relieved
    FROM {{ units }} WHERE relief_evaluable
    UNION ALL
    SELECT breakdown, unit, 'all', coalesce(sessions_to_relief, censored_at), relieved
    FROM {{ units }} WHERE relief_evaluable
),
counts AS (
    SELECT breakdown, unit, condition_group, t,
           count(*) FILTER (WHERE relieved) AS relieved,
           count(*) FILTER (WHERE NOT relieved) AS censored
    FROM observed
    GROUP BY breakdown, unit, condition_group, t
),
risk AS (
    -- at risk at t: every episode whose time is t or later (integer sums: exact in any order)
    SELECT *, sum(relieved + censored) OVER (PARTITION BY breakdown, unit, condition_group ORDER BY t DESC
                                             ROWS UNBOUNDED PRECEDING) AS at_risk
    FROM counts
),
curves AS (
    -- one list per curve, in time order: the products and sums below then run left to right over the
    -- curve's own steps (as numpy's cumprod does), so a curve's values never depend on the other
    -- curves computed with it (a window aggregate may associate its terms differently by position);
    -- every factor is in [0, 1], so the curve never rises
    SELECT breakdown, unit, condition_group,
           list(t ORDER BY t) AS ts,
           list(at_risk ORDER BY t) AS at_risks,
           list(relieved ORDER BY t) AS relieveds,
           list(censored ORDER BY t) AS censoreds,
           list(1.0::DOUBLE - CAST(relieved AS DOUBLE) / at_risk ORDER BY t) AS factors,
           list(CASE WHEN at_risk > relieved
                     THEN CAST(relieved AS DOUBLE) / (CAST(at_risk AS DOUBLE) * (at_risk - relieved))
                     ELSE 0.0::DOUBLE END ORDER BY t) AS terms
    FROM risk
    GROUP BY breakdown, unit, condition_group
),
indexed AS (
    SELECT *, unnest(range(1, len(ts) + 1)) AS i FROM curves
),
steps AS (
    SELECT breakdown, unit, condition_group, ts[i] AS t, at_risks[i] AS at_risk, relieveds[i] AS relieved,
           censoreds[i] AS censored,
           list_product(factors[1:i]) AS survival,
           list_sum(terms[1:i]) AS greenwood
    FROM indexed
),
banded AS (
    SELECT s.*,
           CASE WHEN s.survival >= 1 THEN 1.0::DOUBLE WHEN s.survival <= 0 THEN 0.0::DOUBLE
                ELSE exp(-exp(ln(-ln(s.survival)) - th.z * sqrt(s.greenwood) / ln(s.survival))) END AS band_low,
           CASE WHEN s.survival >= 1 THEN 1.0::DOUBLE WHEN s.survival <= 0 THEN 0.0::DOUBLE
                ELSE exp(-exp(ln(-ln(s.survival)) + th.z * sqrt(s.greenwood) / ln(s.survival))) END AS band_high
    FROM steps s CROSS JOIN _thresholds th
)
SELECT breakdown, unit, condition_group, CAST(t AS INTEGER) AS t, CAST(at_risk AS BIGINT) AS at_risk,
       relieved, censored, survival,
       least(band_low, survival) AS ci_low, greatest(band_high, survival) AS ci_high
FROM banded
