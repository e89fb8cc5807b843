-- Where each quarantined row belongs, for the share of broken rows per clinic and month: the row's
-- clinic_id and the month of its session_date (a ROM row takes its session's date from the same
-- export), both as written and only when readable; never a value of the broken column itself.
WITH session_dates AS (
    SELECT export, clinic_id, session_id, any_value(session_date) AS session_date
    FROM sessions_in GROUP BY export, clinic_id, session_id
)
-- (a file row that a mapping profile split into several rows -- one per service -- is one row here)
SELECT q.export, q.file, q.row_number,
       any_value(coalesce(s.clinic_id, r.clinic_id)) AS clinic_id,
       any_value(CAST(date_trunc('month', TRY_CAST(coalesce(s.session_date, d.session_date) AS DATE)) AS DATE))
           AS session_month
FROM (SELECT DISTINCT export, file, row_number FROM quarantine) q
LEFT JOIN sessions_in s ON q.file = 'sessions' AND s.export = q.export AND s.row_number = q.row_number
LEFT JOIN rom_in r ON q.file = 'rom' AND r.export = q.export AND r.row_number = q.row_number
LEFT JOIN session_dates d ON q.file = 'rom' AND d.export = r.export AND d.clinic_id = r.clinic_id
                          AND d.session_id = r.session_id
GROUP BY q.export, q.file, q.row_number
