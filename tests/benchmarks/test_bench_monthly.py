"""The quick monthly benchmark's next-month export: the same patients a month later, under new session ids."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from tests.benchmarks.test_baseline import _script


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_next_month_keeps_the_day_or_takes_the_month_end() -> None:
    bench = _script("bench_monthly")
    assert bench.next_month(date(2026, 10, 15)) == date(2026, 11, 15)
    assert bench.next_month(date(2026, 10, 31)) == date(2026, 11, 30)
    assert bench.next_month(date(2028, 1, 31)) == date(2028, 2, 29)
    assert bench.next_month(date(2026, 12, 5)) == date(2027, 1, 5)


def test_the_next_month_export_moves_dates_and_renames_sessions(tmp_path: Path) -> None:
    bench = _script("bench_monthly")
    source = tmp_path / "c1-2026-10"
    source.mkdir()
    _write(source / "sessions.csv", [
        {"session_id": "S1", "clinic_id": "c1", "patient_id": "P1", "session_date": "2026-10-31", "pain_pre": "6"},
        {"session_id": "S2", "clinic_id": "c1", "patient_id": "P2", "session_date": "2026-10-02", "pain_pre": ""},
    ])
    _write(source / "rom.csv", [{"session_id": "S1", "clinic_id": "c1", "joint": "knee", "value": "90"}])
    assert bench.next_month_export(source, tmp_path / "c1-2026-11") == 2
    sessions = _read(tmp_path / "c1-2026-11" / "sessions.csv")
    assert [(r["session_id"], r["patient_id"], r["session_date"], r["pain_pre"]) for r in sessions] == [
        ("nS1", "P1", "2026-11-30", "6"), ("nS2", "P2", "2026-11-02", "")]
    assert _read(tmp_path / "c1-2026-11" / "rom.csv") == [
        {"session_id": "nS1", "clinic_id": "c1", "joint": "knee", "value": "90"}]


def test_the_newest_clinic_month_is_followed_by_the_next(tmp_path: Path) -> None:
    bench = _script("bench_monthly")
    for name in ("c1-2026-09", "c2-2026-10", "c1-2026-10-corrections", "c1-2026-10"):
        (tmp_path / name).mkdir()
    newest, name = bench._newest_export(tmp_path)
    assert newest.name == "c2-2026-10" and name == "c2-2026-11"


def test_step_times_are_read_in_every_unit_dagster_writes(tmp_path: Path) -> None:
    bench = _script("bench_monthly")
    log = tmp_path / "run.log"
    log.write_text('... Finished execution of step "a" in 612ms.\n... Finished execution of step "b" in 1m3.5s.\n'
                   '... Finished execution of step "c" in 4.25s.\n')
    assert bench._steps(log) == [("b", 63.5), ("c", 4.25), ("a", 0.612)]


def test_a_parquet_export_is_refused(tmp_path: Path) -> None:
    bench = _script("bench_monthly")
    (tmp_path / "c1-2026-10").mkdir()
    (tmp_path / "c1-2026-10" / "sessions.parquet").write_bytes(b"")
    with pytest.raises(SystemExit, match="only CSV"):
        bench.next_month_export(tmp_path / "c1-2026-10", tmp_path / "c1-2026-11")
