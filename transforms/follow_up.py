"""Follow-up status per condition group and clinic: ``marts.follow_up`` (metrics.md section 12).

Clinical rule: an episode is ``discharged`` when it has a discharge visit; otherwise ``active`` when
its last session is at most 30 days (setting ``follow_up_active_days``) before its clinic's data
end -- the clinic's latest session date in staging, never the day the pipeline runs, so the same
data gives the same answer on any day; otherwise ``lost_to_follow_up``. The status itself is a
column of ``marts.episode_outcomes`` (macro ``follow_up_status``); this module aggregates it.

Per condition group and clinic (each also as ``all``): episodes by status, distinct patients, and
the lost rate ``n_lost / (n_discharged + n_lost)`` (active episodes have not ended yet) with a 95%
Wilson interval, null when no episode has ended. The SQL is ``transforms/sql/marts/follow_up.sql``.
"""

from __future__ import annotations

import duckdb

from transforms.episode_outcomes import TABLE as EPISODES
from transforms.sqlmodels import create_table

TABLE = "marts.follow_up"
MODEL = "marts/follow_up"


def build_follow_up(con: duckdb.DuckDBPyConnection, episodes: str = EPISODES) -> int:
    """Section 12: status counts and lost-to-follow-up rate (Wilson) per condition group and clinic, with ``all``.

    Reads ``marts.episode_outcomes``; needs ``_thresholds`` and the shared macros. Returns the row count.
    """
    return create_table(con, TABLE, MODEL, episodes=episodes)
