"""Outcomes per condition group and ``all``, overall and by clinic, therapist, month and clinic-month (sections 3-4, 7).

Clinical rules, per group of episodes (an episode belongs to the group of its first session):

- ``n_patients`` = distinct (clinic, patient); ``n_episodes``; ``n_sessions``;
- mean baseline pain over episodes with a baseline;
- mean sustained change (95% t-interval), SRM (mean / SD of change), responder and substantial
  responder rates (95% Wilson intervals) over pain-evaluable episodes;
- mean immediate change over every session with both pain scores;
- Kaplan-Meier median sessions to relief with its CI and cumulative relief at every report time
  (``relief_by_4``, ``relief_by_8`` always; others from the setting) over relief-evaluable episodes
  (:mod:`transforms.relief`);
- ``n_with_final_pain``: episodes with a final pain score.

Every breakdown is computed in one pass (models ``marts/outcome_units``, ``condition_outcomes_agg``,
``relief_km``, ``relief_summary``, ``condition_outcomes_long``), so the rows of each unit have
exactly the definitions of the overall table, with one ``condition_group = 'all'`` row per unit.
The units of every episode (``intermediate.outcome_units``), the rows of every unit
(``intermediate.condition_long``) and their Kaplan-Meier steps (``intermediate.relief_km``) are kept, so
that after a monthly export :func:`update_condition_outcomes` recomputes only the units whose episodes
changed (each from all of its episodes: its rows equal a full build's) and replaces their rows.
The published tables are then cut from the long result by :func:`_publish_sql`, the one
place where SQL text is composed in Python: their unit columns differ per breakdown (from the
allow-list :data:`BREAKDOWNS`) and there is one ``relief_by_<t>`` column per report time of the
run (validated integers from :class:`transforms.config.Settings`).
"""

from __future__ import annotations

import duckdb

from transforms.config import Settings
from transforms.intervals import ensure_t_quantiles
from transforms.relief import build_relief_curve
from transforms.sqlmodels import FULL_SOURCES, Sources, checked_table, create_table

# breakdown -> (table, unit columns of the table and the long result's column holding each)
BREAKDOWNS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "condition": ("marts.condition_outcomes", ()),
    "clinic": ("marts.condition_outcomes_by_clinic", (("clinic_id", "unit_clinic_id"),)),
    "therapist": ("marts.condition_outcomes_by_therapist",
                  (("clinic_id", "unit_clinic_id"), ("therapist_id", "unit_therapist_id"))),
    "month": ("marts.condition_outcomes_by_month", (("month", "unit_month"),)),
    "clinic_month": ("marts.condition_outcomes_by_clinic_month",
                     (("clinic_id", "unit_clinic_id"), ("month", "unit_month"))),
}

_LEADING = (
    "condition_group", "n_patients", "n_episodes", "n_sessions", "n_pain_evaluable", "mean_baseline_pain",
    "mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high", "srm", "responder_rate",
    "responder_ci_low", "responder_ci_high", "substantial_rate", "mean_immediate_change", "n_relief_evaluable",
    "median_sessions_to_relief", "median_ci_low", "median_ci_high",
)
_TRAILING = (
    "n_with_final_pain", "final_pain_ci_low", "final_pain_ci_high", "sd_pain_change", "n_responders", "n_substantial", "substantial_ci_low",
    "substantial_ci_high", "n_immediate", "n_relieved", "n_censored",
)
UNITS_TABLE = "intermediate.outcome_units"  # episode level: every episode once per breakdown, with its unit
LONG_TABLE = "intermediate.condition_long"  # every unit's rows, before they are cut into the published tables
KM_TABLE = "intermediate.relief_km"  # the Kaplan-Meier steps of every unit
SCOPE_VIEW = "_units_in_scope"
_PER_UNIT = ((LONG_TABLE, "_condition_long_new"), (KM_TABLE, "_relief_km_new"))


