"""Downloads: every table of a published page, and the data behind its charts, as a CSV file beside it.

Researchers cite numbers, so each page also writes what it shows to ``site/data/<name>.csv``, with a
"Download CSV" link (:func:`link`) next to the table or chart:

- the values are the *published* ones: each page builds its downloads from the same suppressed
  frames its tables and charts use, so a file can never show more than its page;
- numbers are written at full precision (the shortest text that reads back as the same float), not
  the page's rounded text;
- an empty cell is explained in the last column, ``empty_because`` (:class:`Reason`): ``suppressed``,
  ``not applicable``, ``not reached``, the quality page's own labels, or ``not computable``;
- no identifier and no row-level data: only the aggregates the page shows.

What each file holds is declared once, in :data:`TABLES` (title, page, section, key and value
columns, what a row is and what its numbers rest on); every column is described in
:mod:`dashboards.data_dictionary`, which writes the dictionary (``site/data/index.html``,
``data-dictionary.csv`` and ``README.txt``). A page builder registers its downloads with
:func:`write_downloads`, which writes exactly the files the catalogue gives that page (and removes
any older file of that page), so the dictionary always describes the files on disk. The same
frames give byte-identical files.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.config import Settings

DATA_DIR = "data"
DICTIONARY_PAGE = "index.html"
REASON_COLUMN = "empty_because"
RELIEF_TEMPLATE = "relief_by_{t}"

SUPPRESSED = "suppressed"
NOT_APPLICABLE = "not applicable"
NOT_REACHED = "not reached"
NOT_COMPUTABLE = "not computable"
NO_EPISODE_ENDED = "no episode has ended"

MARKED = "marked"
LEFT_OUT = "left out"


@dataclass(frozen=True)
class Table:
    """One downloadable CSV: what it is, where it belongs and its columns (keys first, then values).

    ``section`` is the anchor of the page section it belongs to ("" for the page itself); ``row`` says
    what one row is; ``rests_on`` names the patients its numbers rest on for suppression ("" when the
    table is not suppressed); ``hidden_rows`` says whether rows suppressed on the page are listed with
    empty values (:data:`MARKED`: the page names them too) or left out (:data:`LEFT_OUT`: the page
    gives only their number). A value column ``relief_by_{t}`` stands for one column per report time.
    """

    name: str
    title: str
    page: str
    section: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    row: str
    rests_on: str = ""
    hidden_rows: str = ""

    @property
    def filename(self) -> str:
        """``researcher-conditions.csv``."""
        return f"{self.name}.csv"

    def value_columns(self, settings: Settings) -> list[str]:
        """The value columns in force (``relief_by_{t}`` expanded to the run's report times)."""
        out: list[str] = []
        for column in self.values:
            if column == RELIEF_TEMPLATE:
                out += [f"relief_by_{int(t)}" for t in settings.report_times]
            else:
                out.append(column)
        return out

    def columns(self, settings: Settings) -> list[str]:
        """Every column of the file, in order: keys, values and ``empty_because``."""
        return [*self.keys, *self.value_columns(settings), REASON_COLUMN]


@dataclass(frozen=True)
class Reason:
    """Why some cells are empty: on the rows flagged in ``rows``, the ``columns`` (all value columns when
    empty) are written empty, whatever the frame holds, and ``text`` is given in ``empty_because``."""

    text: str
    rows: tuple[bool, ...]
    columns: tuple[str, ...] = ()


def reason(text: str, rows: Iterable[object], columns: Sequence[str] = ()) -> Reason:
    """A :class:`Reason` from any iterable of truthy flags (a boolean Series, a list)."""
    return Reason(text, tuple(bool(r) for r in rows), tuple(columns))


@dataclass(frozen=True)
class Download:
    """A CSV to write: its :class:`Table`, the published values (a frame with the table's key and value
    columns, in the order the rows should be written) and the reasons for its empty cells."""

    table: Table
    frame: pd.DataFrame
    reasons: tuple[Reason, ...] = ()


def download(name: str, frame: pd.DataFrame, *reasons: Reason) -> Download:
    """The :class:`Download` of the catalogue's table ``name``."""
    return Download(TABLES[name], frame.reset_index(drop=True), tuple(reasons))


def suppressed(flags: Iterable[object], columns: Sequence[str] = ()) -> Reason:
    """The cells of ``columns`` (all values when empty) on the flagged rows are suppressed."""
    return reason(SUPPRESSED, flags, columns)


def take(frame: pd.DataFrame, names: Sequence[str], **sources: str) -> pd.DataFrame:
    """The columns ``names`` of a published frame, as a new frame (index 0..n-1); ``sources`` maps a name to
    the frame's column of another name (``survival_ci_low="ci_low"``); a column the frame lacks is empty."""
    out = pd.DataFrame(index=range(len(frame)))
    for name in names:
        source = sources.get(name, name)
        out[name] = frame[source].tolist() if source in frame.columns else [None] * len(frame)
    return out


def ratio(numerators: Iterable[object], denominators: Iterable[object]) -> list[float | None]:
    """Element-wise quotient at full precision; None where either is missing or the denominator is 0."""
    out: list[float | None] = []
    for a, b in zip(numerators, denominators, strict=True):
        missing = a is None or b is None or pd.isna(a) or pd.isna(b)  # type: ignore[arg-type]
        out.append(None if missing or float(b) == 0 else float(a) / float(b))  # type: ignore[arg-type]
    return out


def missing(values: Iterable[object]) -> list[bool]:
    """True where a value is None or NaN (a published hole)."""
    return [v is None or bool(pd.isna(v)) for v in values]  # type: ignore[arg-type]


# --- writing ------------------------------------------------------------------------------------------------


def format_value(value: object) -> str:
    """A cell as CSV text: numbers at full precision (integers without a decimal point, other floats as
    the shortest text that reads back as the same float), booleans as ``true``/``false``, missing as ""."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return ""
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _because(empty: list[tuple[str, str]], values: Sequence[str]) -> str:
    """``empty_because`` of a row from its empty (column, reason) pairs: the reason alone when one reason
    empties every value column, else ``reason: column, column; reason: column``."""
    if not empty:
        return ""
    grouped: dict[str, list[str]] = {}
    for column, text in empty:
        grouped.setdefault(text, []).append(column)
    if len(grouped) == 1 and len(empty) == len(values):
        return next(iter(grouped))
    return "; ".join(f"{text}: {', '.join(columns)}" for text, columns in grouped.items())


def csv_text(item: Download, settings: Settings) -> str:
    """The CSV text of a download (UTF-8 text, comma-separated, a header row, Unix newlines).

    Raises ``ValueError`` when the frame's columns are not exactly the table's, or a reason does not
    have one flag per row: a page cannot write a column the dictionary does not describe.
    """
    table, frame = item.table, item.frame
    keys, values = list(table.keys), table.value_columns(settings)
    expected = [*keys, *values]
    if sorted(frame.columns) != sorted(expected) or len(set(frame.columns)) != len(frame.columns):
        raise ValueError(f"{table.name}: columns {sorted(frame.columns)} are not the catalogue's {sorted(expected)}")
    for r in item.reasons:
        if len(r.rows) != len(frame):
            raise ValueError(f"{table.name}: the reason {r.text!r} has {len(r.rows)} flags for {len(frame)} rows")
        unknown = [c for c in r.columns if c not in values]
        if unknown:
            raise ValueError(f"{table.name}: the reason {r.text!r} names columns {unknown} that are not values")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns(settings))
    cells = {c: frame[c].tolist() for c in expected}
    for i in range(len(frame)):
        row = [format_value(cells[c][i]) for c in keys]
        empty: list[tuple[str, str]] = []
        for column in values:
            why = next((r.text for r in item.reasons if r.rows[i] and (not r.columns or column in r.columns)), None)
            text = "" if why is not None else format_value(cells[column][i])
            if text == "":
                empty.append((column, why or NOT_COMPUTABLE))
            row.append(text)
        row.append(_because(empty, values))
        writer.writerow(row)
    return out.getvalue()


def write_downloads(site: Path, page: str, items: Sequence[Download], settings: Settings) -> list[Path]:
    """Write a page's downloads into ``site/data/`` and return their paths.

    ``items`` must be exactly the catalogue's tables of ``page`` (so the dictionary describes every file
    and every file is described); any other ``<page stem>-*.csv`` left by an older build is removed.
    """
    wanted = sorted(t.name for t in TABLES.values() if t.page == page)
    given = sorted(d.table.name for d in items)
    if given != wanted:
        raise ValueError(f"{page}: downloads {given} are not the catalogue's {wanted}")
    folder = Path(site) / DATA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in items:
        path = folder / item.table.filename
        path.write_text(csv_text(item, settings), encoding="utf-8", newline="\n")
        paths.append(path)
    stem = page.removesuffix(".html")
    keep = {p.name for p in paths}
    for old in sorted(folder.glob(f"{stem}-*.csv")):
        if old.name not in keep:
            old.unlink()
    return paths


def link(*names: str, root: str = "") -> str:
    """The small "Download CSV" line under a table or chart: one link per file (named by its title when
    there are several) and a link to the columns' meaning in the data dictionary."""
    tables = [TABLES[n] for n in names]
    files = "".join(
        f"<a href='{root}{DATA_DIR}/{t.filename}' download>"
        + ("Download CSV" if len(tables) == 1 else f"CSV: {escape(t.title)}") + "</a>"
        for t in tables
    )
    return (f"<div class=download>{files}<a href='{root}{DATA_DIR}/{DICTIONARY_PAGE}#{tables[0].name}'>"
            "what the columns mean</a></div>")


