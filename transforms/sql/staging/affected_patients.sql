-- The patients whose staging rows a set of changed exports can alter (export-format.md: a changed
-- export replaces its earlier version; a later export's row is the session; a superseded session's
-- older version comes back when the newer one disappears). A session key (clinic_id, session_id)
-- is touched when a changed export holds it now ({{ changed }} rows of raw.sessions) or held its
-- version in staging before; every patient that has a staged row or a raw version of a touched key
-- is affected: that covers the old and the new owner of every session that moves.
WITH changed AS (
    SELECT export FROM {{ changed }}
),
touched AS (
    SELECT clinic_id, session_id FROM staging.sessions WHERE export IN (SELECT export FROM changed)
    UNION
    SELECT clinic_id, session_id FROM raw.sessions WHERE export IN (SELECT export FROM changed)
)
SELECT DISTINCT s.clinic_id, s.patient_id
FROM staging.sessions s JOIN touched t USING (clinic_id, session_id)
UNION
SELECT DISTINCT r.clinic_id, r.patient_id
FROM raw.sessions r JOIN touched t USING (clinic_id, session_id)
