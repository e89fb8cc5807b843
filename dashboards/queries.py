"""Reading what the pages publish: small aggregate queries over the marts and the ops tables.

- Tables are read only from the allow-list :data:`CONTRACT`, and only the columns listed there:
  never ``SELECT *``, never a patient id, session id or episode key.
- The marts tables read whole are already aggregated (tens to hundreds of rows).
- What the marts do not hold -- the distinct patients behind every published cell, visits per
  episode, flags by clinic and payer -- is aggregated here in SQL; no table of episodes, sessions
  or flags is pulled into pandas. Identifier columns appear only inside ``count(DISTINCT ...)``.
- Every value is bound with ``?``; SQL text is composed only from the constants of this module and
  the project's SQL model files (``transforms/sql/``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb
import pandas as pd

from dashboards.suppression import ALL
from transforms.audit import FLAGS as AUDIT_FLAGS
from transforms.risk_adjustment import CATEGORICAL as CASE_MIX_CATEGORICAL
from transforms.sqlmodels import model_sql

# table -> the columns the dashboards read from it (metrics.md section 10 + docs/architecture.md).
CONTRACT: dict[str, tuple[str, ...]] = {
    "marts.condition_outcomes": (
        "condition_group", "n_patients", "n_episodes", "n_sessions", "n_pain_evaluable", "mean_baseline_pain",
        "mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high", "srm", "responder_rate",
        "responder_ci_low", "responder_ci_high", "substantial_rate", "n_relief_evaluable",
        "median_sessions_to_relief", "median_ci_low", "median_ci_high", "relief_by_4", "relief_by_8",
        "n_with_final_pain", "final_pain_ci_low", "final_pain_ci_high",
    ),
    "marts.condition_outcomes_by_clinic": (),  # filled below: clinic_id + the condition_outcomes columns
    "marts.condition_outcomes_by_therapist": (),  # clinic_id, therapist_id + the same
    "marts.condition_outcomes_by_month": (),  # month + the same
    "marts.condition_outcomes_by_clinic_month": (),  # clinic_id, month + the same
    "marts.relief_curve": (
        "condition_group", "t", "at_risk", "relieved", "censored", "survival", "ci_low", "ci_high",
        "n_patients_at_risk",
    ),
    "marts.rom_gains": (
        "condition_group", "joint", "movement", "n_episodes", "n_patients", "mean_baseline", "mean_final",
        "mean_gain", "gain_ci_low", "gain_ci_high", "pct_of_normal_final", "normal", "unit",
    ),
    "marts.function_outcomes": (
        "condition_group", "instrument", "n_episodes", "n_patients", "mean_improvement", "improvement_ci_low",
        "improvement_ci_high", "responder_rate", "mcid",
    ),
    "marts.risk_adjusted": (
        "level", "unit_id", "clinic_id", "n", "n_patients", "observed_mean", "expected_mean", "o_minus_e",
        "ci_low", "ci_high",
    ),
    "marts.risk_adjusted_responders": (
        "level", "unit_id", "clinic_id", "n", "n_patients", "observed_rate", "expected_rate", "o_minus_e", "o_to_e",
        "ci_low", "ci_high",
    ),
    # data_end (a clinic's latest date of service) is left out: the site shows no date of service
    "marts.follow_up": (
        "condition_group", "clinic_id", "n_episodes", "n_discharged", "n_active", "n_lost", "lost_rate", "lost_ci_low",
        "lost_ci_high", "n_patients", "n_ended", "n_patients_ended",
    ),
    "marts.responder_sensitivity": (
        "condition_group", "n_eligible", "n_evaluable", "complete_case_rate", "complete_case_ci_low",
        "complete_case_ci_high", "worst_case_rate", "best_case_rate", "ipw_rate", "ipw_ci_low", "ipw_ci_high",
        "ipw_mean_change", "max_weight", "effective_n", "n_patients", "n_patients_evaluable",
    ),
    "marts.technique_outcomes": (
        "condition_group", "technique", "n_patients", "n_episodes", "n_pain_evaluable", "n_patients_pain_evaluable",
        "responder_rate", "responder_ci_low", "responder_ci_high", "mean_pain_change", "mean_pain_change_ci_low",
        "mean_pain_change_ci_high", "adjusted_difference", "adjusted_ci_low", "adjusted_ci_high",
    ),
    "marts.flares": (
        "condition_group", "technique", "n_sessions_scored", "n_flares", "flare_rate", "flare_ci_low", "flare_ci_high",
        "n_patients",
    ),
    "marts.risk_calibration": ("model", "decile", "n", "mean_expected", "mean_observed", "n_patients"),
    "marts.audit_summary": (
        "clinic_id", "payer_type", "n_episodes", "n_flagged_episodes", "n_sessions", "units_billed",
        "units_over_time", "units_at_risk", *AUDIT_FLAGS.values(), "n_patients", "n_episodes_at_risk",
    ),
    # read only through the aggregate queries below
    "marts.episode_outcomes": (
        "clinic_id", "therapist_id", "start_month", "condition_group", "payer_type", "n_sessions", "first_date",
        "last_date", "baseline_pain", "final_pain", "relief_evaluable", "pain_evaluable", "status", "n_immediate",
        "units_billed", "age_band", "sex", "symptom_weeks",
    ),
    "marts.audit_flags": ("clinic_id", "payer_type", "flag", "tier"),
    "marts.audit_episodes": ("clinic_id", "payer_type", "units_at_risk", "units_over_time"),
    "ref.audit_payer_rules": ("flag", "payer_type", "applies"),
    "marts.model_coefficients": (
        "model", "position", "term", "estimate", "std_error", "ci_low", "ci_high", "n_obs", "r_squared", "residual_sd",
        "method", "note",
    ),
    "ops.load_log": (
        "export", "status", "public_reason", "rows_in", "rows_loaded", "rows_quarantined", "patients_in", "loaded_at",
    ),
    "quarantine.rejected_rows": ("export", "file", "rule", "column_name"),
}
_OUTCOME_COLUMNS = CONTRACT["marts.condition_outcomes"]
CONTRACT["marts.condition_outcomes_by_clinic"] = ("clinic_id", *_OUTCOME_COLUMNS)
CONTRACT["marts.condition_outcomes_by_therapist"] = ("clinic_id", "therapist_id", *_OUTCOME_COLUMNS)
CONTRACT["marts.condition_outcomes_by_month"] = ("month", *_OUTCOME_COLUMNS)
CONTRACT["marts.condition_outcomes_by_clinic_month"] = ("clinic_id", "month", *_OUTCOME_COLUMNS)
OUTCOME_TABLES = frozenset(t for t in CONTRACT if t.startswith("marts.condition_outcomes"))
# Cumulative relief at the run's report times: one column per time (relief_by_4 and _8 always).
RELIEF_BY = re.compile(r"^relief_by_[0-9]+$")

# Row-level tables: read only through the aggregate queries of this module, never pulled whole.
AGGREGATE_ONLY = frozenset({
    "marts.episode_outcomes", "marts.audit_flags", "marts.audit_episodes", "quarantine.rejected_rows", "ops.load_log",
})
IDENTIFIER_COLUMNS = frozenset({"patient_id", "session_id", "episode_key", "episode_id", "row_number", "value",
                                "original_value"})
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def read_table(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Columns of an already aggregated table of the allow-list (all contract columns by default), sorted."""
    if table not in CONTRACT or table in AGGREGATE_ONLY:
        raise ValueError(f"{table} is not an aggregated table the dashboards may read whole")
    wanted = list(columns) if columns is not None else list(CONTRACT[table])
    if columns is None and table in OUTCOME_TABLES:
        wanted += [c for c in relief_columns(con, table) if c not in wanted]

    def allowed(c: str) -> bool:
        return c in CONTRACT[table] or (table in OUTCOME_TABLES and bool(RELIEF_BY.match(c)))

    bad = [c for c in wanted if not allowed(c) or c in IDENTIFIER_COLUMNS or not _NAME.match(c)]
    if bad:
        raise ValueError(f"{table}: column(s) {bad} are not published")
    # ORDER BY ALL: the same rows always come in the same order (a rebuilt site is byte-identical even
    # when the warehouse connection does not preserve insertion order)
    return con.execute(f"SELECT {', '.join(wanted)} FROM {table} ORDER BY ALL").df()


