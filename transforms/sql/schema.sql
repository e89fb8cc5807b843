-- Warehouse schema. Created idempotently at the start of every run.
-- raw.*     : every valid row of every current export version (one row per export row), the store
--             staging is rebuilt from; an export's rows are replaced as a whole.
-- staging.* : the latest version of each session (later exports supersede earlier ones), with
--             condition groups, episodes and session numbers (metrics.md sections 1-2).
-- intermediate.* : episode-level series that aggregate marts are computed from (rebuilt per episode).
-- marts.*   : outcome and audit tables, rebuilt from staging alone.
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS intermediate;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS ref;

CREATE TABLE IF NOT EXISTS ops.exports (
    export VARCHAR PRIMARY KEY,
    seq INTEGER NOT NULL,              -- load order: first successful load, ties by folder name
    checksum VARCHAR NOT NULL,         -- sha256 of the current version's files
    first_loaded_at TIMESTAMP NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS ops.load_log (
    run_id VARCHAR NOT NULL,
    export VARCHAR NOT NULL,
    status VARCHAR NOT NULL,           -- loaded | replaced | unchanged | rejected | ignored (not an export folder)
    reason VARCHAR NOT NULL,
    rows_in BIGINT,
    rows_loaded BIGINT,
    rows_quarantined BIGINT,
    checksum VARCHAR,
    loaded_at TIMESTAMP NOT NULL,
    warnings VARCHAR,
    public_reason VARCHAR,             -- the reason as the published site may show it (no counts, rows, values, paths)
    patients_in BIGINT,                -- distinct (clinic_id, patient_id) of the export's sessions file, when read
    profile VARCHAR,                   -- the mapping profile applied: 'profile.toml' or '_profiles/<file>'; NULL: none
    profile_checksum VARCHAR           -- sha256 of that profile's bytes (part of the export's checksum)
);
-- Warehouses created before these columns existed get them (ignored, loaded, replaced, unchanged, rejected).
ALTER TABLE ops.load_log ADD COLUMN IF NOT EXISTS public_reason VARCHAR;
ALTER TABLE ops.load_log ADD COLUMN IF NOT EXISTS patients_in BIGINT;
ALTER TABLE ops.load_log ADD COLUMN IF NOT EXISTS profile VARCHAR;
ALTER TABLE ops.load_log ADD COLUMN IF NOT EXISTS profile_checksum VARCHAR;

