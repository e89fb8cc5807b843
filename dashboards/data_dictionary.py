"""The data dictionary of the downloads: what every column of every CSV means, in one place.

:data:`COLUMNS` describes each column once: its unit, its meaning in plain words and the section of
the definitions (``docs/metrics.md``, the definitions page) it rests on. An entry applies to every
file with that column unless an entry for the same column names the file (a column that means
something else there, such as ``n`` or ``o_minus_e``). Meanings that state a threshold take it from
the run's settings (``{responder}``, ``{relief}``...), never from a literal.

:func:`build_data_dictionary` writes, into ``site/data/``:

- ``index.html``: every file of :data:`dashboards.downloads.TABLES` by page, with its title, what a
  row is, what its numbers rest on and the suppression rule in force, and a table of its columns
  with links into the definitions;
- ``data-dictionary.csv``: one row per file and column (itself one of the downloads);
- ``README.txt``: the same in plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd

from dashboards import html, wording
from dashboards.definitions import PAGE as DEFINITIONS_PAGE
from dashboards.definitions import heading, slug
from dashboards.downloads import (
    DATA_DIR,
    DICTIONARY,
    DICTIONARY_PAGE,
    LEFT_OUT,
    MARKED,
    NO_EPISODE_ENDED,
    NOT_APPLICABLE,
    NOT_COMPUTABLE,
    NOT_REACHED,
    REASON_COLUMN,
    SUPPRESSED,
    TABLES,
    Table,
    csv_text,
    download,
    reason,
)
from dashboards.publication import REFERENCE_NOTE
from transforms.config import Settings
from transforms.runs import RunRecord

CSV_FILE = "data-dictionary.csv"
README_FILE = "README.txt"

# section keywords: the first heading of docs/metrics.md that contains the word (see definitions.heading)
EPISODES, PAIN, RELIEF, ROM, FUNCTION, STATISTICS, RISK = (
    "Episodes of care", "Pain", "Sessions to relief", "Range of motion", "Function questionnaires",
    "Statistics used everywhere", "risk adjustment")
AUDIT, PUBLISHING, FOLLOW_UP, DROP_OUT, TECHNIQUE, FLARES = (
    "Payer audit flags", "Publishing", "Follow-up status", "drop-out", "Outcomes by technique", "Post-treatment flares")

PATIENTS, EPISODES_UNIT, SESSIONS, POINTS, FRACTION = (
    "patients", "episodes", "sessions (visits)", "points on the 0–10 pain scale", "fraction (0 to 1)")
TEXT, ID, FLAG, COUNT = "text", "pseudonymous id", "true / false", "count"


@dataclass(frozen=True)
class Column:
    """A column's description; ``table`` limits it to one file (else it is the column's default)."""

    name: str
    unit: str
    meaning: str
    section: str = ""
    table: str = ""


def _ci(name: str, of: str, kind: str, unit: str, section: str = STATISTICS, table: str = "") -> tuple[Column, Column]:
    """The lower and upper bound columns of a 95% interval."""
    return (Column(f"{name}_low", unit, f"Lower bound of the 95% {kind} of {of}.", section, table),
            Column(f"{name}_high", unit, f"Upper bound of the 95% {kind} of {of}.", section, table))


COLUMNS: tuple[Column, ...] = (
    # --- keys
    Column("clinic_id", ID, "The clinic's pseudonymous id, as in its exports; `all`: all clinics together.", EPISODES),
    Column("condition_group", TEXT, "Condition group of the episode, from the diagnosis code of its first visit; "
           "`all`: every condition group together.", EPISODES),
    Column("level", TEXT, "Which kind of unit the row compares: `clinic` or `therapist`.", RISK),
    Column("unit_id", ID, "The clinic's id (level `clinic`) or the therapist's pseudonymous id (level `therapist`).",
           RISK),
    Column("therapist_id", ID, "The therapist's pseudonymous id, as in the clinic's exports.", EPISODES),
    Column("month", "month (YYYY-MM)", "Month in which the row's episodes started.", EPISODES),
    Column("month", "month (YYYY-MM)", "Month of the session rows.", "", "quality-broken-rows"),
    Column("technique", TEXT, "A primary technique: {primary}. An episode with several primary techniques counts "
           "under each.", TECHNIQUE),
    Column("technique", TEXT, "A technique listed at the visit; `all`: every scored visit, whatever technique it "
           "lists, or none.", FLARES, "researcher-flares"),
    Column("t", SESSIONS, "Treatment sessions delivered.", RELIEF),
    Column("joint", TEXT, "The joint measured.", ROM),
    Column("movement", TEXT, "The movement measured (left and right pooled).", ROM),
    Column("instrument", TEXT, "The function questionnaire.", FUNCTION),
    Column("model", TEXT, "`pain_change`: the linear model of the sustained pain change; `responder`: the logistic "
           "model of responding.", RISK),
    Column("term", TEXT, "A term of the model: `intercept`, `baseline_pain` (per point), `log1p_weeks` (ln(1 + "
           "symptom weeks)), `symptom_weeks_missing` (1 when symptom weeks were not recorded), or "
           "`covariate=level` for a level of a categorical covariate.", RISK),
    Column("decile", "1 to 10", "A tenth of the pain-evaluable episodes, ordered by their expected outcome (1: "
           "lowest).", RISK),
    Column("flag", TEXT, "An audit flag; `tier:<tier>`: any flag of that tier; `ANY`: any flag.", AUDIT),
    Column("flag", TEXT, "The audit flag whose absence means the check passed.", AUDIT, "payer-documentation"),
    Column("flag", TEXT, "An audit flag.", AUDIT, "payer-rules"),
    Column("flag", TEXT, "`ANY`: any flag, or `tier:<tier>`: any flag of that tier.", AUDIT, "payer-flag-rate-funnel"),
    Column("payer_type", TEXT, "Payer type of the episode, from its first visit; `all`: every payer type.", AUDIT),
    Column("visits", "visits", "Bin of visits per episode (`13–15`: 13 to 15 visits; `31+`: 31 or more).", AUDIT),
    Column("export", TEXT, "Name of the export folder, as the clinic sent it.", ""),
    Column("export", TEXT, "Name of the export folder; `all`: every export in the warehouse.", "",
           "quality-quarantine"),
    Column("file_and_column", TEXT, "File and column the rule checks (`(row)`: the whole row).", ""),
    Column("rule", TEXT, "The row rule of the export contract.", ""),
    Column("rule", TEXT, "The row rule, as `file.column.rule`.", "", "quality-rule-history"),
    Column("rule", TEXT, "The row rule, as `file.column.rule`.", "", "quality-rule-changes"),
    Column("run_at", "date and time (YYYY-MM-DD HH:MM)", "When the run that checked the exports did so.", ""),
    Column("entry", TEXT, "Name of the inbox entry.", ""),
    Column("loaded_at", "date and time (YYYY-MM-DD HH:MM)", "When the export was loaded (or refused).", ""),
    Column("reference_table", TEXT, "Name of the reference table (a CSV shipped with the pipeline or overridden).",
           ""),
    Column("setting", TEXT, "Name of the setting (environment variable OUTCOMES_<NAME>).", ""),
    Column("file", TEXT, "A downloadable file.", ""),
    Column("column", TEXT, "A column of that file.", ""),
    # --- volume
    Column("n_patients", PATIENTS, "Distinct patients (each clinic's pseudonymous patient counts once per clinic).",
           EPISODES),
    Column("n_episodes", EPISODES_UNIT, "Episodes of care.", EPISODES),
    Column("n_episodes", EPISODES_UNIT, "Episodes of care of the therapist.", EPISODES, "director-therapists"),
    Column("n_episodes", EPISODES_UNIT, "Episodes measured at least twice on this joint and movement.", ROM,
           "researcher-range-of-motion"),
    Column("n_episodes", EPISODES_UNIT, "Episodes scored at least twice on the instrument.", FUNCTION,
           "researcher-function"),
    Column("n_episodes", EPISODES_UNIT, "Episodes of the clinic (the funnel's x axis).", AUDIT,
           "payer-flag-rate-funnel"),
    Column("n_episodes", EPISODES_UNIT, "Episodes of the payer type.", AUDIT, "payer-documentation"),
    Column("n_episodes", EPISODES_UNIT, "Episodes of the clinic and payer type.", AUDIT, "payer-units"),
    Column("n_episodes", EPISODES_UNIT, "Episodes with a number of visits in the bin.", AUDIT,
           "payer-visits-per-episode"),
    Column("n_sessions", SESSIONS, "Visits of these episodes.", EPISODES),
    Column("n_sessions", SESSIONS, "Visits of the clinic's episodes.", AUDIT, "payer-pain-documentation"),
    # --- pain (condition outcomes)
    Column("n_pain_evaluable", EPISODES_UNIT, "Pain-evaluable episodes: with a baseline and a final pain score.", PAIN),
    Column("mean_baseline_pain", POINTS, "Mean pain before treatment at the first visit.", PAIN),
    Column("mean_pain_change", POINTS, "Mean sustained pain change: baseline minus the before-treatment score at the "
           "last later visit (higher is better).", PAIN),
    *_ci("mean_pain_change_ci", "the mean sustained change", "t-interval", POINTS),
    Column("srm", "ratio", "Standardised response mean: the mean sustained change divided by its standard "
           "deviation.", PAIN),
    Column("responder_rate", FRACTION, "Share of the pain-evaluable episodes whose patients {responder}.", PAIN),
    *_ci("responder_ci", "the responder rate", "Wilson interval", FRACTION),
    Column("substantial_rate", FRACTION, "Share of the pain-evaluable episodes improved by {substantial} of their "
           "baseline.", PAIN),
    Column("n_with_final_pain", EPISODES_UNIT, "Episodes with a final pain score (a before-treatment score at a "
           "later visit).", PAIN),
    Column("final_pain_share", FRACTION, "Follow-up completeness: n_with_final_pain ÷ n_episodes.", PAIN),
    *_ci("final_pain_ci", "the follow-up completeness", "Wilson interval", FRACTION),
    # --- relief
    Column("n_relief_evaluable", EPISODES_UNIT, "Relief-evaluable episodes: a high enough baseline and at least one "
           "later pain score.", RELIEF),
    Column("median_sessions_to_relief", SESSIONS, "Kaplan–Meier median of the treatment sessions until relief "
           "({relief}); `not reached` while fewer than half are estimated relieved.", RELIEF),
    *_ci("median_ci", "the median sessions to relief", "interval", SESSIONS, RELIEF),
    Column("relief_by_{t}", FRACTION, "Estimated share relieved within {t} sessions (Kaplan–Meier).", RELIEF),
    Column("survival", FRACTION, "Estimated probability of not yet being relieved after t sessions (Kaplan–Meier).",
           RELIEF),
    *_ci("survival_ci", "the probability of not yet being relieved (pointwise, log(−log) scale)", "band", FRACTION,
         RELIEF),
    Column("at_risk", EPISODES_UNIT, "Episodes still followed and not yet relieved after t sessions.", RELIEF),
    # --- risk adjustment (funnels)
    Column("n", EPISODES_UNIT, "Pain-evaluable episodes of the unit (the funnel's x axis).", RISK),
    Column("n", EPISODES_UNIT, "Pain-evaluable episodes in the decile.", RISK, "researcher-calibration"),
    Column("observed_mean", POINTS, "The unit's mean sustained pain change.", RISK),
    Column("expected_mean", POINTS, "The mean sustained change the case-mix model expects for the unit's patients.",
           RISK),
    Column("o_minus_e", POINTS, "Observed minus expected mean sustained change (the funnel's y axis).", RISK),
    *_ci("o_minus_e_ci", "observed minus expected", "interval", POINTS, RISK),
    Column("limit_95", POINTS, "Half-width of the funnel's 95% control limit at the unit's n: 1.959964 × the linear "
           "model's residual SD ÷ √n (the limits are 0 ± this).", RISK),
    Column("limit_998", POINTS, "Half-width of the funnel's 99.8% control limit at the unit's n: 3.090232 × the "
           "linear model's residual SD ÷ √n.", RISK),
    Column("position", TEXT, "Where the point lies against the control limits.", RISK),
    Column("observed_rate", FRACTION, "The unit's responder rate (O ÷ n).", RISK),
    Column("expected_rate", FRACTION, "The responder rate the logistic case-mix model expects for the unit's "
           "patients (E ÷ n).", RISK),
    Column("o_to_e", "ratio", "Observed ÷ expected responders.", RISK),
    Column("o_minus_e", FRACTION, "Observed minus expected responder rate (the funnel's y axis).", RISK,
           "director-responder-funnel"),
    *_ci("o_minus_e_ci", "observed minus expected responder rate (from the unit's own expected probabilities)",
         "interval", FRACTION, RISK, "director-responder-funnel"),
    Column("limit_95", FRACTION, "Half-width of the funnel's 95% control limit at the unit's n: z √(p (1 − p) ÷ n), "
           "p the responder rate of all pain-evaluable episodes.", RISK, "director-responder-funnel"),
    Column("limit_998", FRACTION, "Half-width of the funnel's 99.8% control limit at the unit's n: z √(p (1 − p) ÷ "
           "n), p the responder rate of all pain-evaluable episodes.", RISK, "director-responder-funnel"),
    Column("position", TEXT, "Where the unit lies by its own 95% interval: above or below its expectation, or "
           "within chance.", RISK, "director-responder-funnel"),
    # --- monthly trend
    Column("in_progress", FLAG, "The month is still in progress at the end of the data (the clinic's latest month; "
           "for all clinics, the earliest of those): its episodes have barely begun.", EPISODES),
    # --- follow-up
    Column("n_discharged", EPISODES_UNIT, "Episodes with a discharge visit.", FOLLOW_UP),
    Column("n_active", EPISODES_UNIT, "Episodes still active: no discharge, last visit {follow_up}.", FOLLOW_UP),
    Column("n_lost", EPISODES_UNIT, "Episodes lost to follow-up: neither discharged nor active.", FOLLOW_UP),
    Column("share_discharged", FRACTION, "n_discharged ÷ n_episodes.", FOLLOW_UP),
    Column("share_active", FRACTION, "n_active ÷ n_episodes.", FOLLOW_UP),
    Column("share_lost", FRACTION, "n_lost ÷ n_episodes.", FOLLOW_UP),
    Column("n_ended", EPISODES_UNIT, "Ended episodes: discharged plus lost.", FOLLOW_UP),
    Column("lost_rate", FRACTION, "Lost to follow-up among the ended episodes: n_lost ÷ n_ended.", FOLLOW_UP),
    *_ci("lost_ci", "the lost-to-follow-up rate", "Wilson interval", FRACTION),
    # --- drop-out sensitivity
    Column("n_eligible", EPISODES_UNIT, "Eligible episodes: a baseline score and ended (discharged or lost).",
           DROP_OUT),
    Column("n_evaluable", EPISODES_UNIT, "Eligible episodes that also have a final score.", DROP_OUT),
    Column("complete_case_rate", FRACTION, "Responders ÷ evaluable episodes: the usual rate.", DROP_OUT),
    *_ci("complete_case_ci", "the complete-case rate", "Wilson interval", FRACTION),
    Column("worst_case_rate", FRACTION, "As if every eligible episode without a final score were a non-responder.",
           DROP_OUT),
    Column("best_case_rate", FRACTION, "As if every eligible episode without a final score were a responder.",
           DROP_OUT),
    Column("ipw_rate", FRACTION, "Inverse-probability-weighted responder rate (weights {ipw_cap}).", DROP_OUT),
    *_ci("ipw_ci", "the IPW rate", "interval", FRACTION, DROP_OUT),
    Column("max_weight", "weight", "The largest weight used in the group.", DROP_OUT),
    Column("effective_n", EPISODES_UNIT, "(Σ weights)² ÷ Σ weights²: how many unweighted episodes the weighted ones "
           "are worth.", DROP_OUT),
    # --- techniques
    Column("n_pain_evaluable", EPISODES_UNIT, "Pain-evaluable episodes where the technique is primary.", TECHNIQUE,
           "researcher-techniques"),
    Column("adjusted_difference", POINTS, "Mean observed minus expected sustained change (the linear case-mix model, "
           "which does not see techniques): an association, not an effect.", TECHNIQUE),
    *_ci("adjusted_ci", "the adjusted difference", "t-interval", POINTS),
    # --- flares
    Column("n_sessions_scored", SESSIONS, "Visits with a pain score before and after treatment.", FLARES),
    Column("n_flares", SESSIONS, "Scored visits that flared: {flare}.", FLARES),
    Column("flare_rate", FRACTION, "n_flares ÷ n_sessions_scored.", FLARES),
    *_ci("flare_ci", "the flare rate", "Wilson interval", FRACTION),
    # --- range of motion
    Column("mean_baseline", "degrees (mm for mouth opening; see unit)", "Mean first measurement.", ROM),
    Column("mean_final", "degrees (mm for mouth opening; see unit)", "Mean last later measurement.", ROM),
    Column("mean_gain", "degrees (mm for mouth opening; see unit)", "Mean gain: last minus first measurement.", ROM),
    *_ci("gain_ci", "the mean gain", "t-interval", "degrees (mm for mouth opening; see unit)"),
    Column("normal", "degrees (mm for mouth opening; see unit)", "The normal value of the movement (reference "
           "table).", ROM),
    Column("unit", TEXT, "Unit of the measurements.", ROM),
    Column("baseline_share_of_normal", FRACTION, "mean_baseline ÷ normal (1 = normal).", ROM),
    Column("final_share_of_normal", FRACTION, "mean_final ÷ normal (1 = normal).", ROM),
    # --- function
    Column("mean_improvement", "instrument points", "Mean improvement from the first to the last later score "
           "(direction-aware: positive is better).", FUNCTION),
    *_ci("improvement_ci", "the mean improvement", "t-interval", "instrument points"),
    Column("mcid", "instrument points", "The instrument's minimal clinically important difference.", FUNCTION),
    Column("improvement_in_mcids", "MCIDs", "mean_improvement ÷ mcid (1 = one MCID).", FUNCTION),
    *_ci("improvement_in_mcids_ci", "the improvement in MCIDs", "t-interval", "MCIDs", FUNCTION),
    Column("mcid_reached_rate", FRACTION, "Share of the episodes that improved by at least the MCID.", FUNCTION),
    # --- case-mix models
    Column("n_obs", EPISODES_UNIT, "Pain-evaluable episodes the model was fitted on.", RISK),
    Column("method", TEXT, "How the model was fitted (ols, logit_ml, logit_ridge, ...).", RISK),
    Column("r_squared", FRACTION, "Share of the variance of the sustained change the linear model explains.", RISK),
    Column("residual_sd", POINTS, "Residual standard deviation of the linear model.", RISK),
    Column("reference_level", FLAG, "The term is its covariate's reference level (estimate 0 by definition).", RISK),
    Column("estimate", "points (pain_change) or log odds (responder)", "The coefficient.", RISK),
    *_ci("ci", "the coefficient", "interval", "points (pain_change) or log odds (responder)", RISK,
         "researcher-model-coefficients"),
    Column("odds_ratio", "ratio", "exp(estimate), for the responder model.", RISK),
    *_ci("odds_ratio_ci", "the odds ratio", "interval", "ratio", RISK),
    Column("mean_expected", "points (pain_change) or fraction (responder)", "Mean expected outcome of the decile's "
           "episodes.", RISK),
    Column("mean_observed", "points (pain_change) or fraction (responder)", "Mean observed outcome of the decile's "
           "episodes.", RISK),
    # --- payer
    Column("tier", TEXT, "Tier of the flag: billing, necessity, documentation or review.", AUDIT),
    Column("raised_per", TEXT, "Whether the flag is raised once per visit or once per episode.", AUDIT),
    Column("n_flagged_episodes", EPISODES_UNIT, "Episodes with at least one such flag.", AUDIT),
    Column("n_flagged_episodes", EPISODES_UNIT, "Episodes with at least one flag.", AUDIT, "payer-units"),
    Column("n_flags", COUNT, "Flags raised (one per visit for visit flags, one per episode otherwise).", AUDIT),
    Column("share_of_episodes", FRACTION, "n_flagged_episodes ÷ the unit's episodes.", AUDIT),
    Column("flag_rate", FRACTION, "n_flagged_episodes ÷ n_episodes (the funnel's y axis).", AUDIT),
    Column("overall_rate", FRACTION, "Flag rate of all clinics together (the funnel's centre line).", AUDIT),
    Column("limit_95_low", FRACTION, "Lower 95% control limit at the clinic's n: rate − 1.96 √(rate (1 − rate) ÷ n), "
           "at least 0.", AUDIT),
    Column("limit_95_high", FRACTION, "Upper 95% control limit at the clinic's n, at most 1.", AUDIT),
    Column("limit_998_low", FRACTION, "Lower 99.8% control limit at the clinic's n (z = 3.09), at least 0.", AUDIT),
    Column("limit_998_high", FRACTION, "Upper 99.8% control limit at the clinic's n, at most 1.", AUDIT),
    Column("position", TEXT, "Where the clinic lies against the control limits.", AUDIT, "payer-flag-rate-funnel"),
    Column("units_billed", "units", "CPT units billed.", AUDIT),
    Column("units_at_risk", "units", "Units a payer could deny for necessity or authorisation (each visit once).",
           AUDIT),
    Column("units_over_time", "units", "Units billed beyond the CMS 8-minute rule (each patient-day once).", AUDIT),
    Column("n_scored_sessions", SESSIONS, "Visits with a pain score before and after treatment.", AUDIT),
    Column("share_scored", FRACTION, "n_scored_sessions ÷ n_sessions.", AUDIT),
    Column("check", TEXT, "The documentation or necessity check, in words.", AUDIT),
    Column("n_documented", EPISODES_UNIT, "Episodes of the payer type not flagged for the check.", AUDIT),
    Column("share_documented", FRACTION, "n_documented ÷ n_episodes.", AUDIT),
    Column("raised_when", TEXT, "The rule in words, with this run's thresholds.", AUDIT),
    Column("applies", FLAG, "Whether the flag is checked for the payer type.", AUDIT),
    # --- data quality
    Column("status", TEXT, "`loaded`: a version of the export is in the warehouse (a refused correction is noted); "
           "`rejected`: none is.", ""),
    Column("status", TEXT, "What the load did.", "", "quality-load-log"),
    Column("rows_in", "file rows", "Rows of the export's files.", PUBLISHING),
    Column("rows_loaded", "file rows", "Rows loaded into the warehouse.", PUBLISHING),
    Column("rows_quarantined", "file rows", "Rows held back by a row rule.", PUBLISHING),
    Column("reason", TEXT, "The public reason (no row, value or count).", ""),
    Column("reason", TEXT, "Why the entry was skipped.", "", "quality-skipped"),
    Column("why_rejected", TEXT, "The public reason the export (or its correction) was refused.", ""),
    Column("effect", TEXT, "What it means for the figures.", ""),
    Column("attempted_at", "date and time (YYYY-MM-DD HH:MM)", "When it was last attempted.", ""),
    Column("n_rows", "file rows", "Rows held back by the rule.", PUBLISHING),
    Column("rows_failing", "file rows", "Rows failing the rule in the warehouse after the run.", ""),
    Column("exports_newly_failing", "exports", "Exports failing the rule that did not fail it after the previous "
           "run.", ""),
    Column("exports_resolved", "exports", "Exports that no longer fail the rule.", ""),
    Column("exports_still_failing", "exports", "Exports failing the rule after both runs.", ""),
    Column("rows_failing_now", "file rows", "Rows failing the rule now, over the exports whose counts are published.",
           ""),
    Column("share_broken", FRACTION, "Quarantined ÷ all session rows of the clinic and month.", ""),
    # --- overview and definitions
    Column("first_month", "month (YYYY-MM)", "First month of care in the clinic's data.", ""),
    Column("last_month", "month (YYYY-MM)", "Last month of care in the clinic's data.", ""),
    Column("checksum", "hexadecimal", "First 12 characters of the SHA-256 checksum of the export's files.", ""),
    Column("checksum", "hexadecimal", "First 12 characters of the MD5 checksum of the table's content.", "",
           "index-reference-tables"),
    Column("load_order", COUNT, "Order in which the export was loaded.", ""),
    Column("in_force", TEXT, "The value this run used.", ""),
    Column("default", TEXT, "The specification's default.", ""),
    Column("changed", FLAG, "The value in force differs from the default.", ""),
    Column("meaning", TEXT, "What the setting decides.", ""),
    # --- the dictionary
    Column("title", TEXT, "What the file holds.", "", "data-dictionary"),
    Column("page", TEXT, "The page it belongs to.", "", "data-dictionary"),
    Column("unit", TEXT, "Unit of the column.", "", "data-dictionary"),
    Column("meaning", TEXT, "What the column means.", "", "data-dictionary"),
    Column("definition_section", TEXT, "The section of the definitions the column rests on.", "", "data-dictionary"),
    Column("definition_link", TEXT, "Link to that section, relative to the site's folder.", "", "data-dictionary"),
    # --- every file
    Column(REASON_COLUMN, TEXT, "Why cells of the row are empty: the reason alone when every value of the row is "
           "empty for it, else `reason: column, column`. See the list of reasons on this page.", PUBLISHING),
)

_BY_NAME: dict[tuple[str, str], Column] = {(c.table, c.name): c for c in COLUMNS}


def template_words(settings: Settings) -> dict[str, str]:
    """The thresholds a meaning may state, in words, from the run's settings."""
    return {
        "responder": wording.responder_sentence(settings),
        "substantial": wording.substantial_rule(settings),
        "relief": wording.relief_rule(settings),
        "flare": wording.flare_rule(settings),
        "follow_up": wording.follow_up_active(settings),
        "ipw_cap": wording.ipw_cap(settings),
        "primary": wording.primary_technique_rule(),
    }