def relief_columns(con: duckdb.DuckDBPyConnection, table: str = "marts.condition_outcomes") -> list[str]:
    """The ``relief_by_<t>`` columns of an outcomes table, by ascending t (one per report time of the run)."""
    schema, name = table.split(".")
    names = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [schema, name]).fetchall() if RELIEF_BY.match(r[0])]
    return sorted(names, key=lambda c: int(c.rsplit("_", 1)[1]))


def missing_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Contract columns (or tables) the warehouse lacks, per table: empty when the marts fit the dashboards."""
    out: dict[str, list[str]] = {}
    for table, columns in CONTRACT.items():
        schema, name = table.split(".")
        have = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()}
        lacking = [c for c in columns if c not in have] if have else ["(table missing)"]
        if lacking:
            out[table] = lacking
    return out


# --- the distinct patients behind every cell -------------------------------------------------------

EPISODE_KEYS = ("clinic_id", "therapist_id", "month", "condition_group")

# The cube's cells are rows of intermediate.condition_long (the condition outcomes of every unit, kept so that a
# monthly run updates only the units that changed): the 'condition' and 'clinic' breakdowns per condition group,
# and the margins of the therapist, month and clinic-month ones. An empty warehouse still has its grand total.
_EPISODE_SUPPORT_SQL = """
SELECT CASE WHEN breakdown IN ('clinic', 'therapist', 'clinic_month') THEN unit_clinic_id ELSE $all END AS clinic_id,
       CASE WHEN breakdown = 'therapist' THEN unit_therapist_id ELSE $all END AS therapist_id,
       CASE WHEN breakdown IN ('month', 'clinic_month') THEN strftime(unit_month, '%Y-%m') ELSE $all END AS month,
       condition_group,
       n_patients AS patients,
       n_patients_pain_evaluable AS pain_patients,
       n_patients_relief_evaluable AS relief_patients
