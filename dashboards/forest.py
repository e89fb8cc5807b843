"""Forest plot of conditions: mean sustained pain change and responder rate with 95% intervals.

A pure function: a published (already suppressed) condition-outcomes frame in, a Plotly figure
out. Rows whose pain statistics are hidden are simply absent; the pooled ``all`` row is drawn last
as a diamond, and a dotted line marks it in both panels.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboards.theme import (
    ALL_COLOUR,
    axes_of,
    condition_colour,
    condition_label,
    condition_order,
    figure_of,
    is_missing,
    line_shape,
    merged,
    optional_float,
    styled_layout,
    subplot_layout,
    update_annotations,
    update_axes,
)


def forest_figure(outcomes: pd.DataFrame, title: str, subtitle: str = "", *, responder_label: str) -> go.Figure | None:
    """Mean sustained change (NRS points) and responder rate per condition, 95% intervals; None if nothing shown.

    ``outcomes`` has ``condition_group`` (with ``all``), ``mean_pain_change`` and its CI,
    ``responder_rate`` and its CI and ``n_pain_evaluable``; hidden rows carry None. ``responder_label``
    states the responder rule in force (:func:`dashboards.wording.responder_rule`).
    """
    rows = outcomes[[not is_missing(v) for v in outcomes["mean_pain_change"]]]
    if rows.empty:
        return None
    order = condition_order(rows["condition_group"].astype(str).tolist())
    rows = rows.set_index("condition_group").loc[order].reset_index()
    labels = [condition_label(g) for g in rows["condition_group"]]
    layout = subplot_layout(1, 2, shared_yaxes=True, horizontal_spacing=0.05,
                            subplot_titles=("Mean sustained pain change (NRS points)", f"Responders ({responder_label})"))
    pooled = rows[rows["condition_group"] == "all"]
    panels = (
        (1, "mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high", ".2f", " points"),
        (2, "responder_rate", "responder_ci_low", "responder_ci_high", ".0%", ""),
    )
    data: list[dict] = []
    shapes: list[dict] = []
    for col, est, lo, hi, fmt_, unit in panels:
        e = [optional_float(v) for v in rows[est]]
        low = [optional_float(v) for v in rows[lo]]
        high = [optional_float(v) for v in rows[hi]]
        plus = [None if h is None or x is None else h - x for x, h in zip(e, high, strict=True)]
        minus = [None if lw is None or x is None else x - lw for x, lw in zip(e, low, strict=True)]
        data.append({
            "type": "scatter", "x": e, "y": labels, "mode": "markers",
            "marker": {"size": [14 if g == "all" else 10 for g in rows["condition_group"]],
                       "symbol": ["diamond" if g == "all" else "square" for g in rows["condition_group"]],
                       "color": [condition_colour(g) for g in rows["condition_group"]], "line": {"width": 0}},
            "error_x": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus, "color": "#6b7785",
                        "thickness": 1.4, "width": 4},
            "customdata": [[lw, h, n] for lw, h, n in zip(low, high, rows["n_pain_evaluable"].tolist(), strict=True)],
            "hovertemplate": (f"<b>%{{y}}</b><br>%{{x:{fmt_}}}{unit} (95% CI %{{customdata[0]:{fmt_}}} to "
                              f"%{{customdata[1]:{fmt_}}})<br>n = %{{customdata[2]:,}} pain-evaluable episodes"
                              "<extra></extra>"),
            "showlegend": False,
            **axes_of(col),
        })
        if len(pooled) and not is_missing(pooled[est].iloc[0]):
            shapes.append(line_shape({"color": ALL_COLOUR, "dash": "dot", "width": 1}, x=float(pooled[est].iloc[0]),
                                     subplot=col))
    shapes.append(line_shape({"color": "#9aa5b1", "width": 1}, x=0))
    layout = styled_layout({**layout, "shapes": shapes}, title, height=max(300, 30 * len(rows) + 150),
                           subtitle=subtitle)
    update_axes(layout, "y", {"categoryorder": "array", "categoryarray": labels[::-1], "automargin": True})
    update_axes(layout, "x", {"title": {"text": "points on the 0–10 scale (baseline − final; higher is better)"}},
                subplot=1)
    update_axes(layout, "x", {"title": {"text": "share of pain-evaluable episodes"}, "tickformat": ".0%",
                              "range": [0, 1]}, subplot=2)
    layout = merged(layout, {"margin": {"l": 150}})
    update_annotations(layout, {"font": {"size": 12.5}})
    return figure_of(data, layout)
