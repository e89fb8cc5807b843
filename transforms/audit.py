"""Payer audit, version 2: flags, flagged episodes with units at risk, the summary per clinic and payer,
and the restricted worklists (metrics.md section 8).

Eleven flags in four tiers, each a prompt for a reviewer (never a finding):

- **billing**: ``UNITS_OVER_TIME`` (the CMS 8-minute rule per patient and day), ``OVER_AUTHORIZED``
  (a visit beyond the authorisation in force);
- **necessity**: ``NO_REFERRAL`` (also for FSA/HSA plans), ``NO_EVALUATION``, ``NO_RECERTIFICATION``
  (plan of care not recertified within ``recertification_days``), ``CARE_AFTER_GOAL`` (treatment
  continued after relief without a re-evaluation);
- **documentation**: ``NO_GOALS``, ``NO_PROGRESS_NOTE``, ``NO_BASELINE_MEASURE``, ``NO_OUTCOME_MEASURE``;
- **review**: ``PLATEAU`` (a prompt for review, not a denial: Jimmo v. Sebelius).

Each flag is one SQL model, ``transforms/sql/marts/audit_<flag>.sql``, whose opening comment states
the payer rule and its source; each reads ``{{ sessions }}`` (and ``{{ episodes }}``), so the
pipeline can later rebuild only the affected episodes (``UNITS_OVER_TIME`` is per patient and day,
so a scope must hold whole patients). The models raise rows into the working table
``_audit_raised``; ``marts/audit_flags.sql`` keeps a row when its flag applies to the episode's payer
(``ref.audit_payer_rules``, a reference CSV overridable through the ``reference_dir`` setting) and
adds the tier from :data:`FLAG_CATALOGUE`, the one place where flags, tiers and their summary
columns are listed. ``marts/audit_episodes.sql`` gives every flagged episode its units at risk and
its excess units; ``marts/audit_summary.sql`` sums them per clinic and payer type.

Every threshold reaches SQL through ``_thresholds`` (:mod:`transforms.thresholds`) only.
Worklists name episodes only by their pseudonymous ``episode_key`` and go to the restricted
folder, never to the published site.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from transforms.config import Settings
from transforms.contract import INSURED_PAYERS, PAYER_TYPES, TIMED_CPT_CODES
from transforms.episode_outcomes import TABLE as EPISODES
from transforms.sqlmodels import FULL_SOURCES, Sources, create_table, insert_into, install_macros, model_sql

FLAGS_TABLE = "marts.audit_flags"
EPISODES_TABLE = "marts.audit_episodes"
SUMMARY_TABLE = "marts.audit_summary"
TABLES = (FLAGS_TABLE, EPISODES_TABLE, SUMMARY_TABLE)
RAISED_TABLE = "_audit_raised"
CATALOGUE_TABLE = "_audit_catalogue"
PAYER_RULES_TABLE = "ref.audit_payer_rules"

TIERS: tuple[str, ...] = ("billing", "necessity", "documentation", "review")
ALL_PAYERS = PAYER_TYPES


@dataclass(frozen=True)
class Flag:
    """One audit flag of metrics.md section 8.

    ``column`` is its count column in ``marts.audit_summary`` (episodes carrying it); ``defaults``
    are the payer types it applies to unless the reference table says otherwise; ``label`` and
    ``source`` are what a payer's reviewer reads.
    """

    name: str
    tier: str
    level: str
    column: str
    defaults: tuple[str, ...]
    label: str
    source: str


# The one catalogue of flags: tier order, then the order of section 8.
FLAG_CATALOGUE: tuple[Flag, ...] = (
    Flag("UNITS_OVER_TIME", "billing", "session", "units_over_time_episodes", ALL_PAYERS,
         "Units beyond the minutes (8-minute rule)",
         "CMS 8-minute rule (Medicare Claims Processing Manual, chapter 5): the minutes of all timed codes of a "
         "day decide the units"),
    Flag("OVER_AUTHORIZED", "billing", "session", "over_authorized", INSURED_PAYERS,
         "Visit beyond the authorisation",
         "the payer's authorisation, or the number of visits the referral prescribed, for the course of care"),
    Flag("NO_REFERRAL", "necessity", "episode", "no_referral", (*INSURED_PAYERS, "fsa_hsa"),
         "No referral on file",
         "insurers pay for massage on a provider's referral or prescription; FSA/HSA plans reimburse it only "
         "with a letter of medical necessity (IRS Publication 502)"),
    Flag("NO_EVALUATION", "necessity", "episode", "no_evaluation", INSURED_PAYERS,
         "No evaluation at the first visit",
         "covered therapy starts with an evaluation and a plan of care (Medicare Benefit Policy Manual, chapter "
         "15, section 220)"),
    Flag("NO_RECERTIFICATION", "necessity", "session", "no_recertification", INSURED_PAYERS,
         "Plan of care not recertified",
         "Medicare requires the plan of care to be recertified periodically (42 CFR 424.24(c)); commercial "
         "payers review continued care alike"),
    Flag("CARE_AFTER_GOAL", "necessity", "episode", "care_after_goal", INSURED_PAYERS,
         "Care continued after the goal was met",
         "covered care needs expected improvement toward the plan's goals; once relief is reached, continuing "
         "needs a re-assessment (Medicare Benefit Policy Manual, chapter 15, section 220.2)"),
    Flag("NO_GOALS", "documentation", "episode", "no_goals", INSURED_PAYERS,
         "No treatment goals documented",
         "payers expect measurable, diagnosis-related goals in the plan of care (Medicare Benefit Policy Manual, "
         "chapter 15, section 220.1; Premera 8.03.502)"),
    Flag("NO_PROGRESS_NOTE", "documentation", "episode", "no_progress_note", INSURED_PAYERS,
         "No progress note in time",
         "Medicare asks for a progress report by the clinician at regular intervals of treatment days "
         "(Benefit Policy Manual, chapter 15, section 220.3)"),
    Flag("NO_BASELINE_MEASURE", "documentation", "episode", "no_baseline_measure", INSURED_PAYERS,
         "No baseline measure",
         "payers expect baseline limits documented with an objective measure (eviCore massage guideline; "
         "Medicare chapter 15, section 220.3)"),
    Flag("NO_OUTCOME_MEASURE", "documentation", "episode", "no_outcome_measure", INSURED_PAYERS,
         "No outcome measure",
         "payers expect progress shown by successive objective measures (eviCore massage guideline; Medicare "
         "chapter 15, section 220.3)"),
    Flag("PLATEAU", "review", "episode", "plateau", INSURED_PAYERS,
         "Plateau (a prompt for review)",
         "Jimmo v. Sebelius (2013): Medicare may not require improvement; skilled maintenance care is covered "
         "when it is documented, so a plateau is a prompt for review, not a denial"),
)
FLAG_BY_NAME: dict[str, Flag] = {f.name: f for f in FLAG_CATALOGUE}
# flag -> its count column in marts.audit_summary
FLAGS: dict[str, str] = {f.name: f.column for f in FLAG_CATALOGUE}
SESSION_FLAGS: tuple[str, ...] = tuple(f.name for f in FLAG_CATALOGUE if f.level == "session")
# Whole-episode flags: every unit of an episode carrying one is at risk (section 8).
WHOLE_EPISODE_AT_RISK = ("NO_REFERRAL", "NO_EVALUATION")
TIER_LABELS = {
    "billing": "Billing", "necessity": "Medical necessity", "documentation": "Documentation", "review": "Review",
}

WORKLIST_PREFIX = "audit_worklist_"
WORKLIST_COLUMNS = (
    "episode_key", "clinic_id", "payer_type", "tier", "flags", "n_flags", "units_at_risk", "units_over_time",
    "first_date", "last_date", "n_sessions", "units_billed", "details",
)
_RAISED_COLUMNS = (
    "episode_key VARCHAR, flag VARCHAR, session_id VARCHAR, session_number INTEGER, session_date DATE, "
    "session_payer_type VARCHAR, evidence_sessions INTEGER[], risk_sessions INTEGER[], day_excess_units INTEGER, "
    "detail VARCHAR"
)


def flag_model(flag: str) -> str:
    """The SQL model that raises ``flag`` (``marts/audit_<flag in lower case>``)."""
    if flag not in FLAG_BY_NAME:
        raise ValueError(f"unknown audit flag {flag!r}")
    return f"marts/audit_{flag.lower()}"


# --- which payer types each flag applies to (reference data) ------------------------------------------


def default_payer_rules() -> list[tuple[str, str, bool]]:
    """Section 8's "applies to" column as (flag, payer type, applies) rows: the shipped reference table."""
    return [(f.name, p, p in f.defaults) for f in FLAG_CATALOGUE for p in PAYER_TYPES]


