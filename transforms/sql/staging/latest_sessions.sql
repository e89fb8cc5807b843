-- The latest version of every session (export-format.md, "An export"): when two exports hold the
-- same (clinic_id, session_id), the export loaded later (ops.exports.seq: first successful load,
-- ties by folder name) holds the session. Only rows that loaded are in raw.sessions, so a
-- quarantined row never supersedes an earlier version.
SELECT s.* EXCLUDE (row_number)
FROM {{ raw_sessions }} s
JOIN ops.exports e USING (export)
QUALIFY row_number() OVER (PARTITION BY s.clinic_id, s.session_id ORDER BY e.seq DESC) = 1
