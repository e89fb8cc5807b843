"""Whole-export rejections: the warehouse is left exactly as it was and no identifier reaches it."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import (
    SESSION_COLUMNS,
    rom,
    sessions_series,
    table_snapshot,
    warehouse_contains,
    write_export,
)
from transforms.config import load_settings
from transforms.exports import discover_exports
from transforms.loading import load_exports, new_run_id
from transforms.staging import build_staging
from transforms.warehouse import open_warehouse


@pytest.fixture(scope="module")
def good_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with one good export loaded, built once per module (one Great Expectations run)."""
    root = tmp_path_factory.mktemp("good")
    settings = load_settings(environ={}, inbox=root / "inbox", warehouse=root / "w.duckdb", site=root / "site",
                             restricted=root / "restricted")
    write_export(settings.inbox, "a-good", sessions_series(10), [rom()])
    load_exports(discover_exports(settings.inbox), lambda: open_warehouse(settings.warehouse), settings, new_run_id())
    with open_warehouse(settings.warehouse) as con:
        build_staging(con, settings)
    return root


@pytest.fixture
def loaded(settings, good_warehouse: Path):
    """A copy of the warehouse with one good export already loaded (and that export in the inbox)."""
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(good_warehouse / "w.duckdb", settings.warehouse)
    shutil.copytree(good_warehouse / "inbox", settings.inbox)
    return table_snapshot(settings.warehouse)


def _status(settings, export: str) -> tuple[str, str]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(
            "SELECT status, reason FROM ops.load_log WHERE export = ? ORDER BY loaded_at DESC LIMIT 1", [export]
        ).fetchall()[0]


def _public(settings, export: str) -> str:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(
            "SELECT public_reason FROM ops.load_log WHERE export = ? ORDER BY loaded_at DESC LIMIT 1", [export]
        ).fetchall()[0][0]


def test_unparseable_file(settings, load, loaded) -> None:
    folder = settings.inbox / "b-bad"
    folder.mkdir(parents=True)
    header = ",".join(SESSION_COLUMNS)
    (folder / "sessions.csv").write_text(header + '\nS1,C1,"unterminated\n', encoding="utf-8")
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and "could not be parsed" in reason
    assert table_snapshot(settings.warehouse) == loaded


def test_not_utf8(settings, load, loaded) -> None:
    folder = settings.inbox / "b-bad"
    folder.mkdir(parents=True)
    (folder / "sessions.csv").write_bytes((",".join(SESSION_COLUMNS) + "\nS\xe9,C1\n").encode("latin-1"))
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and "UTF-8" in reason
    assert table_snapshot(settings.warehouse) == loaded


def test_corrupt_parquet(settings, load, loaded) -> None:
    folder = settings.inbox / "b-bad"
    folder.mkdir(parents=True)
    (folder / "sessions.parquet").write_bytes(b"PAR1 this is not parquet")
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and "sessions.parquet could not be parsed" in reason
    assert table_snapshot(settings.warehouse) == loaded


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_missing_required_column(settings, load, loaded, fmt) -> None:
    cols = [c for c in SESSION_COLUMNS if c != "payer_type"]
    write_export(settings.inbox, "b-bad", sessions_series(5), fmt=fmt, columns=cols)
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and "missing required column(s): payer_type" in reason
    assert table_snapshot(settings.warehouse) == loaded


def test_missing_required_rom_column(settings, load, loaded) -> None:
    write_export(settings.inbox, "b-bad", sessions_series(5), [rom()], rom_columns=["session_id", "clinic_id", "joint"])
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and "rom.csv is missing required column(s): movement, side, timing, value" in reason
    assert table_snapshot(settings.warehouse) == loaded


def test_no_sessions_file(settings, load, loaded) -> None:
    write_export(settings.inbox, "b-bad", None, [rom()])
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and "no sessions file" in reason
    assert table_snapshot(settings.warehouse) == loaded


@pytest.mark.parametrize("column", ["patient_name", "Email", "DOB", "notes", "home_address", "zip", "MRN"])
def test_identifier_column(settings, load, loaded, column) -> None:
    rows = [{**r, column: "Jane Roe jane@example.org 1980-04-01 12345"} for r in sessions_series(5)]
    write_export(settings.inbox, "b-bad", rows, columns=[*SESSION_COLUMNS, column])
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and "looks like a direct identifier" in reason
    assert table_snapshot(settings.warehouse) == loaded
    for needle in ("Jane Roe", "jane@example.org"):
        assert warehouse_contains(settings.warehouse, needle) == []


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("patient_id", "jane.roe@example.org", "e-mail"),
        ("patient_id", "555-867-5309", "phone"),
        ("patient_id", "+1 (555) 867 5309", "phone"),
        ("patient_id", "123-45-6789", "SSN"),
        ("patient_id", "1980-04-01", "date"),
        ("therapist_id", "therapist@clinic.com", "e-mail"),
    ],
)
def test_identifier_looking_value(settings, load, loaded, column, value, kind) -> None:
    rows = sessions_series(10)
    rows[6] = {**rows[6], column: value}
    write_export(settings.inbox, "b-bad", rows, fmt="parquet")
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and kind in reason and "row 7" in reason
    assert value not in reason
    public = _public(settings, "b-bad")
    assert kind in public and "row" not in public and value not in public
    assert table_snapshot(settings.warehouse) == loaded
    assert warehouse_contains(settings.warehouse, value) == []


