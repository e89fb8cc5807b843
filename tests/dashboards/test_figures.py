"""The pure figure and formatting functions: published DataFrames in, Plotly figures (or None) out."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboards.definitions import render_markdown, slug
from dashboards.director import trend_figure
from dashboards.flares import flare_figure
from dashboards.forest import forest_figure
from dashboards.funnel import Z95, Z998, control_limit, funnel_figure, position
from dashboards.payer import visit_bin_labels, visits_figure
from dashboards.publication import hidden_column
from dashboards.quality import public_reason
from dashboards.relief import at_risk_cells, at_risk_table, at_risk_value, relief_figure
from dashboards.researcher import rom_figure
from dashboards.suppression import ALL
from dashboards.theme import (
    ALL_COLOUR,
    FONT,
    GOOD,
    MUTED,
    TEMPLATE,
    base_layout,
    condition_colour,
    condition_label,
    fmt,
    line_label,
    line_shape,
)
from tests.dashboards.conftest import GROUP_SIZES
from transforms.reference import condition_groups


def outcomes(rows: list[tuple[str, float | None, float | None]]) -> pd.DataFrame:
    """A published condition-outcomes frame: (group, mean change, responder rate); None = hidden."""
    frame = pd.DataFrame([{
        "condition_group": g, "mean_pain_change": m, "mean_pain_change_ci_low": None if m is None else m - 0.5,
        "mean_pain_change_ci_high": None if m is None else m + 0.5, "responder_rate": r,
        "responder_ci_low": None if r is None else r - 0.1, "responder_ci_high": None if r is None else r + 0.1,
        "n_pain_evaluable": None if m is None else 30,
    } for g, m, r in rows])
    frame[hidden_column("pain")] = frame["mean_pain_change"].isna()
    return frame


def test_every_condition_has_its_own_colour_and_a_label() -> None:
    colours = [condition_colour(g) for g in condition_groups()]
    assert len(set(colours)) == len(colours) and ALL_COLOUR not in colours and MUTED not in colours
    assert condition_colour("all") == ALL_COLOUR and condition_colour("not_a_group") == MUTED
    assert condition_label("tmj_disorder") == "TMJ disorder" and condition_label("all") == "All conditions"


def test_forest_plot_draws_only_published_rows() -> None:
    fig = forest_figure(outcomes([("neck_pain", 1.9, 0.5), ("migraine", None, None), ("all", 1.5, 0.4)]), "t",
                        responder_label="≥2 points and ≥35%")
    assert fig is not None
    labels = {y for trace in fig.data for y in trace.y}
    assert labels == {"Neck pain", "All conditions"}
    assert fig.data[0].hovertemplate and "95% CI" in fig.data[0].hovertemplate
    assert [a.text for a in fig.layout.annotations][:2] == ["Mean sustained pain change (NRS points)",
                                                            "Responders (≥2 points and ≥35%)"]
    neck = [i for i, y in enumerate(fig.data[0].y) if y == "Neck pain"][0]
    assert fig.data[0].x[neck] == 1.9 and fig.data[1].x[neck] == 0.5


def test_forest_plot_of_nothing_is_none() -> None:
    assert forest_figure(outcomes([("migraine", None, None)]), "t", responder_label="x") is None


def _months(rows: list[tuple[str, float | None]]) -> pd.DataFrame:
    frame = pd.DataFrame([{
        "month": pd.Timestamp(m), "n_sessions": 40, "n_episodes": 10, "n_pain_evaluable": 12,
        "mean_pain_change": r, "mean_pain_change_ci_low": r - 0.5, "mean_pain_change_ci_high": r + 0.5,
        "responder_rate": r / 10, "responder_ci_low": r / 10 - 0.05, "responder_ci_high": r / 10 + 0.05,
    } for m, r in rows])
    frame[hidden_column("counts")] = False
    frame[hidden_column("pain")] = False
    return frame


def test_trend_marks_months_still_in_progress_and_keeps_them_off_the_line() -> None:
    fig = trend_figure(_months([("2026-04-01", 2.0), ("2026-05-01", 2.2), ("2026-06-01", 0.9)]), "2026-06",
                       "Monthly trend", "≥2 points and ≥30%")
    finished = [t for t in fig.data if t.name == "finished months"]
    going = [t for t in fig.data if t.name == "months still in progress"]
    assert [list(t.x) for t in finished] == [["Apr 2026", "May 2026"]] * 2
    assert [list(t.x) for t in going] == [["Jun 2026"]] * 2 and all(t.mode == "markers" for t in going)
    assert all(t.marker.symbol == "circle-open" for t in going)
    assert list(fig.data[0].marker.color)[2] != list(fig.data[0].marker.color)[0]  # the month's sessions bar too
    assert "Responder rate, ≥2 points and ≥30% (95% CI)" in [a.text for a in fig.layout.annotations]
    no_open = trend_figure(_months([("2026-04-01", 2.0)]), None, "t", "r")
    assert not [t for t in no_open.data if t.name == "months still in progress"]


def test_funnel_limits_narrow_with_n() -> None:
    assert control_limit(100, 2.0, Z95) == pytest.approx(0.3919928)
    assert control_limit(400, 2.0, Z95) == pytest.approx(control_limit(100, 2.0, Z95) / 2)
    assert position(0.1, 100, 2.0) == "within the 95% limits"
    assert position(0.5, 100, 2.0) == "between the 95% and 99.8% limits"
    assert position(2 * Z998 / 10 + 0.01, 100, 2.0) == "outside the 99.8% limits"


def test_funnel_draws_shown_units_and_limits() -> None:
    units = pd.DataFrame({
        "level": ["clinic", "therapist", "therapist"], "unit_id": ["C1", "T1", "T2"], "clinic_id": ["C1", "C1", "C1"],
        "n": [40, 25, None], "o_minus_e": [0.2, -0.3, None], "observed_mean": [2.0, 1.5, None],
        "expected_mean": [1.8, 1.8, None], "ci_low": [-0.2, -0.9, None], "ci_high": [0.6, 0.3, None],
    })
    fig = funnel_figure(units, 1.2, "t", colours={"C1": "#123456"})
    assert fig is not None
    points = [t for t in fig.data if t.mode == "markers"]
    assert sum(len(t.x) for t in points) == 2
    assert sorted(x for t in points for x in t.x) == [25.0, 40.0]
    labelled = funnel_figure(units, 1.2, "t", colours={"C1": "#123456"}, label_points=True)
    assert sorted(x for t in labelled.data if t.mode == "markers+text" for x in t.text) == ["Clinic C1", "T T1"]
    assert len([t for t in fig.data if t.mode == "lines"]) == 4  # 95% and 99.8%, upper and lower
    assert funnel_figure(units.iloc[2:], 1.2, "t") is None


def test_relief_figure_has_a_menu_and_bands() -> None:
    points = pd.DataFrame({
        "condition_group": ["all"] * 3 + ["neck_pain"] * 3, "t": [0, 1, 2] * 2,
        "survival": [1.0, 0.8, 0.5, 1.0, 0.7, 0.4], "ci_low": [1.0, 0.7, 0.4, 1.0, 0.6, 0.3],
        "ci_high": [1.0, 0.9, 0.6, 1.0, 0.8, 0.5], "at_risk": [50, 40, 20, 20, 15, 11],
    })
    fig = relief_figure(points, "t")
    assert fig is not None and len(fig.data) == 6
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["All conditions (pooled)", "Compare conditions", "Neck pain"]
    shown = [t for t in fig.data if t.visible]
    assert len(shown) == 3 and [t.name for t in shown if t.name] == ["All conditions"]  # pooled curve and band
    assert relief_figure(points.iloc[0:0], "t") is None


def test_at_risk_table_hides_everything_after_a_hidden_time() -> None:
    grid = pd.DataFrame({"condition_group": ["a_group"] * 3, "t": [0, 2, 4], "at_risk": [20, None, None],
                         "hidden": [False, True, True]})
    html = at_risk_table(grid, [0, 2, 4, 6], 11)
    assert html.count("suppressed</span>") == 3 and ">20<" in html


def test_at_risk_cells_take_the_first_curve_time_at_or_after_each_time() -> None:
    # rows deliberately unsorted; neck_pain's curve ends at t=3, so t=4 and t=6 have nobody left at risk
    grid = pd.DataFrame({"condition_group": ["low_back_pain", "neck_pain", "low_back_pain", "neck_pain",
                                             "low_back_pain"],
                         "t": [5, 3, 0, 0, 2], "at_risk": [12, 14, 40, 30, 25],
                         "hidden": [False, False, False, False, False]})
    cells = at_risk_cells(grid, [0, 1, 2, 4, 6])
    assert cells == {"low_back_pain": [40, 25, 25, 12, 0], "neck_pain": [30, 14, 14, 0, 0]}
    assert at_risk_value(grid, "low_back_pain", 3) == (True, 12) and at_risk_value(grid, "neck_pain", 9) == (True, 0)
    hidden = grid.assign(hidden=[True, False, False, False, False], at_risk=[None, 14, 40, 30, 25])
    assert at_risk_value(hidden, "low_back_pain", 3) == (True, None)
    assert at_risk_cells(hidden, [0, 3, 6])["low_back_pain"] == [40, None, None]  # nothing after a hidden time


def test_reference_lines_and_their_labels_are_what_plotly_draws() -> None:
    from plotly.subplots import make_subplots

    line = {"color": "#333333", "dash": "dot", "width": 1}
    ours, plotly = (make_subplots(rows=1, cols=2, shared_yaxes=True) for _ in range(2))
    for fig in (ours, plotly):
        for col in (1, 2):
            fig.add_trace(go.Scatter(x=[1, 2], y=["a", "b"]), row=1, col=col)
    ours.add_shape(line_shape(line, x=0.25, subplot=2))
    ours.add_shape(line_shape(line, x=0))
    ours.add_annotation(line_label("normal", x=0.5, subplot=2))
    plotly.add_vline(x=0.25, line=line, row=1, col=2)
    plotly.add_vline(x=0, line=line, row=1, col=1)
    plotly.add_vline(x=0.5, line=line, annotation_text="normal", annotation_position="top", row=1, col=2)
    plotly.layout.shapes = plotly.layout.shapes[:2]  # the labelled line's shape is line_shape's too
    assert ours.to_plotly_json()["layout"]["shapes"] == plotly.to_plotly_json()["layout"]["shapes"]
    assert ours.to_plotly_json()["layout"]["annotations"] == plotly.to_plotly_json()["layout"]["annotations"]
    single, reference = go.Figure(go.Scatter(x=[1], y=[1])), go.Figure(go.Scatter(x=[1], y=[1]))
    single.add_shape(line_shape(line, y=0.5))
    single.add_annotation(line_label("median", y=0.5))
    single.add_shape(line_shape(line, x=2))
    single.add_annotation(line_label("MCID", x=2))
    reference.add_hline(y=0.5, line=line, annotation_text="median", annotation_position="top right")
    reference.add_vline(x=2, line=line, annotation_text="MCID", annotation_position="top")
    assert single.to_plotly_json()["layout"] == reference.to_plotly_json()["layout"]
    with pytest.raises(ValueError, match="exactly one"):
        line_shape(line, x=1, y=1)
    with pytest.raises(ValueError, match="exactly one"):
        line_label("t")


def test_figures_built_as_dictionaries_equal_plotly_s_call_by_call_figures() -> None:
    from plotly.subplots import make_subplots

    from dashboards.theme import axes_of, base_layout, figure_of, styled_layout, subplot_layout, update_axes

    grid = {"shared_xaxes": True, "vertical_spacing": 0.07, "row_heights": [0.5, 0.5], "subplot_titles": ("a", "b")}
    plotly = make_subplots(rows=2, cols=1, **grid)
    plotly.add_trace(go.Bar(x=["Jan", "Feb"], y=[3, 4], marker_color=["#111111", "#222222"]), row=1, col=1)
    plotly.add_trace(go.Scatter(x=["Jan", "Feb"], y=[0.5, None], mode="lines"), row=2, col=1)
    plotly = base_layout(plotly, "Title", height=500, subtitle="sub")
    plotly.update_yaxes(title_text="count", row=1, col=1)
    plotly.update_yaxes(rangemode="tozero", tickformat=".0%", row=2, col=1)
    plotly.update_xaxes(type="category")
    plotly.update_annotations(font={"size": 12.5}, x=0)

    layout = subplot_layout(2, 1, **grid)
    data = [{"type": "bar", "x": ["Jan", "Feb"], "y": [3, 4], "marker": {"color": ["#111111", "#222222"]}, **axes_of(1)},
            {"type": "scatter", "x": ["Jan", "Feb"], "y": [0.5, None], "mode": "lines", **axes_of(2)}]
    layout = styled_layout(layout, "Title", height=500, subtitle="sub")
    update_axes(layout, "y", {"title": {"text": "count"}}, subplot=1)
    update_axes(layout, "y", {"rangemode": "tozero", "tickformat": ".0%"}, subplot=2)
    update_axes(layout, "x", {"type": "category"})
    layout["annotations"] = [{**a, "font": {"size": 12.5}, "x": 0} for a in layout["annotations"]]
    assert figure_of(data, layout).to_plotly_json() == plotly.to_plotly_json()
    # a figure without subplots: its first axes exist even before anything is laid out on them
    single, reference = {}, go.Figure()
    update_axes(single, "x", {"rangemode": "tozero"})
    reference.update_xaxes(rangemode="tozero")
    assert figure_of([], single).to_plotly_json()["layout"]["xaxis"] == reference.to_plotly_json()["layout"]["xaxis"]
    assert subplot_layout(2, 1, **grid) is not subplot_layout(2, 1, **grid)  # a fresh copy to build on


def _rom_frame() -> pd.DataFrame:
    columns = ["condition_group", "joint", "movement", "unit", "normal", "n_episodes", "mean_baseline", "mean_final",
               "mean_gain", "gain_ci_low", "gain_ci_high"]
    rows = [("neck_pain", "cervical", "rotation", "degrees", 80, 40, 52.0, 66.0, 14.0, 10.5, 17.5),
            ("neck_pain", "cervical", "flexion", "degrees", 50, 25, 38.0, 44.0, 6.0, None, None),
            ("tmj_disorder", "jaw", "mouth_opening", "mm", 45, 30, 31.0, 39.5, 8.5, 6.0, 11.0),
            ("tmj_disorder", "jaw", "lateral", "mm", 10, 12, None, None, None, None, None)]
    return pd.DataFrame(rows, columns=columns)


def _rom_call_by_call(rom: pd.DataFrame) -> go.Figure:
    """rom_figure as it was built before decision 105 reached the researcher's page: Plotly's API, call by call."""
    from plotly.subplots import make_subplots

    shown = rom[rom["mean_gain"].notna()].copy()
    shown["baseline_share"] = shown["mean_baseline"] / shown["normal"]
    shown["final_share"] = shown["mean_final"] / shown["normal"]
    groups = ["neck_pain", "tmj_disorder"]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.6, 0.4], horizontal_spacing=0.04)
    heights = {}
    for group in groups:
        part = shown[shown["condition_group"] == group].sort_values(["joint", "movement"], ascending=False)
        heights[group] = max(420, 44 * len(part) + 240)
        labels = [f"{j.capitalize()} {m.replace('_', ' ')} (n = {n:,})"
                  for j, m, n in zip(part["joint"], part["movement"], part["n_episodes"], strict=True)]
        xs, ys = [], []
        for lbl, b, f in zip(labels, part["baseline_share"], part["final_share"], strict=True):
            xs += [b, f, None]
            ys += [lbl, lbl, None]
        colour = condition_colour(group)
        units = ["°" if u == "degrees" else u for u in part["unit"]]
        custom = [[b, f, g, None if pd.isna(lo) else lo, None if pd.isna(hi) else hi, n, u, float(nm)]
                  for b, f, g, lo, hi, n, u, nm in zip(part["mean_baseline"], part["mean_final"], part["mean_gain"],
                                                       part["gain_ci_low"], part["gain_ci_high"], part["n_episodes"],
                                                       units, part["normal"], strict=True)]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#c3ccd6", "width": 4}, hoverinfo="skip",
                                 showlegend=False), row=1, col=1)
        fig.add_trace(go.Scatter(x=part["baseline_share"].tolist(), y=labels, mode="markers", name="first measurement",
                                 marker={"symbol": "circle-open", "size": 11, "color": colour, "line": {"width": 2}},
                                 customdata=custom, hovertemplate="<b>%{y}</b><br>first %{customdata[0]:.0f}%{customdata[6]}"
                                 " = %{x:.0%} of normal (%{customdata[7]:g}%{customdata[6]})<extra></extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=part["final_share"].tolist(), y=labels, mode="markers",
                                 name="last later measurement", marker={"symbol": "circle", "size": 11, "color": colour},
                                 customdata=custom, hovertemplate="<b>%{y}</b><br>last %{customdata[1]:.0f}%{customdata[6]}"
                                 " = %{x:.0%} of normal (%{customdata[7]:g}%{customdata[6]})<extra></extra>"),
                      row=1, col=1)
        gains = part["mean_gain"].tolist()
        fig.add_trace(go.Scatter(
            x=gains, y=labels, mode="markers", name="mean gain (95% CI)", marker={"symbol": "square", "size": 9,
                                                                                 "color": colour},
            error_x={"type": "data", "symmetric": False, "color": "#6b7785", "thickness": 1.4, "width": 4,
                     "array": [None if c[4] is None else c[4] - g for c, g in zip(custom, gains, strict=True)],
                     "arrayminus": [None if c[3] is None else g - c[3] for c, g in zip(custom, gains, strict=True)]},
            customdata=custom, hovertemplate="<b>%{y}</b><br>mean gain %{x:+.1f}%{customdata[6]} (95% CI "
                                             "%{customdata[3]:.1f} to %{customdata[4]:.1f})<extra></extra>",
        ), row=1, col=2)
    owners = [g for g in groups for _ in range(4)]
    for trace, group in zip(fig.data, owners, strict=True):
        trace.visible = group == groups[0]
    buttons = [{"label": condition_label(g), "method": "update",
                "args": [{"visible": [o == g for o in owners]}, {"height": heights[g]}]} for g in groups]
    fig.add_vline(x=1, line={"color": GOOD, "dash": "dash", "width": 1.5}, annotation_text="normal",
                  annotation_position="top", row=1, col=1)
    fig.add_vline(x=0, line={"color": "#9aa5b1", "width": 1}, row=1, col=2)
    fig = base_layout(fig, "Range of motion against normal values, and the gain", height=heights[groups[0]],
                      subtitle="open circle: mean first measurement; filled: mean last later one (100% = normal); "
                               "square: mean gain in degrees (mm for mouth opening) with its 95% interval")
    fig.update_layout(updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.06,
                                    "yanchor": "bottom", "bgcolor": "#ffffff", "bordercolor": "#c3ccd6"}],
                      legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 0.5, "yanchor": "middle"},
                      margin={"t": 120, "b": 70, "l": 220, "r": 190})
    fig.update_xaxes(title_text="first and last measurement, share of normal", tickformat=".0%", rangemode="tozero",
                     row=1, col=1)
    fig.update_xaxes(title_text="mean gain, last − first (95% CI)", zeroline=False, row=1, col=2)
    return fig


def _flares_call_by_call(title: str, subtitle: str) -> go.Figure:
    """flare_figure of _flares() built with Plotly's API (all conditions first, a menu of conditions)."""
    fig = go.Figure()
    rows = {ALL: [("<b>All visits</b> (500 visits)", 0.06, 0.04, 0.085, True), ("Deep tissue (200 visits)", 0.1, 0.066,
                                                                                None, False)],
            "neck_pain": [("<b>All visits</b> (120 visits)", 0.05, 0.023, 0.105, True)]}
    shapes = {}
    for group, part in rows.items():
        fig.add_trace(go.Scatter(
            x=[r[1] for r in part], y=[r[0] for r in part], mode="markers", showlegend=False,
            marker={"symbol": ["diamond" if r[4] else "square" for r in part], "size": [13 if r[4] else 9 for r in part],
                    "color": [ALL_COLOUR if r[4] else "#b35c00" for r in part]},
            error_x={"type": "data", "symmetric": False, "color": "#6b7785", "thickness": 1.4, "width": 4,
                     "array": [None if r[3] is None else r[3] - r[1] for r in part],
                     "arrayminus": [r[1] - r[2] for r in part]},
            customdata=[[r[2], r[3], condition_label(group)] for r in part],
            hovertemplate=("<b>%{y}</b> · %{customdata[2]}<br>flared at %{x:.1%} of the scored visits<br>95% CI "
                           "%{customdata[0]:.1%} to %{customdata[1]:.1%}<extra></extra>"),
        ))
        shapes[group] = [{"type": "line", "xref": "x", "yref": "paper", "x0": part[0][1], "x1": part[0][1], "y0": 0,
                          "y1": 1, "layer": "below", "line": {"color": ALL_COLOUR, "dash": "dot", "width": 1}}]
    fig.data[1].visible = False
    fig.data[0].visible = True
    buttons = [{"label": condition_label(g), "method": "update",
                "args": [{"visible": [o == g for o in rows]}, {"shapes": shapes[g]}]} for g in rows]
    fig = base_layout(fig, title, height=max(340, 28 * 2 + 220), subtitle=subtitle)
    fig.update_layout(shapes=shapes[ALL], margin={"t": 120, "l": 230},
                      updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.0,
                                    "yanchor": "bottom", "pad": {"b": 8}, "bgcolor": "#ffffff",
                                    "bordercolor": "#c3ccd6"}])
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="share of scored visits that flared (95% CI)", tickformat=".0%", rangemode="tozero")
    return fig


