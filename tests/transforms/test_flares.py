"""Post-treatment flares (metrics.md section 14): the 2-point threshold, per-technique counting and the rows."""

from __future__ import annotations

import pytest
from statsmodels.stats.proportion import proportion_confint


def visits(*specs: tuple[float | None, float | None, str | None]) -> tuple[list, list[dict]]:
    """(pain_pre, pain_post, techniques) per session."""
    return [(pre, post) for pre, post, _t in specs], [{"techniques": t} for _pre, _post, t in specs]


def flare_flags(wh) -> dict[str, tuple[int, int]]:
    return {r["episode_key"]: (r["n_sessions_scored"], r["n_flares"])
            for r in wh.table("intermediate.episode_flares") if r["technique"] == "all"}


def test_a_flare_at_exactly_two_points(wh, rows) -> None:
    cases = {
        "two": (3.0, 5.0),  # exactly 2 points worse: a flare
        "two_fp": (3.1, 5.1),  # 5.1 - 3.1 = 1.9999999999999996 in binary: still exactly 2, a flare
        "short": (3.0, 4.9),  # 1.9 points: not a flare
        "better": (6.0, 3.0),  # pain fell: not a flare
        "unscored": (3.0, None),  # no post score: not scored
    }
    for key, (pre, post) in cases.items():
        pains, sessions = visits((pre, post, "swedish"))
        wh.load(rows.episode(key, pains, sessions=sessions))
    wh.build()
    assert flare_flags(wh) == {"two": (1, 1), "two_fp": (1, 1), "short": (1, 0), "better": (1, 0),
                               "unscored": (0, 0)}


def test_the_flare_threshold_is_a_setting(wh, rows) -> None:
    wh.settings = wh.settings.with_overrides(flare_min_points="3")
    pains, sessions = visits((3.0, 5.0, None), (2.0, 5.0, None))
    wh.load(rows.episode("e", pains, sessions=sessions))
    wh.build()
    assert flare_flags(wh) == {"e": (2, 1)}


def test_flare_rows_per_group_and_technique(wh, rows) -> None:
    lbp, neck, sci = ({"condition_group": g} for g in ("low_back_pain", "neck_pain", "sciatica"))
    p1 = visits((3, 6, "trigger_point;deep_tissue"), (4, 4, " trigger_point ;trigger_point"), (5, 4, None),
                (5, None, "cupping"))
    p2 = visits((2, 5, "deep_tissue"), (6, 5, "swedish"))
    p3 = visits((5, 7, "swedish"), (5, 5, "swedish"))
    p4 = visits((None, 3, "cupping"), (4, None, "cupping"))  # nothing scored
    wh.load([
        *rows.episode("a", p1[0], sessions=p1[1], patient_id="P1", **lbp),
        *rows.episode("b", p2[0], sessions=p2[1], patient_id="P1", **lbp),
        *rows.episode("c", p3[0], sessions=p3[1], patient_id="P2", **neck),
        *rows.episode("d", p4[0], sessions=p4[1], patient_id="P3", **sci),
    ])
    wh.build()
    got = {(r["condition_group"], r["technique"]): r for r in wh.table("marts.flares")}
    #                                          (scored, flares, patients)
    expected = {
        ("low_back_pain", "all"): (5, 2, 1),
        ("low_back_pain", "trigger_point"): (2, 1, 1),  # listed twice at one session: counted once
        ("low_back_pain", "deep_tissue"): (2, 2, 1),
        ("low_back_pain", "swedish"): (1, 0, 1),
        ("neck_pain", "all"): (2, 1, 1),
        ("neck_pain", "swedish"): (2, 1, 1),
        ("sciatica", "all"): (0, 0, 0),  # a group of the warehouse with nothing scored
        ("all", "all"): (7, 3, 2),
        ("all", "trigger_point"): (2, 1, 1),
        ("all", "deep_tissue"): (2, 2, 1),
        ("all", "swedish"): (3, 1, 2),
    }
    # cupping is listed only at unscored sessions: no row
    assert set(got) == set(expected)
    for key, (scored, flares, patients) in expected.items():
        row = got[key]
        assert (row["n_sessions_scored"], row["n_flares"], row["n_patients"]) == (scored, flares, patients), key
        if scored == 0:
            assert (row["flare_rate"], row["flare_ci_low"], row["flare_ci_high"]) == (None, None, None)
            continue
        assert row["flare_rate"] == pytest.approx(flares / scored, rel=1e-15), key
        if scored >= 2:
            low, high = proportion_confint(flares, scored, method="wilson")
            assert row["flare_ci_low"] == pytest.approx(low, abs=1e-12), key
            assert row["flare_ci_high"] == pytest.approx(high, abs=1e-12), key


def test_nothing_scored_anywhere(wh, rows) -> None:
    pains, sessions = visits((5, None, "swedish"))
    wh.load(rows.episode("e", pains, sessions=sessions))
    wh.build()
    assert {(r["condition_group"], r["technique"], r["n_sessions_scored"], r["flare_rate"])
            for r in wh.table("marts.flares")} == {("low_back_pain", "all", 0, None), ("all", "all", 0, None)}


def test_empty_warehouse_has_no_rows(wh) -> None:
    wh.build()
    assert wh.table("marts.flares") == [] and wh.table("intermediate.episode_flares") == []
