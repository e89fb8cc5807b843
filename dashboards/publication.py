"""What of the outcome marts may be published: one suppression decision shared by every page.

The director's and the researcher's pages publish cells of one *cube* of episodes: overall, by
condition, by clinic, by clinic and condition, by clinic and therapist, and by month of episode
start. Those cells add up along many lines (the conditions of a clinic to the clinic, the clinics
of a condition to the condition, the therapists of a clinic to the clinic, the months to the
total...), so suppression is decided once for the whole cube (:class:`EpisodeCells`) and every
page looks its cells up there: a cell hidden on one page is hidden on all of them, and no page
shows what another page's suppression protects.

A row of a marts table holds numbers resting on three different sets of patients, each
suppressed on its own (a *family*):

- ``counts``: patients, episodes, sessions, follow-up completeness -- all patients of the cell;
- ``pain``: pain-evaluable episodes, mean baseline and sustained change, SRM, responder rates, the
  risk-adjusted observed-minus-expected -- the patients with a pain-evaluable episode;
- ``relief``: relief-evaluable episodes, median sessions to relief, cumulative relief by t sessions,
  relief curves -- the patients with a relief-evaluable episode.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from dashboards.queries import EPISODE_KEYS, RELIEF_BY
from dashboards.suppression import (
    ALL,
    SUPPRESSED_COLUMN,
    Key,
    Line,
    descendants,
    frame_keys,
    is_small,
    margin_lines,
    mask,
    suppress,
    suppress_curves,
    suppress_frame,
)

FAMILIES: dict[str, str] = {"counts": "patients", "pain": "pain_patients", "relief": "relief_patients"}
FAMILY_COLUMNS: dict[str, tuple[str, ...]] = {
    "counts": ("n_patients", "n_episodes", "n_sessions", "n_with_final_pain", "final_pain_ci_low",
               "final_pain_ci_high"),
    "pain": (
        "n_pain_evaluable", "mean_baseline_pain", "mean_pain_change", "mean_pain_change_ci_low",
        "mean_pain_change_ci_high", "srm", "responder_rate", "responder_ci_low", "responder_ci_high",
        "substantial_rate", "n", "observed_mean", "expected_mean", "o_minus_e", "ci_low", "ci_high",
        "observed_rate", "expected_rate", "o_to_e",
    ),
    "relief": (
        "n_relief_evaluable", "median_sessions_to_relief", "median_ci_low", "median_ci_high", "relief_by_4",
        "relief_by_8",
    ),
}
# breakdown -> the key columns of its marts table, in EPISODE_KEYS order (None = margin 'all')
BREAKDOWN_KEYS: dict[str, tuple[str | None, ...]] = {
    "condition": (None, None, None, "condition_group"),
    "clinic": ("clinic_id", None, None, "condition_group"),
    "therapist": ("clinic_id", "therapist_id", None, "condition_group"),
    "month": (None, None, "month", "condition_group"),
    "clinic_month": ("clinic_id", None, "month", "condition_group"),
}


def hidden_column(family: str) -> str:
    """The boolean column that marks a family's numbers as suppressed in a published frame."""
    return f"hidden_{family}"


def outcome_keys(frame: pd.DataFrame, breakdown: str) -> list[tuple[str, ...]]:
    """The cube key of every row of a condition-outcomes table (``breakdown`` as in :data:`BREAKDOWN_KEYS`)."""
    columns = BREAKDOWN_KEYS[breakdown]
    parts = []
    for column in columns:
        if column is None:
            parts.append([ALL] * len(frame))
        elif column == "month":
            parts.append([pd.Timestamp(v).strftime("%Y-%m") for v in frame[column]])
        else:
            parts.append([str(v) for v in frame[column]])
    return list(zip(*parts, strict=True))