def _visits_call_by_call() -> go.Figure:
    """visits_figure of _visits() built with Plotly's API: a bar chart per payer type, all payers first."""
    labels = visit_bin_labels()
    fig = go.Figure()
    for name, xs, ys in (("All payers", ["1", "3"], [30.0, 45.0]), ("Medicare", ["3"], [20.0])):
        fig.add_trace(go.Bar(x=xs, y=ys, marker_color="#0b6e99", name=name, visible=name == "All payers",
                             customdata=[[name]] * len(xs),
                             hovertemplate="<b>%{x} visits</b><br>%{y:,} episodes (%{customdata[0]})<extra></extra>"))
    buttons = [{"label": p, "method": "restyle", "args": [{"visible": [q == p for q in ("All payers", "Medicare")]}]}
               for p in ("All payers", "Medicare")]
    fig = base_layout(fig, "Visits per episode of care", height=400,
                      subtitle="episodes by number of visits; a missing bar is a suppressed bin")
    fig.update_layout(updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.0,
                                    "yanchor": "bottom", "bgcolor": "#ffffff", "bordercolor": "#c3ccd6"}],
                      margin={"t": 96}, showlegend=False)
    fig.update_xaxes(title_text="visits in the episode", type="category", categoryorder="array", categoryarray=labels)
    fig.update_yaxes(title_text="episodes", rangemode="tozero")
    return fig