def payer_rules(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], bool]:
    """The flag x payer type table in force (``ref.audit_payer_rules``), checked to be complete.

    Raises ``ValueError`` naming the problem when a flag or payer type is unknown, missing or listed twice.
    """
    rows = con.execute(f"SELECT flag, payer_type, applies FROM {PAYER_RULES_TABLE}").fetchall()
    table: dict[tuple[str, str], bool] = {}
    problems = []
    for flag, payer, applies in rows:
        if flag not in FLAG_BY_NAME:
            problems.append(f"unknown flag {flag!r}")
        elif payer not in PAYER_TYPES:
            problems.append(f"unknown payer type {payer!r}")
        elif (flag, payer) in table:
            problems.append(f"{flag} x {payer} listed twice")
        elif applies is None:
            problems.append(f"{flag} x {payer} has no applies value")
        else:
            table[(flag, payer)] = bool(applies)
    missing = [f"{f} x {p}" for f in FLAG_BY_NAME for p in PAYER_TYPES if (f, p) not in table]
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if problems:
        raise ValueError(f"audit_payer_rules.csv (flag x payer type -> applies): {'; '.join(problems)}")
    return table


# --- the rules in words (for reviewers; every settings-driven number from the run's settings) ----------


def _num(value: Decimal | float | int) -> str:
    return f"{float(value):g}"


