-- marts.episode_outcomes: one row per episode of care (metrics.md sections 3, 4 and 12).
-- Pain (section 3): baseline = pain_pre of session 1; final = pain_pre of the latest session with
-- session_number >= 2 that has one (pre-treatment scores at later visits measure sustained relief;
-- post-treatment scores only the transient effect of one visit). Pain-evaluable: both present.
-- Sustained change = baseline - final; pain_change_pct = change / baseline as a fraction (null at
-- baseline 0). Responder: change >= 2 points and >= 30 %; substantial: a responder with >= 50 %;
-- null when not pain-evaluable (not applicable is not "no").
-- Relief (section 4): relief-evaluable = baseline >= 3 and a later pain_pre; relief is first seen at
-- the first session k >= 2 with pain_pre <= baseline - 2 and <= 0.7 x baseline; sessions_to_relief
-- = k - 1; an unrelieved episode is censored (never dropped) at m - 1, m its last scored session
-- >= 2; relieved, sessions_to_relief and censored_at are null when not relief-evaluable.
-- Follow-up (section 12): discharged with a discharge visit; otherwise active when the last session
-- is at most 30 days before the clinic's data end (its latest session date in staging, never the
-- day of the run); otherwise lost to follow-up.
-- Every threshold comes from _thresholds and is decided with the section 7 tolerance (macros.sql).
-- An episode's clinic, patient, therapist, condition group, payer and intake facts are those of
-- its session 1 (section 2).
WITH first_session AS (
    SELECT episode_key, clinic_id, patient_id, therapist_id, condition_group, payer_type, age_band, sex,
           symptom_weeks, pain_pre AS baseline_pain, function_score AS baseline_function_score
    FROM {{ sessions }}
    WHERE session_number = 1
),
clinic_end AS (
    -- the clinic's data end is global: read from all of staging, also when only some episodes are rebuilt
    SELECT clinic_id, max(session_date) AS data_end FROM staging.sessions GROUP BY clinic_id
),
per_episode AS (
    SELECT
        s.episode_key,
        count(*) AS n_sessions,
        min(s.session_date) AS first_date,
        max(s.session_date) AS last_date,
        bool_or(s.visit_type = 'discharge') AS has_discharge,
        arg_max(s.pain_pre, s.session_number)
            FILTER (WHERE s.session_number >= 2 AND s.pain_pre IS NOT NULL) AS final_pain,
        CAST(max(s.session_number) FILTER (WHERE s.session_number >= 2 AND s.pain_pre IS NOT NULL) AS INTEGER)
            AS final_pain_session,
        -- relief: the first later session meeting both inequalities (the tolerance decides ties)
        CAST(min(s.session_number) FILTER (
            WHERE s.session_number >= 2
              AND meets_max(s.pain_pre, f.baseline_pain - t.relief_min_points, t.tol)
              AND meets_max(s.pain_pre, t.relief_max_fraction * f.baseline_pain, t.tol)
        ) AS INTEGER) AS relief_session,
        count(*) FILTER (WHERE s.pain_pre IS NOT NULL AND s.pain_post IS NOT NULL) AS n_immediate,
        det_sum(s.pain_pre - s.pain_post) AS sum_immediate_change,
        count(*) FILTER (WHERE s.session_number >= 2 AND (s.pain_pre IS NOT NULL OR s.function_score IS NOT NULL))
            AS n_later_measured,
        CAST(sum(s.units) AS BIGINT) AS units_billed
    FROM {{ sessions }} s
    JOIN first_session f USING (episode_key)
    CROSS JOIN _thresholds t
    GROUP BY s.episode_key
),
changes AS (
    SELECT f.*, p.* EXCLUDE (episode_key),
           f.baseline_pain IS NOT NULL AND p.final_pain IS NOT NULL AS pain_evaluable,
           f.baseline_pain - p.final_pain AS pain_change,
           CASE WHEN f.baseline_pain > 0 THEN (f.baseline_pain - p.final_pain) / f.baseline_pain END
               AS pain_change_pct
    FROM first_session f
    JOIN per_episode p USING (episode_key)
),
decided AS (
    SELECT c.*,
           -- responder: both the points and the fraction, each met within the tolerance
           CASE WHEN c.pain_evaluable THEN coalesce(
               meets_min(c.pain_change, t.responder_min_points, t.tol)
               AND meets_min(c.pain_change_pct, t.responder_min_fraction, t.tol), false) END AS responder,
           CASE WHEN c.pain_evaluable THEN coalesce(
               meets_min(c.pain_change, t.responder_min_points, t.tol)
               AND meets_min(c.pain_change_pct, t.responder_min_fraction, t.tol)
               AND meets_min(c.pain_change_pct, t.substantial_min_fraction, t.tol), false) END
               AS substantial_responder,
           coalesce(meets_min(c.baseline_pain, t.relief_min_baseline, t.tol)
                    AND c.final_pain_session IS NOT NULL, false) AS relief_evaluable,
           follow_up_status(c.has_discharge, c.last_date, e.data_end, t.follow_up_active_days) AS status
    FROM changes c
    JOIN clinic_end e USING (clinic_id)
    CROSS JOIN _thresholds t
)
SELECT
    episode_key, clinic_id, patient_id, condition_group, payer_type, n_sessions, first_date, last_date,
    baseline_pain, final_pain, pain_change, pain_change_pct, responder, substantial_responder,
    relief_evaluable,
    CASE WHEN relief_evaluable THEN relief_session IS NOT NULL END AS relieved,
    CAST(CASE WHEN relief_evaluable AND relief_session IS NOT NULL THEN relief_session - 1 END AS INTEGER)
        AS sessions_to_relief,
    CAST(CASE WHEN relief_evaluable AND relief_session IS NULL THEN final_pain_session - 1 END AS INTEGER)
        AS censored_at,
    status,
    therapist_id, age_band, sex, symptom_weeks,
    CAST(date_trunc('month', first_date) AS DATE) AS start_month,
    pain_evaluable, final_pain_session, n_immediate, sum_immediate_change, units_billed,
    has_discharge, CAST(CASE WHEN relief_evaluable THEN relief_session END AS INTEGER) AS relief_session, baseline_function_score, n_later_measured
FROM decided
ORDER BY clinic_id, episode_key
