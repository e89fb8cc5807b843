-- The visit timelines of the flagged episodes of the clinics in $1 (a list), for their audit packets
-- (restricted folder only), in the packets' order (the packet's group_rank, the episode's
-- review_rank, then session number): date, visit type, CPT code, units, minutes, pain before and
-- after, the function score, goals, the referral source, the authorised visits recorded at the
-- visit and the authorisation in force (the latest value recorded at or before it, metrics.md
-- section 8).
-- Pseudonymous ids only: the episode key and the session id; no patient or therapist id.
WITH ordered AS (
    SELECT episode_key,
           dense_rank() OVER (ORDER BY payer_type, clinic_id) AS group_rank,
           row_number() OVER (PARTITION BY payer_type, clinic_id
                              ORDER BY top_tier_rank, units_at_risk DESC, first_date, episode_key) AS review_rank
    FROM marts.audit_episodes
    WHERE list_contains($1, clinic_id)
)
SELECT o.group_rank, o.review_rank, s.episode_key, CAST(s.session_number AS INTEGER) AS session_number, s.session_id,
       s.session_date, s.visit_type, s.cpt_code, s.units, s.duration_min, s.pain_pre, s.pain_post,
       s.function_instrument, s.function_score, s.goals_documented, s.referral_source, s.authorized_visits,
       last_value(s.authorized_visits IGNORE NULLS) OVER (
           PARTITION BY s.episode_key ORDER BY s.session_number ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
       ) AS authorised_in_force
FROM {{ sessions }} s
JOIN ordered o USING (episode_key)
WHERE list_contains($1, s.clinic_id)  -- lets the scan skip other clinics' rows
ORDER BY o.group_rank, o.review_rank, s.session_number