def _points(value: Decimal | float | int) -> str:
    return f"{_num(value)} point{'' if float(value) == 1 else 's'}"


def relief_in_words(settings: Settings) -> str:
    """Section 4's relief level in words, from the run's settings."""
    return (f"pain before treatment at least {_points(settings.relief_min_points)} below the first visit's and no "
            f"more than {_num(Decimal(settings.relief_max_fraction) * 100)} % of it")


def rule_in_words(flag: str, settings: Settings) -> str:
    """What raises ``flag``, in words a payer's reviewer reads, with the run's thresholds (never defaults)."""
    s = settings
    timed = ", ".join(TIMED_CPT_CODES)
    texts = {
        "UNITS_OVER_TIME": (
            f"Over all rows of one patient on one day with a timed code (CPT {timed}), whatever their episode or "
            "payer, more units were billed than the day's total minutes support: (minutes + 7) ÷ 15, rounded "
            "down, so 8 to 22 minutes support 1 unit, 23 to 37 support 2 and 38 to 52 support 3. Every timed row "
            "of such a day is flagged; the day's excess units are counted once."),
        "OVER_AUTHORIZED": (
            "The visit number is higher than the visits authorised at that point: the most recent number of "
            "authorised visits recorded at or before the visit (a later, lower number replaces a higher one)."),
        "NO_REFERRAL": (
            "No visit of the episode records a referral source other than the patient (self). For FSA/HSA plans "
            "this means no letter of medical necessity is on file."),
        "NO_EVALUATION": "The first visit of the episode is not an evaluation.",
        "NO_RECERTIFICATION": (
            f"The visit is more than {s.recertification_days} days after the latest evaluation or re-evaluation "
            "dated on or before it (after the first visit when there is none): the plan of care was due for "
            "recertification."),
        "CARE_AFTER_GOAL": (
            f"Relief was reached ({relief_in_words(s)}, from a first-visit score of at least "
            f"{_num(s.relief_min_baseline)}), and {s.care_after_goal_visits} or more treatment visits followed "
            "before a re-evaluation, or until the end of the episode. Evaluation and discharge visits neither "
            "count nor stop the count."),
        "NO_GOALS": "No visit of the episode has measurable treatment goals documented.",
        "NO_PROGRESS_NOTE": (
            f"More than {s.progress_note_max_visits} treatment visits in a row without an evaluation or "
            "re-evaluation between them (a discharge visit neither counts nor breaks the run)."),
        "NO_BASELINE_MEASURE": "The first visit records neither a pain score before treatment nor a function score.",
        "NO_OUTCOME_MEASURE": (
            "The episode has ended (discharged, or lost to follow-up: no discharge and no visit in the last "
            f"{s.follow_up_active_days} days of the clinic's data) after two or more visits, and no visit after "
            "the first records a pain score before treatment or a function score."),
        "PLATEAU": (
            f"At least {s.plateau_min_sessions} visits have a pain score before treatment; over the last "
            f"{s.plateau_window} of them pain fell by less than {_points(s.plateau_min_change)} (or rose); and the "
            f"last is not at the relief level ({relief_in_words(s)}). A prompt for review, not a denial: "
            "improvement is not required for skilled maintenance care (Jimmo v. Sebelius)."),
    }
    if flag not in texts:
        raise ValueError(f"unknown audit flag {flag!r}")
    return texts[flag]


