"""The readiness check (`outcomes check`): what an inbox would give, without touching the warehouse.

For every export of an inbox the check does what a load would do, on a throwaway scratch database
in a private temporary folder: read it (applying its mapping profile), run the same Great
Expectations suites and row rules, and decide (load, with some rows quarantined, or reject) with
the loader's own functions (:mod:`transforms.loading`). Then it asks what the published answers
could rest on. The rows that would load are typed as in ``raw.*`` and staged by the production
staging models (:func:`transforms.staging.build_staging`) on the scratch copy, as if these exports
alone were loaded into an empty warehouse in folder-name order: episodes are the ones staging
would form from them (given ``episode_id``, or derived by gap, condition group and discharge),
never combined with what a warehouse already holds, because the check never opens one. The
production episode, ROM, function and technique models run on that copy, and
``transforms/sql/readiness/answers.sql`` counts, per answer, the visits that carry what it needs
and the episodes it will rest on.

Nothing is written but the scratch folder (deleted at the end) and, on request, the readiness page
in the restricted folder (:mod:`transforms.readiness_report`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from expectations.validation import ensure_quarantine, prepare_scratch, warm_up
from transforms import contract
from transforms.config import Settings
from transforms.episode_outcomes import build_episode_outcomes
from transforms.exports import ExportFolder, IgnoredEntry, discover_exports, ignored_entries
from transforms.function import build_function_series
from transforms.loading import (
    SCRATCH_CONFIG,
    LoadOutcome,
    build_typed_rows,
    decide,
    ensure_schema,
    new_outcome,
    read_into_scratch,
    validate_scratch,
)
from transforms.profiles import ID_COLUMNS
from transforms.rom import build_rom_series
from transforms.sqlmodels import query
from transforms.staging import build_staging
from transforms.techniques import build_episode_techniques
from transforms.thresholds import install_thresholds, remove_thresholds

EXAMPLES_PER_RULE = 3
RULES_SHOWN = 5


@dataclass(frozen=True)
class AnswerSpec:
    """A published answer and what it needs, in words (the counting is in ``readiness/answers.sql``)."""

    key: str
    title: str
    flag: str | None  # the audit flag (metrics.md section 8), judged on the payer types it applies to
    visit_need: str  # what a visit must carry, e.g. "pain before treatment"
    episode_need: str  # what an episode must carry; {names} of settings are filled in (thresholds in force)

    def needs(self, settings: Settings) -> str:
        """What an episode must carry, with the thresholds in force."""
        return self.episode_need.format(relief_min_baseline=f"{settings.relief_min_baseline:g}",
                                        plateau_min_sessions=settings.plateau_min_sessions)


ANSWERS: tuple[AnswerSpec, ...] = (
    AnswerSpec("responder_rates", "responder rates", None, "pain before treatment",
               "a pain score before treatment at the first visit and at a later one (pain-evaluable)"),
    AnswerSpec("sessions_to_relief", "sessions to relief", None, "pain before treatment",
               "a first pain score of at least {relief_min_baseline} and a later one (relief-evaluable)"),
    AnswerSpec("immediate_change", "immediate pain change and flares", None, "pain before and after treatment",
               "a visit scored both before and after treatment"),
    AnswerSpec("rom_gains", "ROM gains", None, "a range-of-motion measurement before treatment",
               "a joint, movement and side measured before treatment at two visits"),
    AnswerSpec("function_outcomes", "function outcomes", None, "a function score with its instrument",
               "an instrument scored at two visits"),
    AnswerSpec("technique_outcomes", "technique outcomes", None, "techniques listed",
               "a primary technique, and pain-evaluable"),
    AnswerSpec("units_over_time", "UNITS_OVER_TIME", "UNITS_OVER_TIME", "a timed CPT code",
               "a visit billed with a timed code (its units and minutes are required)"),
    AnswerSpec("over_authorized", "OVER_AUTHORIZED", "OVER_AUTHORIZED", "the visits authorised (authorized_visits)",
               "an authorisation recorded at some visit (without one the flag can never be raised)"),
    AnswerSpec("no_referral", "NO_REFERRAL", "NO_REFERRAL", "a referral source",
               "a referral source recorded at some visit (without one the episode is flagged)"),
    AnswerSpec("no_evaluation", "NO_EVALUATION", "NO_EVALUATION", "a visit type",
               "the first visit's type (required, always there)"),
    AnswerSpec("no_recertification", "NO_RECERTIFICATION", "NO_RECERTIFICATION", "a visit type and date",
               "visit types and dates (required, always there)"),
    AnswerSpec("care_after_goal", "CARE_AFTER_GOAL", "CARE_AFTER_GOAL", "pain before treatment",
               "relief that can be seen: relief-evaluable"),
    AnswerSpec("no_goals", "NO_GOALS", "NO_GOALS", "whether goals are documented (goals_documented)",
               "goals_documented recorded at some visit (without it the episode is flagged)"),
    AnswerSpec("no_progress_note", "NO_PROGRESS_NOTE", "NO_PROGRESS_NOTE", "a visit type",
               "visit types (required, always there)"),
    AnswerSpec("no_baseline_measure", "NO_BASELINE_MEASURE", "NO_BASELINE_MEASURE",
               "pain before treatment or a function score", "a pain or function score at the first visit"),
    AnswerSpec("no_outcome_measure", "NO_OUTCOME_MEASURE", "NO_OUTCOME_MEASURE",
               "pain before treatment or a function score", "a pain or function score at a later visit"),
    AnswerSpec("plateau", "PLATEAU", "PLATEAU", "pain before treatment",
               "at least {plateau_min_sessions} visits with pain before treatment"),
)


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a whole percentage; never 0% for some or 100% for not all ("<1%", ">99%")."""
    if whole <= 0:
        return "-"
    share = round(100 * part / whole)
    if part and share == 0:
        return "<1%"
    if part < whole and share == 100:
        return ">99%"
    return f"{share}%"


