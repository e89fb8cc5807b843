-- Function-instrument series per episode and instrument (metrics.md section 6): baseline = the
-- earliest score of the instrument in the episode, final = the latest score at a later session;
-- improvement = baseline - final where a higher score is worse, final - baseline where higher is
-- better (ref.instruments); responder: improvement >= the instrument's MCID, within the section 7
-- tolerance. Episode-level: reads the sessions of the episodes being built.
WITH series AS (
    SELECT episode_key, function_instrument AS instrument,
           arg_min(function_score, session_number) AS baseline,
           min(session_number) AS baseline_session,
           arg_max(function_score, session_number) AS last_score,
           max(session_number) AS last_session
    FROM {{ sessions }}
    WHERE function_instrument IS NOT NULL AND function_score IS NOT NULL
    GROUP BY episode_key, function_instrument
),
finals AS (
    SELECT *, CASE WHEN last_session > baseline_session THEN last_score END AS final FROM series
)
SELECT e.condition_group, e.clinic_id, e.patient_id, s.episode_key, s.instrument, i.higher_is, i.mcid,
       s.baseline, s.final,
       CASE WHEN i.higher_is = 'better' THEN s.final - s.baseline ELSE s.baseline - s.final END AS improvement,
       meets_min(CASE WHEN i.higher_is = 'better' THEN s.final - s.baseline ELSE s.baseline - s.final END,
                 i.mcid, t.tol) AS responder
FROM finals s
JOIN {{ episodes }} e USING (episode_key)
JOIN ref.instruments i USING (instrument)
CROSS JOIN _thresholds t
