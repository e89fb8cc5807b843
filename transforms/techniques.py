"""Primary techniques per episode and outcomes by technique: ``marts.technique_outcomes`` (metrics.md section 14).

Clinical rule: the export lists the techniques used at every visit (trigger point, myofascial
release, lymphatic drainage, ...). A technique is *primary* in an episode when it is listed in at
least half of the episode's sessions that list any technique (met within the section 7
tolerance; items trimmed, a technique listed twice at one session counted once). An episode may
have several primary techniques, or none.

Per condition group (and ``all``) and primary technique: distinct patients, episodes,
pain-evaluable episodes, responder rate (Wilson) and mean sustained change (t-interval), and the
*adjusted difference*: the mean of observed minus case-mix expected sustained change
(``intermediate.episode_case_mix``, the project's linear case-mix model, which does not see techniques)
with a t-interval. Techniques are chosen by the therapist for the patient in front of them, so a
difference between techniques is an association, not an effect.

Tables: ``intermediate.episode_techniques`` (episode level, reads sessions through ``{{ sessions }}``) and
``marts.technique_outcomes`` (aggregated from it). SQL: ``transforms/sql/marts/episode_techniques.sql``
and ``technique_outcomes.sql``.
"""

from __future__ import annotations

import duckdb

from transforms.episode_outcomes import TABLE as EPISODES
from transforms.intervals import ensure_t_quantiles
from transforms.risk_adjustment import CASE_MIX_TABLE
from transforms.sqlmodels import FULL_SOURCES, Sources, create_table

EPISODE_TABLE = "intermediate.episode_techniques"
TABLE = "marts.technique_outcomes"


def build_episode_techniques(
    con: duckdb.DuckDBPyConnection, sources: Sources = FULL_SOURCES, table: str = EPISODE_TABLE
) -> int:
    """Section 14: one row per episode and technique it lists, with ``is_primary`` (listed at >= half its sessions).

    Needs ``_thresholds`` and the macros; returns the row count.
    """
    return create_table(con, table, "marts/episode_techniques", sessions=sources.sessions)


def build_technique_outcomes(con: duckdb.DuckDBPyConnection) -> int:
    """Section 14: outcomes of the episodes where each technique is primary, per condition group and ``all``.

    Reads ``intermediate.episode_techniques``, ``marts.episode_outcomes`` and ``intermediate.episode_case_mix``;
    needs ``_thresholds`` and the interval macros. Returns the row count.
    """
    ensure_t_quantiles(con, con.execute(f"SELECT count(*) FROM {EPISODES}").fetchall()[0][0])
    return create_table(con, TABLE, "marts/technique_outcomes", techniques=EPISODE_TABLE, episodes=EPISODES,
                        case_mix=CASE_MIX_TABLE)
