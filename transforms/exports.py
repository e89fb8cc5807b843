"""Reading one export folder into a scratch DuckDB database (export contract, version 1.1).

An export is a folder in the inbox with ``sessions.csv`` or ``sessions.parquet`` and optionally
``rom.csv`` or ``rom.parquet``. Reading happens entirely inside DuckDB: every file becomes a
text table ``<file>_new`` in a scratch database with a 1-based ``row_number`` and one VARCHAR
column per contract column (trimmed of white space, empty = NULL), tagged with the export's name.

Whole-export problems raise :class:`ExportRejected` before anything is written to the warehouse:
no sessions file, a file that cannot be parsed (with the cause and where), a missing required
column, a direct-identifier column name, or an identifier-looking value in an id column. Each
rejection has two texts: the full reason (load log, run output, restricted report) and a public
one for the published quality page, which never holds a count, a row or line number, a value, a
path or a parser's own words.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from transforms import contract

FILE_KINDS = ("sessions", "rom")
FORMATS = ("csv", "parquet")


class ExportRejected(Exception):
    """The whole export is refused.

    ``str(exc)`` is the full reason shown to the data manager; :attr:`public` is the version fit
    for the published site (no counts, row or line numbers, values, paths or parser text).
    """

    def __init__(self, reason: str, public: str | None = None) -> None:
        super().__init__(reason)
        self.public = public or reason


@dataclass(frozen=True)
class ExportFolder:
    """One export folder of the inbox and the data files it holds."""

    name: str
    path: Path
    files: dict[str, Path]  # kind ("sessions" / "rom") -> file
    other_files: tuple[str, ...] = ()  # anything else in the folder (ignored, with a warning)

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


@dataclass(frozen=True)
class IgnoredEntry:
    """Something in the inbox that is not an export folder, and why it is skipped."""

    name: str
    reason: str


@dataclass
class ReadResult:
    """What reading an export produced: row counts per file, distinct patients, warnings for the load log."""

    rows: dict[str, int] = field(default_factory=dict)
    patients: int = 0
    warnings: list[str] = field(default_factory=list)


def _is_export(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith((".", "_"))


def discover_exports(inbox: Path) -> list[ExportFolder]:
    """Export folders of the inbox in folder-name order (see :func:`ignored_entries` for the rest).

    A folder is listed even when it has no sessions file, so that it can be rejected with a
    reason instead of being ignored.
    """
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} does not exist or is not a folder")
    folders = []
    for path in sorted(p for p in inbox.iterdir() if _is_export(p)):
        files: dict[str, Path] = {}
        for kind in FILE_KINDS:
            for fmt in FORMATS:
                candidate = path / f"{kind}.{fmt}"
                if candidate.is_file():
                    files.setdefault(kind, candidate)
                    if files[kind] != candidate:
                        files[f"{kind}:conflict"] = candidate
        data_names = {f"{kind}.{fmt}" for kind in FILE_KINDS for fmt in FORMATS}
        others = tuple(sorted(p.name for p in path.iterdir() if p.name not in data_names))
        folders.append(ExportFolder(path.name, path, files, others))
    return folders


def ignored_entries(inbox: Path) -> list[IgnoredEntry]:
    """Entries of the inbox that are skipped, with the reason (listed in the run output and the load log)."""
    if not inbox.is_dir():
        return []
    out = []
    for path in sorted(inbox.iterdir()):
        if _is_export(path):
            continue
        if path.name.startswith("."):
            reason = "hidden entries (starting with .) are skipped"
        elif path.is_dir():
            reason = "folders starting with _ are skipped"
        else:
            reason = "files directly in the inbox are skipped: an export is a folder"
        out.append(IgnoredEntry(path.name, reason))
    return out


# --- explaining files that cannot be parsed -----------------------------------------------------------


def _first_invalid_utf8(file: Path) -> tuple[int, int, int] | None:
    """(byte offset, the byte, line number) of the first byte that is not valid UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    position = None
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            pending = len(decoder.getstate()[0])  # bytes of an unfinished character from the last block
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                position = offset - pending + exc.start
                break
            offset += len(block)
        else:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                position = offset - len(decoder.getstate()[0])
    if position is None:
        return None
    with open(file, "rb") as fh:
        before = fh.read(position)
        bad = fh.read(1)
    return position, bad[0] if bad else 0, before.count(b"\n") + 1


