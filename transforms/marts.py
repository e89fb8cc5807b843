"""The marts: which models build which tables, in which order (metrics.md sections 3-14, 10).

Each :class:`MartModel` builds one or more tables from staging, reference tables and the marts
before it, and names the tables it reads, so that Dagster can show real lineage (one asset per
model, ``pipelines/assets.py``) and :func:`build_marts` can build everything in dependency order.

- ``episode_outcomes``  per episode: pain, responder, relief, follow-up status (sections 3, 4, 12)
- ``condition_outcomes`` per condition and ``all``, overall and by clinic, therapist and month, and
  the Kaplan-Meier relief curve (sections 3, 4, 7)
- ``rom_gains``          ROM series per episode, gains per condition, joint and movement (section 5)
- ``function_outcomes``  function series per episode, outcomes per condition and instrument (section 6)
- ``audit``              payer audit flags, flagged episodes (units at risk) and their summary (section 8)
- ``risk_adjustment``    case-mix models (pain change, responder), observed vs expected per clinic and
  therapist, calibration
- ``follow_up``          follow-up status counts and lost rate per condition and clinic (section 12)
- ``responder_sensitivity`` worst/best case and inverse-probability-weighted responder rates (section 13)
- ``technique_outcomes`` primary techniques per episode, outcomes per condition and technique (section 14)
- ``flares``             post-treatment flares per episode, condition and technique (section 14)

Every model runs in its own transaction on a connection prepared by :func:`prepare_connection`
(shared macros, ``_thresholds``, ``_t_quantiles``, reference tables). Intermediate tables with one
row per session or episode are ordinary (disk-backed, spillable) tables; only small ones are TEMP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from transforms import audit, changes, function, rom
from transforms.condition_outcomes import (
    BREAKDOWNS,
    KM_TABLE,
    LONG_TABLE,
    UNITS_TABLE,
    build_condition_outcomes,
    build_outcome_units,
    update_condition_outcomes,
)
from transforms.config import Settings
from transforms.episode_outcomes import TABLE as EPISODES
from transforms.episode_outcomes import build_episode_outcomes
from transforms.flares import EPISODE_TABLE as EPISODE_FLARES
from transforms.flares import TABLE as FLARES
from transforms.flares import build_episode_flares, build_flares
from transforms.follow_up import TABLE as FOLLOW_UP
from transforms.follow_up import build_follow_up
from transforms.intervals import install_interval_sql, remove_interval_sql
from transforms.reference import ensure_reference_tables
from transforms.relief import CURVE_TABLE
from transforms.risk_adjustment import (
    CALIBRATION_TABLE,
    CASE_MIX_TABLE,
    COEFFICIENTS_TABLE,
    RESPONDER_TABLE,
    RISK_TABLE,
    build_risk_adjustment,
)
from transforms.sensitivity import COEFFICIENTS_TABLE as IPW_COEFFICIENTS
from transforms.sensitivity import EPISODE_TABLE as EPISODE_IPW
from transforms.sensitivity import TABLE as SENSITIVITY
from transforms.sensitivity import build_responder_sensitivity
from transforms.sqlmodels import FULL_SOURCES, SCOPED_SOURCES, Sources, remove_macros
from transforms.staging import RESTAGED_EPISODES, RESTAGED_ROM, RESTAGED_SESSIONS
from transforms.techniques import EPISODE_TABLE as EPISODE_TECHNIQUES
from transforms.techniques import TABLE as TECHNIQUES
from transforms.techniques import build_episode_techniques, build_technique_outcomes
from transforms.thresholds import install_thresholds, remove_thresholds

STAGING_SESSIONS = "staging.sessions"
STAGING_ROM = "staging.rom"

EpisodeBuild = Callable[[duckdb.DuckDBPyConnection, Sources, str], int]
AggregateBuild = Callable[[duckdb.DuckDBPyConnection, Settings], dict[str, int]]
AggregateUpdate = Callable[[duckdb.DuckDBPyConnection, Settings, str], dict[str, int]]
# The rows an incremental run removed from or added to a model's episode-level table (models with an ``update``)
DELTA_TABLE = "_episode_delta"


@dataclass(frozen=True)
class EpisodeStep:
    """An episode-level table: one or more rows per episode, computed from the episode's own sessions.

    ``build(con, sources, table)`` writes ``table`` from ``sources`` (all of staging, or the rows of
    the episodes being rebuilt), so the same model serves full and incremental builds.
    """

    table: str
    build: EpisodeBuild


@dataclass(frozen=True)
class MartModel:
    """A step of the marts build: its episode-level tables, then its aggregate tables (recomputed
    from episode-level tables, or updated from what changed in them), the tables it reads, and a
    description for the Dagster UI."""

    name: str
    reads: tuple[str, ...]
    description: str
    episode_steps: tuple[EpisodeStep, ...] = ()
    aggregate: AggregateBuild | None = None
    aggregate_tables: tuple[str, ...] = ()
    # ``update(con, settings, delta)``: the aggregates after some episodes changed, from the rows of the
    # (single) episode-level table that were removed or added; without it the aggregates are rebuilt
    update: AggregateUpdate | None = None

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the model writes, episode-level first."""
        return (*(s.table for s in self.episode_steps), *self.aggregate_tables)


