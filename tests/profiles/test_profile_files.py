"""Profiles as files: validation with one-line reasons, which profile applies to an export, checksums, the CLI.

No Great Expectations run here: a profile that is not valid stops `outcomes check` before any export is read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.conftest import sessions_series, write_export
from transforms.exports import ExportRejected, discover_exports, export_profile
from transforms.profiles import ProfileError, Rescale, Service, choose_profiles, parse_profile

GOOD = """
exports = ["west-*"]

[constants]
clinic_id = "west"

[sessions]
date_format = "%m/%d/%Y"
drop = ["Room"]

[sessions.columns]
session_id = "Visit #"
cpt_code = "Services"
pain_pre = "Pain Before"

[sessions.split]
cpt_code = ";"

[sessions.services]
"Massage 60 min" = { cpt_code = "97124", units = 4, minutes = 60 }
"Exercise 15 MIN" = { cpt_code = "97110", units = 1, minutes = 15 }

[sessions.rescale]
pain_pre = { from = [0, 100], to = [0, 10] }

[sessions.values.payer_type]
"Blue Cross" = "commercial"

[sessions.values.goals_documented]
Y = true
N = false

[sessions.values.referral_source]
"None" = ""

[rom.values.side]
L = "left"
"""


def _error(text: str, shared: bool = False, label: str = "profile.toml") -> str:
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, label, shared=shared)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_valid_profile_is_read_into_its_parts() -> None:
    profile = parse_profile(GOOD, "_profiles/west.toml", shared=True)
    sessions = profile.mapping("sessions")
    assert profile.exports == ("west-*",)
    assert profile.constants == {"clinic_id": "west"}
    assert sessions.columns == {"session_id": "Visit #", "cpt_code": "Services", "pain_pre": "Pain Before"}
    assert sessions.drop == ("Room",)
    assert sessions.date_format == "%m/%d/%Y"
    assert sessions.split == ";"
    # keys are matched trimmed and in any letter case
    assert sessions.services == {"massage 60 min": Service("97124", 4, 60), "exercise 15 min": Service("97110", 1, 15)}
    assert sessions.rescale == {"pain_pre": Rescale(0.0, 100.0, 0.0, 10.0)}
    assert sessions.values == {"payer_type": {"blue cross": "commercial"}, "goals_documented": {"y": "true", "n": "false"},
                               "referral_source": {"none": None}}
    assert sessions.service_gives("units") and sessions.service_gives("minutes")
    assert profile.mapping("rom").values == {"side": {"l": "left"}}
    assert profile.checksum == hashlib.sha256(GOOD.encode()).hexdigest()


@pytest.mark.parametrize(("text", "expected"), [
    # TOML syntax: the parser's own words, with its line
    ("[sessions.columns]\nsession_id = \"Visit\"\npatient_id = Client\n",
     "profile.toml: not valid TOML: Invalid value (at line 3, column 14)"),
    # unknown keys, at every level, with the line where the key is and a suggestion
    ("[sessions]\n\n[sessions.colums]\nsession_id = \"Visit\"\n",
     "profile.toml: sessions (line 3): unknown key 'colums' (did you mean 'columns'?); expected one of: columns, drop, "
     "values, date_format, rescale, services, split"),
    ("[session.columns]\n", "profile.toml: top level (line 1): unknown key 'session' (did you mean 'sessions'?); "
                            "expected one of: exports, constants, sessions, rom"),
    ("[sessions.services]\n\"Massage\" = { cpt_code = \"97124\", unit = 2 }\n",
     "profile.toml: sessions.services.'Massage' (line 2): unknown key 'unit' (did you mean 'units'?); expected one of: "
     "cpt_code, units, minutes"),
    # a column the contract does not have
    ("[sessions.columns]\nsesion_date = \"Visit Date\"\n",
     "profile.toml: sessions.columns (line 2): 'sesion_date' is not a column of the sessions file (did you mean "
     "'session_date'?)"),
    ("[constants]\nclinic = \"west\"\n",
     "profile.toml: constants (line 2): 'clinic' is not a contract column (did you mean 'clinic_id'?)"),
    # date formats
    ("[sessions]\ndate_format = \"%m/%d\"\n",
     "profile.toml: sessions.date_format (line 2): '%m/%d' is not a date format: it needs exactly one year (%Y or %y), "
     "one month (%m, %b or %B) and one day (%d)"),
    ("[sessions]\ndate_format = \"%Q/%d/%Y\"\n",
     "profile.toml: sessions.date_format (line 2): '%Q/%d/%Y' is not a date format: '%Q' is not one of %Y, %y, %m, %-m, "
     "%b, %B, %d, %-d"),
    ("[sessions]\ndate_format = \"%m/%d/%Y %H:%M\"\n",
     "profile.toml: sessions.date_format (line 2): '%m/%d/%Y %H:%M' is not a date format: '%H' is not one of %Y, %y, "
     "%m, %-m, %b, %B, %d, %-d"),
])
def test_a_malformed_profile_is_refused_in_one_line(text: str, expected: str) -> None:
    assert _error(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("[sessions.columns]\npatient_id = \"Patient Name\"\n",
     "profile.toml: sessions.columns.patient_id (line 2): the column 'Patient Name' looks like a direct identifier "
     "('name'); a profile cannot bring in or rename it: identifiers must never be sent, remove it from the export"),
    ("[sessions.columns]\npatient_id = \"MRN\"\n", "looks like a direct identifier ('mrn')"),
    ("[sessions.columns]\nage_band = \"birthDate\"\n", "looks like a direct identifier ('birth')"),
    ("[rom.columns]\nsession_id = \"Patient No\"\n", "looks like a direct identifier ('patient no')"),
    ("[sessions]\ndrop = [\"Room\", \"Mobile Number\"]\n",
     "profile.toml: sessions.drop (line 2): the column 'Mobile Number' looks like a direct identifier ('mobile'); a "
     "profile cannot drop it: identifiers must never be sent, remove it from the export"),
    ("[constants]\nclinic_id = \"555-867-5309\"\n",
     "profile.toml: constants.clinic_id (line 2): the value looks like a phone number; a clinic id must be a "
     "pseudonymous token"),
])
def test_a_profile_cannot_bring_in_rename_or_drop_an_identifier(text: str, expected: str) -> None:
    assert expected in _error(text)


@pytest.mark.parametrize(("text", "value"), [
    ("[constants]\npayer_type = \"jane.roe@example.com\"\n", "jane.roe@example.com"),
    ("[sessions.columns]\n\"jane.roe@example.com\" = \"x\"\n", "jane.roe@example.com"),
    ("\"jane.roe@example.com\" = 1\n", "jane.roe@example.com"),
    ("[sessions]\ndate_format = \"jane.roe@example.com\"\n", "jane.roe@example.com"),
    ("[sessions.values.payer_type]\n\"078-05-1120\" = \"not-a-payer\"\n", "078-05-1120"),
    ("[sessions.services]\n\"555 867 5309\" = { cpt_code = \"97999x\" }\n", "555 867 5309"),
])
def test_a_profile_message_never_quotes_an_identifier(text: str, value: str) -> None:
    # the message goes to the load log and the run's output: a value that looks like an identifier is masked
    message = _error(text)
    assert value not in message and "".join(c for c in value if c.isdigit() or c == "@") not in message, message
    assert "(e-mail)" in message or "###" in message, message


def test_a_written_out_e_mail_is_refused_as_a_clinic_constant() -> None:
    assert "constants.clinic_id (line 2): the value looks like an e-mail address" in _error(
        "[constants]\nclinic_id = \"jane at example.com\"\n")


@pytest.mark.parametrize(("text", "expected"), [
    ("[sessions.values.payer_type]\n\"Blue Cross\" = \"comercial\"\n",
     "sessions.values.payer_type.'Blue Cross' (line 2): 'comercial' is not a payer_type (did you mean 'commercial'?)"),
    ("[sessions.values.sex]\nFemale = \"F\"\nFEMALE = \"F\"\n", "'FEMALE' and 'Female' are the same value"),
    ("[sessions.values.payer_type]\nCash = \"\"\n", "payer_type is required: map the value to one of its values"),
    ("[sessions.values.goals_documented]\nY = \"yes\"\n", "expected true or false, got 'yes'"),
    ("[sessions.values.condition_code]\nLBP = \"back pain\"\n", "'back pain' is not an ICD-10-CM code"),
    ("[sessions.values.patient_id]\nA = \"B\"\n", "the values of patient_id cannot be mapped"),
    ("[sessions.values.cpt_code]\nA = \"97124\"\n", "services and codes are mapped in [sessions.services]"),
    ("[sessions.services]\nMassage = \"9712\"\n", "cpt_code must be a CPT code of 5 characters, got '9712'"),
    ("[sessions.services]\nMassage = { cpt_code = \"97124\", units = 2, minutes = 300 }\n",
     "minutes must be a whole number from 1 to 240, got '300'"),
    ("[sessions.services]\nA = { cpt_code = \"97124\", units = 2 }\nB = \"97140\"\n",
     "give units for every service or for none"),
    ("[sessions.columns]\nunits = \"Qty\"\n[sessions.services]\nA = { cpt_code = \"97124\", units = 2 }\n",
     "units comes both from the service map (units) and from a column; keep one"),
    ("[sessions.split]\ncpt_code = \";\"\n[sessions.services]\nA = \"97124\"\n",
     "splitting a cell into one row per service needs a service map that gives cpt_code, units and minutes"),
    ("[sessions.split]\ncpt_code = \";\"\n", "splitting a cell into one row per service needs a service map"),
    ("[sessions.split]\ncpt_code = \";\"\n[sessions.columns]\nduration_min = \"Minutes\"\n[sessions.services]\n",
     "takes duration_min from the service map; remove duration_min from columns"),
    ("[sessions.split]\npayer_type = \";\"\n", "unknown key 'payer_type'"),
    ("[sessions.rescale]\npain_pre = { from = [100, 0], to = [0, 10] }\n", "from must be [low, high] with low below high"),
    ("[sessions.rescale]\nsymptom_weeks = { from = [0, 100], to = [0, 10] }\n",
     "only pain_pre, pain_post, function_score can be rescaled"),
    ("[constants]\npayer_type = \"cash\"\n", "'cash' is not a payer_type"),
    ("[constants]\npatient_id = \"P1\"\n", "patient_id differs from row to row; it cannot be a constant"),
    ("[constants]\nclinic_id = \"west\"\n[sessions.columns]\nclinic_id = \"Site\"\n", "clinic_id is also a constant"),
    ("[sessions]\ndrop = [\"Visit\"]\n[sessions.columns]\nsession_id = \"visit \"\n",
     "'Visit' is dropped and also read as session_id"),
    ("exports = [\"a*\"]\n", "only a profile in the inbox's _profiles folder names the exports it applies to"),
])
def test_every_mistake_is_named(text: str, expected: str) -> None:
    assert expected in _error(text)


def test_a_shared_profile_names_its_exports_unless_it_is_the_default() -> None:
    assert "must say which exports it applies to" in _error("", shared=True, label="_profiles/west.toml")
    assert parse_profile("", "_profiles/default.toml", shared=True).exports == ()


def test_which_profile_applies(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for name in ("west-1", "west-2", "east-1", "north-1", "own-1"):
        write_export(inbox, name, sessions_series(1))
    (inbox / "own-1" / "profile.toml").write_text("")
    shared = inbox / "_profiles"
    shared.mkdir()
    (shared / "west.toml").write_text('exports = ["west-*", "own-*"]\n')
    (shared / "east.toml").write_text('exports = ["east-*"]\n')
    (shared / "default.toml").write_text("")
    choices = choose_profiles(inbox, sorted(p for p in inbox.iterdir() if not p.name.startswith("_")))
    assert {n: (c.label, c.problem) for n, c in choices.items()} == {
        "east-1": ("_profiles/east.toml", None),
        "north-1": ("_profiles/default.toml", None),
        "own-1": ("profile.toml", None),  # an export's own profile comes first
        "west-1": ("_profiles/west.toml", None),
        "west-2": ("_profiles/west.toml", None),
    }
    (shared / "also-west.toml").write_text('exports = ["west-2"]\n')
    exports = {e.name: e for e in discover_exports(inbox)}
    assert exports["west-2"].profile is None
    assert exports["west-2"].profile_problem == ("more than one mapping profile matches the export: "
                                                 "_profiles/also-west.toml, _profiles/west.toml")
    with pytest.raises(ExportRejected, match="more than one mapping profile matches"):
        export_profile(exports["west-2"])
    # a shared profile that cannot be read for its patterns applies to every export without its own
    (shared / "broken.toml").write_text("exports = [\n")
    exports = {e.name: e for e in discover_exports(inbox)}
    assert {n: e.profile_label for n, e in exports.items()} == {
        "east-1": "_profiles/broken.toml", "north-1": "_profiles/broken.toml", "own-1": "profile.toml",
        "west-1": "_profiles/broken.toml", "west-2": "_profiles/broken.toml"}
    with pytest.raises(ExportRejected) as caught:
        export_profile(exports["east-1"])
    assert str(caught.value).startswith("the mapping profile is not valid: _profiles/broken.toml: not valid TOML:")
    assert caught.value.public == "its mapping profile (_profiles/broken.toml) is not valid"


def test_the_profile_is_part_of_the_export_version(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    folder = write_export(inbox, "a", sessions_series(2))
    plain = discover_exports(inbox)[0]
    # without a profile the version is the data files alone, as before profiles existed
    digest = hashlib.sha256()
    digest.update(b"sessions:sessions.csv\n")
    digest.update((folder / "sessions.csv").read_bytes())
    assert plain.checksum == digest.hexdigest()
    assert plain.profile_checksum is None
    (folder / "profile.toml").write_text("[constants]\nclinic_id = \"C1\"\n")
    first = discover_exports(inbox)[0]
    assert first.other_files == ()  # the profile is not an unknown file of the export
    versions = [digest.hexdigest(), first.checksum]
    assert versions[1] != versions[0]
    assert first.profile_checksum == hashlib.sha256(b"[constants]\nclinic_id = \"C1\"\n").hexdigest()
    (folder / "profile.toml").write_text("[constants]\nclinic_id = \"C2\"\n")
    assert discover_exports(inbox)[0].checksum not in versions


def test_the_profiles_folder_is_listed_as_skipped_with_its_own_reason(tmp_path: Path) -> None:
    from transforms.exports import ignored_entries

    (tmp_path / "_profiles").mkdir()
    (tmp_path / "_qa").mkdir()
    assert [(e.name, e.reason) for e in ignored_entries(tmp_path)] == [
        ("_profiles", "the inbox's mapping profiles (not an export): they apply to the exports they name"),
        ("_qa", "folders starting with _ are skipped"),
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("[sessions.columns]\nsession_id = \"Visit\"\npatient_id = Client\n",
     "outcomes: the mapping profile of export a is not valid: profile.toml: not valid TOML: Invalid value (at line 3, "
     "column 14)"),
    ("[sessions.colums]\n", "outcomes: the mapping profile of export a is not valid: profile.toml: sessions (line 1): "
                            "unknown key 'colums' (did you mean 'columns'?); expected one of: columns, drop, values, "
                            "date_format, rescale, services, split"),
    ("[sessions.columns]\nsesion_date = \"Visit Date\"\n",
     "outcomes: the mapping profile of export a is not valid: profile.toml: sessions.columns (line 2): 'sesion_date' is "
     "not a column of the sessions file (did you mean 'session_date'?)"),
    ("[sessions]\ndate_format = \"%d/%m\"\n",
     "outcomes: the mapping profile of export a is not valid: profile.toml: sessions.date_format (line 2): '%d/%m' is "
     "not a date format: it needs exactly one year (%Y or %y), one month (%m, %b or %B) and one day (%d)"),
])
def test_check_exits_2_with_one_line_for_a_malformed_profile(settings, capsys, text: str, expected: str) -> None:
    folder = write_export(settings.inbox, "a", sessions_series(2))
    (folder / "profile.toml").write_text(text)
    assert main(["check", "--inbox", str(settings.inbox), "--restricted", str(settings.restricted)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == expected
    assert len(captured.err.strip().splitlines()) == 1
    assert not settings.restricted.exists()  # stopped before anything was read or written


def test_check_exits_2_without_an_inbox(settings, capsys) -> None:
    assert main(["check", "--inbox", str(settings.inbox / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"outcomes: inbox {settings.inbox / 'missing'} does not exist or is not a folder"
