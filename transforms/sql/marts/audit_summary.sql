-- marts.audit_summary: per clinic and payer type (the episode's payer, section 8) -- episodes,
-- flagged episodes, sessions, units billed, excess units under the 8-minute rule (each
-- over-billed patient-day once), units at risk, and one count column per flag: the episodes
-- carrying it (metrics.md sections 8 and 10). Extras: n_patients (distinct patients, for
-- publishing) and n_episodes_at_risk (episodes with units at risk).
-- Reads the episode-level tables marts.episode_outcomes and marts.audit_episodes only.
SELECT e.clinic_id, e.payer_type,
       count(*) AS n_episodes,
       count(a.episode_key) AS n_flagged_episodes,
       CAST(sum(e.n_sessions) AS BIGINT) AS n_sessions,
       CAST(coalesce(sum(e.units_billed), 0) AS BIGINT) AS units_billed,
       CAST(coalesce(sum(a.units_over_time), 0) AS BIGINT) AS units_over_time,
       CAST(coalesce(sum(a.units_at_risk), 0) AS BIGINT) AS units_at_risk,
       count(*) FILTER (WHERE list_contains(a.flags, 'UNITS_OVER_TIME')) AS units_over_time_episodes,
       count(*) FILTER (WHERE list_contains(a.flags, 'OVER_AUTHORIZED')) AS over_authorized,
       count(*) FILTER (WHERE list_contains(a.flags, 'NO_REFERRAL')) AS no_referral,
       count(*) FILTER (WHERE list_contains(a.flags, 'NO_EVALUATION')) AS no_evaluation,
       count(*) FILTER (WHERE list_contains(a.flags, 'NO_RECERTIFICATION')) AS no_recertification,
       count(*) FILTER (WHERE list_contains(a.flags, 'CARE_AFTER_GOAL')) AS care_after_goal,
       count(*) FILTER (WHERE list_contains(a.flags, 'NO_GOALS')) AS no_goals,
       count(*) FILTER (WHERE list_contains(a.flags, 'NO_PROGRESS_NOTE')) AS no_progress_note,
       count(*) FILTER (WHERE list_contains(a.flags, 'NO_BASELINE_MEASURE')) AS no_baseline_measure,
       count(*) FILTER (WHERE list_contains(a.flags, 'NO_OUTCOME_MEASURE')) AS no_outcome_measure,
       count(*) FILTER (WHERE list_contains(a.flags, 'PLATEAU')) AS plateau,
       count(DISTINCT e.patient_id) AS n_patients,
       count(*) FILTER (WHERE a.units_at_risk > 0) AS n_episodes_at_risk
FROM marts.episode_outcomes e
LEFT JOIN marts.audit_episodes a USING (episode_key)
GROUP BY e.clinic_id, e.payer_type
ORDER BY e.clinic_id, e.payer_type
