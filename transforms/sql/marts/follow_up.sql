-- marts.follow_up: follow-up status counts and the lost-to-follow-up rate (metrics.md section 12).
-- An episode is discharged when it has a discharge visit; otherwise active when its last session is at
-- most 30 days (setting) before its clinic's data end (the clinic's latest session date, never the day
-- of the run); otherwise lost to follow-up (the status column of marts.episode_outcomes).
-- Lost rate = n_lost / (n_discharged + n_lost): active episodes have not ended yet, so they are left
-- out of the denominator; Wilson interval (section 7), null when that denominator is 0.
-- Rows: every (condition group, clinic) pair with at least one episode, each group with clinic 'all',
-- 'all' with each clinic, and ('all', 'all'). Patients are distinct (clinic, patient) pairs.
WITH clinic_end AS (
    -- every staging session belongs to an episode, so the latest last_date of a clinic's episodes is
    -- its latest session date in staging: the data end that decided the statuses
    SELECT clinic_id, max(last_date) AS data_end FROM {{ episodes }} GROUP BY clinic_id
),
counts AS (
    SELECT CASE WHEN grouping(condition_group) = 1 THEN 'all' ELSE condition_group END AS condition_group,
           CASE WHEN grouping(clinic_id) = 1 THEN 'all' ELSE clinic_id END AS clinic_id,
           count(*) AS n_episodes,
           count(*) FILTER (WHERE status = 'discharged') AS n_discharged,
           count(*) FILTER (WHERE status = 'active') AS n_active,
           count(*) FILTER (WHERE status = 'lost_to_follow_up') AS n_lost,
           count(DISTINCT (clinic_id, patient_id)) AS n_patients,
           -- patients behind the lost rate: those of ended (discharged or lost) episodes
           count(DISTINCT (clinic_id, patient_id)) FILTER (WHERE status <> 'active') AS n_patients_ended
    FROM {{ episodes }}
    GROUP BY GROUPING SETS ((condition_group, clinic_id), (condition_group), (clinic_id), ())
    HAVING count(*) > 0  -- no ('all', 'all') row over no episode at all
)
SELECT c.condition_group, c.clinic_id, c.n_episodes, c.n_discharged, c.n_active, c.n_lost,
       rate(c.n_lost, c.n_discharged + c.n_lost) AS lost_rate,
       wilson_low(c.n_lost, c.n_discharged + c.n_lost, t.z) AS lost_ci_low,
       wilson_high(c.n_lost, c.n_discharged + c.n_lost, t.z) AS lost_ci_high,
       c.n_patients,
       c.n_discharged + c.n_lost AS n_ended,
       c.n_patients_ended,
       e.data_end
FROM counts c
CROSS JOIN _thresholds t
LEFT JOIN clinic_end e ON e.clinic_id = c.clinic_id AND c.clinic_id <> 'all'
ORDER BY c.condition_group = 'all', c.condition_group, c.clinic_id = 'all', c.clinic_id