@dataclass(frozen=True)
class Readiness:
    """One row of the readiness table: what an answer needs and how much of the data carries it."""

    spec: AnswerSpec
    visits_with: int
    visits_total: int
    episodes_with: int
    episodes_total: int
    patients_with: int
    patients_total: int
    threshold: int  # the suppression threshold: fewer distinct patients are not published
    episode_need: str = ""  # what an episode must carry, with the thresholds in force

    @property
    def verdict(self) -> str:
        """``yes``, ``too few patients``, ``no``, ``not applicable`` (a flag no episode's payer has) or ``no data``."""
        if self.episodes_total == 0:
            return "not applicable" if self.spec.flag else "no data"
        if self.episodes_with == 0:
            return "no"
        if self.patients_with < self.threshold:
            return "too few patients"
        return "yes"

    @property
    def sentence(self) -> str:
        """The row in words, e.g. "pain before treatment on 64% of visits: responder rates will rest on 58% of episodes"."""
        s = self.spec
        if self.episodes_total == 0:
            return (f"{s.title}: no episode of a payer type the flag applies to" if s.flag
                    else f"{s.title}: no episode would load")
        visits = f"{s.visit_need} on {percent(self.visits_with, self.visits_total)} of "
        share = percent(self.episodes_with, self.episodes_total)
        counts = f"({self.episodes_with} of {self.episodes_total})"
        if s.flag:
            text = (f"{visits}the visits of the payer types it applies to: {s.title} can be judged on {share} of "
                    f"their episodes {counts}")
        else:
            text = f"{visits}visits: {s.title} will rest on {share} of episodes {counts}"
        if self.verdict == "too few patients":
            text += f", of {self.patients_with} patient(s): fewer than {self.threshold}, suppressed when published"
        return text


@dataclass(frozen=True)
class RuleCount:
    """Rows of one export held back by one rule, with a few examples (row numbers and values)."""

    rule: str  # file.column.rule
    rows: int
    examples: tuple[str, ...]


@dataclass
class ExportCheck:
    """What would happen to one export."""

    outcome: LoadOutcome
    rules: list[RuleCount] = field(default_factory=list)

    @property
    def would_load(self) -> bool:
        """True when the export would load (perhaps with quarantined rows)."""
        return self.outcome.status != "rejected"


@dataclass
class CheckReport:
    """The whole check of an inbox."""

    inbox: Path
    checked_at: datetime
    exports: list[ExportCheck]
    ignored: list[IgnoredEntry]
    answers: list[Readiness]
    visits: int = 0
    episodes: int = 0
    patients: int = 0
    threshold: int = 11


