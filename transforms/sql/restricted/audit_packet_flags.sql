-- The flag rows of the flagged episodes of one payer type at one clinic ($1, $2), for its audit packet
-- (restricted folder only), in the packet's order (the episode's review_rank): each with its detail
-- in words, the visits that are its evidence and the visits whose units it puts at risk
-- (metrics.md section 8).
WITH ordered AS (
    SELECT episode_key,
           row_number() OVER (ORDER BY top_tier_rank, units_at_risk DESC, first_date, episode_key)
               AS review_rank
    FROM marts.audit_episodes
    WHERE payer_type = $1 AND clinic_id = $2
)
SELECT o.review_rank, f.episode_key, f.flag, f.tier, f.session_id, f.session_number, f.session_date, f.detail,
       f.evidence_sessions, f.risk_sessions, f.day_excess_units
FROM marts.audit_flags f
JOIN ordered o USING (episode_key)
ORDER BY o.review_rank, f.flag_rank, f.session_number NULLS FIRST, f.session_id
