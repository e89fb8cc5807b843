"""Reading one export folder into a scratch DuckDB database (export contract, version 1.1).

An export is a folder in the inbox with ``sessions.csv`` or ``sessions.parquet`` and optionally
``rom.csv`` or ``rom.parquet``. Reading happens entirely inside DuckDB: every file becomes a
text table ``<file>_new`` in a scratch database with a 1-based ``row_number`` and one VARCHAR
column per contract column (trimmed of white space, empty = NULL), tagged with the export's name.

When a mapping profile applies to the export (:mod:`transforms.profiles`), it is applied while
reading: it decides which file column feeds which contract column, and changes values in a second
step inside DuckDB (:mod:`transforms.profile_mapping`); the text tables then also carry each row's
original values and the columns the profile could not convert (``_original``, ``_unmapped``).

Whole-export problems raise :class:`ExportRejected` before anything is written to the warehouse:
no sessions file, a file that cannot be parsed (with the cause and where), a missing required
column, a direct-identifier column name (whatever a profile says), an identifier-looking value in
an id column, or a mapping profile that is not valid. Each
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
from transforms.local_duckdb import local_cursor
from transforms.profile_mapping import EXTRA_COLUMNS, install_maps, mapping_sql, needs_mapping_step
from transforms.profiles import (
    PROFILE_FILE,
    PROFILES_FOLDER,
    FileMapping,
    Profile,
    ProfileError,
    choose_profiles,
    file_checksum,
    normalise_name,
    read_profile,
)

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
    profile: Path | None = None  # the mapping profile that applies (transforms.profiles)
    profile_label: str | None = None  # how the load log names it: 'profile.toml' or '_profiles/<file>'
    profile_problem: str | None = None  # why no profile could be chosen (the export is then refused)
    unreadable: str | None = None  # what of the export cannot be read (the export is then refused)

    @property
    def checksum(self) -> str:
        """sha256 over the names and bytes of the export's data files and of its mapping profile (its version).

        Without a profile this is the checksum of the data files alone, as before profiles existed,
        so a warehouse loaded then sees its exports unchanged; a changed profile changes the version
        of every export it applies to, which is then loaded again.
        """
        digest = hashlib.sha256()
        for kind in sorted(self.files):
            file = self.files[kind]
            digest.update(f"{kind}:{file.name}\n".encode())
            with open(file, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        if self.profile is not None:
            digest.update(f"profile:{self.profile_label}\n".encode())
            digest.update(self.profile.read_bytes())
        if self.profile_problem:
            digest.update(f"profile problem:{self.profile_problem}\n".encode())
        if self.unreadable:
            digest.update(f"unreadable:{self.unreadable}\n".encode())
        return digest.hexdigest()

    @property
    def profile_checksum(self) -> str | None:
        """sha256 of the mapping profile's bytes, or None without a profile."""
        return file_checksum(self.profile) if self.profile is not None else None


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
    reason instead of being ignored. A folder whose name looks like an identifier is not an
    export: its name would be stored and published (it is listed as skipped, masked).
    """
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} does not exist or is not a folder")
    folders = []
    candidates = [p for p in inbox.iterdir() if _is_export(p)]
    unsafe = contract.names_like_identifiers([p.name for p in candidates])
    paths = sorted(p for p in candidates if p.name not in unsafe)
    problems = {p: _unreadable(p) for p in paths}
    profiles = choose_profiles(inbox, [p for p in paths if problems[p] is None])
    for path in paths:
        problem = problems[path]
        if problem:
            folders.append(ExportFolder(path.name, path, {}, unreadable=problem))
            continue
        files: dict[str, Path] = {}
        for kind in FILE_KINDS:
            for fmt in FORMATS:
                candidate = path / f"{kind}.{fmt}"
                if candidate.is_file():
                    files.setdefault(kind, candidate)
                    if files[kind] != candidate:
                        files[f"{kind}:conflict"] = candidate
        data_names = {f"{kind}.{fmt}" for kind in FILE_KINDS for fmt in FORMATS} | {PROFILE_FILE}
        others = tuple(sorted(p.name for p in path.iterdir() if p.name not in data_names))
        choice = profiles[path.name]
        folders.append(ExportFolder(path.name, path, files, others, choice.path, choice.label, choice.problem))
    return folders


def _unreadable(folder: Path) -> str | None:
    """What of an export folder this process cannot read (the folder, or one of its data or profile
    files), or None. The export is then refused with that reason, and the others load."""
    names = [f"{kind}.{fmt}" for kind in FILE_KINDS for fmt in FORMATS] + [PROFILE_FILE]
    try:
        present = {p.name for p in folder.iterdir()}
    except OSError as exc:
        return f"the export folder cannot be read ({(exc.strerror or str(exc)).lower()})"
    for name in (n for n in names if n in present):
        try:
            with open(folder / name, "rb") as fh:
                fh.read(1)
        except IsADirectoryError:
            continue  # a folder named like a data file: the reader says what is wrong with it
        except OSError as exc:
            return f"{name} cannot be read ({(exc.strerror or str(exc)).lower()})"
    return None


def ignored_entries(inbox: Path) -> list[IgnoredEntry]:
    """Entries of the inbox that are skipped, with the reason (listed in the run output and the load log)."""
    if not inbox.is_dir():
        return []
    out = []
    entries = sorted(inbox.iterdir())
    unsafe = contract.names_like_identifiers([p.name for p in entries])
    for path in entries:
        if path.name in unsafe:
            what = "folder" if path.is_dir() else "entry"
            out.append(IgnoredEntry(contract.masked(path.name),
                                    f"the {what}'s name looks like {unsafe[path.name]}, which must never be stored "
                                    f"or published: rename it (shown here with its digits and e-mail addresses "
                                    f"masked)"))
            continue
        if _is_export(path):
            continue
        if path.name.startswith("."):
            reason = "hidden entries (starting with .) are skipped"
        elif path.name == PROFILES_FOLDER and path.is_dir():
            reason = "the inbox's mapping profiles (not an export): they apply to the exports they name"
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
    line = where = ""
    if line_match:
        record = int(line_match.group(1))  # DuckDB counts records (the header is 1), not lines
        start = _record_line(file, record)
        line = f" {start} (data row {record - 1})" if record > 1 else " 1 (the header)"
        where = f"line {start}, data row {record - 1}" if record > 1 else "line 1, the header"
    columns = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    prefix = f"{file.name} could not be parsed: "
    if columns:
        return ExportRejected(
            f"{prefix}wrong number of columns at line{line}: {columns.group(2)} values where the header has "
            f"{columns.group(1)} columns",
            f"{prefix}a line has the wrong number of columns",
        )
    if "unterminated quote" in message.lower():
        return ExportRejected(
            f"{prefix}unterminated quote: a quoted value starting at line{line} is never closed",
            f"{prefix}unterminated quote: a quoted value is never closed",
        )
    if "utf-8" in message.lower() or "unicode" in message.lower():
        return _not_utf8(file)
    mixed = _mixed_line_endings(file)
    if mixed is not None:
        return ExportRejected(
            f"{prefix}it mixes line endings (lines end with CRLF and with LF; the first change is at line {mixed}); "
            "save it with one kind of line ending",
            f"{prefix}it mixes line endings (CRLF and LF); save it with one kind of line ending",
        )
    first = _first_line(exc)
    return ExportRejected(f"{prefix}{first}" + (f" (at {where})" if where else ""),
                          f"{prefix}it is not a readable CSV file")


def _record_line(file: Path, record: int) -> int:
    """The line of ``file`` on which its ``record``-th CSV record starts (the header is record 1).

    A quoted value may hold line breaks, so records and lines part after the first one; this reads
    the file only up to that record (a rejection path)."""
    with open(file, encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        try:
            for _ in range(record - 1):
                next(reader)
        except (StopIteration, csv.Error):
            pass
        return reader.line_num + 1


def _mixed_line_endings(file: Path) -> int | None:
    """The first line whose ending differs from the first line's (CRLF vs LF), or None when they agree.

    DuckDB's reader stops on such a file with a message that says neither what nor where."""
    first_crlf: bool | None = None
    with open(file, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.endswith(b"\n"):
                break  # the last line, without an ending
            crlf = line.endswith(b"\r\n")
            if first_crlf is None:
                first_crlf = crlf
            elif crlf != first_crlf:
                return number
    return None


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
            names = [d[0] for d in con.execute("SELECT * FROM read_parquet(?) LIMIT 0", [str(file)]).description]
        except duckdb.Error as exc:
            raise _parquet_rejection(file, exc) from exc
        # DuckDB renames a repeated column ('pain_pre', 'pain_pre_1'); the file's own names let the
        # header rules see the repetition, as they do in a CSV file
        try:
            import pyarrow.parquet as pq

            own = pq.read_schema(file).names
        except Exception:  # pyarrow cannot read what DuckDB could: keep DuckDB's names
            return names
        return own if len(own) == len(names) else names
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
    with local_cursor() as con:
        kinds = con.execute(
            f"SELECT {contract.identifier_kind_sql('v', dates=True)} FROM unnest(CAST(? AS VARCHAR[])) AS t(v)",
            [names],
        ).fetchall()
    found = next((k for (k,) in kinds if k), None)
    if found:
        text = (f"{file.name} has a column whose name looks like {found} (is the header row missing?); "
                "identifiers must never be sent, so the whole export is refused")
        raise ExportRejected(text)


# Optional columns whose absence is no news (see _map_columns): episodes are then derived (metrics.md).
ABSENCE_EXPECTED = frozenset({"episode_id"})


def _map_columns(
    kind: str, file: Path, header: list[str], result: ReadResult, profile: Profile | None = None
) -> dict[str, int]:
    """Contract column -> position in the file; rejects identifier and duplicate columns.

    With a profile, a contract column is read from the file column the profile names (``columns``),
    else from the column of its own name; ``drop`` leaves a column out without a warning, and a
    constant fills its column. A column whose name looks like a direct identifier refuses the export
    whatever the profile says (a profile cannot name one: :mod:`transforms.profiles`).
    """
    _check_header_names(file, header)
    known = contract.FILE_COLUMNS[kind]
    mapping = profile.mapping(kind) if profile else FileMapping()
    constants = {c for c in (profile.constants if profile else {}) if c in known}
    sources: dict[str, list[str]] = {}
    for column, source in mapping.columns.items():
        sources.setdefault(normalise_name(source), []).append(column)
    dropped = {normalise_name(name) for name in mapping.drop}
    positions: dict[str, int] = {}
    for pos, raw in enumerate(header):
        name = _normalise(raw)
        word = contract.identifier_column_word(raw)
        if word:
            # the public reason names the word, not the header (which might hold more than a word)
            raise ExportRejected(
                f"{file.name} has a column '{contract.shown_name(raw.strip())}' that looks like a direct identifier "
                f"('{word}'); remove it and send the export again",
                f"{file.name} has a column whose name looks like a direct identifier ('{word}'); remove it and send "
                "the export again",
            )
        if name in dropped:
            continue
        if name in sources:
            for column in sources[name]:
                if column in positions:
                    raise ExportRejected(f"{file.name} has the column '{contract.shown_name(raw.strip())}' twice")
                positions[column] = pos
        elif name in known and (name in mapping.columns or name in constants):
            taken = "a constant" if name in constants else f"the column '{mapping.columns[name].strip()}'"
            result.warnings.append(f"{file.name}: ignored the column '{contract.shown_name(raw.strip())}': the "
                                   f"profile takes {name} "
                                   f"from {taken}")
        elif name in known:
            if name in positions:
                raise ExportRejected(f"{file.name} has the column '{name}' twice")
            positions[name] = pos
        elif name:
            result.warnings.append(f"{file.name}: ignored unknown column '{contract.shown_name(raw.strip())}'")
        else:
            result.warnings.append(f"{file.name}: ignored a column with an empty name")
    absent = [f"'{source.strip()}' (for {column})" for column, source in mapping.columns.items() if column not in positions]
    if absent and profile is not None:
        raise ExportRejected(
            f"{file.name} has no column {', '.join(absent)}, which the mapping profile {profile.label} reads",
            f"{file.name} lacks a column its mapping profile reads",
        )
    given = set(positions) | constants
    if mapping.service_gives("units"):
        given.add("units")
    if mapping.service_gives("minutes"):
        given.add("duration_min")
    missing = [c for c in contract.FILE_REQUIRED[kind] if c not in given]
    if missing:
        hint = ""
        if file.suffix == ".csv" and len(header) == 1 and header[0].count(";") >= 2:
            hint = " (its header is one column holding ';': the file seems separated by semicolons, not commas)"
        elif header and header[0].startswith("\ufeff"):
            hint = (" (the file starts with two byte-order marks, so its first column name is not read as written; "
                    "save it as UTF-8 once)")
        raise ExportRejected(f"{file.name} is missing required column(s): {', '.join(missing)}{hint}")
    # An absent optional column loads as empty (the contract allows it), which quietly thins what the
    # marts can say (no pain_pre: no pain change); the load log says so. A profile's drop is deliberate,
    # and a file without episode_id is the contract's way of asking for derived episodes.
    absent_optional = [c for c in known if c not in given and c not in contract.FILE_REQUIRED[kind]
                       and c not in dropped and c not in ABSENCE_EXPECTED]
    if absent_optional:
        result.warnings.append(f"{file.name}: optional column(s) not in the file, read as empty: "
                               f"{', '.join(absent_optional)}")
    return positions


def _csv_reader(width: int, filename: bool = False) -> str:
    """The contract's CSV dialect (RFC 4180, comma, double quotes, a header row), every column as text
    named by position (c0, c1, ...), from the file(s) bound to the one parameter."""
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    return (f"read_csv(?, header = true, delim = ',', quote = '\"', escape = '\"', auto_detect = false, "
            f"strict_mode = true, columns = {columns}{', filename = true' if filename else ''})")


def _file_columns(
    con: duckdb.DuckDBPyConnection, kind: str, file: Path, result: ReadResult, profile: Profile | None
) -> tuple[list[str], dict[str, int]]:
    """The file's header and where each contract column is in it (whole-export rules on the header)."""
    header = _header_of(file, con)
    if not header:
        if file.suffix == ".csv" and file.stat().st_size > 3:  # more than a BOM
            raise ExportRejected(f"{file.name} could not be parsed: its first line is blank (the header row must "
                                 "be the first line)")
        raise ExportRejected(f"{file.name} could not be parsed: it is empty (no header row)")
    return header, _map_columns(kind, file, header, result, profile)


def _text_expr(source: str) -> str:
    # Values are trimmed of white space (spaces, tabs, line breaks); an empty field is a missing value.
    return f"NULLIF({contract.trim_sql(f'CAST({source} AS VARCHAR)')}, '')"


def _refuse_nested_columns(con: duckdb.DuckDBPyConnection, kind: str, file: Path, header: list[str],
                           positions: dict[str, int]) -> None:
    """Refuse a Parquet file whose contract column holds lists, records or maps: a contract value is
    one text or number, and read as text such a cell would slip its parts past the identifier rule."""
    try:
        types = [t for _, t, *_ in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(file)]).fetchall()]
    except duckdb.Error as exc:
        raise _parquet_rejection(file, exc) from exc
    for column, pos in sorted(positions.items(), key=lambda kv: kv[1]):
        kind_of = types[pos] if pos < len(types) else ""
        shown = ("a list" if kind_of.endswith("]") else "a record" if kind_of.startswith(("STRUCT", "UNION"))
                 else "a map" if kind_of.startswith("MAP") else None)
        if shown:
            raise ExportRejected(
                f"{file.name}: the column '{contract.shown_name(header[pos].strip())}' ({column}) holds {shown} in "
                f"each cell, not one value; send one text or number per cell",
                f"{file.name}: the {kind} column {column} holds {shown} in each cell, not one value",
            )


