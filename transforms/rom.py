"""Range-of-motion gains per condition, joint and movement (metrics.md section 5): ``marts.rom_gains``.

Clinical rules: for each episode, joint, movement and side, baseline = the ``pre`` value at the
earliest session that has one, final = the ``pre`` value at the latest *later* session that has
one, gain = final - baseline (more motion = better). Immediate gain of a session = ``post - pre``.
Per condition (the episode's group), joint and movement, sides pooled: mean baseline, mean final,
mean gain with a 95% t-interval, and the mean of final / normal (normals from
``transforms/reference/rom_normals.csv``).

Models: ``marts/rom_series`` (episode-level, kept as ``intermediate.rom_series``) and
``marts/rom_gains`` (aggregated from the series). Readings (docs/metrics.md): the unit of the
means is one (episode, side) series with both a baseline and a final (``n_series``; ``n_episodes``
counts distinct episodes among them); repeated measurements in one session are averaged;
``pct_of_normal_final`` is a fraction (1.0 = the normal value).
"""

from __future__ import annotations

import duckdb

from transforms.intervals import ensure_t_quantiles
from transforms.sqlmodels import FULL_SOURCES, Sources, create_table

TABLE = "marts.rom_gains"
SERIES_TABLE = "intermediate.rom_series"


def build_rom_series(con: duckdb.DuckDBPyConnection, sources: Sources = FULL_SOURCES, table: str = SERIES_TABLE) -> int:
    """Section 5, per episode: the baseline and final of every (joint, movement, side) series."""
    return create_table(con, table, "marts/rom_series", rom=sources.rom, sessions=sources.sessions,
                        episodes=sources.episodes)


def build_rom_gains(con: duckdb.DuckDBPyConnection) -> int:
    """Section 5: ROM gain per condition, joint and movement, sides pooled, from ``intermediate.rom_series``.

    Needs ``ref.rom_normals``, the shared macros and ``_t_quantiles``; returns the row count.
    """
    max_n = con.execute(f"SELECT max(n) FROM (SELECT count(final) AS n FROM {SERIES_TABLE} "
                        "GROUP BY condition_group, joint, movement)").fetchall()[0][0]
    ensure_t_quantiles(con, max_n)
    return create_table(con, TABLE, "marts/rom_gains", series=SERIES_TABLE)