CREATE TABLE IF NOT EXISTS quarantine.rejected_rows (
    export VARCHAR NOT NULL,
    file VARCHAR NOT NULL,             -- sessions | rom
    row_number BIGINT NOT NULL,        -- 1-based among the file's data rows
    session_id VARCHAR,
    rule VARCHAR NOT NULL,
    column_name VARCHAR,
    value VARCHAR,                     -- the value the rule saw (after the export's mapping profile, if any)
    original_value VARCHAR             -- the export's own value when a mapping profile changed it; else NULL
);
ALTER TABLE quarantine.rejected_rows ADD COLUMN IF NOT EXISTS original_value VARCHAR;

-- Where each quarantined row belongs (the share of broken rows per clinic and month): its clinic_id
-- and the month of its session, when readable.
ALTER TABLE quarantine.rejected_rows ADD COLUMN IF NOT EXISTS clinic_id VARCHAR;
ALTER TABLE quarantine.rejected_rows ADD COLUMN IF NOT EXISTS session_month DATE;

-- Every check's result in every run (data quality tracked from run to run): the row rules of each
-- validated export, and the integrity checks of staging and the marts (export NULL).
CREATE TABLE IF NOT EXISTS ops.check_results (
    run_id VARCHAR NOT NULL,
    checked_at TIMESTAMP NOT NULL,
    check_kind VARCHAR NOT NULL,       -- row_rule | integrity
    export VARCHAR,                    -- the export a row rule checked (NULL for integrity checks)
    accepted BOOLEAN,                  -- whether that export version was loaded (row rules)
    rule VARCHAR NOT NULL,             -- <file>.<column>.<rule>, or the integrity rule's name
    rows_checked BIGINT NOT NULL,      -- the denominator
    rows_failing BIGINT NOT NULL       -- the numerator
);

CREATE TABLE IF NOT EXISTS raw.sessions (
    export VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    session_id VARCHAR NOT NULL,
    clinic_id VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    episode_id VARCHAR,
    therapist_id VARCHAR NOT NULL,
    session_date DATE NOT NULL,
    visit_type VARCHAR NOT NULL,
    condition_code VARCHAR NOT NULL,   -- normalised: upper case, dot after the third character
    referral_source VARCHAR,
    payer_type VARCHAR NOT NULL,
    cpt_code VARCHAR NOT NULL,
    units INTEGER NOT NULL,
    duration_min INTEGER NOT NULL,
    techniques VARCHAR,
    pain_pre DOUBLE,
    pain_post DOUBLE,
    function_instrument VARCHAR,
    function_score DOUBLE,
    age_band VARCHAR NOT NULL,
    sex VARCHAR NOT NULL,
    symptom_weeks DOUBLE,
    goals_documented BOOLEAN,
    authorized_visits INTEGER          -- visits authorised for the course of care, as known at this visit
);

CREATE TABLE IF NOT EXISTS raw.rom (
    export VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    session_id VARCHAR NOT NULL,
    clinic_id VARCHAR NOT NULL,
    joint VARCHAR NOT NULL,
    movement VARCHAR NOT NULL,
    side VARCHAR NOT NULL,
    timing VARCHAR NOT NULL,
    value DOUBLE NOT NULL
);

-- One row per pipeline run (`outcomes run`, or a Dagster run that builds tables): what produced the
-- published numbers. Settings, exports with checksums, reference-table checksums and the data period
-- per clinic are JSON text.
CREATE TABLE IF NOT EXISTS ops.runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,           -- running | succeeded | failed
    pipeline_version VARCHAR NOT NULL, -- package version
    git_commit VARCHAR,                -- commit of the pipeline's code, when run from a git checkout
    settings_json VARCHAR NOT NULL,    -- every setting that shapes a number, as in force
    reference_json VARCHAR,            -- sha256 of each reference table in force
    exports_json VARCHAR,              -- the exports in the warehouse: name, checksum, load order
    data_period_json VARCHAR,          -- per clinic: first and last session date in staging
    rows_loaded BIGINT,                -- rows of the current export versions in raw.* (sessions + rom)
    rows_quarantined BIGINT            -- rows of the current export versions held in quarantine
);

-- Incremental runs (what changed since the last build; transforms/changes.py).
CREATE TABLE IF NOT EXISTS ops.build_state (
    key VARCHAR PRIMARY KEY,           -- 'fingerprint': settings, reference tables and code of the last full build
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ops.export_stamps (
    export VARCHAR PRIMARY KEY,        -- an export folder of the inbox (transforms/checksums.py)
    stamp VARCHAR NOT NULL,            -- device, inode, size, mtime and ctime of its files when it was hashed
    checksum VARCHAR NOT NULL          -- its checksum then: reused while the stamp is unchanged
);
CREATE TABLE IF NOT EXISTS ops.staged_exports (
    export VARCHAR PRIMARY KEY,        -- the export versions staging reflects
    checksum VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ops.dirty (
    target VARCHAR NOT NULL,           -- a mart model, a page or a restricted output still to rebuild
    episode_key VARCHAR                -- an episode to rebuild; NULL: rebuild the target in full
);
CREATE TABLE IF NOT EXISTS ops.integrity_by_clinic (
    rule VARCHAR NOT NULL,             -- an integrity rule on staging counted per clinic (transforms/integrity.py)
    clinic_id VARCHAR NOT NULL,
    violations BIGINT NOT NULL,        -- rows or groups of the clinic that break it
    checked BIGINT NOT NULL            -- rows or groups of the clinic it looked at
);
CREATE TABLE IF NOT EXISTS ops.clinic_data_end (
    clinic_id VARCHAR PRIMARY KEY,     -- each clinic's latest session date when the marts were last built
    data_end DATE NOT NULL
);
