"""Exports read together (one scan per file kind and header layout) give exactly what reading each
export alone gives: the same rows with the same row numbers, counts, patients, warnings and reasons."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.conftest import rom, session, sessions_series, write_export
from transforms import contract
from transforms.exports import (
    ExportFolder,
    ExportRejected,
    ReadResult,
    discover_exports,
    read_export,
    read_exports_together,
)

SHUFFLED = [*reversed(contract.SESSION_COLUMNS), "comments"]


def _alone(export: ExportFolder) -> tuple[object, dict[str, list[tuple]]]:
    with duckdb.connect() as con:
        try:
            result: ReadResult | ExportRejected = read_export(export, con)
        except ExportRejected as exc:
            return ("rejected", str(exc), exc.public), {}
        rows = {kind: sorted(con.execute(f"SELECT * FROM {kind}_new").fetchall(), key=repr) for kind in ("sessions", "rom")}
        return ("read", result.rows, result.patients, result.warnings), rows


def _together(exports: list[ExportFolder]) -> tuple[dict[str, tuple], list[str]]:
    """Every export's outcome and rows read together, the left-over exports read alone as the loader does."""
    with duckdb.connect() as con:
        results, alone = read_exports_together(exports, con)
        out: dict[str, tuple] = {}
        for name, result in results.items():
            if isinstance(result, ExportRejected):
                out[name] = (("rejected", str(result), result.public), {})
                continue
            rows = {kind: sorted(con.execute(f"SELECT * FROM {kind}_read WHERE export = ?", [name]).fetchall(),
                                 key=repr) for kind in ("sessions", "rom")}
            out[name] = (("read", result.rows, result.patients, result.warnings), rows)
    for export in alone:
        out[export.name] = _alone(export)
    return out, [e.name for e in alone]


def _inbox(inbox: Path) -> None:
    big = [session(session_id=f"S{i:05d}", patient_id=f"P{i % 300:04d}") for i in range(6000)]
    write_export(inbox, "a-big", big, [rom(session_id=f"S{i:05d}") for i in range(0, 6000, 7)])
    write_export(inbox, "b-big", [{**r, "clinic_id": "C2"} for r in big])
    write_export(inbox, "c-shuffled", sessions_series(4, clinic_id="C3"), columns=SHUFFLED)
    write_export(inbox, "d-header-only", [])
    write_export(inbox, "e-email", [session(session_id="S1"), session(session_id="x@example.org")])
    write_export(inbox, "f-parquet", sessions_series(3, clinic_id="C4"), fmt="parquet")
    write_export(inbox, "g-phone-in-rom", sessions_series(2, clinic_id="C5"),
                 [rom(session_id="S1", clinic_id="(555) 867-5309")])
    write_export(inbox, "h-identifier-column", sessions_series(2), columns=[*contract.SESSION_COLUMNS, "email"])
    (inbox / "a-big" / "notes.txt").write_text("x")


def test_together_equals_alone(tmp_path: Path) -> None:
    _inbox(tmp_path)
    exports = discover_exports(tmp_path)
    together, left = _together(exports)
    assert left == ["f-parquet"]  # Parquet (and profiles) are read one export at a time
    assert together == {e.name: _alone(e) for e in exports}
    assert together["a-big"][0][1] == {"sessions": 6000, "rom": 858}
    assert together["e-email"][0][0] == "rejected" and together["h-identifier-column"][0][0] == "rejected"
    assert together["g-phone-in-rom"][0][0] == "rejected"
    assert together["d-header-only"][0] == ("read", {"sessions": 0, "rom": 0}, 0,
                                            ["the sessions file has a header and no rows (a period without visits)"])


def test_row_numbers_follow_each_file_in_a_shared_scan(tmp_path: Path) -> None:
    _inbox(tmp_path)
    exports = [e for e in discover_exports(tmp_path) if e.name in ("a-big", "b-big")]
    with duckdb.connect() as con:
        read_exports_together(exports, con)
        got = con.execute("SELECT export, min(row_number), max(row_number), count(*), "
                          "bool_and(session_id = printf('S%05d', row_number - 1)) FROM sessions_read "
                          "GROUP BY export ORDER BY export").fetchall()
    assert got == [("a-big", 1, 6000, 6000, True), ("b-big", 1, 6000, 6000, True)]


def test_a_file_the_shared_scan_cannot_read_sends_its_layout_to_one_by_one_reading(tmp_path: Path) -> None:
    _inbox(tmp_path)
    broken = tmp_path / "b-big" / "sessions.csv"
    lines = broken.read_text().splitlines()
    lines[8] = lines[8].rsplit(",", 2)[0]  # two fields short
    broken.write_text("\n".join(lines) + "\n")
    exports = discover_exports(tmp_path)
    together, left = _together(exports)
    assert {"a-big", "b-big", "e-email"} <= set(left)  # every export of the failed layout, read alone
    assert together == {e.name: _alone(e) for e in exports}
    assert together["b-big"][0][0] == "rejected" and "line 9" in together["b-big"][0][1]
    assert together["a-big"][0][1] == {"sessions": 6000, "rom": 858}


def test_a_trailing_empty_field_is_read_as_duckdb_reads_it(tmp_path: Path) -> None:
    """docs/decisions.md 93: one extra empty field at the end of a line is dropped, alone and together."""
    write_export(tmp_path, "x", sessions_series(3))
    file = tmp_path / "x" / "sessions.csv"
    lines = file.read_text().splitlines()
    lines[2] += ","
    file.write_text("\n".join(lines) + "\n")
    (export,) = discover_exports(tmp_path)
    outcome, rows = _alone(export)
    assert outcome[:2] == ("read", {"sessions": 3, "rom": 0})
    assert [r[2] for r in rows["sessions"]] == ["S1", "S2", "S3"]  # session_id: nothing shifted
    assert _together([export])[0] == {"x": (outcome, rows)}
