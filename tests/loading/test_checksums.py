"""Export checksums are reused only while an export's files are untouched (transforms/checksums.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from transforms import checksums
from transforms.exports import ExportFolder, discover_exports
from transforms.loading import ensure_schema

HEADER = "export_version,clinic_id,patient_id\n"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    ensure_schema(c)
    yield c
    c.close()


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The exports whose files were read to compute a checksum, in order."""
    seen: list[str] = []
    original = ExportFolder.checksum.fget

    def counting(self: ExportFolder) -> str:
        seen.append(self.name)
        return original(self)

    monkeypatch.setattr(ExportFolder, "checksum", property(counting))
    return seen


def _inbox(root: Path) -> Path:
    for name, rows in (("clinic-a-2026-01", "1.1,a,P1\n"), ("clinic-b-2026-01", "1.1,b,P2\n")):
        (root / name).mkdir(parents=True)
        (root / name / "sessions.csv").write_text(HEADER + rows)
    return root


def _checksums(con, inbox: Path) -> dict[str, str]:
    return checksums.export_checksums(con, discover_exports(inbox))


def test_a_settled_export_is_hashed_once(con, hashed, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(checksums, "SETTLE_SECONDS", 0.0)
    inbox = _inbox(tmp_path / "inbox")
    first = _checksums(con, inbox)
    assert first == {e.name: e.checksum for e in discover_exports(inbox)}
    hashed.clear()
    assert _checksums(con, inbox) == first
    assert hashed == []


def test_a_rewrite_with_the_same_size_and_modification_time_is_hashed_again(con, hashed, tmp_path,
                                                                           monkeypatch) -> None:
    monkeypatch.setattr(checksums, "SETTLE_SECONDS", 0.0)
    inbox = _inbox(tmp_path / "inbox")
    first = _checksums(con, inbox)
    file = inbox / "clinic-a-2026-01" / "sessions.csv"
    before = file.stat()
    file.write_text(HEADER + "1.1,a,P9\n")  # same size
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))  # what `touch -r` or `cp -p` would leave
    assert file.stat().st_size == before.st_size and file.stat().st_mtime_ns == before.st_mtime_ns
    hashed.clear()
    again = _checksums(con, inbox)
    assert hashed == ["clinic-a-2026-01"]
    assert again["clinic-a-2026-01"] != first["clinic-a-2026-01"]
    assert again["clinic-b-2026-01"] == first["clinic-b-2026-01"]


def test_a_replaced_folder_and_a_new_profile_are_hashed_again(con, hashed, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(checksums, "SETTLE_SECONDS", 0.0)
    inbox = _inbox(tmp_path / "inbox")
    _checksums(con, inbox)
    copy = tmp_path / "copy"
    shutil.copytree(inbox / "clinic-b-2026-01", copy, copy_function=shutil.copy2)
    shutil.rmtree(inbox / "clinic-b-2026-01")
    shutil.move(copy, inbox / "clinic-b-2026-01")  # same bytes and times, another file
    (inbox / "clinic-a-2026-01" / "profile.toml").write_text("[columns]\n")
    hashed.clear()
    _checksums(con, inbox)
    assert sorted(hashed) == ["clinic-a-2026-01", "clinic-b-2026-01"]


def test_files_changed_just_now_are_not_trusted_yet(con, hashed, tmp_path, monkeypatch) -> None:
    # "just now" made an hour wide: a stalled machine must not turn the fresh files into settled ones
    monkeypatch.setattr(checksums, "SETTLE_SECONDS", 3600.0)
    inbox = _inbox(tmp_path / "inbox")  # written within SETTLE_SECONDS
    first = _checksums(con, inbox)
    assert con.execute("SELECT count(*) FROM ops.export_stamps").fetchall()[0][0] == 0
    hashed.clear()
    assert _checksums(con, inbox) == first
    assert sorted(hashed) == ["clinic-a-2026-01", "clinic-b-2026-01"]


def test_stamps_recorded_says_whether_any_export_changed(con, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(checksums, "SETTLE_SECONDS", 0.0)
    inbox = _inbox(tmp_path / "inbox")
    assert not checksums.stamps_recorded(con, discover_exports(inbox))  # never hashed
    _checksums(con, inbox)
    assert checksums.stamps_recorded(con, discover_exports(inbox))
    (inbox / "clinic-a-2026-01" / "sessions.csv").write_text(HEADER + "1.1,a,P9\n")
    assert not checksums.stamps_recorded(con, discover_exports(inbox))  # a file rewritten
    _checksums(con, inbox)
    assert checksums.stamps_recorded(con, discover_exports(inbox))
    (inbox / "clinic-c-2026-01").mkdir()
    (inbox / "clinic-c-2026-01" / "sessions.csv").write_text(HEADER + "1.1,c,P3\n")
    assert not checksums.stamps_recorded(con, discover_exports(inbox))  # a new export
    assert not checksums.stamps_recorded(con, [])  # an empty inbox has nothing recorded to vouch for
