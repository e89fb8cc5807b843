"""Reading one export folder into a scratch DuckDB database (export-format.md).

An export is a folder in the inbox with ``sessions.csv`` or ``sessions.parquet`` and optionally
``rom.csv`` or ``rom.parquet``. Reading happens entirely inside DuckDB: every file becomes a
text table ``<file>_new`` in a scratch database with a 1-based ``row_number`` and one VARCHAR
column per contract column (trimmed, empty = NULL), tagged with the export's name. Whole-export problems (no sessions file,
a file that cannot be parsed, a missing required column, a direct-identifier column or an
identifier-looking ``patient_id`` / ``therapist_id``) raise :class:`ExportRejected` before
anything is written to the warehouse.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from transforms import contract

FILE_KINDS = ("sessions", "rom")
FORMATS = ("csv", "parquet")


class ExportRejected(Exception):
    """The whole export is refused; the message is the reason shown to the data manager."""


@dataclass(frozen=True)
class ExportFolder:
    """One export folder of the inbox and the data files it holds."""

    name: str
    path: Path
    files: dict[str, Path]  # kind ("sessions" / "rom") -> file

    @property
    def checksum(self) -> str:
        """sha256 over the names and bytes of the export's data files (its version)."""
        digest = hashlib.sha256()
        for kind in sorted(self.files):
            file = self.files[kind]
            digest.update(f"{kind}:{file.name}\n".encode())
            with open(file, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()


@dataclass
class ReadResult:
    """What reading an export produced: row counts per file and warnings for the load log."""

    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def discover_exports(inbox: Path) -> list[ExportFolder]:
    """Export folders of the inbox in folder-name order (hidden folders are skipped).

    A folder is listed even when it has no sessions file, so that it can be rejected with a
    reason instead of being ignored.
    """
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} does not exist or is not a folder")
    folders = []
    for path in sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        files: dict[str, Path] = {}
        for kind in FILE_KINDS:
            for fmt in FORMATS:
                candidate = path / f"{kind}.{fmt}"
                if candidate.is_file():
                    files.setdefault(kind, candidate)
                    if files[kind] != candidate:
                        files[f"{kind}:conflict"] = candidate
        folders.append(ExportFolder(path.name, path, files))
    return folders


def _header_of(file: Path, con: duckdb.DuckDBPyConnection) -> list[str]:
    if file.suffix == ".parquet":
        try:
            return [d[0] for d in con.execute("SELECT * FROM read_parquet(?) LIMIT 0", [str(file)]).description]
        except duckdb.Error as exc:
            raise ExportRejected(f"{file.name} could not be parsed: {_first_line(exc)}") from exc
    try:
        with open(file, newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), [])
    except UnicodeDecodeError as exc:
        raise ExportRejected(f"{file.name} could not be parsed: it is not UTF-8 ({exc.reason} at byte {exc.start})") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _normalise(name: str) -> str:
    return name.strip().lower()


def _map_columns(kind: str, file: Path, header: list[str], result: ReadResult) -> dict[str, int]:
    """Contract column -> position in the file; rejects identifier and duplicate columns."""
    known = contract.FILE_COLUMNS[kind]
    positions: dict[str, int] = {}
    for pos, raw in enumerate(header):
        name = _normalise(raw)
        if name in known:
            if name in positions:
                raise ExportRejected(f"{file.name} has the column '{name}' twice")
            positions[name] = pos
        elif contract.is_identifier_column(name):
            raise ExportRejected(
                f"{file.name} has a column '{name}' that looks like a direct identifier; "
                "remove it and send the export again"
            )
        elif name:
            result.warnings.append(f"{file.name}: ignored unknown column '{name}'")
        else:
            result.warnings.append(f"{file.name}: ignored a column with an empty name")
    missing = [c for c in contract.FILE_REQUIRED[kind] if c not in positions]
    if missing:
        raise ExportRejected(f"{file.name} is missing required column(s): {', '.join(missing)}")
    return positions


def _text_expr(source: str) -> str:
    # Values are trimmed; an empty (or all-space) field is a missing value.
    return f"NULLIF(trim(CAST({source} AS VARCHAR)), '')"


