-- PLATEAU (review tier, episode flag; metrics.md section 8): at least `plateau_min_sessions`
-- (default 6) sessions with a pain_pre; over the last `plateau_window` (default 4) of them (in
-- session order, skipping sessions without one) the first minus the last is less than
-- `plateau_min_change` (default 1 point), worsening included; and the last of them does not meet
-- both inequalities of the section 4 relief criterion (<= baseline - 2 and <= 0.7 x baseline, with
-- no minimum baseline; with no baseline it does not meet them): a patient who is better is not on
-- a plateau. A prompt for review, never a denial: Medicare may not apply an improvement standard
-- (Jimmo v. Sebelius, 2013); skilled maintenance care is covered when it is documented.
-- Thresholds are decided with the section 7 tolerance (macros.sql).
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
WITH scored AS (
    -- back_rank 1 = the last session with a pain_pre, 2 = the one before, ...
    SELECT episode_key, session_number, pain_pre,
           row_number() OVER (PARTITION BY episode_key ORDER BY session_number DESC) AS back_rank
    FROM {{ sessions }}
    WHERE pain_pre IS NOT NULL
),
facts AS (
    SELECT s.episode_key, count(*) AS n_scored,
           max(s.pain_pre) FILTER (WHERE s.back_rank = t.plateau_window) AS first_pain,
           max(s.pain_pre) FILTER (WHERE s.back_rank = 1) AS last_pain,
           CAST(list(s.session_number ORDER BY s.session_number) FILTER (WHERE s.back_rank <= t.plateau_window)
                AS INTEGER[]) AS window_sessions
    FROM scored s
    CROSS JOIN _thresholds t
    GROUP BY s.episode_key
),
decided AS (
    SELECT f.*, e.baseline_pain,
           -- at the relief level: both inequalities of section 4 (no minimum baseline; none without a baseline)
           coalesce(meets_max(f.last_pain, e.baseline_pain - t.relief_min_points, t.tol)
                    AND meets_max(f.last_pain, t.relief_max_fraction * e.baseline_pain, t.tol), false) AS at_relief,
           least(e.baseline_pain - t.relief_min_points, t.relief_max_fraction * e.baseline_pain) AS relief_level
    FROM facts f
    JOIN {{ episodes }} e USING (episode_key)
    CROSS JOIN _thresholds t
    WHERE f.n_scored >= t.plateau_min_sessions AND f.n_scored >= t.plateau_window
      AND falls_short(f.first_pain - f.last_pain, t.plateau_min_change, t.tol)
)
SELECT d.episode_key, 'PLATEAU' AS flag, CAST(NULL AS VARCHAR) AS session_id,
       CAST(NULL AS INTEGER) AS session_number, CAST(NULL AS DATE) AS session_date,
       CAST(NULL AS VARCHAR) AS session_payer_type,
       d.window_sessions AS evidence_sessions, CAST([] AS INTEGER[]) AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       format('pain {:g} -> {:g} over the last {} scored visits (visits {} to {}): a change of {:g}, less than {:g} '
              'point, and {}. This is a prompt for review, not a denial: discharge the patient, or document why '
              'skilled maintenance care is needed (Medicare may not apply an improvement standard: Jimmo v. '
              'Sebelius)', d.first_pain, d.last_pain, t.plateau_window, d.window_sessions[1], d.window_sessions[-1],
              round(d.first_pain - d.last_pain, 6), t.plateau_min_change,
              CASE WHEN d.baseline_pain IS NULL THEN 'no baseline pain score to judge relief against'
                   ELSE format('not at the relief level (baseline {:g}: relief is pain {:g} or less)',
                               d.baseline_pain, round(d.relief_level, 6)) END) AS detail
FROM decided d
CROSS JOIN _thresholds t
WHERE NOT d.at_relief