@dataclass(frozen=True)
class EpisodeCells:
    """The suppression of every cell of the episode cube, per family."""

    threshold: int
    support: Mapping[str, Mapping[Key, float]]
    hidden: Mapping[str, frozenset[Key]]

    @classmethod
    def build(cls, support: pd.DataFrame, threshold: int) -> EpisodeCells:
        """Decide suppression from :func:`dashboards.queries.episode_support` (primary, complementary, cascade)."""
        keys = frame_keys(support, EPISODE_KEYS)
        lines = margin_lines(keys)
        children = descendants(keys)
        sizes: dict[str, dict[Key, float]] = {}
        hidden: dict[str, frozenset[Key]] = {}
        for family, column in FAMILIES.items():
            sizes[family] = dict(zip(keys, support[column].astype(float).tolist(), strict=True))
            hidden[family] = frozenset(suppress(sizes[family], lines, threshold, children=children))
        return cls(threshold, sizes, hidden)

    def is_hidden(self, family: str, key: Key) -> bool:
        """Whether a family's numbers of a cell are suppressed (unknown cells are hidden)."""
        return key not in self.support[family] or key in self.hidden[family]

    def patients(self, family: str, key: Key) -> float:
        """The support of a cell (for ordering and tests; never published when hidden)."""
        return float(self.support[family].get(key, 0.0))

    def publish(self, frame: pd.DataFrame, keys: Sequence[Key]) -> pd.DataFrame:
        """A copy of ``frame`` with every family's columns emptied on the rows where it is hidden.

        Adds one ``hidden_<family>`` column per family. The values are removed, not styled.
        """
        out = frame.copy()
        for family, columns in FAMILY_COLUMNS.items():
            flags = pd.Series([self.is_hidden(family, k) for k in keys], index=out.index, dtype=bool)
            if family == "relief":  # one cumulative-relief column per report time of the run
                columns = (*columns, *(c for c in out.columns if RELIEF_BY.match(c)))
            for column in columns:
                if column in out.columns:
                    out[column] = out[column].astype(object).where(~flags, None)
            out[hidden_column(family)] = flags
        return out


def publish_outcomes(frame: pd.DataFrame, breakdown: str, cells: EpisodeCells) -> pd.DataFrame:
    """A condition-outcomes table (overall or by clinic / therapist / month) ready to publish."""
    return cells.publish(frame, outcome_keys(frame, breakdown))


def publish_risk(risk: pd.DataFrame, cells: EpisodeCells) -> pd.DataFrame:
    """``marts.risk_adjusted`` ready to publish: a clinic or therapist is shown when its pain cell is.

    Observed minus expected rests on the unit's pain-evaluable patients, and the residuals of all
    units add up (to zero overall, to the clinic within a clinic), so the ``pain`` family's decision
    for (clinic) and (clinic, therapist) applies.
    """
    keys = [
        (str(c), ALL, ALL, ALL) if level == "clinic" else (str(c), str(u), ALL, ALL)
        for level, c, u in zip(risk["level"], risk["clinic_id"], risk["unit_id"], strict=True)
    ]
    return cells.publish(risk, keys)


@dataclass(frozen=True)
class PublishedCurves:
    """Relief curves ready to publish: the shown points and the number-at-risk grid."""

    points: pd.DataFrame  # condition_group, t, survival, ci_low, ci_high, at_risk (t = 0 included)
    at_risk: pd.DataFrame  # condition_group, t, at_risk (None = suppressed), hidden


