-- staging.sessions: episodes of care and session order (metrics.md section 2).
-- With an episode_id the episode is (clinic_id, episode_id). Without one, the sessions of one
-- (clinic_id, patient_id, condition group) in order of (session_date, session_id) start a new
-- episode at the first session, after a gap of more than 90 days (episode_gap_days) since the
-- previous session, and after a discharge visit. session_number counts 1..n within the episode in
-- (session_date, session_id) order, ids compared as text by code point ('A-10' before 'A-9').
-- Episode keys are pseudonymous and stable across reloads: 'ep_' + 16 hex characters of an md5 of
-- the clinic and its episode id, or of the clinic, patient, group and the episode's first session id.
WITH grouped AS (
    SELECT l.*, g.condition_group
    FROM {{ latest }} l
    JOIN {{ groups }} g ON g.code = l.condition_code
),
ordered AS (
    SELECT *,
           lag(session_date) OVER w AS prev_date,
           lag(visit_type) OVER w AS prev_visit
    FROM grouped
    WHERE episode_id IS NULL
    WINDOW w AS (PARTITION BY clinic_id, patient_id, condition_group ORDER BY session_date, session_id)
),
starts AS (
    -- a running count of episode starts numbers the derived episodes of one patient and group
    SELECT o.*,
           sum(CASE WHEN o.prev_date IS NULL
                      OR date_diff('day', o.prev_date, o.session_date) > t.episode_gap_days
                      OR o.prev_visit = 'discharge' THEN 1 ELSE 0 END)
               OVER (PARTITION BY o.clinic_id, o.patient_id, o.condition_group
                     ORDER BY o.session_date, o.session_id ROWS UNBOUNDED PRECEDING) AS episode_seq
    FROM ordered o
    CROSS JOIN _thresholds t
),
derived AS (
    SELECT * EXCLUDE (prev_date, prev_visit, episode_seq),
           'ep_' || substr(md5('derived|' || clinic_id || '|' || patient_id || '|' || condition_group || '|' ||
               first_value(session_id) OVER (PARTITION BY clinic_id, patient_id, condition_group, episode_seq
                                             ORDER BY session_date, session_id)), 1, 16) AS episode_key
    FROM starts
),
given AS (
    SELECT *, 'ep_' || substr(md5('given|' || clinic_id || '|' || episode_id), 1, 16) AS episode_key
    FROM grouped
    WHERE episode_id IS NOT NULL
),
keyed AS (
    SELECT * FROM derived
    UNION ALL BY NAME
    SELECT * FROM given
)
SELECT *, CAST(row_number() OVER (PARTITION BY episode_key ORDER BY session_date, session_id) AS INTEGER)
          AS session_number
FROM keyed
