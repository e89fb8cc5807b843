"""Every row rule of the contract: a row breaking it lands in quarantine with that rule, and only that row.

One inbox, loaded once (one Great Expectations run): an export that breaks every rule exactly once,
each in its own row, and a few small exports for the cases that need their own (duplicates, a row
breaking several rules, the ROM row of a quarantined session, values exactly at the edges).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from expectations.rules import rom_rules, session_rules
from tests.conftest import rom, session, sessions_series, write_export
from transforms.config import load_settings
from transforms.exports import discover_exports
from transforms.loading import LoadOutcome, load_exports, new_run_id
from transforms.staging import build_staging
from transforms.warehouse import open_warehouse

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


def _without_profile_rules(rules: list) -> set[tuple[str, str]]:
    # unmapped_value needs a mapping profile: every column of it has its case in tests/profiles/test_mapping.py
    return {(r.column, r.rule) for r in rules if r.rule != "unmapped_value"}


def test_every_rule_has_a_case() -> None:
    """A new rule without a test case fails here instead of going untested."""
    assert _without_profile_rules(session_rules()) - {("session_id", "duplicate_in_export")} == set(SESSION_CASES)
    assert _without_profile_rules(rom_rules()) == set(ROM_CASES)


N_GOOD = 5  # good sessions S1..S5 (and their ROM rows) come first in the every-rule export


def _every_rule_export(inbox: Path) -> dict[tuple[str, str, str], int]:
    """Write the export breaking each rule once; returns (file, column, rule) -> the row that breaks it."""
    sessions = sessions_series(N_GOOD, clinic_id="CE")
    rom_rows = [rom(session_id=f"S{i + 1}", clinic_id="CE") for i in range(N_GOOD)]
    expected = {}
    for k, ((column, rule), (overrides, _value)) in enumerate(SESSION_CASES.items()):
        sessions.append(session(**{"session_id": f"B{k}", "clinic_id": "CE", **overrides}))
        expected[("sessions", column, rule)] = len(sessions)
    for (column, rule), (overrides, _value) in ROM_CASES.items():
        rom_rows.append(rom(**{"clinic_id": "CE", **overrides}))
        expected[("rom", column, rule)] = len(rom_rows)
    write_export(inbox, "every-rule", sessions, rom_rows)
    return expected


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory):
    """Load the whole inbox once; returns (outcomes by export, quarantine rows, warehouse, expected rows)."""
    root = tmp_path_factory.mktemp("rules")
    # The every-rule export breaks far more than 20% of its rows: let it load to see every rule's rows.
    settings = load_settings(environ={}, inbox=root / "inbox", warehouse=root / "w.duckdb", site=root / "site",
                             restricted=root / "restricted", reject_share=Decimal(1))
    inbox = settings.inbox
    expected = _every_rule_export(inbox)
    write_export(inbox, "clean", sessions_series(10, clinic_id="CC"),
                 [rom(session_id=f"S{i + 1}", clinic_id="CC") for i in range(10)])
    duplicates = sessions_series(10, clinic_id="CD")
    duplicates[7] = {**duplicates[7], "session_id": "S2"}
    duplicates[8] = {**duplicates[8], "session_id": "S4", "clinic_id": "CD2"}  # another clinic: not a duplicate
    write_export(inbox, "duplicates", duplicates)
    several = sessions_series(10, clinic_id="CM")
    several[0] = {**several[0], "pain_pre": "12", "sex": "female", "units": ""}
    write_export(inbox, "several-rules", several, [rom(session_id="S1", clinic_id="CM"),
                                                   rom(session_id="S2", clinic_id="CM")])
    edges = sessions_series(10, clinic_id="CX")
    edges[0] = {**edges[0], "pain_pre": "0", "pain_post": "10", "duration_min": "240", "units": "0",
                "session_date": "2000-01-01", "condition_code": "m797", "symptom_weeks": "0", "authorized_visits": "1"}
    edges[1] = {**edges[1], "duration_min": "1", "function_instrument": "HIT6", "function_score": "36",
                "goals_documented": "yes", "condition_code": "G43", "authorized_visits": "12.0"}
    edges[2] = {**edges[2], "units": "3.0", "goals_documented": "0", "condition_code": "M54.5", "techniques": ""}
    write_export(inbox, "edges", edges, [rom(session_id="S1", clinic_id="CX", joint="tmj", movement="opening",
                                             value="70")])
    outcomes = load_exports(discover_exports(inbox), lambda: open_warehouse(settings.warehouse), settings,
                            new_run_id())
    with open_warehouse(settings.warehouse) as con:
        build_staging(con, settings)
        quarantine = con.execute(
            "SELECT export, file, row_number, rule, column_name, value FROM quarantine.rejected_rows ORDER BY ALL"
        ).fetchall()
    return {o.export: o for o in outcomes}, quarantine, settings.warehouse, expected


def _rows(validated, export: str) -> list[tuple]:
    return [row[1:] for row in validated[1] if row[0] == export]


@pytest.mark.parametrize(("column", "rule"), list(SESSION_CASES))
def test_session_rule_quarantines_exactly_its_row(validated, column: str, rule: str) -> None:
    row = validated[3][("sessions", column, rule)]
    broken = [r for r in _rows(validated, "every-rule") if r[0] == "sessions" and (r[3], r[2]) == (column, rule)]
    assert broken == [("sessions", row, rule, column, SESSION_CASES[(column, rule)][1])]


@pytest.mark.parametrize(("column", "rule"), list(ROM_CASES))
def test_rom_rule_quarantines_exactly_its_row(validated, column: str, rule: str) -> None:
    row = validated[3][("rom", column, rule)]
    broken = [r for r in _rows(validated, "every-rule") if r[0] == "rom" and (r[3], r[2]) == (column, rule)]
    assert broken == [("rom", row, rule, column, ROM_CASES[(column, rule)][1])]


def test_each_designed_row_breaks_only_its_rule(validated) -> None:
    outcome: LoadOutcome = validated[0]["every-rule"]
    rows = _rows(validated, "every-rule")
    assert len(rows) == len(SESSION_CASES) + len(ROM_CASES)
    assert (outcome.rows_in, outcome.rows_quarantined) == (2 * N_GOOD + len(SESSION_CASES) + len(ROM_CASES),
                                                            len(SESSION_CASES) + len(ROM_CASES))


def test_clean_export_loads_everything(validated) -> None:
    outcome = validated[0]["clean"]
    assert (outcome.status, outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 20, 20, 0)
    assert _rows(validated, "clean") == []


def test_duplicate_session_id_quarantines_every_copy_but_not_across_clinics(validated) -> None:
    assert _rows(validated, "duplicates") == [
        ("sessions", 2, "duplicate_in_export", "session_id", "S2"),
        ("sessions", 8, "duplicate_in_export", "session_id", "S2"),
    ]


def test_a_row_breaking_several_rules_is_listed_once_per_rule_and_its_rom_row_follows(validated) -> None:
    assert validated[0]["several-rules"].rows_quarantined == 2
    assert _rows(validated, "several-rules") == [
        ("rom", 1, "session_not_in_export", "session_id", "S1"),
        ("sessions", 1, "missing_required_value", "units", None),
        ("sessions", 1, "not_in_vocabulary", "sex", "female"),
        ("sessions", 1, "out_of_range", "pain_pre", "12"),
    ]


def test_boundaries_are_valid(validated) -> None:
    """Values exactly at the edges of the contract's ranges load."""
    assert _rows(validated, "edges") == []
    with duckdb.connect(str(validated[2]), read_only=True) as con:
        got = con.execute(
            "SELECT session_id, condition_code, units, goals_documented, authorized_visits FROM staging.sessions "
            "WHERE clinic_id = 'CX' AND session_id IN ('S1', 'S2', 'S3') ORDER BY session_id"
        ).fetchall()
    assert got == [("S1", "M79.7", 0, True, 1), ("S2", "G43", 2, True, 12), ("S3", "M54.5", 3, False, None)]


