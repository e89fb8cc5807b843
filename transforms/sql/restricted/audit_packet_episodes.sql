-- The flagged episodes of the clinics in $1 (a list) for their audit packets (restricted folder
-- only): one packet per payer type and clinic (group_rank numbers them by payer type, then
-- clinic), its episodes in the order a reviewer works -- by the highest tier of their flags
-- (billing, necessity, documentation, review), then by units at risk, largest first (metrics.md
-- section 8) -- numbered by that order (review_rank); with the pain facts the packet's chart needs
-- (baseline, final, relief session of section 4).
SELECT dense_rank() OVER (ORDER BY a.payer_type, a.clinic_id) AS group_rank,
       row_number() OVER (PARTITION BY a.payer_type, a.clinic_id
                          ORDER BY a.top_tier_rank, a.units_at_risk DESC, a.first_date, a.episode_key) AS review_rank,
       a.episode_key, a.clinic_id, a.payer_type, a.top_tier, a.top_tier_rank, a.flags, a.n_flags, a.units_at_risk,
       a.n_sessions_at_risk, a.units_over_time, a.days_over_time, a.n_sessions, a.units_billed, a.first_date,
       a.last_date, a.status, a.condition_group, e.baseline_pain, e.final_pain, e.relief_evaluable, e.relief_session
FROM marts.audit_episodes a
JOIN {{ episodes }} e USING (episode_key)
WHERE list_contains($1, a.clinic_id)
ORDER BY group_rank, review_rank
