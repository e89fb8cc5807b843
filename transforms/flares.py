"""Post-treatment flares per condition group and technique: ``marts.flares`` (metrics.md section 14).

Clinical rule: a session *flares* when ``pain_post - pain_pre >= 2`` points (setting
``flare_min_points``, met within the section 7 tolerance): pain is worse right after treatment
(post-treatment soreness, expected in a few percent of sessions). Counted over *scored* sessions
(both scores present), per condition group (the episode's; and ``all``) and per technique listed at
the session (items trimmed, a technique listed twice counted once), with technique ``all`` covering
every scored session: sessions scored, flares, and the flare rate with a Wilson interval.

Rows: technique ``all`` for every condition group of the warehouse and for ``all`` (0 sessions and
null rates when nothing is scored), and a technique row wherever a scored session of the group
lists it. Tables: ``intermediate.episode_flares`` (episode level, reads sessions through
``{{ sessions }}``) and ``marts.flares`` (aggregated from it). SQL:
``transforms/sql/marts/episode_flares.sql`` and ``flares.sql``.
"""

from __future__ import annotations

import duckdb

from transforms.sqlmodels import FULL_SOURCES, Sources, create_table

EPISODE_TABLE = "intermediate.episode_flares"
TABLE = "marts.flares"


def build_episode_flares(
    con: duckdb.DuckDBPyConnection, sources: Sources = FULL_SOURCES, table: str = EPISODE_TABLE
) -> int:
    """Section 14: per episode, scored sessions and flares overall (technique ``all``) and per listed technique.

    Needs ``_thresholds`` and the macros; returns the row count.
    """
    return create_table(con, table, "marts/episode_flares", sessions=sources.sessions)


def build_flares(con: duckdb.DuckDBPyConnection) -> int:
    """Section 14: flare counts and rates (Wilson) per condition group and technique, each also ``all``.

    Reads ``intermediate.episode_flares``; returns the row count.
    """
    return create_table(con, TABLE, "marts/flares", flares=EPISODE_TABLE)
