"""Kaplan–Meier relief curves with 95% bands, and their number-at-risk table.

Pure functions over the published curves of :func:`dashboards.publication.publish_curves`: the
points there are already suppressed (a curve stops where fewer than the threshold of patients are
still at risk), so whatever is drawn here may be shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards import html
from dashboards.theme import (
    condition_colour,
    condition_label,
    condition_order,
    figure_of,
    line_label,
    line_shape,
    merged,
    rgba,
    styled_layout,
    update_axes,
)


def relief_figure(points: pd.DataFrame, title: str, subtitle: str = "") -> go.Figure | None:
    """Probability of not yet being relieved after t sessions, per condition, with a dropdown.

    The dropdown shows the pooled curve (default), all conditions together (lines only), or one
    condition with its band against the pooled curve. None when no curve can be shown.
    """
    if points.empty:
        return None
    groups = condition_order(points["condition_group"].astype(str).unique().tolist())
    data: list[dict] = []
    owner: list[tuple[str, str]] = []  # (group, role) per trace: role in band_hi, band_lo, line
    for group in groups:
        part = points[points["condition_group"] == group].sort_values("t")
        t = part["t"].astype(int).tolist()
        colour = condition_colour(group)
        label = condition_label(group)
        data.append({"type": "scatter", "x": t, "y": part["ci_high"].astype(float).tolist(), "mode": "lines",
                     "line": {"width": 0, "shape": "hv"}, "hoverinfo": "skip", "showlegend": False})
        owner.append((group, "band_hi"))
        data.append({"type": "scatter", "x": t, "y": part["ci_low"].astype(float).tolist(), "mode": "lines",
                     "line": {"width": 0, "shape": "hv"}, "fill": "tonexty", "fillcolor": rgba(colour, 0.16),
                     "hoverinfo": "skip", "showlegend": False})
        owner.append((group, "band_lo"))
        data.append({
            "type": "scatter", "x": t, "y": part["survival"].astype(float).tolist(), "mode": "lines", "name": label,
            "line": {"shape": "hv", "color": colour, "width": 3 if group == "all" else 2},
            "customdata": [[float(lo), float(hi), int(n)] for lo, hi, n in zip(
                part["ci_low"], part["ci_high"], part["at_risk"], strict=True)],
            "hovertemplate": (f"<b>{label}</b><br>after %{{x}} sessions: %{{y:.0%}} not yet relieved<br>95% band "
                              "%{customdata[0]:.0%} to %{customdata[1]:.0%}<br>at risk: %{customdata[2]:,} episodes"
                              "<extra></extra>"),
        })
        owner.append((group, "line"))

    def visible(mode: str, chosen: str | None = None) -> list[bool]:
        if mode == "pooled":
            return [g == "all" for g, _ in owner]
        if mode == "compare":
            return [role == "line" for _, role in owner]
        return [g == chosen or (g == "all" and role == "line") for g, role in owner]

    default = "all" if "all" in groups else groups[0]
    buttons = []
    if "all" in groups:
        buttons.append({"label": "All conditions (pooled)", "method": "restyle", "args": [{"visible": visible("pooled")}]})
    if len(groups) > 1:
        buttons.append({"label": "Compare conditions", "method": "restyle", "args": [{"visible": visible("compare")}]})
    for group in groups:
        if group != "all":
            buttons.append({"label": condition_label(group), "method": "restyle",
                            "args": [{"visible": visible("one", group)}]})
    initial = visible("pooled") if default == "all" else visible("one", default)
    for trace, on in zip(data, initial, strict=True):
        trace["visible"] = on
    layout = styled_layout({"shapes": [line_shape({"color": "#9aa5b1", "dash": "dot", "width": 1}, y=0.5)],
                            "annotations": [line_label("median", y=0.5)]}, title, height=520, subtitle=subtitle)
    layout = merged(layout, {
        "updatemenus": [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.02,
                         "yanchor": "bottom", "showactive": True, "bgcolor": "#ffffff", "bordercolor": "#c3ccd6"}],
        "legend": {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top"},
        "margin": {"r": 190, "t": 96},
    })
    update_axes(layout, "x", {"title": {"text": "treatment sessions delivered (t)"}, "rangemode": "tozero"})
    update_axes(layout, "y", {"title": {"text": "probability of not yet being relieved"}, "tickformat": ".0%",
                              "range": [0, 1.03]})
    return figure_of(data, layout)


def at_risk_times(points: pd.DataFrame, columns: int = 9) -> list[int]:
    """Session counts for the number-at-risk table: 0 and evenly spaced steps up to the last shown time."""
    if points.empty:
        return []
    last = int(points["t"].max())
    step = max(1, -(-last // (columns - 1)))
    return list(range(0, last + 1, step))


def at_risk_value(at_risk: pd.DataFrame, group: str, t: int) -> tuple[bool, int | None]:
    """(known, value) of the episodes at risk of a group at ``t``: that of its first curve time >= t.

    ``(True, None)`` means suppressed; ``(True, 0)`` nobody is left at risk.
    """
    return True, _at_risk_values(at_risk[at_risk["condition_group"] == group], [t])[0]


def _at_risk_values(part: pd.DataFrame, times: Sequence[int]) -> list[int | None]:
    """The episodes at risk in one group's rows at each of ``times`` (None: suppressed; 0: nobody left),
    with one sort and one search per time."""
    part = part.sort_values("t", kind="stable")
    ts = part["t"].to_numpy(dtype=float)
    hidden = part["hidden"].to_numpy(dtype=bool)
    values = part["at_risk"].tolist()
    out: list[int | None] = []
    for t in times:
        i = int(np.searchsorted(ts, t, side="left"))
        out.append(0 if i == len(ts) else None if hidden[i] else int(values[i]))
    return out


def at_risk_cells(at_risk: pd.DataFrame, times: Sequence[int]) -> dict[str, list[int | None]]:
    """The number-at-risk table's cells: per condition (in display order), the episodes at risk at each of
    ``times`` (None where suppressed: after a hidden time everything is hidden, since even "0" would tell
    when the few ended)."""
    out: dict[str, list[int | None]] = {}
    groups = at_risk["condition_group"].astype(str)
    for group in condition_order(groups.unique().tolist()):
        values: list[int | None] = []
        stopped = False
        for value in _at_risk_values(at_risk[groups == group], times):
            stopped = stopped or value is None
            values.append(None if stopped else value)
        out[group] = values
    return out


def at_risk_table(at_risk: pd.DataFrame, times: Sequence[int], threshold: int) -> str:
    """Number of episodes at risk after t sessions, per condition (``suppressed`` where hidden)."""
    table = at_risk_cells(at_risk, times)
    groups = list(table)
    rows, firsts = [], []
    for group, values in table.items():
        rows.append([condition_label(group), *(None if v is None else f"{v:,}" for v in values)])
        firsts.append(html.swatch(condition_colour(group), condition_label(group)))
    headers = ["Episodes at risk after t sessions", *[f"t = {t}" for t in times]]
    return html.table(rows, headers, threshold, numeric=range(1, len(times) + 1),
                      total_rows=[i for i, g in enumerate(groups) if g == "all"], first_cell_html=firsts,
                      table_id="at-risk")
