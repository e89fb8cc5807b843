"""The researcher's page: how do conditions compare, who was lost to follow-up and how much could
that move the answer, which techniques go with better outcomes, how often does pain flare after
treatment, how fast does relief come, what changes in range of motion and function, and what do the
case-mix models adjust for?

A forest plot and table of conditions; follow-up status and the lost-to-follow-up rate by
condition; the responder rate's worst/best-case bounds and inverse-probability-weighted estimate;
a forest plot of outcomes by primary technique per condition (with the caveat that techniques are
chosen for the patient); flare rates by technique; Kaplan–Meier relief curves with 95% bands and a
number-at-risk table; range-of-motion gains against normal values; function-instrument improvements
against their MCIDs; the case-mix models' coefficients and calibration; links to the definitions.

Reads ``marts.condition_outcomes``, ``marts.follow_up``, ``marts.responder_sensitivity``,
``marts.technique_outcomes``, ``marts.flares``, ``marts.relief_curve``, ``marts.rom_gains``,
``marts.function_outcomes``, ``marts.model_coefficients``, ``marts.risk_calibration`` and, for the
distinct patients behind each cell, ``intermediate.condition_long``, and behind each model term, an
aggregate over ``marts.episode_outcomes``.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from dashboards import downloads, html, wording
from dashboards.case_mix import (
    PAIN_MODEL,
    RESPONDER_MODEL,
    calibration_figure,
    case_mix_words,
    coefficients_figure,
    coefficients_table,
    model_summary,
    term_order,
)
from dashboards.definitions import anchor
from dashboards.flares import flare_figure
from dashboards.follow_up import follow_up_figure
from dashboards.forest import forest_figure
from dashboards.publication import (
    REFERENCE_NOTE,
    EpisodeCells,
    PublishedCurves,
    hidden_column,
    publish_calibration,
    publish_coefficients,
    publish_curves,
    publish_flares,
    publish_follow_up,
    publish_outcomes,
    publish_sensitivity,
    publish_simple,
    publish_techniques,
    rows_with,
)
from dashboards.queries import RELIEF_BY, case_mix_support, episode_support, read_table
from dashboards.relief import at_risk_cells, at_risk_table, at_risk_times, relief_figure
from dashboards.sensitivity import sensitivity_figure
from dashboards.suppression import ALL, SUPPRESSED_COLUMN
from dashboards.techniques import technique_figure
from dashboards.theme import (
    GOOD,
    axes_of,
    condition_colour,
    condition_label,
    condition_order,
    figure_of,
    fmt,
    fmt_range,
    is_missing,
    line_label,
    line_shape,
    merged,
    styled_layout,
    subplot_layout,
    update_axes,
)
from transforms.config import Settings
from transforms.runs import RunRecord

ROM_VALUES = ("n_episodes", "mean_baseline", "mean_final", "mean_gain", "gain_ci_low", "gain_ci_high",
              "pct_of_normal_final")
FUNCTION_VALUES = ("n_episodes", "mean_improvement", "improvement_ci_low", "improvement_ci_high", "responder_rate")


def _unit(unit: object) -> str:
    return "°" if str(unit).lower().startswith("deg") else f" {unit}"


def summary_table(outcomes: pd.DataFrame, settings: Settings) -> str:
    """Per condition: evaluable episodes, baseline, change (95% CI), SRM, responders, relief statistics
    (cumulative relief at every report time of the run)."""
    threshold = settings.suppression_threshold
    relief_columns = sorted((c for c in outcomes.columns if RELIEF_BY.match(c)), key=lambda c: int(c.rsplit("_", 1)[1]))
    order = condition_order(outcomes["condition_group"].astype(str).tolist())
    indexed = outcomes.set_index("condition_group")
    rows, firsts, totals = [], [], []
    for i, group in enumerate(order):
        r = indexed.loc[group]
        pain = not bool(r[hidden_column("pain")])
        relief = not bool(r[hidden_column("relief")])

        def p(text: html.Cell, shown: bool) -> html.Cell:
            return text if shown else None

        rows.append([
            condition_label(group),
            p(fmt(r["n_pain_evaluable"], 0), pain),
            p(fmt(r["mean_baseline_pain"], 1), pain),
            p((fmt(r["mean_pain_change"], 2),
               f"{fmt(r['mean_pain_change_ci_low'], 2)} to {fmt(r['mean_pain_change_ci_high'], 2)}"), pain),
            p(fmt(r["srm"], 2), pain),
            p((fmt(r["responder_rate"], 0, True),
               f"{fmt(r['responder_ci_low'], 0, True)} to {fmt(r['responder_ci_high'], 0, True)}"), pain),
            p(fmt(r["substantial_rate"], 0, True), pain),
            p(fmt(r["n_relief_evaluable"], 0), relief),
            p("not reached" if is_missing(r["median_sessions_to_relief"]) else
              (fmt(r["median_sessions_to_relief"], 0), fmt_range(r["median_ci_low"], r["median_ci_high"], 0)),
              relief),
            *(p(fmt(r[c], 0, True), relief) for c in relief_columns),
        ])
        firsts.append(html.swatch(condition_colour(group), condition_label(group)))
        if group == "all":
            totals.append(i)
    headers = ["Condition", "Pain-evaluable episodes", "Mean baseline", "Mean change (95% CI)", "SRM",
               f"Responders, {wording.responder_rule(settings)} (95% CI)",
               f"Substantial ({wording.substantial_rule(settings)})", "Relief-evaluable episodes",
               "Median sessions to relief (95% CI)",
               *(wording.report_time_label(int(c.rsplit("_", 1)[1])) for c in relief_columns)]
    return html.table(rows, headers, threshold, numeric=range(1, len(headers)), total_rows=totals,
                      first_cell_html=firsts, table_id="conditions")


def rom_figure(rom: pd.DataFrame) -> go.Figure | None:
    """Range of motion per joint and movement, a dropdown picking the condition. Left: mean first and
    last measurement as a share of the normal value; right: mean gain with its 95% interval. Every
    label says how many episodes the row rests on. None when no row can be shown."""
    shown = rom[[not is_missing(v) for v in rom["mean_gain"]]].copy()
    if shown.empty:
        return None
    shown["baseline_share"] = shown["mean_baseline"].astype(float) / shown["normal"].astype(float)
    shown["final_share"] = shown["mean_final"].astype(float) / shown["normal"].astype(float)
    groups = condition_order(shown["condition_group"].astype(str).unique().tolist())
    layout = subplot_layout(1, 2, shared_yaxes=True, column_widths=[0.6, 0.4], horizontal_spacing=0.04)
    data: list[dict] = []
    owners: list[str] = []
    heights: dict[str, int] = {}
    for group in groups:
        part = shown[shown["condition_group"] == group].sort_values(["joint", "movement"], ascending=False)
        heights[group] = max(420, 44 * len(part) + 240)
        labels = [f"{j.capitalize()} {m.replace('_', ' ')} (n = {int(n):,})"
                  for j, m, n in zip(part["joint"], part["movement"], part["n_episodes"], strict=True)]
        xs: list[float | None] = []
        ys: list[str | None] = []
        for lbl, b, f in zip(labels, part["baseline_share"], part["final_share"], strict=True):
            xs += [float(b), float(f), None]
            ys += [lbl, lbl, None]
        colour = condition_colour(group)
        units = [_unit(u).strip() for u in part["unit"]]
        custom = [[float(b), float(f), float(g), None if is_missing(lo) else float(lo),
                   None if is_missing(hi) else float(hi), int(n), u, float(nm)]
                  for b, f, g, lo, hi, n, u, nm in zip(part["mean_baseline"], part["mean_final"], part["mean_gain"],
                                                       part["gain_ci_low"], part["gain_ci_high"], part["n_episodes"],
                                                       units, part["normal"], strict=True)]
        data.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "line": {"color": "#c3ccd6", "width": 4},
                     "hoverinfo": "skip", "showlegend": False, **axes_of(1)})
        data.append({
            "type": "scatter", "x": part["baseline_share"].tolist(), "y": labels, "mode": "markers",
            "name": "first measurement",
            "marker": {"symbol": "circle-open", "size": 11, "color": colour, "line": {"width": 2}}, "customdata": custom,
            "hovertemplate": "<b>%{y}</b><br>first %{customdata[0]:.0f}%{customdata[6]} = %{x:.0%} of normal "
                             "(%{customdata[7]:g}%{customdata[6]})<extra></extra>",
            **axes_of(1),
        })
        data.append({
            "type": "scatter", "x": part["final_share"].tolist(), "y": labels, "mode": "markers",
            "name": "last later measurement", "marker": {"symbol": "circle", "size": 11, "color": colour},
            "customdata": custom,
            "hovertemplate": "<b>%{y}</b><br>last %{customdata[1]:.0f}%{customdata[6]} = %{x:.0%} of normal "
                             "(%{customdata[7]:g}%{customdata[6]})<extra></extra>",
            **axes_of(1),
        })
        gains = part["mean_gain"].astype(float).tolist()
        data.append({
            "type": "scatter", "x": gains, "y": labels, "mode": "markers", "name": "mean gain (95% CI)",
            "marker": {"symbol": "square", "size": 9, "color": colour},
            "error_x": {"type": "data", "symmetric": False, "color": "#6b7785", "thickness": 1.4, "width": 4,
                        "array": [None if c[4] is None else c[4] - g for c, g in zip(custom, gains, strict=True)],
                        "arrayminus": [None if c[3] is None else g - c[3] for c, g in zip(custom, gains, strict=True)]},
            "customdata": custom,
            "hovertemplate": "<b>%{y}</b><br>mean gain %{x:+.1f}%{customdata[6]} (95% CI %{customdata[3]:.1f} to "
                             "%{customdata[4]:.1f})<extra></extra>",
            **axes_of(2),
        })
        owners += [group] * 4
    first = groups[0]
    for trace, group in zip(data, owners, strict=True):
        trace["visible"] = group == first
    buttons = [{"label": condition_label(g), "method": "update",
                "args": [{"visible": [o == g for o in owners]}, {"height": heights[g]}]} for g in groups]
    normal = {"color": GOOD, "dash": "dash", "width": 1.5}
    layout = styled_layout({**layout, "shapes": [line_shape(normal, x=1), line_shape({"color": "#9aa5b1", "width": 1},
                                                                                      x=0, subplot=2)],
                            "annotations": [line_label("normal", x=1)]},
                           "Range of motion against normal values, and the gain", height=heights[first],
                           subtitle="open circle: mean first measurement; filled: mean last later one (100% = "
                                    "normal); square: mean gain in degrees (mm for mouth opening) with its 95% interval")
    layout = merged(layout, {
        "updatemenus": [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.06,
                         "yanchor": "bottom", "bgcolor": "#ffffff", "bordercolor": "#c3ccd6"}],
        "legend": {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 0.5, "yanchor": "middle"},
        "margin": {"t": 120, "b": 70, "l": 220, "r": 190},
    })
    update_axes(layout, "x", {"title": {"text": "first and last measurement, share of normal"}, "tickformat": ".0%",
                              "rangemode": "tozero"}, subplot=1)
    update_axes(layout, "x", {"title": {"text": "mean gain, last − first (95% CI)"}, "zeroline": False}, subplot=2)
    return figure_of(data, layout)


def function_figure(function: pd.DataFrame) -> go.Figure | None:
    """Mean improvement of each instrument in units of its MCID (95% intervals), per condition; None if none."""
    shown = function[[not is_missing(v) for v in function["mean_improvement"]]].copy()
    if shown.empty:
        return None
    ref = {g: i for i, g in enumerate(condition_order(shown["condition_group"].astype(str).unique().tolist()))}
    shown["order"] = shown["condition_group"].map(ref)
    shown = shown.sort_values(["instrument", "order"])
    mcid = shown["mcid"].astype(float)
    est = (shown["mean_improvement"].astype(float) / mcid).tolist()
    low = [None if is_missing(v) else float(v) / m for v, m in zip(shown["improvement_ci_low"], mcid, strict=True)]
    high = [None if is_missing(v) else float(v) / m for v, m in zip(shown["improvement_ci_high"], mcid, strict=True)]
    labels = [f"{i} · {condition_label(c)} (n = {int(n):,})" for i, c, n in zip(
        shown["instrument"], shown["condition_group"], shown["n_episodes"], strict=True)]
    trace = {
        "type": "scatter", "x": est, "y": labels, "mode": "markers",
        "marker": {"symbol": "square", "size": 10, "color": [condition_colour(c) for c in shown["condition_group"]]},
        "error_x": {"type": "data", "symmetric": False, "color": "#6b7785", "thickness": 1.4, "width": 4,
                    "array": [None if h is None else h - e for e, h in zip(est, high, strict=True)],
                    "arrayminus": [None if lo is None else e - lo for e, lo in zip(est, low, strict=True)]},
        "customdata": [[float(i), float(m), None if is_missing(r) else float(r), int(n)] for i, m, r, n in zip(
            shown["mean_improvement"], mcid, shown["responder_rate"], shown["n_episodes"], strict=True)],
        "hovertemplate": ("<b>%{y}</b><br>mean improvement %{customdata[0]:.1f} points = %{x:.2f} × MCID (MCID "
                          "%{customdata[1]:g})<br>reached the MCID: %{customdata[2]:.0%}<br>n = %{customdata[3]:,} "
                          "episodes<extra></extra>"),
        "showlegend": False,
    }
    shapes = [line_shape({"color": "#9aa5b1", "width": 1}, x=0), line_shape({"color": GOOD, "dash": "dash", "width": 1.5},
                                                                             x=1)]
    layout = styled_layout({"shapes": shapes, "annotations": [line_label("MCID", x=1)]},
                           "Function instruments: improvement against the minimal clinically important difference",
                           height=max(320, 28 * len(shown) + 170),
                           subtitle="mean improvement divided by the instrument's MCID, with 95% intervals; "
                                    "1 = one MCID (direction-aware: positive is better)")
    update_axes(layout, "y", {"categoryorder": "array", "categoryarray": labels[::-1]})
    update_axes(layout, "x", {"title": {"text": "mean improvement ÷ MCID"}})
    layout = merged(layout, {"margin": {"l": 260}})
    return figure_of([trace], layout)


def _hidden_conditions(frame: pd.DataFrame, flag: str) -> list[str]:
    """Labels of the condition groups (not ``all``) whose row is hidden by the boolean column ``flag``."""
    rows = frame[frame[flag].astype(bool) & (frame["condition_group"].astype(str) != ALL)]
    return [condition_label(g) for g in condition_order(rows["condition_group"].astype(str).unique().tolist())]


def _suppressed_note(labels: list[str], what: str = "Suppressed") -> str:
    return f" <span class=sup>{escape(what)}:</span> {escape(', '.join(labels))}." if labels else ""


def _references(outcomes: pd.DataFrame) -> dict[str, tuple[float | None, float | None]]:
    """Each condition's own responder rate and mean change (None where hidden), for the technique forest."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for _, r in outcomes.iterrows():
        hidden = bool(r[hidden_column("pain")])
        rate = None if hidden or is_missing(r["responder_rate"]) else float(r["responder_rate"])
        mean = None if hidden or is_missing(r["mean_pain_change"]) else float(r["mean_pain_change"])
        out[str(r["condition_group"])] = (rate, mean)
    return out


