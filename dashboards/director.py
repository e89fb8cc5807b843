"""The clinic director's page: is our care working, for which conditions, where, and how is it trending?

Per clinic view (a dropdown switches between pre-rendered views, no network): headline figures
with intervals (including the clinic's lost-to-follow-up rate), outcomes by condition (forest plot
and table), the risk-adjusted funnel plots of clinics and therapists (sustained pain change, and
the responder rate on proportions), follow-up completeness and the monthly trend.

Reads ``marts.condition_outcomes``, ``marts.condition_outcomes_by_clinic``,
``marts.condition_outcomes_by_therapist`` (``all`` rows), ``marts.condition_outcomes_by_month``
(``all`` rows), ``marts.condition_outcomes_by_clinic_month`` (``all`` rows), ``marts.risk_adjusted``,
``marts.risk_adjusted_responders``, ``marts.follow_up`` (``all`` condition rows),
``marts.model_coefficients`` (residual SD and the model's terms) and, for the distinct patients
behind each cell, ``intermediate.condition_long`` (:func:`dashboards.queries.episode_support`).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from dashboards import downloads, html, wording
from dashboards.case_mix import case_mix_words
from dashboards.forest import forest_figure
from dashboards.funnel import Z95, Z998, control_limit, funnel_figure
from dashboards.funnel import position as funnel_position
from dashboards.publication import (
    EpisodeCells,
    hidden_column,
    publish_follow_up,
    publish_outcomes,
    publish_responders,
    publish_risk,
)
from dashboards.queries import clinic_data_months, episode_support, read_table, residual_sd
from dashboards.responder_funnel import LEVELS, own_position, proportion_limit, responder_funnel_figure
from dashboards.suppression import ALL
from dashboards.theme import (
    ACCENT,
    ACCENT_LIGHT,
    ALL_COLOUR,
    MUTED,
    axes_of,
    base_layout,
    clinic_colour,
    clinic_label,
    condition_colour,
    condition_label,
    condition_order,
    figure_of,
    fmt,
    fmt_interval,
    fmt_range,
    is_missing,
    line_shape,
    merged,
    styled_layout,
    subplot_layout,
    update_annotations,
    update_axes,
)
from transforms.config import Settings
from transforms.intervals import z_value
from transforms.runs import RunRecord

ALL_VIEW = "all"


def _value(row: pd.Series, column: str, family: str) -> object | None:
    """A published value, or None when its family is hidden on this row."""
    return None if bool(row[hidden_column(family)]) else row[column]


def lost_card(follow_up: pd.Series | None, settings: Settings) -> str:
    """The lost-to-follow-up rate of a published ``marts.follow_up`` row, with its 95% interval and the ended
    episodes it rests on (suppressed when the row's ``lost`` family is hidden; "–" when nothing has ended)."""
    threshold = settings.suppression_threshold
    label = "Lost to follow-up"
    if follow_up is None or bool(follow_up[hidden_column("lost")]):
        return html.card(label, None, "", threshold)
    if is_missing(follow_up["lost_rate"]):
        return html.card(label, "–", "no episode has ended yet")
    detail = fmt_interval(follow_up["lost_ci_low"], follow_up["lost_ci_high"], 0, True)
    ended = f"of {fmt(follow_up['n_ended'], 0)} ended episodes (discharged or lost)"
    return html.card(label, fmt(follow_up["lost_rate"], 0, True), f"{detail}; {ended}" if detail else ended)


def headline_cards(total: pd.Series | None, settings: Settings, follow_up: pd.Series | None = None) -> str:
    """Seven cards from an ``all`` row: patients, episodes, sessions, pain change, responders, sessions to relief,
    and the lost-to-follow-up rate of the published ``marts.follow_up`` row ``follow_up``."""
    threshold = settings.suppression_threshold
    if total is None:
        return html.message("No episodes of care yet.")
    counts_hidden = bool(total[hidden_column("counts")])
    pain_hidden = bool(total[hidden_column("pain")])
    relief_hidden = bool(total[hidden_column("relief")])

    def count(column: str) -> str | None:
        return None if counts_hidden else fmt(total[column], 0)

    pain_n = "" if pain_hidden else f"; n = {fmt(total['n_pain_evaluable'], 0)} pain-evaluable episodes"
    relief_n = "" if relief_hidden else f"; n = {fmt(total['n_relief_evaluable'], 0)} relief-evaluable episodes"
    items = [
        html.card("Patients", count("n_patients"), "distinct patients per clinic", threshold),
        html.card("Episodes of care", count("n_episodes"), "courses of treatment", threshold),
        html.card("Sessions", count("n_sessions"), "visits in these episodes", threshold),
        html.card("Mean sustained pain change", None if pain_hidden else f"{fmt(total['mean_pain_change'], 2)} pts",
                  "" if pain_hidden else fmt_interval(total["mean_pain_change_ci_low"],
                                                      total["mean_pain_change_ci_high"], 2) + pain_n, threshold),
        html.card(f"Responder rate ({wording.responder_rule(settings)})", None if pain_hidden else fmt(total["responder_rate"], 0, True),
                  "" if pain_hidden else fmt_interval(total["responder_ci_low"], total["responder_ci_high"], 0, True)
                  + pain_n, threshold),
        html.card("Median sessions to relief", None if relief_hidden else fmt(total["median_sessions_to_relief"], 0),
                  "" if relief_hidden else (fmt_interval(total["median_ci_low"], total["median_ci_high"], 0)
                                            or "95% CI not reached") + relief_n, threshold),
        lost_card(follow_up, settings),
    ]
    return html.cards(items)


def condition_table(outcomes: pd.DataFrame, threshold: int, table_id: str) -> str:
    """Outcomes by condition with the ``all`` total last; hidden numbers show the suppression marker."""
    order = condition_order(outcomes["condition_group"].astype(str).tolist())
    rows, firsts, totals = [], [], []
    indexed = outcomes.set_index("condition_group")
    for i, group in enumerate(order):
        r = indexed.loc[group]
        mean = _value(r, "mean_pain_change", "pain")
        rate = _value(r, "responder_rate", "pain")
        median = _value(r, "median_sessions_to_relief", "relief")
        complete = None
        if not bool(r[hidden_column("counts")]):
            complete = fmt(float(r["n_with_final_pain"]) / float(r["n_episodes"]), 0, True) if r["n_episodes"] else "–"
        rows.append([
            condition_label(group),
            None if bool(r[hidden_column("counts")]) else fmt(r["n_patients"], 0),
            None if bool(r[hidden_column("counts")]) else fmt(r["n_episodes"], 0),
            None if bool(r[hidden_column("counts")]) else fmt(r["n_sessions"], 0),
            None if bool(r[hidden_column("pain")]) else (
                (fmt(mean, 2), f"{fmt(r['mean_pain_change_ci_low'], 2)} to {fmt(r['mean_pain_change_ci_high'], 2)}")
                if not is_missing(mean) else "–"),
            None if bool(r[hidden_column("pain")]) else (
                (fmt(rate, 0, True), f"{fmt(r['responder_ci_low'], 0, True)} to {fmt(r['responder_ci_high'], 0, True)}")
                if not is_missing(rate) else "–"),
            None if bool(r[hidden_column("relief")]) else (
                (fmt(median, 0), fmt_range(r["median_ci_low"], r["median_ci_high"], 0))
                if not is_missing(median) else "not reached"),
            complete,
        ])
        firsts.append(html.swatch(condition_colour(group), condition_label(group)))
        if group == "all":
            totals.append(i)
    headers = ["Condition", "Patients", "Episodes", "Sessions", "Mean change, points (95% CI)",
               "Responders (95% CI)", "Median sessions to relief (95% CI)", "Final pain recorded"]
    return html.table(rows, headers, threshold, numeric=range(1, 8), total_rows=totals, first_cell_html=firsts,
                      table_id=table_id)


def clinic_completeness_figure(clinics: pd.DataFrame, colours: dict[str, str]) -> go.Figure | None:
    """Share of episodes with a final pain score per clinic (95% Wilson intervals); None if none shown."""
    shown = clinics[~clinics[hidden_column("counts")]].sort_values("clinic_id")
    if shown.empty:
        return None
    share, plus, minus, custom = [], [], [], []
    for k, n, low, high in zip(shown["n_with_final_pain"].astype(float), shown["n_episodes"].astype(float),
                               shown["final_pain_ci_low"], shown["final_pain_ci_high"], strict=True):
        p = k / n
        lo, hi = (p, p) if is_missing(low) else (float(low), float(high))
        share.append(p)
        plus.append(hi - p)
        minus.append(p - lo)
        custom.append([lo, hi, int(n)])
    labels = [clinic_label(c) for c in shown["clinic_id"]]
    fig = go.Figure(go.Bar(
        x=labels, y=share, marker_color=[colours[str(c)] for c in shown["clinic_id"]],
        error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus, "color": "#5b6775"},
        customdata=custom,
        hovertemplate=("<b>%{x}</b><br>%{y:.0%} of %{customdata[2]:,} episodes have a final pain score<br>95% CI "
                       "%{customdata[0]:.0%} to %{customdata[1]:.0%}<extra></extra>"),
    ))
    fig = base_layout(fig, "Follow-up completeness by clinic", height=420,
                      subtitle="share of episodes with a final pain score (95% intervals)")
    fig.update_yaxes(title_text="episodes with a final pain score", tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(title_text="clinic")
    return fig


def therapist_completeness_figure(
    therapists: pd.DataFrame, colours: dict[str, str], reference: float | None, reference_label: str,
    label_points: bool = False,
) -> go.Figure | None:
    """Follow-up completeness per therapist against their episodes (hover: 95% interval); None if none shown.

    ``label_points`` writes each therapist's id beside its point (for a page about one clinic)."""
    shown = therapists[~therapists[hidden_column("counts")]]
    if shown.empty:
        return None
    data: list[dict] = []
    for clinic, part in shown.groupby("clinic_id", sort=True):
        k = part["n_with_final_pain"].astype(float)
        n = part["n_episodes"].astype(float)
        bounds = [(a / b, a / b) if is_missing(lo) else (float(lo), float(hi)) for a, b, lo, hi in zip(
            k, n, part["final_pain_ci_low"], part["final_pain_ci_high"], strict=True)]
        data.append({
            "type": "scatter", "x": n.tolist(), "y": (k / n).tolist(),
            "mode": "markers+text" if label_points else "markers",
            "text": [f"T {t}" for t in part["therapist_id"]] if label_points else None,
            "textposition": "top center", "textfont": {"size": 10, "color": "#5b6775"},
            "name": clinic_label(str(clinic)),
            "marker": {"color": colours[str(clinic)], "size": 8, "opacity": 0.8, "line": {"width": 1, "color": "#fff"}},
            "customdata": [[str(t), lo, hi] for t, (lo, hi) in zip(part["therapist_id"], bounds, strict=True)],
            "hovertemplate": (f"<b>Therapist %{{customdata[0]}}</b> ({clinic_label(str(clinic))})<br>%{{y:.0%}} of "
                              "%{x:,} episodes have a final pain score<br>95% CI %{customdata[1]:.0%} to "
                              "%{customdata[2]:.0%}<extra></extra>"),
        })
    layout: dict = {}
    if reference is not None:
        layout["shapes"] = [line_shape({"color": ALL_COLOUR, "dash": "dot", "width": 1}, y=reference)]
        layout["annotations"] = [{"text": reference_label, "showarrow": False, "x": 1, "xanchor": "right",
                                  "xref": "x domain", "y": reference, "yanchor": "top", "yref": "y"}]
    layout = styled_layout(layout, "Follow-up completeness by therapist", height=420,
                           subtitle="each point is a therapist: share of their episodes with a final pain score")
    lowest = float((shown["n_with_final_pain"].astype(float) / shown["n_episodes"].astype(float)).min())
    update_axes(layout, "y", {"title": {"text": "episodes with a final pain score"}, "tickformat": ".0%",
                              "range": [max(0.0, min(lowest, reference or 1.0) - 0.08), 1.03]})
    update_axes(layout, "x", {"title": {"text": "episodes of care (n)"}})
    layout = merged(layout, {"legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.22, "yanchor": "top"},
                             "margin": {"b": 110}})
    return figure_of(data, layout)


def trend_figure(monthly: pd.DataFrame, in_progress_from: str | None, title: str,
                 responder_label: str) -> go.Figure | None:
    """Sessions, mean sustained change and responder rate by month of episode start.

    Months at or after ``in_progress_from`` (``YYYY-MM``: the month of the latest data, when episodes
    started then have barely begun) are still in progress: drawn hollow, apart from the line, and
    labelled so, never as a finished month. None when no month can be shown.
    """
    rows = monthly.sort_values("month")
    if rows.empty or rows[hidden_column("counts")].all():
        return None
    keys = [pd.Timestamp(m).strftime("%Y-%m") for m in rows["month"]]
    months = [pd.Timestamp(m).strftime("%b %Y") for m in rows["month"]]
    open_month = [in_progress_from is not None and k >= in_progress_from for k in keys]
    layout = subplot_layout(3, 1, shared_xaxes=True, vertical_spacing=0.07, row_heights=[0.34, 0.33, 0.33],
                            subplot_titles=("Sessions of the episodes started in the month",
                                            "Mean sustained pain change (NRS points, 95% CI)",
                                            f"Responder rate, {responder_label} (95% CI)"))
    counts_ok = ~rows[hidden_column("counts")]
    data: list[dict] = [{
        "type": "bar",
        "x": [m for m, ok in zip(months, counts_ok, strict=True) if ok],
        "y": rows.loc[counts_ok, "n_sessions"].astype(float).tolist(),
        "marker": {"color": [("#dfe6ee" if o else ACCENT_LIGHT) for o, ok in zip(open_month, counts_ok, strict=True)
                             if ok]},
        "name": "sessions",
        "customdata": [[int(e), "; month still in progress" if o else ""] for e, o, ok in zip(
            rows["n_episodes"], open_month, counts_ok, strict=True) if ok],
        "hovertemplate": "<b>%{x}</b><br>%{y:,} sessions in %{customdata[0]:,} episodes started this month"
                         "%{customdata[1]}<extra></extra>",
        "showlegend": False,
        **axes_of(1),
    }]
    for row, est, lo, hi, fmt_ in ((2, "mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high", ".2f"),
                                   (3, "responder_rate", "responder_ci_low", "responder_ci_high", ".0%")):
        hidden = rows[hidden_column("pain")].tolist()
        y = [None if h or is_missing(v) else float(v) for v, h in zip(rows[est], hidden, strict=True)]
        low = [None if h or is_missing(v) else float(v) for v, h in zip(rows[lo], hidden, strict=True)]
        high = [None if h or is_missing(v) else float(v) for v, h in zip(rows[hi], hidden, strict=True)]
        n = [None if h else v for v, h in zip(rows["n_pain_evaluable"], hidden, strict=True)]
        done = [i for i, v in enumerate(y) if v is not None and not open_month[i]]
        going = [i for i, v in enumerate(y) if v is not None and open_month[i]]
        xs = [months[i] for i in done]
        data.append({"type": "scatter", "x": xs, "y": [high[i] for i in done], "mode": "lines", "line": {"width": 0},
                     "hoverinfo": "skip", "showlegend": False, **axes_of(row)})
        data.append({"type": "scatter", "x": xs, "y": [low[i] for i in done], "mode": "lines", "line": {"width": 0},
                     "fill": "tonexty", "fillcolor": "rgba(11,110,153,0.15)", "hoverinfo": "skip", "showlegend": False,
                     **axes_of(row)})
        for part, finished in ((done, True), (going, False)):
            if not part:
                continue
            trace = {
                "type": "scatter", "x": [months[i] for i in part], "y": [y[i] for i in part],
                "mode": "lines+markers" if finished else "markers",
                "line": {"color": ACCENT, "width": 2},
                "marker": {"size": 7 if finished else 9, "symbol": "circle" if finished else "circle-open",
                           "color": ACCENT, "line": {"width": 2, "color": ACCENT}},
                "name": "finished months" if finished else "months still in progress",
                "showlegend": row == 3, "legendgroup": "done" if finished else "open",
                "customdata": [[low[i], high[i], n[i], "" if finished else "<br><i>month still in progress: episodes "
                                "that started in it have barely begun</i>"] for i in part],
                "hovertemplate": (f"<b>%{{x}}</b><br>%{{y:{fmt_}}} (95% CI %{{customdata[0]:{fmt_}}} to "
                                  f"%{{customdata[1]:{fmt_}}})<br>n = %{{customdata[2]:,}} pain-evaluable episodes"
                                  "%{customdata[3]}<extra></extra>"),
                **axes_of(row),
            }
            if not finished:
                trace["error_y"] = {"type": "data", "symmetric": False, "color": MUTED,
                                    "array": [None if high[i] is None else high[i] - y[i] for i in part],
                                    "arrayminus": [None if low[i] is None else y[i] - low[i] for i in part]}
            data.append(trace)
    layout = styled_layout(layout, title, height=660,
                           subtitle="by month of episode start; hollow markers: months still in progress at the "
                                    "data's end (their episodes have barely begun, so their outcomes are not "
                                    "comparable yet)")
    update_axes(layout, "y", {"title": {"text": "sessions"}}, subplot=1)
    update_axes(layout, "y", {"title": {"text": "points"}, "rangemode": "tozero"}, subplot=2)
    update_axes(layout, "y", {"title": {"text": "responders"}, "tickformat": ".0%", "rangemode": "tozero"}, subplot=3)
    update_axes(layout, "x", {"type": "category", "categoryorder": "array", "categoryarray": months})
    update_annotations(layout, {"font": {"size": 12.5}, "x": 0, "xanchor": "left"})
    layout = merged(layout, {"legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.08,
                                               "yanchor": "top"}, "margin": {"b": 80}})
    return figure_of(data, layout)


