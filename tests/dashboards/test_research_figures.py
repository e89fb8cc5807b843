"""The research panels' pure figure functions: published frames in, traces out (values, hidden rows absent, labels)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashboards import wording
from dashboards.case_mix import (
    calibration_figure,
    case_mix_words,
    coefficients_figure,
    coefficients_table,
    model_summary,
    term_label,
)
from dashboards.director import lost_card
from dashboards.flares import flare_figure
from dashboards.follow_up import follow_up_figure
from dashboards.publication import hidden_column
from dashboards.responder_funnel import proportion_limit, responder_funnel_figure
from dashboards.sensitivity import IPW_OFFSET, sensitivity_figure
from dashboards.suppression import ALL
from dashboards.techniques import technique_figure, technique_label
from transforms.config import load_settings
from transforms.intervals import z_value

# --- follow-up ------------------------------------------------------------------------------------------


def follow_up_frame() -> pd.DataFrame:
    """Published follow-up rows: neck pain's status and lost rate shown, migraine's hidden, sciatica's lost rate
    hidden but its shares shown, and a clinic row (not drawn on the condition chart)."""
    rows = [
        # group, clinic, episodes, discharged, active, lost, rate, low, high, ended, hidden status, hidden lost
        ("neck_pain", ALL, 20, 10, 4, 6, 0.375, 0.18, 0.61, 16, False, False),
        ("migraine", ALL, None, None, None, None, None, None, None, None, True, True),
        ("sciatica", ALL, 30, 12, 3, 15, None, None, None, None, False, True),
        (ALL, ALL, 60, 25, 9, 26, 0.5098, 0.38, 0.64, 51, False, False),
        (ALL, "C1", 60, 25, 9, 26, 0.5098, 0.38, 0.64, 51, False, False),
    ]
    frame = pd.DataFrame(rows, columns=["condition_group", "clinic_id", "n_episodes", "n_discharged", "n_active",
                                        "n_lost", "lost_rate", "lost_ci_low", "lost_ci_high", "n_ended",
                                        hidden_column("status"), hidden_column("lost")])
    return frame


def test_follow_up_status_shares_and_lost_rate() -> None:
    fig = follow_up_figure(follow_up_frame(), "t")
    bars = {t.name: t for t in fig.data if t.type == "bar"}
    assert list(bars) == ["discharged", "still active", "lost to follow-up"]
    discharged = dict(zip(bars["discharged"].y, bars["discharged"].x, strict=True))
    assert discharged == {"Neck pain": 0.5, "Sciatica": 0.4, "<b>All conditions</b>": 25 / 60}
    lost = dict(zip(bars["lost to follow-up"].y, bars["lost to follow-up"].x, strict=True))
    assert lost["Neck pain"] == 0.3 and lost["Sciatica"] == 0.5
    rate = next(t for t in fig.data if t.type == "scatter")
    assert list(rate.y) == ["Neck pain", "<b>All conditions</b>"]  # sciatica's rate is hidden, migraine absent
    assert list(rate.x) == [0.375, 0.5098]
    assert rate.error_x.array[0] == pytest.approx(0.61 - 0.375) and rate.error_x.arrayminus[0] == pytest.approx(0.375 - 0.18)
    assert "Migraine" not in str(fig.to_plotly_json())
    # reference order of the conditions (sciatica before neck pain), all conditions last; reversed for the axis
    assert list(fig.layout.yaxis.categoryarray) == ["<b>All conditions</b>", "Neck pain", "Sciatica"]


def test_follow_up_of_nothing_is_none() -> None:
    frame = follow_up_frame()
    frame[hidden_column("status")] = True
    frame[hidden_column("lost")] = True
    assert follow_up_figure(frame, "t") is None


# --- drop-out sensitivity ---------------------------------------------------------------------------------


def sensitivity_frame() -> pd.DataFrame:
    columns = ["condition_group", "n_eligible", "n_evaluable", "complete_case_rate", "complete_case_ci_low",
               "complete_case_ci_high", "worst_case_rate", "best_case_rate", "ipw_rate", "ipw_ci_low", "ipw_ci_high",
               "ipw_mean_change", "max_weight", "effective_n", "hidden"]
    rows = [
        ("neck_pain", 40, 30, 0.5, 0.33, 0.67, 0.375, 0.625, 0.52, 0.34, 0.70, 1.9, 1.4, 28.5, False),
        ("migraine", None, None, None, None, None, None, None, None, None, None, None, None, None, True),
        (ALL, 100, 80, 0.45, 0.35, 0.56, 0.36, 0.56, 0.46, 0.35, 0.57, 1.7, 1.6, 76.0, False),
    ]
    return pd.DataFrame(rows, columns=columns)


def test_sensitivity_draws_bounds_complete_case_and_ipw() -> None:
    fig = sensitivity_figure(sensitivity_frame(), "t")
    bracket, ends, complete, ipw = fig.data
    assert list(bracket.x) == [0.375, 0.625, None, 0.36, 0.56, None]
    assert list(bracket.y) == [0, 0, None, 1, 1, None]
    assert list(complete.x) == [0.5, 0.45] and list(complete.y) == [0, 1]
    assert list(ipw.x) == [0.52, 0.46] and list(ipw.y) == [IPW_OFFSET, 1 + IPW_OFFSET]
    assert ipw.error_x.array[0] == pytest.approx(0.18) and ipw.error_x.arrayminus[0] == pytest.approx(0.18)
    assert [c[2] for c in ends.customdata] == [10, 20, 10, 20]  # eligible without a final score, per end
    assert list(fig.layout.yaxis.ticktext) == ["Neck pain", "<b>All conditions</b>"]
    assert "Migraine" not in str(fig.to_plotly_json())
    assert {t.name for t in fig.data if t.showlegend is not False} >= {
        "complete case (the usual rate)", "inverse probability weighted (95% CI)"}


def test_sensitivity_of_hidden_rows_only_is_none() -> None:
    assert sensitivity_figure(sensitivity_frame().iloc[[1]], "t") is None


# --- techniques -------------------------------------------------------------------------------------------


def technique_frame() -> pd.DataFrame:
    columns = ["condition_group", "technique", "n_pain_evaluable", "responder_rate", "responder_ci_low",
               "responder_ci_high", "mean_pain_change", "mean_pain_change_ci_low", "mean_pain_change_ci_high",
               "adjusted_difference", "adjusted_ci_low", "adjusted_ci_high", "hidden"]
    rows = [
        (ALL, "trigger_point", 40, 0.5, 0.35, 0.65, 2.0, 1.5, 2.5, 0.25, -0.1, 0.6, False),
        (ALL, "myofascial_release", 60, 0.4, 0.28, 0.53, 1.6, 1.2, 2.0, -0.1, -0.4, 0.2, False),
        ("neck_pain", "trigger_point", 25, 0.6, 0.41, 0.77, 2.2, 1.6, 2.8, 0.3, -0.2, 0.8, False),
        ("neck_pain", "cupping", None, None, None, None, None, None, None, None, None, None, True),
        ("migraine", "trigger_point", None, None, None, None, None, None, None, None, None, None, True),
    ]
    return pd.DataFrame(rows, columns=columns)


def test_technique_forest_has_a_menu_of_conditions_with_shown_rows() -> None:
    fig = technique_figure(technique_frame(), {ALL: (0.45, 1.8), "neck_pain": (None, 2.0)}, "t",
                           "associations, not effects", responder_label="≥2 points and ≥30%")
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["All conditions", "Neck pain"]  # migraine: nothing to show
    visible = [t for t in fig.data if t.visible]
    assert len(visible) == 3  # three panels of the first condition
    assert list(visible[0].y) == ["Myofascial release (n = 60)", "Trigger point (n = 40)"]
    assert list(visible[0].x) == [0.4, 0.5] and list(visible[1].x) == [1.6, 2.0] and list(visible[2].x) == [-0.1, 0.25]
    assert visible[2].error_x.array[1] == pytest.approx(0.35)
    neck = [t for t, v in zip(fig.data, buttons[1].args[0]["visible"], strict=True) if v]
    assert list(neck[0].y) == ["Trigger point (n = 25)"] and "Cupping" not in str(fig.to_plotly_json())
    # dotted reference lines: the condition's own rate and mean where published; zero lines always
    first = {(s["xref"], s["x0"]) for s in fig.layout.shapes}
    assert first == {("x3", 0.0), ("x2", 0.0), ("x", 0.45), ("x2", 1.8)}
    assert {(s["xref"], s["x0"]) for s in buttons[1].args[1]["shapes"]} == {("x3", 0.0), ("x2", 0.0), ("x2", 2.0)}
    assert "associations, not effects" in fig.layout.title.subtitle.text
    assert [a.text for a in fig.layout.annotations][0] == "Responders (≥2 points and ≥30%)"


def test_technique_labels() -> None:
    assert technique_label("myofascial_release") == "Myofascial release" and technique_label("pnf") == "PNF stretching"


def test_technique_forest_of_hidden_rows_is_none() -> None:
    assert technique_figure(technique_frame().iloc[3:], {}, "t", "s", responder_label="x") is None


# --- flares -----------------------------------------------------------------------------------------------


def flare_frame() -> pd.DataFrame:
    columns = ["condition_group", "technique", "n_sessions_scored", "flare_rate", "flare_ci_low", "flare_ci_high",
               "hidden"]
    rows = [
        (ALL, ALL, 500, 0.06, 0.04, 0.085, False),
        (ALL, "deep_tissue", 200, 0.1, 0.066, 0.15, False),
        (ALL, "cupping", None, None, None, None, True),
        ("neck_pain", ALL, 120, 0.05, 0.023, 0.105, False),
    ]
    return pd.DataFrame(rows, columns=columns)


def test_flares_show_all_visits_first_and_as_reference() -> None:
    fig = flare_figure(flare_frame(), "t")
    first = fig.data[0]
    assert list(first.y) == ["<b>All visits</b> (500 visits)", "Deep tissue (200 visits)"]
    assert list(first.x) == [0.06, 0.1] and list(first.marker.symbol) == ["diamond", "square"]
    assert first.error_x.array[1] == pytest.approx(0.05)
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["All conditions", "Neck pain"]
    assert [s["x0"] for s in fig.layout.shapes] == [0.06]
    assert [s["x0"] for s in fig.layout.updatemenus[0].buttons[1].args[1]["shapes"]] == [0.05]
    assert "Cupping" not in str(fig.to_plotly_json())
    assert flare_figure(flare_frame().iloc[[2]], "t") is None


# --- case-mix models ----------------------------------------------------------------------------------------


def coefficient_frame() -> pd.DataFrame:
    """Both models; ``age_band=90+`` hidden (None), references with estimate 0."""
    rows = []
    for model, scale in (("pain_change", 1.0), ("responder", 0.5)):
        terms = [("intercept", 1.0, None), ("baseline_pain", 0.3, None), ("age_band=90+", None, None),
                 ("age_band=50-59", 0.2, None), ("sex=M", -0.1, None), ("age_band=40-49", 0.0, "reference level"),
                 ("sex=F", 0.0, "reference level")]
        for i, (term, est, note) in enumerate(terms, start=1):
            value = None if est is None else est * scale
            rows.append({"model": model, "position": i, "term": term, "estimate": value,
                         "std_error": None if value is None or note else 0.1,
                         "ci_low": None if value is None or note else value - 0.2,
                         "ci_high": None if value is None or note else value + 0.2, "n_obs": 120,
                         "r_squared": 0.25 if model == "pain_change" else None,
                         "residual_sd": 1.5 if model == "pain_change" else None,
                         "method": "ols" if model == "pain_change" else "logit_ridge",
                         "note": note if note else ("every episode of age_band=90+ has the same outcome"
                                                    if model == "responder" and term == "intercept" else None),
                         "hidden": est is None})
    return pd.DataFrame(rows)


def test_coefficients_hide_suppressed_levels_and_show_odds_ratios() -> None:
    fig = coefficients_figure(coefficient_frame(), "t")
    pain, responder = fig.data
    assert list(pain.y) == ["Baseline pain (per point)", "Age 40-49 (reference)", "Age 50-59", "Sex F (reference)",
                            "Sex M"]
    assert list(pain.x) == [0.3, 0.0, 0.2, 0.0, -0.1]
    assert list(pain.marker.symbol) == ["square", "circle-open", "square", "circle-open", "square"]
    assert responder.x[0] == pytest.approx(math.exp(0.15)) and responder.x[1] == 1.0
    assert responder.error_x.array[0] == pytest.approx(math.exp(0.35) - math.exp(0.15))
    assert "90+" not in str(fig.to_plotly_json()) and "Intercept" not in str(fig.to_plotly_json())
    assert fig.layout.xaxis2.type == "log"


def test_coefficients_table_marks_references_and_suppressed_levels() -> None:
    text = coefficients_table(coefficient_frame(), 11)
    assert text.count("reference") == 4 and text.count(">suppressed<") == 2
    assert "Age 90+" in text and "0.300" in text and f"{math.exp(0.15):.2f}" in text


def test_model_summary_never_quotes_the_notes() -> None:
    summary = model_summary(coefficient_frame())
    assert summary[0].startswith("Sustained pain change (linear): 120 pain-evaluable episodes, ordinary least squares")
    assert "R² 0.25" in summary[0] and "residual SD 1.50 points" in summary[0]
    assert "penalised (ridge)" in summary[1] and "90+" not in " ".join(summary)


def test_coefficients_of_references_only_are_none() -> None:
    frame = coefficient_frame()
    frame.loc[~frame["note"].eq("reference level"), "estimate"] = None
    assert coefficients_figure(frame, "t") is None


def test_case_mix_words_follow_the_model_terms() -> None:
    assert case_mix_words(coefficient_frame()) == "baseline pain, age band and sex"
    terms = [("intercept", None), ("baseline_pain", None), ("symptom_weeks_missing", None),
             ("payer_type=medicare", None), ("age_band=30-39", None), ("age_band=40-49", "reference level"),
             ("sex=F", "reference level"), ("payer_type=commercial", "reference level")]
    frame = pd.DataFrame([{"model": "pain_change", "position": i, "term": t, "note": n}
                          for i, (t, n) in enumerate(terms, start=1)])
    # sex has only its reference level: the model has no sex indicator (one sex recorded), so sex is not named
    assert case_mix_words(frame) == "baseline pain, whether symptom duration was recorded, payer type and age band"
    assert case_mix_words(frame.iloc[0:0]) == ""
    assert term_label("payer_type=workers_comp") == "Payer: Workers' comp"
    assert term_label("condition_group=tmj_disorder") == "Condition: TMJ disorder"


def test_calibration_draws_shown_deciles_against_the_diagonal() -> None:
    frame = pd.DataFrame({
        "model": ["pain_change"] * 3 + ["responder"] * 2, "decile": [1, 2, 3, 1, 2], "n": [12, 12, 11, 12, 12],
        "mean_expected": [1.0, 2.0, None, 0.2, 0.6], "mean_observed": [1.2, 1.8, None, 0.25, 0.5],
        "n_patients": [12, 12, None, 12, 12], "hidden": [False, False, True, False, False],
    })
    fig = calibration_figure(frame, "t")
    points = [t for t in fig.data if t.mode == "markers+text"]
    assert [list(t.x) for t in points] == [[1.0, 2.0], [0.2, 0.6]]
    assert [list(t.y) for t in points] == [[1.2, 1.8], [0.25, 0.5]]
    assert list(points[0].text) == ["1", "2"]
    diagonal = [t for t in fig.data if t.mode == "lines"]
    assert list(diagonal[1].x) == [0.0, 1.0] and list(diagonal[1].y) == [0.0, 1.0]
    assert calibration_figure(frame[frame["hidden"]], "t") is None


# --- director: lost card and responder funnel ------------------------------------------------------------


def test_lost_card_shows_rate_interval_and_ended_episodes() -> None:
    settings = load_settings(environ={})
    row = pd.Series({"lost_rate": 0.25, "lost_ci_low": 0.2, "lost_ci_high": 0.31, "n_ended": 400,
                     hidden_column("lost"): False})
    text = lost_card(row, settings)
    assert ">25%<" in text and "95% CI 20% to 31%; of 400 ended episodes" in text
    hidden = lost_card(pd.Series({**row.to_dict(), hidden_column("lost"): True, "lost_rate": None}), settings)
    assert "suppressed" in hidden and "25%" not in hidden
    assert "no episode has ended yet" in lost_card(pd.Series({**row.to_dict(), "lost_rate": None}), settings)


def responder_units() -> pd.DataFrame:
    return pd.DataFrame({
        "level": ["clinic", "clinic", "therapist", "therapist"], "unit_id": ["C1", "C2", "T1", "T9"],
        "clinic_id": ["C1", "C2", "C1", "C2"], "n": [100, 60, 40, None], "o_minus_e": [0.05, -0.02, 0.1, None],
        "observed_rate": [0.45, 0.38, 0.5, None], "expected_rate": [0.40, 0.40, 0.40, None],
        "o_to_e": [1.125, 0.95, 1.25, None], "ci_low": [-0.04, -0.14, -0.05, None],
        "ci_high": [0.14, 0.10, 0.25, None],
    })


def test_proportion_limits_narrow_with_n() -> None:
    z = z_value(0.95)
    assert proportion_limit(100, 0.4, z) == pytest.approx(z * math.sqrt(0.24 / 100))
    assert proportion_limit(400, 0.4, z) == pytest.approx(proportion_limit(100, 0.4, z) / 2)


def test_responder_funnel_points_limits_and_labels() -> None:
    fig = responder_funnel_figure(responder_units(), 0.4, "t", colours={"C1": "#123456", "C2": "#654321"})
    limits = [t for t in fig.data if t.mode == "lines"]
    assert len(limits) == 4
    n0 = limits[0].x[0]
    # drawn curves carry 4 significant digits (dashboards/funnel.py), computed from the drawn n
    assert n0 == float(f"{40 * 0.8:.4g}")
    assert limits[0].y[0] == float(f"{proportion_limit(n0, 0.4, z_value(0.998)):.4g}") == 0.2676
    assert limits[3].y[0] == -float(f"{proportion_limit(n0, 0.4, z_value(0.95)):.4g}")
    points = [t for t in fig.data if t.mode == "markers"]
    assert sorted(x for t in points for x in t.x) == [40.0, 60.0, 100.0]  # the hidden therapist is absent
    therapist = next(t for t in points if t.name == "therapists, Clinic C1")
    assert therapist.customdata[0][3:5] == [-0.05, 0.25] and "within chance" in therapist.customdata[0][6]
    clinic = next(t for t in points if t.name == "clinics")
    assert list(clinic.y) == [0.05, -0.02]
    labelled = responder_funnel_figure(responder_units(), 0.4, "t", label_points=True)
    assert sorted(s for t in labelled.data if t.mode == "markers+text" for s in t.text) == ["Clinic C1", "Clinic C2",
                                                                                          "T T1"]
    assert not [t for t in responder_funnel_figure(responder_units(), None, "t").data if t.mode == "lines"]
    assert responder_funnel_figure(responder_units().iloc[[3]], 0.4, "t") is None


# --- wording from the run's settings ----------------------------------------------------------------------


def test_new_wording_follows_the_settings() -> None:
    changed = load_settings(environ={}, ipw_max_weight=15, flare_min_points=3, follow_up_active_days=45)
    assert wording.ipw_cap(changed) == "capped at 15"
    assert "at least 3 points above" in wording.flare_rule(changed) and wording.flare_label(changed).startswith(
        "pain after ≥3 points")
    assert "within 45 days of its clinic's latest session" in wording.follow_up_rule(changed)
    assert wording.primary_technique_rule().startswith("listed at 50% or more")
