"""Every row rule of the contract: a tiny export breaking it lands in quarantine with that rule."""

from __future__ import annotations

import duckdb
import pytest

from expectations.rules import rom_rules, session_rules
from tests.conftest import rom, sessions_series, write_export

# (file, column, rule) -> (field overrides of one bad row, the offending value as stored)
SESSION_CASES = {
    ("session_id", "missing_required_value"): ({"session_id": ""}, None),
    ("clinic_id", "missing_required_value"): ({"clinic_id": ""}, None),
    ("patient_id", "missing_required_value"): ({"patient_id": "  "}, None),
    ("therapist_id", "missing_required_value"): ({"therapist_id": ""}, None),
    ("session_date", "missing_required_value"): ({"session_date": ""}, None),
    ("visit_type", "missing_required_value"): ({"visit_type": ""}, None),
    ("condition_code", "missing_required_value"): ({"condition_code": ""}, None),
    ("payer_type", "missing_required_value"): ({"payer_type": ""}, None),
    ("cpt_code", "missing_required_value"): ({"cpt_code": ""}, None),
    ("units", "missing_required_value"): ({"units": ""}, None),
    ("duration_min", "missing_required_value"): ({"duration_min": ""}, None),
    ("age_band", "missing_required_value"): ({"age_band": ""}, None),
    ("sex", "missing_required_value"): ({"sex": ""}, None),
    ("session_date", "not_a_date"): ({"session_date": "2026-02-30"}, "2026-02-30"),
    ("session_date", "in_the_future"): ({"session_date": "2099-01-01"}, "2099-01-01"),
    ("session_date", "before_2000"): ({"session_date": "1999-12-31"}, "1999-12-31"),
    ("visit_type", "not_in_vocabulary"): ({"visit_type": "Treatment"}, "Treatment"),
    ("condition_code", "malformed_code"): ({"condition_code": "5M4.50"}, "5M4.50"),
    ("referral_source", "not_in_vocabulary"): ({"referral_source": "friend"}, "friend"),
    ("payer_type", "not_in_vocabulary"): ({"payer_type": "cash"}, "cash"),
    ("cpt_code", "wrong_length"): ({"cpt_code": "9712"}, "9712"),
    ("units", "not_an_integer"): ({"units": "1.5"}, "1.5"),
    ("units", "out_of_range"): ({"units": "-1"}, "-1"),
    ("duration_min", "not_an_integer"): ({"duration_min": "thirty"}, "thirty"),
    ("duration_min", "out_of_range"): ({"duration_min": "0"}, "0"),
    ("techniques", "not_in_vocabulary"): ({"techniques": "swedish;reiki"}, "swedish;reiki"),
    ("pain_pre", "not_a_number"): ({"pain_pre": "high"}, "high"),
    ("pain_pre", "out_of_range"): ({"pain_pre": "11"}, "11"),
    ("pain_post", "not_a_number"): ({"pain_post": "n/a"}, "n/a"),
    ("pain_post", "out_of_range"): ({"pain_post": "-0.5"}, "-0.5"),
    ("function_instrument", "not_in_vocabulary"): ({"function_instrument": "odi"}, "odi"),
    ("function_instrument", "instrument_missing"): ({"function_instrument": ""}, None),
    ("function_score", "not_a_number"): ({"function_score": "forty"}, "forty"),
    ("function_score", "out_of_range"): ({"function_instrument": "NDI", "function_score": "51"}, "51"),
    ("age_band", "not_in_vocabulary"): ({"age_band": "45"}, "45"),
    ("sex", "not_in_vocabulary"): ({"sex": "f"}, "f"),
    ("symptom_weeks", "not_a_number"): ({"symptom_weeks": "long"}, "long"),
    ("symptom_weeks", "out_of_range"): ({"symptom_weeks": "-2"}, "-2"),
    ("goals_documented", "not_in_vocabulary"): ({"goals_documented": "maybe"}, "maybe"),
    ("authorized_visits", "not_an_integer"): ({"authorized_visits": "12.5"}, "12.5"),
    ("authorized_visits", "out_of_range"): ({"authorized_visits": "0"}, "0"),
}
ROM_CASES = {
    ("session_id", "missing_required_value"): ({"session_id": ""}, None),
    ("clinic_id", "missing_required_value"): ({"clinic_id": ""}, None),
    ("joint", "missing_required_value"): ({"joint": ""}, None),
    ("movement", "missing_required_value"): ({"movement": ""}, None),
    ("side", "missing_required_value"): ({"side": ""}, None),
    ("timing", "missing_required_value"): ({"timing": ""}, None),
    ("value", "missing_required_value"): ({"value": ""}, None),
    ("joint", "not_in_vocabulary"): ({"joint": "neck"}, "neck"),
    ("movement", "not_in_vocabulary"): ({"movement": "twist"}, "twist"),
    ("movement", "invalid_for_joint"): ({"joint": "knee", "movement": "rotation"}, "rotation"),
    ("side", "not_in_vocabulary"): ({"side": "both"}, "both"),
    ("timing", "not_in_vocabulary"): ({"timing": "during"}, "during"),
    ("value", "not_a_number"): ({"value": "forty"}, "forty"),
    ("value", "out_of_range"): ({"value": "101"}, "101"),
    ("session_id", "session_not_in_export"): ({"session_id": "S99"}, "S99"),
}


