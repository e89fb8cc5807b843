"""Reading exports as the contract says: BOM, header case and order, trimming, Parquet, row numbers."""

from __future__ import annotations

import duckdb

from tests.conftest import SESSION_COLUMNS, session, sessions_series, write_export
from transforms.exports import discover_exports, read_export


def _staged(settings, columns: str = "session_id, patient_id, pain_pre, visit_type") -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(f"SELECT {columns} FROM staging.sessions ORDER BY session_id").fetchall()


def test_bom_shuffled_mixed_case_headers_and_padded_values(settings, load) -> None:
    cols = list(reversed(SESSION_COLUMNS))
    header = ",".join(f"  {c.upper()} " if i % 2 else c.title() for i, c in enumerate(cols))
    row = session(session_id="S1")
    padded = ",".join(f"  {row[c]}  " if row[c] else "   " for c in cols)
    folder = settings.inbox / "exp"
    folder.mkdir(parents=True)
    (folder / "sessions.csv").write_bytes(b"\xef\xbb\xbf" + f"{header}\r\n{padded}\r\n".encode())
    (outcome,) = load()
    assert outcome.status == "loaded", outcome.reason
    assert _staged(settings) == [("S1", "P0001", 6.0, "evaluation")]


def test_rfc4180_quoting(settings, load) -> None:
    folder = settings.inbox / "exp"
    folder.mkdir(parents=True)
    row = session(techniques="swedish;pnf")
    values = [f'"{row[c]}"' if c in ("techniques", "patient_id") else str(row[c]) for c in SESSION_COLUMNS]
    values[SESSION_COLUMNS.index("therapist_id")] = '"T ""01"""'
    (folder / "sessions.csv").write_text(",".join(SESSION_COLUMNS) + "\n" + ",".join(values) + "\n", encoding="utf-8")
    (outcome,) = load()
    assert outcome.status == "loaded", outcome.reason
    assert _staged(settings, "therapist_id, techniques") == [('T "01"', "swedish;pnf")]


def test_unknown_column_is_ignored_with_a_warning(settings, load) -> None:
    rows = [{**r, "room": "3B"} for r in sessions_series(3)]
    write_export(settings.inbox, "exp", rows, columns=[*SESSION_COLUMNS, "room"])
    (outcome,) = load()
    assert outcome.status == "loaded"
    assert outcome.warnings == ["sessions.csv: ignored unknown column 'room'"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT warnings FROM ops.load_log").fetchall() == [("sessions.csv: ignored unknown column 'room'",)]


def test_optional_columns_may_be_absent(settings, load) -> None:
    required_only = ["session_id", "clinic_id", "patient_id", "therapist_id", "session_date", "visit_type",
                     "condition_code", "payer_type", "cpt_code", "units", "duration_min", "age_band", "sex"]
    write_export(settings.inbox, "exp", sessions_series(3), columns=required_only)
    (outcome,) = load()
    assert outcome.status == "loaded", outcome.reason
    assert _staged(settings, "pain_pre, goals_documented") == [(None, None)] * 3
    # loaded as the contract allows, but the load log says which columns were not there
    optional = [c for c in SESSION_COLUMNS if c not in required_only and c != "episode_id"]  # derived when absent
    assert outcome.warnings == [f"sessions.csv: optional column(s) not in the file, read as empty: {', '.join(optional)}"]


def test_one_absent_optional_column_is_named_and_a_complete_file_warns_nothing(settings, load) -> None:
    write_export(settings.inbox, "without-pain-pre", sessions_series(3),
                 columns=[c for c in SESSION_COLUMNS if c != "pain_pre"])
    write_export(settings.inbox, "complete", sessions_series(3, clinic_id="C02"))
    outcomes = {o.export: o for o in load()}
    assert outcomes["without-pain-pre"].status == "loaded"
    assert outcomes["without-pain-pre"].warnings == [
        "sessions.csv: optional column(s) not in the file, read as empty: pain_pre"]
    assert outcomes["complete"].warnings == []


def test_parquet_export_matches_csv(settings, load, tmp_path) -> None:
    rows = sessions_series(6)
    rows[2] = {**rows[2], "pain_pre": "4.8999999999999995", "pain_post": ""}
    write_export(settings.inbox, "a-csv", rows)
    write_export(settings.inbox, "b-parquet", [{**r, "clinic_id": "C2"} for r in rows], fmt="parquet")
    load()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        by_clinic = con.execute(
            "SELECT clinic_id, list(pain_pre ORDER BY session_id), list(pain_post ORDER BY session_id), "
            "list(session_date ORDER BY session_id) FROM staging.sessions GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert by_clinic[0][1:] == by_clinic[1][1:]
    assert 4.8999999999999995 in by_clinic[0][1] and 4.8999999999999995 != 4.9


def test_row_numbers_follow_the_file_in_a_large_csv(settings, load) -> None:
    rows = [session(session_id=f"S{i:06d}", patient_id=f"P{i % 500:04d}") for i in range(30_000)]
    bad = [17, 12_345, 29_999]
    for i in bad:
        rows[i] = {**rows[i], "sex": "?"}
    write_export(settings.inbox, "exp", rows)
    load()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        got = con.execute("SELECT row_number, session_id FROM quarantine.rejected_rows ORDER BY 1").fetchall()
    assert got == [(i + 1, f"S{i:06d}") for i in bad]


def test_other_entries_of_an_export_are_named_for_what_they_are(tmp_path) -> None:
    folder = write_export(tmp_path / "inbox", "exp", sessions_series(2))
    (folder / "old").mkdir()
    (folder / "notes.txt").write_text("x", encoding="utf-8")
    (export,) = discover_exports(tmp_path / "inbox")
    with duckdb.connect() as con:
        warnings = read_export(export, con).warnings
    assert "ignored the folder 'old': an export holds only sessions and rom files" in warnings
    assert "ignored the file 'notes.txt': an export holds only sessions and rom files" in warnings
