"""`outcomes run`: end to end on a temporary inbox, and one-line failures when it cannot run."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from tests.conftest import rom, sessions_series, table_snapshot, write_export

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = str(Path(sys.executable).with_name("outcomes"))


def _args(settings, **paths: Path) -> list[str]:
    values = {"inbox": settings.inbox, "warehouse": settings.warehouse, "site": settings.site,
              "restricted": settings.restricted, **paths}
    return ["run", *[arg for k, v in values.items() for arg in (f"--{k}", str(v))]]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_run_loads_reports_and_is_repeatable(settings, capsys, monkeypatch) -> None:
    import expectations.validation as validation
    from transforms import checksums

    # On two cores Great Expectations' import would slow a run with nothing to load: the helper started
    # ahead of need is stopped when no export's files changed since they were last hashed.
    monkeypatch.setattr(checksums, "SETTLE_SECONDS", 0.0)  # the files just written count as settled
    helper: list[str] = []
    monkeypatch.setattr(validation, "warm_up", lambda: helper.append("start"))
    monkeypatch.setattr(validation, "cool_down", lambda: helper.append("stop"))
    bad = sessions_series(10, clinic_id="C2")
    bad[3] = {**bad[3], "pain_pre": "12"}
    write_export(settings.inbox, "a", sessions_series(8), [rom(session_id="S2")])
    write_export(settings.inbox, "b", bad, fmt="parquet")
    write_export(settings.inbox, "c", None, [rom()])
    assert main(_args(settings)) == 0
    out = capsys.readouterr().out
    assert "[1/3] c: rejected: the export has no sessions file" in out
    assert "b: loaded: loaded 9 of 10 rows; 1 quarantined: sessions.pain_pre.out_of_range (1)" in out
    state = "exports in the warehouse: 2 loaded, 1 rejected; rows loaded: 18, quarantined: 1"
    assert state in out
    assert "this run: 2 loaded, 0 replaced, 0 unchanged, 1 rejected, 0 ignored" in out
    assert "  rejected c: the export has no sessions file (sessions.csv or sessions.parquet)" in out
    assert (settings.restricted / "validation" / "b" / "index.html").exists()
    assert "the export has no sessions file" in (settings.restricted / "validation" / "c" / "index.html").read_text()
    first = table_snapshot(settings.warehouse)
    assert helper == ["start"]

    assert main(_args(settings)) == 0
    out = capsys.readouterr().out
    assert helper == ["start", "start", "stop"]  # nothing changed: stopped at once
    assert state in out  # the warehouse's state, not this run's delta
    assert "this run: 0 loaded, 0 replaced, 3 unchanged, 0 rejected, 0 ignored" in out
    assert table_snapshot(settings.warehouse) == first

    assert main([*_args(settings), "--full"]) == 0  # a forced rebuild of the same inbox gives the same tables
    out = capsys.readouterr().out
    assert "built staging in full" in out and "no longer in the inbox" not in out
    assert table_snapshot(settings.warehouse) == first

    import shutil

    shutil.rmtree(settings.inbox / "a")  # a loaded export's folder removed: its data stays, and the run says so
    assert main(_args(settings)) == 0
    out = capsys.readouterr().out
    assert ("  1 loaded export(s) no longer in the inbox stay loaded (to take data back, send a corrected "
            "export): a") in out
    assert state in out and table_snapshot(settings.warehouse) == first


def test_skipped_inbox_entries_are_listed_and_logged(settings, capsys) -> None:
    write_export(settings.inbox, "a", sessions_series(2))
    (settings.inbox / "_qa").mkdir()
    (settings.inbox / ".cache").mkdir()
    (settings.inbox / "notes.txt").write_text("x")
    assert main(_args(settings)) == 0
    out = capsys.readouterr().out
    assert "ignored: _qa (folders starting with _ are skipped)" in out
    assert "ignored: notes.txt (files directly in the inbox are skipped: an export is a folder)" in out
    assert "this run: 1 loaded, 0 replaced, 0 unchanged, 0 rejected, 3 ignored" in out
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        logged = con.execute("SELECT export, reason FROM ops.load_log WHERE status = 'ignored' ORDER BY 1").fetchall()
    assert logged == [(".cache", "hidden entries (starting with .) are skipped"),
                      ("_qa", "folders starting with _ are skipped"),
                      ("notes.txt", "files directly in the inbox are skipped: an export is a folder")]


def test_outputs_are_owner_only_whatever_the_umask(settings) -> None:
    write_export(settings.inbox, "a", sessions_series(4), [rom(session_id="S2")])
    write_export(settings.inbox, "b", None, [rom()])
    previous = os.umask(0)
    try:
        assert main(_args(settings)) == 0
    finally:
        os.umask(previous)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(settings.warehouse) == 0o600
    assert mode(settings.warehouse.with_name(settings.warehouse.name + ".lock")) == 0o600
    restricted = [settings.restricted, *settings.restricted.rglob("*")]
    assert len(restricted) > 5
    assert {mode(p) for p in restricted if p.is_dir()} == {0o700}
    assert {mode(p) for p in restricted if p.is_file()} == {0o600}
    # The public site keeps the user's usual modes (here umask 0: world-readable).
    assert {mode(p) for p in settings.site.rglob("*.html")} == {0o666}


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        ({"restricted": "site/restricted"}, "the restricted folder {restricted} is inside the site folder {site}"),
        ({"restricted": "site"}, "the restricted folder {restricted} is inside the site folder {site}"),
        ({"site": "restricted/site"}, "the site folder {site} is inside the restricted folder {restricted}"),
        ({"warehouse": "site/w.duckdb"}, "the warehouse {warehouse} is inside the site folder {site}"),
    ],
)
def test_nested_folders_are_refused(settings, capsys, tmp_path, paths, expected) -> None:
    write_export(settings.inbox, "a", sessions_series(2))
    given = {"site": tmp_path / "site", "restricted": tmp_path / "restricted", "warehouse": tmp_path / "w.duckdb"}
    given.update({k: tmp_path / v for k, v in paths.items()})
    assert main(_args(settings, **given)) == 2
    assert _one_line(capsys).startswith("outcomes: " + expected.format(**given))
    assert not given["warehouse"].exists()


def test_missing_inbox(settings, capsys) -> None:
    assert main(_args(settings)) == 2
    assert _one_line(capsys) == f"outcomes: inbox {settings.inbox} does not exist or is not a folder"


def test_locked_warehouse_names_the_other_run(settings, capsys, monkeypatch) -> None:
    write_export(settings.inbox, "a", sessions_series(2))
    settings.warehouse.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from transforms.warehouse import "
         "warehouse_lock\nwith warehouse_lock(Path(sys.argv[1]), 5, holder='outcomes run TEST-RUN'):\n"
         "    print('ready', flush=True); time.sleep(30)", str(settings.warehouse)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        monkeypatch.setenv("OUTCOMES_LOCK_TIMEOUT_S", "0.5")
        assert main(_args(settings)) == 2
    finally:
        holder.kill()
        holder.wait()
    err = _one_line(capsys)
    assert err.startswith(f"outcomes: the warehouse {settings.warehouse} is being written by another run "
                          f"(outcomes run TEST-RUN, pid {holder.pid}, since ")
    assert err.endswith("waited 0.5 s: try again when it has finished")


def test_warehouse_held_by_another_duckdb_program(settings, capsys) -> None:
    write_export(settings.inbox, "a", sessions_series(2))
    settings.warehouse.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "time.sleep(30)", str(settings.warehouse)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(_args(settings)) == 2
    finally:
        holder.kill()
        holder.wait()
    assert "locked by another program" in _one_line(capsys)


def test_unwritable_warehouse(settings, capsys, tmp_path) -> None:
    write_export(settings.inbox, "a", sessions_series(2))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert main(_args(settings, warehouse=blocker / "w.duckdb")) == 2
    assert _one_line(capsys).startswith(f"outcomes: cannot write the warehouse folder {blocker}")


def test_unknown_setting_is_refused(settings, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OUTCOMES_EPISODE_GAP_DAYZ", "60")
    write_export(settings.inbox, "a", sessions_series(2))
    assert main(_args(settings)) == 2
    assert _one_line(capsys).startswith("outcomes: unknown setting OUTCOMES_EPISODE_GAP_DAYZ; known: ")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("OUTCOMES_RESPONDER_MIN_FRACTION", "1.5", "a fraction above 0 and at most 1"),
        ("OUTCOMES_RESPONDER_MIN_FRACTION", "0", "a fraction above 0 and at most 1"),
        ("OUTCOMES_EPISODE_GAP_DAYS", "ninety", "a whole number of days, at least 1"),
        ("OUTCOMES_SUPPRESSION_THRESHOLD", "0", "a whole number of patients, at least 1"),
        ("OUTCOMES_RELIEF_REPORT_TIMES", "4,0", "session numbers of at least 1"),
        ("OUTCOMES_LOCK_TIMEOUT_S", "-1", "a number of seconds from 0 to 86400"),
        ("OUTCOMES_REJECT_SHARE", "20%", "a fraction from 0 to 1"),
        ("OUTCOMES_DUCKDB_MEMORY_LIMIT", "lots", "a size such as 1.5GB or 600MB"),
    ],
)
def test_a_bad_setting_says_which_and_what_is_expected(settings, capsys, monkeypatch, variable, value, expected) -> None:
    monkeypatch.setenv(variable, value)
    write_export(settings.inbox, "a", sessions_series(2))
    assert main(_args(settings)) == 2
    assert _one_line(capsys).startswith(f"outcomes: {variable}={value} is not valid: expected {expected}")
    assert not settings.warehouse.exists()


def test_help_works_with_a_bad_environment() -> None:
    env = {**os.environ, "OUTCOMES_NO_SUCH_SETTING": "1", "OUTCOMES_EPISODE_GAP_DAYS": "x"}
    done = subprocess.run([OUTCOMES, "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Exit status: 0 the run completed" in " ".join(done.stdout.split())


def test_episode_gap_from_the_environment(settings, monkeypatch) -> None:
    monkeypatch.setenv("OUTCOMES_EPISODE_GAP_DAYS", "3")
    write_export(settings.inbox, "a", sessions_series(3))
    assert main(_args(settings)) == 0
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT episode_key) FROM staging.sessions").fetchall() == [(3,)]


@pytest.mark.parametrize("which", ["site", "restricted"])
def test_an_unwritable_site_or_restricted_folder_stops_before_anything_is_read(settings, capsys, tmp_path, which) -> None:
    write_export(settings.inbox, "a", sessions_series(2))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(_args(settings, **{which: blocker / which})) == 2
    assert _one_line(capsys).startswith(f"outcomes: cannot write the {which} folder {blocker / which}: ")
    assert not settings.warehouse.exists()


def test_an_empty_inbox_builds_empty_tables_and_a_site(settings, capsys) -> None:
    settings.inbox.mkdir(parents=True)
    assert main(_args(settings)) == 0
    out = capsys.readouterr().out
    assert "exports in the warehouse: 0 loaded, 0 rejected; rows loaded: 0, quarantined: 0" in out
    assert (settings.site / "index.html").exists()


def test_a_missing_reference_folder_stops_the_run(settings, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OUTCOMES_REFERENCE_DIR", str(tmp_path / "nowhere"))
    write_export(settings.inbox, "a", sessions_series(2))
    assert main(_args(settings)) == 2
    assert _one_line(capsys) == (f"outcomes: OUTCOMES_REFERENCE_DIR={tmp_path / 'nowhere'} is not valid: expected an "
                                 "existing folder of reference CSV files")
