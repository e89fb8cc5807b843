-- intermediate.episode_flares: per episode, scored sessions and flares, overall (technique 'all') and per
-- technique listed at the session (metrics.md section 14). A session is scored when it has both
-- pain_pre and pain_post; it flares when pain_post - pain_pre >= 2 points (setting flare_min_points,
-- met within the section 7 tolerance): pain worse right after treatment (post-treatment soreness).
-- Items are trimmed and a technique listed twice at one session counts once. Every episode has a
-- technique 'all' row (0 scored sessions possible); a technique row exists where at least one scored
-- session of the episode lists it. Clinic, patient and condition group are those of session 1.
WITH first_session AS (
    SELECT episode_key, clinic_id, patient_id, condition_group
    FROM {{ sessions }}
    WHERE session_number = 1
),
scored AS (
    SELECT s.episode_key,
           meets_min(s.pain_post - s.pain_pre, t.flare_min_points, t.tol) AS flare,
           list_distinct(list_filter(list_transform(string_split(coalesce(s.techniques, ''), ';'), lambda x: trim(x)),
                                     lambda x: x <> '')) AS techniques
    FROM {{ sessions }} s
    CROSS JOIN _thresholds t
    WHERE s.pain_pre IS NOT NULL AND s.pain_post IS NOT NULL
),
overall AS (
    SELECT f.episode_key, 'all' AS technique, count(sc.episode_key) AS n_sessions_scored,
           count(*) FILTER (WHERE sc.flare) AS n_flares
    FROM first_session f
    LEFT JOIN scored sc USING (episode_key)
    GROUP BY f.episode_key
),
per_technique AS (
    SELECT episode_key, technique, count(*) AS n_sessions_scored, count(*) FILTER (WHERE flare) AS n_flares
    FROM (SELECT episode_key, flare, unnest(techniques) AS technique FROM scored)
    GROUP BY episode_key, technique
)
SELECT f.episode_key, f.clinic_id, f.patient_id, f.condition_group, x.technique, x.n_sessions_scored, x.n_flares
FROM (SELECT * FROM overall UNION ALL SELECT * FROM per_technique) x
JOIN first_session f USING (episode_key)
ORDER BY f.clinic_id, f.episode_key, x.technique
