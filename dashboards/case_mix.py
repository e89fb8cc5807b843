"""The case-mix models in the open: their coefficients, their calibration, and what they adjust for in words.

Pure functions over published frames:

- :func:`coefficients_figure` and :func:`coefficients_table` over
  :func:`dashboards.publication.publish_coefficients` (a level resting on too few patients has no
  estimate and is not drawn): the linear model of the sustained pain change (points) and the logistic
  model of responding (odds ratios), side by side, reference levels at 0 (odds ratio 1);
- :func:`calibration_figure` over :func:`dashboards.publication.publish_calibration`: mean observed
  against mean expected outcome per decile of expected outcome, both models;
- :func:`case_mix_words`: the covariates the models actually use, in words, from their terms (so a
  page never names a covariate the run's model does not have).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboards import html
from dashboards.payer import payer_label
from dashboards.publication import REFERENCE_NOTE, rows_with
from dashboards.theme import (
    ACCENT,
    ALL_COLOUR,
    WARN,
    axes_of,
    condition_label,
    figure_of,
    fmt,
    is_missing,
    line_shape,
    merged,
    styled_layout,
    subplot_layout,
    update_annotations,
    update_axes,
)

PAIN_MODEL = "pain_change"
RESPONDER_MODEL = "responder"
CONTINUOUS = ("baseline_pain", "log1p_weeks", "symptom_weeks_missing")
COVARIATE_WORDS = {
    "baseline_pain": "baseline pain",
    "log1p_weeks": "symptom duration",
    "symptom_weeks_missing": "whether symptom duration was recorded",
    "age_band": "age band",
    "condition_group": "condition",
    "sex": "sex",
    "payer_type": "payer type",
}
METHOD_WORDS = {
    "ols": "ordinary least squares",
    "ols_min_norm": "minimum-norm least squares (the design is rank deficient, so no standard errors)",
    "logit_ml": "maximum likelihood",
    "logit_ridge": "penalised (ridge) maximum likelihood, because the plain estimate does not exist (some group "
                   "of patients all had the same outcome, or the covariates separate the outcome); no standard errors",
    "constant": "not fitted: every episode has the same outcome",
}


def _covariate(term: str) -> str:
    return term.split("=", 1)[0]


def _is_reference(note: object) -> bool:
    return isinstance(note, str) and note.startswith(REFERENCE_NOTE)


def term_label(term: str) -> str:
    """Readable term: ``condition_group=neck_pain`` -> ``Condition: Neck pain``; ``log1p_weeks`` -> ``ln(1 + symptom weeks)``."""
    fixed = {"intercept": "Intercept", "baseline_pain": "Baseline pain (per point)",
             "log1p_weeks": "ln(1 + symptom weeks)", "symptom_weeks_missing": "Symptom weeks not recorded"}
    if term in fixed:
        return fixed[term]
    covariate, _, level = term.partition("=")
    if covariate == "condition_group":
        return f"Condition: {condition_label(level)}"
    if covariate == "payer_type":
        return f"Payer: {payer_label(level)}"
    if covariate == "age_band":
        return f"Age {level}"
    if covariate == "sex":
        return f"Sex {level}"
    return term.replace("_", " ")


def case_mix_words(coefficients: pd.DataFrame) -> str:
    """The covariates of the case-mix model in words, in the model's order: ``baseline pain, symptom duration,
    age band, condition, sex and payer type``. A categorical covariate counts only when the model has an
    indicator for one of its levels (a constant covariate is left out of the model). "" without a model."""
    if coefficients.empty:
        return ""
    model = PAIN_MODEL if (coefficients["model"] == PAIN_MODEL).any() else RESPONDER_MODEL
    rows = coefficients[coefficients["model"] == model].sort_values("position")
    names: list[str] = []
    for term, note in zip(rows["term"], rows["note"], strict=True):
        if term == "intercept" or _is_reference(note):
            continue
        words = COVARIATE_WORDS.get(_covariate(str(term)), _covariate(str(term)).replace("_", " "))
        if words not in names:
            names.append(words)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def term_order(coefficients: pd.DataFrame) -> list[str]:
    """Terms in reading order: intercept, continuous terms, then each covariate's reference level and its
    other levels (as the models list them)."""
    rows = coefficients.sort_values(["model", "position"])
    terms = list(dict.fromkeys(rows["term"].astype(str)))
    references = {_covariate(t) for t, n in zip(rows["term"].astype(str), rows["note"], strict=True) if _is_reference(n)}
    ordered = [t for t in ("intercept", *CONTINUOUS) if t in terms]
    covariates = list(dict.fromkeys(_covariate(t) for t in terms if "=" in t))
    for covariate in covariates:
        levels = [t for t in terms if "=" in t and _covariate(t) == covariate]
        reference = [t for t in levels if covariate in references and _is_reference(
            rows.loc[rows["term"] == t, "note"].iloc[0])]
        ordered += reference + [t for t in levels if t not in reference]
    return ordered + [t for t in terms if t not in ordered]


def _model_rows(coefficients: pd.DataFrame, model: str) -> pd.DataFrame:
    return coefficients[coefficients["model"] == model].set_index("term")


def coefficients_figure(coefficients: pd.DataFrame, title: str, subtitle: str = "") -> go.Figure | None:
    """Estimates with 95% intervals of both models (intercept left out: it is on another scale), reference
    levels as open circles at 0 / odds ratio 1. None when no estimate other than a reference can be shown."""
    shown = rows_with(coefficients, "estimate")
    drawable = shown[(shown["term"] != "intercept") & ~shown["note"].map(_is_reference).astype(bool)]
    if drawable.empty:
        return None
    order = [t for t in term_order(shown) if t != "intercept"]
    labels = {t: term_label(t) + (" (reference)" if _is_reference(
        shown.loc[shown["term"] == t, "note"].iloc[0]) else "") for t in order}
    layout = subplot_layout(1, 2, shared_yaxes=True, horizontal_spacing=0.04,
                            subplot_titles=("Sustained pain change model: points (95% CI)",
                                            "Responder model: odds ratio (95% CI)"))
    data: list[dict] = []
    for col, model in ((1, PAIN_MODEL), (2, RESPONDER_MODEL)):
        rows = _model_rows(shown, model)
        terms = [t for t in order if t in rows.index]
        if not terms:
            continue
        odds = model == RESPONDER_MODEL

        def scale(v: object, odds: bool = odds) -> float | None:
            if is_missing(v):
                return None
            return math.exp(float(v)) if odds else float(v)  # type: ignore[arg-type]

        est = [scale(rows.loc[t, "estimate"]) for t in terms]
        low = [scale(rows.loc[t, "ci_low"]) for t in terms]
        high = [scale(rows.loc[t, "ci_high"]) for t in terms]
        reference = [_is_reference(rows.loc[t, "note"]) for t in terms]
        data.append({
            "type": "scatter", "x": est, "y": [labels[t] for t in terms], "mode": "markers", "showlegend": False,
            "marker": {"symbol": ["circle-open" if r else "square" for r in reference], "size": 9,
                       "color": [ALL_COLOUR if r else (WARN if odds else ACCENT) for r in reference]},
            "error_x": {"type": "data", "symmetric": False, "color": "#6b7785", "thickness": 1.3, "width": 3,
                        "array": [None if h is None or e is None else h - e for e, h in zip(est, high, strict=True)],
                        "arrayminus": [None if w is None or e is None else e - w
                                       for e, w in zip(est, low, strict=True)]},
            "customdata": [[w, h] for w, h in zip(low, high, strict=True)],
            "hovertemplate": ("<b>%{y}</b><br>" + ("odds ratio %{x:.2f}" if odds else "%{x:+.2f} points")
                              + " (95% CI %{customdata[0]:.2f} to %{customdata[1]:.2f})<extra></extra>"),
            **axes_of(col),
        })
    shapes = [line_shape({"color": "#9aa5b1", "width": 1}, x=0), line_shape({"color": "#9aa5b1", "width": 1}, x=1,
                                                                             subplot=2)]
    layout = styled_layout({**layout, "shapes": shapes}, title, height=max(360, 21 * len(order) + 190),
                           subtitle=subtitle)
    update_axes(layout, "y", {"categoryorder": "array", "categoryarray": [labels[t] for t in order][::-1],
                              "automargin": True})
    update_axes(layout, "x", {"title": {"text": "points of expected change (higher: more improvement expected)"},
                              "zeroline": False}, subplot=1)
    ratios = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20]
    update_axes(layout, "x", {"title": {"text": "odds ratio of responding (log scale)"}, "type": "log",
                              "tickmode": "array", "tickvals": ratios, "ticktext": [f"{r:g}" for r in ratios]},
                subplot=2)
    layout = merged(layout, {"margin": {"l": 230, "t": 110}})
    update_annotations(layout, {"font": {"size": 12.5}})
    return figure_of(data, layout)


def _estimate_cell(row: pd.Series | None, odds: bool) -> html.Cell:
    if row is None:
        return "–"
    if _is_reference(row["note"]):
        return "reference"
    if is_missing(row["estimate"]):
        return None

    def show(v: object) -> str:
        return fmt(math.exp(float(v)), 2) if odds else fmt(v, 3)  # type: ignore[arg-type]

    interval = "" if is_missing(row["ci_low"]) else f"{show(row['ci_low'])} to {show(row['ci_high'])}"
    return (show(row["estimate"]), interval)


def coefficients_table(coefficients: pd.DataFrame, threshold: int) -> str:
    """Every term of both models: the linear model's estimate and the responder model's odds ratio with 95%
    intervals ("reference" for reference levels; suppressed where the level rests on too few patients)."""
    order = term_order(coefficients)
    pain = _model_rows(coefficients, PAIN_MODEL)
    responder = _model_rows(coefficients, RESPONDER_MODEL)
    rows = [[term_label(t),
             _estimate_cell(pain.loc[t] if t in pain.index else None, odds=False),
             _estimate_cell(responder.loc[t] if t in responder.index else None, odds=True)] for t in order]
    headers = ["Term", "Sustained change model: points (95% CI)", "Responder model: odds ratio (95% CI)"]
    return html.table(rows, headers, threshold, numeric=(1, 2), table_id="coefficients-table")


def model_summary(coefficients: pd.DataFrame) -> list[str]:
    """One sentence per fitted model: episodes, method and (linear model) R² and residual SD. The notes of the
    coefficient table are never quoted: the reason for a penalised fit can name a suppressed level."""
    out = []
    for model, what in ((PAIN_MODEL, "Sustained pain change (linear)"), (RESPONDER_MODEL, "Responder (logistic)")):
        rows = coefficients[coefficients["model"] == model]
        if rows.empty:
            continue
        first = rows.sort_values("position").iloc[0]
        method = str(first["method"])
        parts = [f"{what}: {fmt(first['n_obs'], 0)} pain-evaluable episodes, {METHOD_WORDS.get(method, method)}"]
        if not is_missing(first["r_squared"]):
            parts.append(f"R² {fmt(first['r_squared'], 2)}")
        if not is_missing(first["residual_sd"]):
            parts.append(f"residual SD {fmt(first['residual_sd'], 2)} points")
        # the intercept's note is not published: it can name a level that rests on too few patients
        out.append("; ".join(parts) + ".")
    return out


def calibration_figure(calibration: pd.DataFrame, title: str, subtitle: str = "",
                       models: Sequence[str] = (PAIN_MODEL, RESPONDER_MODEL)) -> go.Figure | None:
    """Mean observed against mean expected outcome per decile of expected outcome, one panel per model, with
    the line of perfect calibration. None when no decile can be shown."""
    shown = rows_with(calibration, "mean_observed")
    if shown.empty:
        return None
    layout = subplot_layout(1, 2, horizontal_spacing=0.1,
                            subplot_titles=("Sustained pain change (points)", "Responders (share)"))
    data: list[dict] = []
    for col, model in enumerate(models, start=1):
        part = shown[shown["model"] == model].sort_values("decile")
        responder = model == RESPONDER_MODEL
        fmt_ = ".0%" if responder else ".2f"
        if not part.empty:
            values = [*part["mean_expected"].astype(float), *part["mean_observed"].astype(float)]
            low, high = (0.0, 1.0) if responder else (min(values) - 0.2, max(values) + 0.2)
            data.append({"type": "scatter", "x": [low, high], "y": [low, high], "mode": "lines", "hoverinfo": "skip",
                         "showlegend": False, "line": {"color": "#9aa5b1", "dash": "dash", "width": 1},
                         **axes_of(col)})
            data.append({
                "type": "scatter", "x": part["mean_expected"].astype(float).tolist(),
                "y": part["mean_observed"].astype(float).tolist(), "mode": "markers+text",
                "text": [str(int(d)) for d in part["decile"]], "textposition": "top left",
                "textfont": {"size": 10, "color": "#5b6775"}, "showlegend": False,
                "marker": {"size": 10, "color": WARN if responder else ACCENT, "line": {"width": 1, "color": "#fff"}},
                "customdata": [[int(d), int(n)] for d, n in zip(part["decile"], part["n"], strict=True)],
                "hovertemplate": (f"<b>Decile %{{customdata[0]}}</b> (n = %{{customdata[1]:,}} episodes)<br>expected "
                                  f"%{{x:{fmt_}}}, observed %{{y:{fmt_}}}<extra></extra>"),
                **axes_of(col),
            })
            if responder:
                update_axes(layout, "x", {"range": [0, 1], "tickformat": ".0%"}, subplot=col)
                update_axes(layout, "y", {"range": [0, 1], "tickformat": ".0%"}, subplot=col)
        update_axes(layout, "x", {"title": {"text": "mean expected (model)"}}, subplot=col)
        update_axes(layout, "y", {"title": {"text": "mean observed"}}, subplot=col)
    layout = styled_layout(layout, title, height=460, subtitle=subtitle)
    layout = merged(layout, {"margin": {"t": 110}})
    update_annotations(layout, {"font": {"size": 12.5}})
    return figure_of(data, layout)
