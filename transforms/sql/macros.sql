-- Shared SQL macros of every model: the one place for DuckDB-specific definitions.
-- Another engine needs this file translated (and the few DuckDB functions the models call), not
-- every model. Installed as temporary macros at the start of a build (transforms.sqlmodels).

-- Section 7: a value within `tol` (1e-9) of a clinical threshold meets it, so that binary floating
-- point never decides a case (7 -> 4.9 is a 30 % reduction). Thresholds come from `_thresholds`.
CREATE OR REPLACE TEMP MACRO meets_min(x, threshold, tol) AS x >= threshold - tol;
CREATE OR REPLACE TEMP MACRO meets_max(x, threshold, tol) AS x <= threshold + tol;
CREATE OR REPLACE TEMP MACRO falls_short(x, threshold, tol) AS x < threshold - tol;

-- Order-independent aggregates. Parallel floating-point aggregation adds values in a different
-- order on every run and changes the last bits; feeding each group's values in sorted order makes
-- a rebuild bit-identical (section 11: running twice changes nothing).
CREATE OR REPLACE TEMP MACRO det_sum(x) AS sum(x ORDER BY x);
CREATE OR REPLACE TEMP MACRO det_avg(x) AS avg(x ORDER BY x);
CREATE OR REPLACE TEMP MACRO det_sd(x) AS stddev_samp(x ORDER BY x);

-- Section 7: a rate gets a 95% Wilson score interval (statsmodels' order of operations), clipped
-- to [0, 1] and widened by at most a rounding error so that it always contains x / n; null under 2.
CREATE OR REPLACE TEMP MACRO wilson_denom(n, z) AS 1 + (z * z) / n;
CREATE OR REPLACE TEMP MACRO wilson_centre(x, n, z) AS
    (CAST(x AS DOUBLE) / n + (z * z) / (2 * n)) / wilson_denom(n, z);
CREATE OR REPLACE TEMP MACRO wilson_dist(x, n, z) AS
    z * sqrt((CAST(x AS DOUBLE) / n) * (1.0::DOUBLE - CAST(x AS DOUBLE) / n) / n
             + (z * z) / (4.0::DOUBLE * n * n)) / wilson_denom(n, z);
CREATE OR REPLACE TEMP MACRO wilson_low(x, n, z) AS CASE WHEN n >= 2 THEN
    least(greatest(wilson_centre(x, n, z) - wilson_dist(x, n, z), 0.0::DOUBLE), CAST(x AS DOUBLE) / n) END;
CREATE OR REPLACE TEMP MACRO wilson_high(x, n, z) AS CASE WHEN n >= 2 THEN
    greatest(least(wilson_centre(x, n, z) + wilson_dist(x, n, z), 1.0::DOUBLE), CAST(x AS DOUBLE) / n) END;

-- Section 7: a mean gets a 95% Student t interval, mean -/+ q * sd / sqrt(n), q the t quantile with
-- n - 1 degrees of freedom (looked up in `_t_quantiles`); null under 2 values.
CREATE OR REPLACE TEMP MACRO t_low(mean, sd, n, q) AS CASE WHEN n >= 2 THEN mean - q * (sd / sqrt(n)) END;
CREATE OR REPLACE TEMP MACRO t_high(mean, sd, n, q) AS CASE WHEN n >= 2 THEN mean + q * (sd / sqrt(n)) END;

-- Section 7: standardised response mean = mean change / SD of change; null under 2 values or SD 0.
CREATE OR REPLACE TEMP MACRO srm(mean, sd, n) AS CASE WHEN n >= 2 AND sd > 0 THEN mean / sd END;

-- A rate over n units (null when there is no unit).
CREATE OR REPLACE TEMP MACRO rate(x, n) AS CASE WHEN n > 0 THEN CAST(x AS DOUBLE) / n END;

-- Section 12: an episode is discharged when it has a discharge visit; otherwise active when its last
-- session is at most `active_days` before its clinic's data end; otherwise lost to follow-up.
CREATE OR REPLACE TEMP MACRO follow_up_status(has_discharge, last_date, clinic_end, active_days) AS
    CASE WHEN has_discharge THEN 'discharged'
         WHEN date_diff('day', last_date, clinic_end) <= active_days THEN 'active'
         ELSE 'lost_to_follow_up' END;

-- Section 1: an ICD-10-CM code is normalised to upper case with a dot after the third character
-- (`m797` -> `M79.7`; `G43` stays `G43`).
CREATE OR REPLACE TEMP MACRO normalise_icd10(code) AS
    CASE WHEN length(replace(upper(trim(code)), '.', '')) <= 3 THEN replace(upper(trim(code)), '.', '')
         ELSE substr(replace(upper(trim(code)), '.', ''), 1, 3) || '.' || substr(replace(upper(trim(code)), '.', ''), 4)
    END;

-- Section 4: cumulative relief at report time `t` from a list of {t, relief} structs (null when the
-- unit has no relief-evaluable episode).
CREATE OR REPLACE TEMP MACRO relief_at(relief_by, report_t) AS
    list_filter(relief_by, lambda r: r.t = report_t)[1].relief;

-- HTML text of a value for the restricted audit packets, built inside the database for their
-- hundreds of thousands of visits: `html_text` escapes &, <, >, " and ' like Python's html.escape
-- (in that order); `html_number` writes a number like Python's f"{x:g}" (6 significant digits,
-- trailing zeros dropped), "" when missing.
CREATE OR REPLACE TEMP MACRO html_text(s) AS
    replace(replace(replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'),
            '''', '&#x27;');
CREATE OR REPLACE TEMP MACRO html_number(x) AS
    CASE WHEN x IS NULL OR isnan(CAST(x AS DOUBLE)) THEN '' ELSE format('{:g}', CAST(x AS DOUBLE)) END;
