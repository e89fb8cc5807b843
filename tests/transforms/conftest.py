"""A small factory of staging tables for the marts tests.

``staging.sessions`` and ``staging.rom`` are created with exactly the columns and types the lead's
staging produces (``raw.*`` of ``transforms/sql/schema.sql`` minus ``row_number``, plus
``condition_group``, ``episode_key`` and ``session_number`` / ``episode_key``), in a fresh
in-memory DuckDB. Tests pass minimal dict rows; every other column gets a sensible default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from transforms.config import Settings
from transforms.marts import build_marts

SCHEMA_SQL = (Path(__file__).resolve().parents[2] / "transforms" / "sql" / "schema.sql").read_text(encoding="utf-8")

START = date(2026, 1, 5)

SESSION_DEFAULTS: dict[str, Any] = {
    "export": "export-1", "clinic_id": "C1", "patient_id": None, "episode_id": None, "therapist_id": "T1",
    "visit_type": None, "condition_code": "M54.50", "referral_source": "physician", "payer_type": "commercial",
    "cpt_code": "97124", "units": 2, "duration_min": 30, "techniques": "swedish", "pain_pre": None,
    "pain_post": None, "function_instrument": None, "function_score": None, "age_band": "40-49", "sex": "F",
    "symptom_weeks": 12.0, "goals_documented": True, "condition_group": "low_back_pain",
}
ROM_DEFAULTS: dict[str, Any] = {"export": "export-1", "clinic_id": "C1", "side": "na", "timing": "pre"}


def new_connection() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory warehouse with empty ``staging.sessions`` / ``staging.rom`` of the real types."""
    con = duckdb.connect()
    con.execute(SCHEMA_SQL)
    con.execute(
        "CREATE TABLE staging.sessions AS SELECT * EXCLUDE (row_number), CAST(NULL AS VARCHAR) AS condition_group, "
        "CAST(NULL AS VARCHAR) AS episode_key, CAST(NULL AS INTEGER) AS session_number FROM raw.sessions WHERE false"
    )
    con.execute(
        "CREATE TABLE staging.rom AS SELECT * EXCLUDE (row_number), CAST(NULL AS VARCHAR) AS episode_key "
        "FROM raw.rom WHERE false"
    )
    return con


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    schema, name = table.split(".")
    return [
        (r[0], r[1]) for r in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position", [schema, name],
        ).fetchall()
    ]


def session_row(episode_key: str, session_number: int, **fields: Any) -> dict[str, Any]:
    """One staging session: weekly from 2026-01-05, session 1 an evaluation, later ones treatments."""
    row = {**SESSION_DEFAULTS, **fields}
    row["episode_key"] = episode_key
    row["session_number"] = session_number
    if row.get("session_id") is None:
        row["session_id"] = f"{episode_key}-S{session_number:02d}"
    if row["patient_id"] is None:
        row["patient_id"] = f"P-{episode_key}"
    if row["visit_type"] is None:
        row["visit_type"] = "evaluation" if session_number == 1 else "treatment"
    row.setdefault("session_date", START + timedelta(days=7 * (session_number - 1)))
    return row


def episode(
    episode_key: str,
    pains: Sequence[tuple[float | None, float | None]] = (),
    sessions: Sequence[dict[str, Any]] | None = None,
    **fields: Any,
) -> list[dict[str, Any]]:
    """Sessions 1..n of one episode from (pain_pre, pain_post) pairs and/or per-session field dicts."""
    n = max(len(pains), len(sessions or ()))
    rows = []
    for i in range(n):
        per = dict(fields)
        if i < len(pains):
            per["pain_pre"], per["pain_post"] = pains[i]
        if sessions is not None and i < len(sessions):
            per.update(sessions[i])
        rows.append(session_row(episode_key, i + 1, **per))
    return rows


def rom_row(episode_key: str, session_number: int, joint: str, movement: str, value: float, **fields: Any) -> dict:
    """One staging ROM row of session ``session_number`` of an episode built with :func:`episode`."""
    row = {**ROM_DEFAULTS, **fields, "joint": joint, "movement": movement, "value": value}
    row["episode_key"] = episode_key
    row.setdefault("session_id", f"{episode_key}-S{session_number:02d}")
    return row


def load_staging(
    con: duckdb.DuckDBPyConnection, sessions: Iterable[dict[str, Any]], rom: Iterable[dict[str, Any]] = ()
) -> None:
    """Insert rows into ``staging.sessions`` / ``staging.rom`` (missing columns become NULL)."""
    for table, rows in (("staging.sessions", list(sessions)), ("staging.rom", list(rom))):
        if not rows:
            continue
        cols = _columns(con, table)
        frame = pd.DataFrame([[r.get(c) for c, _t in cols] for r in rows], columns=[c for c, _t in cols])
        con.register("_test_rows", frame)
        try:
            con.execute(
                f"INSERT INTO {table} SELECT {', '.join(f'CAST({c} AS {t})' for c, t in cols)} FROM _test_rows"
            )
        finally:
            con.unregister("_test_rows")