def test_too_many_bad_rows(settings, load, loaded) -> None:
    rows = sessions_series(10)
    for i in range(3):  # 3 of 10 rows = 30% > 20%
        rows[i] = {**rows[i], "pain_pre": "15"}
    write_export(settings.inbox, "b-bad", rows)
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected"
    assert reason.startswith("3 of 10 rows (30.0%) break a row rule, more than the 20% allowed")
    assert table_snapshot(settings.warehouse) == loaded


def test_exactly_the_allowed_share_loads(settings, load) -> None:
    rows = sessions_series(10)
    for i in range(2):  # 2 of 10 = 20%: not more than 20%
        rows[i] = {**rows[i], "pain_pre": "15"}
    write_export(settings.inbox, "b", rows)
    (outcome,) = load()
    assert outcome.status == "loaded" and outcome.rows_quarantined == 2


def test_rejected_correction_keeps_the_earlier_version(settings, load, loaded) -> None:
    rows = sessions_series(10)
    rows[0] = {**rows[0], "patient_id": "someone@example.org"}
    write_export(settings.inbox, "a-good", rows)
    load()
    status, _ = _status(settings, "a-good")
    assert status == "rejected"
    assert table_snapshot(settings.warehouse) == loaded


def test_rejection_is_recorded_once_per_version(settings, load, loaded) -> None:
    write_export(settings.inbox, "b-bad", None, [rom()])
    load()
    load()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        statuses = con.execute("SELECT status FROM ops.load_log WHERE export = 'b-bad' ORDER BY loaded_at").fetchall()
    assert statuses == [("rejected",), ("unchanged",)]
    assert "unchanged since it was rejected" in _status(settings, "b-bad")[1]


def test_an_unreadable_file_refuses_only_its_export(settings, load, loaded, monkeypatch) -> None:
    """Contract: a file that cannot be read rejects its export with the reason; the other exports load.
    (Permission bits do not stop root, so the denial is simulated here; the test below uses real ones.)"""
    write_export(settings.inbox, "b-bad", sessions_series(5), [rom()])
    write_export(settings.inbox, "c-good", sessions_series(5, patient_id="P-2"))
    real_open = open

    def guarded(file, *args, **kwargs):
        if "b-bad" in str(file) and str(file).endswith("rom.csv"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("transforms.exports.open", guarded, raising=False)
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and reason.startswith("rom.csv cannot be read (permission denied)")
    assert _status(settings, "c-good")[0] == "loaded"


def _without_root_override() -> list[str] | None:
    """A command prefix under which permission bits apply (root ignores them), or None when unavailable."""
    import os

    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps",
              "-dac_override,-dac_read_search"]
    # Without CAP_SETPCAP setpriv exits 0 yet drops nothing: check that the two capabilities are gone.
    import subprocess

    done = subprocess.run([*prefix, "cat", "/proc/self/status"], capture_output=True, text=True, timeout=30)
    effective = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("CapEff:")]
    if done.returncode != 0 or not effective or int(effective[0], 16) & 0b110:
        return None
    return prefix


def test_unreadable_files_and_folders_with_real_permissions(tmp_path) -> None:
    """`outcomes run` on an inbox with a chmod-000 file and a chmod-000 folder: those two are rejected with
    a reason naming what cannot be read, the good export loads, and the run succeeds."""
    import os
    import subprocess
    import sys

    prefix = _without_root_override()
    if prefix is None:
        pytest.skip("running as root where setpriv (util-linux) cannot drop the file-access override: "
                    "permission bits cannot be enforced")
    inbox = tmp_path / "inbox"
    write_export(inbox, "a-good", sessions_series(4), [rom()])
    write_export(inbox, "b-file", sessions_series(4, patient_id="P-2"))
    write_export(inbox, "c-folder", sessions_series(4, patient_id="P-3"))
    os.chmod(inbox / "b-file" / "sessions.csv", 0)
    os.chmod(inbox / "c-folder", 0)
    out = tmp_path / "out"
    try:
        proc = subprocess.run(
            [*prefix, str(Path(sys.executable).with_name("outcomes")), "run", "--inbox", str(inbox),
             "--warehouse", str(out / "w.duckdb"), "--site", str(out / "site"), "--restricted", str(out / "r")],
            capture_output=True, text=True, env={**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster")},
            timeout=600)
    finally:
        os.chmod(inbox / "c-folder", 0o755)
        os.chmod(inbox / "b-file" / "sessions.csv", 0o644)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 loaded, 2 rejected" in proc.stdout
    assert "b-file: rejected: sessions.csv cannot be read (permission denied)" in proc.stdout
    assert "c-folder: rejected: the export folder cannot be read (permission denied)" in proc.stdout


@pytest.mark.parametrize("second", ["pain_pre", "PAIN_PRE", " pain_pre "])
def test_a_parquet_column_twice_refuses_the_export(settings, load, loaded, second) -> None:
    """As in a CSV file: a contract column twice (in any case) refuses the export; DuckDB alone would
    rename the second one and read the first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sessions_series(4)
    columns = {c: [str(r.get(c, "")) or None for r in rows] for c in SESSION_COLUMNS}
    table = pa.Table.from_arrays([pa.array(v, pa.string()) for v in columns.values()] + [pa.array(["10"] * 4)],
                                 names=[*columns, second])
    folder = settings.inbox / "b-bad"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "sessions.parquet")
    load()
    status, reason = _status(settings, "b-bad")
    assert status == "rejected" and "has the column" in reason and "twice" in reason, reason
    assert table_snapshot(settings.warehouse) == loaded