def publish_curves(
    curve: pd.DataFrame, cells: EpisodeCells, grid_times: Iterable[int] = ()
) -> PublishedCurves:
    """Suppress ``marts.relief_curve``: a point rests on the distinct patients at risk at its time.

    At every time the conditions' patients at risk add up to the ``all`` curve's, so every time is
    a line for complementary suppression; a curve stops at its first hidden point, and conditions
    whose relief statistics are hidden in :class:`EpisodeCells` get no curve at all. The returned
    number-at-risk grid covers ``grid_times`` and every time of the curves.
    """
    rows = []
    times = sorted({0, *(int(t) for t in curve["t"]), *(int(t) for t in grid_times)})
    for group, part in curve.sort_values("t", kind="stable").groupby("condition_group", sort=True):
        ts = part["t"].astype(int).tolist()
        event_times = set(ts)
        support = part["n_patients_at_risk"].tolist()
        at_risk_now = part["at_risk"].tolist()
        for t in times:
            if t > ts[-1]:
                continue
            i = bisect.bisect_left(ts, t)  # the first curve time >= t carries the numbers at t
            rows.append({
                "condition_group": group, "t": t, "support": float(support[i]),
                "at_risk": int(at_risk_now[i]), "is_event_time": t in event_times or t == 0,
            })
    grid = pd.DataFrame(rows, columns=["condition_group", "t", "support", "at_risk", "is_event_time"])
    if grid.empty:
        empty_points = pd.DataFrame(columns=["condition_group", "t", "survival", "ci_low", "ci_high", "at_risk"])
        return PublishedCurves(empty_points, pd.DataFrame(columns=["condition_group", "t", "at_risk", "hidden"]))
    blocked = [g for g in grid["condition_group"].unique() if cells.is_hidden("relief", (ALL, ALL, ALL, str(g)))]
    grid["hidden"] = suppress_curves(grid, "condition_group", "t", "support", cells.threshold, hidden_groups=blocked)
    values = {(g, int(t)): (float(s), float(lo), float(hi)) for g, t, s, lo, hi in
              curve[["condition_group", "t", "survival", "ci_low", "ci_high"]].itertuples(index=False)}
    points = []
    for r in grid[grid["is_event_time"] & ~grid["hidden"]].itertuples():
        if r.t == 0:
            survival, low, high = 1.0, 1.0, 1.0
        else:
            survival, low, high = values[(r.condition_group, int(r.t))]
        points.append({"condition_group": r.condition_group, "t": int(r.t), "survival": survival, "ci_low": low,
                       "ci_high": high, "at_risk": int(r.at_risk)})
    at_risk = grid[["condition_group", "t", "at_risk", "hidden"]].copy()
    at_risk["at_risk"] = at_risk["at_risk"].astype(object).where(~at_risk["hidden"], None)
    return PublishedCurves(
        pd.DataFrame(points, columns=["condition_group", "t", "survival", "ci_low", "ci_high", "at_risk"]),
        at_risk.reset_index(drop=True),
    )


def publish_simple(frame: pd.DataFrame, support_column: str, value_columns: Sequence[str], threshold: int) -> pd.DataFrame:
    """Rows that stand alone (no published total adds them up): hide those on 1..threshold-1 patients.

    Used for ROM gains and function outcomes (per condition and joint/instrument; the site shows
    no total over them). Adds a ``suppressed`` column and empties ``value_columns`` on hidden rows.
    """
    hidden = frame[support_column].map(lambda n: is_small(n, threshold)).astype(bool)
    return mask(frame, hidden, [*value_columns, support_column])


# --- research measures (follow-up, drop-out sensitivity, techniques, flares, case-mix models) ----------------

FOLLOW_UP_STATUS_COLUMNS = ("n_episodes", "n_discharged", "n_active", "n_lost", "n_patients")
FOLLOW_UP_LOST_COLUMNS = ("lost_rate", "lost_ci_low", "lost_ci_high", "n_ended", "n_patients_ended")


def _cube_key(condition: str, clinic: str) -> tuple[str, str, str, str]:
    """The episode-cube key (:data:`dashboards.queries.EPISODE_KEYS`) of a (condition, clinic) cell."""
    return (clinic, ALL, ALL, condition)


def publish_follow_up(follow_up: pd.DataFrame, cells: EpisodeCells) -> pd.DataFrame:
    """``marts.follow_up`` ready to publish: its (condition, ``all``), (``all``, clinic) and (``all``, ``all``) rows.

    Two families, each suppressed along the conditions and along the clinics (both add up to the
    (``all``, ``all``) row):

    - ``lost``: the lost-to-follow-up rate and its interval rest on the patients of the *ended* episodes
      (``n_patients_ended``);
    - ``status``: the shares discharged / active / lost rest on all the cell's patients (``n_patients``).
      They are hidden wherever the lost rate is (lost ÷ (discharged + lost) could be read from the shares)
      and wherever the episode cube hides the cell's counts (the same patients and episodes are counted
      there), and then protected along the same lines.

    The (condition, clinic) rows are never shown and are left out. Adds ``hidden_status`` and ``hidden_lost``.
    """
    frame = follow_up.copy()
    frame["condition_group"] = frame["condition_group"].astype(str)
    frame["clinic_id"] = frame["clinic_id"].astype(str)
    shown = (frame["condition_group"] == ALL) | (frame["clinic_id"] == ALL)
    frame = frame[shown].reset_index(drop=True)
    keys = ["condition_group", "clinic_id"]
    lost = suppress_frame(frame, keys, "n_patients_ended", cells.threshold)
    pre = [k for k, h in zip(frame_keys(frame, keys), lost, strict=True) if h]
    pre += [k for k in frame_keys(frame, keys) if cells.is_hidden("counts", _cube_key(*k))]
    status = suppress_frame(frame, keys, "n_patients", cells.threshold, pre_hidden=pre)
    out = frame.copy()
    for family, flags, columns in (("lost", lost, FOLLOW_UP_LOST_COLUMNS), ("status", status, FOLLOW_UP_STATUS_COLUMNS)):
        for column in columns:
            if column in out.columns:
                out[column] = out[column].astype(object).where(~flags, None)
        out[hidden_column(family)] = flags.to_numpy()
    return out


