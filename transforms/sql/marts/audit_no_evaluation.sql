-- NO_EVALUATION (necessity tier, episode flag; metrics.md section 8): session 1 of the episode is
-- not an evaluation. Covered therapy starts with an evaluation and a plan of care (Medicare Benefit
-- Policy Manual ch. 15 section 220; commercial policies alike).
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
WITH facts AS (
    SELECT episode_key, CAST(list(session_number ORDER BY session_number) AS INTEGER[]) AS all_sessions,
           any_value(visit_type) FILTER (WHERE session_number = 1) AS first_visit_type,
           any_value(session_date) FILTER (WHERE session_number = 1) AS first_date
    FROM {{ sessions }}
    GROUP BY episode_key
)
SELECT episode_key, 'NO_EVALUATION' AS flag, CAST(NULL AS VARCHAR) AS session_id,
       CAST(NULL AS INTEGER) AS session_number, CAST(NULL AS DATE) AS session_date,
       CAST(NULL AS VARCHAR) AS session_payer_type,
       CAST([1] AS INTEGER[]) AS evidence_sessions, all_sessions AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       format('visit 1 on {} is a {} visit, not an evaluation', strftime(first_date, '%Y-%m-%d'),
              first_visit_type) AS detail
FROM facts
WHERE first_visit_type <> 'evaluation'