def _load_file(
    con: duckdb.DuckDBPyConnection, export: str, kind: str, file: Path, result: ReadResult,
    profile: Profile | None = None,
) -> None:
    header, positions = _file_columns(con, kind, file, result, profile)
    mapped = needs_mapping_step(profile, kind)
    table = f"_{kind}_read" if mapped else f"{kind}_new"
    select_cols = ["CAST(? AS VARCHAR) AS export"]
    for column in contract.FILE_COLUMNS[kind]:
        if column in positions:
            select_cols.append(f"{_text_expr(f'c{positions[column]}')} AS {column}")
        else:
            select_cols.append(f"CAST(NULL AS VARCHAR) AS {column}")
    if not mapped:
        select_cols += [f"CAST(NULL AS VARCHAR) AS {c}" for c in EXTRA_COLUMNS]
    if file.suffix == ".parquet":
        _refuse_nested_columns(con, kind, file, header, positions)
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
            # One scan, in file order: row_number() over the unordered scan follows insertion order.
            con.execute("SET preserve_insertion_order = true")
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT row_number() OVER () AS row_number, "
                f"{', '.join(select_cols)} FROM {_csv_reader(len(header))}",
                [export, str(file)],
            )
    except duckdb.Error as exc:
        raise (_parquet_rejection(file, exc) if file.suffix == ".parquet" else _csv_rejection(file, exc)) from exc
    if mapped:
        assert profile is not None
        install_maps(con, profile, kind)
        sql, params = mapping_sql(profile, kind, source=table, target=f"{kind}_new")
        con.execute(sql, params)
        con.execute(f"DROP TABLE {table}")
    # Rows of the file: a visit split into one row per service is still one row of the file.
    rows, derived = con.execute(f"SELECT count(DISTINCT row_number), count(*) FROM {kind}_new").fetchone()
    result.rows[kind] = rows
    if derived > rows:
        result.warnings.append(
            f"{file.name}: the mapping profile split the visits holding several services into one row per "
            f"service ({rows} rows of the file, {derived} session rows)"
        )


