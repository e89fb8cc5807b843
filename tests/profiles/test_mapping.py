"""Each mapping operation of a profile on a tiny export, all loaded together (one Great Expectations run).

Rename (with drop), value maps (an unmapped value quarantined with its original, never passed through or
dropped), date format, rescale, split into one row per service, constants, and a profile or an export that
tries to let an identifier in. Every expected value is written out by hand.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from expectations.rules import rom_rules, session_rules
from transforms.config import load_settings
from transforms.contract import ROM_COLUMNS, SESSION_COLUMNS
from transforms.exports import discover_exports
from transforms.loading import load_exports, new_run_id
from transforms.profiles import CONVERTIBLE
from transforms.warehouse import open_warehouse

BASE = {
    "session_id": "S1", "clinic_id": "C1", "patient_id": "P01", "episode_id": "", "therapist_id": "T1",
    "session_date": "2026-03-02", "visit_type": "evaluation", "condition_code": "M54.50", "referral_source": "",
    "payer_type": "commercial", "cpt_code": "97124", "units": "2", "duration_min": "30", "techniques": "",
    "pain_pre": "6", "pain_post": "4", "function_instrument": "", "function_score": "", "age_band": "40-49",
    "sex": "F", "symptom_weeks": "", "goals_documented": "", "authorized_visits": "",
}
ROM = {"session_id": "S1", "clinic_id": "C1", "joint": "lumbar", "movement": "flexion", "side": "na", "timing": "pre",
       "value": "40"}


def _write(folder: Path, kind: str, header: list[str], rows: list[dict[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{kind}.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(h, "") for h in header])


def _export(inbox: Path, name: str, profile: str, sessions: list[dict[str, str]], header: list[str] | None = None,
            rom: list[dict[str, str]] | None = None, rom_header: list[str] | None = None) -> None:
    folder = inbox / name
    _write(folder, "sessions", header or list(SESSION_COLUMNS), sessions)
    if rom is not None:
        _write(folder, "rom", rom_header or list(ROM_COLUMNS), rom)
    (folder / "profile.toml").write_text(profile, encoding="utf-8")


def _row(**overrides: str) -> dict[str, str]:
    return {**BASE, **overrides}


def _rename_drop(inbox: Path) -> None:
    header = [c for c in SESSION_COLUMNS if c not in ("patient_id", "condition_code")]
    header += ["Visit", "CLIENT ", "Dx", "Room", "Colour"]
    rows = [{**_row(session_id="X", episode_id="E9"), "Visit": f"V{i}", "CLIENT ": "P07", "Dx": "M54.2", "Room": "3",
             "Colour": "red"} for i in (1, 2)]
    _export(inbox, "rename-drop", '[sessions]\ndrop = ["room", "episode_id", "pain_post"]\n\n[sessions.columns]\n'
            'session_id = "visit"\npatient_id = "Client"\ncondition_code = "Dx"\n', rows, header)


VALUES_PROFILE = """
[sessions.values.payer_type]
"Blue Cross" = "commercial"
"Medicare" = "medicare"

[sessions.values.visit_type]
"Initial Eval" = "evaluation"
"Follow-up" = "treatment"

[sessions.values.sex]
Female = "F"

[sessions.values.goals_documented]
Y = true
N = false

[sessions.values.referral_source]
Dr = "physician"
None = ""
"""


def _values(inbox: Path) -> None:
    rows = [
        _row(session_id="V1", payer_type="Blue Cross", visit_type="Initial Eval", sex="Female", goals_documented="Y",
             referral_source="Dr"),
        _row(session_id="V2", payer_type="  blue CROSS ", visit_type="follow-UP", sex="FEMALE", goals_documented="n",
             referral_source="None"),
        _row(session_id="V3", payer_type="Tricare", visit_type="Follow-up", sex="Female"),
        _row(session_id="V4", payer_type="Medicare", visit_type="Follow-up", sex="Female", referral_source="Friend"),
        _row(session_id="V5", payer_type="jane.roe@example.org", visit_type="Follow-up", sex="Female"),
    ]
    _export(inbox, "values", VALUES_PROFILE, rows)


def _dates(inbox: Path) -> None:
    rows = [_row(session_id=f"D{i}", session_date=d) for i, d in
            enumerate(("03/14/2026", "3/4/2026", "13/45/2026", "2026-03-14", "02/29/2026"), 1)]
    _export(inbox, "dates", '[sessions]\ndate_format = "%m/%d/%Y"\n', rows)


def _rescale(inbox: Path) -> None:
    rows = [
        _row(session_id="R1", pain_pre="64", pain_post="49", function_instrument="ODI", function_score="25"),
        _row(session_id="R2", pain_pre="70", pain_post="0"),
        _row(session_id="R3", pain_pre="120", pain_post=""),
        _row(session_id="R4", pain_pre="abc", pain_post="30"),
    ]
    _export(inbox, "rescale", "[sessions.rescale]\npain_pre = { from = [0, 100], to = [0, 10] }\n"
            "pain_post = { from = [0, 100], to = [0, 10] }\nfunction_score = { from = [0, 50], to = [0, 100] }\n", rows)


SPLIT_PROFILE = """
[sessions.columns]
cpt_code = "Services"

