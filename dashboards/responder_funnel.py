"""Funnel plot on proportions: observed minus case-mix-expected responder rate against the number of episodes.

The risk-adjusted responder measure (``marts.risk_adjusted_responders``): for each clinic or
therapist, O − E over its n pain-evaluable episodes, where E sums the logistic case-mix model's
probabilities. Plotted against n with control limits that narrow as n grows, the way risk-adjusted
outcome measures are compared: a unit inside the 95% limits differs from its expectation by no
more than chance. The limits are drawn around 0 from the overall responder rate p (the network's
published responder rate over all pain-evaluable episodes, the episodes the model is fitted on),
``± z · sqrt(p (1 − p) / n)``; each unit's own interval (from its own expected probabilities) is in
its hover, and it is what decides whether that unit is unusual.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboards.funnel import limit_grid
from dashboards.theme import ALL_COLOUR, MUTED, base_layout, clinic_label, is_missing, rgba
from transforms.intervals import z_value

LEVELS = (0.95, 0.998)


def _f(value: object) -> float | None:
    return None if is_missing(value) else float(value)  # type: ignore[arg-type]


def proportion_limit(n: float, rate: float, z: float) -> float:
    """Half-width of the control limit of a difference of proportions at ``n`` episodes: ``z sqrt(p(1-p)/n)``."""
    return z * math.sqrt(rate * (1.0 - rate) / n)


def own_position(low: float | None, high: float | None) -> str:
    """Where a unit lies by its own 95% interval of O − E: above or below expectation, or within chance."""
    if low is None or high is None:
        return "too few episodes for an interval"
    if low > 0:
        return "above expectation (its 95% interval excludes 0)"
    if high < 0:
        return "below expectation (its 95% interval excludes 0)"
    return "within chance of its expectation"


def responder_funnel_figure(
    units: pd.DataFrame,
    rate: float | None,
    title: str,
    subtitle: str = "",
    colours: Mapping[str, str] | None = None,
    levels: Sequence[str] = ("therapist", "clinic"),
    label_points: bool = False,
) -> go.Figure | None:
    """O − E responder rate (percentage points) against pain-evaluable episodes, with 95% and 99.8% limits
    around 0 from ``rate``. ``units`` is a published ``marts.risk_adjusted_responders`` frame (hidden units
    carry None and are left out); therapists are coloured by clinic, clinics are dark diamonds;
    ``label_points`` writes each unit's name beside its point. None when no unit can be shown."""
    drawable = pd.Series([not is_missing(v) for v in units["o_minus_e"]], index=units.index, dtype=bool)
    shown = units[drawable & units["level"].isin(list(levels))]
    if shown.empty:
        return None
    n = shown["n"].astype(float)
    fig = go.Figure()
    if rate is not None and 0.0 < rate < 1.0:
        grid = limit_grid(float(n.min()), float(n.max()))
        for level, fill in ((LEVELS[1], rgba("#9aa5b1", 0.12)), (LEVELS[0], rgba("#9aa5b1", 0.22))):
            z = z_value(level)
            name = f"{level:.1%}".replace(".0%", "%") + " control limits"
            dash = "dot" if level == LEVELS[1] else "dash"
            upper = [proportion_limit(x, rate, z) for x in grid]
            fig.add_trace(go.Scatter(x=grid, y=upper, mode="lines", line={"color": MUTED, "width": 1, "dash": dash},
                                     hoverinfo="skip", name=name, legendgroup=name))
            fig.add_trace(go.Scatter(x=grid, y=[-u for u in upper], mode="lines", fill="tonexty", fillcolor=fill,
                                     line={"color": MUTED, "width": 1, "dash": dash}, hoverinfo="skip",
                                     showlegend=False, legendgroup=name))
    for level in levels:
        part = shown[shown["level"] == level]
        if part.empty:
            continue
        groups = [("clinics", ALL_COLOUR, part)] if level == "clinic" else [
            (f"therapists, {clinic_label(str(c))}", (colours or {}).get(str(c), "#e07b39"), g)
            for c, g in part.groupby("clinic_id", sort=True)]
        for name, colour, group in groups:
            is_clinic = level == "clinic"
            label = [clinic_label(u) if is_clinic else f"Therapist {u} ({clinic_label(c)})"
                     for u, c in zip(group["unit_id"], group["clinic_id"], strict=True)]
            low = [_f(v) for v in group["ci_low"]]
            high = [_f(v) for v in group["ci_high"]]
            fig.add_trace(go.Scatter(
                x=group["n"].astype(float).tolist(), y=group["o_minus_e"].astype(float).tolist(),
                mode="markers+text" if label_points else "markers", name=name,
                text=[clinic_label(u) if is_clinic else f"T {u}" for u in group["unit_id"]] if label_points else None,
                textposition="top center", textfont={"size": 10, "color": "#5b6775"},
                marker={"symbol": "diamond" if is_clinic else "circle", "size": 15 if is_clinic else 8,
                        "color": colour, "opacity": 1 if is_clinic else 0.8, "line": {"width": 1.2, "color": "#fff"}},
                customdata=[[lbl, _f(o), _f(e), lo, hi, _f(r), own_position(lo, hi)] for lbl, o, e, lo, hi, r in zip(
                    label, group["observed_rate"], group["expected_rate"], low, high, group["o_to_e"], strict=True)],
                hovertemplate=("<b>%{customdata[0]}</b><br>n = %{x:,} pain-evaluable episodes<br>responders: observed "
                               "%{customdata[1]:.0%}, expected %{customdata[2]:.0%} (O/E %{customdata[5]:.2f})<br>"
                               "observed − expected %{y:+.1%} (95% CI %{customdata[3]:+.1%} to %{customdata[4]:+.1%})"
                               "<br>%{customdata[6]}<extra></extra>"),
            ))
    fig.add_hline(y=0, line={"color": "#5b6775", "width": 1})
    fig = base_layout(fig, title, height=490, subtitle=subtitle)
    fig.update_layout(legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.2, "yanchor": "top"},
                      margin={"b": 100})
    if float(n.max()) > 20 * float(n.min()):  # units of very different sizes: a log scale keeps both readable
        fig.update_xaxes(type="log", dtick=1, minor={"showgrid": True, "gridcolor": "#f1f3f6"})
    else:
        fig.update_xaxes(rangemode="tozero")
    fig.update_xaxes(title_text="pain-evaluable episodes (n)")
    fig.update_yaxes(title_text="observed − expected responder rate", tickformat="+.0%", zeroline=False)
    return fig
