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

from dashboards.funnel import add_control_bands, drawable_units, finish_funnel, unit_labels, unit_points
from dashboards.theme import ALL_COLOUR, clinic_label, optional_float

LEVELS = (0.95, 0.998)


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
    shown = drawable_units(units, levels)
    if shown.empty:
        return None
    n = shown["n"].astype(float)
    data: list[dict] = []
    if rate is not None and 0.0 < rate < 1.0:
        add_control_bands(data, n, lambda k, z: proportion_limit(k, rate, z))
    for level in levels:
        part = shown[shown["level"] == level]
        if part.empty:
            continue
        groups = [("clinics", ALL_COLOUR, part)] if level == "clinic" else [
            (f"therapists, {clinic_label(str(c))}", (colours or {}).get(str(c), "#e07b39"), g)
            for c, g in part.groupby("clinic_id", sort=True)]
        for name, colour, group in groups:
            is_clinic = level == "clinic"
            low = [optional_float(v) for v in group["ci_low"]]
            high = [optional_float(v) for v in group["ci_high"]]
            data.append({
                **unit_points(group, name, colour, is_clinic, label_points),
                "customdata": [[lbl, optional_float(o), optional_float(e), lo, hi, optional_float(r),
                                own_position(lo, hi)]
                               for lbl, o, e, lo, hi, r in zip(unit_labels(group, is_clinic), group["observed_rate"],
                                                               group["expected_rate"], low, high, group["o_to_e"],
                                                               strict=True)],
                "hovertemplate": ("<b>%{customdata[0]}</b><br>n = %{x:,} pain-evaluable episodes<br>responders: "
                                  "observed %{customdata[1]:.0%}, expected %{customdata[2]:.0%} (O/E "
                                  "%{customdata[5]:.2f})<br>observed − expected %{y:+.1%} (95% CI "
                                  "%{customdata[3]:+.1%} to %{customdata[4]:+.1%})<br>%{customdata[6]}<extra></extra>"),
            })
    return finish_funnel(data, n, title, subtitle, "observed − expected responder rate", y_format="+.0%")