@dataclass(frozen=True)
class Described:
    """A column of a file as the dictionary states it."""

    unit: str
    meaning: str
    section: str  # the heading of the definitions ("" when none)
    link: str  # definitions.html#anchor, relative to the site folder ("" when none)


def lookup(table: str, column: str) -> Column | None:
    """The description of ``column`` in ``table`` (its own entry, else the column's default), or None."""
    for name in (column, "relief_by_{t}" if column.startswith("relief_by_") else column):
        for key in ((table, name), ("", name)):
            if key in _BY_NAME:
                return _BY_NAME[key]
    return None


def describe(table: str, column: str, settings: Settings) -> Described:
    """Unit, meaning (thresholds from ``settings``) and definitions section of a column; raises ``KeyError``
    for a column without a description."""
    entry = lookup(table, column)
    if entry is None:
        raise KeyError(f"{table}: the column {column!r} has no description in dashboards/data_dictionary.py")
    words = template_words(settings)
    if column.startswith("relief_by_") and column.rsplit("_", 1)[1].isdigit():
        words["t"] = column.rsplit("_", 1)[1]
    title = heading(entry.section) if entry.section else None
    if entry.section and title is None:
        raise KeyError(f"{table}.{column}: no heading of the definitions mentions {entry.section!r}")
    return Described(entry.unit, entry.meaning.format(**words), title or "",
                     f"{DEFINITIONS_PAGE}#{slug(title)}" if title else "")


