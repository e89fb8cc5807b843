"""The payer's page: which courses of care would a payer question, on what rule, and for how many units?

Audit flags (metrics.md section 8, version 2) by tier, payer type and clinic; a funnel plot of each
clinic's flag rate against its number of episodes; units at risk and excess units per clinic and payer
type; pain documentation completeness per clinic; documentation by payer type; which flag applies to
which payer type (the reference table the run used) with every rule in words and the run's thresholds;
visits per episode; and where the restricted worklists and audit packets are.

Reads ``marts.audit_flags`` (counted per flag, tier, clinic and payer type in SQL), ``marts.audit_episodes``
with ``marts.episode_outcomes`` (units and distinct patients per clinic and payer type in SQL),
``marts.episode_outcomes`` (visits per episode, pain documentation), and ``ref.audit_payer_rules``.
Every cell is suppressed as section 9 says (:mod:`dashboards.suppression`); a flag that does not apply to
a payer type is shown as "not applicable", never as 0 or as suppressed.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards import downloads, html
from dashboards.audit_packet import PACKET_PREFIX, TIER_COLOURS
from dashboards.definitions import anchor
from dashboards.outputs import PACKET_FOLDER
from dashboards.queries import (
    ANY_FLAG,
    TIER_PREFIX,
    flag_cells,
    pain_documentation,
    payer_rules,
    units_cells,
    visits_per_episode,
)
from dashboards.suppression import ALL, suppress_frame
from dashboards.theme import (
    ACCENT,
    ACCENT_LIGHT,
    ALL_COLOUR,
    MUTED,
    clinic_label,
    figure_of,
    fmt,
    is_missing,
    merged,
    styled_layout,
    update_axes,
)
from transforms.audit import (
    FLAG_CATALOGUE,
    FLAGS,
    TIER_LABELS,
    TIERS,
    WORKLIST_PREFIX,
    relief_in_words,
    rule_in_words,
)
from transforms.config import Settings
from transforms.contract import PAYER_TYPES
from transforms.intervals import z_value
from transforms.runs import RunRecord

# Short labels of the flags (the catalogue of transforms/audit.py is the one list of flags).
FLAG_LABELS: dict[str, str] = {f.name: f.label for f in FLAG_CATALOGUE}
FLAG_TIER: dict[str, str] = {f.name: f.tier for f in FLAG_CATALOGUE}
SESSION_FLAGS = tuple(f.name for f in FLAG_CATALOGUE if f.level == "session")
# Flags whose sessions make up the units at risk (section 8); excess units come from UNITS_OVER_TIME.
RISK_FLAGS = ("OVER_AUTHORIZED", "NO_REFERRAL", "NO_EVALUATION", "NO_RECERTIFICATION", "CARE_AFTER_GOAL")
DOCUMENTATION: dict[str, str] = {
    "NO_REFERRAL": "referral on file",
    "NO_EVALUATION": "evaluation at the first visit",
    "NO_GOALS": "goals documented",
    "NO_PROGRESS_NOTE": "progress notes in time",
    "NO_BASELINE_MEASURE": "baseline measure",
    "NO_OUTCOME_MEASURE": "outcome measure at the end",
}
NOT_APPLICABLE = "not applicable"
WORKLIST_FOLDER = "audit_worklists"
VISIT_EDGES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 20, 30)
FUNNEL_LEVELS = (0.95, 0.998)

PAYER_LABELS = {ALL: "All payers", "commercial": "Commercial", "medicare": "Medicare", "medicaid": "Medicaid",
                "workers_comp": "Workers' comp", "auto_pip": "Auto (PIP)", "fsa_hsa": "FSA / HSA",
                "self_pay": "Self-pay"}


def payer_label(payer: str) -> str:
    """Readable payer type (``workers_comp`` -> ``Workers' comp``); ``all`` -> ``All payers``."""
    return PAYER_LABELS.get(payer, payer.replace("_", " ").capitalize())


def flag_label(flag: str) -> str:
    """``Billing · Units beyond the minutes (8-minute rule)`` for a flag; a tier key gives its tier's name."""
    if flag.startswith(TIER_PREFIX):
        return TIER_LABELS.get(flag[len(TIER_PREFIX):], flag)
    if flag == ANY_FLAG:
        return "Any flag"
    return f"{TIER_LABELS.get(FLAG_TIER.get(flag, ''), '')} · {FLAG_LABELS.get(flag, flag)}"


def visit_bin_labels(edges: tuple[int, ...] = VISIT_EDGES) -> list[str]:
    """Labels of the visit bins of :func:`dashboards.queries.visits_per_episode` (``1``, ..., ``13–15``, ``31+``)."""
    labels, low = [], 1
    for edge in edges:
        labels.append(str(edge) if edge == low else f"{low}–{edge}")
        low = edge + 1
    labels.append(f"{low}+")
    return labels


def _payers(values: list[str]) -> list[str]:
    known = {p: i for i, p in enumerate(PAYER_TYPES)}
    return sorted(values, key=lambda p: (p == ALL, known.get(p, len(known)), p))


def applies(rules: dict[tuple[str, str], bool], flag: str, payer: str) -> bool:
    """Whether ``flag`` (or, for ``ANY``/a tier, any of its flags) applies to ``payer`` (``all``: to any payer)."""
    if flag == ANY_FLAG:
        names = list(FLAGS)
    elif flag.startswith(TIER_PREFIX):
        names = [f for f, t in FLAG_TIER.items() if t == flag[len(TIER_PREFIX):]]
    else:
        names = [flag]
    payers = PAYER_TYPES if payer == ALL else (payer,)
    return any(rules.get((f, p), False) for f in names for p in payers)


# --- publishing (suppression) ---------------------------------------------------------------------------


def publish_flags(cells: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Flag counts ready to publish: a cell rests on its distinct flagged patients; the clinics and payer
    types of a flag add up to the flag's total, so each is a line for complementary suppression."""
    out = cells.copy()
    hidden = suppress_frame(out, ["flag", "clinic_id", "payer_type"], "patients", threshold)
    out["hidden"] = hidden
    for column in ("n_flags", "n_episodes", "patients"):
        out[column] = out[column].astype(object).where(~hidden, None)
    return out


def publish_units(cells: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Units per clinic and payer type ready to publish. Each measure rests on its own patients (episodes
    and units billed on all the cell's patients, flagged episodes on the flagged ones, units at risk on
    those with units at risk, excess units on those with excess units); every measure of a cell whose
    patient count is hidden is hidden too. Clinics and payer types add up to their margins."""
    out = cells.copy()
    keys = ["clinic_id", "payer_type"]
    base = suppress_frame(out, keys, "patients", threshold)
    out["hidden"] = base
    for column in ("n_episodes", "units_billed", "patients"):
        out[column] = out[column].astype(object).where(~base, None)
    pre = [k for k, h in zip(zip(out["clinic_id"], out["payer_type"], strict=True), base, strict=True) if h]
    for column, support in (("n_flagged", "flagged_patients"), ("units_at_risk", "risk_patients"),
                            ("units_over_time", "excess_patients")):
        hidden = suppress_frame(out, keys, support, threshold, pre_hidden=pre)
        out[f"{column}_hidden"] = hidden
        out[column] = out[column].astype(object).where(~hidden, None)
    return out


def publish_rates(frame: pd.DataFrame, key: str, threshold: int) -> pd.DataFrame:
    """A per-unit table with an ``all`` row (pain documentation per clinic) ready to publish."""
    out = frame.copy()
    hidden = suppress_frame(out, [key], "patients", threshold)
    out["hidden"] = hidden
    for column in [c for c in out.columns if c not in (key, "hidden")]:
        out[column] = out[column].astype(object).where(~hidden, None)
    return out


def publish_visits(visits: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Visits-per-episode cells ready to publish (bins of a payer type add up to its total, and so on)."""
    out = visits.copy()
    out["bin_key"] = out["bin"].map(lambda b: ALL if int(b) < 0 else f"{int(b):03d}")
    hidden = suppress_frame(out, ["payer_type", "bin_key"], "patients", threshold)
    out["hidden"] = hidden
    for column in ("n_episodes", "patients"):
        out[column] = out[column].astype(object).where(~hidden, None)
    return out


def _cell(frame: pd.DataFrame, **keys: str | int) -> pd.Series | None:
    """The first row of ``frame`` whose columns equal ``keys`` (None if there is none).

    Compared on the columns' arrays, not as pandas Series: the page looks up about a thousand
    cells, and Series arithmetic per lookup was a quarter of its build time.
    """
    mask = np.ones(len(frame), dtype=bool)
    for column, value in keys.items():
        mask &= frame[column].to_numpy() == value
    found = np.flatnonzero(mask)
    return frame.iloc[int(found[0])] if found.size else None


def _flag_value(flags: pd.DataFrame, flag: str, clinic: str, payer: str, column: str) -> tuple[bool, float]:
    """(shown, value) of a flag cell; a cell with no row is a published zero."""
    row = _cell(flags, flag=flag, clinic_id=clinic, payer_type=payer)
    if row is None:
        return True, 0.0
    if bool(row["hidden"]):
        return False, float("nan")
    return True, float(row[column])


# --- figures ------------------------------------------------------------------------------------------------


def headline_cards(units: pd.DataFrame, flags: pd.DataFrame, threshold: int) -> str:
    """Episodes, flagged episodes, units billed, units at risk and excess units for all clinics and payers."""
    total = _cell(units, clinic_id=ALL, payer_type=ALL)
    if total is None:
        return html.message("No episodes of care yet.")
    shown = not bool(total["hidden"])
    flag_shown, flagged = _flag_value(flags, ANY_FLAG, ALL, ALL, "n_episodes")
    n = float(total["n_episodes"]) if shown else 0.0
    billed = None if is_missing(total["units_billed"]) else float(total["units_billed"])

    def share(value: object) -> str:
        return f"{fmt(float(value) / billed, 1, True)} of units billed" if billed and not is_missing(value) else ""

    items = [
        html.card("Episodes of care", fmt(n, 0) if shown else None, "all payers", threshold),
        html.card("Episodes with at least one flag",
                  fmt(flagged / n, 0, True) if shown and flag_shown and n else None,
                  f"{fmt(flagged, 0)} episodes" if shown and flag_shown else "", threshold),
        html.card("Units billed", fmt(billed, 0) if billed is not None else None, "all CPT codes", threshold),
        html.card("Units at risk", None if is_missing(total["units_at_risk"]) else fmt(total["units_at_risk"], 0),
                  share(total["units_at_risk"]) or "necessity or authorisation", threshold),
        html.card("Excess units (8-minute rule)",
                  None if is_missing(total["units_over_time"]) else fmt(total["units_over_time"], 0),
                  share(total["units_over_time"]) or "each patient-day once", threshold),
    ]
    return html.cards(items)


def flags_figure(flags: pd.DataFrame) -> go.Figure | None:
    """Flagged episodes per flag (all clinics and payers), grouped and coloured by tier; None when all hidden."""
    rows = flags[(flags["clinic_id"] == ALL) & (flags["payer_type"] == ALL) & flags["flag"].isin(list(FLAGS))
                 & ~flags["hidden"].astype(bool)]
    if rows.empty:
        return None
    order = [f for f in FLAGS if f in set(rows["flag"])]
    rows = rows.set_index("flag").loc[order].reset_index()
    labels = [flag_label(f) for f in rows["flag"]]
    trace = {
        "type": "bar", "x": rows["n_episodes"].astype(float).tolist(), "y": labels, "orientation": "h",
        "marker": {"color": [TIER_COLOURS[FLAG_TIER[f]] for f in rows["flag"]]},
        "customdata": [[f, int(n), "visit" if f in SESSION_FLAGS else "episode"] for f, n in zip(
            rows["flag"], rows["n_flags"], strict=True)],
        "hovertemplate": ("<b>%{y}</b> (%{customdata[0]})<br>%{x:,} flagged episodes<br>%{customdata[1]:,} flags "
                          "(one per %{customdata[2]})<extra></extra>"),
    }
    layout = styled_layout({}, "Flagged episodes by flag and tier", height=max(320, 34 * len(order) + 130),
                           subtitle="episodes carrying the flag, all clinics and payers; colour: tier (billing, "
                                    "necessity, documentation, review)")
    update_axes(layout, "y", {"categoryorder": "array", "categoryarray": labels[::-1]})
    update_axes(layout, "x", {"title": {"text": "flagged episodes"}, "rangemode": "tozero"})
    return figure_of([trace], merged(layout, {"margin": {"l": 330}}))


def flag_heatmap(flags: pd.DataFrame, by: str, denominators: dict[str, float | None], title: str,
                 order: list[str], label: dict[str, str], rules: dict[tuple[str, str], bool]) -> go.Figure | None:
    """Flagged episodes per flag and clinic (or payer type), coloured by the share of that unit's episodes.

    ``denominators`` holds each unit's published episode count (None when hidden): the share is shown
    only when both the flag cell and the unit's count are published. A flag that does not apply to a
    payer type reads "not applicable". None when nothing can be shown.
    """
    other = "payer_type" if by == "clinic_id" else "clinic_id"
    part = flags[(flags[other] == ALL) & (flags[by] != ALL) & flags["flag"].isin(list(FLAGS))]
    units = [u for u in order if u in denominators]
    if not units:
        return None
    reasons = [f for f in FLAGS if any(applies(rules, f, u if by == "payer_type" else ALL) for u in units)]
    z, text, custom = [], [], []
    for flag in reasons:
        z_row, t_row, c_row = [], [], []
        for unit in units:
            cell = _cell(part, flag=flag, **{by: unit})
            denominator = denominators.get(unit)
            if by == "payer_type" and not applies(rules, flag, unit):
                z_row.append(None)
                t_row.append(NOT_APPLICABLE)
                c_row.append([NOT_APPLICABLE, "the flag is not checked for this payer type"])
            elif cell is None:
                z_row.append(0.0 if denominator else None)
                t_row.append("0")
                c_row.append(["0 episodes", "0%" if denominator else ""])
            elif bool(cell["hidden"]):
                z_row.append(None)
                t_row.append(html.SUPPRESSED_TEXT)
                c_row.append([html.SUPPRESSED_TEXT, ""])
            else:
                n = float(cell["n_episodes"])
                share = n / denominator if denominator else None
                z_row.append(share)
                t_row.append(f"{int(n):,}")
                c_row.append([f"{int(n):,} episodes", "" if share is None else f"{share:.0%} of its episodes"])
        z.append(z_row)
        text.append(t_row)
        custom.append(c_row)
    if not any(t not in (NOT_APPLICABLE, html.SUPPRESSED_TEXT, "0") for row in text for t in row):
        return None  # nothing but zeros, suppressed and not applicable cells
    trace = {
        "type": "heatmap", "z": z, "x": [label[u] for u in units], "y": [flag_label(f) for f in reasons],
        "text": text, "texttemplate": "%{text}", "customdata": custom,
        "colorscale": [[0, "#fff7ec"], [0.5, "#fdae6b"], [1, "#b35c00"]], "zmin": 0,
        "colorbar": {"title": {"text": "share of<br>episodes"}, "tickformat": ".0%"}, "xgap": 2, "ygap": 2,
        "hovertemplate": "<b>%{y}</b><br>%{x}: %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
        "textfont": {"size": 11},
    }
    layout = styled_layout({}, title, height=max(340, 36 * len(reasons) + 150),
                           subtitle="number of flagged episodes; colour: share of the unit's episodes; "
                                    "blank: suppressed or not applicable (as written in the cell)")
    update_axes(layout, "y", {"autorange": "reversed"})
    return figure_of([trace], merged(layout, {"margin": {"l": 330}}))


def rate_limits(rate: float, n: float, z: float) -> tuple[float, float]:
    """Binomial control limits of a rate at ``n`` episodes around the overall ``rate`` (normal approximation,
    clipped to [0, 1]): ``rate ± z * sqrt(rate * (1 - rate) / n)``. The one implementation of the limits."""
    half = z * math.sqrt(rate * (1.0 - rate) / n)
    return max(0.0, rate - half), min(1.0, rate + half)


def funnel_position(flagged: float, n: float, rate: float) -> str:
    """Where a clinic lies against the limits of :func:`rate_limits` (95% and 99.8%)."""
    low95, high95 = rate_limits(rate, n, z_value(FUNNEL_LEVELS[0]))
    low998, high998 = rate_limits(rate, n, z_value(FUNNEL_LEVELS[1]))
    share = flagged / n
    if low95 <= share <= high95:
        return "within the 95% limits"
    if low998 <= share <= high998:
        return f"{'above' if share > rate else 'below'} the 95% limits"
    return f"{'above' if share > rate else 'below'} the 99.8% limits"


def funnel_figure(flags: pd.DataFrame, clinic_episodes: dict[str, float | None],
                  total_episodes: float | None) -> go.Figure | None:
    """Flag rate of each clinic against its number of episodes, with binomial control limits around the
    overall rate; a menu switches between any flag and each tier. None when nothing can be drawn."""
    options = [ANY_FLAG, *(f"{TIER_PREFIX}{t}" for t in TIERS)]
    data: list[dict] = []
    menu: list[tuple[str, list[int]]] = []
    shown_ns = [n for n in clinic_episodes.values() if n]
    if not total_episodes or not shown_ns:
        return None
    grid_low, grid_high = max(1.0, min(shown_ns) * 0.6), max(shown_ns) * 1.25
    grid = [grid_low + (grid_high - grid_low) * i / 80 for i in range(81)]
    for option in options:
        ok, flagged_all = _flag_value(flags, option, ALL, ALL, "n_episodes")
        if not ok:
            continue
        rate = flagged_all / total_episodes
        xs, ys, custom = [], [], []
        for clinic, n in sorted(clinic_episodes.items()):
            shown, flagged = _flag_value(flags, option, clinic, ALL, "n_episodes")
            if not n or not shown:
                continue
            xs.append(n)
            ys.append(flagged / n)
            custom.append([clinic_label(clinic), int(flagged), funnel_position(flagged, n, rate)])
        if not xs:
            continue
        first = len(data)
        for level, dash in zip(FUNNEL_LEVELS, ("dash", "dot"), strict=True):
            z = z_value(level)
            bounds = [rate_limits(rate, n, z) for n in grid]
            name = f"{level:.1%}".replace(".0%", "%") + " limits"
            line = {"color": MUTED, "dash": dash, "width": 1}
            data.append({"type": "scatter", "x": grid, "y": [b[1] for b in bounds], "mode": "lines", "name": name,
                         "line": line, "hoverinfo": "skip", "legendgroup": name})
            data.append({"type": "scatter", "x": grid, "y": [b[0] for b in bounds], "mode": "lines",
                         "showlegend": False, "line": line, "hoverinfo": "skip", "legendgroup": name})
        data.append({"type": "scatter", "x": [grid[0], grid[-1]], "y": [rate, rate], "mode": "lines",
                     "name": "overall rate", "line": {"color": ALL_COLOUR, "width": 1}, "hoverinfo": "skip"})
        data.append({
            "type": "scatter", "x": xs, "y": ys, "mode": "markers", "name": "clinics", "customdata": custom,
            "marker": {"symbol": "diamond", "size": 14,
                       "color": TIER_COLOURS.get(option[len(TIER_PREFIX):], ACCENT),
                       "line": {"width": 1.2, "color": "#ffffff"}},
            "hovertemplate": ("<b>%{customdata[0]}</b><br>%{x:,} episodes, %{customdata[1]:,} flagged (%{y:.0%})"
                              "<br>%{customdata[2]}<extra></extra>"),
        })
        menu.append((flag_label(option), list(range(first, len(data)))))
    if not menu:
        return None
    visible_first = set(menu[0][1])
    for i, trace in enumerate(data):
        trace["visible"] = i in visible_first
    buttons = [{"label": name, "method": "restyle",
                "args": [{"visible": [i in set(idx) for i in range(len(data))]}]} for name, idx in menu]
    layout = styled_layout({}, "Flag rate by clinic, against the number of episodes", height=460,
                           subtitle="share of a clinic's episodes with a flag; dashed: 95% and dotted: 99.8% binomial "
                                    "control limits around the overall rate (they narrow as episodes grow)")
    layout = merged(layout, {
        "updatemenus": [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.0,
                         "yanchor": "bottom", "bgcolor": "#ffffff", "bordercolor": "#c3ccd6"}],
        "margin": {"t": 100, "b": 90},
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.2, "yanchor": "top"},
    })
    update_axes(layout, "x", {"title": {"text": "episodes of the clinic"}, "rangemode": "tozero"})
    update_axes(layout, "y", {"title": {"text": "flagged episodes"}, "tickformat": ".0%", "range": [0, 1.02]})
    return figure_of(data, layout)


def units_table(units: pd.DataFrame, rules: dict[tuple[str, str], bool], threshold: int) -> str:
    """Episodes, flagged episodes, units billed, units at risk and excess units per clinic and payer type."""
    rows: list[list[html.Cell]] = []
    totals: list[int] = []
    clinics = sorted(c for c in set(units["clinic_id"]) if c != ALL)
    payers = _payers([p for p in set(units["payer_type"]) if p != ALL])
    order = [(c, p) for c in [*clinics, ALL] for p in [*payers, ALL]]

    def value(row: pd.Series, column: str, flags: tuple[str, ...]) -> html.Cell:
        if not any(applies(rules, f, str(row["payer_type"])) for f in flags):
            return NOT_APPLICABLE
        return None if is_missing(row[column]) else fmt(row[column], 0)

    for clinic, payer in order:
        row = _cell(units, clinic_id=clinic, payer_type=payer)
        if row is None:
            continue
        if payer == ALL:
            totals.append(len(rows))
        rows.append([
            "All clinics" if clinic == ALL else clinic_label(clinic), payer_label(payer),
            None if is_missing(row["n_episodes"]) else fmt(row["n_episodes"], 0),
            value(row, "n_flagged", tuple(FLAGS)),
            None if is_missing(row["units_billed"]) else fmt(row["units_billed"], 0),
            value(row, "units_at_risk", RISK_FLAGS),
            value(row, "units_over_time", ("UNITS_OVER_TIME",)),
        ])
    if not rows:
        return html.message("No episodes of care yet.")
    return html.table(rows, ["Clinic", "Payer type", "Episodes", "Flagged episodes", "Units billed", "Units at risk",
                             "Excess units (8-minute rule)"], threshold, numeric=(2, 3, 4, 5, 6), total_rows=totals,
                      table_id="units")


def units_figure(units: pd.DataFrame, rules: dict[tuple[str, str], bool]) -> go.Figure | None:
    """Units billed, units at risk and excess units per payer type (all clinics), as horizontal bars; a measure
    that is suppressed or not checked for a payer type is written out next to an empty bar."""
    part = units[(units["clinic_id"] == ALL) & (units["payer_type"] != ALL) & ~units["hidden"].astype(bool)]
    if part.empty:
        return None
    payers = _payers(part["payer_type"].astype(str).tolist())
    part = part.set_index("payer_type").loc[payers]
    labels = [payer_label(p) for p in payers]
    data: list[dict] = []
    measures = (("units_billed", tuple(FLAGS), "units billed", ACCENT_LIGHT),
                ("units_at_risk", RISK_FLAGS, "units at risk", TIER_COLOURS["necessity"]),
                ("units_over_time", ("UNITS_OVER_TIME",), "excess units (8-minute rule)", TIER_COLOURS["billing"]))
    for column, flags, name, colour in measures:
        xs, texts = [], []
        for payer in payers:
            value = part.loc[payer, column]
            if column != "units_billed" and not any(applies(rules, f, payer) for f in flags):
                xs.append(0.0)
                texts.append(NOT_APPLICABLE)
            elif is_missing(value):
                xs.append(0.0)
                texts.append(html.SUPPRESSED_TEXT)
            else:
                xs.append(float(value))
                texts.append(f"{float(value):,.0f}")
        data.append({"type": "bar", "y": labels, "x": xs, "name": name, "orientation": "h", "marker": {"color": colour},
                     "text": texts, "textposition": "outside", "cliponaxis": False, "textfont": {"size": 10},
                     "hovertemplate": f"<b>%{{y}}</b><br>{name}: %{{text}}<extra></extra>"})
    layout = styled_layout({}, "Units billed, at risk and in excess, by payer type",
                           height=max(380, 70 * len(payers) + 140),
                           subtitle="units at risk: those a payer could deny for necessity or authorisation (each "
                                    "visit once); excess units: beyond the 8-minute rule (each patient-day once)")
    layout = merged(layout, {"barmode": "group", "margin": {"r": 90}})
    update_axes(layout, "x", {"title": {"text": "units"}, "rangemode": "tozero"})
    update_axes(layout, "y", {"autorange": "reversed"})
    return figure_of(data, layout)


def pain_documentation_figure(pain: pd.DataFrame) -> go.Figure | None:
    """Share of sessions with both pain scores (before and after treatment), per clinic and overall."""
    if pain.empty:
        return None
    clinics = sorted(c for c in pain["clinic_id"] if c != ALL) + [ALL]
    xs, ys, texts, colours, custom = [], [], [], [], []
    any_shown = False
    for clinic in clinics:
        row = _cell(pain, clinic_id=clinic)
        if row is None:
            continue
        xs.append("All clinics" if clinic == ALL else clinic_label(clinic))
        if bool(row["hidden"]) or is_missing(row["n_sessions"]) or not row["n_sessions"]:
            ys.append(0.0)
            texts.append(html.SUPPRESSED_TEXT)
            custom.append([0, 0])
        else:
            share = float(row["n_scored"]) / float(row["n_sessions"])
            ys.append(share)
            texts.append(f"{share:.0%}")
            custom.append([int(row["n_scored"]), int(row["n_sessions"])])
            any_shown = True
        colours.append(ALL_COLOUR if clinic == ALL else ACCENT)
    if not any_shown:
        return None
    trace = {"type": "bar", "x": xs, "y": ys, "text": texts, "textposition": "outside", "marker": {"color": colours},
             "customdata": custom, "cliponaxis": False,
             "hovertemplate": "<b>%{x}</b><br>%{text} of sessions: %{customdata[0]:,} of %{customdata[1]:,} "
                              "have both pain scores<extra></extra>"}
    layout = styled_layout({}, "Pain documentation completeness by clinic", height=380,
                           subtitle="share of sessions with a pain score before and after treatment (a published "
                                    "measure, not a flag: a missing score at one visit is no reason to deny it)")
    update_axes(layout, "y", {"title": {"text": "sessions with both scores"}, "tickformat": ".0%", "range": [0, 1.1]})
    update_axes(layout, "x", {"title": {"text": "clinic"}})
    return figure_of([trace], layout)


def documentation_figure(flags: pd.DataFrame, payer_episodes: dict[str, float | None],
                         rules: dict[tuple[str, str], bool]) -> go.Figure | None:
    """Share of each payer type's episodes not flagged for each documentation and necessity check; a check that
    does not apply to a payer type says "not applicable" (it is neither 0 nor suppressed)."""
    payers = [p for p in _payers(list(payer_episodes)) if p != ALL]
    if not payers:
        return None
    z, text, custom = [], [], []
    for flag, label in DOCUMENTATION.items():
        z_row, t_row, c_row = [], [], []
        for payer in payers:
            episodes = payer_episodes.get(payer)
            shown, n = _flag_value(flags, flag, ALL, payer, "n_episodes")
            if not applies(rules, flag, payer):
                cell: tuple[float | None, str, str] = (None, NOT_APPLICABLE, f"{label}: {NOT_APPLICABLE}")
            elif not episodes or not shown:
                cell = (None, html.SUPPRESSED_TEXT, html.SUPPRESSED_TEXT)
            else:
                share = 1 - n / episodes
                cell = (share, f"{share:.0%}", f"{label}: {int(episodes - n):,} of {int(episodes):,} episodes")
            z_row.append(cell[0])
            t_row.append(cell[1])
            c_row.append(cell[2])
        z.append(z_row)
        text.append(t_row)
        custom.append(c_row)
    if all(t in (NOT_APPLICABLE, html.SUPPRESSED_TEXT) for row in text for t in row):
        return None
    trace = {
        "type": "heatmap", "z": z, "x": [payer_label(p) for p in payers], "y": list(DOCUMENTATION.values()),
        "text": text, "texttemplate": "%{text}", "customdata": custom,
        "colorscale": [[0, "#fdecea"], [0.7, "#f6f8e6"], [1, "#d7ecd9"]], "zmin": 0, "zmax": 1,
        "colorbar": {"title": {"text": "documented"}, "tickformat": ".0%"}, "xgap": 2, "ygap": 2,
        "textfont": {"size": 11}, "hovertemplate": "<b>%{x}</b><br>%{customdata}<extra></extra>",
    }
    layout = styled_layout({}, "Documentation and necessity checks by payer type", height=380,
                           subtitle="share of the payer type's episodes not flagged for the check; 'not applicable': "
                                    "the payer type is not checked for it")
    update_axes(layout, "y", {"autorange": "reversed"})
    return figure_of([trace], merged(layout, {"margin": {"l": 220}}))


def visits_figure(visits: pd.DataFrame) -> go.Figure | None:
    """Episodes by number of visits, with a dropdown per payer type; suppressed bins are left empty."""
    labels = visit_bin_labels()
    ordered = _payers([str(p) for p in visits["payer_type"].unique()])
    payers = [p for p in ordered if p == ALL] + [p for p in ordered if p != ALL]  # all payers first (default)
    data: list[dict] = []
    shown_payers = []
    for payer in payers:
        part = visits[(visits["payer_type"] == payer) & (visits["bin"] >= 0) & ~visits["hidden"].astype(bool)]
        if part.empty:
            continue
        shown_payers.append(payer)
        data.append({
            "type": "bar", "x": [labels[int(b)] for b in part["bin"]], "y": part["n_episodes"].astype(float).tolist(),
            "marker": {"color": ACCENT}, "name": payer_label(payer), "visible": not shown_payers[:-1],
            "customdata": [[payer_label(payer)]] * len(part),
            "hovertemplate": "<b>%{x} visits</b><br>%{y:,} episodes (%{customdata[0]})<extra></extra>",
        })
    if not shown_payers:
        return None
    buttons = [{"label": payer_label(p), "method": "restyle",
                "args": [{"visible": [q == p for q in shown_payers]}]} for p in shown_payers]
    layout = styled_layout({}, "Visits per episode of care", height=400,
                           subtitle="episodes by number of visits; a missing bar is a suppressed bin")
    layout = merged(layout, {"updatemenus": [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right",
                                              "y": 1.0, "yanchor": "bottom", "bgcolor": "#ffffff",
                                              "bordercolor": "#c3ccd6"}],
                             "margin": {"t": 96}, "showlegend": False})
    update_axes(layout, "x", {"title": {"text": "visits in the episode"}, "type": "category", "categoryorder": "array",
                              "categoryarray": labels})
    update_axes(layout, "y", {"title": {"text": "episodes"}, "rangemode": "tozero"})
    return figure_of(data, layout)