def _lines_along(keys: Sequence[tuple[str, ...]], column: int) -> list[Line]:
    """The margin lines of ``keys`` along one key column only (the other columns' ``all`` rows are not sums)."""
    return [line for line in margin_lines(keys) if line.total[column] == ALL
            and all(m[column] != ALL for m in line.members)
            and all(m[:column] + m[column + 1:] == line.total[:column] + line.total[column + 1:] for m in line.members)]


def _publish_by_condition(frame: pd.DataFrame, key_columns: Sequence[str], support_column: str,
                          value_columns: Sequence[str], threshold: int) -> pd.DataFrame:
    """Suppress a table whose rows add up along the condition (first key column) only; adds ``hidden``."""
    out = frame.copy()
    for column in key_columns:
        out[column] = out[column].astype(str)
    keys = frame_keys(out, key_columns)
    support = dict(zip(keys, out[support_column].tolist(), strict=True))
    hidden = suppress(support, _lines_along(keys, 0), threshold, children=descendants(keys))
    flags = pd.Series([k in hidden for k in keys], index=out.index, dtype=bool)
    masked = mask(out, flags, [*value_columns, support_column])
    return masked.rename(columns={SUPPRESSED_COLUMN: "hidden"})


SENSITIVITY_VALUES = (
    "n_eligible", "n_evaluable", "complete_case_rate", "complete_case_ci_low", "complete_case_ci_high",
    "worst_case_rate", "best_case_rate", "ipw_rate", "ipw_ci_low", "ipw_ci_high", "ipw_mean_change", "max_weight",
    "effective_n", "n_patients",
)


