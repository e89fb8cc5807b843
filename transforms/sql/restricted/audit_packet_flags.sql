-- The flag rows of the flagged episodes of one payer type (bound as ?) for its audit packet
-- (restricted folder only): each with its detail in words, the visits that are its evidence and the
-- visits whose units it puts at risk (metrics.md section 8).
SELECT episode_key, flag, tier, session_id, session_number, session_date, detail, evidence_sessions, risk_sessions,
       day_excess_units
FROM marts.audit_flags
WHERE payer_type = ?
ORDER BY episode_key, flag_rank, session_number NULLS FIRST, session_id