def test_researcher_and_payer_figures_equal_plotly_s_call_by_call_figures() -> None:
    """The researcher's and payer's figures are built as dictionaries (decision 105): the figures must be the
    ones Plotly's own calls (make_subplots, add_trace, add_vline, update_layout, update_xaxes) build."""
    def same(ours: go.Figure | None, plotly: go.Figure) -> None:
        assert ours is not None
        assert json.dumps(ours.to_plotly_json(), sort_keys=True) == json.dumps(plotly.to_plotly_json(), sort_keys=True)

    same(rom_figure(_rom_frame()), _rom_call_by_call(_rom_frame()))
    flares = pd.DataFrame(
        [(ALL, ALL, 500, 0.06, 0.04, 0.085, False), (ALL, "deep_tissue", 200, 0.1, 0.066, None, False),
         (ALL, "cupping", None, None, None, None, True), ("neck_pain", ALL, 120, 0.05, 0.023, 0.105, False)],
        columns=["condition_group", "technique", "n_sessions_scored", "flare_rate", "flare_ci_low", "flare_ci_high",
                 "hidden"])
    same(flare_figure(flares, "Flares", "per technique"), _flares_call_by_call("Flares", "per technique"))
    visits = pd.DataFrame({"payer_type": [ALL, ALL, ALL, "medicare", "medicare", "medicare"],
                           "bin": [-1, 0, 2, -1, 1, 2], "n_episodes": [80, 30, 45, 30, None, 20],
                           "hidden": [False, False, False, False, True, False]})
    same(visits_figure(visits), _visits_call_by_call())