def suppression_words(settings: Settings) -> str:
    """The suppression rule in force, in words."""
    k = int(settings.suppression_threshold)
    return (f"A number resting on 1 to {k - 1} distinct patients ({wording.suppression_rule(settings)}) is left "
            "empty, and so is any number from which such a number could be recovered by subtraction from a total "
            f"(threshold {k}, the suppression_threshold setting of this run). Both read `{SUPPRESSED}`, as on the "
            "pages, so the reason does not tell which hidden numbers are the small ones. A zero is shown.")


NO_SECTION = "no section (described on its page)"


def reasons(settings: Settings) -> list[tuple[str, str]]:
    """Every text ``empty_because`` can give, with what it means."""
    return [
        (SUPPRESSED, "hidden to protect small groups (the rule above)"),
        (NOT_APPLICABLE, "the flag or check is not checked for that payer type (neither 0 nor suppressed), a "
                         "column of the other model, or a load attempt without counts"),
        (NOT_REACHED, "a median, or the upper bound of its interval, that the follow-up has not reached"),
        (NO_EPISODE_ENDED, "a lost-to-follow-up rate when no episode has ended yet"),
        (REFERENCE_NOTE, "the interval of a reference level, whose estimate is 0 by definition"),
        (NOT_COMPUTABLE, "nothing to compute: an interval or SD of fewer than two values, a rate with no case in its "
                         "denominator, a model fitted without standard errors, or no model at all"),
        (f"fewer than {int(settings.suppression_threshold)} patients", "the data-quality page's label for the row "
         "counts of an export (or a month) of few patients"),
        ("not published (patients unknown)", "the data-quality page's label for the row counts of an export that "
                                             "could not be read"),
        (NO_SECTION, "(this dictionary) a column that no section of the definitions describes"),
    ]


