-- NO_RECERTIFICATION (necessity tier, session flag; metrics.md section 8): the plan of care must be
-- recertified at least every `recertification_days` days (default 90; 42 CFR 424.24(c)). A session
-- is raised when its date is more than that many days after the latest session_date among the
-- episode's evaluation and reevaluation sessions dated on or before it, whatever their order within
-- a day (session 1's date when there is none).
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
WITH assessments AS (
    -- one row per episode and day with an (re-)evaluation; a re-evaluation names the day if there is one
    SELECT episode_key, session_date,
           CAST(max(session_number) AS INTEGER) AS at_session,
           CASE WHEN bool_or(visit_type = 'reevaluation') THEN 're-evaluation' ELSE 'evaluation' END AS kind
    FROM {{ sessions }}
    WHERE visit_type IN ('evaluation', 'reevaluation')
    GROUP BY episode_key, session_date
),
first_visit AS (
    SELECT episode_key, session_date AS first_date FROM {{ sessions }} WHERE session_number = 1
),
anchored AS (
    -- the latest assessment dated on or before each session (ASOF: the greatest date <= the session's)
    SELECT s.episode_key, s.session_id, s.session_number, s.session_date, s.payer_type,
           a.session_date AS assessed_on, a.at_session, a.kind, f.first_date
    FROM {{ sessions }} s
    JOIN first_visit f USING (episode_key)
    ASOF LEFT JOIN assessments a ON a.episode_key = s.episode_key AND s.session_date >= a.session_date
),
decided AS (
    SELECT n.*, date_diff('day', coalesce(n.assessed_on, n.first_date), n.session_date) AS days_since,
           t.recertification_days
    FROM anchored n
    CROSS JOIN _thresholds t
)
SELECT episode_key, 'NO_RECERTIFICATION' AS flag, session_id, CAST(session_number AS INTEGER) AS session_number,
       session_date, payer_type AS session_payer_type,
       CAST(list_sort(list_distinct([coalesce(at_session, 1), session_number])) AS INTEGER[]) AS evidence_sessions,
       CAST([session_number] AS INTEGER[]) AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       CASE WHEN assessed_on IS NOT NULL
            THEN format('{} days since the last {} on {} (visit {}); the plan of care is due for recertification '
                        'every {} days', days_since, kind, strftime(assessed_on, '%Y-%m-%d'), at_session,
                        recertification_days)
            ELSE format('{} days since the first visit on {}, with no evaluation or re-evaluation on file; the plan '
                        'of care is due for recertification every {} days', days_since,
                        strftime(first_date, '%Y-%m-%d'), recertification_days)
       END AS detail
FROM decided
WHERE days_since > recertification_days