def test_number_formats() -> None:
    assert fmt(1234.25, 1) == "1,234.2" and fmt(1234.75, 0) == "1,235" and fmt(-0.5, 2) == "-0.50"
    assert fmt(0.375, 0, pct=True) == "38%" and fmt(None) == "–" and fmt(float("nan")) == "–"
    assert fmt(pd.NA) == "–" and fmt(math.inf, 0) == "inf"


def test_visit_bins() -> None:
    assert visit_bin_labels((1, 2, 5, 10)) == ["1", "2", "3–5", "6–10", "11+"]


def test_public_reason_drops_quoted_values_and_parser_echo() -> None:
    reason = 'sessions.csv could not be parsed: error "P123" Original Line: S1,C1,P123'
    assert public_reason(reason) == 'sessions.csv could not be parsed: error "…" '
    assert public_reason("a\nsecond line") == "a" and public_reason(None) == ""
    assert public_reason("x" * 500).endswith("…") and len(public_reason("x" * 500)) == 400


def test_markdown_subset() -> None:
    out = render_markdown("## 2. Pain\n\nSee [the spec](metrics.md) and `code` **bold**.\n\n| a | b |\n|---|---|\n"
                          "| 1 | 2 |\n\n- one\n- two\n")
    assert "<h2 id='2-pain'>2. Pain</h2>" in out and "href" not in out
    assert "<code>code</code>" in out and "<b>bold</b>" in out and "<td>1</td>" in out and "<li>two</li>" in out
    assert slug("7. Comparing clinics (risk adjustment)") == "7-comparing-clinics-risk-adjustment"