def _in_condition_order(frame: pd.DataFrame, *then: str) -> pd.DataFrame:
    """Rows by condition (the page's order, ``all`` last), then by ``then``."""
    rank = {g: i for i, g in enumerate(condition_order(frame["condition_group"].astype(str).unique().tolist()))}
    keyed = frame.assign(_rank=frame["condition_group"].astype(str).map(rank))
    return keyed.sort_values(["_rank", *then], kind="stable").drop(columns="_rank").reset_index(drop=True)


def condition_outcome_reasons(frame: pd.DataFrame, pain: list[str], relief: list[str],
                              median: tuple[str, str, str] = ("median_sessions_to_relief", "median_ci_low",
                                                              "median_ci_high")) -> list[downloads.Reason]:
    """Why cells of published condition outcomes are empty: a hidden family (``pain`` / ``relief`` columns),
    and a median (with its interval) or an upper bound the follow-up has not reached, as the tables say."""
    relief_shown = ~frame[hidden_column("relief")].astype(bool)
    no_median = relief_shown & pd.Series(downloads.missing(frame[median[0]]), index=frame.index)
    no_upper = relief_shown & ~no_median & pd.Series(downloads.missing(frame[median[2]]), index=frame.index)
    return [
        downloads.suppressed(frame[hidden_column("pain")], pain),
        downloads.suppressed(frame[hidden_column("relief")], relief),
        downloads.reason(downloads.NOT_REACHED, no_median, median),
        downloads.reason(downloads.NOT_REACHED, no_upper, median[2:]),
    ]


