-- NO_GOALS (documentation tier, episode flag; metrics.md section 8): no session of the episode has
-- goals_documented true. Payers expect measurable, diagnosis-related goals in the plan of care
-- (Medicare Benefit Policy Manual ch. 15 section 220.1; Premera 8.03.502).
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
WITH facts AS (
    SELECT episode_key, count(*) AS n_sessions,
           coalesce(bool_or(goals_documented), false) AS has_goals,
           count(*) FILTER (WHERE goals_documented IS NULL) AS n_empty,
           CAST(list(session_number ORDER BY session_number) AS INTEGER[]) AS all_sessions
    FROM {{ sessions }}
    GROUP BY episode_key
)
SELECT episode_key, 'NO_GOALS' AS flag, CAST(NULL AS VARCHAR) AS session_id,
       CAST(NULL AS INTEGER) AS session_number, CAST(NULL AS DATE) AS session_date,
       CAST(NULL AS VARCHAR) AS session_payer_type,
       all_sessions AS evidence_sessions, CAST([] AS INTEGER[]) AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       format('none of the {} visits has treatment goals documented ({} say no, {} are empty)', n_sessions,
              n_sessions - n_empty, n_empty) AS detail
FROM facts
WHERE NOT has_goals