def _table_columns(table: Table, settings: Settings) -> list[tuple[str, Described]]:
    return [(c, describe(table.name, c, settings)) for c in table.columns(settings)]


def dictionary_frame(settings: Settings) -> pd.DataFrame:
    """One row per downloadable file and column: title, page, unit, meaning and definitions section."""
    rows = []
    for table in TABLES.values():
        for column, d in _table_columns(table, settings):
            rows.append({"file": table.filename, "column": column, "title": table.title, "page": table.page,
                         "unit": d.unit, "meaning": d.meaning, "definition_section": d.section,
                         "definition_link": d.link})
    return pd.DataFrame(rows, columns=["file", "column", "title", "page", "unit", "meaning", "definition_section",
                                       "definition_link"])


def _page_label(page: str) -> str:
    return dict(html.PAGES).get(page, "Data dictionary")


def _inline(text: str) -> str:
    """Escape a meaning and show its `code` spans as code."""
    parts = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _rows_line(table: Table) -> str:
    if table.hidden_rows == MARKED:
        return "Rows suppressed on the page are listed, with their numbers empty (`suppressed`)."
    if table.hidden_rows == LEFT_OUT:
        return "Rows suppressed on the page are left out, as on the page (which gives only their number)."
    return "Not suppressed: it holds no count of patients."


