"""Episodes of care and session order (metrics.md section 2).

Clinical rule: with an ``episode_id`` the episode is (clinic, episode_id). Without one, the
sessions of one patient (clinic, patient) and condition group, in order of (date, session id),
start a new episode at the first session, after a gap of more than ``episode_gap_days`` days
since the previous session, and after a ``discharge`` visit. ``session_number`` counts 1..n
within the episode in (date, session id) order.

Episode keys are pseudonymous and stable: an md5 of the clinic and the clinic's episode id, or
of the clinic, patient, group and the episode's first session id for derived episodes.
"""

from __future__ import annotations

EPISODES_SQL = """
WITH ordered AS (
    SELECT *,
           lag(session_date) OVER w AS prev_date,
           lag(visit_type) OVER w AS prev_visit
    FROM {source}
    WHERE episode_id IS NULL
    WINDOW w AS (PARTITION BY clinic_id, patient_id, condition_group ORDER BY session_date, session_id)
),
starts AS (
    SELECT *,
           sum(CASE WHEN prev_date IS NULL
                      OR date_diff('day', prev_date, session_date) > ?
                      OR prev_visit = 'discharge' THEN 1 ELSE 0 END)
               OVER (PARTITION BY clinic_id, patient_id, condition_group
                     ORDER BY session_date, session_id ROWS UNBOUNDED PRECEDING) AS episode_seq
    FROM ordered
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
    FROM {source}
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
"""