def _row_list(rows: list[int], total: int) -> str:
    shown = ", ".join(str(r) for r in rows)
    return f"row {shown}" if total == 1 else f"rows {shown}" + (", ..." if total > len(rows) else "")


def _identifier_findings(
    con: duckdb.DuckDBPyConnection, tables: dict[str, str]
) -> dict[str, list[tuple[str, str, int, str, list[int]]]]:
    """Identifier-looking values in the id columns, per export: (file kind, column, count, kind of
    identifier, first row numbers), in one scan per text table (``tables``: file kind -> table)."""
    found: dict[str, list[tuple[str, str, int, str, list[int]]]] = {}
    for kind, columns in (("sessions", contract.IDENTIFIER_VALUE_COLUMNS), ("rom", contract.ROM_ID_COLUMNS)):
        if kind not in tables:
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
        any_found = " OR ".join(f"k{i} IS NOT NULL" for i in range(len(columns)))
        rows = con.execute(
            f"SELECT export, {aggregates} FROM (SELECT export, row_number, {checks} FROM {tables[kind]}) "
            f"WHERE {any_found} GROUP BY export"
        ).fetchall()
        for export, *values in rows:
            for i, column in enumerate(columns):
                count, label, first = values[3 * i], values[3 * i + 1], values[3 * i + 2]
                if count:
                    found.setdefault(export, []).append((kind, column, count, label, first))
    return found


