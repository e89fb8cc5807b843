-- The result of every row rule for every export validated in a run (issue: data quality tracked
-- from run to run): the rows it checked (the export's rows of the rule's file) and the rows that
-- broke it. Read from the run's scratch database after Great Expectations ran; one row per export
-- and rule, failing or not, so that a rule that stops failing shows as resolved.
WITH files AS (
    SELECT export, 'sessions' AS file, count(*) AS rows_checked FROM sessions_in GROUP BY export
    UNION ALL
    SELECT export, 'rom', count(*) FROM rom_in GROUP BY export
),
failing AS (
    SELECT export, file || '.' || column_name || '.' || rule AS rule, count(DISTINCT row_number) AS rows_failing
    FROM quarantine
    GROUP BY ALL
)
SELECT f.export, r.rule, f.rows_checked, coalesce(x.rows_failing, 0) AS rows_failing
FROM files f
JOIN {{ rules }} r ON r.file = f.file
LEFT JOIN failing x ON x.export = f.export AND x.rule = r.rule
