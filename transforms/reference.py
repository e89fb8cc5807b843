"""Reference tables (ICD-10 condition groups, ROM normals, function instruments, payer audit rules).

They are CSV files in ``transforms/reference/`` so that a clinician or a payer can review and change
them without touching code. A run may point the ``reference_dir`` setting at a folder of its own
CSVs: a file there with the same name as a shipped one replaces that table as a whole (the other
tables stay the shipped ones). :func:`install_reference_tables` loads the tables in force into the
``ref`` schema of a DuckDB connection, where the SQL models join them; :func:`ensure_reference_tables`
does so only when the warehouse does not hold them already (every step of a run needs them).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from transforms.contract import BOOLEAN_FALSE, BOOLEAN_TRUE

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
    # Which payer types each audit flag applies to (metrics.md section 8): one row per flag and payer type.
    "audit_payer_rules": (
        "audit_payer_rules.csv", {"flag": "VARCHAR", "payer_type": "VARCHAR", "applies": "BOOLEAN"},
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


def reference_path(table: str, reference_dir: Path | None = None) -> Path:
    """The CSV in force for ``table``: ``reference_dir/<file>`` when that file exists, else the shipped one.

    Raises ``ValueError`` when ``reference_dir`` is given but is not a folder (a mistyped setting must
    not silently fall back to the shipped tables).
    """
    filename, _ = REFERENCE_TABLES[table]
    if reference_dir is not None:
        folder = Path(reference_dir)
        if not folder.is_dir():
            raise ValueError(f"reference_dir {folder} is not a folder")
        if (folder / filename).is_file():
            return folder / filename
    return REFERENCE_DIR / filename


def read_reference(table: str, reference_dir: Path | None = None) -> list[dict[str, str]]:
    """Rows of one reference CSV in force (see :func:`reference_path`) as dictionaries of strings.

    Raises ``ValueError`` when the file lacks a column of the table.
    """
    path = reference_path(table, reference_dir)
    _, columns = REFERENCE_TABLES[table]
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"reference table {path} lacks the column(s) {', '.join(missing)}")
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def _value(text: str, typ: str, where: str) -> object:
    """A CSV cell as the value of a column type (booleans as the export contract writes them)."""
    if typ != "BOOLEAN":
        return text
    word = text.lower()
    if word in BOOLEAN_TRUE:
        return True
    if word in BOOLEAN_FALSE:
        return False
    raise ValueError(f"{where}: {text!r} is not a boolean (true/false, yes/no, 1/0)")


@cache
def condition_groups(reference_dir: Path | None = None) -> tuple[str, ...]:
    """Every condition group of the table in force, in reference-file order, ending with ``other``."""
    seen: dict[str, None] = {}
    for row in read_reference("condition_prefixes", reference_dir):
        seen.setdefault(row["condition_group"], None)
    return (*seen, CONDITION_GROUP_OTHER)


@cache
def instruments(reference_dir: Path | None = None) -> dict[str, Instrument]:
    """The function instruments of the table in force, keyed by name."""
    return {
        r["instrument"]: Instrument(
            r["instrument"], float(r["score_min"]), float(r["score_max"]), r["higher_is"] == "better",
            float(r["mcid"]), r["source"],
        )
        for r in read_reference("instruments", reference_dir)
    }


@cache
def rom_normals(reference_dir: Path | None = None) -> dict[tuple[str, str], tuple[float, float, str]]:
    """(joint, movement) -> (normal, plausible maximum, unit), from the table in force."""
    return {
        (r["joint"], r["movement"]): (float(r["normal"]), float(r["plausible_max"]), r["unit"])
        for r in read_reference("rom_normals", reference_dir)
    }


def install_reference_tables(
    con: duckdb.DuckDBPyConnection, schema: str = "ref", reference_dir: Path | None = None
) -> None:
    """(Re)create every ``ref.*`` table from the CSV in force (``reference_dir`` overrides by file name)."""
    if schema not in {"ref"}:
        raise ValueError(f"reference schema must be 'ref', got {schema!r}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table, (_filename, columns) in REFERENCE_TABLES.items():
        rows = read_reference(table, reference_dir)
        where = str(reference_path(table, reference_dir))
        values = [
            [_value(row[name], typ, f"{where} row {i}, column {name}") for name, typ in columns.items()]
            for i, row in enumerate(rows, start=1)
        ]
        cols = ", ".join(f"{name} {typ}" for name, typ in columns.items())
        con.execute(f"CREATE OR REPLACE TABLE {schema}.{table} ({cols})")
        if values:
            placeholders = ", ".join("?" for _ in columns)
            con.executemany(f"INSERT INTO {schema}.{table} VALUES ({placeholders})", values)


REFERENCE_STATE_KEY = "reference_tables"


def reference_digest(reference_dir: Path | None = None) -> str:
    """A hash of the reference tables in force: each table's name, column types and CSV bytes."""
    digest = hashlib.sha256()
    for table, (_filename, columns) in sorted(REFERENCE_TABLES.items()):
        digest.update(json.dumps([table, columns]).encode())
        digest.update(reference_path(table, reference_dir).read_bytes())
    return digest.hexdigest()


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? "
                            "AND NOT temporary", [schema, table]).fetchall()[0][0])


def ensure_reference_tables(con: duckdb.DuckDBPyConnection, reference_dir: Path | None = None) -> bool:
    """Install the reference tables in force unless the warehouse holds exactly them already.

    A warehouse (one with ``ops.build_state``) records the digest of the tables it holds; when it
    matches :func:`reference_digest` and every table is there, nothing is written (a run's steps would
    otherwise rewrite the same tables a score of times). Returns whether the tables were installed.
    """
    digest = reference_digest(reference_dir)
    tracked = _has_table(con, "ops", "build_state")
    if tracked and all(_has_table(con, "ref", t) for t in REFERENCE_TABLES):
        held = con.execute("SELECT value FROM ops.build_state WHERE key = ?", [REFERENCE_STATE_KEY]).fetchall()
        if held and held[0][0] == digest:
            return False
    install_reference_tables(con, reference_dir=reference_dir)
    if tracked:
        con.execute("INSERT OR REPLACE INTO ops.build_state VALUES (?, ?)", [REFERENCE_STATE_KEY, digest])
    return True
