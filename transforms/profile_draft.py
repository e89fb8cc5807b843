"""`outcomes profile init EXPORT`: a draft mapping profile from an export's header and a sample of its values.

The draft is a starting point for the user to complete, never a guess that loads silently:

- each file column is matched to a contract column by its name: the contract's own name, a short
  list of synonyms practice-management systems use (``Dx`` is ``condition_code``, ``DOS`` is
  ``session_date``, ``Client`` is ``patient_id``...), or a close spelling (``difflib``); a match
  becomes an active line of ``[sessions.columns]``, and a file column that matches nothing goes to
  ``drop`` (so that it is left out without a warning);
- a column that looks like a direct identifier is never matched nor dropped: the draft says it must
  be removed from the export (the whole export is refused while it is there);
- for a column with a vocabulary (visit types, payer types, sex, ...), every value seen that is
  already a contract value is mapped to itself, and every other value is a commented ``# TODO``
  line with a suggestion where one is obvious (``Female`` -> ``F``), else ``"TODO"``: uncommenting a
  line is the user's decision, and an unchecked ``"TODO"`` is refused, never loaded;
- services (a ``cpt_code`` column that does not hold 5-character codes) are listed as commented
  ``# TODO`` lines of ``[sessions.services]`` (with the minutes read from the name when it has them),
  and a cell holding several of them proposes ``[sessions.split]``;
- a date format is proposed when exactly one of the usual formats reads every sampled date (several:
  commented choices), and a 0-100 rescale of a pain column whose values go above 10;
- required contract columns that no file column matched are listed as ``# TODO`` lines (and
  ``clinic_id`` as a commented constant).

The draft is valid TOML and a valid profile as written: `outcomes check` then shows what is left.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from transforms import contract
from transforms.local_duckdb import local_cursor
from transforms.profiles import (
    BOOLEAN_COLUMNS,
    ICD10_RE,
    PROFILE_FILE,
    RESCALABLE,
    VALUE_MAPS,
    fold,
    parse_profile,
)

SAMPLE_ROWS = 5000
MAX_VALUES = 60  # distinct values listed per column; more suggests a free-text column
MATCH_CUTOFF = 0.8

# Names practice-management systems give contract columns (normalised: lower-case words joined by "_").
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "sessions": {
        "session_id": ("visit", "visit_id", "visit_no", "visit_number", "appointment", "appointment_id", "appt_id",
                       "encounter", "encounter_id", "session", "session_no", "visit_key", "visit_ref", "visit_uid"),
        "clinic_id": ("clinic", "location", "location_id", "site", "site_id", "practice", "clinic_code"),
        "patient_id": ("patient", "client", "client_id", "patient_token", "client_token", "pseudonym", "patient_key",
                       "patient_ref", "client_ref"),
        "episode_id": ("episode", "case", "case_id", "case_no", "case_ref", "episode_no", "episode_ref",
                       "plan_of_care", "course_of_care"),
        "therapist_id": ("therapist", "provider", "provider_id", "clinician", "practitioner", "staff",
                         "therapist_token", "treating_therapist"),
        "session_date": ("date", "visit_date", "dos", "date_of_service", "service_date", "appointment_date",
                         "appt_date", "session_day"),
        "visit_type": ("visit_kind", "kind", "type", "appointment_type", "appt_type", "visit_category"),
        "condition_code": ("dx", "diagnosis", "icd", "icd10", "icd_code", "dx_code", "diagnosis_code", "primary_dx"),
        "referral_source": ("referral", "referred_by", "referrer", "referral_type"),
        "payer_type": ("payer", "payor", "insurance", "insurance_type", "payer_class", "payer_category",
                       "financial_class", "plan_type", "funding"),
        "cpt_code": ("cpt", "cpt_codes", "service", "services", "procedure", "procedures", "billing_code",
                     "billing_codes", "code", "codes", "treatment_codes"),
        "units": ("unit", "billed_units", "qty", "quantity"),
        "duration_min": ("minutes", "duration", "mins", "treatment_minutes", "length_min", "time_min"),
        "techniques": ("technique", "techniques_used", "modalities", "modality", "methods"),
        "pain_pre": ("pain_before", "pre_pain", "pain_start", "nrs_before", "nrs_pre", "pain_in", "pain_score_before",
                     "pain_at_start", "vas_before", "pain_pre_treatment"),
        "pain_post": ("pain_after", "post_pain", "pain_end", "nrs_after", "nrs_post", "pain_out", "pain_score_after",
                      "pain_at_end", "vas_after", "pain_post_treatment"),
        "function_instrument": ("outcome_tool", "instrument", "outcome_measure", "questionnaire", "function_tool",
                                "outcome_instrument"),
        "function_score": ("outcome_score", "function", "questionnaire_score", "outcome_value"),
        "age_band": ("age", "age_group", "age_range", "age_bracket"),
        "sex": ("gender",),
        "symptom_weeks": ("weeks_since_onset", "symptom_duration", "onset_weeks", "weeks_of_symptoms",
                          "weeks_symptomatic", "symptom_duration_weeks", "duration_of_symptoms"),
        "goals_documented": ("goals", "goals_set", "has_goals", "goals_on_file", "goal_set"),
        "authorized_visits": ("auth_visits", "authorization", "authorized", "visits_authorized", "approved_visits",
                              "prescribed_visits", "authorised_visits"),
    },
    "rom": {
        "session_id": ("visit", "visit_id", "visit_no", "appointment_id", "encounter_id", "session"),
        "clinic_id": ("clinic", "location", "site"),
        "joint": ("body_part", "body_region", "region", "joint_name"),
        "movement": ("motion", "direction", "plane"),
        "side": ("laterality", "left_right"),
        "timing": ("when", "pre_post", "phase", "moment"),
        "value": ("degrees", "measurement", "measure", "angle", "rom", "result"),
    },
}
# Suggestions for values (folded) of vocabulary columns; a suggestion is still a TODO for the user.
VALUE_HINTS: dict[str, dict[str, str]] = {
    "sex": {"female": "F", "woman": "F", "f": "F", "male": "M", "man": "M", "m": "M", "other": "X",
            "non-binary": "X", "nonbinary": "X", "diverse": "X", "unknown": "U", "not stated": "U"},
    "visit_type": {"initial eval": "evaluation", "initial evaluation": "evaluation", "eval": "evaluation",
                   "evaluation": "evaluation", "intake": "evaluation", "new patient": "evaluation",
                   "follow-up": "treatment", "follow up": "treatment", "followup": "treatment", "tx": "treatment",
                   "treatment": "treatment", "visit": "treatment", "regular": "treatment",
                   "re-eval": "reevaluation", "re-evaluation": "reevaluation", "reeval": "reevaluation",
                   "progress": "reevaluation", "progress note": "reevaluation", "discharge": "discharge", "dc": "discharge",
                   "final": "discharge", "final visit": "discharge", "last visit": "discharge"},
    "payer_type": {"medicare": "medicare", "medicaid": "medicaid", "workers comp": "workers_comp",
                   "workers' comp": "workers_comp", "workers compensation": "workers_comp", "wc": "workers_comp",
                   "auto": "auto_pip", "pip": "auto_pip", "auto/pip": "auto_pip", "auto insurance": "auto_pip",
                   "hsa": "fsa_hsa", "fsa": "fsa_hsa", "hsa/fsa": "fsa_hsa", "fsa/hsa": "fsa_hsa",
                   "self pay": "self_pay", "self-pay": "self_pay", "cash": "self_pay", "private pay": "self_pay",
                   "commercial": "commercial", "blue cross": "commercial", "aetna": "commercial",
                   "cigna": "commercial", "united": "commercial", "unitedhealthcare": "commercial",
                   "humana": "commercial", "bcbs": "commercial"},
    "referral_source": {"doctor": "physician", "md": "physician", "gp": "physician", "physician": "physician",
                        "pcp": "physician", "chiro": "chiropractor", "chiropractor": "chiropractor",
                        "pt": "physical_therapist", "physio": "physical_therapist",
                        "physical therapist": "physical_therapist", "self": "self", "none": "self",
                        "self-referred": "self", "walk-in": "self"},
    "side": {"l": "left", "r": "right", "left": "left", "right": "right", "n/a": "na", "none": "na", "both": "na"},
    "timing": {"before": "pre", "after": "post", "pre": "pre", "post": "post"},
}
TRUE_WORDS = frozenset({"y", "yes", "true", "1", "x", "checked", "ja", "oui", "si", "t"})
FALSE_WORDS = frozenset({"n", "no", "false", "0", "unchecked", "nein", "non", "f"})
# Keywords of a service name and the timed code they usually stand for (a suggestion in a TODO line).
SERVICE_HINTS = (("massage", "97124"), ("manual", "97140"), ("myofascial", "97140"), ("exercise", "97110"),
                 ("neuromuscular", "97112"), ("activit", "97530"))
DATE_FORMATS = ("%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y", "%m-%d-%Y", "%d-%m-%Y", "%m/%d/%y", "%d/%m/%y",
                "%d.%m.%y", "%b %d %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y")
SEPARATORS = (";", "+", "|", ",", "/")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MINUTES_IN_NAME = re.compile(r"(?i)\b([0-9]{1,3})\s*(?:min|mins|minutes|')\b")


class DraftError(ValueError):
    """The export cannot be drafted from (no sessions file, unreadable file); one line."""


@dataclass
class Draft:
    """A drafted profile: its text and what the user still has to do."""

    text: str
    todos: int
    notes: list[str] = field(default_factory=list)


def _words(name: str) -> str:
    """A column name as lower-case words joined by '_', numbers dropped ('Pain Before (0-100)' -> 'pain_before')."""
    return "_".join(w for w in contract.column_words(name) if not w.isdigit())


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


@dataclass
class _Column:
    position: int
    name: str
    type: str  # DuckDB type of the sampled column ('VARCHAR' for CSV)
    values: list[tuple[str, int]]  # distinct trimmed non-empty values, most frequent first
    more_values: bool  # more distinct values than listed


def _data_file(folder: Path, kind: str) -> Path | None:
    found = [folder / f"{kind}.{fmt}" for fmt in ("csv", "parquet") if (folder / f"{kind}.{fmt}").is_file()]
    if len(found) > 1:
        raise DraftError(f"{folder.name} has both {kind}.csv and {kind}.parquet; keep one")
    return found[0] if found else None


def _read_columns(con: duckdb.DuckDBPyConnection, file: Path) -> list[_Column]:
    """The file's columns with their type and a sample of their distinct values (inside DuckDB)."""
    try:
        if file.suffix == ".parquet":
            described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(file)]).fetchall()
            header = [d[0] for d in described]
            types = [str(d[1]) for d in described]
            renames = ", ".join(f'"{n.replace(chr(34), chr(34) * 2)}" AS c{i}' for i, n in enumerate(header))
            con.execute(f"CREATE OR REPLACE TEMP TABLE _draft AS SELECT {renames} FROM read_parquet(?) LIMIT ?",
                        [str(file), SAMPLE_ROWS])
        else:
            with open(file, newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
            types = ["VARCHAR"] * len(header)
            columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _draft AS SELECT * FROM read_csv(?, header = true, delim = ',', "
                f"quote = '\"', escape = '\"', auto_detect = false, columns = {columns}) LIMIT ?",
                [str(file), SAMPLE_ROWS],
            )
    except (duckdb.Error, OSError, UnicodeDecodeError, csv.Error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DraftError(f"{file.name} could not be read: {first}") from exc
    if not header:
        raise DraftError(f"{file.name} has no header row")
    out = []
    for i, name in enumerate(header):
        text = f"NULLIF({contract.trim_sql(f'CAST(c{i} AS VARCHAR)')}, '')"
        rows = con.execute(f"SELECT v, count(*) AS n FROM (SELECT {text} AS v FROM _draft) WHERE v IS NOT NULL "
                           "GROUP BY v ORDER BY n DESC, v LIMIT ?", [MAX_VALUES + 1]).fetchall()
        out.append(_Column(i, name, types[i], [(v, n) for v, n in rows[:MAX_VALUES]], len(rows) > MAX_VALUES))
    return out


def _match(kind: str, columns: list[_Column]) -> dict[str, _Column]:
    """Contract column -> the file column that best matches it by name (each used once)."""
    known = contract.FILE_COLUMNS[kind]
    names: dict[str, str] = {c: c for c in known}
    for column, synonyms in SYNONYMS[kind].items():
        for synonym in synonyms:
            names.setdefault(synonym, column)
    scored = []
    for col in columns:
        if contract.identifier_column_word(col.name):
            continue
        exact = col.name.strip().lower()
        key = _words(col.name)
        if exact in known:
            scored.append((3.0, col.position, exact, col))
        elif key in known:
            scored.append((2.5, col.position, key, col))
        elif key in names:
            scored.append((2.0, col.position, names[key], col))
        else:
            close = difflib.get_close_matches(key, list(names), n=1, cutoff=MATCH_CUTOFF)
            if close:
                ratio = difflib.SequenceMatcher(None, key, close[0]).ratio()
                scored.append((ratio, col.position, names[close[0]], col))
    matched: dict[str, _Column] = {}
    used: set[int] = set()
    for _score, position, column, col in sorted(scored, key=lambda s: (-s[0], s[1])):
        if column not in matched and position not in used:
            matched[column] = col
            used.add(position)
    return matched


def _valid_value(column: str, value: str) -> bool:
    if column in BOOLEAN_COLUMNS:
        return value.lower() in contract.BOOLEAN_TRUE + contract.BOOLEAN_FALSE
    vocabulary = VALUE_MAPS["sessions"].get(column) or VALUE_MAPS["rom"].get(column)
    if vocabulary is None:
        return bool(ICD10_RE.match(value.upper()))
    return value in vocabulary


def _value_lines(kind: str, column: str, col: _Column) -> tuple[list[str], int]:
    """The lines of ``[<kind>.values.<column>]`` (empty when no value needs a mapping) and the TODO count."""
    if col.type.upper() == "BOOLEAN" or not col.values:
        return [], 0
    if all(_valid_value(column, v) for v, _ in col.values) and not col.more_values:
        return [], 0
    vocabulary = VALUE_MAPS[kind][column]
    lines = ["", f"[{kind}.values.{column}]"]
    if col.more_values:
        lines.append(f"# TODO: more than {MAX_VALUES} different values in '{col.name}': is it the right column?")
    todos = 0
    for value, n in col.values:
        key = fold(value)
        if _valid_value(column, value) and column not in BOOLEAN_COLUMNS:
            target = value.upper() if vocabulary is None else value  # a code as the contract normalises it
            lines.append(f"{_toml(value)} = {_toml(target)}")
            continue
        if column in BOOLEAN_COLUMNS:
            if key in TRUE_WORDS or key in FALSE_WORDS:
                lines.append(f"{_toml(value)} = {'true' if key in TRUE_WORDS else 'false'}")
                continue
            target, hint = "\"TODO\"", "true or false"
        elif vocabulary is None:  # condition_code
            target, hint = "\"TODO\"", "an ICD-10-CM code such as M54.50"
        else:
            folded = {v.lower(): v for v in vocabulary}
            guess = folded.get(key) or VALUE_HINTS.get(column, {}).get(key)
            target = _toml(guess) if guess else "\"TODO\""
            hint = f"one of {', '.join(vocabulary)}"
        lines.append(f"# {_toml(value)} = {target}  # TODO ({n} rows): check, then remove the leading '# '; {hint}")
        todos += 1
    return lines, todos


def _service_lines(col: _Column, separator: str | None) -> tuple[list[str], int]:
    pieces: dict[str, int] = {}
    for value, n in col.values:
        for piece in (value.split(separator) if separator else [value]):
            piece = piece.strip(contract.WHITESPACE)
            if piece:
                pieces[piece] = pieces.get(piece, 0) + n
    lines = ["", "[sessions.services]",
             "# service name in the export = { cpt_code = \"5 characters\", units = billed units, minutes = minutes }"]
    for piece, n in sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0])):
        code = next((c for word, c in SERVICE_HINTS if word in piece.lower()), "TODO")
        found = MINUTES_IN_NAME.search(piece)
        minutes = int(found.group(1)) if found else 0
        units = (minutes + 7) // 15 if minutes else 0
        lines.append(f"# {_toml(piece)} = {{ cpt_code = {_toml(code)}, units = {units}, minutes = {minutes} }}  "
                     f"# TODO ({n} rows): check the code, units and minutes, then remove the leading '# '")
    return lines, len(pieces)