def publish_sensitivity(sensitivity: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """``marts.responder_sensitivity`` ready to publish: a condition's row is shown whole or hidden whole.

    The complete-case and IPW rates rest on the patients with an evaluable episode
    (``n_patients_evaluable``), the bounds on all eligible patients (at least as many): a row rests on
    the smaller set. The conditions add up to ``all``, a line for complementary suppression. Adds ``hidden``.
    """
    return _publish_by_condition(sensitivity, ["condition_group"], "n_patients_evaluable", SENSITIVITY_VALUES,
                                 threshold)


TECHNIQUE_VALUES = (
    "n_patients", "n_episodes", "n_pain_evaluable", "responder_rate", "responder_ci_low", "responder_ci_high",
    "mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high", "adjusted_difference",
    "adjusted_ci_low", "adjusted_ci_high",
)


def publish_techniques(techniques: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """``marts.technique_outcomes`` ready to publish. Every published number of a row rests on the patients
    with a pain-evaluable episode where the technique is primary (``n_patients_pain_evaluable``); for each
    technique the conditions add up to ``all`` (an episode has one condition), a line for complementary
    suppression. Techniques do not add up (an episode may have several primary techniques). Adds ``hidden``."""
    return _publish_by_condition(techniques, ["condition_group", "technique"], "n_patients_pain_evaluable",
                                 TECHNIQUE_VALUES, threshold)


FLARE_VALUES = ("n_sessions_scored", "n_flares", "flare_rate", "flare_ci_low", "flare_ci_high")


def publish_flares(flares: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """``marts.flares`` ready to publish: a rate rests on the patients with a scored visit in its cell
    (``n_patients``). For each technique (and ``all``) the conditions add up to ``all``; the techniques of a
    condition do not add up to its ``all`` row (a visit lists several techniques, or none), so only the
    conditions are lines. A hidden condition or technique total hides its breakdown. Adds ``hidden``."""
    return _publish_by_condition(flares, ["condition_group", "technique"], "n_patients", FLARE_VALUES, threshold)


def publish_responders(responders: pd.DataFrame, cells: EpisodeCells) -> pd.DataFrame:
    """``marts.risk_adjusted_responders`` ready to publish, with the same decision as :func:`publish_risk`
    (both rest on the unit's pain-evaluable patients, and observed minus expected responders add up over the
    units like the residuals do)."""
    return publish_risk(responders, cells)


COEFFICIENT_VALUES = ("estimate", "std_error", "ci_low", "ci_high")
REFERENCE_NOTE = "reference level"


def term_support(term: str, support: Mapping[tuple[str, str], float]) -> float | None:
    """The distinct patients a model term rests on (None when unknown: then it is hidden).

    ``covariate=level`` rests on the patients at that level; ``symptom_weeks_missing`` on those without
    symptom weeks and ``log1p_weeks`` on those with; the intercept and baseline pain on every patient
    of the model. ``support`` is :func:`dashboards.queries.case_mix_support` keyed by (covariate, level).
    """
    if "=" in term:
        covariate, level = term.split("=", 1)
        return support.get((covariate, level))
    if term == "symptom_weeks_missing":
        return support.get(("symptom_weeks_missing", "1"))
    if term == "log1p_weeks":
        return support.get(("symptom_weeks_missing", "0"))
    return support.get((ALL, ALL))


def publish_coefficients(coefficients: pd.DataFrame, level_support: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """``marts.model_coefficients`` ready to publish: a term's estimate and interval are hidden when the term rests
    on 1 to ``threshold - 1`` distinct patients (a rare age band, sex or payer), and every term of a model fitted
    on too few patients is hidden. Reference levels (estimate 0 by definition) are shown unless the whole model
    is hidden. Coefficients are not additive, so there is no complementary suppression. Adds ``hidden``."""
    support = {(str(c), str(v)): float(n) for c, v, n in zip(level_support["covariate"], level_support["level"],
                                                            level_support["patients"], strict=True)}
    everyone = support.get((ALL, ALL), 0.0)
    model_hidden = is_small(everyone, threshold) or everyone == 0
    flags = []
    for term, note in zip(coefficients["term"], coefficients["note"], strict=True):
        reference = isinstance(note, str) and note.startswith(REFERENCE_NOTE)
        n = term_support(str(term), support)
        flags.append(model_hidden or (not reference and (n is None or is_small(n, threshold))))
    hidden = pd.Series(flags, index=coefficients.index, dtype=bool)
    return mask(coefficients, hidden, COEFFICIENT_VALUES).rename(columns={SUPPRESSED_COLUMN: "hidden"})


CALIBRATION_VALUES = ("n", "mean_expected", "mean_observed", "n_patients")
_MODEL_TOTAL = "(model)"


def publish_calibration(calibration: pd.DataFrame, cells: EpisodeCells) -> pd.DataFrame:
    """``marts.risk_calibration`` ready to publish: a decile rests on its distinct patients (``n_patients``).

    The deciles of a model partition the pain-evaluable episodes, whose mean change and responder rate
    are published (the ``all`` row of the condition outcomes), so each model's deciles are a line whose
    total is that cell (hidden with it). Adds ``hidden``.
    """
    out = calibration.copy()
    total = (ALL, ALL, ALL, ALL)
    flags = pd.Series(False, index=out.index, dtype=bool)
    for model, part in out.groupby("model", sort=True):
        keys = [(str(model), str(int(d))) for d in part["decile"]]
        support: dict[Key, object] = dict(zip(keys, part["n_patients"].tolist(), strict=True))
        model_total = (str(model), _MODEL_TOTAL)
        support[model_total] = cells.patients("pain", total)
        hidden = suppress(support, [Line(model_total, tuple(keys))], cells.threshold,
                          pre_hidden=[model_total] if cells.is_hidden("pain", total) else [],
                          children={model_total: keys})
        flags.loc[part.index] = [k in hidden for k in keys]
    return mask(out, flags, CALIBRATION_VALUES).rename(columns={SUPPRESSED_COLUMN: "hidden"})


def rows_with(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows of a published frame whose ``column`` has a value (hidden or not computable rows carry None).

    Filters with a boolean Series aligned on the index, so an empty frame stays a frame with its columns
    (a plain list of no booleans would select no *columns* instead).
    """
    keep = pd.Series([v is not None and not pd.isna(v) for v in frame[column]], index=frame.index, dtype=bool)
    return frame[keep]
