-- CARE_AFTER_GOAL (necessity tier, episode flag; metrics.md section 8): relief (section 4) is first
-- seen at session k, and at least `care_after_goal_visits` (default 4) treatment sessions come after
-- k and before the first reevaluation after k (or the end of the episode): care continued after the
-- goal was met without re-assessment. An evaluation or discharge after k neither counts nor stops
-- the count. k is marts.episode_outcomes.relief_session, which exists only for relief-evaluable
-- episodes (baseline >= 3): an episode whose relief cannot be judged cannot raise this flag.
-- Source: covered care needs expected improvement toward the plan's goals; once they are met,
-- continuing needs a re-assessment (Medicare Benefit Policy Manual ch. 15 section 220.2).
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
WITH goal AS (
    SELECT episode_key, relief_session AS k, baseline_pain
    FROM {{ episodes }}
    WHERE relief_session IS NOT NULL
),
after_goal AS (
    SELECT s.episode_key, g.k, g.baseline_pain,
           any_value(s.pain_pre) FILTER (WHERE s.session_number = g.k) AS pain_at_k,
           -- the first re-evaluation after k ends the count
           min(s.session_number) FILTER (WHERE s.session_number > g.k AND s.visit_type = 'reevaluation') AS reeval_at
    FROM {{ sessions }} s
    JOIN goal g USING (episode_key)
    GROUP BY s.episode_key, g.k, g.baseline_pain
),
counted AS (
    SELECT a.episode_key, a.k, a.baseline_pain, a.pain_at_k, a.reeval_at,
           CAST(list(s.session_number ORDER BY s.session_number) AS INTEGER[]) AS treatments
    FROM after_goal a
    JOIN {{ sessions }} s ON s.episode_key = a.episode_key AND s.session_number > a.k
         AND (a.reeval_at IS NULL OR s.session_number < a.reeval_at) AND s.visit_type = 'treatment'
    GROUP BY a.episode_key, a.k, a.baseline_pain, a.pain_at_k, a.reeval_at
)
SELECT c.episode_key, 'CARE_AFTER_GOAL' AS flag, CAST(NULL AS VARCHAR) AS session_id,
       CAST(NULL AS INTEGER) AS session_number, CAST(NULL AS DATE) AS session_date,
       CAST(NULL AS VARCHAR) AS session_payer_type,
       CAST(list_prepend(c.k, c.treatments) AS INTEGER[]) AS evidence_sessions,
       c.treatments AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       format('{} treatment visits after relief at visit {} without re-evaluation (visits {}; pain {:g} at visit 1, '
              '{:g} at visit {}){}', len(c.treatments), c.k, array_to_string(c.treatments, ', '), c.baseline_pain,
              c.pain_at_k, c.k,
              CASE WHEN c.reeval_at IS NULL THEN ', up to the end of the episode'
                   ELSE format(', before the re-evaluation at visit {}', c.reeval_at) END) AS detail
FROM counted c
CROSS JOIN _thresholds t
WHERE len(c.treatments) >= t.care_after_goal_visits
