"""Build every mart from ``staging.sessions`` and ``staging.rom`` inside DuckDB (metrics.md sections 3-8, 10).

Order (each step reads only staging, reference tables and the marts before it):

1. ``marts.episode_outcomes``       per episode: pain, responder, relief (sections 3-4)
2. ``marts.relief_curve``           Kaplan-Meier per condition group and ``all`` (section 4)
3. ``marts.condition_outcomes`` and the breakdowns ``_by_clinic``, ``_by_therapist``, ``_by_month``
4. ``marts.rom_gains``              (section 5)
5. ``marts.function_outcomes``      (section 6)
6. ``marts.audit_flags``, ``marts.audit_episodes``, ``marts.audit_summary`` (section 8)
7. ``marts.model_coefficients``, ``marts.risk_adjusted`` (risk adjustment)

Everything runs in one transaction, so readers see either the previous marts or the new ones.
Intermediate tables with one row per session or episode are ordinary (disk-backed, spillable)
tables dropped in the same transaction; only small ones are TEMP tables, which live in memory.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from transforms import audit
from transforms.audit import build_audit_episodes, build_audit_flags, build_audit_summary
from transforms.condition_outcomes import BREAKDOWNS, build_condition_outcomes
from transforms.config import Settings
from transforms.episode_outcomes import TABLE as EPISODES
from transforms.episode_outcomes import build_episode_outcomes
from transforms.function import TABLE as FUNCTION
from transforms.function import build_function_outcomes
from transforms.intervals import install_interval_sql, remove_interval_sql
from transforms.reference import install_reference_tables
from transforms.relief import CURVE_TABLE, build_relief_curve
from transforms.risk_adjustment import COEFFICIENTS_TABLE, RISK_TABLE, build_risk_adjustment
from transforms.rom import TABLE as ROM
from transforms.rom import build_rom_gains
from transforms.sqlmodels import install_macros, remove_macros
from transforms.thresholds import install_thresholds, remove_thresholds

MART_TABLES: tuple[str, ...] = (
    EPISODES,
    CURVE_TABLE,
    *(table for table, _units in BREAKDOWNS.values()),
    ROM,
    FUNCTION,
    audit.FLAGS_TABLE,
    audit.EPISODES_TABLE,
    audit.SUMMARY_TABLE,
    COEFFICIENTS_TABLE,
    RISK_TABLE,
)


def _build(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    counts: dict[str, int] = {}
    counts[EPISODES] = build_episode_outcomes(con)
    counts[CURVE_TABLE] = build_relief_curve(con)
    for breakdown, (table, _units) in BREAKDOWNS.items():
        counts[table] = build_condition_outcomes(con, settings, breakdown)
    counts[ROM] = build_rom_gains(con)
    counts[FUNCTION] = build_function_outcomes(con)
    counts[audit.FLAGS_TABLE] = build_audit_flags(con)
    counts[audit.EPISODES_TABLE] = build_audit_episodes(con)
    counts[audit.SUMMARY_TABLE] = build_audit_summary(con)
    counts.update(build_risk_adjustment(con))
    return {table: counts[table] for table in MART_TABLES}


def build_marts(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Sections 3-8: rebuild every mart from staging in dependency order; returns table -> row count.

    Needs ``staging.sessions`` and ``staging.rom``; (re)installs the ``ref.*`` tables. Runs in one
    transaction and leaves no temporary table behind.
    """
    install_reference_tables(con, reference_dir=settings.reference_dir)
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    # Row order of the marts carries no meaning (aggregates are order-independent); not preserving
    # it lets DuckDB stream and spill large intermediate results instead of running out of memory.
    con.execute("SET preserve_insertion_order = false")
    con.execute("BEGIN TRANSACTION")
    try:
        install_macros(con)
        install_thresholds(con, settings)
        install_interval_sql(con)
        counts = _build(con, settings)
        remove_interval_sql(con)
        remove_thresholds(con)
        remove_macros(con)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("SET preserve_insertion_order = true")
    return counts


def write_audit_worklists(
    con: duckdb.DuckDBPyConnection, restricted_dir: Path, *, site: Path | None = None
) -> list[Path]:
    """Section 8/11: the audit worklist, one CSV per payer type of flagged episodes, into the restricted folder.

    Reads ``marts.audit_flags`` (build the marts first); refuses a folder in or around ``site`` when
    given; see :func:`transforms.audit.write_audit_worklists`.
    """
    return audit.write_audit_worklists(con, restricted_dir, site=site)
