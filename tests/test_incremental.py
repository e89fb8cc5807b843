"""Incremental runs equal full ones, table for table (staging, intermediate and marts).

Each case loads part of the sample inbox and builds everything, changes the inbox the way clinics
do (a new month, a correction export that supersedes another export's sessions, a replaced
export, a new episode of an existing patient after the 90-day gap), loads again and rebuilds only
what the changes touch; then it rebuilds everything from scratch on the same warehouse and compares
every table.
"""

from __future__ import annotations

import csv
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from dashboards.outputs import PACKET_FOLDER
from tests.conftest import table_snapshot
from transforms import changes
from transforms.config import Settings, load_settings
from transforms.exports import discover_exports
from transforms.loading import load_exports, new_run_id
from transforms.marts import AGGREGATE_MODELS, EPISODE_MODELS, build_marts
from transforms.warehouse import open_warehouse

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
LATER = ("clinic-north-2026-04-corrections", "clinic-north-2026-07", "clinic-north-2026-08")
BUILT = ("staging.", "intermediate.", "marts.")


def _run(settings: Settings, *, full: bool = False) -> changes.StagingChange:
    load_exports(discover_exports(settings.inbox), lambda: open_warehouse(settings.warehouse), settings, new_run_id())
    with open_warehouse(settings.warehouse) as con:
        change = changes.stage(con, settings, EPISODE_MODELS, AGGREGATE_MODELS, force_full=full)
        build_marts(con, settings, incremental=True)
        assert con.execute("SELECT count(*) FROM ops.dirty").fetchall()[0][0] == 0
    return change


def _built(settings: Settings) -> dict[str, list[tuple]]:
    return {t: rows for t, rows in table_snapshot(settings.warehouse).items() if t.startswith(BUILT)}