[sessions.split]
cpt_code = ";"

[sessions.services]
"Massage 30 min" = { cpt_code = "97124", units = 2, minutes = 30 }
"Massage 60 min" = { cpt_code = "97124", units = 4, minutes = 60 }
"Exercise 15 min" = { cpt_code = "97110", units = 1, minutes = 15 }
"""


def _split(inbox: Path) -> None:
    header = [c for c in SESSION_COLUMNS if c not in ("cpt_code", "units", "duration_min")] + ["Services"]
    rows = [
        {**_row(session_id="V1", function_instrument="ODI", function_score="40", techniques="swedish"),
         "Services": "Massage 30 min; Exercise 15 min"},
        {**_row(session_id="V2", session_date="2026-03-09", visit_type="treatment"), "Services": "Massage 60 min"},
        {**_row(session_id="V3", session_date="2026-03-16", visit_type="treatment"),
         "Services": "Massage 30 min ; Hot stones"},
        {**_row(session_id="V4", session_date="2026-03-23", visit_type="treatment"), "Services": ""},
        {**_row(session_id="V5", session_date="2026-03-30", visit_type="treatment"), "Services": "massage 60 MIN;"},
    ]
    rom = [{**ROM, "session_id": "V1"}, {**ROM, "session_id": "V2", "value": "45"}, {**ROM, "session_id": "V3"}]
    _export(inbox, "split", SPLIT_PROFILE, rows, header, rom)


def _constant(inbox: Path) -> None:
    header = [c for c in SESSION_COLUMNS if c not in ("clinic_id", "payer_type")]
    rom_header = [c for c in ROM_COLUMNS if c != "clinic_id"]
    _export(inbox, "constant", '[constants]\nclinic_id = "west"\npayer_type = "self_pay"\n',
            [_row(session_id="K1"), _row(session_id="K2", session_date="2026-03-09")], header,
            [{**ROM, "session_id": "K1"}], rom_header)


EVERY_PROFILE = """
[sessions]
date_format = "%d.%m.%Y"

[sessions.services]
Massage = { cpt_code = "97124", units = 2, minutes = 30 }

[sessions.rescale]
pain_pre = { from = [0, 100], to = [0, 10] }
pain_post = { from = [0, 100], to = [0, 10] }
function_score = { from = [0, 100], to = [0, 100] }

[sessions.values.visit_type]
Eval = "evaluation"
[sessions.values.condition_code]
LBP = "M54.50"
[sessions.values.referral_source]
Dr = "physician"
[sessions.values.payer_type]
Private = "commercial"
[sessions.values.function_instrument]
Oswestry = "ODI"
[sessions.values.age_band]
"40s" = "40-49"
[sessions.values.sex]
Female = "F"
[sessions.values.goals_documented]
Y = true

