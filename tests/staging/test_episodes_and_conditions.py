"""Condition mapping and episode derivation on hand-made cases (no Dagster, no GX)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from transforms.config import load_settings
from transforms.loading import ensure_schema
from transforms.staging import build_staging, condition_groups_of, normalise_codes


@pytest.mark.parametrize(
    ("code", "normalised", "group"),
    [
        ("M797", "M79.7", "fibromyalgia"),
        ("m79.7", "M79.7", "fibromyalgia"),
        ("M79.11", "M79.11", "myofascial_pain"),
        ("M54.50", "M54.50", "low_back_pain"),
        ("M5450", "M54.50", "low_back_pain"),
        ("M54.42", "M54.42", "sciatica"),
        ("M54.2", "M54.2", "neck_pain"),
        ("G43.909", "G43.909", "migraine"),
        ("G44.209", "G44.209", "tension_headache"),
        ("G44.1", "G44.1", "other"),
        ("M75.01", "M75.01", "frozen_shoulder"),
        ("M75.21", "M75.21", "other"),
        ("S13.4XXA", "S13.4XXA", "whiplash"),
        ("S16.1XXA", "S16.1XXA", "sprain_strain"),
        ("S39.012A", "S39.012A", "sprain_strain"),
        ("M17", "M17", "knee_osteoarthritis"),
        ("Z47.1", "Z47.1", "post_surgical"),
        ("L90.5", "L90.5", "post_surgical"),
        ("L90.4", "L90.4", "other"),
        ("R52", "R52", "other"),
    ],
)
def test_condition_codes(code: str, normalised: str, group: str) -> None:
    """The production macro and model (not a Python mirror) normalise and group each code."""
    assert normalise_codes([code]) == [normalised]
    assert condition_groups_of([normalised]) == {normalised: group}


def test_longest_prefix_wins_over_a_shorter_one() -> None:
    """M54.5 (low back) must beat a hypothetical shorter M54 match; M54.4 is sciatica, not neck (M54.2)."""
    assert condition_groups_of(["M54.59", "M54.41"]) == {"M54.59": "low_back_pain", "M54.41": "sciatica"}


COLUMNS = (
    "export, row_number, session_id, clinic_id, patient_id, episode_id, therapist_id, session_date, visit_type, "
    "condition_code, referral_source, payer_type, cpt_code, units, duration_min, techniques, pain_pre, pain_post, "
    "function_instrument, function_score, age_band, sex, symptom_weeks, goals_documented"
)


def _stage(rows: list[dict], gap: int = 90) -> list[tuple]:
    con = duckdb.connect()
    ensure_schema(con)
    con.execute("INSERT INTO ops.exports VALUES ('e1', 1, 'x', now(), now())")
    for i, r in enumerate(rows):
        con.execute(
            f"INSERT INTO raw.sessions ({COLUMNS}) VALUES ('e1', ?, ?, ?, ?, ?, 'T1', ?, ?, ?, NULL, 'commercial', "
            "'97124', 2, 30, NULL, 5, 4, NULL, NULL, '40-49', 'F', NULL, NULL)",
            [i + 1, r["id"], r.get("clinic", "C1"), r.get("patient", "P1"), r.get("episode"), r["date"],
             r.get("visit", "treatment"), r.get("code", "M54.50")],
        )
    build_staging(con, load_settings(environ={}, episode_gap_days=gap))
    return con.execute(
        "SELECT session_id, episode_key, session_number, condition_group FROM staging.sessions ORDER BY session_id"
    ).fetchall()


def _episodes(staged: list[tuple]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for sid, key, _, _ in staged:
        groups.setdefault(key, []).append(sid)
    return sorted(groups.values())


D0 = date(2026, 1, 1)


def test_gap_of_90_days_continues_and_91_starts_a_new_episode() -> None:
    staged = _stage([
        {"id": "A1", "date": D0}, {"id": "A2", "date": D0 + timedelta(days=90)},
        {"id": "A3", "date": D0 + timedelta(days=181)},
    ])
    assert _episodes(staged) == [["A1", "A2"], ["A3"]]
    assert [s[2] for s in staged] == [1, 2, 1]


def test_gap_setting_is_used() -> None:
    staged = _stage([{"id": "A1", "date": D0}, {"id": "A2", "date": D0 + timedelta(days=31)}], gap=30)
    assert _episodes(staged) == [["A1"], ["A2"]]


def test_discharge_ends_the_episode() -> None:
    staged = _stage([
        {"id": "A1", "date": D0, "visit": "evaluation"}, {"id": "A2", "date": D0 + timedelta(days=7), "visit": "discharge"},
        {"id": "A3", "date": D0 + timedelta(days=14)}, {"id": "A4", "date": D0 + timedelta(days=21)},
    ])
    assert _episodes(staged) == [["A1", "A2"], ["A3", "A4"]]


def test_patients_and_condition_groups_get_separate_episodes() -> None:
    staged = _stage([
        {"id": "A1", "date": D0}, {"id": "A2", "date": D0, "code": "M54.2"},
        {"id": "A3", "date": D0, "patient": "P2"}, {"id": "A4", "date": D0, "clinic": "C2"},
        {"id": "A5", "date": D0 + timedelta(days=1), "code": "M54.59"},
    ])
    assert _episodes(staged) == [["A1", "A5"], ["A2"], ["A3"], ["A4"]]


def test_session_order_is_date_then_session_id() -> None:
    staged = _stage([
        {"id": "B", "date": D0 + timedelta(days=1)}, {"id": "C", "date": D0}, {"id": "A", "date": D0 + timedelta(days=1)},
    ])
    assert [(s[0], s[2]) for s in staged] == [("A", 2), ("B", 3), ("C", 1)]


def test_given_episode_ids_are_used_as_is() -> None:
    staged = _stage([
        {"id": "A1", "date": D0, "episode": "E1"},
        {"id": "A2", "date": D0 + timedelta(days=200), "episode": "E1"},  # no gap rule for given episodes
        {"id": "A3", "date": D0 + timedelta(days=1), "episode": "E2", "code": "M54.2"},
        {"id": "A4", "date": D0 + timedelta(days=2), "episode": "E1", "patient": "P2"},
    ])
    assert _episodes(staged) == [["A1", "A2", "A4"], ["A3"]]


def test_episode_keys_are_stable_and_pseudonymous() -> None:
    rows = [{"id": "A1", "date": D0}, {"id": "A2", "date": D0 + timedelta(days=100)}, {"id": "E", "date": D0, "episode": "X"}]
    first, second = _stage(rows), _stage(list(reversed(rows)))
    assert first == second
    for _, key, _, _ in first:
        assert key.startswith("ep_") and len(key) == 19 and "P1" not in key and "X" not in key
