"""Reference tables (ICD-10 condition groups, ROM normals, function instruments).

They are CSV files in ``transforms/reference/`` so that a clinician can review and change
them without touching code. :func:`install_reference_tables` loads them into the ``ref``
schema of a DuckDB connection, where the SQL models join them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

REFERENCE_DIR = Path(__file__).parent / "reference"

# table name -> (csv file, DuckDB column types). Names come from this allow-list only.
REFERENCE_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "condition_prefixes": ("condition_groups.csv", {"prefix": "VARCHAR", "condition_group": "VARCHAR"}),
    "rom_normals": (
        "rom_normals.csv",
        {"joint": "VARCHAR", "movement": "VARCHAR", "normal": "DOUBLE", "plausible_max": "DOUBLE", "unit": "VARCHAR"},
    ),
    "instruments": (
        "instruments.csv",
        {
            "instrument": "VARCHAR", "score_min": "DOUBLE", "score_max": "DOUBLE", "higher_is": "VARCHAR",
            "mcid": "DOUBLE", "source": "VARCHAR",
        },
    ),
}

CONDITION_GROUP_OTHER = "other"


@dataclass(frozen=True)
class Instrument:
    """A function instrument: its score range, direction and MCID (metrics.md section 6)."""

    name: str
    score_min: float
    score_max: float
    higher_is_better: bool
    mcid: float
    source: str


def read_reference(table: str) -> list[dict[str, str]]:
    """Rows of one reference CSV as dictionaries of strings."""
    filename, _ = REFERENCE_TABLES[table]
    with open(REFERENCE_DIR / filename, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@cache
def condition_groups() -> tuple[str, ...]:
    """Every condition group of the spec, in reference-file order, ending with ``other``."""
    seen: dict[str, None] = {}
    for row in read_reference("condition_prefixes"):
        seen.setdefault(row["condition_group"], None)
    return (*seen, CONDITION_GROUP_OTHER)


@cache
def instruments() -> dict[str, Instrument]:
    """The function instruments keyed by name."""
    return {
        r["instrument"]: Instrument(
            r["instrument"], float(r["score_min"]), float(r["score_max"]), r["higher_is"] == "better",
            float(r["mcid"]), r["source"],
        )
        for r in read_reference("instruments")
    }


@cache
def rom_normals() -> dict[tuple[str, str], tuple[float, float, str]]:
    """(joint, movement) -> (normal, plausible maximum, unit)."""
    return {
        (r["joint"], r["movement"]): (float(r["normal"]), float(r["plausible_max"]), r["unit"])
        for r in read_reference("rom_normals")
    }


def install_reference_tables(con: duckdb.DuckDBPyConnection, schema: str = "ref") -> None:
    """(Re)create the ``ref.*`` tables from the CSV files on the given connection."""
    if schema not in {"ref"}:
        raise ValueError(f"reference schema must be 'ref', got {schema!r}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table, (_filename, columns) in REFERENCE_TABLES.items():
        cols = ", ".join(f"{name} {typ}" for name, typ in columns.items())
        con.execute(f"CREATE OR REPLACE TABLE {schema}.{table} ({cols})")
        rows = read_reference(table)
        if rows:
            placeholders = ", ".join("?" for _ in columns)
            con.executemany(
                f"INSERT INTO {schema}.{table} VALUES ({placeholders})",
                [[row[name] for name in columns] for row in rows],
            )