FROM intermediate.condition_long
WHERE breakdown IN ('condition', 'clinic') OR condition_group = $all
UNION ALL
SELECT $all, $all, $all, $all, 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM intermediate.condition_long)
ORDER BY 1, 2, 3, 4
"""


def episode_support(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Distinct patients per published cell of the outcome tables: overall, by condition, clinic,
    clinic and condition, clinic and therapist, month of episode start, and clinic and month
    (``all`` marks a margin).

    Columns: :data:`EPISODE_KEYS`, ``patients`` (all episodes), ``pain_patients`` (pain-evaluable
    episodes) and ``relief_patients`` (relief-evaluable episodes). Patients are (clinic, patient) pairs.
    """
    return con.execute(_EPISODE_SUPPORT_SQL, {"all": ALL}).df()


# --- payer page aggregates ---------------------------------------------------------------------------

_VISITS_SQL = """
SELECT CASE WHEN grouping(payer_type) = 1 THEN ? ELSE payer_type END AS payer_type,
       CASE WHEN grouping(bin) = 1 THEN -1 ELSE bin END AS bin,
       count(*) AS n_episodes,
       count(DISTINCT (clinic_id, patient_id)) AS patients
FROM (SELECT payer_type, clinic_id, patient_id,
             CAST(len(list_filter(?::INTEGER[], lambda e: e < n_sessions)) AS INTEGER) AS bin
      FROM marts.episode_outcomes)
GROUP BY GROUPING SETS ((), (payer_type), (bin), (payer_type, bin))
ORDER BY 1, 2
"""