@pytest.fixture(scope="module")
def history_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample without its last months and the corrections, loaded and built in full (once per module)."""
    root = tmp_path_factory.mktemp("history")
    settings = load_settings(environ={}, inbox=root / "inbox", warehouse=root / "build" / "warehouse.duckdb",
                             site=root / "build" / "site", restricted=root / "build" / "restricted")
    settings.inbox.mkdir(parents=True)
    for export in SAMPLE.iterdir():
        if export.name not in LATER:
            shutil.copytree(export, settings.inbox / export.name)
    assert _run(settings).action == changes.FULL
    return root


@pytest.fixture
def history(settings: Settings, history_template: Path) -> Settings:
    """A copy of the history (inbox and warehouse) that the test may change."""
    shutil.copytree(history_template / "inbox", settings.inbox)
    shutil.copytree(history_template / "build", settings.warehouse.parent, dirs_exist_ok=True)
    return settings


def _assert_equals_full(settings: Settings) -> None:
    incremental = _built(settings)
    assert _run(settings, full=True).action == changes.FULL
    full = _built(settings)
    assert set(incremental) == set(full)
    for table in full:
        assert incremental[table] == full[table], table


def test_new_months_and_a_correction_export(history: Settings) -> None:
    for name in LATER:
        shutil.copytree(SAMPLE / name, history.inbox / name)
    change = _run(history)
    assert change.action == changes.SCOPED and set(change.exports) == set(LATER)
    with duckdb.connect(str(history.warehouse), read_only=True) as con:
        patients = con.execute("SELECT count(DISTINCT (clinic_id, patient_id)) FROM staging.sessions").fetchall()[0][0]
    assert 0 < change.patients < patients  # only some patients were restaged
    _assert_equals_full(history)


def _rewrite(path: Path, edit) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    rows = edit(rows)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def test_a_replaced_export(history: Settings) -> None:
    def lower_pain(rows: list[dict]) -> list[dict]:
        for row in rows[:40]:
            if row["pain_pre"]:
                row["pain_pre"] = str(max(0.0, float(row["pain_pre"]) - 2))
        return rows[:-15]  # and the last visits of the month are withdrawn

    _rewrite(history.inbox / "clinic-north-2026-05" / "sessions.csv", lower_pain)
    change = _run(history)
    assert change.action == changes.SCOPED and change.exports == ("clinic-north-2026-05",)
    _assert_equals_full(history)


def test_a_new_episode_of_an_existing_patient_after_the_gap(history: Settings) -> None:
    """A patient of clinic east (derived episodes) returns 100 days after their last visit in a new export."""
    with duckdb.connect(str(history.warehouse), read_only=True) as con:
        row = con.execute(
            "SELECT clinic_id, patient_id, therapist_id, condition_code, payer_type, age_band, sex, "
            "CAST(max(session_date) + INTERVAL 100 DAY AS DATE) FROM staging.sessions WHERE episode_id IS NULL "
            "AND clinic_id = 'east' GROUP BY ALL HAVING max(session_date) < DATE '2026-07-01' "
            "ORDER BY patient_id LIMIT 1").fetchall()
        assert row, "the sample has derived episodes at clinic east"
        clinic, patient, therapist, code, payer, age, sex, start = row[0]
        before = con.execute("SELECT count(DISTINCT episode_key) FROM staging.sessions WHERE clinic_id = ? "
                             "AND patient_id = ?", [clinic, patient]).fetchall()[0][0]
    folder = history.inbox / "clinic-east-returning"
    folder.mkdir()
    with open(folder / "sessions.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["session_id", "clinic_id", "patient_id", "therapist_id", "session_date", "visit_type",
                         "condition_code", "payer_type", "cpt_code", "units", "duration_min", "pain_pre",
                         "pain_post", "age_band", "sex"])
        for i in range(3):
            writer.writerow([f"RET{i}", clinic, patient, therapist, (start + timedelta(days=7 * i)).isoformat(),
                             "evaluation" if i == 0 else "treatment", code, payer, "97124", "2", "30",
                             str(6 - i), str(5 - i), age, sex])
    change = _run(history)
    assert change.action == changes.SCOPED and change.patients == 1
    with duckdb.connect(str(history.warehouse), read_only=True) as con:
        after = con.execute("SELECT count(DISTINCT episode_key) FROM staging.sessions WHERE clinic_id = ? "
                            "AND patient_id = ?", [clinic, patient]).fetchall()[0][0]
    assert after == before + 1
    _assert_equals_full(history)


def test_an_unchanged_rerun_does_nothing(history: Settings) -> None:
    before = table_snapshot(history.warehouse)
    assert _run(history).action == changes.CLEAN
    assert table_snapshot(history.warehouse) == before


def test_a_changed_setting_rebuilds_everything(history: Settings) -> None:
    changed = history.with_overrides(responder_min_fraction="0.35")
    assert _run(changed).action == changes.FULL
    with duckdb.connect(str(history.warehouse), read_only=True) as con:
        low = con.execute("SELECT count(*) FROM marts.episode_outcomes WHERE responder "
                          "AND pain_change_pct < 0.35 - 1e-9").fetchall()[0][0]
    assert low == 0


def test_outcomes_run_is_incremental_and_equals_a_full_run(tmp_path: Path, capsys, sample_build: Path) -> None:
    """The command line and its Dagster assets: a new month restages some patients, rewrites the pages,
    and gives the tables a from-scratch run of the same inbox gives."""
    from pipelines.cli import main

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for export in SAMPLE.iterdir():
        if export.name not in LATER:
            shutil.copytree(export, inbox / export.name)
    args = ["run", "--inbox", str(inbox), "--warehouse", str(tmp_path / "w.duckdb"), "--site",
            str(tmp_path / "site"), "--restricted", str(tmp_path / "restricted")]
    assert main(args) == 0
    page = tmp_path / "site" / "researcher.html"
    first = page.stat().st_mtime_ns
    packets = tmp_path / "restricted" / PACKET_FOLDER
    before = {p.name: p.stat().st_mtime_ns for p in packets.glob("*.html")}
    for name in LATER:
        shutil.copytree(SAMPLE / name, inbox / name)
    capsys.readouterr()
    assert main(args) == 0
    assert "restaged" in capsys.readouterr().out
    assert page.stat().st_mtime_ns > first
    incremental = _built(Settings(warehouse=tmp_path / "w.duckdb"))
    # the session's from-scratch `outcomes run` of the whole sample (`--full` is tested in tests/pipelines)
    full = _built(Settings(warehouse=sample_build / "warehouse.duckdb"))
    assert set(incremental) == set(full)
    for table in full:
        assert incremental[table] == full[table], table
    # the audit packets: those of the clinic of the new exports rewritten, the others untouched, all as a full run's
    assert {p.name: p.read_bytes() for p in packets.glob("*.html")} == {
        p.name: p.read_bytes() for p in (sample_build / "restricted" / PACKET_FOLDER).glob("*.html")}
    kept = {p.name for p in packets.glob("*.html") if before.get(p.name) == p.stat().st_mtime_ns}
    assert kept == {n for n in before if n.count(".") > 1 and ".north." not in n} != set()
    # the integrity checks: clinic north counted again, the kept counts of the others, the sums as a full run's
    integrity = "SELECT rule, clinic_id, violations, checked FROM ops.integrity_by_clinic ORDER BY ALL"
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        per_clinic = con.execute(integrity).fetchall()
        results = con.execute("SELECT rule, rows_checked, rows_failing FROM ops.check_results WHERE check_kind = "
                              "'integrity' AND run_id = (SELECT arg_max(run_id, started_at) FROM ops.runs) ORDER BY ALL").fetchall()
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        assert per_clinic == con.execute(integrity).fetchall()
        assert results == con.execute("SELECT rule, rows_checked, rows_failing FROM ops.check_results WHERE check_kind = "
                                      "'integrity' AND run_id = (SELECT arg_max(run_id, started_at) FROM ops.runs) "
                                      "ORDER BY ALL").fetchall()
    assert {clinic for _, clinic, _, _ in per_clinic} >= {"north"}


def test_a_run_that_fails_after_restaging_leaves_staging_and_its_marks_as_they_were(
    history: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in LATER:
        shutil.copytree(SAMPLE / name, history.inbox / name)
    bookkeeping = ("ops.dirty", "ops.staged_exports", "ops.restaged_episodes")
    before = {t: rows for t, rows in table_snapshot(history.warehouse).items() if t.startswith(BUILT) or t in bookkeeping}

    def fail(*args, **kwargs) -> None:
        raise RuntimeError("stopped between the restaging and its marks")

    monkeypatch.setattr(changes, "mark_clinics", fail)
    with pytest.raises(RuntimeError, match="stopped between"):
        _run(history)
    after = {t: rows for t, rows in table_snapshot(history.warehouse).items() if t.startswith(BUILT) or t in bookkeeping}
    assert after == before  # staging, the marts and the marks: all as before the run
    monkeypatch.undo()
    assert _run(history).action == changes.SCOPED
    _assert_equals_full(history)