def _identifier_rejection(
    findings: list[tuple[str, str, int, str, list[int]]], files: dict[str, Path]
) -> ExportRejected:
    full = [f"{files[kind].name}: {column} has {count} value(s) that look like {label} ({_row_list(rows, count)})"
            for kind, column, count, label, rows in findings]
    public = [f"{files[kind].name}: {column} holds values that look like {label}"
              for kind, column, _count, label, _rows in findings]
    tail = "; identifiers must be pseudonymous tokens, so the whole export is refused"
    return ExportRejected("; ".join(full) + tail, "; ".join(public) + tail)


def _reject_identifier_values(con: duckdb.DuckDBPyConnection, files: dict[str, Path]) -> None:
    """Reject the export when an id column holds a value that looks like an identifier.

    Every id column of both files is checked for e-mail addresses, phone numbers, SSNs and runs of
    9 or more digits, and ``patient_id`` / ``therapist_id`` also for dates (contract 1.1), in one
    scan per file. The reason names the file, the column and the kind, never the value; only the
    full reason (load log, restricted report) gives the first row numbers.
    """
    findings = _identifier_findings(con, {kind: f"{kind}_new" for kind in FILE_KINDS if kind in files})
    for export_findings in findings.values():
        raise _identifier_rejection(export_findings, files)


