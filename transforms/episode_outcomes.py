"""Per-episode pain outcomes, sessions to relief and follow-up status (metrics.md sections 3, 4, 12).

Clinical rules, per episode (one row each; its clinic, patient, therapist, condition group, payer,
age band, sex and symptom weeks are those of session 1):

- baseline pain = ``pain_pre`` of session 1; final pain = ``pain_pre`` of the latest session with
  ``session_number >= 2`` that has one (pre-treatment scores at later visits measure sustained
  relief; post-treatment scores only the transient effect of one visit);
- pain-evaluable: both present; sustained change = baseline - final (positive = better);
  ``pain_change_pct`` = change / baseline as a *fraction* (0.3 = 30 %), null at baseline 0;
- responder: change >= 2 points and >= 30 % of baseline; substantial responder: a responder with
  >= 50 % (null when not pain-evaluable; false at baseline 0);
- relief-evaluable: baseline >= 3 and a later ``pain_pre``; relief is first seen at the first
  session k >= 2 with ``pain_pre <= baseline - 2`` and ``pain_pre <= 0.7 x baseline``;
  ``sessions_to_relief`` = k - 1; an unrelieved episode is censored (never dropped) at m - 1, m the
  last session >= 2 with a ``pain_pre``;
- follow-up status: ``discharged`` with a discharge visit, otherwise ``active`` when the last
  session is at most 30 days before the clinic's data end, otherwise ``lost_to_follow_up``.

Thresholds are decided with the section 7 tolerance (:mod:`transforms.thresholds`). The SQL is
``transforms/sql/marts/episode_outcomes.sql``.
"""

from __future__ import annotations

import duckdb

from transforms.sqlmodels import FULL_SOURCES, Sources, create_table

TABLE = "marts.episode_outcomes"
MODEL = "marts/episode_outcomes"


def build_episode_outcomes(
    con: duckdb.DuckDBPyConnection, sources: Sources = FULL_SOURCES, table: str = TABLE
) -> int:
    """Sections 3, 4 and 12: one row per episode with baseline, final, sustained change, responder,
    relief and follow-up status (``transforms/sql/marts/episode_outcomes.sql``).

    Needs ``_thresholds`` (:func:`transforms.thresholds.install_thresholds`); returns the row count.
    """
    return create_table(con, table, MODEL, sessions=sources.sessions)
