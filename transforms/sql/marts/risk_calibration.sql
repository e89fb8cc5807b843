-- marts.risk_calibration: calibration of the case-mix models (docs/metrics.md). Pain-evaluable
-- episodes are sorted by their expected outcome (ties by episode key) and cut into 10 groups of equal
-- size (the first groups one larger when the count does not divide; fewer groups under 10 episodes);
-- per group: episodes, mean expected and mean observed. A well-calibrated model has mean observed close
-- to mean expected in every decile, not only on average.
-- model 'pain_change': expected vs observed sustained change; 'responder': expected probability vs
-- observed responder share.
WITH ranked AS (
    SELECT 'pain_change' AS model, episode_key, patient_id, clinic_id,
           expected_change AS expected, observed_change AS observed,
           ntile(10) OVER (ORDER BY expected_change, episode_key) AS decile
    FROM {{ case_mix }}
    WHERE expected_change IS NOT NULL
    UNION ALL
    SELECT 'responder', episode_key, patient_id, clinic_id,
           expected_responder, CASE WHEN responder THEN 1.0::DOUBLE ELSE 0.0::DOUBLE END,
           ntile(10) OVER (ORDER BY expected_responder, episode_key)
    FROM {{ case_mix }}
    WHERE expected_responder IS NOT NULL
)
SELECT model, CAST(decile AS INTEGER) AS decile, count(*) AS n,
       det_avg(expected) AS mean_expected, det_avg(observed) AS mean_observed,
       min(expected) AS min_expected, max(expected) AS max_expected,
       count(DISTINCT (clinic_id, patient_id)) AS n_patients
FROM ranked
GROUP BY model, decile
ORDER BY model, decile
