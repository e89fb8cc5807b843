-- marts.audit_flags: one row per raised flag (metrics.md sections 8 and 10), from the rows each
-- flag's model raised into _audit_raised. Which payer types a flag applies to is reference data
-- (ref.audit_payer_rules, shipped with the section 8 defaults and overridable): a raised row is kept
-- only when its flag applies to the payer of its episode (the payer of session 1, section 2), also
-- for session flags. The tier of each flag (billing, necessity, documentation, review) comes from
-- the one catalogue in transforms/audit.py (_audit_catalogue).
SELECT r.episode_key, e.clinic_id, e.payer_type, r.flag, c.tier, r.session_id, r.detail,
       c.tier_rank, c.flag_rank, r.session_number, r.session_date, r.session_payer_type, e.first_date, e.last_date,
       r.evidence_sessions, r.risk_sessions, r.day_excess_units
FROM _audit_raised r
JOIN {{ episodes }} e USING (episode_key)
JOIN _audit_catalogue c ON c.flag = r.flag
JOIN ref.audit_payer_rules p ON p.flag = r.flag AND p.payer_type = e.payer_type
WHERE p.applies
