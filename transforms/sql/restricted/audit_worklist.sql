-- The audit worklist of one payer type (bound as ?): one row per flagged episode whose payer (that
-- of session 1) is that type, ordered as a reviewer works -- by the highest tier of its flags
-- (billing, necessity, documentation, review), then by units at risk, largest first (metrics.md
-- section 8). Rows name episodes by their pseudonymous episode_key only; the file goes to the
-- restricted folder, never to the published site (section 11).
-- Details are sorted inside lists (not by an ordered aggregate) so that the aggregation can spill.
WITH details AS (
    SELECT f.episode_key,
           array_to_string(list_transform(
               list_sort(list({'rank': f.flag_rank, 'session': coalesce(f.session_number, 0),
                               'text': f.flag || ': ' || f.detail})),
               lambda x: x.text), ' | ') AS details
    FROM marts.audit_flags f
    WHERE f.payer_type = ?
    GROUP BY f.episode_key
)
SELECT a.episode_key, a.clinic_id, a.payer_type, a.top_tier AS tier, array_to_string(a.flags, ';') AS flags,
       a.n_flags, a.units_at_risk, a.units_over_time, a.first_date, a.last_date, a.n_sessions, a.units_billed,
       d.details
FROM marts.audit_episodes a
JOIN details d USING (episode_key)
ORDER BY a.top_tier_rank, a.units_at_risk DESC, a.clinic_id, a.first_date, a.episode_key