def rules_table(rules: dict[tuple[str, str], bool], settings: Settings) -> str:
    """The flags with their tier, the rule in words (the run's thresholds) and the payer types they apply to."""
    rows: list[list[html.Cell]] = []
    for flag in FLAG_CATALOGUE:
        rows.append([flag.name, TIER_LABELS[flag.tier], rule_in_words(flag.name, settings),
                     *("applies" if rules.get((flag.name, p), False) else NOT_APPLICABLE for p in PAYER_TYPES)])
    return html.table(rows, ["Flag", "Tier", "Raised when", *(payer_label(p) for p in PAYER_TYPES)],
                      table_id="payer-rules")


# --- downloads ------------------------------------------------------------------------------------------------


def _rows(records: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=columns)


def payer_downloads(flags: pd.DataFrame, units: pd.DataFrame, visits: pd.DataFrame, pain: pd.DataFrame,
                    rules: dict[tuple[str, str], bool], clinic_episodes: dict[str, float | None],
                    payer_episodes: dict[str, float | None], total_episodes: float | None,
                    settings: Settings) -> list[downloads.Download]:
    """The payer page's downloads, from the published frames its tables and charts use (a combination without a
    row is a published zero, as on the page; flags, tiers and payer types by their codes)."""
    out = []
    clinics = sorted(clinic_episodes)
    payers = [p for p in _payers(list(payer_episodes)) if p != ALL]
    options = [*FLAGS, *(f"{TIER_PREFIX}{t}" for t in TIERS), ANY_FLAG]

    def value(flag: str, clinic: str, payer: str, column: str) -> tuple[bool, float]:
        return _flag_value(flags, flag, clinic, payer, column)

    # flagged episodes by flag (chart; tiers and any flag: the cards and the funnel's overall rates)
    records, hidden = [], []
    for flag in options:
        shown, n = value(flag, ALL, ALL, "n_episodes")
        _, raised = value(flag, ALL, ALL, "n_flags")
        tier = FLAG_TIER.get(flag, flag[len(TIER_PREFIX):] if flag.startswith(TIER_PREFIX) else ALL)
        records.append({"flag": flag, "tier": tier, "raised_per": "visit" if flag in SESSION_FLAGS else "episode",
                        "n_flagged_episodes": n, "n_flags": raised})
        hidden.append(not shown)
    frame = _rows(records, ["flag", "tier", "raised_per", "n_flagged_episodes", "n_flags"])
    out.append(downloads.download("payer-flags", frame, downloads.suppressed(hidden, ["n_flagged_episodes",
                                                                                     "n_flags"])))
    # flags by payer type and by clinic (heatmaps; tiers and any flag by clinic: the funnel)
    records, hidden, unit_hidden, not_applicable = [], [], [], []
    units_of = [(ALL, p, payer_episodes.get(p)) for p in payers] + [(c, ALL, clinic_episodes.get(c)) for c in clinics]
    for flag in options:
        for clinic, payer, episodes in units_of:
            if flag not in FLAGS and payer != ALL:
                continue  # tiers and any flag are shown per clinic only
            shown, n = value(flag, clinic, payer, "n_episodes")
            records.append({"flag": flag, "clinic_id": clinic, "payer_type": payer, "n_flagged_episodes": n,
                            "share_of_episodes": n / episodes if shown and episodes else None})
            hidden.append(not shown)
            unit_hidden.append(not episodes)
            not_applicable.append(not applies(rules, flag, payer))
    frame = _rows(records, ["flag", "clinic_id", "payer_type", "n_flagged_episodes", "share_of_episodes"])
    out.append(downloads.download(
        "payer-flags-by-unit", frame, downloads.reason(downloads.NOT_APPLICABLE, not_applicable),
        downloads.suppressed(hidden), downloads.suppressed(unit_hidden, ["share_of_episodes"])))
    # the flag-rate funnel: its points, with the control limits at each clinic's n
    records = []
    for flag in (ANY_FLAG, *(f"{TIER_PREFIX}{t}" for t in TIERS)):
        ok, flagged_all = value(flag, ALL, ALL, "n_episodes")
        if not total_episodes or not ok or not any(n for n in clinic_episodes.values()):
            continue
        rate = flagged_all / total_episodes
        for clinic, n in sorted(clinic_episodes.items()):
            shown, flagged = value(flag, clinic, ALL, "n_episodes")
            if not n or not shown:
                continue
            low95, high95 = rate_limits(rate, n, z_value(FUNNEL_LEVELS[0]))
            low998, high998 = rate_limits(rate, n, z_value(FUNNEL_LEVELS[1]))
            records.append({"flag": flag, "clinic_id": clinic, "n_episodes": n, "n_flagged_episodes": flagged,
                            "flag_rate": flagged / n, "overall_rate": rate, "limit_95_low": low95,
                            "limit_95_high": high95, "limit_998_low": low998, "limit_998_high": high998,
                            "position": funnel_position(flagged, n, rate)})
    out.append(downloads.download("payer-flag-rate-funnel", _rows(records, [
        "flag", "clinic_id", *downloads.TABLES["payer-flag-rate-funnel"].values])))
    # units at risk and excess units (table)
    order = [(c, p) for c in [*sorted(c for c in set(units["clinic_id"]) if c != ALL), ALL]
             for p in [*_payers([p for p in set(units["payer_type"]) if p != ALL]), ALL]]
    rows = [r for c, p in order if (r := _cell(units, clinic_id=c, payer_type=p)) is not None]
    frame = pd.DataFrame(rows, columns=units.columns).reset_index(drop=True)
    table = downloads.take(frame, ["clinic_id", "payer_type", "n_episodes", "n_flagged_episodes", "units_billed",
                                   "units_at_risk", "units_over_time"], n_flagged_episodes="n_flagged")
    reasons = []
    for column, checked in (("n_flagged_episodes", tuple(FLAGS)), ("units_at_risk", RISK_FLAGS),
                            ("units_over_time", ("UNITS_OVER_TIME",))):
        reasons.append(downloads.reason(downloads.NOT_APPLICABLE, [
            not any(applies(rules, f, str(p)) for f in checked) for p in frame["payer_type"]], [column]))
    reasons += [
        downloads.suppressed(frame["hidden"], ["n_episodes", "units_billed"]),
        downloads.suppressed(frame["n_flagged_hidden"], ["n_flagged_episodes"]),
        downloads.suppressed(frame["units_at_risk_hidden"], ["units_at_risk"]),
        downloads.suppressed(frame["units_over_time_hidden"], ["units_over_time"]),
    ]
    out.append(downloads.download("payer-units", table, *reasons))
    # pain documentation completeness (chart)
    rows = [r for c in [*sorted(c for c in pain["clinic_id"] if c != ALL), ALL]
            if (r := _cell(pain, clinic_id=c)) is not None]
    frame = pd.DataFrame(rows, columns=pain.columns).reset_index(drop=True)
    table = downloads.take(frame, ["clinic_id", "n_sessions", "n_scored_sessions"], n_scored_sessions="n_scored")
    table["share_scored"] = downloads.ratio(frame["n_scored"], frame["n_sessions"])
    out.append(downloads.download("payer-pain-documentation", table, downloads.suppressed(frame["hidden"])))
    # documentation by payer type (heatmap)
    records, hidden, not_applicable = [], [], []
    for flag, label in DOCUMENTATION.items():
        for payer in payers:
            episodes = payer_episodes.get(payer)
            shown, n = value(flag, ALL, payer, "n_episodes")
            ok = bool(episodes) and shown
            records.append({"flag": flag, "payer_type": payer, "check": label, "n_episodes": episodes,
                            "n_documented": episodes - n if ok else None,  # type: ignore[operator]
                            "share_documented": 1 - n / episodes if ok else None})  # type: ignore[operator]
            hidden.append(not ok)
            not_applicable.append(not applies(rules, flag, payer))
    frame = _rows(records, ["flag", "payer_type", "check", "n_episodes", "n_documented", "share_documented"])
    numbers = ["n_episodes", "n_documented", "share_documented"]
    out.append(downloads.download("payer-documentation", frame,
                                  downloads.reason(downloads.NOT_APPLICABLE, not_applicable, numbers),
                                  downloads.suppressed(hidden, numbers)))
    # which rules apply to which payer type (table)
    frame = _rows([{"flag": f.name, "payer_type": p, "tier": f.tier, "raised_when": rule_in_words(f.name, settings),
                    "applies": rules.get((f.name, p), False)} for f in FLAG_CATALOGUE for p in PAYER_TYPES],
                  ["flag", "payer_type", "tier", "raised_when", "applies"])
    out.append(downloads.download("payer-rules", frame))
    # visits per episode (chart: every bin of every payer type, a bin without episodes is 0)
    labels = visit_bin_labels()
    ordered = _payers([str(p) for p in visits["payer_type"].unique()])
    records, hidden = [], []
    for payer in [p for p in ordered if p == ALL] + [p for p in ordered if p != ALL]:
        for b, label in enumerate(labels):
            row = _cell(visits, payer_type=payer, bin=b)
            records.append({"payer_type": payer, "visits": label, "n_episodes": 0 if row is None else row["n_episodes"]})
            hidden.append(row is not None and bool(row["hidden"]))
    out.append(downloads.download("payer-visits-per-episode", _rows(records, ["payer_type", "visits", "n_episodes"]),
                                  downloads.suppressed(hidden)))
    return out


