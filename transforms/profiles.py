"""Mapping profiles: a small TOML file that turns one system's export into the export contract.

A clinic's practice-management system writes its own columns ("Visit Date" as 03/14/2026, pain on a
0-100 slider, "Massage 60 min" instead of a CPT code and units, the diagnosis in "Dx"). A profile
says, declaratively, how to read such an export: rename columns, map values (services to a CPT code
with units and minutes, payer names to payer types, visit kinds to visit types, yes/no words to
booleans), parse dates in a stated format, rescale a 0-100 pain scale or a function score, split a
cell holding several services into one row each, drop columns that must not come in, and fill a
constant (``clinic_id``). It is applied while the export is read, inside DuckDB
(:mod:`transforms.profile_mapping`), so every row rule and the quarantine work as for any export.

Which profile applies to an export folder (first that exists):

1. ``<export>/profile.toml``;
2. a file of the inbox's ``_profiles/`` folder whose ``exports`` patterns match the folder's name
   (shell-style: ``clinic-west-*``);
3. ``_profiles/default.toml`` (no ``exports`` needed);
4. none: the export is read as the contract itself.

This module parses and validates a profile with the standard library's ``tomllib`` and knows the
allowed keys; a profile that is not valid is refused with a one-line :class:`ProfileError`. The
contract's identifier guard is never weakened: a profile that names a column that looks like a
direct identifier (to bring it in, rename it or even to drop it: such a column must not be sent at
all) is refused.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transforms import contract

PROFILE_FILE = "profile.toml"
PROFILES_FOLDER = "_profiles"
DEFAULT_PROFILE = "default.toml"

ID_COLUMNS = ("session_id", "clinic_id", "patient_id", "episode_id", "therapist_id")
# Columns whose values a value map may translate, with the contract's vocabulary (None: a code pattern).
VALUE_MAPS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "sessions": {
        "visit_type": contract.VISIT_TYPES,
        "payer_type": contract.PAYER_TYPES,
        "referral_source": contract.REFERRAL_SOURCES,
        "condition_code": None,
        "function_instrument": contract.FUNCTION_INSTRUMENTS,
        "age_band": contract.AGE_BANDS,
        "sex": contract.SEXES,
        "goals_documented": ("true", "false"),
    },
    "rom": {
        "joint": contract.JOINTS,
        "movement": contract.MOVEMENTS,
        "side": contract.SIDES,
        "timing": contract.TIMINGS,
    },
}
BOOLEAN_COLUMNS = frozenset({"goals_documented"})
# Optional columns a value may map to "" (not recorded); required ones must get a value.
OPTIONAL = frozenset(c for c in contract.SESSION_COLUMNS if c not in contract.SESSION_REQUIRED)
RESCALABLE = ("pain_pre", "pain_post", "function_score")
# Columns whose value a profile converts (value maps, the service map, the date format, rescaling): a value
# it cannot convert is quarantined under the row rule ``unmapped_value`` of that column.
CONVERTIBLE: dict[str, tuple[str, ...]] = {
    kind: tuple(c for c in contract.FILE_COLUMNS[kind]
                if c in VALUE_MAPS[kind] or c in RESCALABLE or c in ("cpt_code", "session_date"))
    for kind in ("sessions", "rom")
}
# Columns a per-visit split clears on every row of a visit but the first (the clinical measures of
# the visit belong to it once: a second row with the same pain score would be a second visit).
VISIT_MEASURES = ("pain_pre", "pain_post", "function_instrument", "function_score")
SPLITTABLE = ("cpt_code",)
# A constant may fill any column but a per-patient or per-visit id, or the date.
NOT_CONSTANT = ("session_id", "patient_id", "episode_id", "therapist_id", "session_date")
ICD10_RE = re.compile(r"^[A-Z][0-9]{2}(\.?[A-Z0-9]{1,4})?$")

# Date formats: DuckDB strptime directives for a calendar date only (a time of day could shift the day).
DATE_DIRECTIVES = {
    "%Y": "year", "%y": "year", "%m": "month", "%-m": "month", "%b": "month", "%B": "month",
    "%d": "day", "%-d": "day", "%%": None,
}
DATE_SEPARATORS = frozenset(" /-.,")

TOP_KEYS = ("exports", "constants", "sessions", "rom")
FILE_KEYS = {
    "sessions": ("columns", "drop", "values", "date_format", "rescale", "services", "split"),
    "rom": ("columns", "drop", "values"),
}
SERVICE_KEYS = ("cpt_code", "units", "minutes")
RESCALE_KEYS = ("from", "to")


class ProfileError(ValueError):
    """A profile that cannot be used; ``str(exc)`` is one line naming the profile and what is wrong."""


@dataclass(frozen=True)
class Service:
    """What one service name (or code) of the export stands for: a CPT code, and optionally its units and minutes."""

    cpt_code: str
    units: int | None = None
    minutes: int | None = None


@dataclass(frozen=True)
class Rescale:
    """A linear change of scale: ``from`` (low, high) onto ``to`` (low, high), e.g. 0-100 onto 0-10."""

    low: float
    high: float
    to_low: float
    to_high: float


@dataclass(frozen=True)
class FileMapping:
    """How a profile reads one file kind (``sessions`` or ``rom``)."""

    columns: dict[str, str] = field(default_factory=dict)  # contract column -> the export's column name
    drop: tuple[str, ...] = ()
    values: dict[str, dict[str, str | None]] = field(default_factory=dict)  # column -> folded source -> target
    date_format: str | None = None
    rescale: dict[str, Rescale] = field(default_factory=dict)
    services: dict[str, Service] | None = None  # folded source -> service (the values of cpt_code)
    split: str | None = None  # separator of several services in one cpt_code cell

    @property
    def transforms_values(self) -> bool:
        """True when reading needs the second (value-mapping) step, not only renames and constants."""
        return bool(self.values or self.date_format or self.rescale or self.services is not None or self.split)

    def service_gives(self, part: str) -> bool:
        """True when ``units`` or ``minutes`` (``part``) come from the service map: every service gives it.

        An empty service map gives them only in a split profile (which takes them from nowhere else):
        every service is then unmapped and quarantined, as in a draft whose services are still to do.
        """
        if self.services is None or (not self.services and not self.split):
            return False
        return all(getattr(s, part) is not None for s in self.services.values())


@dataclass(frozen=True)
class Profile:
    """A validated mapping profile."""

    label: str  # how the load log names it: 'profile.toml' or '_profiles/<file>'
    checksum: str  # sha256 of the file's bytes
    exports: tuple[str, ...] = ()
    constants: dict[str, str] = field(default_factory=dict)
    files: dict[str, FileMapping] = field(default_factory=dict)

    def mapping(self, kind: str) -> FileMapping:
        """The mapping of one file kind (an empty one when the profile says nothing about it)."""
        return self.files.get(kind, FileMapping())

    @property
    def splits(self) -> bool:
        """True when the sessions mapping splits visits into one row per service."""
        return bool(self.mapping("sessions").split)


def fold(value: str) -> str:
    """A value-map key as it is matched: trimmed like every value (contract 1.1), then in lower case."""
    return value.strip(contract.WHITESPACE).lower()


def normalise_name(name: str) -> str:
    """A column name as the reader matches it: trimmed, lower case."""
    return name.strip().lower()


# --- finding the profile of an export -----------------------------------------------------------------


@dataclass(frozen=True)
class ProfileChoice:
    """The profile that applies to an export folder, or why none can be chosen."""

    path: Path | None = None
    label: str | None = None
    problem: str | None = None  # e.g. two shared profiles match the folder


def _shared_patterns(path: Path) -> tuple[str, ...] | None:
    """The ``exports`` patterns of a shared profile; None when the file cannot be read for them."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    patterns = data.get("exports")
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
        return None
    return tuple(patterns)