def test_row_level_tables_are_never_read_whole(crafted_warehouse) -> None:
    import duckdb

    from dashboards.queries import read_table

    with duckdb.connect(str(crafted_warehouse), read_only=True) as con:
        for table in ("marts.episode_outcomes", "marts.audit_flags", "quarantine.rejected_rows", "staging.sessions"):
            with pytest.raises(ValueError):
                read_table(con, table)
        with pytest.raises(ValueError):
            read_table(con, "marts.condition_outcomes", ["patient_id"])
        assert len(read_table(con, "marts.condition_outcomes")) == len(GROUP_SIZES) + 1


def test_the_shared_layout_merges_like_update_layout() -> None:
    """base_layout assigns one merged layout (faster than update_layout); the figure must be the one
    update_layout gives: keys set before are kept, nested ones merged, the template replaced."""
    def figure() -> go.Figure:
        fig = go.Figure(go.Bar(x=[1, 2], y=[3, 4]), layout={"template": "plotly_dark"})
        fig.update_layout(legend={"traceorder": "reversed", "x": 0.5}, xaxis={"title": {"text": "visit"}},
                          title={"font": {"color": "red"}})
        return fig

    expected = figure().update_layout(
        title={"text": "<b>T</b>", "x": 0.01, "xanchor": "left", "y": 0.985, "yanchor": "top", "font": {"size": 15},
               "subtitle": {"text": "s", "font": {"size": 12, "color": "#5b6775"}}},
        template=TEMPLATE, height=300, margin={"l": 70, "r": 24, "t": 84, "b": 56},
        hoverlabel={"align": "left", "font": {"family": FONT}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "right", "x": 1})
    got = base_layout(figure(), "T", height=300, subtitle="s")
    assert got.to_plotly_json() == expected.to_plotly_json()
    assert got.layout.legend.traceorder == "reversed" and got.layout.title.font.color == "red"
    assert got.layout.xaxis.title.text == "visit" and got.layout.template.layout.paper_bgcolor == "#ffffff"