# --- the page ----------------------------------------------------------------------------------------------


def build_payer_page(
    con: duckdb.DuckDBPyConnection, site: Path, settings: Settings, run: RunRecord | None = None
) -> Path:
    """Write ``payer.html`` (see the module docstring for the tables it reads); returns its path."""
    k = settings.suppression_threshold
    rules = payer_rules(con)
    units = publish_units(units_cells(con), k)
    flags = publish_flags(flag_cells(con), k)
    visits = publish_visits(visits_per_episode(con, VISIT_EDGES), k)
    pain = publish_rates(pain_documentation(con), "clinic_id", k)
    clinic_episodes = {str(r["clinic_id"]): None if is_missing(r["n_episodes"]) else float(r["n_episodes"])
                       for _, r in units[(units["payer_type"] == ALL) & (units["clinic_id"] != ALL)].iterrows()}
    payer_episodes = {str(r["payer_type"]): None if is_missing(r["n_episodes"]) else float(r["n_episodes"])
                      for _, r in units[(units["clinic_id"] == ALL) & (units["payer_type"] != ALL)].iterrows()}
    total = _cell(units, clinic_id=ALL, payer_type=ALL)
    total_episodes = None if total is None or is_missing(total["n_episodes"]) else float(total["n_episodes"])
    clinics = sorted(clinic_episodes)
    payers = _payers(list(payer_episodes))
    hidden_flags = [flag_label(f) for f, c, p, h in zip(flags["flag"], flags["clinic_id"], flags["payer_type"],
                                                        flags["hidden"], strict=True)
                    if c == ALL and p == ALL and h and f in FLAGS]
    s = settings
    downloads.write_downloads(site, "payer.html", payer_downloads(
        flags, units, visits, pain, rules, clinic_episodes, payer_episodes, total_episodes, settings), settings)
    restricted = Path(s.restricted)
    worklists, packets = restricted / WORKLIST_FOLDER, restricted / PACKET_FOLDER
    body = [
        headline_cards(units, flags, k),
        html.section(
            "Audit flags by tier",
            f"Each flag is a prompt for a reviewer, not a finding (<a href='{anchor('payer audit flags')}'>"
            "definitions</a>). <b>Billing</b> flags question units billed, <b>necessity</b> flags whether the care "
            "was covered, <b>documentation</b> flags what the record lacks, and the <b>review</b> flag "
            "(a plateau) only asks for a look: improvement is not required for skilled maintenance care. "
            "Flags on visits (units beyond the minutes, visits beyond the authorisation, plan of care not "
            f"recertified within {s.recertification_days} days) are raised per visit, the others once per episode."
            + (f" <span class=sup>Suppressed:</span> {escape(', '.join(hidden_flags))}." if hidden_flags else ""),
            html.panel(html.chart(flags_figure(flags), "flags", "No flag count can be shown.",
                                  "Every flag rests on too few patients, or no flag was raised."),
                       downloads.link("payer-flags")),
            html.panel(html.chart(flag_heatmap(flags, "payer_type", payer_episodes, "Flags by payer type", payers,
                                               {p: payer_label(p) for p in payers}, rules),
                                  "flags-payer", "No flag count by payer type can be shown.")),
            html.panel(html.chart(flag_heatmap(flags, "clinic_id", clinic_episodes, "Flags by clinic", clinics,
                                               {c: clinic_label(c) for c in clinics}, rules),
                                  "flags-clinic", "No flag count by clinic can be shown."),
                       downloads.link("payer-flags-by-unit")),
        ),
        html.section(
            "Flag rates across clinics",
            "A clinic with few episodes can have a high flag rate by chance. The funnel plot shows each clinic's "
            "share of flagged episodes against its number of episodes, with control limits around the overall "
            "rate that narrow as the number of episodes grows: a clinic inside the limits differs from the others "
            "by no more than chance; one above the outer limits is worth a closer look. The menu switches between "
            "any flag and each tier.",
            html.panel(html.chart(funnel_figure(flags, clinic_episodes, total_episodes), "funnel",
                                  "No clinic has enough patients to publish its flag rate."),
                       downloads.link("payer-flag-rate-funnel")),
        ),
        html.section(
            "Units at risk and excess units",
            "<b>Units at risk</b> are the units a payer could deny for necessity or authorisation, each visit counted "
            "once: every unit of an episode without a referral or without an evaluation at its first visit; "
            "otherwise the visits beyond the authorisation, the visits past the recertification date and the "
            "treatment visits after relief without a re-evaluation. <b>Excess units</b> are units billed beyond "
            "what the day's minutes support under the CMS 8-minute rule, each patient-day counted once. A payer "
            "type for which no such flag is checked reads 'not applicable'.",
            html.panel(html.chart(units_figure(units, rules), "units-chart", "No payer type has enough patients to publish.")),
            html.panel(units_table(units, rules, k), downloads.link("payer-units")),
        ),
        html.section(
            "Pain documentation completeness",
            "A pain score before and after treatment at every visit is what lets outcomes be shown. A missing "
            "score is not a reason to deny a visit, so this is a published measure per clinic, not a flag.",
            html.panel(html.chart(pain_documentation_figure(pain), "pain-documentation",
                                  "No clinic has enough patients to publish."),
                       downloads.link("payer-pain-documentation")),
        ),
        html.section(
            "Documentation by payer type",
            "How often each payer type's episodes pass each documentation and necessity check.",
            html.panel(html.chart(documentation_figure(flags, payer_episodes, rules), "documentation",
                                  "No payer type has enough patients to publish."),
                       downloads.link("payer-documentation")),
        ),
        html.section(
            "Which rules apply to which payer type",
            "The table this run used: which flags are checked for which payer type, with each rule in words and "
            "this run's thresholds. It is reference data: a clinic or payer can replace it with its own table "
            "(the <code>reference_dir</code> setting) without changing code. The relief level used by "
            f"CARE_AFTER_GOAL and PLATEAU is {escape(relief_in_words(s))}.",
            html.panel(rules_table(rules, s), downloads.link("payer-rules")),
        ),
        html.section(
            "Visits per episode",
            "How many visits a course of care takes, overall and per payer type (menu).",
            html.panel(html.chart(visits_figure(visits), "visits", "No visit count can be shown.",
                                  "Every bin rests on too few patients."),
                       downloads.link("payer-visits-per-episode")),
        ),
        html.section(
            "The audit worklists and packets",
            "The flagged episodes themselves are not published: they name episodes and dates of service.",
            "<div class=note>This run wrote them to its <b>restricted folder</b>, "
            f"<code>{escape(str(restricted))}</code>: the worklists to <code>{escape(str(worklists))}/</code>, one "
            f"CSV per payer type (<code>{WORKLIST_PREFIX}&lt;payer_type&gt;.csv</code>), and the audit packets to "
            f"<code>{escape(str(packets))}/</code>: per payer type an index of its clinics "
            f"(<code>{PACKET_PREFIX}&lt;payer_type&gt;.html</code>) and, per clinic, an offline packet "
            f"(<code>{PACKET_PREFIX}&lt;payer_type&gt;.&lt;clinic_id&gt;.html</code>) with a section per flagged "
            "episode: its visit timeline, every flag with its rule and evidence, and its pain over time. Both name "
            "episodes only by "
            "their pseudonymous episode key and list them by tier, then units at risk. Ask the clinic's data "
            "manager for the files of your payer type; they are shared under your data-use agreement, never "
            "published.</div>",
        ),
    ]
    return html.write_page(site, "payer.html", html.page(
        "payer.html", "Payers",
        "Which courses of care would a payer question, on which rule, and for how many units? Flags, units at "
        "risk and documentation, by tier, clinic and payer type.",
        "".join(body), threshold=k, run=run,
    ))