def check_inbox(settings: Settings, today: date | None = None) -> CheckReport:
    """Check every export of ``settings.inbox`` as a load would, and what the answers could rest on.

    Never opens the warehouse: the reading, the Great Expectations run, the decisions and the
    staging happen on a scratch database in a private temporary folder that is removed afterwards.
    """
    today = today or date.today()
    exports = sorted(discover_exports(settings.inbox), key=lambda e: e.name)
    ignored = ignored_entries(settings.inbox)
    outcomes = {e.name: new_outcome(e) for e in exports}
    checks = {e.name: ExportCheck(outcomes[e.name]) for e in exports}
    report = CheckReport(settings.inbox, datetime.now().replace(microsecond=0), [checks[e.name] for e in exports],
                         ignored, [], threshold=settings.suppression_threshold)
    config = {**SCRATCH_CONFIG, "memory_limit": settings.duckdb_memory_limit}
    if exports:
        warm_up()  # Great Expectations loads on the other core while the exports are read
    with tempfile.TemporaryDirectory(prefix="outcomes-check-") as folder:  # created 0700
        scratch = Path(folder) / "check.duckdb"
        with duckdb.connect(str(scratch), config=config) as scon:
            readable, _rejected = read_into_scratch(scon, exports, outcomes)
            prepare_scratch(scon)
        if readable:
            validate_scratch(scratch, today)
        with duckdb.connect(str(scratch), config=config) as scon:
            accepted = []
            for e in readable:
                decide(scon, outcomes[e.name], settings, replacing=False)
                checks[e.name].rules = _rule_counts(scon, e.name)
                if outcomes[e.name].status != "rejected":
                    accepted.append(e)
            for outcome in outcomes.values():
                if outcome.status != "rejected":
                    outcome.status = "would load"
            ensure_quarantine(scon)  # no readable export: no rule ran, nothing would load
            build_typed_rows(scon, [e.name for e in accepted])
            _stage(scon, settings, accepted)
            report.answers = answers(scon, settings)
            report.visits, report.episodes, report.patients = scon.execute(
                "SELECT (SELECT count(*) FROM (SELECT DISTINCT episode_key, session_date FROM staging.sessions)), "
                "(SELECT count(*) FROM marts.episode_outcomes), "
                "(SELECT count(DISTINCT (clinic_id, patient_id)) FROM staging.sessions)"
            ).fetchall()[0]
    return report


def _rule_counts(scon: duckdb.DuckDBPyConnection, export: str) -> list[RuleCount]:
    """The export's most frequent broken rules with a few examples; never an identifier-looking value.

    The quarantine already withholds values that look like an e-mail address, phone number, SSN or
    long number; here a value of an id column is never shown (only its row), and a value that looks
    like a date is withheld too outside ``session_date``.
    """
    ids = ", ".join(f"'{c}'" for c in ID_COLUMNS)

    def shown(expr: str) -> str:
        kind = contract.identifier_kind_sql(expr, dates=True)
        return (f"CASE WHEN column_name IN ({ids}) THEN NULL WHEN column_name <> 'session_date' AND {kind} IS NOT NULL "
                f"THEN '(withheld: looks like ' || {kind} || ')' ELSE {expr} END")

    rows = scon.execute(
        f"SELECT file || '.' || column_name || '.' || rule AS name, count(DISTINCT row_number) AS n_rows, "
        f"list([CAST(row_number AS VARCHAR), {shown('value')}, {shown('original_value')}] ORDER BY row_number) "
        "AS examples FROM quarantine WHERE export = ? GROUP BY ALL ORDER BY n_rows DESC, name LIMIT ?",
        [export, RULES_SHOWN],
    ).fetchall()
    out = []
    for name, n, examples in rows:
        texts: list[str] = []
        for row, value, original in examples:
            text = f"row {row}"
            if value is not None:
                text += f": '{value}'"
            if original is not None and original != value:
                text += f" (in the export: '{original}')"
            if text not in texts:  # the rows one visit was split into share its row of the file
                texts.append(text)
        out.append(RuleCount(name, n, tuple(texts[:EXAMPLES_PER_RULE])))
    return out


def _stage(scon: duckdb.DuckDBPyConnection, settings: Settings, accepted: list[ExportFolder]) -> None:
    """Stage the rows that would load on the scratch copy, with the production models.

    The exports take load positions in folder-name order (as exports first seen in one run do), so
    a later export's row holds a session both hold, as in a load.
    """
    ensure_schema(scon)
    scon.execute("INSERT INTO raw.sessions BY NAME SELECT * FROM sessions_typed")
    scon.execute("INSERT INTO raw.rom BY NAME SELECT * FROM rom_typed")
    now = datetime.now()
    if accepted:
        scon.executemany("INSERT INTO ops.exports VALUES (?, ?, ?, ?, ?)",
                         [[e.name, i, e.checksum, now, now] for i, e in enumerate(accepted, 1)])
    build_staging(scon, settings)
    install_thresholds(scon, settings)
    try:
        build_episode_outcomes(scon)
        build_rom_series(scon)
        build_function_series(scon)
        build_episode_techniques(scon)
    finally:
        remove_thresholds(scon)


def answers(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[Readiness]:
    """The readiness table from staging and the episode-level tables of ``con`` (``readiness/answers.sql``)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _readiness_answers (answer VARCHAR, position INTEGER, flag VARCHAR)")
    con.executemany("INSERT INTO _readiness_answers VALUES (?, ?, ?)",
                    [[a.key, i, a.flag] for i, a in enumerate(ANSWERS, 1)])
    install_thresholds(con, settings)
    try:
        rows = query(con, "readiness/answers").fetchall()
    finally:
        remove_thresholds(con)
    specs = {a.key: a for a in ANSWERS}
    return [Readiness(specs[key], *counts, threshold=settings.suppression_threshold,
                      episode_need=specs[key].needs(settings)) for _, key, *counts in rows]