# --- the catalogue -----------------------------------------------------------------------------------------

DIRECTOR, RESEARCHER, PAYER, QUALITY, INDEX, DEFINITIONS = (
    "director.html", "researcher.html", "payer.html", "quality.html", "index.html", "definitions.html")
DICTIONARY = f"{DATA_DIR}/{DICTIONARY_PAGE}"

_MEAN_CHANGE = ("mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high")
_RESPONDERS = ("responder_rate", "responder_ci_low", "responder_ci_high")
_MEDIAN = ("median_sessions_to_relief", "median_ci_low", "median_ci_high")
_FINAL_PAIN = ("n_with_final_pain", "final_pain_share", "final_pain_ci_low", "final_pain_ci_high")
_EPISODE_CUBE = ("patients of the row's cell: all its patients for the counts, those with a pain-evaluable episode "
                 "for the pain numbers, those with a relief-evaluable episode for the relief numbers")

TABLES: dict[str, Table] = {t.name: t for t in (
    # --- clinic directors
    Table("director-conditions", "Outcomes by condition, per clinic and for all clinics", DIRECTOR, "",
          ("clinic_id", "condition_group"),
          ("n_patients", "n_episodes", "n_sessions", "n_pain_evaluable", *_MEAN_CHANGE, *_RESPONDERS, *_MEDIAN,
           *_FINAL_PAIN),
          "a condition group (or all conditions) of one clinic (or all clinics)", _EPISODE_CUBE, MARKED),
    Table("director-lost-to-follow-up", "Lost to follow-up, per clinic and for all clinics", DIRECTOR, "",
          ("clinic_id",), ("n_ended", "lost_rate", "lost_ci_low", "lost_ci_high"),
          "a clinic (or all clinics)", "the patients of the clinic's ended episodes", MARKED),
    Table("director-funnel", "Risk-adjusted pain change of clinics and therapists (funnel plot)", DIRECTOR, "",
          ("level", "clinic_id", "unit_id"),
          ("n", "observed_mean", "expected_mean", "o_minus_e", "o_minus_e_ci_low", "o_minus_e_ci_high", "limit_95",
           "limit_998", "position"),
          "a clinic or a therapist: one point of the funnel plot", "the unit's patients with a pain-evaluable episode",
          LEFT_OUT),
    Table("director-responder-funnel", "Risk-adjusted responder rate of clinics and therapists (funnel plot)",
          DIRECTOR, "", ("level", "clinic_id", "unit_id"),
          ("n", "observed_rate", "expected_rate", "o_to_e", "o_minus_e", "o_minus_e_ci_low", "o_minus_e_ci_high",
           "limit_95", "limit_998", "position"),
          "a clinic or a therapist: one point of the funnel plot", "the unit's patients with a pain-evaluable episode",
          LEFT_OUT),
    Table("director-therapists", "Follow-up completeness by therapist", DIRECTOR, "",
          ("clinic_id", "therapist_id"), ("n_episodes", *_FINAL_PAIN),
          "a therapist: one point of the completeness chart", "all the therapist's patients", LEFT_OUT),
    Table("director-monthly", "Monthly trend, per clinic and for all clinics", DIRECTOR, "",
          ("clinic_id", "month"),
          ("in_progress", "n_episodes", "n_sessions", "n_pain_evaluable", *_MEAN_CHANGE, *_RESPONDERS),
          "the episodes that started in a month at one clinic (or all clinics)", _EPISODE_CUBE, MARKED),
    # --- researchers
    Table("researcher-conditions", "Condition comparison", RESEARCHER, "condition-comparison",
          ("condition_group",),
          ("n_pain_evaluable", "mean_baseline_pain", *_MEAN_CHANGE, "srm", *_RESPONDERS, "substantial_rate",
           "n_relief_evaluable", *_MEDIAN, RELIEF_TEMPLATE),
          "a condition group, or all conditions", _EPISODE_CUBE, MARKED),
    Table("researcher-follow-up", "Follow-up status by condition", RESEARCHER, "follow-up-status",
          ("condition_group",),
          ("n_episodes", "n_discharged", "n_active", "n_lost", "share_discharged", "share_active", "share_lost",
           "n_ended", "lost_rate", "lost_ci_low", "lost_ci_high"),
          "a condition group, or all conditions",
          "all the condition's patients for the status counts and shares, the patients of its ended episodes for "
          "the lost rate", MARKED),
    Table("researcher-drop-out-sensitivity", "Responder rate under drop-out: bounds and IPW", RESEARCHER, "drop-out",
          ("condition_group",),
          ("n_eligible", "n_evaluable", "complete_case_rate", "complete_case_ci_low", "complete_case_ci_high",
           "worst_case_rate", "best_case_rate", "ipw_rate", "ipw_ci_low", "ipw_ci_high", "max_weight", "effective_n"),
          "a condition group, or all conditions", "the condition's patients with a final pain score", MARKED),
    Table("researcher-techniques", "Outcomes by primary technique", RESEARCHER, "outcomes-by-technique",
          ("condition_group", "technique"),
          ("n_pain_evaluable", *_RESPONDERS, *_MEAN_CHANGE, "adjusted_difference", "adjusted_ci_low",
           "adjusted_ci_high"),
          "a primary technique within a condition group (or all conditions)",
          "the patients with a pain-evaluable episode where the technique is primary", LEFT_OUT),
    Table("researcher-flares", "Flare rate by technique", RESEARCHER, "post-treatment-flares",
          ("condition_group", "technique"), ("n_sessions_scored", "n_flares", "flare_rate", "flare_ci_low",
                                             "flare_ci_high"),
          "the scored visits of a condition group (or all conditions) that list a technique (or all visits)",
          "the patients with a scored visit in the row", LEFT_OUT),
    Table("researcher-relief-curves", "Relief curves: the published points", RESEARCHER, "sessions-to-relief",
          ("condition_group", "t"), ("survival", "survival_ci_low", "survival_ci_high", "at_risk"),
          "a point of a condition's Kaplan–Meier curve (a curve stops at its first suppressed point)",
          "the patients still at risk at t", LEFT_OUT),
    Table("researcher-number-at-risk", "Number at risk", RESEARCHER, "sessions-to-relief",
          ("condition_group", "t"), ("at_risk",),
          "a cell of the number-at-risk table", "the patients still at risk at t", MARKED),
    Table("researcher-range-of-motion", "Range of motion against normal values", RESEARCHER, "range-of-motion",
          ("condition_group", "joint", "movement"),
          ("n_episodes", "mean_baseline", "mean_final", "mean_gain", "gain_ci_low", "gain_ci_high", "normal", "unit",
           "baseline_share_of_normal", "final_share_of_normal"),
          "a joint and movement (sides pooled) within a condition group", "the patients measured twice", LEFT_OUT),
    Table("researcher-function", "Function instruments against their MCIDs", RESEARCHER, "function-instruments",
          ("condition_group", "instrument"),
          ("n_episodes", "mean_improvement", "improvement_ci_low", "improvement_ci_high", "mcid",
           "improvement_in_mcids", "improvement_in_mcids_ci_low", "improvement_in_mcids_ci_high", "mcid_reached_rate"),
          "an instrument within a condition group", "the patients scored twice on the instrument", LEFT_OUT),
    Table("researcher-case-mix-models", "Case-mix models: size and fit", RESEARCHER, "case-mix-models",
          ("model",), ("n_obs", "method", "r_squared", "residual_sd"),
          "a case-mix model", ""),
    Table("researcher-model-coefficients", "Case-mix model coefficients", RESEARCHER, "case-mix-models",
          ("model", "term"), ("reference_level", "estimate", "ci_low", "ci_high", "odds_ratio", "odds_ratio_ci_low",
                              "odds_ratio_ci_high"),
          "a term of a case-mix model", "the pain-evaluable patients the term describes", MARKED),
    Table("researcher-calibration", "Calibration of the case-mix models", RESEARCHER, "case-mix-models",
          ("model", "decile"), ("n", "mean_expected", "mean_observed"),
          "a tenth of the pain-evaluable episodes, by expected outcome", "the decile's patients", LEFT_OUT),
    # --- payers
    Table("payer-flags", "Flagged episodes by flag (all clinics and payers)", PAYER, "",
          ("flag",), ("tier", "raised_per", "n_flagged_episodes", "n_flags"),
          "an audit flag, a tier (tier:<tier>) or any flag (ANY)", "the flagged patients", MARKED),
    Table("payer-flags-by-unit", "Flagged episodes by flag and payer type, and by flag and clinic", PAYER, "",
          ("flag", "clinic_id", "payer_type"), ("n_flagged_episodes", "share_of_episodes"),
          "a flag (or tier, or ANY) at one payer type of all clinics, or at one clinic for all payers",
          "the flagged patients of the unit; the share also on all the unit's patients", MARKED),
    Table("payer-flag-rate-funnel", "Flag rate by clinic (funnel plot)", PAYER, "",
          ("flag", "clinic_id"),
          ("n_episodes", "n_flagged_episodes", "flag_rate", "overall_rate", "limit_95_low", "limit_95_high",
           "limit_998_low", "limit_998_high", "position"),
          "a clinic under any flag or one tier: one point of the funnel plot",
          "the clinic's patients and its flagged patients", LEFT_OUT),
    Table("payer-units", "Units at risk and excess units, per clinic and payer type", PAYER, "",
          ("clinic_id", "payer_type"),
          ("n_episodes", "n_flagged_episodes", "units_billed", "units_at_risk", "units_over_time"),
          "a payer type at one clinic (or all clinics)",
          "all the unit's patients for episodes and units billed, its flagged patients for flagged episodes, its "
          "patients with units at risk or excess units for those", MARKED),
    Table("payer-pain-documentation", "Pain documentation completeness by clinic", PAYER, "",
          ("clinic_id",), ("n_sessions", "n_scored_sessions", "share_scored"),
          "a clinic, or all clinics", "all the clinic's patients", MARKED),
    Table("payer-documentation", "Documentation and necessity checks by payer type", PAYER, "",
          ("flag", "payer_type"), ("check", "n_episodes", "n_documented", "share_documented"),
          "a documentation or necessity check for one payer type",
          "the payer type's patients and its flagged patients", MARKED),
    Table("payer-rules", "Which rules apply to which payer type", PAYER, "",
          ("flag", "payer_type"), ("tier", "raised_when", "applies"),
          "an audit flag and a payer type (the reference table of the run)", ""),
    Table("payer-visits-per-episode", "Visits per episode", PAYER, "",
          ("payer_type", "visits"), ("n_episodes",),
          "episodes with a number of visits in the bin, of one payer type (or all)", "the bin's patients", MARKED),
    # --- data managers
    Table("quality-exports", "Exports and their state", QUALITY, "",
          ("export",), ("status", "rows_in", "rows_loaded", "rows_quarantined", "reason"),
          "an export folder", "the distinct patients of the export's sessions file", MARKED),
    Table("quality-rejected", "Rejected exports", QUALITY, "",
          ("export",), ("why_rejected", "effect", "attempted_at"),
          "an export refused whole, or a refused correction of a loaded export", ""),
    Table("quality-quarantine", "Quarantined rows by rule and export", QUALITY, "",
          ("file_and_column", "rule", "export"), ("n_rows",),
          "a row rule at one export (or all exports)", "the distinct patients of the export's sessions file", MARKED),
    Table("quality-rule-history", "Rows failing each rule, run by run", QUALITY, "",
          ("run_at", "rule"), ("rows_failing",),
          "a row rule after one run (exports whose counts are published)", "", LEFT_OUT),
    Table("quality-rule-changes", "Rule changes since the previous run", QUALITY, "",
          ("rule",), ("exports_newly_failing", "exports_resolved", "exports_still_failing", "rows_failing_now"),
          "a row rule that fails now or stopped failing in the latest run", ""),
    Table("quality-broken-rows", "Share of broken session rows per clinic and month", QUALITY, "",
          ("clinic_id", "month"), ("share_broken",),
          "a clinic and month of session", "the distinct patients of the month's loaded session rows", MARKED),
    Table("quality-skipped", "Skipped inbox entries", QUALITY, "",
          ("entry",), ("reason",), "an inbox entry the latest run skipped", ""),
    Table("quality-load-log", "Load log", QUALITY, "",
          ("loaded_at", "export", "status"), ("rows_in", "rows_loaded", "rows_quarantined", "reason"),
          "a load attempt (the 200 most recent)", "the distinct patients of the export's sessions file", MARKED),
    # --- overview
    Table("index-data-period", "Data period per clinic", INDEX, "this-run",
          ("clinic_id",), ("first_month", "last_month"), "a clinic", ""),
    Table("index-run-exports", "Exports used by this run", INDEX, "this-run",
          ("export",), ("checksum", "load_order"), "an export in the warehouse", ""),
    Table("index-reference-tables", "Reference tables used by this run", INDEX, "this-run",
          ("reference_table",), ("checksum",), "a reference table", ""),
    # --- definitions
    Table("definitions-settings", "Settings in force for this run", DEFINITIONS, "settings-in-force",
          ("setting",), ("in_force", "default", "changed", "meaning"), "a setting that shapes a published number", ""),
    # --- the dictionary itself
    Table("data-dictionary", "Data dictionary", DICTIONARY, "",
          ("file", "column"), ("title", "page", "unit", "meaning", "definition_section", "definition_link"),
          "a column of a downloadable file", ""),
)}
