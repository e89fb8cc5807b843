-- The flag rows of the flagged episodes of the clinics in $1 (a list), for their audit packets
-- (restricted folder only), in the packets' order (the packet's group_rank, then the episode's
-- review_rank): each with its detail in words, the visits that are its evidence and the visits
-- whose units it puts at risk (metrics.md section 8).
WITH ordered AS (
    SELECT episode_key,
           dense_rank() OVER (ORDER BY payer_type, clinic_id) AS group_rank,
           row_number() OVER (PARTITION BY payer_type, clinic_id
                              ORDER BY top_tier_rank, units_at_risk DESC, first_date, episode_key) AS review_rank
    FROM marts.audit_episodes
    WHERE list_contains($1, clinic_id)
)
SELECT o.group_rank, o.review_rank, f.episode_key, f.flag, f.tier, f.session_id, f.session_number, f.session_date, f.detail,
       f.evidence_sessions, f.risk_sessions, f.day_excess_units
FROM marts.audit_flags f
JOIN ordered o USING (episode_key)
ORDER BY o.group_rank, o.review_rank, f.flag_rank, f.session_number NULLS FIRST, f.session_id
