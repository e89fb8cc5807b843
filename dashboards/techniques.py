"""Outcomes by primary technique within each condition: a forest plot with a condition menu.

A pure function over the published frame of :func:`dashboards.publication.publish_techniques`
(hidden rows carry None and are not drawn). For the condition chosen in the menu (all conditions
first), one row per primary technique and three panels with 95% intervals:

- the responder rate (Wilson interval), with the condition's own rate as a dotted line;
- the mean sustained pain change (t-interval), with the condition's own mean as a dotted line;
- the case-mix adjusted difference: mean observed minus expected change (t-interval), 0 = as expected.

Techniques are chosen by the therapist for the patient in front of them, so the figure states on
its face that differences are associations, not effects.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from dashboards.publication import rows_with
from dashboards.suppression import ALL
from dashboards.theme import (
    ALL_COLOUR,
    axes_of,
    condition_colour,
    condition_label,
    condition_menu,
    condition_order,
    figure_of,
    optional_float,
    subplot_layout,
    update_annotations,
    update_axes,
)

_TECHNIQUE_LABELS = {"pnf": "PNF stretching", "instrument_assisted": "Instrument-assisted",
                     "other": "Other technique", "all": "All techniques"}
PANELS = (
    ("responder_rate", "responder_ci_low", "responder_ci_high", ".0%", ""),
    ("mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high", ".2f", " points"),
    ("adjusted_difference", "adjusted_ci_low", "adjusted_ci_high", "+.2f", " points"),
)
REFERENCE_LINE = {"color": ALL_COLOUR, "dash": "dot", "width": 1}
ZERO_LINE = {"color": "#9aa5b1", "width": 1}


def technique_label(technique: str) -> str:
    """Readable technique (``myofascial_release`` -> ``Myofascial release``; ``pnf`` -> ``PNF stretching``)."""
    return _TECHNIQUE_LABELS.get(technique, technique.replace("_", " ").capitalize())


def _line(axis: str, x: float, style: dict) -> dict:
    """A vertical line across the plotting area of one panel (a layout shape, switched with the menu)."""
    return {"type": "line", "xref": axis, "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1, "line": style,
            "layer": "below"}


def technique_figure(
    techniques: pd.DataFrame,
    references: Mapping[str, tuple[float | None, float | None]],
    title: str,
    subtitle: str,
    *,
    responder_label: str,
) -> go.Figure | None:
    """Responder rate, mean change and adjusted difference per primary technique, one condition at a time.

    ``techniques`` is a published ``marts.technique_outcomes`` frame; ``references`` maps a condition
    group to its own (responder rate, mean change) over all its pain-evaluable episodes (None when
    hidden), drawn as dotted lines. None when no technique can be shown for any condition.
    """
    shown = rows_with(techniques, "mean_pain_change")
    if shown.empty:
        return None
    present = shown["condition_group"].astype(str).unique().tolist()
    groups = ([ALL] if ALL in present else []) + [g for g in condition_order(present) if g != ALL]
    layout = subplot_layout(1, 3, shared_yaxes=True, horizontal_spacing=0.035,
                            subplot_titles=(f"Responders ({responder_label})", "Mean sustained pain change",
                                            "Adjusted: observed − expected change"))
    data: list[dict] = []
    owners: list[str] = []
    shapes: dict[str, list[dict]] = {}
    heights: dict[str, int] = {}
    for group in groups:
        part = shown[shown["condition_group"].astype(str) == group].copy()
        part["label"] = [technique_label(str(t)) for t in part["technique"]]
        part = part.sort_values("label")
        labels = [f"{lbl} (n = {int(n):,})" for lbl, n in zip(part["label"], part["n_pain_evaluable"], strict=True)]
        heights[group] = max(380, 30 * len(part) + 250)
        colour = ALL_COLOUR if group == ALL else condition_colour(group)
        for col, (est, lo, hi, fmt_, unit) in enumerate(PANELS, start=1):
            x = [optional_float(v) for v in part[est]]
            low = [optional_float(v) for v in part[lo]]
            high = [optional_float(v) for v in part[hi]]
            data.append({
                "type": "scatter", "x": x, "y": labels, "mode": "markers", "showlegend": False,
                "marker": {"symbol": "square", "size": 9, "color": colour},
                "error_x": {"type": "data", "symmetric": False, "color": "#6b7785", "thickness": 1.4, "width": 4,
                            "array": [None if h is None or v is None else h - v for v, h in zip(x, high, strict=True)],
                            "arrayminus": [None if w is None or v is None else v - w
                                           for v, w in zip(x, low, strict=True)]},
                "customdata": [[w, h, condition_label(group)] for w, h in zip(low, high, strict=True)],
                "hovertemplate": (f"<b>%{{y}}</b> · %{{customdata[2]}}<br>%{{x:{fmt_}}}{unit} (95% CI "
                                  f"%{{customdata[0]:{fmt_}}} to %{{customdata[1]:{fmt_}}})<extra></extra>"),
                **axes_of(col),
            })
            owners.append(group)
        rate, mean = references.get(group, (None, None))
        shapes[group] = [_line("x3", 0.0, ZERO_LINE), _line("x2", 0.0, ZERO_LINE)]
        if rate is not None:
            shapes[group].append(_line("x", rate, REFERENCE_LINE))
        if mean is not None:
            shapes[group].append(_line("x2", mean, REFERENCE_LINE))
    layout = condition_menu(data, layout, title, subtitle,
                            {"groups": groups, "owners": owners, "shapes": shapes, "heights": heights},
                            pad_bottom=34, margin={"t": 150, "l": 190, "r": 24, "b": 60})
    update_axes(layout, "x", {"tickformat": ".0%", "range": [0, 1],
                              "title": {"text": "share of pain-evaluable episodes"}}, subplot=1)
    update_axes(layout, "x", {"title": {"text": "points (higher is better)"}, "zeroline": False}, subplot=2)
    update_axes(layout, "x", {"title": {"text": "points above expectation"}, "zeroline": False}, subplot=3)
    update_annotations(layout, {"font": {"size": 12.5}})
    return figure_of(data, layout)