def choose_profiles(inbox: Path, folders: list[Path]) -> dict[str, ProfileChoice]:
    """folder name -> the profile that applies to it (see the module docstring for the order).

    A shared profile that cannot be read for its ``exports`` patterns (not TOML, or no patterns) is
    taken to apply to every folder without a profile of its own, so that those exports are refused
    with its error rather than read without the profile their sender meant.
    """
    shared_dir = inbox / PROFILES_FOLDER
    shared = sorted(p for p in shared_dir.glob("*.toml") if p.is_file()) if shared_dir.is_dir() else []
    default = next((p for p in shared if p.name == DEFAULT_PROFILE), None)
    named = [(p, _shared_patterns(p)) for p in shared if p.name != DEFAULT_PROFILE]
    broken = [p for p, patterns in named if patterns is None]
    # a profile file's name is shown in the load log and on the quality page: masked if it looks like
    # an identifier
    unsafe = contract.names_like_identifiers([p.name for p in shared])

    def label(path: Path) -> str:
        return f"{PROFILES_FOLDER}/{contract.masked(path.name) if path.name in unsafe else path.name}"

    choices = {}
    for folder in folders:
        own = folder / PROFILE_FILE
        if own.is_file():
            choices[folder.name] = ProfileChoice(own, PROFILE_FILE)
            continue
        if broken:
            path = broken[0]
            choices[folder.name] = ProfileChoice(path, label(path))
            continue
        matches = [p for p, patterns in named if any(fnmatch.fnmatchcase(folder.name, pat) for pat in patterns or ())]
        if len(matches) > 1:
            names = ", ".join(label(p) for p in matches)
            choices[folder.name] = ProfileChoice(problem=f"more than one mapping profile matches the export: {names}")
        elif matches:
            choices[folder.name] = ProfileChoice(matches[0], label(matches[0]))
        elif default is not None:
            choices[folder.name] = ProfileChoice(default, f"{PROFILES_FOLDER}/{DEFAULT_PROFILE}")
        else:
            choices[folder.name] = ProfileChoice()
    return choices