def visits_per_episode(con: duckdb.DuckDBPyConnection, upper_edges: Sequence[int]) -> pd.DataFrame:
    """Episodes and distinct patients per bin of visits per episode, by payer type and overall.

    Bin ``i`` holds episodes with ``upper_edges[i-1] < n_sessions <= upper_edges[i]`` (the last bin,
    ``len(upper_edges)``, everything above the last edge); ``bin = -1`` and ``payer_type = 'all'``
    mark the margins.
    """
    return con.execute(_VISITS_SQL, [ALL, [int(e) for e in upper_edges]]).df()


# Distinct counts are taken by de-duplicating in steps (flag and episode, then patient) with plain
# GROUP BYs, which DuckDB can spill to disk; count(DISTINCT ...) under GROUPING SETS cannot, and ran
# out of memory on ten million sessions.
_FLAGS_SQL = """
WITH flag_episodes AS (      -- one row per flag and flagged episode, per tier and episode, and one 'ANY' row
    SELECT flag, episode_key, clinic_id, payer_type, count(*) AS n_flags
    FROM marts.audit_flags GROUP BY flag, episode_key, clinic_id, payer_type
    UNION ALL
    SELECT ? || tier, episode_key, clinic_id, payer_type, 1
    FROM marts.audit_flags GROUP BY tier, episode_key, clinic_id, payer_type
    UNION ALL
    SELECT ?, episode_key, clinic_id, payer_type, 1
    FROM marts.audit_flags GROUP BY episode_key, clinic_id, payer_type
),
by_payer AS (                -- one row per flag, clinic, payer type and patient
    SELECT fe.flag, fe.clinic_id, fe.payer_type, e.patient_id,
           sum(fe.n_flags) AS n_flags, count(*) AS n_episodes
    FROM flag_episodes fe JOIN marts.episode_outcomes e USING (episode_key)
    GROUP BY fe.flag, fe.clinic_id, fe.payer_type, e.patient_id
),
by_patient AS (              -- one row per flag, clinic and patient (a patient may have several payers)
    SELECT flag, clinic_id, patient_id, sum(n_flags) AS n_flags, sum(n_episodes) AS n_episodes
    FROM by_payer GROUP BY flag, clinic_id, patient_id
)
SELECT flag, ? AS clinic_id, ? AS payer_type, CAST(sum(n_flags) AS BIGINT) AS n_flags,
       CAST(sum(n_episodes) AS BIGINT) AS n_episodes, count(*) AS patients
FROM by_patient GROUP BY flag
UNION ALL
SELECT flag, clinic_id, ?, CAST(sum(n_flags) AS BIGINT), CAST(sum(n_episodes) AS BIGINT), count(*)
FROM by_patient GROUP BY flag, clinic_id
UNION ALL
SELECT flag, ?, payer_type, CAST(sum(n_flags) AS BIGINT), CAST(sum(n_episodes) AS BIGINT), count(*)
FROM by_payer GROUP BY flag, payer_type
ORDER BY 1, 2, 3
"""
ANY_FLAG = "ANY"
TIER_PREFIX = "tier:"


