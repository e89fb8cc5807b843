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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from dashboards.queries import EPISODE_KEYS, RELIEF_BY
from dashboards.suppression import (
    ALL,
    Key,
    descendants,
    frame_keys,
    is_small,
    margin_lines,
    mask,
    suppress,
    suppress_curves,
)

FAMILIES: dict[str, str] = {"counts": "patients", "pain": "pain_patients", "relief": "relief_patients"}
FAMILY_COLUMNS: dict[str, tuple[str, ...]] = {
    "counts": ("n_patients", "n_episodes", "n_sessions", "n_with_final_pain", "final_pain_ci_low",
               "final_pain_ci_high"),
    "pain": (
        "n_pain_evaluable", "mean_baseline_pain", "mean_pain_change", "mean_pain_change_ci_low",
        "mean_pain_change_ci_high", "srm", "responder_rate", "responder_ci_low", "responder_ci_high",
        "substantial_rate", "n", "observed_mean", "expected_mean", "o_minus_e", "ci_low", "ci_high",
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
    for group, part in curve.sort_values("t").groupby("condition_group", sort=True):
        ts = part["t"].astype(int).tolist()
        last = max(ts)
        for t in times:
            if t > last:
                continue
            nxt = part[part["t"].astype(int) >= t].iloc[0]
            rows.append({
                "condition_group": group, "t": t, "support": float(nxt["n_patients_at_risk"]),
                "at_risk": int(nxt["at_risk"]), "is_event_time": t in ts or t == 0,
            })
    grid = pd.DataFrame(rows, columns=["condition_group", "t", "support", "at_risk", "is_event_time"])
    if grid.empty:
        empty_points = pd.DataFrame(columns=["condition_group", "t", "survival", "ci_low", "ci_high", "at_risk"])
        return PublishedCurves(empty_points, pd.DataFrame(columns=["condition_group", "t", "at_risk", "hidden"]))
    blocked = [g for g in grid["condition_group"].unique() if cells.is_hidden("relief", (ALL, ALL, ALL, str(g)))]
    grid["hidden"] = suppress_curves(grid, "condition_group", "t", "support", cells.threshold, hidden_groups=blocked)
    values = curve.set_index(["condition_group", "t"])
    points = []
    for r in grid[grid["is_event_time"] & ~grid["hidden"]].itertuples():
        if r.t == 0:
            survival, low, high = 1.0, 1.0, 1.0
        else:
            v = values.loc[(r.condition_group, r.t)]
            survival, low, high = float(v["survival"]), float(v["ci_low"]), float(v["ci_high"])
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
