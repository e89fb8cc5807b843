"""Suppression of the research panels (dashboards/publication.py): small cells hidden, and complementary
suppression along every line whose total is shown, on hand-made frames."""

from __future__ import annotations

import pandas as pd

from dashboards.publication import (
    EpisodeCells,
    hidden_column,
    publish_calibration,
    publish_coefficients,
    publish_flares,
    publish_follow_up,
    publish_responders,
    publish_sensitivity,
    publish_techniques,
)
from dashboards.suppression import ALL, check_lines, frame_keys, margin_lines

K = 11


def cells(counts_hidden: set = frozenset(), pain_hidden: set = frozenset(), pain_total: float = 100.0) -> EpisodeCells:
    """An episode cube that knows only what a test needs: unknown cells count as hidden, so every key a test
    publishes is listed with a large support, and the hidden sets are given."""
    keys = [(c, ALL, ALL, g) for c in (ALL, "C1", "C2") for g in (ALL, "a", "b", "c")]
    keys += [("C1", "T1", ALL, ALL), ("C1", "T2", ALL, ALL), ("C1", "T9", ALL, ALL)]
    support = {f: {k: 100.0 for k in keys} for f in ("counts", "pain", "relief")}
    support["pain"][(ALL, ALL, ALL, ALL)] = pain_total
    hidden = {"counts": frozenset(counts_hidden), "pain": frozenset(pain_hidden), "relief": frozenset()}
    return EpisodeCells(K, support, hidden)


def follow_up() -> pd.DataFrame:
    """Conditions a, b, c resting on 3, 20 and 40 patients with ended episodes; clinics C1 and C2; and the
    (condition, clinic) rows that are never published."""
    rows = [
        ("a", ALL, 25, 20, 3), ("b", ALL, 30, 25, 20), ("c", ALL, 50, 45, 40), (ALL, ALL, 105, 90, 63),
        (ALL, "C1", 60, 55, 50), (ALL, "C2", 45, 35, 13), ("a", "C1", 10, 9, 2), ("c", "C2", 5, 5, 1),
    ]
    frame = pd.DataFrame(rows, columns=["condition_group", "clinic_id", "n_episodes", "n_patients", "n_patients_ended"])
    frame["n_discharged"] = frame["n_episodes"] // 2
    frame["n_active"] = frame["n_episodes"] // 5
    frame["n_lost"] = frame["n_episodes"] - frame["n_discharged"] - frame["n_active"]
    frame["n_ended"] = frame["n_discharged"] + frame["n_lost"]
    frame["lost_rate"] = frame["n_lost"] / frame["n_ended"]
    frame["lost_ci_low"] = frame["lost_rate"] - 0.1
    frame["lost_ci_high"] = frame["lost_rate"] + 0.1
    return frame


def _hidden(frame: pd.DataFrame, column: str, keys: tuple[str, ...] = ("condition_group", "clinic_id")) -> set:
    return {k for k, h in zip(frame_keys(frame, list(keys)), frame[column], strict=True) if h}


def test_follow_up_small_condition_and_its_complement_are_hidden() -> None:
    out = publish_follow_up(follow_up(), cells())
    assert len(out) == 6  # the (condition, clinic) rows are not published
    # a rests on 3 patients with ended episodes; the conditions add up to the total, so b goes with it
    assert _hidden(out, hidden_column("lost")) == {("a", ALL), ("b", ALL)}
    # the shares would give the lost rate back (lost / (discharged + lost)): hidden with it
    assert _hidden(out, hidden_column("status")) == {("a", ALL), ("b", ALL)}
    a = out[out["condition_group"] == "a"].iloc[0]
    assert a["lost_rate"] is None and a["n_lost"] is None and a["n_discharged"] is None and a["n_ended"] is None
    c = out[out["condition_group"] == "c"].iloc[0]
    assert c["lost_rate"] == follow_up().iloc[2]["lost_rate"] and c["n_episodes"] == 50
    support = dict(zip(frame_keys(out, ["condition_group", "clinic_id"]), follow_up()["n_patients_ended"].iloc[:6],
                       strict=True))
    assert check_lines(support, margin_lines(support), _hidden(out, hidden_column("lost")), K) == []