def flag_cells(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Raised flags, flagged episodes and distinct patients per flag, by clinic and by payer type.

    ``flag = 'ANY'`` counts episodes with at least one flag (its ``n_flags`` is that episode count),
    ``flag = 'tier:<tier>'`` episodes with at least one flag of that tier; ``all`` in ``clinic_id`` /
    ``payer_type`` marks the margins.
    """
    return con.execute(_FLAGS_SQL, [TIER_PREFIX, ANY_FLAG, ALL, ALL, ALL, ALL]).df()


# Units per clinic and payer type. Distinct patients are counted in steps (payer and patient, then clinic and
# patient) with plain GROUP BYs, which spill to disk (see _FLAGS_SQL).
_UNITS_SQL = """
WITH per_payer AS (          -- one row per clinic, payer type and patient
    SELECT e.clinic_id, e.payer_type, e.patient_id, count(*) AS n_episodes, count(a.clinic_id) AS n_flagged,
           sum(e.units_billed) AS units_billed, coalesce(sum(a.units_at_risk), 0) AS units_at_risk,
           coalesce(sum(a.units_over_time), 0) AS units_over_time
    FROM marts.episode_outcomes e
    LEFT JOIN marts.audit_episodes a USING (episode_key)
    GROUP BY e.clinic_id, e.payer_type, e.patient_id
),
per_patient AS (             -- one row per clinic and patient (a patient may have several payer types)
    SELECT clinic_id, patient_id, sum(n_episodes) AS n_episodes, sum(n_flagged) AS n_flagged,
           sum(units_billed) AS units_billed, sum(units_at_risk) AS units_at_risk,
           sum(units_over_time) AS units_over_time
    FROM per_payer GROUP BY clinic_id, patient_id
),
cells AS (
    SELECT ? AS clinic_id, ? AS payer_type, * EXCLUDE (clinic_id, patient_id) FROM per_patient
    UNION ALL SELECT clinic_id, ?, * EXCLUDE (clinic_id, patient_id) FROM per_patient
    UNION ALL SELECT ?, payer_type, * EXCLUDE (clinic_id, payer_type, patient_id) FROM per_payer
    UNION ALL SELECT clinic_id, payer_type, * EXCLUDE (clinic_id, payer_type, patient_id) FROM per_payer
)
SELECT clinic_id, payer_type,
       CAST(sum(n_episodes) AS BIGINT) AS n_episodes, CAST(sum(n_flagged) AS BIGINT) AS n_flagged,
       CAST(sum(units_billed) AS BIGINT) AS units_billed, CAST(sum(units_at_risk) AS BIGINT) AS units_at_risk,
       CAST(sum(units_over_time) AS BIGINT) AS units_over_time,
       count(*) AS patients, count(*) FILTER (WHERE n_flagged > 0) AS flagged_patients,
       count(*) FILTER (WHERE units_at_risk > 0) AS risk_patients,
       count(*) FILTER (WHERE units_over_time > 0) AS excess_patients
FROM cells
GROUP BY clinic_id, payer_type
ORDER BY clinic_id, payer_type
"""


def units_cells(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per clinic and payer type (``all`` marks the margins): episodes, flagged episodes, units billed, units at
    risk and excess units under the 8-minute rule, with the distinct patients behind each (all patients,
    flagged ones, ones with units at risk, ones with excess units). Patients are (clinic, patient) pairs."""
    return con.execute(_UNITS_SQL, [ALL, ALL, ALL, ALL]).df()


_PAIN_DOCUMENTATION_SQL = """
WITH per_patient AS (
    SELECT clinic_id, patient_id, sum(n_sessions) AS n_sessions, sum(n_immediate) AS n_scored
    FROM marts.episode_outcomes GROUP BY clinic_id, patient_id
)
SELECT ? AS clinic_id, CAST(sum(n_sessions) AS BIGINT) AS n_sessions, CAST(sum(n_scored) AS BIGINT) AS n_scored,
       count(*) AS patients
FROM per_patient
UNION ALL
SELECT clinic_id, CAST(sum(n_sessions) AS BIGINT), CAST(sum(n_scored) AS BIGINT), count(*)
FROM per_patient GROUP BY clinic_id
ORDER BY 1
"""


def pain_documentation(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Pain documentation completeness per clinic and overall (``all``): sessions, sessions with both pain
    scores (before and after treatment) and distinct patients (metrics.md section 8)."""
    return con.execute(_PAIN_DOCUMENTATION_SQL, [ALL]).df()


def payer_rules(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], bool]:
    """The flag x payer type applicability table the run used (``ref.audit_payer_rules``)."""
    frame = read_table(con, "ref.audit_payer_rules")
    return {(str(f), str(p)): bool(a) for f, p, a in zip(frame["flag"], frame["payer_type"], frame["applies"],
                                                         strict=True)}


def residual_sd(con: duckdb.DuckDBPyConnection) -> float | None:
    """The risk model's residual standard deviation (for the funnel limits), if the model was fitted."""
    row = con.execute("SELECT max(residual_sd) FROM marts.model_coefficients").fetchall()
    value = row[0][0] if row else None
    return float(value) if value is not None else None


# --- case-mix models: the patients behind each term ----------------------------------------------------

WEEKS_MISSING = "symptom_weeks_missing"


def _case_mix_support_sql() -> str:
    """One SELECT per categorical covariate of the case-mix models (names from the model's own allow-list)."""
    columns = [c for c in CASE_MIX_CATEGORICAL if _NAME.match(c) and c in CONTRACT["marts.episode_outcomes"]]
    if len(columns) != len(CASE_MIX_CATEGORICAL):
        raise ValueError(f"case-mix covariates {CASE_MIX_CATEGORICAL} are not all published columns")
    patients = "count(DISTINCT (clinic_id, patient_id))"
    parts = [f"SELECT '{c}' AS covariate, CAST({c} AS VARCHAR) AS level, {patients} AS patients FROM evaluable "
             "GROUP BY 2" for c in columns]
    parts += [
        f"SELECT '{WEEKS_MISSING}', '1', {patients} FILTER (WHERE symptom_weeks IS NULL) FROM evaluable",
        f"SELECT '{WEEKS_MISSING}', '0', {patients} FILTER (WHERE symptom_weeks IS NOT NULL) FROM evaluable",
        f"SELECT ?, ?, {patients} FROM evaluable",
    ]
    return (f"WITH evaluable AS (SELECT clinic_id, patient_id, symptom_weeks, {', '.join(columns)} "
            "FROM marts.episode_outcomes WHERE pain_evaluable)\n" + "\nUNION ALL\n".join(parts) + "\nORDER BY 1, 2")


def case_mix_support(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Distinct patients with a pain-evaluable episode (the episodes the case-mix models are fitted on) per level
    of each categorical covariate, with and without symptom weeks (``symptom_weeks_missing`` ``1`` / ``0``), and
    overall (``all``, ``all``). Columns ``covariate``, ``level``, ``patients``; patients are (clinic, patient)
    pairs. Levels are compared as text, as the models name them (``sex=F``)."""
    return con.execute(_case_mix_support_sql(), [ALL, ALL]).df()


# --- site facts and data quality -------------------------------------------------------------------------


def data_period(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """First and last month of care in the marts (months only: service dates are identifiers)."""
    row = con.execute(
        "SELECT strftime(min(first_date), '%b %Y'), strftime(max(last_date), '%b %Y') FROM marts.episode_outcomes"
    ).fetchall()[0]
    return None if row[0] is None else (row[0], row[1])


def clinic_data_months(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each clinic's last month with data (``YYYY-MM``): months starting then are still in progress."""
    return dict(con.execute(
        "SELECT clinic_id, strftime(max(last_date), '%Y-%m') FROM marts.episode_outcomes GROUP BY 1 ORDER BY 1"
    ).fetchall())


# Shown for a load-log row written before public reasons were recorded: its full reason may name rows.
NO_PUBLIC_REASON = "details in the restricted load log"


def load_status(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The warehouse's current state: one row per export ever seen, as the site may show it.

    ``status`` is ``loaded`` (a version of the export is in the warehouse) or ``rejected`` (none is);
    ``rows_in``, ``rows_loaded``, ``rows_quarantined`` and ``patients_in`` (distinct patients, the
    support for suppression) are those of the version in force, so a rerun that changes nothing
    shows the same state; ``newer_version_rejected`` marks a refused correction of a loaded export,
    with its public ``rejected_reason``; ``profile`` and ``profile_checksum`` name the mapping profile the export
    was read with (NULL: none). Only public reasons are read (``transforms/sql/ops/export_status.sql``).
    """
    return con.execute(
        "SELECT export, status, coalesce(public_reason, ?) AS reason, rows_in, rows_loaded, rows_quarantined, "
        "patients_in, since AS loaded_at, last_attempt_at, newer_version_rejected, profile, profile_checksum, "
        "CASE WHEN newer_version_rejected THEN coalesce(rejected_public_reason, ?) END AS rejected_reason "
        f"FROM ({model_sql('ops/export_status')}) ORDER BY export",
        [NO_PUBLIC_REASON, NO_PUBLIC_REASON],
    ).df()


def load_history(con: duckdb.DuckDBPyConnection, limit: int = 200) -> pd.DataFrame:
    """The most recent rows of the load log, newest first, with public reasons only.

    ``current_version`` marks rows about the version of the export now in the warehouse (their
    counts are suppressed together with that export's).
    """
    return con.execute(
        "SELECT l.loaded_at, l.export, l.status, coalesce(l.public_reason, ?) AS reason, l.rows_in, l.rows_loaded, "
        "l.rows_quarantined, l.patients_in, coalesce(l.checksum = e.checksum, false) AS current_version "
        "FROM ops.load_log l LEFT JOIN ops.exports e ON e.export = l.export "
        "ORDER BY l.loaded_at DESC, l.export, l.status LIMIT ?",
        [NO_PUBLIC_REASON, int(limit)],
    ).df()


def skipped_entries(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Inbox entries the latest run skipped (not export folders), with the reason: ``entry``, ``reason``."""
    return con.execute(
        "SELECT export AS entry, coalesce(public_reason, reason) AS reason FROM ops.load_log "
        "WHERE status = 'ignored' AND run_id = (SELECT run_id FROM ops.load_log ORDER BY loaded_at DESC LIMIT 1) "
        "ORDER BY entry"
    ).df()


def quarantine_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Quarantined rows by export, file, column and rule: counts of rows of the files only, never their values
    (the rows a mapping profile split one visit into count once)."""
    return con.execute(
        "SELECT export, file, column_name, rule, count(DISTINCT row_number) AS n_rows FROM quarantine.rejected_rows "
        "GROUP BY export, file, column_name, rule ORDER BY export, file, column_name, rule"
    ).df()


# --- data quality over runs --------------------------------------------------------------------------


def rule_history(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per run that validated exports, per export and row rule: rows failing in the warehouse's state after
    the run and the change since the previous run (new, resolved, persisting, passing); see
    :mod:`transforms.quality_history`. Counts of file rows per export, never a row or a value."""
    from transforms.quality_history import rule_changes

    return rule_changes(con).df()


_BROKEN_BY_MONTH_SQL = """
WITH broken AS (
    SELECT clinic_id, session_month AS month, count(*) AS rows_broken
    FROM (SELECT DISTINCT export, row_number, clinic_id, session_month FROM quarantine.rejected_rows
          WHERE file = 'sessions' AND clinic_id IS NOT NULL AND session_month IS NOT NULL)
    GROUP BY ALL
),
loaded AS (
    SELECT clinic_id, CAST(date_trunc('month', session_date) AS DATE) AS month, count(*) AS rows_loaded,
           count(DISTINCT patient_id) AS patients
    FROM raw.sessions GROUP BY ALL
)
SELECT coalesce(l.clinic_id, b.clinic_id) AS clinic_id, strftime(coalesce(l.month, b.month), '%Y-%m') AS month,
       coalesce(l.rows_loaded, 0) AS rows_loaded, coalesce(b.rows_broken, 0) AS rows_broken,
       coalesce(l.patients, 0) AS patients
FROM loaded l FULL JOIN broken b USING (clinic_id, month)
ORDER BY 1, 2
"""


def broken_rows_by_clinic_month(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per clinic and month of session: session rows loaded and quarantined for the export versions in the
    warehouse, and the distinct patients of the loaded rows (the support of the cell)."""
    return con.execute(_BROKEN_BY_MONTH_SQL).df()
