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

from transforms import audit, function, rom
from transforms.condition_outcomes import BREAKDOWNS, build_condition_outcomes
from transforms.config import Settings
from transforms.episode_outcomes import TABLE as EPISODES
from transforms.episode_outcomes import build_episode_outcomes
from transforms.flares import EPISODE_TABLE as EPISODE_FLARES
from transforms.flares import TABLE as FLARES
from transforms.flares import build_episode_flares, build_flares
from transforms.follow_up import TABLE as FOLLOW_UP
from transforms.follow_up import build_follow_up
from transforms.intervals import install_interval_sql, remove_interval_sql
from transforms.reference import install_reference_tables
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
from transforms.sqlmodels import install_macros, remove_macros
from transforms.techniques import EPISODE_TABLE as EPISODE_TECHNIQUES
from transforms.techniques import TABLE as TECHNIQUES
from transforms.techniques import build_episode_techniques, build_technique_outcomes
from transforms.thresholds import install_thresholds, remove_thresholds

STAGING_SESSIONS = "staging.sessions"
STAGING_ROM = "staging.rom"


@dataclass(frozen=True)
class MartModel:
    """A step of the marts build: the tables it writes, the tables it reads, and how to build them."""

    name: str
    tables: tuple[str, ...]
    reads: tuple[str, ...]
    build: Callable[[duckdb.DuckDBPyConnection, Settings], dict[str, int]]
    description: str


def _episode_outcomes(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    return {EPISODES: build_episode_outcomes(con)}


def _rom(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    return {rom.SERIES_TABLE: rom.build_rom_series(con), rom.TABLE: rom.build_rom_gains(con)}


def _function(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    return {function.SERIES_TABLE: function.build_function_series(con),
            function.TABLE: function.build_function_outcomes(con)}


def _audit(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    return {audit.FLAGS_TABLE: audit.build_audit_flags(con),
            audit.EPISODES_TABLE: audit.build_audit_episodes(con),
            audit.SUMMARY_TABLE: audit.build_audit_summary(con)}


def _techniques(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    return {EPISODE_TECHNIQUES: build_episode_techniques(con), TECHNIQUES: build_technique_outcomes(con)}


def _flares(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    return {EPISODE_FLARES: build_episode_flares(con), FLARES: build_flares(con)}


MODELS: tuple[MartModel, ...] = (
    MartModel("episode_outcomes", (EPISODES,), (STAGING_SESSIONS,), _episode_outcomes,
              "One row per episode of care: baseline and final pain, sustained change, responder, relief "
              "(sections 3-4) and follow-up status (section 12)."),
    MartModel("condition_outcomes", (*(t for t, _ in BREAKDOWNS.values()), CURVE_TABLE), (EPISODES,),
              build_condition_outcomes,
              "Outcomes per condition group and 'all', overall and by clinic, therapist and month, with "
              "intervals; the Kaplan-Meier relief curve (sections 3, 4, 7)."),
    MartModel("rom_gains", (rom.SERIES_TABLE, rom.TABLE), (STAGING_SESSIONS, STAGING_ROM, EPISODES), _rom,
              "Range-of-motion series per episode and gains per condition, joint and movement (section 5)."),
    MartModel("function_outcomes", (function.SERIES_TABLE, function.TABLE), (STAGING_SESSIONS, EPISODES), _function,
              "Function-instrument series per episode and outcomes per condition and instrument (section 6)."),
    MartModel("audit", (audit.FLAGS_TABLE, audit.EPISODES_TABLE, audit.SUMMARY_TABLE), (STAGING_SESSIONS, EPISODES),
              _audit,
              "Payer audit flags in four tiers with readable details, flagged episodes with their units at risk, "
              "and the summary per clinic and payer (section 8 version 2)."),
    MartModel("risk_adjustment", (CASE_MIX_TABLE, COEFFICIENTS_TABLE, RISK_TABLE, RESPONDER_TABLE, CALIBRATION_TABLE),
              (EPISODES,), lambda con, settings: build_risk_adjustment(con),
              "Case-mix models of sustained pain change (linear) and of the responder outcome (logistic): "
              "expected outcomes per episode, coefficients, observed vs expected per clinic and therapist, "
              "calibration by decile."),
    MartModel("follow_up", (FOLLOW_UP,), (EPISODES,), lambda con, settings: {FOLLOW_UP: build_follow_up(con)},
              "Follow-up status (discharged, active, lost) and the lost-to-follow-up rate per condition group "
              "and clinic (section 12)."),
    MartModel("responder_sensitivity", (EPISODE_IPW, IPW_COEFFICIENTS, SENSITIVITY), (EPISODES,),
              lambda con, settings: build_responder_sensitivity(con),
              "How much missing follow-up could move the responder rate: complete case, worst and best case, "
              "and inverse probability weighting from a penalised logistic model (section 13)."),
    MartModel("technique_outcomes", (EPISODE_TECHNIQUES, TECHNIQUES), (STAGING_SESSIONS, EPISODES, CASE_MIX_TABLE),
              _techniques,
              "Primary techniques per episode; outcomes and case-mix adjusted differences per condition group "
              "and technique (section 14; associations, not effects)."),
    MartModel("flares", (EPISODE_FLARES, FLARES), (STAGING_SESSIONS,), _flares,
              "Post-treatment flares (pain up by 2 points or more right after a session) per condition group "
              "and technique (section 14)."),
)
MODELS_BY_NAME: dict[str, MartModel] = {m.name: m for m in MODELS}
MART_TABLES: tuple[str, ...] = tuple(t for m in MODELS for t in m.tables)


def prepare_connection(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Install what every model needs on ``con``: reference tables, macros, ``_thresholds``, ``_t_quantiles``."""
    install_reference_tables(con, reference_dir=settings.reference_dir)
    con.execute("CREATE SCHEMA IF NOT EXISTS intermediate")
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    install_macros(con)
    install_thresholds(con, settings)
    install_interval_sql(con)


def release_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary objects of :func:`prepare_connection`."""
    remove_interval_sql(con)
    remove_thresholds(con)
    remove_macros(con)


def build_model(con: duckdb.DuckDBPyConnection, settings: Settings, model: MartModel) -> dict[str, int]:
    """Build one model's tables in one transaction (readers see the old tables or the new ones)."""
    # Row order carries no meaning (aggregates are order-independent); not preserving it lets DuckDB
    # stream and spill large intermediate results instead of running out of memory.
    con.execute("SET preserve_insertion_order = false")
    con.execute("BEGIN TRANSACTION")
    try:
        counts = model.build(con, settings)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("SET preserve_insertion_order = true")
    return counts


def build_marts(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Sections 3-14: build every model in dependency order; returns table -> row count.

    Needs ``staging.sessions`` and ``staging.rom``; leaves no temporary object behind.
    """
    prepare_connection(con, settings)
    try:
        counts: dict[str, int] = {}
        for model in MODELS:
            counts.update(build_model(con, settings, model))
    finally:
        release_connection(con)
    return {table: counts[table] for table in MART_TABLES}


def write_audit_worklists(con: duckdb.DuckDBPyConnection, restricted_dir, *, site=None) -> list:
    """Section 8/11: the audit worklist, one CSV per payer type of flagged episodes, into the restricted folder.

    Reads ``marts.audit_flags`` (build the marts first); see :func:`transforms.audit.write_audit_worklists`.
    """
    return audit.write_audit_worklists(con, restricted_dir, site=site)
