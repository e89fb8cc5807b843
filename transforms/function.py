"""Function-instrument outcomes per condition and instrument (metrics.md section 6): ``marts.function_outcomes``.

Clinical rules: per episode and instrument, baseline = the earliest score, final = the latest score
at a later session; improvement = baseline - final where a higher score is worse, final - baseline
where higher is better (directions and MCIDs from ``transforms/reference/instruments.csv``);
responder: improvement >= the instrument's MCID (within the section 7 tolerance). Per condition
(the episode's group) and instrument: mean improvement with a 95% t-interval and the responder
rate with a 95% Wilson interval, over episodes with both a baseline and a final score.

Models: ``marts/function_series`` (episode-level, kept as ``intermediate.function_series``) and
``marts/function_outcomes`` (aggregated from the series).
"""

from __future__ import annotations

import duckdb

from transforms.intervals import ensure_t_quantiles
from transforms.sqlmodels import FULL_SOURCES, Sources, create_table

TABLE = "marts.function_outcomes"
SERIES_TABLE = "intermediate.function_series"


def build_function_series(
    con: duckdb.DuckDBPyConnection, sources: Sources = FULL_SOURCES, table: str = SERIES_TABLE
) -> int:
    """Section 6, per episode: baseline, final, improvement and MCID response of every instrument used."""
    return create_table(con, table, "marts/function_series", sessions=sources.sessions, episodes=sources.episodes)


def build_function_outcomes(con: duckdb.DuckDBPyConnection) -> int:
    """Section 6: improvement and MCID responder rate per condition and instrument, from the series.

    Needs the shared macros, ``_thresholds`` and ``_t_quantiles``; returns the row count.
    """
    max_n = con.execute(f"SELECT max(n) FROM (SELECT count(improvement) AS n FROM {SERIES_TABLE} "
                        "GROUP BY condition_group, instrument)").fetchall()[0][0]
    ensure_t_quantiles(con, max_n)
    return create_table(con, TABLE, "marts/function_outcomes", series=SERIES_TABLE)
