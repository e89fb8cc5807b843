"""Funnel plot: risk-adjusted observed minus expected pain change against the number of episodes.

A league table ranks units even when their differences are noise; a funnel plot shows each clinic
or therapist against control limits that narrow as n grows: points inside the 95% limits differ
from their case-mix expectation by no more than chance, points outside the 99.8% limits merit a
look (Spiegelhalter 2005). With residual standard deviation ``sd`` of the risk model, the limits
for a unit of ``n`` pain-evaluable episodes are ``± z * sd / sqrt(n)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboards.theme import (
    ALL_COLOUR,
    MUTED,
    clinic_label,
    figure_of,
    is_missing,
    line_shape,
    merged,
    optional_float,
    rgba,
    styled_layout,
    update_axes,
)

Z95 = 1.959964
Z998 = 3.090232


def control_limit(n: float, sd: float, z: float) -> float:
    """The half-width of a funnel's control limit at ``n`` episodes."""
    return z * sd / math.sqrt(n)


def limit_grid(n_min: float, n_max: float, points: int = 90) -> list[float]:
    """Geometrically spaced n values spanning the plotted range (for smooth limit curves)."""
    low = max(2.0, n_min * 0.8)
    high = max(low * 1.5, n_max * 1.08)
    ratio = (high / low) ** (1 / (points - 1))
    return [low * ratio**i for i in range(points)]


def position(o_minus_e: float, n: float, sd: float | None) -> str:
    """Where a point lies: within the 95% limits, between 95% and 99.8%, or outside 99.8%."""
    if sd is None or n <= 0:
        return "no limits"
    if abs(o_minus_e) <= control_limit(n, sd, Z95):
        return "within the 95% limits"
    if abs(o_minus_e) <= control_limit(n, sd, Z998):
        return "between the 95% and 99.8% limits"
    return "outside the 99.8% limits"


def drawable_units(units: pd.DataFrame, levels: Sequence[str]) -> pd.DataFrame:
    """The units a funnel can draw: those at ``levels`` whose O − E is published (hidden units carry None)."""
    drawable = pd.Series([not is_missing(v) for v in units["o_minus_e"]], index=units.index, dtype=bool)
    return units[drawable & units["level"].isin(list(levels))]


def _drawn(value: float) -> float:
    """A curve's coordinate to 4 significant digits (see :func:`add_control_bands`)."""
    return float(f"{value:.4g}")


def add_control_bands(data: list[dict], n: pd.Series, half_width: Callable[[float, float], float]) -> None:
    """Append the traces shading the 95% and 99.8% control limits around 0 across the plotted range of
    ``n``; ``half_width(n, z)`` is the limit's half-width at ``n`` episodes for the normal quantile ``z``."""
    # Drawn curves, never read off: 4 significant digits are exact to a fraction of a pixel, and full
    # doubles made these 90-point curves about a quarter of a 1M network's director page.
    grid = [_drawn(x) for x in limit_grid(float(n.min()), float(n.max()))]
    for z, fill, name in ((Z998, rgba("#9aa5b1", 0.12), "99.8% control limits"),
                          (Z95, rgba("#9aa5b1", 0.22), "95% control limits")):
        upper = [_drawn(half_width(x, z)) for x in grid]
        line = {"color": MUTED, "width": 1, "dash": "dot" if z == Z998 else "dash"}
        data.append({"type": "scatter", "x": grid, "y": upper, "mode": "lines", "line": line, "hoverinfo": "skip",
                     "name": name, "legendgroup": name})
        data.append({"type": "scatter", "x": grid, "y": [-u for u in upper], "mode": "lines", "fill": "tonexty",
                     "fillcolor": fill, "line": line, "hoverinfo": "skip", "showlegend": False, "legendgroup": name})


def unit_points(part: pd.DataFrame, name: str, colour: str, is_clinic: bool, label_points: bool) -> dict:
    """The look shared by every funnel's points: position, marker (clinics as dark diamonds, therapists as
    circles in their clinic's colour) and optional name labels. Returns the trace's keys (a scatter)."""
    return {
        "type": "scatter",
        "x": part["n"].astype(float).tolist(), "y": part["o_minus_e"].astype(float).tolist(),
        "mode": "markers+text" if label_points else "markers", "name": name,
        "text": [clinic_label(u) if is_clinic else f"T {u}" for u in part["unit_id"]] if label_points else None,
        "textposition": "top center", "textfont": {"size": 10, "color": "#5b6775"},
        "marker": {"symbol": "diamond" if is_clinic else "circle", "size": 15 if is_clinic else 8, "color": colour,
                   "opacity": 1 if is_clinic else 0.8, "line": {"width": 1.2, "color": "#ffffff"}},
    }


