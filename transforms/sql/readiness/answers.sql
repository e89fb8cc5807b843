-- Readiness (docs/onboarding.md, "What the check says"): for every published answer, the share of
-- visits that carry what it needs and the share of episodes it will rest on, computed on the check's
-- throwaway copy of staging (the sessions that would load, episodes as staging derives them,
-- metrics.md section 2) and of marts.episode_outcomes (sections 3, 4 and 12).
-- Outcome answers rest on every episode: responder rates on pain-evaluable episodes (section 3),
-- sessions to relief on relief-evaluable ones (section 4), immediate change and flares on episodes
-- with a visit scored before and after treatment (sections 3 and 14), ROM gains on a joint, movement
-- and side measured before treatment at two visits (section 5), function outcomes on an instrument
-- scored at two visits (section 6), technique outcomes on pain-evaluable episodes with a primary
-- technique (section 14). An audit flag (section 8) is judged on the episodes of the payer types it
-- applies to (ref.audit_payer_rules, the episode's payer), and an episode carries what it needs when
-- the flag can be decided from recorded data rather than from a field the export never fills.
-- A visit is one day of an episode: the session rows of one episode and date (a visit billed as one
-- row per service is one visit), and it carries what an answer needs when one of its rows does.
-- The answers and their order come from the temporary table _readiness_answers (transforms/readiness.py).
WITH rom_pre AS (
    SELECT DISTINCT clinic_id, session_id FROM staging.rom WHERE timing = 'pre'
),
row_needs AS (
    -- what each session row carries, per answer (one boolean column per answer)
    SELECT s.episode_key, s.session_date,
           s.pain_pre IS NOT NULL AS responder_rates,
           s.pain_pre IS NOT NULL AS sessions_to_relief,
           s.pain_pre IS NOT NULL AND s.pain_post IS NOT NULL AS immediate_change,
           r.session_id IS NOT NULL AS rom_gains,
           s.function_instrument IS NOT NULL AND s.function_score IS NOT NULL AS function_outcomes,
           s.techniques IS NOT NULL AS technique_outcomes,
           list_contains(t.timed_cpt_codes, s.cpt_code) AS units_over_time,
           s.authorized_visits IS NOT NULL AS over_authorized,
           s.referral_source IS NOT NULL AS no_referral,
           s.visit_type IS NOT NULL AS no_evaluation,
           s.visit_type IS NOT NULL AND s.session_date IS NOT NULL AS no_recertification,
           s.pain_pre IS NOT NULL AS care_after_goal,
           s.goals_documented IS NOT NULL AS no_goals,
           s.visit_type IS NOT NULL AS no_progress_note,
           s.pain_pre IS NOT NULL OR s.function_score IS NOT NULL AS no_baseline_measure,
           s.pain_pre IS NOT NULL OR s.function_score IS NOT NULL AS no_outcome_measure,
           s.pain_pre IS NOT NULL AS plateau
    FROM staging.sessions s
    LEFT JOIN rom_pre r ON r.clinic_id = s.clinic_id AND r.session_id = s.session_id
    CROSS JOIN _thresholds t
),
visit_needs AS (
    -- a visit (episode and day) carries a need when one of its rows does
    SELECT episode_key, session_date,
           bool_or(responder_rates) AS responder_rates, bool_or(sessions_to_relief) AS sessions_to_relief,
           bool_or(immediate_change) AS immediate_change, bool_or(rom_gains) AS rom_gains,
           bool_or(function_outcomes) AS function_outcomes, bool_or(technique_outcomes) AS technique_outcomes,
           bool_or(units_over_time) AS units_over_time, bool_or(over_authorized) AS over_authorized,
           bool_or(no_referral) AS no_referral, bool_or(no_evaluation) AS no_evaluation,
           bool_or(no_recertification) AS no_recertification, bool_or(care_after_goal) AS care_after_goal,
           bool_or(no_goals) AS no_goals, bool_or(no_progress_note) AS no_progress_note,
           bool_or(no_baseline_measure) AS no_baseline_measure, bool_or(no_outcome_measure) AS no_outcome_measure,
           bool_or(plateau) AS plateau
    FROM row_needs
    GROUP BY episode_key, session_date
),
per_episode AS (
    -- the row facts an episode-level need is decided from (PLATEAU counts sessions with a pain score)
    SELECT episode_key,
           bool_or(units_over_time) AS any_timed_code,
           bool_or(over_authorized) AS any_authorization,
           bool_or(no_referral) AS any_referral_source,
           bool_or(no_goals) AS any_goals_recorded,
           count(*) FILTER (WHERE plateau) AS n_pain_scored
    FROM row_needs
    GROUP BY episode_key
),
rom_series AS (
    SELECT DISTINCT episode_key FROM intermediate.rom_series WHERE final IS NOT NULL
),
function_series AS (
    SELECT DISTINCT episode_key FROM intermediate.function_series WHERE final IS NOT NULL
),
primary_technique AS (
    SELECT DISTINCT episode_key FROM intermediate.episode_techniques WHERE is_primary
),
episode_needs AS (
    -- what each episode carries, per answer
    SELECT e.episode_key, e.clinic_id, e.patient_id, e.payer_type,
           e.pain_evaluable AS responder_rates,
           e.relief_evaluable AS sessions_to_relief,
           e.n_immediate > 0 AS immediate_change,
           rs.episode_key IS NOT NULL AS rom_gains,
           fs.episode_key IS NOT NULL AS function_outcomes,
           pt.episode_key IS NOT NULL AND e.pain_evaluable AS technique_outcomes,
           p.any_timed_code AS units_over_time,
           p.any_authorization AS over_authorized,
           p.any_referral_source AS no_referral,
           TRUE AS no_evaluation,               -- visit_type is required: session 1's is always known
           TRUE AS no_recertification,          -- visit types and dates are required
           e.relief_evaluable AS care_after_goal,
           p.any_goals_recorded AS no_goals,
           TRUE AS no_progress_note,            -- visit types are required
           e.baseline_pain IS NOT NULL OR e.baseline_function_score IS NOT NULL AS no_baseline_measure,
           e.n_later_measured > 0 AS no_outcome_measure,
           p.n_pain_scored >= t.plateau_min_sessions AS plateau
    FROM marts.episode_outcomes e
    JOIN per_episode p USING (episode_key)
    LEFT JOIN rom_series rs USING (episode_key)
    LEFT JOIN function_series fs USING (episode_key)
    LEFT JOIN primary_technique pt USING (episode_key)
    CROSS JOIN _thresholds t
),
episode_long AS (
    UNPIVOT episode_needs
    ON responder_rates, sessions_to_relief, immediate_change, rom_gains, function_outcomes, technique_outcomes,
       units_over_time, over_authorized, no_referral, no_evaluation, no_recertification, care_after_goal, no_goals,
       no_progress_note, no_baseline_measure, no_outcome_measure, plateau
    INTO NAME answer VALUE carries
),
visit_long AS (
    UNPIVOT (SELECT * EXCLUDE (session_date) FROM visit_needs)
    ON responder_rates, sessions_to_relief, immediate_change, rom_gains, function_outcomes, technique_outcomes,
       units_over_time, over_authorized, no_referral, no_evaluation, no_recertification, care_after_goal, no_goals,
       no_progress_note, no_baseline_measure, no_outcome_measure, plateau
    INTO NAME answer VALUE carries
),
applicable AS (
    -- an outcome answer rests on every episode; a flag on the episodes of the payer types it applies to
    SELECT a.answer, e.episode_key, e.clinic_id, e.patient_id, e.carries
    FROM _readiness_answers a
    JOIN episode_long e ON e.answer = a.answer
    WHERE a.flag IS NULL
       OR EXISTS (SELECT 1 FROM ref.audit_payer_rules r
                  WHERE r.flag = a.flag AND r.payer_type = e.payer_type AND r.applies)
),
episode_counts AS (
    SELECT answer,
           count(*) AS episodes_total,
           count(*) FILTER (WHERE carries) AS episodes_with,
           count(DISTINCT (clinic_id, patient_id)) AS patients_total,
           count(DISTINCT (clinic_id, patient_id)) FILTER (WHERE carries) AS patients_with
    FROM applicable
    GROUP BY answer
),
visit_counts AS (
    SELECT v.answer, count(*) AS visits_total, count(*) FILTER (WHERE v.carries) AS visits_with
    FROM visit_long v
    JOIN applicable a ON a.answer = v.answer AND a.episode_key = v.episode_key
    GROUP BY v.answer
)
SELECT a.position, a.answer,
       coalesce(v.visits_with, 0) AS visits_with, coalesce(v.visits_total, 0) AS visits_total,
       coalesce(e.episodes_with, 0) AS episodes_with, coalesce(e.episodes_total, 0) AS episodes_total,
       coalesce(e.patients_with, 0) AS patients_with, coalesce(e.patients_total, 0) AS patients_total
FROM _readiness_answers a
LEFT JOIN episode_counts e USING (answer)
LEFT JOIN visit_counts v USING (answer)
ORDER BY a.position