def _not_utf8(file: Path) -> ExportRejected:
    found = _first_invalid_utf8(file)
    where = f": byte 0x{found[1]:02X} at byte {found[0]} (line {found[2]}) is not valid UTF-8" if found else ""
    return ExportRejected(
        f"{file.name} could not be parsed: it is not UTF-8{where}; save it as UTF-8 and send it again",
        f"{file.name} could not be parsed: it is not UTF-8; save it as UTF-8 and send it again",
    )


def _csv_rejection(file: Path, exc: duckdb.Error) -> ExportRejected:
    """The cause of a CSV parse error in one line (DuckDB's message, without the echoed row)."""
    message = str(exc)
    line_match = re.search(r"CSV Error on Line: (\d+)", message)
    line = f" {line_match.group(1)}" if line_match else ""
    columns = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    prefix = f"{file.name} could not be parsed: "
    if columns:
        return ExportRejected(
            f"{prefix}wrong number of columns at line{line} ({columns.group(2)} values where the header has "
            f"{columns.group(1)} columns)",
            f"{prefix}a line has the wrong number of columns",
        )
    if "unterminated quote" in message.lower():
        return ExportRejected(
            f"{prefix}unterminated quote: a quoted value starting at line{line} is never closed",
            f"{prefix}unterminated quote: a quoted value is never closed",
        )
    if "utf-8" in message.lower() or "unicode" in message.lower():
        return _not_utf8(file)
    first = _first_line(exc)
    return ExportRejected(f"{prefix}{first}" + (f" (line{line})" if line else ""),
                          f"{prefix}it is not a readable CSV file")


def _parquet_rejection(file: Path, exc: duckdb.Error) -> ExportRejected:
    message = _first_line(exc)
    prefix = f"{file.name} could not be parsed: "
    if "magic bytes" in message.lower():
        return ExportRejected(f"{prefix}it is not a Parquet file (no Parquet footer)", f"{prefix}it is not a Parquet file")
    # DuckDB names the file by its full path: keep only the file's name.
    message = message.replace(str(file), file.name)
    message = re.sub(r"'[^']*/([^'/]+)'", r"'\1'", message)
    return ExportRejected(f"{prefix}it is not a readable Parquet file ({message})",
                          f"{prefix}it is not a readable Parquet file")


def _header_of(file: Path, con: duckdb.DuckDBPyConnection) -> list[str]:
    if file.suffix == ".parquet":
        try:
            return [d[0] for d in con.execute("SELECT * FROM read_parquet(?) LIMIT 0", [str(file)]).description]
        except duckdb.Error as exc:
            raise _parquet_rejection(file, exc) from exc
    try:
        with open(file, newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), [])
    except UnicodeDecodeError as exc:
        raise _not_utf8(file) from exc
    except csv.Error as exc:  # e.g. a NUL byte: not a text file
        raise ExportRejected(f"{file.name} could not be parsed: the header row is unreadable ({exc})",
                             f"{file.name} could not be parsed: the header row is unreadable") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _normalise(name: str) -> str:
    return name.strip().lower()


def _check_header_names(file: Path, header: list[str]) -> None:
    """Refuse a header whose names look like identifier values (typically: the header row is missing)."""
    names = [name for name in header if _normalise(name) not in contract.FILE_COLUMNS["sessions"]
             and _normalise(name) not in contract.FILE_COLUMNS["rom"]]
    if not names:
        return
    with duckdb.connect() as con:
        kinds = con.execute(
            f"SELECT {contract.identifier_kind_sql('v', dates=True)} FROM unnest(CAST(? AS VARCHAR[])) AS t(v)",
            [names],
        ).fetchall()
    found = next((k for (k,) in kinds if k), None)
    if found:
        text = (f"{file.name} has a column whose name looks like {found} (is the header row missing?); "
                "identifiers must never be sent, so the whole export is refused")
        raise ExportRejected(text)


