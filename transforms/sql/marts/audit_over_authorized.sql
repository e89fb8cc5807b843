-- OVER_AUTHORIZED (billing tier, session flag; metrics.md section 8): a visit beyond the visits the
-- payer authorised (or the referral prescribed) for the course of care: session_number is greater
-- than the authorisation in force, i.e. the authorized_visits of the latest session, in session
-- order, at or before it that has one (a later, lower value replaces a higher one; before the first
-- recorded value no authorisation is in force and nothing is raised). Source: payers' prior
-- authorisation and prescribed visit counts (export contract 1.1, column authorized_visits).
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
WITH recorded AS (
    -- visits recording an authorisation; a new value (or the first one) starts a new authorisation
    SELECT episode_key, session_number,
           authorized_visits IS DISTINCT FROM lag(authorized_visits) OVER (
               PARTITION BY episode_key ORDER BY session_number) AS starts_new
    FROM {{ sessions }}
    WHERE authorized_visits IS NOT NULL
),
in_force AS (
    SELECT s.episode_key, s.session_id, s.session_number, s.session_date, s.payer_type,
           last_value(s.authorized_visits IGNORE NULLS) OVER w AS authorised,
           -- the visit from which the authorisation in force has been recorded
           last_value(CASE WHEN r.starts_new THEN s.session_number END IGNORE NULLS) OVER w AS authorised_from
    FROM {{ sessions }} s
    LEFT JOIN recorded r USING (episode_key, session_number)
    WINDOW w AS (PARTITION BY s.episode_key ORDER BY s.session_number ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT episode_key, 'OVER_AUTHORIZED' AS flag, session_id, CAST(session_number AS INTEGER) AS session_number,
       session_date, payer_type AS session_payer_type,
       CAST(list_sort(list_distinct([authorised_from, session_number])) AS INTEGER[]) AS evidence_sessions,
       CAST([session_number] AS INTEGER[]) AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       format('visit {} of {} authorised (the authorisation of {} visits in force since visit {})',
              session_number, authorised, authorised, authorised_from) AS detail
FROM in_force
WHERE session_number > authorised