def export_profile(export: ExportFolder) -> Profile | None:
    """The validated mapping profile of an export, None without one; a profile that cannot be used
    (not valid, or more than one matches) refuses the export (:class:`ExportRejected`)."""
    if export.profile_problem:
        raise ExportRejected(export.profile_problem)
    if export.profile is None:
        return None
    try:
        return read_profile(export.profile, export.profile_label)
    except ProfileError as exc:
        raise ExportRejected(f"the mapping profile is not valid: {exc}",
                             f"its mapping profile ({export.profile_label}) is not valid") from exc


def _batchable(export: ExportFolder) -> bool:
    """Exports read together: CSV files only, no mapping profile (a profile maps per export)."""
    return (export.profile is None and not export.profile_problem and not export.unreadable
            and "sessions" in export.files
            and not any(k.endswith(":conflict") for k in export.files)
            and all(f.suffix == ".csv" for f in export.files.values()))


def read_exports_together(
    exports: list[ExportFolder], con: duckdb.DuckDBPyConnection
) -> tuple[dict[str, ReadResult | ExportRejected], list[ExportFolder]]:
    """Read many exports with one scan per file kind and header layout, into ``sessions_read`` /
    ``rom_read`` (the same columns as :func:`read_export`'s tables, every export's rows).

    A network's exports share a few layouts, and a scan per file costs more than reading the rows,
    so this gives the same rows and outcomes as reading each export alone, much faster. Returns each
    read export's result (or its rejection: a header or identifier rule) and the exports left to
    :func:`read_export`: those with a profile or Parquet files, and every export of a scan that
    failed (one unreadable file), so that each gets its own exact reason.
    """
    results: dict[str, ReadResult | ExportRejected] = {}
    alone = [e for e in exports if not _batchable(e)]
    layouts: dict[tuple[str, tuple[str, ...]], list[tuple[ExportFolder, dict[str, int]]]] = {}
    for export in (e for e in exports if _batchable(e)):
        result = ReadResult()
        try:
            for kind in FILE_KINDS:
                if kind in export.files:
                    header, positions = _file_columns(con, kind, export.files[kind], result, None)
                    layouts.setdefault((kind, tuple(header)), []).append((export, positions))
        except ExportRejected as exc:
            results[export.name] = exc
            continue
        results[export.name] = result
    extras = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in EXTRA_COLUMNS)
    for kind in FILE_KINDS:
        columns = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in contract.FILE_COLUMNS[kind])
        con.execute(f"CREATE OR REPLACE TEMP TABLE {kind}_read AS SELECT CAST(NULL AS BIGINT) AS row_number, "
                    f"CAST(NULL AS VARCHAR) AS export, {columns}, {extras} LIMIT 0")
    con.execute("SET preserve_insertion_order = true")
    failed: set[str] = set()
    for (kind, header), members in layouts.items():
        members = [(e, pos) for e, pos in members if isinstance(results[e.name], ReadResult)]
        if not members:
            continue
        positions = members[0][1]  # one header, one mapping
        text = ", ".join(f"{_text_expr(f'src.c{positions[c]}')} AS {c}" if c in positions
                         else f"CAST(NULL AS VARCHAR) AS {c}" for c in contract.FILE_COLUMNS[kind])
        con.execute("CREATE OR REPLACE TEMP TABLE _read_files (filename VARCHAR, export VARCHAR)")
        con.executemany("INSERT INTO _read_files VALUES (?, ?)", [[str(e.files[kind]), e.name] for e, _ in members])
        try:
            # the scan keeps file order: a row's number is its place in the scan less its file's first place
            con.execute(
                f"INSERT INTO {kind}_read SELECT src._pos - min(src._pos) OVER (PARTITION BY src.filename) + 1, "
                f"f.export, {text}, {extras} FROM (SELECT row_number() OVER () AS _pos, * FROM "
                f"{_csv_reader(len(header), filename=True)}) AS src JOIN _read_files AS f USING (filename)",
                [[str(e.files[kind]) for e, _ in members]],
            )
        except duckdb.Error:
            failed.update(e.name for e, _ in members)
    con.execute("DROP TABLE IF EXISTS _read_files")
    for name in failed:
        del results[name]
    by_name = {e.name: e for e in exports}
    counts = {kind: dict(con.execute(f"SELECT export, count(*) FROM {kind}_read GROUP BY export").fetchall())
              for kind in FILE_KINDS}
    patients = dict(con.execute(
        "SELECT export, count(DISTINCT (clinic_id, patient_id)) FROM sessions_read WHERE clinic_id IS NOT NULL "
        "AND patient_id IS NOT NULL GROUP BY export").fetchall())
    identifiers = _identifier_findings(con, {kind: f"{kind}_read" for kind in FILE_KINDS})
    for name, result in results.items():
        if not isinstance(result, ReadResult):
            continue
        if name in identifiers:
            results[name] = _identifier_rejection(identifiers[name], by_name[name].files)
            continue
        result.rows = {kind: counts[kind].get(name, 0) for kind in FILE_KINDS}
        result.patients = patients.get(name, 0)
        _finish_warnings(by_name[name], result)
    # rows of the scans that failed and of the exports refused for an identifier value go
    dropped = sorted(failed | identifiers.keys())
    if dropped:
        for kind in FILE_KINDS:
            con.execute(f"DELETE FROM {kind}_read WHERE export IN (SELECT unnest(?))", [dropped])
    return results, [*alone, *(by_name[name] for name in sorted(failed))]