def _rom_gains(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    return {rom.TABLE: rom.build_rom_gains(con)}


def _function_outcomes(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    return {function.TABLE: function.build_function_outcomes(con)}


def _audit_summary(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    return {audit.SUMMARY_TABLE: audit.build_audit_summary(con)}


MODELS: tuple[MartModel, ...] = (
    MartModel("episode_outcomes", (STAGING_SESSIONS,),
              "One row per episode of care: baseline and final pain, sustained change, responder, relief "
              "(sections 3-4) and follow-up status (section 12).",
              (EpisodeStep(EPISODES, build_episode_outcomes),)),
    MartModel("condition_outcomes", (EPISODES,),
              "Outcomes per condition group and 'all', overall and by clinic, therapist, month and clinic-month, "
              "with intervals; the Kaplan-Meier relief curve (sections 3, 4, 7). A monthly run recomputes only "
              "the units (clinic, therapist, month, ...) whose episodes changed.",
              (EpisodeStep(UNITS_TABLE, build_outcome_units),),
              aggregate=build_condition_outcomes,
              aggregate_tables=(LONG_TABLE, KM_TABLE, *(t for t, _ in BREAKDOWNS.values()), CURVE_TABLE),
              update=update_condition_outcomes),
    MartModel("rom_gains", (STAGING_SESSIONS, STAGING_ROM, EPISODES),
              "Range-of-motion series per episode and gains per condition, joint and movement (section 5).",
              (EpisodeStep(rom.SERIES_TABLE, rom.build_rom_series),), _rom_gains, (rom.TABLE,)),
    MartModel("function_outcomes", (STAGING_SESSIONS, EPISODES),
              "Function-instrument series per episode and outcomes per condition and instrument (section 6).",
              (EpisodeStep(function.SERIES_TABLE, function.build_function_series),), _function_outcomes,
              (function.TABLE,)),
    MartModel("audit", (STAGING_SESSIONS, EPISODES),
              "Payer audit flags in four tiers with readable details, flagged episodes with their units at risk, "
              "and the summary per clinic and payer (section 8 version 2).",
              (EpisodeStep(audit.FLAGS_TABLE, audit.build_audit_flags),
               EpisodeStep(audit.EPISODES_TABLE, audit.build_audit_episodes)),
              _audit_summary, (audit.SUMMARY_TABLE,)),
    MartModel("risk_adjustment", (EPISODES,),
              "Case-mix models of sustained pain change (linear) and of the responder outcome (logistic): "
              "expected outcomes per episode, coefficients, observed vs expected per clinic and therapist, "
              "calibration by decile.",
              aggregate=lambda con, settings: build_risk_adjustment(con),
              aggregate_tables=(CASE_MIX_TABLE, COEFFICIENTS_TABLE, RISK_TABLE, RESPONDER_TABLE, CALIBRATION_TABLE)),
    MartModel("follow_up", (EPISODES,),
              "Follow-up status (discharged, active, lost) and the lost-to-follow-up rate per condition group "
              "and clinic (section 12).",
              aggregate=lambda con, settings: {FOLLOW_UP: build_follow_up(con)}, aggregate_tables=(FOLLOW_UP,)),
    MartModel("responder_sensitivity", (EPISODES,),
              "How much missing follow-up could move the responder rate: complete case, worst and best case, "
              "and inverse probability weighting from a penalised logistic model (section 13).",
              aggregate=lambda con, settings: build_responder_sensitivity(con),
              aggregate_tables=(EPISODE_IPW, IPW_COEFFICIENTS, SENSITIVITY)),
    MartModel("technique_outcomes", (STAGING_SESSIONS, EPISODES, CASE_MIX_TABLE),
              "Primary techniques per episode; outcomes and case-mix adjusted differences per condition group "
              "and technique (section 14; associations, not effects).",
              (EpisodeStep(EPISODE_TECHNIQUES, build_episode_techniques),),
              lambda con, settings: {TECHNIQUES: build_technique_outcomes(con)}, (TECHNIQUES,)),
    MartModel("flares", (STAGING_SESSIONS,),
              "Post-treatment flares (pain up by 2 points or more right after a session) per condition group "
              "and technique (section 14).",
              (EpisodeStep(EPISODE_FLARES, build_episode_flares),),
              lambda con, settings: {FLARES: build_flares(con)}, (FLARES,)),
)
MODELS_BY_NAME: dict[str, MartModel] = {m.name: m for m in MODELS}
MART_TABLES: tuple[str, ...] = tuple(t for m in MODELS for t in m.tables)
EPISODE_MODELS: tuple[str, ...] = tuple(m.name for m in MODELS if m.episode_steps)
AGGREGATE_MODELS: tuple[str, ...] = tuple(m.name for m in MODELS if not m.episode_steps)
# Episode-level models whose rows depend on an episode's follow-up status (NO_OUTCOME_MEASURE): a status
# that changes because the clinic's data end moved must rebuild them too.
STATUS_DEPENDENT: tuple[str, ...] = ("audit",)


def prepare_connection(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Install what every model needs on ``con``: reference tables, macros, ``_thresholds``, ``_t_quantiles``."""
    ensure_reference_tables(con, reference_dir=settings.reference_dir)
    con.execute("CREATE SCHEMA IF NOT EXISTS intermediate")
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    install_thresholds(con, settings)  # installs the shared macros too
    install_interval_sql(con)


def release_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary objects of :func:`prepare_connection`."""
    remove_interval_sql(con)
    remove_thresholds(con)
    remove_macros(con)


def _restaged_cover_scope(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every episode in ``_scope_keys`` is one the latest restaging kept (:data:`staging.RESTAGED`)."""
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ops' AND table_name = ? "
                   "AND NOT temporary", [RESTAGED_EPISODES.split(".")[1]]).fetchall()[0][0] == 0:
        return False
    return con.execute(f"SELECT count(*) FROM {changes.SCOPE_KEYS} WHERE episode_key NOT IN "
                       f"(SELECT episode_key FROM {RESTAGED_EPISODES})").fetchall()[0][0] == 0


def _scope_sources(con: duckdb.DuckDBPyConnection, reads: tuple[str, ...]) -> list[str]:
    """The rows of the episodes in ``_scope_keys`` of the sources a model reads: ``_scope_sessions``,
    ``_scope_rom``, ``_scope_outcomes``; returns the temporary tables made.

    Sessions and ROM rows come from what the latest restaging kept when it covers every scoped
    episode (the usual case: a small table instead of a scan of staging per model), else from staging.
    """
    restaged = _restaged_cover_scope(con) if {STAGING_SESSIONS, STAGING_ROM} & set(reads) else False
    made = []
    for name, table, kept in (("_scope_sessions", STAGING_SESSIONS, RESTAGED_SESSIONS),
                              ("_scope_rom", STAGING_ROM, RESTAGED_ROM), ("_scope_outcomes", EPISODES, None)):
        if table not in reads:
            continue
        source = kept if restaged and kept else table
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {source} "
                    f"WHERE episode_key IN (SELECT episode_key FROM {changes.SCOPE_KEYS})")
        made.append(name)
    return made


def _rebuild_episodes(con: duckdb.DuckDBPyConnection, step: EpisodeStep, keep_delta: bool = False) -> int:
    """Replace the rows of the scoped episodes in an episode-level table; returns the rows written.

    ``keep_delta``: first keep the rows that go and the rows that come (old and new rows differing; an
    episode rebuilt unchanged contributes nothing) in :data:`DELTA_TABLE`.
    """
    step.build(con, SCOPED_SOURCES, "_step_rows")
    if keep_delta:
        old = f"SELECT * FROM {step.table} WHERE episode_key IN (SELECT episode_key FROM {changes.SCOPE_KEYS})"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {DELTA_TABLE} AS ({old} EXCEPT ALL SELECT * FROM _step_rows) "
                    f"UNION ALL (SELECT * FROM _step_rows EXCEPT ALL {old})")
    con.execute(f"DELETE FROM {step.table} WHERE episode_key IN (SELECT episode_key FROM {changes.SCOPE_KEYS})")
    written = con.execute(f"INSERT INTO {step.table} BY NAME SELECT * FROM _step_rows").fetchall()[0][0]
    con.execute("DROP TABLE _step_rows")
    return written


def _refresh_statuses(con: duckdb.DuckDBPyConnection, full: bool) -> int:
    """Section 12: a clinic's data end decides which episodes are still active. Where it moved, update
    the status of the clinic's other episodes and mark the patients whose status changed for the
    status-dependent models; record every clinic's data end. Returns the episodes whose status changed."""
    con.execute("CREATE OR REPLACE TEMP TABLE _data_end AS "
                "SELECT clinic_id, max(session_date) AS data_end FROM staging.sessions GROUP BY clinic_id")
    changed = 0
    if not full:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _status_changed AS "
            "SELECT e.episode_key, e.clinic_id, e.patient_id, "
            "       follow_up_status(e.has_discharge, e.last_date, d.data_end, t.follow_up_active_days) AS status "
            "FROM marts.episode_outcomes e JOIN _data_end d USING (clinic_id) CROSS JOIN _thresholds t "
            "WHERE d.clinic_id IN (SELECT d2.clinic_id FROM _data_end d2 LEFT JOIN ops.clinic_data_end o "
            "                      USING (clinic_id) WHERE o.data_end IS DISTINCT FROM d2.data_end) "
            "  AND e.status <> follow_up_status(e.has_discharge, e.last_date, d.data_end, t.follow_up_active_days)"
        )
        con.execute("UPDATE marts.episode_outcomes e SET status = c.status FROM _status_changed c "
                    "WHERE e.episode_key = c.episode_key")
        changed = con.execute("SELECT count(*) FROM _status_changed").fetchall()[0][0]
        if changed:
            con.execute("CREATE OR REPLACE TEMP TABLE _status_episodes AS SELECT DISTINCT e.episode_key "
                        "FROM marts.episode_outcomes e JOIN _status_changed c USING (clinic_id, patient_id)")
            changes.mark_episodes(con, STATUS_DEPENDENT, "_status_episodes")
            con.execute("DROP TABLE _status_episodes")
        con.execute("DROP TABLE _status_changed")
    con.execute("DELETE FROM ops.clinic_data_end")
    con.execute("INSERT INTO ops.clinic_data_end SELECT clinic_id, data_end FROM _data_end")
    con.execute("DROP TABLE _data_end")
    return changed


def build_model(
    con: duckdb.DuckDBPyConnection, settings: Settings, model: MartModel, *, incremental: bool = False
) -> dict[str, int]:
    """Build one model's tables in one transaction (readers see the old tables or the new ones).

    ``incremental``: build only what the dirty set (:mod:`transforms.changes`) asks for -- nothing
    when the model is clean, its episode-level rows for the dirty episodes then its aggregates when
    some episodes are dirty, everything when it is marked for a full rebuild -- and clear its dirty
    rows in the same transaction. Returns the row counts of the tables it wrote.
    """
    state = changes.pending(con, model.name) if incremental else changes.FULL
    if state == changes.CLEAN:
        return {}
    # Row order carries no meaning (aggregates are order-independent); not preserving it lets DuckDB
    # stream and spill large intermediate results instead of running out of memory.
    con.execute("SET preserve_insertion_order = false")
    con.execute("BEGIN TRANSACTION")
    try:
        counts: dict[str, int] = {}
        if state == changes.SCOPED and model.episode_steps:
            changes.load_scope(con, model.name)
            scoped = _scope_sources(con, model.reads)
            for step in model.episode_steps:
                counts[step.table] = _rebuild_episodes(con, step, keep_delta=model.update is not None)
            for name in (*scoped, changes.SCOPE_KEYS):
                con.execute(f"DROP TABLE {name}")
        else:
            for step in model.episode_steps:
                counts[step.table] = step.build(con, FULL_SOURCES, step.table)
        if model.name == "episode_outcomes":
            _refresh_statuses(con, full=state == changes.FULL)
        if state == changes.SCOPED and model.update is not None:
            counts.update(model.update(con, settings, DELTA_TABLE))
            con.execute(f"DROP TABLE {DELTA_TABLE}")
        elif model.aggregate is not None:
            counts.update(model.aggregate(con, settings))
        if incremental:
            changes.clear(con, model.name)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("SET preserve_insertion_order = true")
    return counts


def build_marts(con: duckdb.DuckDBPyConnection, settings: Settings, *, incremental: bool = False) -> dict[str, int]:
    """Sections 3-14: build every model in dependency order; returns table -> row count (of the tables
    written: all of them in a full build). ``incremental``: only what the dirty set asks for.

    Needs ``staging.sessions`` and ``staging.rom``; leaves no temporary object behind.
    """
    prepare_connection(con, settings)
    try:
        counts: dict[str, int] = {}
        for model in MODELS:
            counts.update(build_model(con, settings, model, incremental=incremental))
    finally:
        release_connection(con)
    return counts if incremental else {table: counts[table] for table in MART_TABLES}


def write_audit_worklists(con: duckdb.DuckDBPyConnection, restricted_dir, *, site=None) -> list:
    """Section 8/11: the audit worklist, one CSV per payer type of flagged episodes, into the restricted folder.

    Reads ``marts.audit_flags`` (build the marts first); see :func:`transforms.audit.write_audit_worklists`.
    """
    return audit.write_audit_worklists(con, restricted_dir, site=site)