def _publish_sql(breakdown: str, report_times: tuple[int, ...]) -> str:
    table, units = BREAKDOWNS[breakdown]
    times = [int(t) for t in report_times]  # integers only: they name columns
    columns = [f"{source} AS {name}" for name, source in units]
    columns += list(_LEADING)
    columns += [f"relief_at(relief_by, {t}) AS relief_by_{t}" for t in times]
    columns += list(_TRAILING)
    order = [name for name, _ in units] + ["condition_group = 'all'", "condition_group"]
    return (f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(columns)} FROM {LONG_TABLE} "
            f"WHERE breakdown = ? ORDER BY {', '.join(order)}")


def build_outcome_units(con: duckdb.DuckDBPyConnection, sources: Sources = FULL_SOURCES,
                        table: str = UNITS_TABLE) -> int:
    """Every episode of ``sources.episodes`` once per breakdown, tagged with its unit there; returns the row count."""
    return create_table(con, table, "marts/outcome_units", episodes=sources.episodes)


def _compute_units(con: duckdb.DuckDBPyConnection, units: str, long_table: str, km_table: str) -> None:
    """The rows of every unit present in ``units`` into ``long_table`` and ``km_table``."""
    create_table(con, "_condition_agg", "marts/condition_outcomes_agg", units=units)
    ensure_t_quantiles(con, con.execute("SELECT max(n_pain_evaluable) FROM _condition_agg").fetchall()[0][0])
    create_table(con, km_table, "marts/relief_km", units=units)
    create_table(con, "_relief_summary", "marts/relief_summary", km=km_table)
    create_table(con, long_table, "marts/condition_outcomes_long", aggregates="_condition_agg",
                 summary="_relief_summary")
    con.execute("DROP TABLE _condition_agg")
    con.execute("DROP TABLE _relief_summary")


def _publish(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in (LONG_TABLE, KM_TABLE)}
    for breakdown, (table, _units) in BREAKDOWNS.items():
        con.execute(_publish_sql(breakdown, settings.report_times), [breakdown])
        counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    counts["marts.relief_curve"] = build_relief_curve(con, KM_TABLE)
    return counts


def build_condition_outcomes(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Sections 3-4 and 7: every unit from ``intermediate.outcome_units``, then every breakdown table and
    ``marts.relief_curve``; returns table -> row count.

    Needs ``intermediate.outcome_units`` (:func:`build_outcome_units`), the shared macros, ``_thresholds`` and
    ``_t_quantiles``.
    """
    _compute_units(con, UNITS_TABLE, LONG_TABLE, KM_TABLE)
    return _publish(con, settings)


def update_condition_outcomes(con: duckdb.DuckDBPyConnection, settings: Settings, delta: str) -> dict[str, int]:
    """The same tables after some episodes changed: only the units of the rows in ``delta`` (the outcome-unit
    rows that were removed or added, :data:`UNITS_TABLE`'s columns) are recomputed, each from all of its
    episodes, so every row equals a full build's. Returns table -> row count (nothing when no unit changed).
    """
    delta = checked_table(delta)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _affected_units AS SELECT DISTINCT breakdown, unit FROM {delta}")
    if not con.execute("SELECT count(*) FROM _affected_units").fetchall()[0][0]:
        con.execute("DROP TABLE _affected_units")
        return {}
    con.execute(f"CREATE OR REPLACE TEMP VIEW {SCOPE_VIEW} AS SELECT * FROM {UNITS_TABLE} "
                "WHERE (breakdown, unit) IN (SELECT (breakdown, unit) FROM _affected_units)")
    _compute_units(con, SCOPE_VIEW, *(new for _, new in _PER_UNIT))
    for table, new in _PER_UNIT:
        con.execute(f"DELETE FROM {table} WHERE (breakdown, unit) IN (SELECT (breakdown, unit) FROM _affected_units)")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {new}")
        con.execute(f"DROP TABLE {new}")
    con.execute(f"DROP VIEW {SCOPE_VIEW}")
    con.execute("DROP TABLE _affected_units")
    return _publish(con, settings)