@dataclass
class Warehouse:
    """A test warehouse: a connection plus helpers to load staging and read marts as dicts."""

    con: duckdb.DuckDBPyConnection
    settings: Settings

    def load(self, sessions: Iterable[dict[str, Any]], rom: Iterable[dict[str, Any]] = ()) -> Warehouse:
        load_staging(self.con, sessions, rom)
        return self

    def build(self) -> dict[str, int]:
        return build_marts(self.con, self.settings)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def table(self, table: str, order_by: str = "1") -> list[dict[str, Any]]:
        return self.rows(f"SELECT * FROM {table} ORDER BY {order_by}")

    def by_key(self, table: str, key: str) -> dict[Any, dict[str, Any]]:
        return {r[key]: r for r in self.table(table)}


def make_warehouse(settings: Settings | None = None) -> Warehouse:
    """A fresh in-memory warehouse with empty staging tables."""
    return Warehouse(new_connection(), settings or Settings())


@pytest.fixture
def wh() -> Warehouse:
    """A fresh in-memory warehouse (closed after the test)."""
    w = make_warehouse()
    yield w
    w.con.close()


@pytest.fixture(scope="session")
def warehouse_factory() -> Callable[..., Warehouse]:
    """Factory of fresh warehouses, for hypothesis tests (one per example)."""
    return make_warehouse


class RowFactory:
    """The row helpers, as a fixture (test modules cannot import this conftest)."""

    episode = staticmethod(episode)
    session = staticmethod(session_row)
    rom = staticmethod(rom_row)


@pytest.fixture(scope="session")
def rows() -> RowFactory:
    """Row helpers: ``rows.episode(key, pains, sessions, **fields)``, ``rows.session``, ``rows.rom``."""
    return RowFactory()


def assert_relief_matches_lifelines(con: duckdb.DuckDBPyConnection) -> int:
    """Compare ``marts.relief_curve`` and the relief columns of ``marts.condition_outcomes`` with lifelines.

    For every condition group and ``all``: the curve's times, counts, survival and log(-log) band at
    every t, the median and its CI (``median_survival_times`` of the band) and relief by 4 and 8.
    Where lifelines' survival is within 1e-9 of 1/2 its median is decided by floating-point noise,
    so the median is checked against exact rational arithmetic instead (docs/metrics.md).
    Works on any warehouse whose marts are built (e.g. the sample inbox); returns the groups checked.
    """
    import math
    from fractions import Fraction

    import numpy as np
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    def none_if_inf(x: float) -> int | None:
        return None if math.isinf(x) else int(x)

    def exact_median(times: list[int], events: list[bool]) -> int | None:
        s = Fraction(1)
        for t in sorted(set(times)):
            at_risk = sum(1 for x in times if x >= t)
            s *= Fraction(at_risk - sum(1 for x, e in zip(times, events, strict=True) if x == t and e), at_risk)
            if s <= Fraction(1, 2):
                return t
        return None

    episodes = con.execute(
        "SELECT condition_group, coalesce(sessions_to_relief, censored_at) AS t, relieved "
        "FROM marts.episode_outcomes WHERE relief_evaluable"
    ).df()
    curve = con.execute("SELECT * FROM marts.relief_curve ORDER BY condition_group, t").df()
    summary = con.execute("SELECT * FROM marts.condition_outcomes").df().set_index("condition_group")
    checked = 0
    for group, row in summary.iterrows():
        mine = episodes if group == "all" else episodes[episodes["condition_group"] == group]
        assert row["n_relief_evaluable"] == len(mine), group
        got = curve[curve["condition_group"] == group].set_index("t")
        if mine.empty:
            assert got.empty and pd.isna(row["median_sessions_to_relief"]), group
            continue
        times, events = [int(t) for t in mine["t"]], [bool(e) for e in mine["relieved"]]
        kmf = KaplanMeierFitter().fit(times, events)
        assert list(got.index) == [t for t in kmf.survival_function_.index if t > 0], group
        table = kmf.event_table.loc[got.index]
        assert list(got["at_risk"]) == list(table["at_risk"]), group
        assert list(got["relieved"]) == list(table["observed"]), group
        assert list(got["censored"]) == list(table["censored"]), group
        band = kmf.confidence_interval_survival_function_.loc[got.index]
        np.testing.assert_allclose(got["survival"], kmf.survival_function_.loc[got.index].iloc[:, 0], rtol=1e-9)
        np.testing.assert_allclose(got["ci_low"], band.iloc[:, 0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got["ci_high"], band.iloc[:, 1], rtol=1e-9, atol=1e-12)

        def value(x: Any) -> int | None:
            return None if pd.isna(x) else int(x)

        median = value(row["median_sessions_to_relief"])
        assert median == exact_median(times, events), group
        if not (abs(kmf.survival_function_.iloc[:, 0] - 0.5) < 1e-9).any():
            assert median == none_if_inf(kmf.median_survival_time_), group
        ci = median_survival_times(kmf.confidence_interval_)
        assert value(row["median_ci_low"]) == none_if_inf(ci.iloc[0, 0]), group
        assert value(row["median_ci_high"]) == none_if_inf(ci.iloc[0, 1]), group
        for t in (4, 8):
            assert abs(row[f"relief_by_{t}"] - (1 - float(kmf.predict(t)))) < 1e-12, (group, t)
        checked += 1
    return checked


@pytest.fixture(scope="session")
def relief_oracle() -> Callable[[duckdb.DuckDBPyConnection], int]:
    """:func:`assert_relief_matches_lifelines`, for tests (also usable on the sample warehouse)."""
    return assert_relief_matches_lifelines
