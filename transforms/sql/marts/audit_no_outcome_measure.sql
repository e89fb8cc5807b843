-- NO_OUTCOME_MEASURE (documentation tier, episode flag; metrics.md section 8): the episode has ended
-- (status discharged or lost_to_follow_up, section 12: no discharge and no visit in the last
-- `follow_up_active_days` days before the clinic's data end), has at least 2 sessions, and no
-- session with session_number >= 2 has a pain_pre or a function_score (of any instrument). Payers
-- expect progress shown by successive objective measures (eviCore massage guideline; Medicare
-- Benefit Policy Manual ch. 15 section 220.3).
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
-- The detail names only the episode's own facts and the setting, not the clinic's data end: a
-- later export moves the data end every month, and the reviewer's evidence is the gap itself.
WITH facts AS (
    SELECT episode_key, count(*) AS n_sessions,
           count(*) FILTER (WHERE session_number >= 2 AND (pain_pre IS NOT NULL OR function_score IS NOT NULL))
               AS n_later_measured,
           CAST(list(session_number ORDER BY session_number) FILTER (WHERE session_number >= 2) AS INTEGER[])
               AS later_sessions
    FROM {{ sessions }}
    GROUP BY episode_key
)
SELECT f.episode_key, 'NO_OUTCOME_MEASURE' AS flag, CAST(NULL AS VARCHAR) AS session_id,
       CAST(NULL AS INTEGER) AS session_number, CAST(NULL AS DATE) AS session_date,
       CAST(NULL AS VARCHAR) AS session_payer_type,
       f.later_sessions AS evidence_sessions, CAST([] AS INTEGER[]) AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       format('{}, and none of visits 2 to {} records a pain score before treatment or a function score',
              CASE WHEN e.status = 'discharged' THEN format('discharged after {} visits', f.n_sessions)
                   ELSE format('lost to follow-up after {} visits: no discharge, and no visit since {}, more '
                               'than {} days before the clinic''s latest recorded visit', f.n_sessions,
                               strftime(e.last_date, '%Y-%m-%d'), t.follow_up_active_days) END,
              f.n_sessions) AS detail
FROM facts f
JOIN {{ episodes }} e USING (episode_key)
CROSS JOIN _thresholds t
WHERE e.status IN ('discharged', 'lost_to_follow_up') AND f.n_sessions >= 2 AND f.n_later_measured = 0
