-- NO_PROGRESS_NOTE (documentation tier, episode flag; metrics.md section 8): more than
-- `progress_note_max_visits` (default 10) treatment sessions in a row with no evaluation or
-- reevaluation between them; a discharge neither counts nor breaks the run. Source: Medicare asks
-- for a progress report by the clinician at least once every 10 treatment days (Benefit Policy
-- Manual ch. 15 section 220.3). One flag per episode; its detail names the longest run.
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
WITH segments AS (
    -- an (re-)evaluation starts a new segment; a segment's treatments are one run
    SELECT episode_key, session_number, visit_type,
           sum(CASE WHEN visit_type IN ('evaluation', 'reevaluation') THEN 1 ELSE 0 END)
               OVER (PARTITION BY episode_key ORDER BY session_number ROWS UNBOUNDED PRECEDING) AS segment
    FROM {{ sessions }}
),
runs AS (
    SELECT episode_key, segment,
           count(*) FILTER (WHERE visit_type = 'treatment') AS run_length,
           CAST(list(session_number ORDER BY session_number) FILTER (WHERE visit_type = 'treatment') AS INTEGER[])
               AS treatments
    FROM segments
    GROUP BY episode_key, segment
    QUALIFY row_number() OVER (PARTITION BY episode_key ORDER BY run_length DESC, segment) = 1
)
SELECT r.episode_key, 'NO_PROGRESS_NOTE' AS flag, CAST(NULL AS VARCHAR) AS session_id,
       CAST(NULL AS INTEGER) AS session_number, CAST(NULL AS DATE) AS session_date,
       CAST(NULL AS VARCHAR) AS session_payer_type,
       r.treatments AS evidence_sessions, CAST([] AS INTEGER[]) AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       format('{} treatment visits in a row (visits {} to {}) without an evaluation or re-evaluation; a progress '
              'note is due at least every {} treatment visits', r.run_length, r.treatments[1], r.treatments[-1],
              t.progress_note_max_visits) AS detail
FROM runs r
CROSS JOIN _thresholds t
WHERE r.run_length > t.progress_note_max_visits