[rom.values.joint]
Back = "lumbar"
[rom.values.movement]
Bend = "flexion"
[rom.values.side]
None = "na"
[rom.values.timing]
Before = "pre"
"""
GOOD_EVERY = {"session_date": "02.03.2026", "visit_type": "Eval", "condition_code": "LBP", "referral_source": "Dr",
              "payer_type": "Private", "cpt_code": "Massage", "pain_pre": "60", "pain_post": "40",
              "function_instrument": "Oswestry", "function_score": "40", "age_band": "40s", "sex": "Female",
              "goals_documented": "Y"}
BAD_EVERY = {"session_date": "2026-03-02", "visit_type": "Visit", "condition_code": "XYZ", "referral_source": "Friend",
             "payer_type": "Church fund", "cpt_code": "Hot stones", "pain_pre": "high", "pain_post": "n/a",
             "function_instrument": "Roland-Morris", "function_score": "forty", "age_band": "40ish", "sex": "Woman",
             "goals_documented": "maybe"}
GOOD_ROM = {"joint": "Back", "movement": "Bend", "side": "None", "timing": "Before"}
BAD_ROM = {"joint": "Neck", "movement": "Twist", "side": "Both", "timing": "During"}


def _unmapped_every(inbox: Path) -> dict[tuple[str, str], tuple[int, str]]:
    """One row per convertible column with a value the profile cannot convert; returns (file, column) -> (row, value)."""
    header = [c for c in SESSION_COLUMNS if c not in ("units", "duration_min")]
    sessions = [_row(session_id="U0", **GOOD_EVERY)]
    expected = {}
    for column in CONVERTIBLE["sessions"]:
        bad = {**GOOD_EVERY, column: BAD_EVERY[column]}
        if column == "function_instrument":
            bad["function_score"] = ""  # else instrument_missing too
        sessions.append(_row(session_id=f"U{len(sessions)}", **bad))
        expected[("sessions", column)] = (len(sessions), BAD_EVERY[column])
    rom = [{**ROM, "session_id": "U0", **GOOD_ROM}]
    for column in CONVERTIBLE["rom"]:
        rom.append({**ROM, "session_id": "U0", **GOOD_ROM, column: BAD_ROM[column]})
        expected[("rom", column)] = (len(rom), BAD_ROM[column])
    _export(inbox, "unmapped-every", EVERY_PROFILE, sessions, header, rom)
    return expected


def _identifiers(inbox: Path) -> None:
    header = [*SESSION_COLUMNS, "Patient Name", "Room"]
    _export(inbox, "identifier-dropped", '[sessions]\ndrop = ["Room"]\n', [{**_row(), "Patient Name": "Jane Roe"}], header)
    _export(inbox, "identifier-renamed", '[sessions.columns]\npatient_id = "MRN"\n',
            [{**_row(patient_id=""), "MRN": "A1"}], [*SESSION_COLUMNS, "MRN"])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    """Load every example export once; returns (outcomes by export, warehouse path, unmapped cases)."""
    root = tmp_path_factory.mktemp("mapping")
    settings = load_settings(environ={}, inbox=root / "inbox", warehouse=root / "w.duckdb", site=root / "site",
                             restricted=root / "restricted", reject_share=Decimal(1))
    inbox = settings.inbox
    _rename_drop(inbox)
    _values(inbox)
    _dates(inbox)
    _rescale(inbox)
    _split(inbox)
    _constant(inbox)
    cases = _unmapped_every(inbox)
    _identifiers(inbox)
    outcomes = load_exports(discover_exports(inbox), lambda: open_warehouse(settings.warehouse), settings, new_run_id())
    return {o.export: o for o in outcomes}, settings.warehouse, cases


def _query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _quarantine(warehouse: Path, export: str) -> list[tuple]:
    return _query(warehouse, "SELECT file, row_number, session_id, rule, column_name, value, original_value "
                  "FROM quarantine.rejected_rows WHERE export = ? ORDER BY file, row_number, column_name, rule", [export])


def test_rename_reads_the_named_columns_and_drop_leaves_columns_out(loaded) -> None:
    outcomes, warehouse, _ = loaded
    assert outcomes["rename-drop"].status == "loaded"
    assert _query(warehouse, "SELECT session_id, patient_id, condition_code, episode_id FROM raw.sessions "
                  "WHERE export = 'rename-drop' ORDER BY 1") == [("V1", "P07", "M54.2", None), ("V2", "P07", "M54.2", None)]
    # the dropped columns leave no warning (pain_post, dropped, is not "absent"); an unknown one does, and so
    # does the contract-named one a rename replaced
    assert outcomes["rename-drop"].warnings == [
        "sessions.csv: ignored the column 'session_id': the profile takes session_id from the column 'visit'",
        "sessions.csv: ignored unknown column 'Colour'",
    ]


def test_value_maps_translate_and_an_unmapped_value_goes_to_quarantine_with_its_original(loaded) -> None:
    outcomes, warehouse, _ = loaded
    assert outcomes["values"].rows_in == 5 and outcomes["values"].rows_quarantined == 3
    assert _query(warehouse, "SELECT session_id, payer_type, visit_type, sex, goals_documented, referral_source "
                  "FROM raw.sessions WHERE export = 'values' ORDER BY 1") == [
        ("V1", "commercial", "evaluation", "F", True, "physician"),
        ("V2", "commercial", "treatment", "F", False, None),  # any letter case; "None" maps to not recorded
    ]
    assert _quarantine(warehouse, "values") == [
        ("sessions", 3, "V3", "unmapped_value", "payer_type", None, "Tricare"),
        ("sessions", 4, "V4", "unmapped_value", "referral_source", None, "Friend"),  # optional: not passed as empty
        # an identifier-looking original is withheld like any quarantined value
        ("sessions", 5, "V5", "unmapped_value", "payer_type", None, "(withheld: looks like an e-mail address)"),
    ]
    assert _query(warehouse, "SELECT count(*) FROM quarantine.rejected_rows WHERE contains(original_value, '@')") == [(0,)]


def test_dates_are_parsed_in_the_stated_format_only(loaded) -> None:
    outcomes, warehouse, _ = loaded
    assert _query(warehouse, "SELECT session_id, CAST(session_date AS VARCHAR) FROM raw.sessions WHERE export = 'dates' "
                  "ORDER BY 1") == [("D1", "2026-03-14"), ("D2", "2026-03-04")]
    assert _quarantine(warehouse, "dates") == [
        ("sessions", 3, "D3", "unmapped_value", "session_date", None, "13/45/2026"),
        ("sessions", 4, "D4", "unmapped_value", "session_date", None, "2026-03-14"),  # not in the stated format
        ("sessions", 5, "D5", "unmapped_value", "session_date", None, "02/29/2026"),  # 2026 is no leap year
    ]


def test_rescale_maps_a_0_100_slider_onto_0_10_exactly(loaded) -> None:
    outcomes, warehouse, _ = loaded
    rows = _query(warehouse, "SELECT session_id, pain_pre, pain_post, function_score FROM raw.sessions "
                  "WHERE export = 'rescale' ORDER BY 1")
    assert rows == [("R1", 6.4, 4.9, 50.0), ("R2", 7.0, 0.0, None)]
    assert rows[0][2] == 4.9  # the double nearest 4.9, as if 4.9 had been written (a 30 % change from 7 is exact)
    assert _quarantine(warehouse, "rescale") == [
        ("sessions", 3, "R3", "out_of_range", "pain_pre", "12.0", "120"),  # the mapped value and the original
        ("sessions", 4, "R4", "unmapped_value", "pain_pre", None, "abc"),
    ]


def test_split_makes_one_row_per_service_and_holds_back_a_visit_as_a_whole(loaded) -> None:
    outcomes, warehouse, _ = loaded
    o = outcomes["split"]
    # rows of the files: 5 sessions (visits) and 3 ROM rows; V3 (an unknown service), V4 (no service) and V3's ROM row
    assert (o.rows_in, o.rows_loaded, o.rows_quarantined) == (8, 5, 3)
    assert "sessions.csv: the mapping profile split the visits holding several services into one row per service " \
           "(5 rows of the file, 7 session rows)" in o.warnings
    assert _query(warehouse, "SELECT row_number, session_id, cpt_code, units, duration_min, pain_pre, pain_post, "
                  "function_instrument, function_score, techniques, visit_type FROM raw.sessions "
                  "WHERE export = 'split' ORDER BY 2") == [
        (1, "V1-1", "97124", 2, 30, 6.0, 4.0, "ODI", 40.0, "swedish", "evaluation"),
        (1, "V1-2", "97110", 1, 15, None, None, None, None, "swedish", "evaluation"),  # measures on the first row only
        (2, "V2-1", "97124", 4, 60, 6.0, 4.0, None, None, None, "treatment"),
        (5, "V5-1", "97124", 4, 60, 6.0, 4.0, None, None, None, "treatment"),  # any case, an empty last piece dropped
    ]
    assert _query(warehouse, "SELECT session_id, value FROM raw.rom WHERE export = 'split' ORDER BY 1") == [
        ("V1-1", 40.0), ("V2-1", 45.0)]  # ROM rows belong to the visit's first row
    assert _quarantine(warehouse, "split") == [
        ("rom", 3, "V3-1", "session_not_in_export", "session_id", "V3-1", "V3"),
        ("sessions", 3, "V3-2", "unmapped_value", "cpt_code", None, "Hot stones"),
        ("sessions", 4, "V4-1", "missing_required_value", "cpt_code", None, None),
        ("sessions", 4, "V4-1", "missing_required_value", "duration_min", None, None),
        ("sessions", 4, "V4-1", "missing_required_value", "units", None, None),
    ]


def test_constants_fill_their_column_in_both_files(loaded) -> None:
    outcomes, warehouse, _ = loaded
    assert outcomes["constant"].status == "loaded" and outcomes["constant"].rows_quarantined == 0
    assert _query(warehouse, "SELECT session_id, clinic_id, payer_type FROM raw.sessions WHERE export = 'constant' "
                  "ORDER BY 1") == [("K1", "west", "self_pay"), ("K2", "west", "self_pay")]
    assert _query(warehouse, "SELECT session_id, clinic_id FROM raw.rom WHERE export = 'constant'") == [("K1", "west")]


def test_every_convertible_column_quarantines_what_it_cannot_convert(loaded) -> None:
    outcomes, warehouse, cases = loaded
    assert {k for k in cases} == {(f, c) for f, columns in CONVERTIBLE.items() for c in columns}
    assert {(r.file, r.column) for r in [*session_rules(), *rom_rules()] if r.rule == "unmapped_value"} == set(cases)
    got = _quarantine(warehouse, "unmapped-every")
    expected = [(file, row, "U0" if file == "rom" else f"U{row - 1}", "unmapped_value", column, None, value)
                for (file, column), (row, value) in cases.items()]
    assert sorted(got) == sorted(expected)  # one rule per row: no "missing" besides the unmapped value
    assert _query(warehouse, "SELECT session_id, CAST(session_date AS VARCHAR), visit_type, condition_code, "
                  "referral_source, payer_type, cpt_code, units, duration_min, pain_pre, pain_post, function_instrument, "
                  "function_score, age_band, sex, goals_documented FROM raw.sessions WHERE export = 'unmapped-every'") == [
        ("U0", "2026-03-02", "evaluation", "M54.50", "physician", "commercial", "97124", 2, 30, 6.0, 4.0, "ODI", 40.0,
         "40-49", "F", True)]
    assert _query(warehouse, "SELECT joint, movement, side, timing FROM raw.rom WHERE export = 'unmapped-every'") == [
        ("lumbar", "flexion", "na", "pre")]


def test_an_identifier_column_is_refused_whatever_the_profile_says(loaded) -> None:
    outcomes, warehouse, _ = loaded
    assert outcomes["identifier-dropped"].status == "rejected"
    assert outcomes["identifier-dropped"].reason == ("sessions.csv has a column 'Patient Name' that looks like a direct "
                                                     "identifier ('name'); remove it and send the export again")
    assert outcomes["identifier-renamed"].status == "rejected"
    assert outcomes["identifier-renamed"].reason == (
        "the mapping profile is not valid: profile.toml: sessions.columns.patient_id (line 2): the column 'MRN' looks "
        "like a direct identifier ('mrn'); a profile cannot bring in or rename it: identifiers must never be sent, "
        "remove it from the export")
    assert outcomes["identifier-renamed"].public_reason == "its mapping profile (profile.toml) is not valid"
    assert _query(warehouse, "SELECT count(*) FROM raw.sessions WHERE export LIKE 'identifier-%'") == [(0,)]
    assert _query(warehouse, "SELECT count(*) FROM raw.sessions WHERE patient_id = 'A1' OR therapist_id = 'Jane Roe'") \
        == [(0,)]


def test_the_load_log_names_the_profile_and_its_checksum(loaded) -> None:
    outcomes, warehouse, _ = loaded
    import hashlib

    text = (Path(warehouse).parent / "inbox" / "values" / "profile.toml").read_bytes()
    assert _query(warehouse, "SELECT profile, profile_checksum FROM ops.load_log WHERE export = 'values'") == [
        ("profile.toml", hashlib.sha256(text).hexdigest())]