def file_checksum(path: Path) -> str:
    """sha256 of a profile file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- reading and validating ---------------------------------------------------------------------------


def read_profile(path: Path, label: str | None = None) -> Profile:
    """Read and validate a profile file; raises :class:`ProfileError` with one line."""
    label = label or path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{label}: cannot be read ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{label}: is not UTF-8 text") from exc
    return parse_profile(text, label, hashlib.sha256(data).hexdigest(), shared=label != PROFILE_FILE)


def parse_profile(text: str, label: str = PROFILE_FILE, checksum: str | None = None, shared: bool = False) -> Profile:
    """Validate the text of a profile; ``shared`` for a file of the inbox's ``_profiles`` folder."""
    checksum = checksum or hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{label}: not valid TOML: {exc}") from exc
    return _Validator(text, label, shared).profile(data, checksum)


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _quote(value: object) -> str:
    """A profile's key or value as a message quotes it; masked when it looks like an identifier (the
    message is stored in the load log and printed)."""
    return "'" + contract.shown_name(str(value).replace("\n", " "))[:60] + "'"


class _Validator:
    """Checks a parsed profile key by key; every message names the key (and its line when found)."""

    def __init__(self, text: str, label: str, shared: bool) -> None:
        self.lines = text.splitlines()
        self.label = label
        self.shared = shared

    # -- reporting

    def _line(self, key: str) -> int | None:
        """The first line that defines ``key`` (a best guess: a key at the start of a line or a table header)."""
        token = re.escape(key)
        patterns = (
            re.compile(rf'^\s*(\[+\s*[^\]]*\b{token}\b[^\]]*\]+|"?{token}"?\s*=)'),  # a table or a key
            re.compile(rf'(^|[\s{{,])"?{token}"?\s*='),  # a key of an inline table
        )
        for pattern in patterns:
            for number, line in enumerate(self.lines, 1):
                if pattern.search(line):
                    return number
        return None

    def fail(self, path: str, message: str, key: str | None = None) -> ProfileError:
        line = self._line(key) if key else None
        where = f" (line {line})" if line else ""
        return ProfileError(f"{self.label}: {path}{where}: {message}")

    def _keys(self, table: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(path or "top level", f"unknown key {_quote(key)}{_suggest(key, allowed)}; "
                                f"expected one of: {', '.join(allowed)}", key)

    def _table(self, value: Any, path: str, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "expected a table", key)
        return value

    def _string(self, value: Any, path: str, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"expected a non-empty text, got {_quote(value)}", key)
        return value

    def _column(self, kind: str, name: str, path: str) -> str:
        columns = contract.FILE_COLUMNS[kind]
        if name not in columns:
            raise self.fail(path, f"{_quote(name)} is not a column of the {kind} file{_suggest(name, columns)}", name)
        return name

    def _not_identifier(self, source: str, path: str, key: str, verb: str) -> None:
        word = contract.identifier_column_word(source)
        if word:
            raise self.fail(path, f"the column {_quote(source.strip())} looks like a direct identifier ('{word}'); "
                            f"a profile cannot {verb} it: identifiers must never be sent, remove it from the export",
                            key)

    # -- the profile

    def profile(self, data: dict[str, Any], checksum: str) -> Profile:
        self._keys(data, TOP_KEYS, "")
        exports: tuple[str, ...] = ()
        if "exports" in data:
            if not self.shared:
                raise self.fail("exports", "only a profile in the inbox's _profiles folder names the exports it "
                                "applies to; an export's own profile.toml applies to that export", "exports")
            patterns = data["exports"]
            if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
                raise self.fail("exports", "expected a list of folder-name patterns, e.g. [\"clinic-west-*\"]",
                                "exports")
            exports = tuple(patterns)
        elif self.shared and not self.label.endswith("/" + DEFAULT_PROFILE):
            raise self.fail("exports", "a profile in the _profiles folder must say which exports it applies to: "
                            "exports = [\"clinic-west-*\"] (or be named default.toml)", None)
        constants = self._constants(self._table(data.get("constants", {}), "constants", "constants"))
        files = {}
        for kind in ("sessions", "rom"):
            if kind in data:
                files[kind] = self._file(kind, self._table(data[kind], kind, kind), constants)
        return Profile(self.label, checksum, exports, constants, files)

    def _constants(self, table: dict[str, Any]) -> dict[str, str]:
        out = {}
        for column, value in table.items():
            path = f"constants.{column}"
            if column not in contract.SESSION_COLUMNS and column not in contract.ROM_COLUMNS:
                raise self.fail("constants", f"{_quote(column)} is not a contract column"
                                f"{_suggest(column, [*contract.SESSION_COLUMNS, *contract.ROM_COLUMNS])}", column)
            if column in NOT_CONSTANT:
                raise self.fail(path, f"{column} differs from row to row; it cannot be a constant", column)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float) and not isinstance(value, bool):
                text = str(value)
            elif isinstance(value, str) and value.strip(contract.WHITESPACE):
                text = value.strip(contract.WHITESPACE)
            else:
                raise self.fail(path, f"expected a value, got {_quote(value)}", column)
            vocabulary = VALUE_MAPS["sessions"].get(column) or VALUE_MAPS["rom"].get(column)
            if column in BOOLEAN_COLUMNS:
                if text.lower() not in contract.BOOLEAN_TRUE + contract.BOOLEAN_FALSE:
                    raise self.fail(path, "expected true or false", column)
            elif vocabulary and text not in vocabulary:
                raise self.fail(path, f"{_quote(text)} is not a {column}: one of {', '.join(vocabulary)}", column)
            if column == "clinic_id":
                kind = contract.identifier_kind(text, dates=False)
                if kind:
                    raise self.fail(path, f"the value looks like {kind}; a clinic id must be a pseudonymous token",
                                    column)
            out[column] = text
        return out

    def _file(self, kind: str, table: dict[str, Any], constants: dict[str, str]) -> FileMapping:
        self._keys(table, FILE_KEYS[kind], kind)
        columns = self._columns(kind, self._table(table.get("columns", {}), f"{kind}.columns", "columns"), constants)
        drop = self._drop(kind, table.get("drop", []), columns)
        values = self._values(kind, self._table(table.get("values", {}), f"{kind}.values", "values"), constants)
        date_format = self._date_format(table["date_format"]) if "date_format" in table else None
        rescale = self._rescale(self._table(table.get("rescale", {}), f"{kind}.rescale", "rescale"))
        services = (self._services(self._table(table["services"], f"{kind}.services", "services"))
                    if "services" in table else None)
        if services is not None and "cpt_code" in constants:
            raise self.fail(f"{kind}.services", "cpt_code is a constant; a service map would never be used", "services")
        split = self._split(self._table(table["split"], f"{kind}.split", "split")) if "split" in table else None
        mapping = FileMapping(columns, drop, values, date_format, rescale, services, split)
        for part, column in (("units", "units"), ("minutes", "duration_min")):
            if services and any(getattr(s, part) is not None for s in services.values()) \
                    and not mapping.service_gives(part):
                raise self.fail(f"{kind}.services", f"give {part} for every service or for none", "services")
            if services and mapping.service_gives(part) and (column in columns or column in constants):
                raise self.fail(f"{kind}.services", f"{column} comes both from the service map ({part}) and from "
                                f"{'a column' if column in columns else 'a constant'}; keep one", "services")
        if split and not (mapping.service_gives("units") and mapping.service_gives("minutes")):
            raise self.fail(f"{kind}.split", "splitting a cell into one row per service needs a service map "
                            "that gives cpt_code, units and minutes for every service (how a visit's minutes "
                            "divide between its services is not in the export)", "split")
        if split:
            for column in ("units", "duration_min"):
                if column in columns or column in constants:
                    raise self.fail(f"{kind}.split", f"a visit split into one row per service takes {column} from "
                                    f"the service map; remove {column} from {'columns' if column in columns else 'constants'}",
                                    "split")
        return mapping

    def _columns(self, kind: str, table: dict[str, Any], constants: dict[str, str]) -> dict[str, str]:
        out = {}
        for column, source in table.items():
            path = f"{kind}.columns.{column}"
            self._column(kind, column, f"{kind}.columns")
            source = self._string(source, path, column)
            self._not_identifier(source, path, column, "bring in or rename")
            if column in constants:
                raise self.fail(path, f"{column} is also a constant; keep one", column)
            out[column] = source
        return out

    def _drop(self, kind: str, value: Any, columns: dict[str, str]) -> tuple[str, ...]:
        path = f"{kind}.drop"
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(path, "expected a list of column names", "drop")
        used = {normalise_name(s): c for c, s in columns.items()}
        for name in value:
            self._not_identifier(name, path, "drop", "drop")
            if normalise_name(name) in used:
                raise self.fail(path, f"{_quote(name)} is dropped and also read as {used[normalise_name(name)]}",
                                "drop")
        return tuple(value)

    def _values(self, kind: str, table: dict[str, Any], constants: dict[str, str]) -> dict[str, dict[str, str | None]]:
        out: dict[str, dict[str, str | None]] = {}
        allowed = VALUE_MAPS[kind]
        for column, entries in table.items():
            path = f"{kind}.values.{column}"
            self._column(kind, column, f"{kind}.values")
            if column == "cpt_code":
                raise self.fail(path, "services and codes are mapped in [sessions.services]", column)
            if column not in allowed:
                raise self.fail(path, f"the values of {column} cannot be mapped; value maps are for: "
                                f"{', '.join(allowed)}", column)
            if column in constants:
                raise self.fail(path, f"{column} is a constant; its value map would never be used", column)
            entries = self._table(entries, path, column)
            mapped: dict[str, str | None] = {}
            originals: dict[str, str] = {}
            for source, target in entries.items():
                key = fold(source)
                if not key:
                    raise self.fail(path, "an empty value needs no mapping (it is read as not recorded)", column)
                if key in mapped:
                    raise self.fail(path, f"{_quote(source)} and {_quote(originals[key])} are the same value "
                                    "(values are matched in any letter case)", source)
                mapped[key] = self._target(kind, column, target, path, source)
                originals[key] = source
            out[column] = mapped
        return out

    def _target(self, kind: str, column: str, target: Any, path: str, source: str) -> str | None:
        where = f"{path}.{_quote(source)}"
        if column in BOOLEAN_COLUMNS:
            if isinstance(target, bool):
                return "true" if target else "false"
            if target == "":
                return None
            raise self.fail(where, f"expected true or false, got {_quote(target)}", source)
        if not isinstance(target, str):
            raise self.fail(where, f"expected a text value, got {_quote(target)}", source)
        if target == "":
            if column in OPTIONAL:
                return None
            raise self.fail(where, f"{column} is required: map the value to one of its values", source)
        vocabulary = VALUE_MAPS[kind][column]
        if vocabulary is None:  # condition_code
            if not ICD10_RE.match(target):
                raise self.fail(where, f"{_quote(target)} is not an ICD-10-CM code (a letter, two digits, then "
                                "optionally a dot and up to 4 letters or digits)", source)
        elif target not in vocabulary:
            raise self.fail(where, f"{_quote(target)} is not a {column}{_suggest(target, vocabulary)}: one of "
                            f"{', '.join(vocabulary)}", source)
        return target

    def _date_format(self, value: Any) -> str:
        path = "sessions.date_format"
        if not isinstance(value, str) or not value:
            raise self.fail(path, "expected a date format such as \"%m/%d/%Y\"", "date_format")
        seen = []
        i = 0
        while i < len(value):
            if value[i] == "%":
                directive = value[i:i + 3] if value[i + 1:i + 2] == "-" else value[i:i + 2]
                if directive not in DATE_DIRECTIVES:
                    raise self.fail(path, f"{_quote(value)} is not a date format: {_quote(directive)} is not one of "
                                    f"{', '.join(d for d in DATE_DIRECTIVES if d != '%%')}", "date_format")
                if DATE_DIRECTIVES[directive]:
                    seen.append(DATE_DIRECTIVES[directive])
                i += len(directive)
            elif value[i] in DATE_SEPARATORS:
                i += 1
            else:
                raise self.fail(path, f"{_quote(value)} is not a date format: {_quote(value[i])} is neither a "
                                "directive nor a separator (space / - . ,)", "date_format")
        if sorted(seen) != ["day", "month", "year"]:
            raise self.fail(path, f"{_quote(value)} is not a date format: it needs exactly one year (%Y or %y), "
                            "one month (%m, %b or %B) and one day (%d)", "date_format")
        return value

    def _number(self, value: Any, where: str, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(where, f"expected a number, got {_quote(value)}", key)
        return float(value)

    def _rescale(self, table: dict[str, Any]) -> dict[str, Rescale]:
        out = {}
        for column, spec in table.items():
            path = f"sessions.rescale.{column}"
            self._column("sessions", column, "sessions.rescale")
            if column not in RESCALABLE:
                raise self.fail(path, f"only {', '.join(RESCALABLE)} can be rescaled", column)
            spec = self._table(spec, path, column)
            self._keys(spec, RESCALE_KEYS, path)
            ranges = []
            for key in RESCALE_KEYS:
                pair = spec.get(key)
                if not isinstance(pair, list) or len(pair) != 2:
                    raise self.fail(path, f"{key} must be [low, high], e.g. from = [0, 100], to = [0, 10]", column)
                low, high = (self._number(v, path, column) for v in pair)
                if not low < high:
                    raise self.fail(path, f"{key} must be [low, high] with low below high", column)
                ranges.append((low, high))
            out[column] = Rescale(ranges[0][0], ranges[0][1], ranges[1][0], ranges[1][1])
        return out

    def _services(self, table: dict[str, Any]) -> dict[str, Service]:
        out: dict[str, Service] = {}
        originals: dict[str, str] = {}
        for source, spec in table.items():
            path = f"sessions.services.{_quote(source)}"
            key = fold(source)
            if not key:
                raise self.fail("sessions.services", "an empty service name cannot be mapped", "services")
            if key in out:
                raise self.fail("sessions.services", f"{_quote(source)} and {_quote(originals[key])} are the same "
                                "service (names are matched in any letter case)", source)
            if isinstance(spec, str):
                spec = {"cpt_code": spec}
            spec = self._table(spec, path, source)
            self._keys(spec, SERVICE_KEYS, path)
            code = spec.get("cpt_code")
            if not isinstance(code, str) or len(code) != 5:
                raise self.fail(path, f"cpt_code must be a CPT code of 5 characters, got {_quote(code)}", source)
            units = spec.get("units")
            minutes = spec.get("minutes")
            if units is not None and (isinstance(units, bool) or not isinstance(units, int) or units < 0):
                raise self.fail(path, f"units must be a whole number of 0 or more, got {_quote(units)}", source)
            low, high = contract.DURATION_MIN_RANGE
            if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int)
                                        or not low <= minutes <= high):
                raise self.fail(path, f"minutes must be a whole number from {low} to {high}, got {_quote(minutes)}",
                                source)
            out[key] = Service(code, units, minutes)
            originals[key] = source
        return out

    def _split(self, table: dict[str, Any]) -> str:
        path = "sessions.split"
        self._keys(table, SPLITTABLE, path)
        if "cpt_code" not in table:
            raise self.fail(path, "name the column to split: cpt_code = \";\"", "split")
        separator = table["cpt_code"]
        if not isinstance(separator, str) or not separator.strip(contract.WHITESPACE):
            raise self.fail(path, "the separator must be a visible character such as \";\" or \"+\"", "cpt_code")
        return separator
