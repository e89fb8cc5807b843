"""Post-treatment flares by technique, one condition at a time (menu), against all visits of that condition.

A pure function over the published frame of :func:`dashboards.publication.publish_flares` (hidden
rows carry None and are not drawn). A row per technique listed at the visit: the share of scored
visits (both pain scores) that flared, with its 95% Wilson interval; the condition's ``all`` row
(every scored visit, whatever technique or none) is drawn first, as a diamond, and as a dotted
reference line.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboards.publication import rows_with
from dashboards.suppression import ALL
from dashboards.techniques import technique_label
from dashboards.theme import (
    ALL_COLOUR,
    WARN,
    condition_label,
    condition_menu,
    condition_order,
    figure_of,
    optional_float,
    update_axes,
)


def flare_figure(flares: pd.DataFrame, title: str, subtitle: str = "") -> go.Figure | None:
    """Flare rate per technique with 95% intervals; the menu picks the condition (all conditions first).
    None when no rate can be shown."""
    shown = rows_with(flares, "flare_rate")
    if shown.empty:
        return None
    present = shown["condition_group"].astype(str).unique().tolist()
    groups = ([ALL] if ALL in present else []) + [g for g in condition_order(present) if g != ALL]
    data: list[dict] = []
    owners: list[str] = []
    shapes: dict[str, list[dict]] = {}
    heights: dict[str, int] = {}
    for group in groups:
        part = shown[shown["condition_group"].astype(str) == group].copy()
        part["is_all"] = part["technique"].astype(str) == ALL
        part["label"] = ["All visits" if a else technique_label(str(t)) for a, t in zip(
            part["is_all"], part["technique"], strict=True)]
        part = part.sort_values(["is_all", "label"], ascending=[False, True])
        labels = [f"<b>{lbl}</b>" if a else lbl for lbl, a in zip(part["label"], part["is_all"], strict=True)]
        labels = [f"{lbl} ({int(n):,} visits)" for lbl, n in zip(labels, part["n_sessions_scored"], strict=True)]
        heights[group] = max(340, 28 * len(part) + 220)
        rate = [float(v) for v in part["flare_rate"]]
        low = [optional_float(v) for v in part["flare_ci_low"]]
        high = [optional_float(v) for v in part["flare_ci_high"]]
        data.append({
            "type": "scatter", "x": rate, "y": labels, "mode": "markers", "showlegend": False,
            "marker": {"symbol": ["diamond" if a else "square" for a in part["is_all"]],
                       "size": [13 if a else 9 for a in part["is_all"]],
                       "color": [ALL_COLOUR if a else WARN for a in part["is_all"]]},
            "error_x": {"type": "data", "symmetric": False, "color": "#6b7785", "thickness": 1.4, "width": 4,
                        "array": [None if h is None else h - r for r, h in zip(rate, high, strict=True)],
                        "arrayminus": [None if lo is None else r - lo for r, lo in zip(rate, low, strict=True)]},
            "customdata": [[lo, h, condition_label(group)] for lo, h in zip(low, high, strict=True)],
            "hovertemplate": ("<b>%{y}</b> · %{customdata[2]}<br>flared at %{x:.1%} of the scored visits<br>95% CI "
                              "%{customdata[0]:.1%} to %{customdata[1]:.1%}<extra></extra>"),
        })
        owners.append(group)
        reference = part.loc[part["is_all"], "flare_rate"]
        shapes[group] = ([{"type": "line", "xref": "x", "yref": "paper", "x0": float(reference.iloc[0]),
                           "x1": float(reference.iloc[0]), "y0": 0, "y1": 1, "layer": "below",
                           "line": {"color": ALL_COLOUR, "dash": "dot", "width": 1}}] if len(reference) else [])
    layout = condition_menu(data, {}, title, subtitle,
                            {"groups": groups, "owners": owners, "shapes": shapes, "heights": heights},
                            pad_bottom=8, margin={"t": 120, "l": 230})
    update_axes(layout, "x", {"title": {"text": "share of scored visits that flared (95% CI)"}, "tickformat": ".0%",
                              "rangemode": "tozero"})
    return figure_of(data, layout)