def _finish_warnings(export: ExportFolder, result: ReadResult) -> None:
    for name in export.other_files:
        what = "folder" if (export.path / name).is_dir() else "file"
        result.warnings.append(f"ignored the {what} '{contract.shown_name(name)}': an export holds only sessions "
                               "and rom files")
    if result.rows["sessions"] == 0:
        result.warnings.append("the sessions file has a header and no rows (a period without visits)")


def read_export(export: ExportFolder, con: duckdb.DuckDBPyConnection) -> ReadResult:
    """Read an export's files into ``sessions_new`` / ``rom_new`` text tables on a scratch connection.

    Raises :class:`ExportRejected` with a one-line reason for every whole-export rule of the
    contract. Nothing is written anywhere but the given (scratch) connection. A sessions file with
    a header and no rows is read as 0 rows (contract 1.1: a month without visits). The export's
    mapping profile, if any, is applied while reading (:mod:`transforms.profile_mapping`); row
    counts are rows of the files (a visit the profile splits into several rows counts once).
    """
    if export.unreadable:
        raise ExportRejected(f"{export.unreadable}; make it readable for the pipeline and run again")
    conflicts = [k.split(":")[0] for k in export.files if k.endswith(":conflict")]
    if conflicts:
        raise ExportRejected(f"the export has both {conflicts[0]}.csv and {conflicts[0]}.parquet; send one")
    if "sessions" not in export.files:
        raise ExportRejected("the export has no sessions file (sessions.csv or sessions.parquet)")
    profile = export_profile(export)
    result = ReadResult()
    for kind in FILE_KINDS:
        if kind in export.files:
            _load_file(con, export.name, kind, export.files[kind], result, profile)
        else:
            cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in (*contract.FILE_COLUMNS[kind], *EXTRA_COLUMNS))
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
    _finish_warnings(export, result)
    return result