def _date_format(con: duckdb.DuckDBPyConnection, col: _Column) -> tuple[list[str], int]:
    if col.type.upper() == "DATE" or not col.values or all(ISO_DATE.match(v) for v, _ in col.values):
        return [], 0
    values = [v for v, _ in col.values]
    fitting = [f for f in DATE_FORMATS
               if con.execute("SELECT bool_and(try_strptime(v, ?) IS NOT NULL) FROM unnest(CAST(? AS VARCHAR[])) t(v)",
                              [f, values]).fetchall()[0][0]]
    if len(fitting) == 1:
        return [f"date_format = {_toml(fitting[0])}  # every sampled '{col.name}' reads in this format"], 0
    if fitting:
        return ([f"# TODO: the sampled dates of '{col.name}' read in several formats; keep the right one:"]
                + [f"# date_format = {_toml(f)}" for f in fitting]), 1
    return [f"# TODO: the dates of '{col.name}' (e.g. {_toml(values[0])}) are in no usual format: write it with "
            "%Y %m %d, e.g. date_format = \"%m/%d/%Y\""], 1


def _rescale(column: str, col: _Column) -> list[str]:
    numbers = []
    for value, _ in col.values:
        try:
            numbers.append(float(value))
        except ValueError:
            continue
    if column in ("pain_pre", "pain_post") and numbers and 10 < max(numbers) <= 100:
        return [f"{column} = {{ from = [0, 100], to = [0, 10] }}  # values up to {max(numbers):g} in "
                f"'{col.name}': a 0-100 scale? check"]
    return []


