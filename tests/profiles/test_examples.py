"""The worked examples of docs/onboarding.md, end to end: `profile init`, the documented edits, `check`, `run`.

The example exports are copied without their profiles; `outcomes profile init` drafts one for each, the
edits docs/onboarding.md describes are applied to the drafts (and give exactly the shipped profiles), then
`outcomes check` says what would load and `outcomes run` loads it: the run does what the check said.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from transforms.profiles import parse_profile

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "examples"
LAKESIDE = "lakeside-2026-q2"
RIVERSIDE = "riverside-2026-q2"
TODO_LINE = re.compile(r'^# ("[^"]*" = .*?)  # TODO.*$', re.MULTILINE)


def uncomment_todos(text: str) -> str:
    """Step 2 of both examples in docs/onboarding.md: remove the leading '# ' of every suggested TODO line."""
    return TODO_LINE.sub(r"\1", text)


def edit_lakeside(text: str) -> str:
    """The documented edits of example 1 (docs/onboarding.md)."""
    text = text.replace('# clinic_id = "TODO"', 'clinic_id = "lakeside"')
    text = uncomment_todos(text)
    text = text.replace('"Tricare" = "TODO"', '"Tricare" = "commercial"')
    text = text.replace('"Church fund" = "TODO"', '# "Church fund" = "TODO"')
    return text.replace('"Friend" = "TODO"', '"Friend" = "self"')


def edit_riverside(text: str) -> str:
    """The documented edit of example 2 (docs/onboarding.md)."""
    return uncomment_todos(text)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example exports without their profiles, then drafted by `outcomes profile init`."""
    root = tmp_path_factory.mktemp("examples") / "inbox"
    for name in (LAKESIDE, RIVERSIDE):
        shutil.copytree(EXAMPLES / name, root / name, ignore=shutil.ignore_patterns("profile.toml"))
    return root


def _init(folder: Path, capsys) -> str:
    assert main(["profile", "init", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {folder / 'profile.toml'}: a draft with ")
    return (folder / "profile.toml").read_text(encoding="utf-8")


def test_init_drafts_what_the_docs_show_and_the_edits_give_the_shipped_profiles(inbox: Path, capsys) -> None:
    for name, edit in ((LAKESIDE, edit_lakeside), (RIVERSIDE, edit_riverside)):
        draft = _init(inbox / name, capsys)
        parse_profile(draft)  # the draft is a valid profile as written
        edited = parse_profile(edit(draft))
        shipped = parse_profile((EXAMPLES / name / "profile.toml").read_text(encoding="utf-8"))
        assert (edited.constants, edited.files) == (shipped.constants, shipped.files), name
        (inbox / name / "profile.toml").write_text(edit(draft), encoding="utf-8")
    lakeside = (inbox / LAKESIDE / "profile.toml").read_text()
    # what docs/onboarding.md says the draft found by itself
    for line in ('date_format = "%m/%d/%Y"', 'drop = ["Room"]', 'condition_code = "Dx"', 'cpt_code = ";"',
                 'pain_pre = { from = [0, 100], to = [0, 10] }', '"Y" = true', '"N" = false'):
        assert line in lakeside, line


def test_init_never_overwrites_a_profile_without_force(tmp_path: Path, capsys) -> None:
    folder = tmp_path / RIVERSIDE
    shutil.copytree(EXAMPLES / RIVERSIDE, folder)
    shipped = (folder / "profile.toml").read_text()
    assert main(["profile", "init", str(folder)]) == 2
    assert capsys.readouterr().err.strip() == f"outcomes: {folder / 'profile.toml'} already exists; use --force to replace it"
    assert (folder / "profile.toml").read_text() == shipped
    assert main(["profile", "init", str(folder), "--force"]) == 0
    assert (folder / "profile.toml").read_text() != shipped
    assert main(["profile", "init", str(tmp_path / "nothing-here")]) == 2
    assert capsys.readouterr().err.strip() == f"outcomes: {tmp_path / 'nothing-here'} is not an export folder"


def test_check_then_run_loads_both_examples(inbox: Path, tmp_path_factory: pytest.TempPathFactory, capsys) -> None:
    if not (inbox / LAKESIDE / "profile.toml").exists():
        pytest.fail("runs after test_init_drafts_what_the_docs_show_and_the_edits_give_the_shipped_profiles")
    build = tmp_path_factory.mktemp("examples-build")
    paths = ["--restricted", str(build / "restricted")]
    assert main(["check", "--inbox", str(inbox), *paths]) == 0
    checked = capsys.readouterr().out
    assert f"{LAKESIDE} (profile profile.toml, sha256 " in checked
    assert "  would load 198 of 207 rows; 9 would be quarantined\n" in checked
    assert "    sessions.payer_type.unmapped_value: 9 row(s), e.g. row 199 (in the export: 'Church fund')" in checked
    assert "  would load 408 of 408 rows\n" in checked
    assert not (build / "w.duckdb").exists()

    run = ["run", "--inbox", str(inbox), "--warehouse", str(build / "w.duckdb"), "--site", str(build / "site"), *paths]
    assert main(run) == 0
    out = capsys.readouterr().out
    assert f"{LAKESIDE}: loaded: loaded 198 of 207 rows; 9 quarantined: sessions.payer_type.unmapped_value (9)" in out
    assert f"{RIVERSIDE}: loaded: loaded 408 of 408 rows" in out
    with duckdb.connect(str(build / "w.duckdb"), read_only=True) as con:
        q = con.execute("SELECT DISTINCT original_value, value FROM quarantine.rejected_rows").fetchall()
        assert q == [("Church fund", None)]
        # 198 rows of the file, several split into one row per service
        assert con.execute("SELECT count(DISTINCT row_number), count(*) > 198 FROM raw.sessions "
                           "WHERE export = ?", [LAKESIDE]).fetchall() == [(198, True)]
        assert con.execute("SELECT count(*) FROM raw.sessions WHERE export = ? AND clinic_id <> 'lakeside'",
                           [LAKESIDE]).fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM raw.rom WHERE export = ?", [RIVERSIDE]).fetchall()[0][0] > 0
        logged = con.execute("SELECT export, profile FROM ops.load_log ORDER BY 1").fetchall()
        assert logged == [(LAKESIDE, "profile.toml"), (RIVERSIDE, "profile.toml")]
        assert con.execute("SELECT count(*) FROM marts.episode_outcomes").fetchall()[0][0] > 0
    quality = (build / "site" / "quality.html").read_text()
    assert "profile.toml (" in quality

    # a changed profile reloads the export it applies to, and only that one
    profile = inbox / LAKESIDE / "profile.toml"
    profile.write_text(profile.read_text().replace('# "Church fund" = "TODO"', '"Church fund" = "self_pay"'))
    assert main(run) == 0
    out = capsys.readouterr().out
    assert f"{LAKESIDE}: replaced: replaced the earlier version with 207 of 207 rows" in out
    assert f"{RIVERSIDE}: unchanged" in out
    with duckdb.connect(str(build / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM quarantine.rejected_rows").fetchall() == [(0,)]
        assert con.execute("SELECT count(DISTINCT profile_checksum) FROM ops.load_log WHERE export = ?",
                           [LAKESIDE]).fetchall() == [(2,)]
