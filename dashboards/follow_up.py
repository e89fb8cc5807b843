"""Follow-up status by condition: who was discharged, who is still being treated, who was lost.

Pure functions over the published frame of :func:`dashboards.publication.publish_follow_up`:
hidden numbers are already removed there, so a row whose shares or lost rate are hidden is simply
not drawn. Left panel: the share of a condition's episodes that were discharged, are still active
and were lost to follow-up (stacked to 100%); right panel: the lost-to-follow-up rate among the
episodes that have ended (lost ÷ (discharged + lost)) with its 95% Wilson interval.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboards.publication import hidden_column, rows_with
from dashboards.suppression import ALL
from dashboards.theme import (
    ALL_COLOUR,
    GOOD,
    WARN,
    axes_of,
    condition_label,
    condition_order,
    figure_of,
    is_missing,
    line_shape,
    merged,
    styled_layout,
    subplot_layout,
    update_annotations,
    update_axes,
)

STATUSES = (
    ("n_discharged", "discharged", GOOD),
    ("n_active", "still active", "#8fb3cf"),
    ("n_lost", "lost to follow-up", WARN),
)


def _label(group: str) -> str:
    return f"<b>{condition_label(group)}</b>" if group == ALL else condition_label(group)


def follow_up_figure(follow_up: pd.DataFrame, title: str, subtitle: str = "") -> go.Figure | None:
    """Status shares and lost-to-follow-up rate per condition (``all`` last, in bold); None if nothing is shown.

    ``follow_up`` is a published frame with ``condition_group``, ``clinic_id`` (only the ``all`` rows are
    drawn), the status counts, ``lost_rate`` with its interval and ``n_ended``, and the
    ``hidden_status`` / ``hidden_lost`` flags.
    """
    rows = follow_up[follow_up["clinic_id"].astype(str) == ALL]
    status = rows[~rows[hidden_column("status")].astype(bool)]
    status = rows_with(status, "n_episodes")
    status = status[status["n_episodes"].astype(float) > 0]
    lost = rows[~rows[hidden_column("lost")].astype(bool)]
    lost = rows_with(lost, "lost_rate")
    if status.empty and lost.empty:
        return None
    order = condition_order(sorted(set(status["condition_group"].astype(str)) | set(lost["condition_group"].astype(str))))
    labels = [_label(g) for g in order]
    layout = subplot_layout(1, 2, shared_yaxes=True, column_widths=[0.55, 0.45], horizontal_spacing=0.04,
                            subplot_titles=("Status of the episodes",
                                            "Lost to follow-up, of the ended episodes (95% CI)"))
    data: list[dict] = []
    status = status.set_index(status["condition_group"].astype(str))
    shown_status = [g for g in order if g in status.index]
    for column, name, colour in STATUSES:
        shares = [float(status.loc[g, column]) / float(status.loc[g, "n_episodes"]) for g in shown_status]
        data.append({
            "type": "bar", "x": shares, "y": [_label(g) for g in shown_status], "orientation": "h", "name": name,
            "marker": {"color": colour, "line": {"width": 0}},
            "customdata": [[int(status.loc[g, "n_episodes"])] for g in shown_status],
            "hovertemplate": f"<b>%{{y}}</b><br>{name}: %{{x:.0%}} of %{{customdata[0]:,}} episodes<extra></extra>",
            **axes_of(1),
        })
    lost = lost.set_index(lost["condition_group"].astype(str))
    shown_lost = [g for g in order if g in lost.index]
    rate = [float(lost.loc[g, "lost_rate"]) for g in shown_lost]
    low = [None if is_missing(lost.loc[g, "lost_ci_low"]) else float(lost.loc[g, "lost_ci_low"]) for g in shown_lost]
    high = [None if is_missing(lost.loc[g, "lost_ci_high"]) else float(lost.loc[g, "lost_ci_high"])
            for g in shown_lost]
    data.append({
        "type": "scatter", "x": rate, "y": [_label(g) for g in shown_lost], "mode": "markers",
        "name": "lost rate (95% CI)", "showlegend": False,
        "marker": {"symbol": ["diamond" if g == ALL else "square" for g in shown_lost],
                   "size": [13 if g == ALL else 9 for g in shown_lost],
                   "color": [ALL_COLOUR if g == ALL else WARN for g in shown_lost]},
        "error_x": {"type": "data", "symmetric": False, "color": "#6b7785", "thickness": 1.4, "width": 4,
                    "array": [None if h is None else h - r for r, h in zip(rate, high, strict=True)],
                    "arrayminus": [None if lo is None else r - lo for r, lo in zip(rate, low, strict=True)]},
        "customdata": [[lo, h, int(lost.loc[g, "n_ended"])] for g, lo, h in zip(shown_lost, low, high, strict=True)],
        "hovertemplate": ("<b>%{y}</b><br>lost to follow-up: %{x:.0%} of %{customdata[2]:,} ended episodes<br>"
                          "95% CI %{customdata[0]:.0%} to %{customdata[1]:.0%}<extra></extra>"),
        **axes_of(2),
    })
    if ALL in lost.index:
        layout["shapes"] = [line_shape({"color": ALL_COLOUR, "dash": "dot", "width": 1},
                                       x=float(lost.loc[ALL, "lost_rate"]), subplot=2)]
    layout = styled_layout(layout, title, height=max(320, 26 * len(order) + 190), subtitle=subtitle)
    layout = merged(layout, {"barmode": "stack", "bargap": 0.3,
                             "legend": {"orientation": "h", "x": 0, "xanchor": "left", "yref": "container", "y": 0.01,
                                        "yanchor": "bottom", "traceorder": "normal"},
                             "margin": {"l": 150, "b": 100, "t": 110}})
    update_axes(layout, "y", {"categoryorder": "array", "categoryarray": labels[::-1]})
    update_axes(layout, "x", {"tickformat": ".0%", "range": [0, 1],
                              "title": {"text": "share of the condition's episodes"}}, subplot=1)
    update_axes(layout, "x", {"tickformat": ".0%", "rangemode": "tozero",
                              "title": {"text": "lost ÷ (discharged + lost)"}, "gridcolor": "#e8ecf1"}, subplot=2)
    update_annotations(layout, {"font": {"size": 12.5}})
    return figure_of(data, layout)