def test_follow_up_status_follows_the_episode_cube_and_is_complemented() -> None:
    # the cube hides clinic C2's counts (say, to protect a small therapist): its shares go, and C1's with them,
    # since the clinics add up to the shown network total; C2's lost rate rests on 13 ended patients and stays
    out = publish_follow_up(follow_up(), cells(counts_hidden={("C2", ALL, ALL, ALL)}))
    assert _hidden(out, hidden_column("status")) == {("a", ALL), ("b", ALL), (ALL, "C2"), (ALL, "C1")}
    c2 = out[out["clinic_id"] == "C2"].iloc[0]
    assert c2["n_episodes"] is None and c2["lost_rate"] is not None


def test_follow_up_small_total_hides_everything() -> None:
    frame = follow_up()
    frame["n_patients_ended"] = [3, 2, 4, 9, 5, 4, 1, 1]
    out = publish_follow_up(frame, cells())
    assert out[hidden_column("lost")].all() and out[hidden_column("status")].all()


def test_sensitivity_rows_rest_on_their_evaluable_patients() -> None:
    frame = pd.DataFrame({"condition_group": ["a", "b", "c", ALL], "n_patients_evaluable": [3, 11, 40, 54],
                          "complete_case_rate": [0.5, 0.4, 0.3, 0.35], "worst_case_rate": [0.4, 0.3, 0.2, 0.25],
                          "best_case_rate": [0.6, 0.5, 0.4, 0.45], "ipw_rate": [0.5, 0.41, 0.31, 0.36]})
    out = publish_sensitivity(frame, K)
    assert out["hidden"].tolist() == [True, True, False, False]  # 3 is small; 11 is its complement
    assert out.loc[0, "complete_case_rate"] is None and out.loc[1, "worst_case_rate"] is None
    assert out.loc[1, "ipw_rate"] is None and out.loc[2, "ipw_rate"] == 0.31 and out.loc[3, "best_case_rate"] == 0.45
    assert publish_sensitivity(frame.assign(n_patients_evaluable=[3, 4, 2, 9]), K)["hidden"].all()


def test_techniques_are_complemented_along_the_conditions_only() -> None:
    frame = pd.DataFrame({
        "condition_group": [ALL, "a", "b", ALL, "a", "b"], "technique": ["t", "t", "t", "u", "u", "u"],
        "n_patients_pain_evaluable": [35, 5, 30, 50, 25, 25], "responder_rate": [0.4, 0.2, 0.43, 0.5, 0.48, 0.52],
        "mean_pain_change": [1.5, 1.0, 1.6, 2.0, 1.9, 2.1],
    })
    out = publish_techniques(frame, K)
    hidden = _hidden(out, "hidden", ("condition_group", "technique"))
    # (a, t) rests on 5 patients; the conditions of t add up to (all, t), so (b, t) is hidden too. An episode can
    # have several primary techniques, so the techniques of a condition are no line: (a, u) stays shown
    assert hidden == {("a", "t"), ("b", "t")}
    assert out.loc[1, "mean_pain_change"] is None and out.loc[4, "mean_pain_change"] == 1.9


def flares() -> pd.DataFrame:
    return pd.DataFrame({
        "condition_group": ["a", "a", "a", "b", "b", "b", ALL, ALL, ALL],
        "technique": [ALL, "t1", "t2"] * 3,
        "n_patients": [40, 5, 38, 30, 20, 28, 70, 25, 66],
        "n_sessions_scored": [400, 30, 380, 300, 200, 280, 700, 230, 660],
        "flare_rate": [0.05, 0.1, 0.04, 0.06, 0.07, 0.05, 0.055, 0.075, 0.045],
    })


def test_flare_techniques_are_not_a_line_but_the_conditions_are() -> None:
    out = publish_flares(flares(), K)
    hidden = _hidden(out, "hidden", ("condition_group", "technique"))
    # (a, t1) is small; (b, t1) is its complement in the t1 column; (a, t2) is not touched: a visit lists several
    # techniques (or none), so t1 + t2 is not a's total
    assert hidden == {("a", "t1"), ("b", "t1")}
    assert out.loc[1, "flare_rate"] is None and out.loc[1, "n_sessions_scored"] is None
    assert out.loc[2, "flare_rate"] == 0.04


def test_a_hidden_condition_total_hides_its_techniques() -> None:
    frame = flares()
    frame.loc[0:2, "n_patients"] = [4, 2, 4]  # condition a is small: b is hidden with it, and b's techniques too
    out = publish_flares(frame, K)
    hidden = _hidden(out, "hidden", ("condition_group", "technique"))
    assert {("a", ALL), ("b", ALL), ("b", "t1"), ("b", "t2")} <= hidden
    assert (ALL, ALL) not in hidden