def test_identifier_looking_values_are_withheld_from_the_quarantine(settings, load) -> None:
    """A phone number typed into a non-id column is quarantined as what it looks like, never as itself."""
    rows = sessions_series(10)
    rows[3] = {**rows[3], "sex": "555-867-5309", "pain_pre": "jane@example.org"}
    # a name and a date of birth in a text column; an impossible visit date is still shown as it is
    rows[5] = {**rows[5], "age_band": "Jane Roe 1957-03-14", "session_date": "2026-02-30"}
    write_export(settings.inbox, "exp", rows)
    load()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        got = con.execute("SELECT column_name, value FROM quarantine.rejected_rows ORDER BY 1").fetchall()
    assert got == [("age_band", "(withheld: looks like a date)"),
                   ("pain_pre", "(withheld: looks like an e-mail address)"),
                   ("session_date", "2026-02-30"),
                   ("sex", "(withheld: looks like a phone number)")]
    gx = "".join(p.read_text() for p in (settings.restricted / "validation").rglob("*") if p.is_file())
    assert "555-867-5309" not in gx and "jane@example.org" not in gx
    # Great Expectations' own results count the failing rows and hold no value at all
    results = [json.loads(p.read_text()) for p in (settings.restricted / "validation").rglob("_great_expectations/*/*.json")]
    failing = [r["result"] for res in results for r in res["results"] if not r["success"]]
    assert failing == [{"observed_value": 1}] * 4
    raw = json.dumps(results)
    # whole values, not fragments: the results carry random UUIDs, which can hold any four digits
    for value in ("Jane Roe", "1957-03-14", "2026-02-30", "555-867-5309", "jane@example.org", "withheld"):
        assert value not in raw, value