def _map_columns(kind: str, file: Path, header: list[str], result: ReadResult) -> dict[str, int]:
    """Contract column -> position in the file; rejects identifier and duplicate columns."""
    _check_header_names(file, header)
    known = contract.FILE_COLUMNS[kind]
    positions: dict[str, int] = {}
    for pos, raw in enumerate(header):
        name = _normalise(raw)
        word = contract.identifier_column_word(raw)
        if name in known:
            if name in positions:
                raise ExportRejected(f"{file.name} has the column '{name}' twice")
            positions[name] = pos
        elif word:
            raise ExportRejected(
                f"{file.name} has a column '{raw.strip()}' that looks like a direct identifier ('{word}'); "
                "remove it and send the export again"
            )
        elif name:
            result.warnings.append(f"{file.name}: ignored unknown column '{raw.strip()}'")
        else:
            result.warnings.append(f"{file.name}: ignored a column with an empty name")
    missing = [c for c in contract.FILE_REQUIRED[kind] if c not in positions]
    if missing:
        raise ExportRejected(f"{file.name} is missing required column(s): {', '.join(missing)}")
    return positions


def _text_expr(source: str) -> str:
    # Values are trimmed of white space (spaces, tabs, line breaks); an empty field is a missing value.
    return f"NULLIF({contract.trim_sql(f'CAST({source} AS VARCHAR)')}, '')"


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
        raise (_parquet_rejection(file, exc) if file.suffix == ".parquet" else _csv_rejection(file, exc)) from exc
    result.rows[kind] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _row_list(rows: list[int], total: int) -> str:
    shown = ", ".join(str(r) for r in rows)
    return f"row {shown}" if total == 1 else f"rows {shown}" + (", ..." if total > len(rows) else "")


def _reject_identifier_values(con: duckdb.DuckDBPyConnection, files: dict[str, Path]) -> None:
    """Reject the export when an id column holds a value that looks like an identifier.

    Every id column of both files is checked for e-mail addresses, phone numbers, SSNs and runs of
    9 or more digits, and ``patient_id`` / ``therapist_id`` also for dates (contract 1.1), in one
    scan per file. The reason names the file, the column and the kind, never the value; only the
    full reason (load log, restricted report) gives the first row numbers.
    """
    full: list[str] = []
    public: list[str] = []
    for kind, columns in (("sessions", contract.IDENTIFIER_VALUE_COLUMNS), ("rom", contract.ROM_ID_COLUMNS)):
        if kind not in files:
            continue
        checks = ", ".join(
            f"{contract.identifier_kind_sql(c, dates=c in contract.DATE_CHECKED_COLUMNS)} AS k{i}"
            for i, c in enumerate(columns)
        )
        aggregates = ", ".join(
            f"count(k{i}), arg_min(k{i}, row_number), "
            f"(list(row_number ORDER BY row_number) FILTER (WHERE k{i} IS NOT NULL))[1:3]"
            for i in range(len(columns))
        )
        found = con.execute(f"SELECT {aggregates} FROM (SELECT row_number, {checks} FROM {kind}_new)").fetchone()
        name = files[kind].name
        for i, column in enumerate(columns):
            count, label, rows = found[3 * i], found[3 * i + 1], found[3 * i + 2]
            if count:
                full.append(f"{name}: {column} has {count} value(s) that look like {label} ({_row_list(rows, count)})")
                public.append(f"{name}: {column} holds values that look like {label}")
    if full:
        tail = "; identifiers must be pseudonymous tokens, so the whole export is refused"
        raise ExportRejected("; ".join(full) + tail, "; ".join(public) + tail)


def read_export(export: ExportFolder, con: duckdb.DuckDBPyConnection) -> ReadResult:
    """Read an export's files into ``sessions_new`` / ``rom_new`` text tables on a scratch connection.

    Raises :class:`ExportRejected` with a one-line reason for every whole-export rule of the
    contract. Nothing is written anywhere but the given (scratch) connection. A sessions file with
    a header and no rows is read as 0 rows (contract 1.1: a month without visits).
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
    _reject_identifier_values(con, export.files)
    result.patients = con.execute(
        "SELECT count(DISTINCT (clinic_id, patient_id)) FROM sessions_new WHERE clinic_id IS NOT NULL "
        "AND patient_id IS NOT NULL"
    ).fetchone()[0]
    for name in export.other_files:
        result.warnings.append(f"ignored the file '{name}': an export holds only sessions and rom files")
    if result.rows["sessions"] == 0:
        result.warnings.append("the sessions file has a header and no rows (a period without visits)")
    return result
