-- The warehouse's current state, one row per export ever seen (export contract: loading; metrics.md
-- section 10, ops.load_log). An export is `loaded` when a version of it is in the warehouse
-- (ops.exports) and `rejected` when none is (every version sent so far was refused). Counts are
-- those of the version in force, never one run's delta: a rerun that changes nothing describes the
-- same state. A newer version that was refused while an earlier one stays loaded is flagged. The
-- mapping profile (name and checksum) is the one the version in force was read with, else the one of
-- the refused version.
WITH attempts AS (      -- every load attempt of an export (skipped inbox entries are not exports)
    SELECT * FROM ops.load_log WHERE status <> 'ignored'
),
latest AS (             -- the most recent attempt per export
    SELECT * FROM attempts
    QUALIFY row_number() OVER (PARTITION BY export ORDER BY loaded_at DESC, status) = 1
),
in_force AS (           -- the attempt that loaded the version now in the warehouse
    SELECT a.*
    FROM ops.exports e
    JOIN attempts a ON a.export = e.export AND a.checksum = e.checksum
    WHERE a.status IN ('loaded', 'replaced')
    QUALIFY row_number() OVER (PARTITION BY a.export ORDER BY a.loaded_at DESC) = 1
),
refused AS (            -- the rejection of the latest version, when the latest version was refused
    SELECT a.*
    FROM attempts a
    JOIN latest l ON a.export = l.export AND a.checksum IS NOT DISTINCT FROM l.checksum
    WHERE a.status = 'rejected'
    QUALIFY row_number() OVER (PARTITION BY a.export ORDER BY a.loaded_at DESC) = 1
)
SELECT
    l.export,
    CASE WHEN e.export IS NOT NULL THEN 'loaded' ELSE 'rejected' END AS status,
    CASE WHEN e.export IS NOT NULL THEN f.reason ELSE r.reason END AS reason,
    CASE WHEN e.export IS NOT NULL THEN f.public_reason ELSE r.public_reason END AS public_reason,
    CASE WHEN e.export IS NOT NULL THEN f.rows_in ELSE r.rows_in END AS rows_in,
    CASE WHEN e.export IS NOT NULL THEN f.rows_loaded END AS rows_loaded,
    CASE WHEN e.export IS NOT NULL THEN f.rows_quarantined END AS rows_quarantined,
    CASE WHEN e.export IS NOT NULL THEN f.patients_in ELSE r.patients_in END AS patients_in,
    CASE WHEN e.export IS NOT NULL THEN e.loaded_at ELSE r.loaded_at END AS since,
    l.loaded_at AS last_attempt_at,
    l.status AS last_outcome,
    e.export IS NOT NULL AND r.export IS NOT NULL AS newer_version_rejected,
    CASE WHEN e.export IS NOT NULL THEN r.reason END AS rejected_reason,
    CASE WHEN e.export IS NOT NULL THEN r.public_reason END AS rejected_public_reason,
    CASE WHEN e.export IS NOT NULL THEN f.profile ELSE r.profile END AS profile,
    CASE WHEN e.export IS NOT NULL THEN f.profile_checksum ELSE r.profile_checksum END AS profile_checksum
FROM latest l
LEFT JOIN ops.exports e ON e.export = l.export
LEFT JOIN in_force f ON f.export = l.export
LEFT JOIN refused r ON r.export = l.export
ORDER BY l.export