def test_pages_write_plotted_numbers_with_ten_significant_digits() -> None:
    """The figures' floats go to the page with 10 significant digits (the tables and downloads keep all);
    integers, text and missing values are left alone."""
    from dashboards.html import PLOTTED_DIGITS, figure_div, lazy_figure_div

    assert PLOTTED_DIGITS == 10
    x = [1 / 3, 2.0, 1234567.891234567, -0.000123456789012345]
    fig = go.Figure(go.Scatter(x=x, y=[5, 6, 7, 8], customdata=[["a", 2 / 3], ["b", None], ["c", math.nan], ["d", 0.1]]))
    for page in (figure_div(fig, "f"), lazy_figure_div(fig, "f")):
        assert ('"customdata":[["a",0.6666666667],["b",null],["c",null],["d",0.1]],'
                '"x":[0.3333333333,2.0,1234567.891,-0.000123456789],"y":[5,6,7,8]') in page


def _drawn_figures(page: Path) -> list[tuple[str, object]]:
    """Every figure a page draws (at load or when its view opens), as the JSON objects Plotly.js gets."""
    text = page.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    figures: list[tuple[str, object]] = []
    for m in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', text):
        data, end = decoder.raw_decode(text, m.end())
        rest = text[end:].lstrip(", \n")
        layout, _ = decoder.raw_decode(rest)
        figures.append((m.group(1), {"data": data, "layout": layout}))
    for m in re.finditer(r"data-plot-for='([^']+)'>(.*?)</script>", text, re.S):
        figures.append((m.group(1), json.loads(m.group(2).replace("<\\/", "</"))))
    return figures


