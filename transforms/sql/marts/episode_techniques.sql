-- intermediate.episode_techniques: per episode, every technique listed at any of its sessions, and whether it is
-- primary (metrics.md section 14). A technique is primary when it is listed in at least half of the
-- episode's sessions that list any technique (met within the section 7 tolerance); an episode may
-- have several primary techniques, or none. Items are trimmed and a technique listed twice at one
-- session counts once. The episode's clinic, patient and condition group are those of session 1.
WITH first_session AS (
    SELECT episode_key, clinic_id, patient_id, condition_group
    FROM {{ sessions }}
    WHERE session_number = 1
),
listed AS (
    -- one row per session and distinct technique it lists
    SELECT episode_key, session_number, unnest(techniques) AS technique
    FROM (
        SELECT episode_key, session_number,
               list_distinct(list_filter(list_transform(string_split(techniques, ';'), lambda x: trim(x)),
                                         lambda x: x <> '')) AS techniques
        FROM {{ sessions }}
        WHERE techniques IS NOT NULL
    )
),
with_any AS (
    -- the denominator: sessions that list any technique
    SELECT episode_key, count(DISTINCT session_number) AS n_sessions_with_techniques
    FROM listed
    GROUP BY episode_key
),
per_technique AS (
    SELECT episode_key, technique, count(*) AS n_sessions_listed
    FROM listed
    GROUP BY episode_key, technique
)
SELECT f.episode_key, f.clinic_id, f.patient_id, f.condition_group, p.technique, p.n_sessions_listed,
       w.n_sessions_with_techniques,
       meets_min(CAST(p.n_sessions_listed AS DOUBLE) / w.n_sessions_with_techniques,
                 t.primary_technique_min_share, t.tol) AS is_primary
FROM per_technique p
JOIN with_any w USING (episode_key)
JOIN first_session f USING (episode_key)
CROSS JOIN _thresholds t
ORDER BY f.clinic_id, f.episode_key, p.technique
