"""Follow-up status (metrics.md section 12) on hand-made episodes, and marts.follow_up against hand counts and statsmodels."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from statsmodels.stats.proportion import proportion_confint

# Years in the past: were "today" the reference, every episode would be lost to follow-up.
END = date(2019, 6, 30)


def ending(rows, key: str, last: date, *, discharge: bool = False, **fields) -> list[dict]:
    """A two-visit episode whose last visit is on ``last`` (a discharge visit when asked)."""
    second = {"session_date": last, **({"visit_type": "discharge"} if discharge else {})}
    return rows.episode(key, [(6, 5), (4, 3)], sessions=[{"session_date": last - timedelta(days=14)}, second],
                        **fields)


@pytest.fixture
def statuses(wh, rows):
    wh.load([
        *ending(rows, "end", END),  # defines clinic C1's data end
        *ending(rows, "dis_old", END - timedelta(days=200), discharge=True),
        *ending(rows, "dis_now", END, discharge=True),
        *ending(rows, "day30", END - timedelta(days=30)),
        *ending(rows, "day31", END - timedelta(days=31)),
        # clinic C2 sends data two months later: its episodes are judged against its own end
        *ending(rows, "c2_end", END + timedelta(days=60), clinic_id="C2"),
        *ending(rows, "c2_day60", END, clinic_id="C2"),
    ])
    return wh


def test_each_status_against_the_clinics_data_end(statuses) -> None:
    statuses.build()
    got = {r["episode_key"]: r["status"] for r in statuses.table("marts.episode_outcomes")}
    assert got == {
        "end": "active",
        "dis_old": "discharged",
        "dis_now": "discharged",  # a discharge visit decides, however recent
        "day30": "active",  # exactly 30 days before the data end: still active
        "day31": "lost_to_follow_up",  # 31 days: lost
        "c2_end": "active",
        "c2_day60": "lost_to_follow_up",  # C1's data end would make it active: C2's own end decides
    }


def test_the_active_window_is_a_setting(statuses) -> None:
    statuses.settings = statuses.settings.with_overrides(follow_up_active_days=31)
    statuses.build()
    got = {r["episode_key"]: r["status"] for r in statuses.table("marts.episode_outcomes")}
    assert got["day31"] == "active" and got["c2_day60"] == "lost_to_follow_up"


def _wilson(x: int, n: int) -> tuple[float, float]:
    return proportion_confint(x, n, alpha=0.05, method="wilson")


def test_follow_up_table_rows_counts_and_rates(wh, rows) -> None:
    lbp, neck = {"condition_group": "low_back_pain"}, {"condition_group": "neck_pain"}
    wh.load([
        *ending(rows, "a1", END, patient_id="P1", **lbp),  # active
        *ending(rows, "a2", END - timedelta(days=40), discharge=True, patient_id="P1", **lbp),  # discharged
        *ending(rows, "a3", END - timedelta(days=40), patient_id="P2", **lbp),  # lost
        *ending(rows, "a4", END - timedelta(days=90), patient_id="P3", **lbp),  # lost
        *ending(rows, "a5", END - timedelta(days=50), patient_id="P4", **neck),  # lost
        # clinic C2: neck pain only, one active episode (no ended episode: no rate); same patient id as C1
        *ending(rows, "b1", END, patient_id="P1", clinic_id="C2", **neck),
    ])
    wh.build()
    got = {(r["condition_group"], r["clinic_id"]): r for r in wh.table("marts.follow_up")}
    #            (episodes, discharged, active, lost, patients)
    expected = {
        ("low_back_pain", "C1"): (4, 1, 1, 2, 3),
        ("neck_pain", "C1"): (1, 0, 0, 1, 1),
        ("neck_pain", "C2"): (1, 0, 1, 0, 1),
        ("low_back_pain", "all"): (4, 1, 1, 2, 3),
        ("neck_pain", "all"): (2, 0, 1, 1, 2),
        ("all", "C1"): (5, 1, 1, 3, 4),
        ("all", "C2"): (1, 0, 1, 0, 1),
        ("all", "all"): (6, 1, 2, 3, 5),  # P1 of C1 and P1 of C2 are two patients
    }
    assert set(got) == set(expected)
    for key, (n, discharged, active, lost, patients) in expected.items():
        row = got[key]
        assert (row["n_episodes"], row["n_discharged"], row["n_active"], row["n_lost"], row["n_patients"]) == (
            n, discharged, active, lost, patients), key
        ended = discharged + lost
        assert row["n_ended"] == ended
        if ended == 0:
            assert (row["lost_rate"], row["lost_ci_low"], row["lost_ci_high"]) == (None, None, None), key
            continue
        assert row["lost_rate"] == pytest.approx(lost / ended, rel=1e-12), key
        if ended >= 2:
            low, high = _wilson(lost, ended)
            assert row["lost_ci_low"] == pytest.approx(low, abs=1e-12), key
            assert row["lost_ci_high"] == pytest.approx(high, abs=1e-12), key
        else:
            assert row["lost_ci_low"] is None and row["lost_ci_high"] is None, key
    assert got[("all", "C1")]["data_end"] == END and got[("all", "C2")]["data_end"] == END
    assert got[("all", "all")]["data_end"] is None
    assert got[("low_back_pain", "C1")]["lost_rate"] == pytest.approx(2 / 3)


def test_no_episode_no_row(wh) -> None:
    wh.build()
    assert wh.table("marts.follow_up") == []