def _hidden_note(outcomes: pd.DataFrame, family: str, what: str) -> str:
    hidden = [condition_label(g) for g in condition_order(
        outcomes.loc[outcomes[hidden_column(family)] & (outcomes["condition_group"] != "all"),
                     "condition_group"].astype(str).tolist())]
    return f"<p class=explain><span class=sup>{what}:</span> {escape(', '.join(hidden))}.</p>" if hidden else ""


@dataclass(frozen=True)
class ClinicView:
    """The published frames of one view of the director's page (all clinics, or one clinic)."""

    key: str
    label: str
    outcomes: pd.DataFrame
    clinics: pd.DataFrame
    therapists: pd.DataFrame
    risk: pd.DataFrame
    monthly: pd.DataFrame
    in_progress_from: str | None
    one_clinic: bool
    follow_up: pd.Series | None = None  # the view's published marts.follow_up row (condition 'all')
    responders: pd.DataFrame | None = None  # published marts.risk_adjusted_responders of the view's units


@dataclass(frozen=True)
class Network:
    """What every view shares: the linear model's residual SD, the network's responder rate (the responder
    funnel's limits) and the case-mix model's covariates in words."""

    residual_sd: float | None
    responder_rate: float | None
    covariates: str


def _view_body(view: ClinicView, network: Network, colours: dict[str, str], settings: Settings, lazy: bool) -> str:
    """One pre-rendered clinic view (``lazy``: its charts are drawn when the view is first shown)."""
    sd = network.residual_sd
    key, label, outcomes, therapists, risk = view.key, view.label, view.outcomes, view.therapists, view.risk
    threshold = settings.suppression_threshold
    responder = wording.responder_rule(settings)
    total = outcomes[outcomes["condition_group"] == "all"]
    total_row = total.iloc[0] if len(total) else None
    forest = forest_figure(outcomes, f"Outcomes by condition — {label}",
                           "mean sustained pain change and responder rate with 95% intervals; "
                           "dotted line: all conditions", responder_label=responder)
    funnel = funnel_figure(risk, sd, f"Risk-adjusted comparison — {label}",
                           "observed minus case-mix-expected sustained pain change; shaded: 95% and 99.8% "
                           "control limits", colours=colours, levels=("therapist", "clinic"),
                           label_points=view.one_clinic)
    reference = None
    if total_row is not None and not bool(total_row[hidden_column("counts")]) and total_row["n_episodes"]:
        reference = float(total_row["n_with_final_pain"]) / float(total_row["n_episodes"])
    therapist_fig = therapist_completeness_figure(therapists, colours, reference, f"{label}: {fmt(reference, 0, True)}",
                                                  label_points=view.one_clinic)
    hidden_therapists = int(therapists[hidden_column("counts")].sum())
    completeness = [html.panel(html.chart(therapist_fig, f"{key}-therapists", "No therapist can be shown.",
                                          "Every therapist is suppressed (too few patients).", lazy=lazy))]
    if not view.one_clinic:
        completeness.insert(0, html.panel(html.chart(clinic_completeness_figure(view.clinics, colours),
                                                     f"{key}-clinics", "No clinic can be shown.", lazy=lazy)))
    hidden_units = int((risk["level"] == "therapist").sum() - risk.loc[risk["level"] == "therapist", "o_minus_e"]
                       .map(lambda v: not is_missing(v)).sum())
    trend = trend_figure(view.monthly, view.in_progress_from, f"Monthly trend — {label}", responder)
    responders = view.responders if view.responders is not None else risk.iloc[0:0]
    responder_funnel = responder_funnel_figure(
        responders, network.responder_rate, f"Risk-adjusted responder rate — {label}",
        f"observed minus case-mix-expected responder rate ({responder}); shaded: 95% and 99.8% control limits "
        "around 0", colours=colours, levels=("therapist", "clinic"), label_points=view.one_clinic)
    hidden_responders = int((responders["level"] == "therapist").sum() - responders.loc[
        responders["level"] == "therapist", "o_minus_e"].map(lambda v: not is_missing(v)).sum())
    adjusted_for = f" ({escape(network.covariates)})" if network.covariates else ""
    return "".join([
        f"<h2>Headline figures — {escape(label)}</h2>",
        headline_cards(total_row, settings, view.follow_up),
        "<p class=explain>Lost to follow-up: episodes that ended without a discharge visit, among the ended "
        f"episodes (an episode is still active when its last visit is {escape(wording.follow_up_active(settings))}"
        "). “Lost” says that the record stops, not why.</p>",
        downloads.link("director-lost-to-follow-up"),
        html.section(
            "Outcomes by condition",
            "Sustained change is baseline pain minus the pain reported <i>before</i> treatment at the last later "
            f"visit (0–10 scale; higher is better). Responders {escape(wording.responder_sentence(settings))}.",
            html.panel(html.chart(forest, f"{key}-forest", "No condition has enough patients to publish.",
                                  "Every condition rests on too few pain-evaluable patients.", lazy=lazy),
                       condition_table(outcomes, threshold, f"{key}-conditions"), downloads.link("director-conditions")),
            _hidden_note(outcomes, "counts", "Suppressed (too few patients, or hidden to protect a smaller group)"),
        ),
        html.section(
            "Clinic and therapist comparison (risk-adjusted)",
            "Each point compares a unit's mean sustained pain change with the change expected for its case mix"
            f"{adjusted_for}. Inside the funnel the difference is within chance; only points outside "
            "the 99.8% limits merit a closer look. This is not a league table."
            + (f" {hidden_units} therapist(s) are suppressed (too few patients, or hidden to protect a smaller group)."
               if hidden_units else ""),
            html.panel(html.chart(funnel, f"{key}-funnel", "No clinic or therapist can be shown.",
                                  "Each rests on too few pain-evaluable patients, or no risk model was fitted.",
                                  lazy=lazy), downloads.link("director-funnel")),
            "<p class=explain>The same comparison for the responder rate: each unit's share of responders "
            f"({escape(wording.responder_sentence(settings))}) minus the share a logistic model expects for its "
            "patients, against its number of pain-evaluable episodes. The limits are drawn from the network's "
            "responder rate; a unit's own interval, in its hover, says whether it differs from its expectation."
            + (f" {hidden_responders} therapist(s) are suppressed." if hidden_responders else "") + "</p>",
            html.panel(html.chart(responder_funnel, f"{key}-responder-funnel", "No clinic or therapist can be shown.",
                                  "Each rests on too few pain-evaluable patients, or no risk model was fitted.",
                                  lazy=lazy), downloads.link("director-responder-funnel")),
        ),
        html.section(
            "Follow-up completeness",
            "Share of episodes with a final pain score (a pre-treatment score at a later visit), with 95% "
            "intervals. Outcomes of units that lose track of patients are less reliable."
            + (f" {hidden_therapists} therapist(s) are suppressed (too few patients, or hidden to protect a smaller group)."
               if hidden_therapists else ""),
            ("<div class=grid2>" + "".join(completeness) + "</div>" if len(completeness) > 1 else completeness[0])
            + (downloads.link("director-therapists") if view.one_clinic
               else downloads.link("director-conditions", "director-therapists")),
        ),
        html.section(
            "Monthly trend",
            "Sessions, mean sustained pain change and responder rate of the episodes that started each month. "
            "Months still in progress at the end of the data are marked: their episodes have barely begun.",
            html.panel(html.chart(trend, f"{key}-trend", "No month can be shown.",
                                  "Every month is suppressed (too few patients).", lazy=lazy),
                       downloads.link("director-monthly")),
        ),
    ])