def test_every_rule_has_a_case() -> None:
    """A new rule without a test case fails here instead of going untested."""
    assert {(r.column, r.rule) for r in session_rules()} - {("session_id", "duplicate_in_export")} == set(SESSION_CASES)
    assert {(r.column, r.rule) for r in rom_rules()} == set(ROM_CASES)


def _quarantine(settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(
            "SELECT file, row_number, rule, column_name, value FROM quarantine.rejected_rows ORDER BY ALL"
        ).fetchall()


@pytest.mark.parametrize(("column", "rule"), list(SESSION_CASES))
def test_session_rule_quarantines_the_row(settings, load, column: str, rule: str) -> None:
    overrides, value = SESSION_CASES[(column, rule)]
    rows = sessions_series(10)
    rows[4] = {**rows[4], **overrides}
    write_export(settings.inbox, "exp", rows)
    (outcome,) = load()
    assert outcome.status == "loaded", outcome.reason
    assert _quarantine(settings) == [("sessions", 5, rule, column, value)]
    assert outcome.rows_loaded == 9 and outcome.rows_quarantined == 1


@pytest.mark.parametrize(("column", "rule"), list(ROM_CASES))
def test_rom_rule_quarantines_the_row(settings, load, column: str, rule: str) -> None:
    overrides, value = ROM_CASES[(column, rule)]
    rom_rows = [rom(session_id=f"S{i + 1}") for i in range(10)]
    rom_rows[2] = {**rom_rows[2], **overrides}
    write_export(settings.inbox, "exp", sessions_series(10), rom_rows)
    (outcome,) = load()
    assert outcome.status == "loaded", outcome.reason
    assert _quarantine(settings) == [("rom", 3, rule, column, value)]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.rom").fetchall()[0][0] == 9


def test_clean_export_loads_everything(settings, load) -> None:
    write_export(settings.inbox, "exp", sessions_series(10), [rom(session_id=f"S{i + 1}") for i in range(10)])
    (outcome,) = load()
    assert (outcome.status, outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 20, 20, 0)
    assert _quarantine(settings) == []


def test_duplicate_session_id_quarantines_every_copy(settings, load) -> None:
    rows = sessions_series(10)
    rows[7] = {**rows[7], "session_id": "S2"}
    write_export(settings.inbox, "exp", rows)
    load()
    assert _quarantine(settings) == [
        ("sessions", 2, "duplicate_in_export", "session_id", "S2"),
        ("sessions", 8, "duplicate_in_export", "session_id", "S2"),
    ]


def test_same_session_id_in_two_clinics_is_not_a_duplicate(settings, load) -> None:
    rows = sessions_series(10)
    rows[7] = {**rows[7], "session_id": "S2", "clinic_id": "C2"}
    write_export(settings.inbox, "exp", rows)
    load()
    assert _quarantine(settings) == []


def test_a_row_breaking_several_rules_is_listed_once_per_rule(settings, load) -> None:
    rows = sessions_series(10)
    rows[0] = {**rows[0], "pain_pre": "12", "sex": "female", "units": ""}
    write_export(settings.inbox, "exp", rows)
    (outcome,) = load()
    assert outcome.rows_quarantined == 1
    assert _quarantine(settings) == [
        ("sessions", 1, "missing_required_value", "units", None),
        ("sessions", 1, "not_in_vocabulary", "sex", "female"),
        ("sessions", 1, "out_of_range", "pain_pre", "12"),
    ]


def test_rom_row_of_a_quarantined_session_is_quarantined(settings, load) -> None:
    rows = sessions_series(10)
    rows[0] = {**rows[0], "pain_pre": "12"}
    write_export(settings.inbox, "exp", rows, [rom(session_id="S1"), rom(session_id="S2")])
    load()
    assert ("rom", 1, "session_not_in_export", "session_id", "S1") in _quarantine(settings)


def test_boundaries_are_valid(settings, load) -> None:
    """Values exactly at the edges of the contract's ranges load."""
    rows = sessions_series(10)
    rows[0] = {**rows[0], "pain_pre": "0", "pain_post": "10", "duration_min": "240", "units": "0",
               "session_date": "2000-01-01", "condition_code": "m797", "symptom_weeks": "0"}
    rows[1] = {**rows[1], "duration_min": "1", "function_instrument": "HIT6", "function_score": "36",
               "goals_documented": "yes", "condition_code": "G43"}
    rows[2] = {**rows[2], "units": "3.0", "goals_documented": "0", "condition_code": "M54.5", "techniques": ""}
    write_export(settings.inbox, "exp", rows, [rom(session_id="S1", joint="tmj", movement="opening", value="70")])
    (outcome,) = load()
    assert _quarantine(settings) == [], outcome.reason
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        got = con.execute(
            "SELECT session_id, condition_code, units, goals_documented FROM staging.sessions "
            "WHERE session_id IN ('S1', 'S2', 'S3') ORDER BY session_id"
        ).fetchall()
    assert got == [("S1", "M79.7", 0, True), ("S2", "G43", 2, True), ("S3", "M54.5", 3, False)]
