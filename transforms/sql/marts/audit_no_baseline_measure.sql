-- NO_BASELINE_MEASURE (documentation tier, episode flag; metrics.md section 8): session 1 has
-- neither a pain_pre nor a function_score. Payers expect baseline limits documented with an
-- objective measure, so that progress can be shown (eviCore massage guideline; Medicare Benefit
-- Policy Manual ch. 15 section 220.3).
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
SELECT episode_key, 'NO_BASELINE_MEASURE' AS flag, CAST(NULL AS VARCHAR) AS session_id,
       CAST(NULL AS INTEGER) AS session_number, CAST(NULL AS DATE) AS session_date,
       CAST(NULL AS VARCHAR) AS session_payer_type,
       CAST([1] AS INTEGER[]) AS evidence_sessions, CAST([] AS INTEGER[]) AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       format('visit 1 ({} on {}) records neither a pain score before treatment nor a function score',
              visit_type, strftime(session_date, '%Y-%m-%d')) AS detail
FROM {{ sessions }}
WHERE session_number = 1 AND pain_pre IS NULL AND function_score IS NULL