_COUNTS = ["n_patients", "n_episodes", "n_sessions", "n_with_final_pain", "final_pain_share", "final_pain_ci_low",
           "final_pain_ci_high"]
_PAIN = ["n_pain_evaluable", "mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high",
         "responder_rate", "responder_ci_low", "responder_ci_high"]
_RELIEF = ["median_sessions_to_relief", "median_ci_low", "median_ci_high"]


def _clinic_rows(frame: pd.DataFrame, overall: pd.DataFrame | None = None) -> pd.DataFrame:
    """All clinics first (``overall`` with ``clinic_id = 'all'``), then each clinic; conditions in the page's order."""
    parts = [] if overall is None else [overall.assign(clinic_id=ALL)]
    parts.append(frame)
    rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else frame.reset_index(drop=True)
    rank = {g: i for i, g in enumerate(condition_order(rows["condition_group"].astype(str).unique().tolist()))}
    keyed = rows.assign(_all=rows["clinic_id"].astype(str) != ALL, _clinic=rows["clinic_id"].astype(str),
                        _rank=rows["condition_group"].astype(str).map(rank))
    return keyed.sort_values(["_all", "_clinic", "_rank"], kind="stable").drop(
        columns=["_all", "_clinic", "_rank"]).reset_index(drop=True)


