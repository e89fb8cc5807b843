"""Clinical thresholds and rule parameters as SQL (metrics.md sections 3, 4, 6, 7, 8 and 12-14).

Clinical rule (section 7): a value within ``THRESHOLD_TOLERANCE`` (1e-9) of a clinical threshold
meets it, so that binary floating point never decides a case (7 -> 4.9 is a 30 % reduction).

Every model reads its thresholds from one temporary, one-row table ``_thresholds`` (all
numbers are DOUBLE, bound with ``?`` from :class:`transforms.config.Settings`; DuckDB would
otherwise type literals such as ``0.7`` as DECIMAL) -- the one way a threshold reaches SQL -- and
decides them with three macros of ``transforms/sql/macros.sql``, the only place where the tolerance
is applied:

- ``meets_min(x, threshold, tol)``: ``x >= threshold`` up to the tolerance;
- ``meets_max(x, threshold, tol)``: ``x <= threshold`` up to the tolerance;
- ``falls_short(x, threshold, tol)``: ``x < threshold`` by more than the tolerance (the negation
  of ``meets_min``).
"""

from __future__ import annotations

import duckdb

from transforms.config import THRESHOLD_TOLERANCE, Settings
from transforms.contract import INSURED_PAYERS, TIMED_CPT_CODES
from transforms.intervals import z_value
from transforms.sqlmodels import install_macros

THRESHOLDS_TABLE = "_thresholds"

# CMS 8-minute rule (Claims Processing Manual ch. 5): units = (minutes + 7) // 15.
UNIT_MINUTES = 15
MIN_MINUTES_FOR_UNIT = 8

# Kaplan-Meier: the median is the first time the survival curve reaches one half.
MEDIAN_SURVIVAL = 0.5

# Section 14: a technique is primary in an episode when listed in at least half of its sessions that list any.
PRIMARY_TECHNIQUE_MIN_SHARE = 0.5

def threshold_values(settings: Settings) -> dict[str, float | int | list[str] | list[int]]:
    """Sections 3, 4, 7, 8, 12-14: the tolerance and every threshold of one run, by name, from ``settings``."""
    return {
        "tol": float(THRESHOLD_TOLERANCE),
        "episode_gap_days": int(settings.episode_gap_days),
        "responder_min_points": float(settings.responder_min_points),
        "responder_min_fraction": float(settings.responder_min_fraction),
        "substantial_min_fraction": float(settings.substantial_min_fraction),
        "relief_min_baseline": float(settings.relief_min_baseline),
        "relief_min_points": float(settings.relief_min_points),
        "relief_max_fraction": float(settings.relief_max_fraction),
        "median_survival": MEDIAN_SURVIVAL,
        "z": z_value(),
        "progress_note_max_visits": int(settings.progress_note_max_visits),
        "plateau_min_sessions": int(settings.plateau_min_sessions),
        "plateau_window": int(settings.plateau_window),
        "plateau_min_change": float(settings.plateau_min_change),
        "recertification_days": int(settings.recertification_days),
        "care_after_goal_visits": int(settings.care_after_goal_visits),
        "follow_up_active_days": int(settings.follow_up_active_days),
        "flare_min_points": float(settings.flare_min_points),
        "primary_technique_min_share": PRIMARY_TECHNIQUE_MIN_SHARE,
        "ipw_max_weight": float(settings.ipw_max_weight),
        "relief_report_times": [int(t) for t in settings.report_times],
        "unit_minutes": UNIT_MINUTES,
        "unit_rounding_minutes": UNIT_MINUTES - MIN_MINUTES_FOR_UNIT,
        "insured_payers": list(INSURED_PAYERS),
        "timed_cpt_codes": list(TIMED_CPT_CODES),
    }


_TYPES = {float: "DOUBLE", int: "INTEGER", str: "VARCHAR"}


def _sql_type(value: object) -> str:
    if isinstance(value, list):
        return _TYPES[type(value[0]) if value else str] + "[]"
    return _TYPES[type(value)]


def install_thresholds(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Section 7: thresholds are met within 1e-9; creates ``_thresholds`` and the comparison macros."""
    values = threshold_values(settings)
    columns = ", ".join(f"CAST(? AS {_sql_type(v)}) AS {name}" for name, v in values.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {THRESHOLDS_TABLE} AS SELECT {columns}", list(values.values()))
    install_macros(con)


def remove_thresholds(con: duckdb.DuckDBPyConnection) -> None:
    """Thresholds live for one build: drop ``_thresholds``."""
    con.execute(f"DROP TABLE IF EXISTS {THRESHOLDS_TABLE}")