def draft_profile(folder: Path) -> Draft:
    """Draft a profile for the export folder ``folder`` (nothing is written; see :func:`write_draft`)."""
    if not folder.is_dir():
        raise DraftError(f"{folder} is not an export folder")
    files = {kind: _data_file(folder, kind) for kind in ("sessions", "rom")}
    if files["sessions"] is None:
        raise DraftError(f"{folder.name} has no sessions file (sessions.csv or sessions.parquet)")
    todos = 0
    notes: list[str] = []
    body: list[str] = []
    constants: list[str] = []
    with local_cursor() as con:
        for kind, file in files.items():
            if file is None:
                continue
            columns = _read_columns(con, file)
            matched = _match(kind, columns)
            for col in columns:
                word = contract.identifier_column_word(col.name)
                if word:
                    notes.append(f"{file.name}: the column '{col.name.strip()}' looks like a direct identifier "
                                 f"('{word}'): remove it from the export; no profile can bring it in or drop it")
            renames = [f"{c} = {_toml(col.name)}" for c, col in
                       sorted(matched.items(), key=lambda kv: contract.FILE_COLUMNS[kind].index(kv[0]))
                       if col.name.strip().lower() != c]
            used = {col.position for col in matched.values()}
            drop = [col.name for col in columns if col.position not in used
                    and not contract.identifier_column_word(col.name) and col.name.strip()]
            section = [f"[{kind}]"]
            extra: list[str] = []
            services = kind == "sessions" and "cpt_code" in matched and any(
                len(v) != 5 for v, _ in matched["cpt_code"].values)
            separator = None
            if services:
                cells = [v for v, _ in matched["cpt_code"].values]
                separator = next((s for s in SEPARATORS if any(s in v for v in cells)), None)
                lines, n = _service_lines(matched["cpt_code"], separator)
                extra += lines
                todos += n
                if separator:
                    extra += ["", "[sessions.split]", f"cpt_code = {_toml(separator)}  # some '{matched['cpt_code'].name}' "
                              "cells hold several services: one row per service"]
            if kind == "sessions" and "session_date" in matched:
                lines, n = _date_format(con, matched["session_date"])
                section += lines
                todos += n
            if drop:
                section.append(f"drop = [{', '.join(_toml(d) for d in drop)}]  # columns that match no contract column")
            section += ["", f"[{kind}.columns]", "# contract column = column in the export", *renames]
            missing = [c for c in contract.FILE_REQUIRED[kind] if c not in matched]
            for column in missing:
                if column == "clinic_id":
                    if not constants:
                        constants = ["[constants]", "# TODO: your clinic's pseudonymous id (the same in every export), "
                                     "then remove the leading '# '", "# clinic_id = \"TODO\""]
                        todos += 1
                elif column in ("units", "duration_min") and services:
                    continue  # from the service map
                else:
                    section.append(f"# TODO: {column} is required and no column matched it: {column} = \"<column>\"")
                    todos += 1
            rescale = [line for c in RESCALABLE if kind == "sessions" and c in matched
                       for line in _rescale(c, matched[c])]
            if rescale:
                extra += ["", "[sessions.rescale]", *rescale]
            for column in VALUE_MAPS[kind]:
                if column in matched:
                    lines, n = _value_lines(kind, column, matched[column])
                    extra += lines
                    todos += n
            body += ["", *section, *extra]
    header = [
        f"# Mapping profile drafted by `outcomes profile init` from {folder.name}: how to read this system's export",
        "# as the export contract. Complete every TODO (check a suggestion, then remove the leading '# '), then run",
        "# `outcomes check --inbox <inbox>` to see what would load. See docs/onboarding.md.",
    ]
    text = "\n".join([*header, *([""] + constants if constants else []), *body]) + "\n"
    parse_profile(text)  # the draft is a valid profile as written (a bug here must not reach the user)
    return Draft(text, todos, notes)


def write_draft(folder: Path, force: bool = False) -> tuple[Path, Draft]:
    """Write the draft as ``<folder>/profile.toml``; an existing profile is kept unless ``force``."""
    target = folder / PROFILE_FILE
    if target.exists() and not force:
        raise DraftError(f"{target} already exists; use --force to replace it")
    draft = draft_profile(folder)
    target.write_text(draft.text, encoding="utf-8")
    return target, draft