def _with_completeness(frame: pd.DataFrame) -> pd.DataFrame:
    """``final_pain_share`` (episodes with a final pain score ÷ episodes) beside the published columns."""
    return frame.assign(final_pain_share=downloads.ratio(frame["n_with_final_pain"], frame["n_episodes"]))


def _units(frame: pd.DataFrame) -> pd.DataFrame:
    """The drawn points of a funnel (hidden units carry None and are left out, as in the chart): clinics first."""
    drawn = pd.Series([not is_missing(v) for v in frame["o_minus_e"]], index=frame.index, dtype=bool)
    shown = frame[drawn & frame["level"].isin(["clinic", "therapist"])]
    keyed = shown.assign(_therapist=shown["level"] != "clinic", _clinic=shown["clinic_id"].astype(str),
                         _unit=shown["unit_id"].astype(str))
    return keyed.sort_values(["_therapist", "_clinic", "_unit"]).drop(
        columns=["_therapist", "_clinic", "_unit"]).reset_index(drop=True)


def director_downloads(views: list[ClinicView], network: Network, overall: pd.DataFrame, by_clinic: pd.DataFrame,
                       therapists: pd.DataFrame, risk: pd.DataFrame, responders: pd.DataFrame,
                       follow_up: pd.DataFrame) -> list[downloads.Download]:
    """The director page's downloads, from the published frames of its views (every clinic in one file)."""
    out = []
    # outcomes by condition (tables, forest plots, headline cards, clinic completeness)
    frame = _with_completeness(_clinic_rows(by_clinic, overall))
    out.append(downloads.download(
        "director-conditions",
        downloads.take(frame, ["clinic_id", "condition_group", *downloads.TABLES["director-conditions"].values]),
        downloads.suppressed(frame[hidden_column("counts")], _COUNTS),
        downloads.suppressed(frame[hidden_column("pain")], _PAIN),
        downloads.suppressed(frame[hidden_column("relief")], _RELIEF),
        downloads.reason(downloads.NOT_REACHED, ~frame[hidden_column("relief")].astype(bool) & pd.Series(
            downloads.missing(frame["median_sessions_to_relief"]), index=frame.index), _RELIEF),
        downloads.reason(downloads.NOT_REACHED, ~frame[hidden_column("relief")].astype(bool) & pd.Series(
            downloads.missing(frame["median_ci_high"]), index=frame.index), ["median_ci_high"]),
    ))
    # lost to follow-up (the headline card of each view)
    rows = follow_up[follow_up["condition_group"].astype(str) == ALL]
    rows = rows.assign(_all=rows["clinic_id"].astype(str) != ALL, _clinic=rows["clinic_id"].astype(str)).sort_values(
        ["_all", "_clinic"]).reset_index(drop=True)
    lost = ["n_ended", "lost_rate", "lost_ci_low", "lost_ci_high"]
    out.append(downloads.download(
        "director-lost-to-follow-up", downloads.take(rows, ["clinic_id", *lost]),
        downloads.suppressed(rows[hidden_column("lost")]),
        downloads.reason(downloads.NO_EPISODE_ENDED, ~rows[hidden_column("lost")].astype(bool) & pd.Series(
            downloads.missing(rows["lost_rate"]), index=rows.index), lost[1:]),
    ))
    # the two funnel plots: their points, with the control limits at each point's n
    sd = network.residual_sd
    frame = _units(risk)
    table = downloads.take(frame, ["level", "clinic_id", "unit_id", "n", "observed_mean", "expected_mean", "o_minus_e",
                                   "o_minus_e_ci_low", "o_minus_e_ci_high"],
                           o_minus_e_ci_low="ci_low", o_minus_e_ci_high="ci_high")
    table["limit_95"] = [control_limit(float(n), sd, Z95) if sd and n else None for n in frame["n"]]
    table["limit_998"] = [control_limit(float(n), sd, Z998) if sd and n else None for n in frame["n"]]
    table["position"] = [funnel_position(float(o), float(n), sd) for o, n in zip(frame["o_minus_e"], frame["n"],
                                                                                   strict=True)]
    out.append(downloads.download("director-funnel", table))
    rate = network.responder_rate
    frame = _units(responders)
    table = downloads.take(frame, ["level", "clinic_id", "unit_id", "n", "observed_rate", "expected_rate", "o_to_e",
                                   "o_minus_e", "o_minus_e_ci_low", "o_minus_e_ci_high"],
                           o_minus_e_ci_low="ci_low", o_minus_e_ci_high="ci_high")
    limits = rate is not None and 0.0 < rate < 1.0
    for name, level in (("limit_95", LEVELS[0]), ("limit_998", LEVELS[1])):
        table[name] = [proportion_limit(float(n), rate, z_value(level)) if limits and n else None  # type: ignore[arg-type]
                       for n in frame["n"]]
    table["position"] = [own_position(None if is_missing(lo) else float(lo), None if is_missing(hi) else float(hi))
                         for lo, hi in zip(frame["ci_low"], frame["ci_high"], strict=True)]
    out.append(downloads.download("director-responder-funnel", table))
    # follow-up completeness by therapist (the drawn points)
    frame = _with_completeness(therapists[~therapists[hidden_column("counts")].astype(bool)])
    frame = frame.assign(_c=frame["clinic_id"].astype(str), _t=frame["therapist_id"].astype(str)).sort_values(
        ["_c", "_t"]).reset_index(drop=True)
    out.append(downloads.download("director-therapists", downloads.take(
        frame, ["clinic_id", "therapist_id", *downloads.TABLES["director-therapists"].values])))
    # monthly trend of every view
    parts = []
    for view in views:
        months = view.monthly.assign(clinic_id=ALL) if not view.one_clinic else view.monthly
        month = [pd.Timestamp(m).strftime("%Y-%m") for m in months["month"]]
        parts.append(months.assign(month=month, in_progress=[
            view.in_progress_from is not None and m >= view.in_progress_from for m in month]).sort_values("month"))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*overall.columns, "month"])
    out.append(downloads.download(
        "director-monthly",
        downloads.take(frame, ["clinic_id", "month", *downloads.TABLES["director-monthly"].values]),
        downloads.suppressed(frame[hidden_column("counts")], ["n_episodes", "n_sessions"]),
        downloads.suppressed(frame[hidden_column("pain")], [c for c in _PAIN if c in
                                                              downloads.TABLES["director-monthly"].values]),
    ))
    return out