def dictionary_html(settings: Settings, run: RunRecord | None) -> str:
    """``data/index.html``: the files by page, each with its columns."""
    pages = list(dict.fromkeys(t.page for t in TABLES.values()))
    toc = "".join(
        f"<li><b>{escape(_page_label(p))}</b>: " + ", ".join(
            f"<a href='#{t.name}'>{escape(t.filename)}</a>" for t in TABLES.values() if t.page == p) + "</li>"
        for p in pages)
    why = "".join(f"<li><code>{escape(r)}</code>: {escape(w)}</li>" for r, w in reasons(settings))
    sections = []
    for table in TABLES.values():
        where = f"../{table.page}" + (f"#{table.section}" if table.section else "") if table.page != DICTIONARY \
            else "#"
        facts = [
            f"<b>Page:</b> <a href='{escape(where)}'>{escape(_page_label(table.page))}</a>",
            f"<b>A row:</b> {_inline(table.row)}",
            f"<b>Its numbers rest on:</b> {_inline(table.rests_on)}" if table.rests_on else "",
            _inline(_rows_line(table)),
        ]
        rows = "".join(
            f"<tr><td><code>{escape(c)}</code></td><td>{escape(d.unit)}</td><td>{_inline(d.meaning)}</td><td>"
            + (f"<a href='../{escape(d.link)}'>{escape(d.section)}</a>" if d.section else "") + "</td></tr>"
            for c, d in _table_columns(table, settings))
        columns = (f"<div class=table-wrap><table class=data id='columns-{table.name}'><thead><tr><th>Column</th>"
                   f"<th>Unit</th><th>Meaning</th><th>Definition</th></tr></thead><tbody>{rows}</tbody></table></div>")
        sections.append(
            f"<h2 id='{table.name}'>{escape(table.title)} <span class=file>{escape(table.filename)}</span></h2>"
            f"<div class=download><a href='{table.filename}' download>Download CSV</a></div>"
            + "<p class=explain>" + "<br>".join(f for f in facts if f) + "</p>" + html.panel(columns))
    body = (
        "<div class=info>Every table of the site, and the data behind its charts, is also a CSV file in this folder "
        "(UTF-8, comma-separated, a header row). The values are the published ones, at full precision: rates and "
        "shares are fractions (0.3 = 30%), not percentages; <code>all</code> in a key column is the total over it. "
        "An empty cell is explained in the row's last column, <code>empty_because</code>. The files hold no "
        "identifier and no row of data about a patient, a session or an episode. "
        f"Also in plain text: <a href='{README_FILE}'>{README_FILE}</a>; as a table: "
        f"<a href='{CSV_FILE}' download>{CSV_FILE}</a>.</div>"
        f"<h2 id='suppression'>Suppression rule in force</h2><p class=explain>{_inline(suppression_words(settings))}"
        "</p><h3>Why a cell is empty</h3>"
        f"<ul>{why}</ul><h2 id='files'>The files</h2><ul>{toc}</ul>" + "".join(sections)
    )
    return html.page(DICTIONARY, "Downloads: the data dictionary",
                     "What every downloadable file holds, what each column means and where it is defined.", body,
                     threshold=int(settings.suppression_threshold), run=run, root="../")