def unit_labels(part: pd.DataFrame, is_clinic: bool) -> list[str]:
    """Hover names of funnel units: the clinic, or the therapist with their clinic."""
    return [clinic_label(u) if is_clinic else f"Therapist {u} ({clinic_label(c)})"
            for u, c in zip(part["unit_id"], part["clinic_id"], strict=True)]


def finish_funnel(data: list[dict], n: pd.Series, title: str, subtitle: str, y_title: str,
                  y_format: str | None = None) -> go.Figure:
    """A funnel plot of ``data`` (trace dictionaries): the zero line, shared layout and axes; a log n axis
    when unit sizes differ widely."""
    layout = styled_layout({"shapes": [line_shape({"color": "#5b6775", "width": 1}, y=0)]}, title, height=490,
                           subtitle=subtitle)
    layout = merged(layout, {"legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.2, "yanchor": "top"},
                             "margin": {"b": 100}})
    if float(n.max()) > 20 * float(n.min()):  # units of very different sizes: a log scale keeps both readable
        update_axes(layout, "x", {"type": "log", "dtick": 1, "minor": {"showgrid": True, "gridcolor": "#f1f3f6"}})
    else:
        update_axes(layout, "x", {"rangemode": "tozero"})
    update_axes(layout, "x", {"title": {"text": "pain-evaluable episodes (n)"}})
    update_axes(layout, "y", {"title": {"text": y_title}, "zeroline": False})
    if y_format:
        update_axes(layout, "y", {"tickformat": y_format})
    return figure_of(data, layout)


def _add_points(data: list[dict], part: pd.DataFrame, name: str, colour: str, residual_sd: float | None,
                is_clinic: bool, label_points: bool = False) -> None:
    """One trace of units (clinics as dark diamonds, or the therapists of one clinic in its colour);
    ``label_points`` writes each unit's name beside its point."""
    where = [position(float(o), float(k), residual_sd) for o, k in zip(part["o_minus_e"], part["n"], strict=True)]
    label = unit_labels(part, is_clinic)
    data.append({
        **unit_points(part, name, colour, is_clinic, label_points),
        "customdata": [[lbl, optional_float(ob), optional_float(ex), optional_float(lo), optional_float(hi), w]
                       for lbl, ob, ex, lo, hi, w in zip(label, part["observed_mean"], part["expected_mean"],
                                                         part["ci_low"], part["ci_high"], where, strict=True)],
        "hovertemplate": ("<b>%{customdata[0]}</b><br>n = %{x:,} pain-evaluable episodes<br>observed change "
                          "%{customdata[1]:.2f}, expected %{customdata[2]:.2f} points<br>observed − expected "
                          "%{y:+.2f} (95% CI %{customdata[3]:+.2f} to %{customdata[4]:+.2f})<br>%{customdata[5]}"
                          "<extra></extra>"),
    })


def funnel_figure(
    units: pd.DataFrame,
    residual_sd: float | None,
    title: str,
    subtitle: str = "",
    colours: Mapping[str, str] | None = None,
    levels: Sequence[str] = ("therapist", "clinic"),
    label_points: bool = False,
) -> go.Figure | None:
    """Observed minus expected (NRS points) against pain-evaluable episodes, with 95% and 99.8% limits.

    ``units`` is a published ``marts.risk_adjusted`` frame (hidden units carry None and are left
    out). Therapists are coloured by clinic (``colours``), clinics are dark diamonds. None when no
    unit can be shown.
    """
    shown = drawable_units(units, levels)
    if shown.empty:
        return None
    n = shown["n"].astype(float)
    data: list[dict] = []
    if residual_sd:
        add_control_bands(data, n, lambda k, z: control_limit(k, residual_sd, z))
    for level in levels:
        part = shown[shown["level"] == level]
        if part.empty:
            continue
        if level == "clinic":
            _add_points(data, part, "clinics", ALL_COLOUR, residual_sd, is_clinic=True, label_points=label_points)
            continue
        for clinic, group in part.groupby("clinic_id", sort=True):
            name = f"therapists, {clinic_label(str(clinic))}"
            _add_points(data, group, name, (colours or {}).get(str(clinic), "#e07b39"), residual_sd, is_clinic=False,
                        label_points=label_points)
    return finish_funnel(data, n, title, subtitle, "observed − expected change (NRS points)")
