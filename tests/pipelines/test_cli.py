"""`outcomes run`: end to end on a temporary inbox, and one-line failures when it cannot run."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.cli import main
from tests.conftest import rom, sessions_series, table_snapshot, write_export
from transforms.warehouse import warehouse_lock


def _args(settings) -> list[str]:
    return [
        "run", "--inbox", str(settings.inbox), "--warehouse", str(settings.warehouse), "--site", str(settings.site),
        "--restricted", str(settings.restricted),
    ]


def test_run_loads_reports_and_is_repeatable(settings, capsys) -> None:
    bad = sessions_series(10, clinic_id="C2")
    bad[3] = {**bad[3], "pain_pre": "12"}
    write_export(settings.inbox, "a", sessions_series(8), [rom(session_id="S2")])
    write_export(settings.inbox, "b", bad, fmt="parquet")
    write_export(settings.inbox, "c", None, [rom()])
    assert main(_args(settings)) == 0
    out = capsys.readouterr().out
    assert "[1/3] c: rejected: the export has no sessions file" in out
    assert "b: loaded: loaded 9 of 10 rows; 1 quarantined: sessions.pain_pre.out_of_range (1)" in out
    assert "exports: 2 loaded, 0 replaced, 0 unchanged, 1 rejected; rows quarantined: 1" in out
    assert (settings.restricted / "validation" / "b" / "index.html").exists()
    first = table_snapshot(settings.warehouse)

    assert main(_args(settings)) == 0
    out = capsys.readouterr().out
    assert "exports: 0 loaded, 0 replaced, 3 unchanged, 0 rejected; rows quarantined: 0" in out
    assert table_snapshot(settings.warehouse) == first


def test_missing_inbox(settings, capsys) -> None:
    assert main(_args(settings)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"outcomes: inbox {settings.inbox} does not exist or is not a folder"


def test_locked_warehouse(settings, capsys) -> None:
    write_export(settings.inbox, "a", sessions_series(2))
    with warehouse_lock(settings.warehouse, timeout=1):
        assert main(_args(settings)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("outcomes: the warehouse") and "being written by another run" in err
    assert len(err.splitlines()) == 1


def test_warehouse_held_by_another_duckdb_program(settings, capsys, tmp_path) -> None:
    import subprocess
    import sys

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
    err = capsys.readouterr().err.strip()
    assert "locked by another program" in err and len(err.splitlines()) == 1


def test_unwritable_warehouse(settings, capsys, tmp_path) -> None:
    write_export(settings.inbox, "a", sessions_series(2))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    args = _args(settings)
    args[args.index("--warehouse") + 1] = str(blocker / "w.duckdb")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("outcomes: cannot write the warehouse folder") and len(err.splitlines()) == 1


@pytest.mark.parametrize("variable", ["OUTCOMES_EPISODE_GAP_DAYZ"])
def test_unknown_setting_is_refused(settings, capsys, monkeypatch, variable) -> None:
    monkeypatch.setenv(variable, "60")
    write_export(settings.inbox, "a", sessions_series(2))
    assert main(_args(settings)) == 2
    assert "unknown setting OUTCOMES_EPISODE_GAP_DAYZ" in capsys.readouterr().err


def test_episode_gap_from_the_environment(settings, monkeypatch) -> None:
    monkeypatch.setenv("OUTCOMES_EPISODE_GAP_DAYS", "3")
    write_export(settings.inbox, "a", sessions_series(3))
    assert main(_args(settings)) == 0
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT episode_key) FROM staging.sessions").fetchall() == [(3,)]
