-- Row-rule history (data quality from run to run): for each run that validated exports, the state of
-- the warehouse after it -- for every export, its latest accepted validation at or before the run --
-- and, per (export, rule), whether the rule fails in that state. Then, comparing each run with the
-- previous one: new (fails now, not before), resolved (failed before, not now), persisting (both).
-- One row per run and (export, rule) present in either state; `run_order` 1 is the first run.
WITH runs AS (
    SELECT run_id, min(checked_at) AS checked_at,
           row_number() OVER (ORDER BY min(checked_at), run_id) AS run_order
    FROM ops.check_results WHERE check_kind = 'row_rule'
    GROUP BY run_id
),
validations AS (
    SELECT c.export, c.rule, c.rows_checked, c.rows_failing, r.run_order
    FROM ops.check_results c JOIN runs r USING (run_id)
    WHERE c.check_kind = 'row_rule' AND c.accepted
),
state AS (
    -- after run n: each export's latest accepted validation at or before n
    SELECT r.run_order, v.export, v.rule, v.rows_checked, v.rows_failing
    FROM runs r
    JOIN validations v ON v.run_order <= r.run_order
    QUALIFY v.run_order = max(v.run_order) OVER (PARTITION BY r.run_order, v.export)
),
pairs AS (
    SELECT coalesce(now.run_order, before.run_order + 1) AS run_order,
           coalesce(now.export, before.export) AS export, coalesce(now.rule, before.rule) AS rule,
           coalesce(now.rows_checked, 0) AS rows_checked, coalesce(now.rows_failing, 0) AS rows_failing,
           coalesce(before.rows_failing, 0) AS rows_failing_before
    FROM state now
    FULL JOIN state before
      ON before.run_order = now.run_order - 1 AND before.export = now.export AND before.rule = now.rule
)
SELECT p.run_order, r.run_id, r.checked_at, p.export, p.rule, p.rows_checked, p.rows_failing,
       CASE WHEN p.rows_failing > 0 AND p.rows_failing_before = 0 THEN 'new'
            WHEN p.rows_failing = 0 AND p.rows_failing_before > 0 THEN 'resolved'
            WHEN p.rows_failing > 0 AND p.rows_failing_before > 0 THEN 'persisting'
            ELSE 'passing' END AS change
FROM pairs p
JOIN runs r USING (run_order)
ORDER BY p.run_order, p.rule, p.export