# --- building the marts -----------------------------------------------------------------------------------


def _install_catalogue(con: duckdb.DuckDBPyConnection) -> None:
    rows = [(f.name, f.tier, TIERS.index(f.tier) + 1, i + 1, f.level) for i, f in enumerate(FLAG_CATALOGUE)]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CATALOGUE_TABLE} "
        "(flag VARCHAR, tier VARCHAR, tier_rank INTEGER, flag_rank INTEGER, level VARCHAR)"
    )
    con.executemany(f"INSERT INTO {CATALOGUE_TABLE} VALUES (?, ?, ?, ?, ?)", rows)


def build_audit_flags(
    con: duckdb.DuckDBPyConnection, sources: Sources = FULL_SOURCES, table: str = FLAGS_TABLE
) -> int:
    """Section 8: ``marts.audit_flags``, one row per raised flag with its tier and a detail in words.

    Needs ``marts.episode_outcomes``, ``ref.audit_payer_rules`` and ``_thresholds``; returns the row count.
    """
    payer_rules(con)  # a broken override stops the build with a message, before anything is written
    _install_catalogue(con)
    con.execute(f"CREATE OR REPLACE TABLE {RAISED_TABLE} ({_RAISED_COLUMNS})")
    for flag in FLAG_CATALOGUE:
        insert_into(con, RAISED_TABLE, flag_model(flag.name), sessions=sources.sessions, episodes=sources.episodes)
    count = create_table(con, table, "marts/audit_flags", episodes=sources.episodes)
    con.execute(f"DROP TABLE {RAISED_TABLE}")
    return count


def build_audit_episodes(
    con: duckdb.DuckDBPyConnection, sources: Sources = FULL_SOURCES, table: str = EPISODES_TABLE
) -> int:
    """Section 8: ``marts.audit_episodes``, one row per flagged episode with its flags, highest tier,
    units at risk (each session once) and excess units under the 8-minute rule (each day once)."""
    return create_table(con, table, "marts/audit_episodes", sessions=sources.sessions, episodes=sources.episodes)


def build_audit_summary(con: duckdb.DuckDBPyConnection) -> int:
    """Sections 8 and 10: ``marts.audit_summary`` per clinic and payer type. Run after the two above."""
    count = create_table(con, SUMMARY_TABLE, "marts/audit_summary")
    con.execute(f"DROP TABLE IF EXISTS {CATALOGUE_TABLE}")
    return count


# --- restricted outputs ---------------------------------------------------------------------------------


def check_restricted(restricted_dir: Path, site: Path | None) -> Path:
    """The restricted folder, refused when it is in or around the public ``site`` folder."""
    restricted_dir = Path(restricted_dir)
    if site is not None:
        r, s = restricted_dir.resolve(), Path(site).resolve()
        if r == s or s in r.parents or r in s.parents:
            raise ValueError(f"audit outputs name episodes: {restricted_dir} must not be in or around the site {site}")
    return restricted_dir


