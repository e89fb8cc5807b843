"""How much could drop-out change the responder rate? Bounds and an inverse-probability-weighted estimate.

A pure function over the published frame of :func:`dashboards.publication.publish_sensitivity`
(hidden conditions carry None and are not drawn). Per condition, one row:

- a wide pale bar from the worst case (every patient without a final score a non-responder) to the
  best case (every one a responder): whatever the reason for drop-out, the true rate lies there;
- a square at the complete-case rate (the usual responder rate, over the patients with a final
  score), its 95% Wilson interval in the hover;
- a diamond just below it at the inverse-probability-weighted rate with its 95% interval.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboards.publication import rows_with
from dashboards.suppression import ALL
from dashboards.theme import (
    ALL_COLOUR,
    condition_colour,
    condition_label,
    condition_order,
    figure_of,
    is_missing,
    merged,
    optional_float,
    rgba,
    styled_layout,
    update_axes,
)

BRACKET = "#c9d3de"
IPW_COLOUR = "#8e5ea2"
IPW_OFFSET = 0.32  # the IPW diamond sits this far below its condition's row


def sensitivity_figure(sensitivity: pd.DataFrame, title: str, subtitle: str = "") -> go.Figure | None:
    """Complete-case responder rate within its worst/best-case bracket, and the IPW rate with its interval,
    per condition (``all`` last); None when no condition can be shown."""
    rows = rows_with(sensitivity, "complete_case_rate")
    if rows.empty:
        return None
    order = condition_order(rows["condition_group"].astype(str).tolist())
    rows = rows.set_index(rows["condition_group"].astype(str)).loc[order]
    ys = list(range(len(order)))
    labels = [f"<b>{condition_label(g)}</b>" if g == ALL else condition_label(g) for g in order]
    worst = [float(v) for v in rows["worst_case_rate"]]
    best = [float(v) for v in rows["best_case_rate"]]
    cc = [float(v) for v in rows["complete_case_rate"]]
    bx: list[float | None] = []
    by: list[float | None] = []
    for y, w, b in zip(ys, worst, best, strict=True):
        bx += [w, b, None]
        by += [y, y, None]
    data: list[dict] = [{"type": "scatter", "x": bx, "y": by, "mode": "lines", "line": {"color": BRACKET, "width": 12},
                         "hoverinfo": "skip",
                         "name": "worst to best case (every missing final score a non-responder … a responder)"}]
    data.append({
        "type": "scatter", "x": worst + best, "y": ys + ys, "mode": "markers", "showlegend": False,
        "marker": {"size": 12, "color": "rgba(0,0,0,0)"},
        "customdata": [[condition_label(g), case, int(e) - int(v), int(e)] for case in ("worst case", "best case")
                       for g, v, e in zip(order, rows["n_evaluable"], rows["n_eligible"], strict=True)],
        "hovertemplate": ("<b>%{customdata[0]}</b><br>%{customdata[1]}: %{x:.0%}<br>%{customdata[2]:,} of "
                          "%{customdata[3]:,} ended episodes with a baseline have no final score<extra></extra>"),
    })
    data.append({
        "type": "scatter", "x": cc, "y": ys, "mode": "markers", "name": "complete case (the usual rate)",
        "marker": {"symbol": "square", "size": 11, "color": [condition_colour(g) if g != ALL else ALL_COLOUR
                                                            for g in order], "line": {"width": 1, "color": "#ffffff"}},
        "customdata": [[condition_label(g), optional_float(lo), optional_float(hi), int(n)] for g, lo, hi, n in zip(
            order, rows["complete_case_ci_low"], rows["complete_case_ci_high"], rows["n_evaluable"], strict=True)],
        "hovertemplate": ("<b>%{customdata[0]}</b><br>complete case: %{x:.0%} of %{customdata[3]:,} episodes with a "
                          "final score<br>95% CI %{customdata[1]:.0%} to %{customdata[2]:.0%}<extra></extra>"),
    })
    ipw_rows = [i for i, v in enumerate(rows["ipw_rate"]) if not is_missing(v)]
    ipw = [float(rows["ipw_rate"].iloc[i]) for i in ipw_rows]
    low = [optional_float(rows["ipw_ci_low"].iloc[i]) for i in ipw_rows]
    high = [optional_float(rows["ipw_ci_high"].iloc[i]) for i in ipw_rows]
    data.append({
        "type": "scatter", "x": ipw, "y": [ys[i] + IPW_OFFSET for i in ipw_rows], "mode": "markers",
        "name": "inverse probability weighted (95% CI)", "marker": {"symbol": "diamond", "size": 10, "color": IPW_COLOUR},
        "error_x": {"type": "data", "symmetric": False, "color": rgba(IPW_COLOUR, 0.8), "thickness": 1.4, "width": 3,
                    "array": [None if h is None else h - v for v, h in zip(ipw, high, strict=True)],
                    "arrayminus": [None if lo is None else v - lo for v, lo in zip(ipw, low, strict=True)]},
        "customdata": [[condition_label(order[i]), lo, h, optional_float(rows["max_weight"].iloc[i]),
                        optional_float(rows["effective_n"].iloc[i])] for i, lo, h in zip(ipw_rows, low, high, strict=True)],
        "hovertemplate": ("<b>%{customdata[0]}</b><br>weighted (IPW): %{x:.0%}<br>95% CI %{customdata[1]:.0%} to "
                          "%{customdata[2]:.0%}<br>largest weight %{customdata[3]:.2f}; worth "
                          "%{customdata[4]:.0f} unweighted episodes<extra></extra>"),
    })
    layout = styled_layout({}, title, height=max(340, 40 * len(order) + 220), subtitle=subtitle)
    update_axes(layout, "y", {"tickmode": "array", "tickvals": ys, "ticktext": labels, "autorange": "reversed",
                              "showgrid": False, "zeroline": False})
    update_axes(layout, "x", {"title": {"text": "responder rate"}, "tickformat": ".0%", "range": [0, 1], "dtick": 0.1})
    layout = merged(layout, {"legend": {"orientation": "h", "x": 0, "xanchor": "left", "yref": "container", "y": 0.01,
                                        "yanchor": "bottom"},
                             "margin": {"l": 150, "b": 130}})
    return figure_of(data, layout)