def researcher_downloads(outcomes: pd.DataFrame, follow_up: pd.DataFrame, sensitivity: pd.DataFrame,
                         techniques: pd.DataFrame, flares: pd.DataFrame, curves: PublishedCurves,
                         times: list[int], rom: pd.DataFrame, function: pd.DataFrame, coefficients: pd.DataFrame,
                         calibration: pd.DataFrame, settings: Settings) -> list[downloads.Download]:
    """The researcher page's downloads, from the published frames its tables and charts use."""
    tables = downloads.TABLES
    out = []
    # condition comparison (table and forest plot)
    frame = _in_condition_order(outcomes)
    names = ["condition_group", *tables["researcher-conditions"].value_columns(settings)]
    pain = ["n_pain_evaluable", "mean_baseline_pain", "mean_pain_change", "mean_pain_change_ci_low",
            "mean_pain_change_ci_high", "srm", "responder_rate", "responder_ci_low", "responder_ci_high",
            "substantial_rate"]
    relief = [c for c in names[1:] if c not in pain]
    out.append(downloads.download("researcher-conditions", downloads.take(frame, names),
                                  *condition_outcome_reasons(frame, pain, relief)))
    # follow-up status and lost rate (chart)
    frame = _in_condition_order(follow_up[follow_up["clinic_id"].astype(str) == ALL])
    table = downloads.take(frame, ["condition_group", "n_episodes", "n_discharged", "n_active", "n_lost", "n_ended",
                                   "lost_rate", "lost_ci_low", "lost_ci_high"])
    for status in ("discharged", "active", "lost"):
        table[f"share_{status}"] = downloads.ratio(frame[f"n_{status}"], frame["n_episodes"])
    lost = ["n_ended", "lost_rate", "lost_ci_low", "lost_ci_high"]
    lost_shown = ~frame[hidden_column("lost")].astype(bool)
    out.append(downloads.download(
        "researcher-follow-up", table,
        downloads.suppressed(frame[hidden_column("status")], [c for c in table.columns[1:] if c not in lost]),
        downloads.suppressed(frame[hidden_column("lost")], lost),
        downloads.reason(downloads.NO_EPISODE_ENDED, lost_shown & pd.Series(downloads.missing(frame["lost_rate"]),
                                                                             index=frame.index), lost[1:]),
    ))
    # drop-out sensitivity (chart)
    frame = _in_condition_order(sensitivity)
    out.append(downloads.download(
        "researcher-drop-out-sensitivity",
        downloads.take(frame, ["condition_group", *tables["researcher-drop-out-sensitivity"].values]),
        downloads.suppressed(frame["hidden"])))
    # techniques and flares (charts: the rows they draw)
    frame = _in_condition_order(rows_with(techniques, "mean_pain_change"), "technique")
    out.append(downloads.download("researcher-techniques", downloads.take(
        frame, ["condition_group", "technique", *tables["researcher-techniques"].values])))
    frame = _in_condition_order(rows_with(flares, "flare_rate"), "technique")
    out.append(downloads.download("researcher-flares", downloads.take(
        frame, ["condition_group", "technique", *tables["researcher-flares"].values])))
    # relief curves (the published points) and the number-at-risk table
    frame = _in_condition_order(curves.points, "t")
    out.append(downloads.download("researcher-relief-curves", downloads.take(
        frame, ["condition_group", "t", "survival", "survival_ci_low", "survival_ci_high", "at_risk"],
        survival_ci_low="ci_low", survival_ci_high="ci_high")))
    cells = at_risk_cells(curves.at_risk, times) if times else {}
    at_risk = pd.DataFrame([(g, t, v) for g, values in cells.items() for t, v in zip(times, values, strict=True)],
                           columns=["condition_group", "t", "at_risk"])
    out.append(downloads.download("researcher-number-at-risk", at_risk,
                                  downloads.suppressed(downloads.missing(at_risk["at_risk"]))))
    # range of motion and function instruments (charts: the rows they draw)
    frame = _in_condition_order(rows_with(rom, "mean_gain"), "joint", "movement")
    table = downloads.take(frame, ["condition_group", "joint", "movement", "n_episodes", "mean_baseline", "mean_final",
                                   "mean_gain", "gain_ci_low", "gain_ci_high", "normal", "unit"])
    table["baseline_share_of_normal"] = downloads.ratio(frame["mean_baseline"], frame["normal"])
    table["final_share_of_normal"] = downloads.ratio(frame["mean_final"], frame["normal"])
    out.append(downloads.download("researcher-range-of-motion", table))
    frame = _in_condition_order(rows_with(function, "mean_improvement"), "instrument")
    table = downloads.take(frame, ["condition_group", "instrument", "n_episodes", "mean_improvement",
                                   "improvement_ci_low", "improvement_ci_high", "mcid", "mcid_reached_rate"],
                           mcid_reached_rate="responder_rate")
    for name, source in (("improvement_in_mcids", "mean_improvement"), ("improvement_in_mcids_ci_low",
                         "improvement_ci_low"), ("improvement_in_mcids_ci_high", "improvement_ci_high")):
        table[name] = downloads.ratio(frame[source], frame["mcid"])
    out.append(downloads.download("researcher-function", table))
    # case-mix models: size and fit, coefficients (table and chart), calibration (chart)
    models = []
    for model in (PAIN_MODEL, RESPONDER_MODEL):
        rows = coefficients[coefficients["model"] == model].sort_values("position")
        if len(rows):
            models.append(rows.iloc[0])
    frame = pd.DataFrame(models, columns=coefficients.columns)
    out.append(downloads.download("researcher-case-mix-models", downloads.take(
        frame, ["model", "n_obs", "method", "r_squared", "residual_sd"]),
        downloads.reason(downloads.NOT_APPLICABLE, frame["model"].astype(str) == RESPONDER_MODEL,
                         ["r_squared", "residual_sd"])))
    order = {t: i for i, t in enumerate(term_order(coefficients))}
    frame = coefficients.assign(_order=coefficients["term"].astype(str).map(order)).sort_values(
        ["model", "_order"], kind="stable").reset_index(drop=True)
    reference = [isinstance(n, str) and n.startswith(REFERENCE_NOTE) for n in frame["note"]]
    table = downloads.take(frame, ["model", "term", "estimate", "ci_low", "ci_high"])
    table.insert(2, "reference_level", reference)
    odds = frame["model"].astype(str) == RESPONDER_MODEL
    for name, source in (("odds_ratio", "estimate"), ("odds_ratio_ci_low", "ci_low"),
                         ("odds_ratio_ci_high", "ci_high")):
        table[name] = [None if not o or is_missing(v) else math.exp(float(v)) for o, v in zip(odds, frame[source],
                                                                                         strict=True)]
    ratios = ["odds_ratio", "odds_ratio_ci_low", "odds_ratio_ci_high"]
    out.append(downloads.download(
        "researcher-model-coefficients", table,
        downloads.reason(downloads.NOT_APPLICABLE, ~odds, ratios),
        downloads.suppressed(frame["hidden"], ["estimate", "ci_low", "ci_high", *ratios]),
        downloads.reason(REFERENCE_NOTE, reference, ["ci_low", "ci_high", "odds_ratio_ci_low", "odds_ratio_ci_high"]),
    ))
    frame = rows_with(calibration, "mean_observed").sort_values(["model", "decile"]).reset_index(drop=True)
    out.append(downloads.download("researcher-calibration", downloads.take(
        frame, ["model", "decile", "n", "mean_expected", "mean_observed"])))
    return out