def coefficient_rows() -> pd.DataFrame:
    terms = [("intercept", None), ("baseline_pain", None), ("log1p_weeks", None), ("symptom_weeks_missing", None),
             ("age_band=90+", None), ("sex=M", None), ("payer_type=self_pay", None),
             ("age_band=40-49", "reference level"), ("sex=F", "reference level")]
    return pd.DataFrame([{"model": "pain_change", "position": i, "term": t, "estimate": 0.0 if n else 0.1 * i,
                          "std_error": None if n else 0.05, "ci_low": None if n else 0.1 * i - 0.1,
                          "ci_high": None if n else 0.1 * i + 0.1, "note": n}
                         for i, (t, n) in enumerate(terms, start=1)])


def level_support(total: int = 54) -> pd.DataFrame:
    rows = [("age_band", "40-49", 50), ("age_band", "90+", 4), ("sex", "F", 30), ("sex", "M", 24),
            ("symptom_weeks_missing", "1", 6), ("symptom_weeks_missing", "0", 48), (ALL, ALL, total)]
    return pd.DataFrame(rows, columns=["covariate", "level", "patients"])


def test_coefficients_of_rare_levels_are_hidden() -> None:
    out = publish_coefficients(coefficient_rows(), level_support(), K)
    hidden = dict(zip(out["term"], out["hidden"], strict=True))
    # 90+ rests on 4 patients, the missing-weeks indicator on 6; self-pay is not among the patients: unknown, hidden
    assert {t for t, h in hidden.items() if h} == {"age_band=90+", "symptom_weeks_missing", "payer_type=self_pay"}
    row = out.set_index("term").loc["age_band=90+"]
    assert row["estimate"] is None and row["ci_low"] is None and row["ci_high"] is None
    assert out.set_index("term").loc["sex=M", "estimate"] == coefficient_rows().set_index("term").loc["sex=M", "estimate"]


def test_coefficients_of_a_model_on_too_few_patients_are_all_hidden() -> None:
    out = publish_coefficients(coefficient_rows(), level_support(total=9), K)
    assert out["hidden"].all() and out["estimate"].isna().all()


def calibration() -> pd.DataFrame:
    return pd.DataFrame({"model": ["pain_change"] * 5, "decile": [1, 2, 3, 4, 5], "n": [12, 12, 8, 14, 14],
                         "mean_expected": [1.0, 1.5, 2.0, 2.5, 3.0], "mean_observed": [1.1, 1.4, 2.2, 2.4, 3.1],
                         "n_patients": [12, 12, 8, 14, 14]})


def test_a_small_decile_and_its_complement_are_hidden() -> None:
    out = publish_calibration(calibration(), cells(pain_total=60))
    # the deciles add up to all pain-evaluable episodes, whose mean change is published: a second decile goes
    assert out["hidden"].tolist() == [True, False, True, False, False]
    assert out.loc[2, "mean_observed"] is None and out.loc[0, "mean_expected"] is None
    hidden_total = publish_calibration(calibration(), cells(pain_total=60, pain_hidden={(ALL, ALL, ALL, ALL)}))
    assert hidden_total["hidden"].all()


def test_responders_follow_the_pain_decision_of_their_unit() -> None:
    units = pd.DataFrame({"level": ["clinic", "therapist", "therapist", "therapist"],
                          "unit_id": ["C1", "T1", "T2", "T9"], "clinic_id": ["C1"] * 4, "n": [60, 25, 30, 5],
                          "n_patients": [60, 25, 30, 5], "observed_rate": [0.4, 0.44, 0.4, 0.2],
                          "expected_rate": [0.4] * 4, "o_minus_e": [0.0, 0.04, 0.0, -0.2], "o_to_e": [1, 1.1, 1, 0.5],
                          "ci_low": [-0.1, -0.15, -0.17, -0.6], "ci_high": [0.1, 0.23, 0.17, 0.2]})
    out = publish_responders(units, cells(pain_hidden={("C1", "T9", ALL, ALL), ("C1", "T1", ALL, ALL)}))
    assert out[hidden_column("pain")].tolist() == [False, True, False, True]
    for column in ("observed_rate", "expected_rate", "o_minus_e", "o_to_e", "ci_low", "ci_high", "n"):
        assert out.loc[3, column] is None and out.loc[1, column] is None, column
    assert out.loc[2, "observed_rate"] == 0.4