def _load_file(con: duckdb.DuckDBPyConnection, export: str, kind: str, file: Path, result: ReadResult) -> None:
    header = _header_of(file, con)
    if not header:
        raise ExportRejected(f"{file.name} could not be parsed: it is empty (no header row)")
    positions = _map_columns(kind, file, header, result)
    table = f"{kind}_new"
    select_cols = ["CAST(? AS VARCHAR) AS export"]
    for column in contract.FILE_COLUMNS[kind]:
        if column in positions:
            select_cols.append(f"{_text_expr(f'c{positions[column]}')} AS {column}")
        else:
            select_cols.append(f"CAST(NULL AS VARCHAR) AS {column}")
    try:
        if file.suffix == ".parquet":
            # Rename the file's columns to positional names so header case/spaces do not matter.
            renames = ", ".join(f'"{name.replace(chr(34), chr(34) * 2)}" AS c{i}' for i, name in enumerate(header))
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT file_row_number + 1 AS row_number, "
                f"{', '.join(select_cols)} FROM (SELECT file_row_number, {renames} "
                "FROM read_parquet(?, file_row_number = true))",
                [export, str(file)],
            )
        else:
            columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
            # One scan, in file order: row_number() over the unordered scan follows insertion order.
            con.execute("SET preserve_insertion_order = true")
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT row_number() OVER () AS row_number, "
                f"{', '.join(select_cols)} FROM read_csv(?, header = true, delim = ',', quote = '\"', "
                f"escape = '\"', auto_detect = false, strict_mode = true, columns = {columns})",
                [export, str(file)],
            )
    except duckdb.Error as exc:
        raise ExportRejected(f"{file.name} could not be parsed: {_first_line(exc)}") from exc
    result.rows[kind] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _reject_identifier_values(con: duckdb.DuckDBPyConnection) -> None:
    """Reject the export when a patient_id or therapist_id looks like an e-mail, phone, SSN or date.

    The reason names the column, the kind and the first row number, never the value itself.
    """
    checks = [(column, pattern) for column in contract.IDENTIFIER_VALUE_COLUMNS
              for pattern in contract.IDENTIFIER_VALUE_PATTERNS]
    # One scan; each pattern is matched once per value (m0, m1, ...), the first failing check (in
    # contract order) is reported.
    matches = ", ".join(f"regexp_full_match({column}, ?) AS m{n}" for n, (column, _) in enumerate(checks))
    aggregates = ", ".join(f"count_if(m{n}), min(row_number) FILTER (WHERE m{n})" for n in range(len(checks)))
    row = con.execute(
        f"SELECT {aggregates} FROM (SELECT row_number, {matches} FROM sessions_new)", [p.regex for _, p in checks]
    ).fetchone()
    for n, (column, pattern) in enumerate(checks):
        count, first = row[2 * n], row[2 * n + 1]
        if count:
            raise ExportRejected(
                f"sessions: {count} {column} value(s) look like a {pattern.kind} (first at row {first}); "
                "identifiers must be pseudonymous tokens, so the whole export is refused"
            )


def read_export(export: ExportFolder, con: duckdb.DuckDBPyConnection) -> ReadResult:
    """Read an export's files into ``sessions_new`` / ``rom_new`` text tables on a scratch connection.

    Raises :class:`ExportRejected` with a one-line reason for every whole-export rule of the
    contract. Nothing is written anywhere but the given (scratch) connection.
    """
    conflicts = [k.split(":")[0] for k in export.files if k.endswith(":conflict")]
    if conflicts:
        raise ExportRejected(f"the export has both {conflicts[0]}.csv and {conflicts[0]}.parquet; send one")
    if "sessions" not in export.files:
        raise ExportRejected("the export has no sessions file (sessions.csv or sessions.parquet)")
    result = ReadResult()
    for kind in FILE_KINDS:
        if kind in export.files:
            _load_file(con, export.name, kind, export.files[kind], result)
        else:
            cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in contract.FILE_COLUMNS[kind])
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {kind}_new AS SELECT CAST(NULL AS BIGINT) AS row_number, "
                f"CAST(NULL AS VARCHAR) AS export, {cols} LIMIT 0"
            )
            result.rows[kind] = 0
    if result.rows["sessions"] == 0:
        raise ExportRejected("the sessions file has no data rows")
    _reject_identifier_values(con)
    return result
