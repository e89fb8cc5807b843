-- staging.rom: the valid range-of-motion rows of the staged sessions, taken from the same export
-- that holds the session (export-format.md: a superseded session's ROM rows go with it).
SELECT r.* EXCLUDE (row_number), s.episode_key
FROM {{ raw_rom }} r
JOIN {{ sessions }} s ON s.clinic_id = r.clinic_id AND s.session_id = r.session_id AND s.export = r.export