# section anchors (distinct from the ids of the charts and tables inside them)
SECTIONS = (
    ("condition-comparison", "Condition comparison"),
    ("follow-up-status", "Follow-up"),
    ("drop-out", "How much could drop-out change this?"),
    ("outcomes-by-technique", "Outcomes by technique"),
    ("post-treatment-flares", "Post-treatment flares"),
    ("sessions-to-relief", "Sessions to relief"),
    ("range-of-motion", "Range of motion"),
    ("function-instruments", "Function instruments"),
    ("case-mix-models", "Case-mix models"),
)


def build_researcher_page(
    con: duckdb.DuckDBPyConnection, site: Path, settings: Settings, run: RunRecord | None = None
) -> Path:
    """Write ``researcher.html`` (see the module docstring for the tables it reads); returns its path."""
    k = settings.suppression_threshold
    cells = EpisodeCells.build(episode_support(con), k)
    outcomes = publish_outcomes(read_table(con, "marts.condition_outcomes"), "condition", cells)
    curves = publish_curves(read_table(con, "marts.relief_curve"), cells)
    rom = publish_simple(read_table(con, "marts.rom_gains"), "n_patients", ROM_VALUES, k)
    function = publish_simple(read_table(con, "marts.function_outcomes"), "n_patients", FUNCTION_VALUES, k)
    follow_up = publish_follow_up(read_table(con, "marts.follow_up"), cells)
    sensitivity = publish_sensitivity(read_table(con, "marts.responder_sensitivity"), k)
    techniques = publish_techniques(read_table(con, "marts.technique_outcomes"), k)
    flares = publish_flares(read_table(con, "marts.flares"), k)
    coefficients = publish_coefficients(read_table(con, "marts.model_coefficients"), case_mix_support(con), k)
    calibration = publish_calibration(read_table(con, "marts.risk_calibration"), cells)
    hidden_rom = int(rom[SUPPRESSED_COLUMN].sum())
    hidden_function = int(function[SUPPRESSED_COLUMN].sum())
    times = at_risk_times(curves.points)
    hidden_pain = [condition_label(g) for g in condition_order(outcomes.loc[
        outcomes[hidden_column("pain")] & (outcomes["condition_group"] != "all"), "condition_group"].astype(str).tolist())]
    condition_follow_up = follow_up[follow_up["clinic_id"].astype(str) == ALL]
    hidden_status = _hidden_conditions(condition_follow_up, hidden_column("status"))
    hidden_lost = _hidden_conditions(condition_follow_up, hidden_column("lost"))
    hidden_sensitivity = _hidden_conditions(sensitivity, "hidden")
    hidden_techniques = int(techniques["hidden"].sum())
    hidden_flares = int(flares["hidden"].sum())
    hidden_terms = int((coefficients["hidden"].astype(bool) & ~coefficients["note"].map(
        lambda n: isinstance(n, str) and n.startswith(REFERENCE_NOTE)).astype(bool)).sum())
    hidden_deciles = int(calibration["hidden"].sum())
    covariates = case_mix_words(read_table(con, "marts.model_coefficients", ["model", "position", "term", "note"]))
    responder = wording.responder_rule(settings)
    summary = model_summary(coefficients)
    downloads.write_downloads(site, "researcher.html", researcher_downloads(
        outcomes, follow_up, sensitivity, techniques, flares, curves, times, rom, function, coefficients, calibration,
        settings), settings)
    body = [
        "<div class=info>Every figure is defined on the <a href='definitions.html'>Definitions</a> page: "
        f"<a href='{anchor('pain')}'>pain and responders</a>, "
        f"<a href='{anchor('follow-up status')}'>follow-up status</a>, "
        f"<a href='{anchor('drop-out')}'>drop-out sensitivity</a>, "
        f"<a href='{anchor('technique')}'>techniques</a>, "
        f"<a href='{anchor('flares')}'>flares</a>, "
        f"<a href='{anchor('risk adjustment')}'>case-mix models</a>, "
        f"<a href='{anchor('relief')}'>sessions to relief</a>, "
        f"<a href='{anchor('range of motion')}'>range of motion</a>, "
        f"<a href='{anchor('function')}'>function instruments</a>, "
        f"<a href='{anchor('statistic')}'>intervals</a>. "
        "Intervals are 95%: t-intervals for means, Wilson intervals for rates, log(−log) bands for curves. "
        "Every table and the data of every chart can be downloaded as CSV (the link under it); the "
        f"<a href='{downloads.DATA_DIR}/{downloads.DICTIONARY_PAGE}'>data dictionary</a> explains every column."
        "<br>On this page: " + " · ".join(f"<a href='#{a}'>{escape(t)}</a>" for a, t in SECTIONS) + "</div>",
        html.section(
            "Condition comparison",
            "Mean sustained pain change and responder rate per condition group, with 95% intervals; the diamond "
            "is all conditions pooled." + _suppressed_note(hidden_pain),
            html.panel(html.chart(forest_figure(outcomes, "Condition comparison (forest plot)",
                                                "mean sustained change and responder rate, 95% intervals",
                                                responder_label=responder),
                                  "forest", "No condition has enough pain-evaluable patients to publish."),
                       summary_table(outcomes, settings), downloads.link("researcher-conditions")),
            anchor="condition-comparison",
        ),
        html.section(
            "Follow-up: who was discharged, who is still coming, who was lost",
            f"Every episode has a follow-up status ({escape(wording.follow_up_rule(settings))}). The lost-to-follow-up "
            "rate is lost ÷ (discharged + lost): active episodes have not ended yet. “Lost” says that the record "
            "stops, not why: a patient who got better and did not come back looks the same as one who gave up."
            + _suppressed_note(hidden_status, "Status suppressed")
            + _suppressed_note([g for g in hidden_lost if g not in hidden_status], "Lost rate suppressed"),
            html.panel(html.chart(follow_up_figure(follow_up, "Follow-up status by condition",
                                                   "share of each condition's episodes by status; lost rate among "
                                                   "the ended episodes with 95% intervals (dotted: all conditions)"),
                                  "follow-up", "No condition has enough patients to publish its follow-up."),
                       downloads.link("researcher-follow-up")),
            anchor="follow-up-status",
        ),
        html.section(
            "How much could drop-out change this?",
            "The responder rate counts only episodes with a final pain score. For the ended episodes with a baseline "
            "score, the pale bar shows every answer drop-out could give: at its left end every patient without a "
            "final score is counted as a non-responder (worst case), at its right end as a responder (best case). "
            "Whatever the reason for drop-out, the true rate lies on the bar; a short bar means drop-out cannot "
            "change the conclusion. The square is the usual (complete-case) rate. The diamond is an inverse "
            "probability weighted (IPW) estimate: each patient with a final score also stands in for similar "
            "patients without one (weights from a model of who has a final score given baseline pain, symptom "
            f"duration, condition, age band, sex and payer, {escape(wording.ipw_cap(settings))}). "
            "<b>IPW corrects only for what its model sees</b>: if patients stopped coming because they felt better "
            "(or worse) in ways their intake does not predict, the weighted rate is still biased; only the bar "
            "holds whatever the reason." + _suppressed_note(hidden_sensitivity),
            html.panel(html.chart(sensitivity_figure(sensitivity, f"Responder rate ({responder}) under drop-out",
                                                     "per condition: worst to best case, complete case, and the "
                                                     "IPW estimate with its 95% interval"),
                                  "sensitivity", "No condition has enough patients with a final score to publish."),
                       downloads.link("researcher-drop-out-sensitivity")),
            anchor="drop-out",
        ),
        html.section(
            "Outcomes by technique",
            f"A technique is primary in an episode when it is {escape(wording.primary_technique_rule())}; an episode "
            "can have several primary techniques (it counts under each) or none. Per condition (menu): responder "
            "rate, mean sustained change and the case-mix adjusted difference (observed minus expected change for "
            f"the patients' {escape(covariates or 'intake')}), with 95% intervals; dotted lines: all episodes of "
            "the condition."
            + (f" {hidden_techniques} condition–technique combination(s) are suppressed (too few patients, or "
               "hidden to protect a smaller group)." if hidden_techniques else ""),
            "<div class=note><b>Techniques are chosen by the therapist for the patient in front of them.</b> A "
            "technique kept for the hardest cases looks worse, one used for patients who recover quickly looks "
            "better. Differences between techniques are <b>associations, not effects</b>, even after the case-mix "
            "adjustment, which removes only differences in recorded intake facts. Only a randomised comparison "
            "could show that one technique works better than another.</div>",
            html.panel(html.chart(technique_figure(
                techniques, _references(outcomes), "Outcomes by primary technique",
                "n = pain-evaluable episodes; 95% intervals. Associations, not effects: techniques are chosen for the patient",
                responder_label=responder), "techniques", "No technique has enough pain-evaluable patients to publish."),
                downloads.link("researcher-techniques")),
            anchor="outcomes-by-technique",
        ),
        html.section(
            "Post-treatment flares",
            f"A visit flares when the {escape(wording.flare_rule(settings))} (post-treatment soreness); only visits "
            "with both scores count. Per condition (menu): the flare rate of all scored visits (diamond, dotted "
            "line) and of the visits that list each technique, with 95% intervals. A visit that lists several "
            "techniques counts under each, so the techniques do not add up to all visits. Again an association: "
            "deeper techniques go to patients with more pain, and soreness that starts the next day is not seen."
            + (f" {hidden_flares} condition–technique combination(s) are suppressed (too few patients, or hidden "
               "to protect a smaller group)." if hidden_flares else ""),
            html.panel(html.chart(flare_figure(flares, "Flare rate by technique",
                                               f"share of scored visits with {wording.flare_label(settings)}"),
                                  "flares", "No flare rate has enough patients to publish."),
                       downloads.link("researcher-flares")),
            anchor="post-treatment-flares",
        ),
        html.section(
            "Sessions to relief",
            "Kaplan–Meier estimate of the probability of not yet being relieved after t sessions (relief: "
            f"{escape(wording.relief_rule(settings))}). Episodes that end without relief are censored at their last "
            "scored visit, never dropped. Use the menu to compare conditions. A curve stops where "
            f"{escape(wording.suppression_rule(settings))} remain at risk.",
            html.panel(html.chart(relief_figure(curves.points, "Relief curves",
                                                "probability of not yet relieved, with 95% pointwise bands"),
                                  "relief", "No condition has enough relief-evaluable patients to publish a curve."),
                       downloads.link("researcher-relief-curves"), "<h3>Number at risk</h3>",
                       at_risk_table(curves.at_risk, times, k) if times else html.message("No curve to tabulate."),
                       downloads.link("researcher-number-at-risk")),
            anchor="sessions-to-relief",
        ),
        html.section(
            "Range of motion",
            "Mean first and last measurement of each joint and movement (sides pooled) as a share of its normal "
            "value; the menu picks the condition."
            + (f" {hidden_rom} condition–movement combination(s) are suppressed (too few patients)." if hidden_rom
               else ""),
            html.panel(html.chart(rom_figure(rom), "rom", "No range-of-motion result can be shown.",
                                  "No joint and movement has enough patients measured twice."),
                       downloads.link("researcher-range-of-motion")),
            anchor="range-of-motion",
        ),
        html.section(
            "Function instruments",
            "Improvement from the first to the last later score of each instrument, in multiples of its minimal "
            "clinically important difference (MCID)."
            + (f" {hidden_function} condition–instrument combination(s) are suppressed (too few patients)."
               if hidden_function else ""),
            html.panel(html.chart(function_figure(function), "function", "No function result can be shown.",
                                  "No instrument has enough patients scored twice."),
                       downloads.link("researcher-function")),
            anchor="function-instruments",
        ),
        html.section(
            "Case-mix models",
            "Two models predict, from the intake at the first visit, what is expected for an episode: a linear "
            "model of the sustained pain change and a logistic model of responding. They adjust the clinic and "
            "therapist comparisons and the technique differences "
            + (f"for {escape(covariates)}" if covariates else "") + "; they see neither clinic, therapist nor "
            "technique. Categorical covariates are compared with their most common level (the reference). "
            f"A level resting on {escape(wording.suppression_rule(settings))} has its estimate suppressed"
            + (f" ({hidden_terms} estimate(s) here)" if hidden_terms else "") + ".",
            html.panel(
                "".join(f"<p class=explain>{escape(line)}</p>" for line in summary),
                html.chart(coefficients_figure(coefficients, "Case-mix model coefficients",
                                               "difference from the reference level (or per unit), 95% intervals; "
                                               "open circles: reference levels"),
                           "coefficients", "No coefficient can be shown.",
                           "No model was fitted, or it rests on too few patients."),
                "<details><summary>Show every coefficient as a number</summary>"
                + coefficients_table(coefficients, k) + "</details>",
                downloads.link("researcher-model-coefficients", "researcher-case-mix-models"),
            ),
            html.panel(html.chart(calibration_figure(calibration, "Calibration of the case-mix models",
                                                     "pain-evaluable episodes in ten groups by expected outcome: "
                                                     "mean observed against mean expected (dashed: perfect agreement)"),
                                  "calibration", "No calibration group can be shown.",
                                  "The models rest on too few patients.")
                       + downloads.link("researcher-calibration")
                       + ("<p class=explain>A well-calibrated model has every point near the dashed line, not only "
                          "on average: a model wrong at the extremes would flatter clinics whose patients sit at one "
                          "end." + (f" {hidden_deciles} group(s) are suppressed (too few patients)."
                                    if hidden_deciles else "") + "</p>")),
            anchor="case-mix-models",
        ),
    ]
    return html.write_page(site, "researcher.html", html.page(
        "researcher.html", "Researchers",
        "How do conditions compare, who was lost to follow-up and how much could that change the answer, which "
        "techniques go with better outcomes (and how sure are we), how often does treatment flare pain, how many "
        "sessions until relief, and what changes in range of motion and function?",
        "".join(body), threshold=k, run=run,
    ))