def readme_text(settings: Settings) -> str:
    """``data/README.txt``: the dictionary in plain text."""
    lines = [
        "Downloads of the outcomes site: data dictionary",
        "=" * 47, "",
        "Every table of the site, and the data behind its charts, as CSV (UTF-8, comma-separated, a header row).",
        "Values are the published ones at full precision; rates and shares are fractions (0.3 = 30%); 'all' in a",
        "key column is the total over it; an empty cell is explained in the row's last column, empty_because.",
        "No identifier and no row of data about a patient, a session or an episode.", "",
        "Suppression rule in force: " + suppression_words(settings).replace("`", "'"), "",
        "Why a cell is empty:",
        *(f"  {r}: {w}" for r, w in reasons(settings)), "",
        "Definitions: ../definitions.html (anchors below); the same dictionary as a page: index.html,",
        f"as a table: {CSV_FILE}.", "",
    ]
    for table in TABLES.values():
        lines += [f"{table.filename}: {table.title}", f"  page: {table.page}" + (
            f"#{table.section}" if table.section else ""), f"  a row: {table.row}"]
        if table.rests_on:
            lines.append(f"  its numbers rest on: {table.rests_on}")
        lines.append(f"  {_rows_line(table).replace('`', '')}")
        for column, d in _table_columns(table, settings):
            where = f" [{d.section}: ../{d.link}]" if d.section else ""
            lines.append(f"  - {column} ({d.unit}): {d.meaning.replace('`', '')}{where}")
        lines.append("")
    return "\n".join(lines)


def build_data_dictionary(site: Path, settings: Settings, run: RunRecord | None = None) -> Path:
    """Write ``data/index.html``, ``data/data-dictionary.csv`` and ``data/README.txt``; returns the page's path."""
    folder = Path(site) / DATA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    frame = dictionary_frame(settings)
    empty = frame["definition_section"] == ""
    item = download("data-dictionary", frame, reason(NO_SECTION, empty, ["definition_section", "definition_link"]))
    (folder / CSV_FILE).write_text(csv_text(item, settings), encoding="utf-8", newline="\n")
    (folder / README_FILE).write_text(readme_text(settings), encoding="utf-8", newline="\n")
    page = folder / DICTIONARY_PAGE
    page.write_text(dictionary_html(settings, run), encoding="utf-8", newline="\n")
    return page
