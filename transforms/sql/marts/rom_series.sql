-- Range-of-motion series per episode, joint, movement and side (metrics.md section 5): baseline =
-- the `pre` value at the earliest session that has one; final = the `pre` value at the latest later
-- session that has one (null when there is none); immediate gain of a session = post - pre, summed
-- here with its count. When a session holds the same measurement more than once, its values are
-- averaged. Episode-level: reads the sessions and ROM rows of the episodes being built.
WITH per_session AS (
    SELECT r.episode_key, r.joint, r.movement, r.side, s.session_number,
           det_avg(CASE WHEN r.timing = 'pre' THEN r.value END) AS pre,
           det_avg(CASE WHEN r.timing = 'post' THEN r.value END) AS post
    FROM {{ rom }} r
    JOIN {{ sessions }} s ON s.clinic_id = r.clinic_id AND s.session_id = r.session_id
    GROUP BY r.episode_key, r.joint, r.movement, r.side, s.session_number
),
series AS (
    SELECT episode_key, joint, movement, side,
           arg_min(pre, session_number) FILTER (WHERE pre IS NOT NULL) AS baseline,
           min(session_number) FILTER (WHERE pre IS NOT NULL) AS baseline_session,
           arg_max(pre, session_number) FILTER (WHERE pre IS NOT NULL) AS last_pre,
           max(session_number) FILTER (WHERE pre IS NOT NULL) AS last_session,
           count(*) FILTER (WHERE pre IS NOT NULL AND post IS NOT NULL) AS n_immediate,
           det_sum(post - pre) AS sum_immediate_gain
    FROM per_session
    GROUP BY episode_key, joint, movement, side
)
SELECT e.condition_group, e.clinic_id, e.patient_id, s.episode_key, s.joint, s.movement, s.side,
       s.baseline, CASE WHEN s.last_session > s.baseline_session THEN s.last_pre END AS final,
       s.n_immediate, s.sum_immediate_gain
FROM series s
JOIN {{ episodes }} e USING (episode_key)