def build_director_page(
    con: duckdb.DuckDBPyConnection, site: Path, settings: Settings, run: RunRecord | None = None
) -> Path:
    """Write ``director.html`` (see the module docstring for the tables it reads); returns its path."""
    k = settings.suppression_threshold
    cells = EpisodeCells.build(episode_support(con), k)
    overall = publish_outcomes(read_table(con, "marts.condition_outcomes"), "condition", cells)
    by_clinic = publish_outcomes(read_table(con, "marts.condition_outcomes_by_clinic"), "clinic", cells)
    therapists = read_table(con, "marts.condition_outcomes_by_therapist")
    therapists = publish_outcomes(therapists[therapists["condition_group"] == "all"], "therapist", cells)
    monthly = read_table(con, "marts.condition_outcomes_by_month")
    monthly = publish_outcomes(monthly[monthly["condition_group"] == "all"], "month", cells)
    clinic_monthly = read_table(con, "marts.condition_outcomes_by_clinic_month")
    clinic_monthly = publish_outcomes(clinic_monthly[clinic_monthly["condition_group"] == "all"], "clinic_month",
                                      cells)
    data_months = clinic_data_months(con)
    risk = publish_risk(read_table(con, "marts.risk_adjusted"), cells)
    responders = publish_responders(read_table(con, "marts.risk_adjusted_responders"), cells)
    follow_up = publish_follow_up(read_table(con, "marts.follow_up"), cells)
    clinic_follow_up = follow_up[follow_up["condition_group"].astype(str) == ALL].set_index("clinic_id")
    pooled = overall[overall["condition_group"] == "all"]
    network = Network(
        residual_sd(con),
        None if pooled.empty or bool(pooled[hidden_column("pain")].iloc[0]) or is_missing(
            pooled["responder_rate"].iloc[0]) else float(pooled["responder_rate"].iloc[0]),
        case_mix_words(read_table(con, "marts.model_coefficients", ["model", "position", "term", "note"])),
    )
    clinic_ids = sorted(str(c) for c in by_clinic["clinic_id"].unique())
    colours = {c: clinic_colour(clinic_ids, c) for c in clinic_ids}
    clinic_totals = by_clinic[by_clinic["condition_group"] == "all"]

    # pooled over clinics, a month is in progress as soon as it is for one of them
    def lost_row(clinic: str) -> pd.Series | None:
        return clinic_follow_up.loc[clinic] if clinic in clinic_follow_up.index else None

    views = [ClinicView(ALL_VIEW, "All clinics", overall, clinic_totals, therapists, risk, monthly,
                        min(data_months.values()) if data_months else None, one_clinic=False,
                        follow_up=lost_row(ALL), responders=responders)]
    for i, clinic in enumerate(clinic_ids):
        views.append(ClinicView(
            f"clinic{i + 1}", clinic_label(clinic), by_clinic[by_clinic["clinic_id"].astype(str) == clinic],
            clinic_totals[clinic_totals["clinic_id"].astype(str) == clinic],
            therapists[therapists["clinic_id"].astype(str) == clinic], risk[risk["clinic_id"].astype(str) == clinic],
            clinic_monthly[clinic_monthly["clinic_id"].astype(str) == clinic], data_months.get(clinic),
            one_clinic=True, follow_up=lost_row(clinic),
            responders=responders[responders["clinic_id"].astype(str) == clinic],
        ))
    downloads.write_downloads(site, "director.html", director_downloads(
        views, network, overall, by_clinic, therapists, risk, responders, follow_up), settings)
    body = [
        html.view_filter("Clinic", [(v.key, v.label) for v in views],
                         "switches every figure below: headline, outcomes by condition, comparison, completeness "
                         "and trend"),
        *(html.view(v.key, _view_body(v, network, colours, settings, lazy=i > 0), first=i == 0)
          for i, v in enumerate(views)),
    ]
    return html.write_page(site, "director.html", html.page(
        "director.html", "Clinic directors",
        "Is our care working, for which conditions, at which clinic and with which therapist, and how is it "
        "trending? Choose a clinic to see its own figures.",
        "".join(body), threshold=k, scripts=html.script(html.VIEW_SCRIPT), run=run,
    ))