def flagged_payers(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The payer types with at least one flagged episode, in the contract's order."""
    found = {p for (p,) in con.execute(f"SELECT DISTINCT payer_type FROM {EPISODES_TABLE}").fetchall()}
    unexpected = found - set(PAYER_TYPES)
    if unexpected:  # file names come from the contract's vocabulary only
        raise ValueError(f"unexpected payer type(s) {sorted(unexpected)} in {EPISODES_TABLE}")
    return [p for p in PAYER_TYPES if p in found]


def write_audit_worklists(
    con: duckdb.DuckDBPyConnection, restricted_dir: Path, *, site: Path | None = None
) -> list[Path]:
    """Section 8/11: one CSV per payer type of flagged episodes, written to the *restricted* folder only.

    Rows (:data:`WORKLIST_COLUMNS`): pseudonymous ``episode_key``, clinic, payer type, the highest tier
    of its flags, the flags, their number, units at risk, excess units, first/last dates, sessions, units
    billed and every flag's detail; ordered by tier, then units at risk (largest first). Worklists of an
    earlier run are replaced; payer types without a flagged episode get no file. Given the public
    ``site`` folder, refuses a restricted folder inside it (or containing it). Returns the files written.
    """
    restricted_dir = check_restricted(restricted_dir, site)
    restricted_dir.mkdir(parents=True, exist_ok=True)
    for old in restricted_dir.glob(f"{WORKLIST_PREFIX}*.csv"):
        old.unlink()
    written = []
    for payer in flagged_payers(con):
        path = restricted_dir / f"{WORKLIST_PREFIX}{payer}.csv"
        con.execute(f"COPY ({model_sql('restricted/audit_worklist')}) TO ? (HEADER)", [payer, str(path)])
        written.append(path)
    return written


Record = dict[str, Any]


@dataclass(frozen=True)
class PacketData:
    """What one page of an audit packet shows: one payer type's flagged episodes at one clinic
    (restricted: row level, pseudonymous ids only).

    ``episodes``: the page's flagged episodes in reviewing order (tier, then units at risk); ``flags``:
    their flag rows; ``timelines``: one per episode (:func:`_timelines`): its visit timeline
    (the table rows as HTML, written in DuckDB: a packet may hold hundreds of thousands of visits) and
    its pain scores by visit; rows are dictionaries, SQL NULL as None;
    ``page`` of ``pages``; ``totals``: the packet's flagged episodes (in all and per tier), units at
    risk and excess units.
    """

    payer_type: str
    clinic_id: str
    episodes: list[Record]
    flags: list[Record]
    timelines: list[Record]
    page: int = 1
    pages: int = 1
    totals: dict[str, int] | None = None


def _records(cursor: duckdb.DuckDBPyConnection) -> list[Record]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def packet_groups(con: duckdb.DuckDBPyConnection, clinics: Collection[str] | None = None) -> list[tuple[str, str]]:
    """The (payer type, clinic) pairs with at least one flagged episode -- one audit packet each -- in the
    contract's payer order, then by clinic; only ``clinics`` when given."""
    order = {p: i for i, p in enumerate(flagged_payers(con))}
    pairs = con.execute(f"SELECT DISTINCT payer_type, clinic_id FROM {EPISODES_TABLE}").fetchall()
    wanted = None if clinics is None else set(clinics)
    return sorted(((p, c) for p, c in pairs if wanted is None or c in wanted), key=lambda pc: (order[pc[0]], pc[1]))


def payer_clinic_totals(con: duckdb.DuckDBPyConnection, payer_type: str) -> list[Record]:
    """Per clinic, one payer type's flagged episodes (in all and per tier), units at risk and excess units,
    the clinics with the most units at risk first (the payer's index of its packets)."""
    tiers = ", ".join(f"count(*) FILTER (WHERE top_tier = '{t}') AS {t}" for t in TIERS)  # allow-listed names
    return _records(con.execute(
        f"SELECT clinic_id, count(*) AS episodes, sum(units_at_risk) AS units_at_risk, "
        f"sum(units_over_time) AS units_over_time, {tiers} FROM {EPISODES_TABLE} WHERE payer_type = ? "
        "GROUP BY clinic_id ORDER BY units_at_risk DESC, clinic_id", [payer_type]))


def packet_totals(episodes: list[Record]) -> dict[str, int]:
    """A payer type's flagged episodes (in all and per tier), units at risk and excess units."""
    totals = {"episodes": len(episodes), "units_at_risk": sum(int(e["units_at_risk"]) for e in episodes),
              "units_over_time": sum(int(e["units_over_time"]) for e in episodes)}
    totals.update({t: sum(1 for e in episodes if e["top_tier"] == t) for t in TIERS})
    return totals


def _stream(cursor: duckdb.DuckDBPyConnection, rows: int = 10_000) -> Iterator[Record]:
    names = [d[0] for d in cursor.description]
    while chunk := cursor.fetchmany(rows):
        for row in chunk:
            yield dict(zip(names, row, strict=True))


def _timelines(cursor: duckdb.DuckDBPyConnection, rows: int = 10_000) -> Iterator[Record]:
    """The visit rows of ``restricted/audit_packet_timelines`` (in the packets' order) gathered per
    episode, as they stream: ``group_rank``, ``review_rank``, ``episode_key``, ``rows_html`` (the
    timeline table's body), ``pre_visits`` and ``pre_pain`` / ``post_visits`` and ``post_pain`` (the
    pain scores recorded before / after treatment, by visit; a missing or NaN one is left out) and
    ``last_visit``. Visits are read as tuples: there are many of them."""
    current: Record | None = None
    parts: list[str] = []
    while chunk := cursor.fetchmany(rows):
        for group_rank, review_rank, key, n, pre, post, row_html in chunk:
            if current is None or current["episode_key"] != key:
                if current is not None:
                    current["rows_html"] = "".join(parts)
                    yield current
                current = {"group_rank": group_rank, "review_rank": review_rank, "episode_key": key,
                           "pre_visits": [], "pre_pain": [], "post_visits": [], "post_pain": [], "last_visit": n}
                parts = []
            parts.append(row_html)
            current["last_visit"] = n  # visits come in session order
            if pre is not None and pre == pre:  # NaN is not equal to itself
                current["pre_visits"].append(n)
                current["pre_pain"].append(pre)
            if post is not None and post == post:
                current["post_visits"].append(n)
                current["post_pain"].append(post)
    if current is not None:
        current["rows_html"] = "".join(parts)
        yield current


def _take_until(stream: Iterator[Record], pending: list[Record], last: tuple[int, int]) -> list[Record]:
    """The rows of ``stream`` (plus the one held back in ``pending``) up to the packet and episode ``last``
    (``group_rank``, ``review_rank``)."""
    taken = []
    while pending or (nxt := next(stream, None)) is not None:
        row = pending.pop() if pending else nxt
        if (row["group_rank"], row["review_rank"]) > last:
            pending.append(row)
            break
        taken.append(row)
    return taken


def _groups(rows: Iterator[Record]) -> Iterator[list[Record]]:
    """Consecutive rows of one packet (same ``group_rank``) as lists."""
    group: list[Record] = []
    for row in rows:
        if group and row["group_rank"] != group[0]["group_rank"]:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def packet_pages(
    con: duckdb.DuckDBPyConnection, clinics: Collection[str] | None = None, page_episodes: int | None = None,
    sessions: str = "staging.sessions", episodes: str = EPISODES,
) -> Iterator[PacketData]:
    """Every audit packet -- one per payer type and clinic; only those of ``clinics`` when given -- page by
    page (``page_episodes`` episodes a page; a packet on one page when None), by payer type then clinic.

    Episodes, flags and visit timelines are each streamed in the packets' order in one scan for all
    packets, and only one packet's episodes are held at a time, so memory stays bounded however many
    are flagged."""
    wanted = sorted(set(clinics)) if clinics is not None else [
        c for (c,) in con.execute(f"SELECT DISTINCT clinic_id FROM {EPISODES_TABLE} ORDER BY 1").fetchall()]
    if not wanted:
        return
    cursors = [con.cursor() for _ in range(3)]
    try:
        episode_rows = _stream(cursors[0].execute(
            model_sql("restricted/audit_packet_episodes", episodes=episodes), [wanted]))
        flag_rows = _stream(cursors[1].execute(model_sql("restricted/audit_packet_flags"), [wanted]))
        install_macros(cursors[2])  # the timelines' HTML escaping and number format
        timelines = _timelines(cursors[2].execute(
            model_sql("restricted/audit_packet_timelines", sessions=sessions), [wanted]))
        held_flags: list[Record] = []
        held_timelines: list[Record] = []
        for ordered in _groups(episode_rows):
            payer_type, clinic_id = str(ordered[0]["payer_type"]), str(ordered[0]["clinic_id"])
            if payer_type not in PAYER_TYPES:  # file names come from the contract's vocabulary only
                raise ValueError(f"unexpected payer type {payer_type!r} in {EPISODES_TABLE}")
            size = max(1, page_episodes or len(ordered))
            pages = -(-len(ordered) // size)
            totals = packet_totals(ordered)
            for page in range(1, pages + 1):
                part = ordered[(page - 1) * size: page * size]
                last = (int(part[-1]["group_rank"]), int(part[-1]["review_rank"]))
                yield PacketData(payer_type, clinic_id, part, _take_until(flag_rows, held_flags, last),
                                 _take_until(timelines, held_timelines, last), page, pages, totals)
    finally:
        for cursor in cursors:
            cursor.close()


def packet_data(
    con: duckdb.DuckDBPyConnection, payer_type: str, clinic_id: str, sessions: str = "staging.sessions",
    episodes: str = EPISODES,
) -> PacketData:
    """Every flagged episode of one payer type at one clinic, its flags and its visits, as one page (small
    warehouses, tests)."""
    return next(d for d in packet_pages(con, [clinic_id], None, sessions, episodes) if d.payer_type == payer_type)
