-- Every raw version of every session key of the affected patients (latest_sessions then picks each
-- key's latest version; a key whose latest version belongs to an unaffected patient is dropped
-- afterwards, as its staged row did not change).
SELECT r.*
FROM raw.sessions r
WHERE (r.clinic_id, r.session_id) IN (
    SELECT (x.clinic_id, x.session_id) FROM raw.sessions x JOIN {{ patients }} p USING (clinic_id, patient_id)
)
