"""Shared test helpers: writing small exports and snapshotting the warehouse."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from hypothesis import settings as hypothesis_settings

from transforms.config import Settings, load_settings
from transforms.contract import ROM_COLUMNS, SESSION_COLUMNS

# The fixtures' visits run to late October 2026 and the loader quarantines visits after today
# (export contract, rule in_the_future): on a machine whose clock is earlier, say so once.
DATA_END = date(2026, 11, 1)


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run on a machine whose clock is before the fixtures' last visit."""
    if date.today() < DATA_END:
        raise pytest.UsageError(f"the machine's date ({date.today()}) is before {DATA_END}: the test exports' "
                                "visits would be quarantined as in the future; set the clock")


# In CI the property tests draw the same examples every time (a fresh clone has no example database to
# replay), so a red build is reproducible; elsewhere they keep exploring new examples.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") or os.environ.get("TESTS_REQUIRE_BROWSER"):
    hypothesis_settings.load_profile("ci")

VALID_SESSION: dict[str, Any] = {
    "session_id": "S1", "clinic_id": "C1", "patient_id": "P0001", "episode_id": "", "therapist_id": "T01",
    "session_date": "2026-03-02", "visit_type": "evaluation", "condition_code": "M54.50",
    "referral_source": "physician", "payer_type": "commercial", "cpt_code": "97124", "units": "2",
    "duration_min": "30", "techniques": "swedish;trigger_point", "pain_pre": "6", "pain_post": "4",
    "function_instrument": "ODI", "function_score": "40", "age_band": "40-49", "sex": "F",
    "symptom_weeks": "12", "goals_documented": "true", "authorized_visits": "",
}
VALID_ROM: dict[str, Any] = {
    "session_id": "S1", "clinic_id": "C1", "joint": "lumbar", "movement": "flexion", "side": "na",
    "timing": "pre", "value": "40",
}


def session(**overrides: Any) -> dict[str, Any]:
    """A valid session row with some fields replaced."""
    return {**VALID_SESSION, **overrides}


def rom(**overrides: Any) -> dict[str, Any]:
    """A valid ROM row with some fields replaced."""
    return {**VALID_ROM, **overrides}


def sessions_series(n: int, **overrides: Any) -> list[dict[str, Any]]:
    """n valid weekly sessions S1..Sn of one patient."""
    dates = pd.date_range("2026-01-05", periods=n, freq="7D")
    return [
        session(session_id=f"S{i + 1}", session_date=d.strftime("%Y-%m-%d"),
                visit_type="evaluation" if i == 0 else "treatment", **overrides)
        for i, d in enumerate(dates)
    ]


def write_export(
    inbox: Path,
    name: str,
    sessions: list[dict[str, Any]] | None,
    rom_rows: list[dict[str, Any]] | None = None,
    fmt: str = "csv",
    columns: list[str] | None = None,
    rom_columns: list[str] | None = None,
) -> Path:
    """Write an export folder; values are written as given (strings), missing keys as empty fields."""
    folder = inbox / name
    folder.mkdir(parents=True, exist_ok=True)
    for kind, rows, cols in (
        ("sessions", sessions, columns or list(SESSION_COLUMNS)),
        ("rom", rom_rows, rom_columns or list(ROM_COLUMNS)),
    ):
        if rows is None:
            continue
        for old in folder.glob(f"{kind}.*"):
            old.unlink()
        if fmt == "csv":
            with open(folder / f"{kind}.csv", "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(cols)
                for row in rows:
                    writer.writerow(["" if row.get(c) is None else row.get(c, "") for c in cols])
        else:
            frame = pd.DataFrame([{c: row.get(c) for c in cols} for row in rows], columns=cols)
            frame = frame.replace({"": None})
            frame.to_parquet(folder / f"{kind}.parquet", index=False)
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose inbox, warehouse, site and restricted folders live under tmp_path."""
    return load_settings(
        environ={},
        inbox=tmp_path / "inbox", warehouse=tmp_path / "build" / "warehouse.duckdb",
        site=tmp_path / "build" / "site", restricted=tmp_path / "build" / "restricted",
    )


def table_snapshot(
    warehouse: Path,
    exclude: tuple[str, ...] = ("ops.load_log", "ops.runs", "ops.check_results", "ops.export_stamps"),
) -> dict[str, list[tuple]]:
    """Every table of the warehouse (but the excluded: the run logs and the checksum cache, which every run
    may append to) as sorted rows, for before/after comparisons."""
    if not warehouse.exists():
        return {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
        snap = {}
        for (name,) in tables:
            if name in exclude:
                continue
            rows = con.execute(f"SELECT * FROM {name}").fetchall()
            snap[name] = sorted(rows, key=repr)
        return snap


def warehouse_contains(warehouse: Path, needle: str) -> list[str]:
    """Tables.columns of the warehouse where some text value contains ``needle``."""
    hits = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cols = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema NOT IN ('information_schema', 'pg_catalog')"
        ).fetchall()
        for schema, table, column in cols:
            n = con.execute(
                f'SELECT count(*) FROM {schema}.{table} WHERE contains("{column}", ?)', [needle]
            ).fetchall()[0][0]
            if n:
                hits.append(f"{schema}.{table}.{column}")
    return hits


@pytest.fixture
def load(settings: Settings) -> Callable[..., list]:
    """Load the inbox of ``settings`` (loader + staging, no Dagster); returns the outcomes."""
    from transforms.exports import discover_exports
    from transforms.loading import load_exports, new_run_id
    from transforms.staging import build_staging
    from transforms.warehouse import open_warehouse

    def _load(**overrides: Any) -> list:
        s = settings.with_overrides(**overrides) if overrides else settings
        outcomes = load_exports(
            discover_exports(s.inbox), lambda: open_warehouse(s.warehouse), s, new_run_id()
        )
        with open_warehouse(s.warehouse) as con:
            build_staging(con, s)
        return outcomes

    return _load


@pytest.fixture(scope="session", autouse=True)
def dagster_home(tmp_path_factory: pytest.TempPathFactory):
    """`outcomes run` records its runs in the persistent Dagster instance at DAGSTER_HOME: a temporary one."""
    import os

    home = tmp_path_factory.mktemp("dagster_home")
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("DAGSTER_HOME", None)
    else:
        os.environ["DAGSTER_HOME"] = previous


SAMPLE_INBOX = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`outcomes run` on data/sample once; returns the build folder (warehouse.duckdb, site/, restricted/)."""
    from pipelines.cli import main

    build = tmp_path_factory.mktemp("dash-build")
    code = main([
        "run", "--inbox", str(SAMPLE_INBOX), "--warehouse", str(build / "warehouse.duckdb"), "--site", str(build / "site"),
        "--restricted", str(build / "restricted"),
    ])
    assert code == 0
    return build