def test_figure_of_checks_plotly_s_schema_only_when_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages skip Plotly's per-property check (it cost a third of each page); the tests turn it on."""
    from dashboards import theme

    bad = [{"type": "scatter", "x": [1], "y": [2], "colour": "red"}]
    assert theme.STRICT_FIGURES is False
    assert theme.figure_of(bad, {}).to_plotly_json()["data"][0]["type"] == "scatter"
    monkeypatch.setattr(theme, "STRICT_FIGURES", True)
    with pytest.raises(ValueError, match="colour"):
        theme.figure_of(bad, {})


@pytest.mark.parametrize("built", ["crafted_site", "sample_site"])
def test_every_page_figure_passes_plotly_s_schema_and_the_check_changes_no_figure(
    built: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page built with Plotly's schema check on (an unknown property raises) draws exactly the
    figures of the page built without it."""
    import duckdb

    from dashboards import theme
    from dashboards.site import PAGE_BUILDERS, build_site
    from tests.dashboards.conftest import RUN

    site = request.getfixturevalue(built)
    monkeypatch.setattr(theme, "STRICT_FIGURES", True)
    with duckdb.connect(str(site.warehouse), read_only=True) as con:
        build_site(con, tmp_path, site.settings, RUN)
    drawn = 0
    for page in PAGE_BUILDERS:
        strict = _drawn_figures(tmp_path / f"{page}.html")
        assert strict == _drawn_figures(site.site / f"{page}.html"), page
        drawn += len(strict)
    assert drawn > 20
