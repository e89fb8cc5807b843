-- marts.audit_episodes: one row per flagged episode (metrics.md section 8) with its flags, its
-- highest tier, its units at risk and its excess units under the 8-minute rule.
-- Units at risk: the units of the sessions a payer could deny for necessity or authorisation,
-- each session counted once however many flags point at it: every session of an episode flagged
-- NO_REFERRAL or NO_EVALUATION; otherwise the sessions flagged OVER_AUTHORIZED or
-- NO_RECERTIFICATION and the treatment sessions that raised CARE_AFTER_GOAL (after relief, before
-- the first re-evaluation after it). Each flag row lists those sessions in risk_sessions.
-- Excess units (units_over_time) are reported apart: a patient-day's excess is counted once, under
-- the episode of that day's flagged timed row with the smallest session_id (text order); when the
-- flag applies to every payer this is the day's timed row with the smallest session_id.
WITH flags AS (
    SELECT f.* FROM marts.audit_flags f JOIN {{ episodes }} e USING (episode_key)
),
flagged AS (
    SELECT episode_key,
           count(*) AS n_flags,
           min(tier_rank) AS top_tier_rank,
           arg_min(tier, tier_rank) AS top_tier,
           -- flags in catalogue order (tier, then the order of section 8)
           list_transform(list_sort(list(DISTINCT {'rank': flag_rank, 'flag': flag})), lambda x: x.flag) AS flags
    FROM flags
    GROUP BY episode_key
),
at_risk AS (
    -- each (episode, session) once, whatever the number of flags that put it at risk
    SELECT DISTINCT f.episode_key, unnest(f.risk_sessions) AS session_number FROM flags f
),
risk_units AS (
    SELECT a.episode_key, CAST(sum(s.units) AS BIGINT) AS units_at_risk, count(*) AS n_sessions_at_risk
    FROM at_risk a
    JOIN {{ sessions }} s USING (episode_key, session_number)
    GROUP BY a.episode_key
),
over_days AS (
    -- one row per over-billed patient-day: the episode its excess is counted under
    SELECT arg_min(f.episode_key, f.session_id) AS episode_key, any_value(f.day_excess_units) AS excess
    FROM flags f
    JOIN {{ sessions }} s USING (episode_key, session_number)
    WHERE f.flag = 'UNITS_OVER_TIME'
    GROUP BY s.clinic_id, s.patient_id, s.session_date
),
over_units AS (
    SELECT episode_key, CAST(sum(excess) AS BIGINT) AS units_over_time, count(*) AS days_over_time
    FROM over_days GROUP BY episode_key
)
SELECT g.episode_key, e.clinic_id, e.payer_type, g.top_tier, CAST(g.top_tier_rank AS INTEGER) AS top_tier_rank,
       g.flags, CAST(g.n_flags AS INTEGER) AS n_flags,
       coalesce(r.units_at_risk, 0) AS units_at_risk, CAST(coalesce(r.n_sessions_at_risk, 0) AS INTEGER)
           AS n_sessions_at_risk,
       coalesce(o.units_over_time, 0) AS units_over_time, CAST(coalesce(o.days_over_time, 0) AS INTEGER)
           AS days_over_time,
       e.n_sessions, e.units_billed, e.first_date, e.last_date, e.status, e.condition_group
FROM flagged g
JOIN {{ episodes }} e USING (episode_key)
LEFT JOIN risk_units r USING (episode_key)
LEFT JOIN over_units o USING (episode_key)
