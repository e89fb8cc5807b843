"""Contract 1.1's four readings, each on a tiny export, and the cause of every unreadable file.

The readings share one load of one inbox (one Great Expectations run); the unreadable files are
refused by the reader before any validation.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SESSION_COLUMNS, rom, session, sessions_series, write_export
from transforms.config import load_settings
from transforms.exports import ExportRejected, discover_exports, read_export
from transforms.loading import load_exports, new_run_id
from transforms.staging import build_staging
from transforms.warehouse import open_warehouse


def _with_bad_rom(n_sessions: int, n_bad_rom: int, clinic: str) -> tuple[list[dict], list[dict]]:
    """Sessions of which the first breaks a rule, and as many ROM rows, ``n_bad_rom`` of them broken.

    The first broken ROM row is the one of the quarantined session (it is quarantined too, and counts).
    """
    rows = sessions_series(n_sessions, clinic_id=clinic)
    rows[0] = {**rows[0], "pain_pre": "15"}
    rom_rows = [rom(session_id=f"S{i + 1}", clinic_id=clinic) for i in range(n_sessions)]
    for i in range(1, n_bad_rom):
        rom_rows[i] = {**rom_rows[i], "value": "-5"}
    return rows, rom_rows


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    """One inbox with an export per reading, loaded once; returns (outcomes by export, warehouse path)."""
    root = tmp_path_factory.mktemp("readings")
    settings = load_settings(environ={}, inbox=root / "inbox", warehouse=root / "w.duckdb", site=root / "site",
                             restricted=root / "restricted")
    inbox = settings.inbox
    booleans = ["True", "FALSE", "Yes", "nO", "1", "0", "  TRUE\t", "false"]
    write_export(inbox, "bools", [session(session_id=f"S{i}", clinic_id="CB", goals_documented=v)
                                  for i, v in enumerate(booleans)])
    folder = inbox / "spaces"
    folder.mkdir(parents=True)
    padded = {**session(clinic_id="CS"), "session_date": "\t2026-02-01", "visit_type": "evaluation\t",
              "sex": "\r\nF\n", "techniques": " swedish\t; pnf ", "payer_type": "\tcommercial \t",
              "pain_pre": " 6\t"}
    values = [padded[c] for c in SESSION_COLUMNS]
    (folder / "sessions.csv").write_text(
        ",".join(SESSION_COLUMNS) + "\n" + ",".join(f'"{v}"' for v in values) + "\n", encoding="utf-8", newline=""
    )
    # numbers as the contract writes them, and as DuckDB's cast alone would also take them
    numbers = [("1_0", "3"), ("6", "1_0"), ("6", "1e2"), ("6", "3.0"), ("1e1", "+2"), (".5", "2."), ("6.5", "-0"),
               *[("5", "4")] * 9]  # 3 broken rows of 16: under the 20% share
    write_export(inbox, "numbers", [session(session_id=f"S{i}", clinic_id="CN", pain_pre=p, units=u)
                                    for i, (p, u) in enumerate(numbers)])
    write_export(inbox, "empty-month", [])
    write_export(inbox, "empty-month-parquet", [], fmt="parquet")
    write_export(inbox, "share-over", *_with_bad_rom(10, 4, "CO"))   # (1 + 4) / 20 = 25 %
    write_export(inbox, "share-at", *_with_bad_rom(10, 3, "CA"))     # (1 + 3) / 20 = 20 %
    outcomes = load_exports(discover_exports(inbox), lambda: open_warehouse(settings.warehouse), settings,
                            new_run_id())
    with open_warehouse(settings.warehouse) as con:
        build_staging(con, settings)
    return {o.export: o for o in outcomes}, settings.warehouse


def _query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_booleans_in_any_letter_case(loaded) -> None:
    outcomes, warehouse = loaded
    assert outcomes["bools"].status == "loaded" and outcomes["bools"].rows_quarantined == 0
    got = _query(warehouse, "SELECT session_id, goals_documented FROM staging.sessions WHERE clinic_id = 'CB' "
                            "ORDER BY session_id")
    assert got == [("S0", True), ("S1", False), ("S2", True), ("S3", False), ("S4", True), ("S5", False),
                   ("S6", True), ("S7", False)]


def test_tabs_and_line_breaks_around_values_are_trimmed(loaded) -> None:
    outcomes, warehouse = loaded
    assert (outcomes["spaces"].status, outcomes["spaces"].rows_quarantined) == ("loaded", 0)
    got = _query(warehouse, "SELECT session_date, visit_type, sex, techniques, payer_type, pain_pre "
                            "FROM staging.sessions WHERE clinic_id = 'CS'")
    assert [tuple(str(v) for v in row) for row in got] == [
        ("2026-02-01", "evaluation", "F", "swedish;pnf", "commercial", "6.0")
    ]


@pytest.mark.parametrize("export", ["empty-month", "empty-month-parquet"])
def test_a_sessions_file_with_a_header_and_no_rows_loads_with_0_rows(loaded, export) -> None:
    outcomes, warehouse = loaded
    outcome = outcomes[export]
    assert (outcome.status, outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 0, 0, 0)
    expected = "loaded 0 rows: the sessions file has a header and no rows (a period without visits)"
    assert _query(warehouse, "SELECT status, reason, public_reason, rows_in FROM ops.load_log WHERE export = ?",
                  [export]) == [("loaded", expected, expected, 0)]
    assert _query(warehouse, "SELECT count(*) FROM ops.exports WHERE export = ?", [export]) == [(1,)]


def test_the_share_counts_both_files(loaded) -> None:
    outcomes, warehouse = loaded
    over, at = outcomes["share-over"], outcomes["share-at"]
    assert over.status == "rejected"
    assert over.reason.startswith("5 of 20 rows (25.0%) break a row rule, more than the 20% allowed")
    assert over.public_reason.startswith("more than 20% of its rows break a row rule; most often: ")
    assert (at.status, at.rows_in, at.rows_loaded, at.rows_quarantined) == ("loaded", 20, 16, 4)
    assert _query(warehouse, "SELECT file, count(*) FROM quarantine.rejected_rows WHERE export = 'share-at' "
                             "GROUP BY 1 ORDER BY 1") == [("rom", 3), ("sessions", 1)]


def test_public_reasons_hold_no_counts(loaded) -> None:
    outcomes, _ = loaded
    at = outcomes["share-at"]
    assert at.reason.startswith("loaded 16 of 20 rows; 4 quarantined: ")
    assert at.public_reason == ("loaded; some rows quarantined, most often for rom.value.out_of_range, "
                                "rom.session_id.session_not_in_export, sessions.pain_pre.out_of_range")
    assert not any(ch.isdigit() for ch in at.public_reason)


def test_reject_share_setting_is_used(tmp_path) -> None:
    settings = load_settings(environ={"OUTCOMES_REJECT_SHARE": "0.25"}, inbox=tmp_path / "i",
                             warehouse=tmp_path / "w.duckdb", site=tmp_path / "s", restricted=tmp_path / "r")
    assert settings.reject_share == Decimal("0.25")


# --- unreadable files: the cause, and where --------------------------------------------------------------


def _refusal(tmp_path: Path) -> ExportRejected:
    (export,) = discover_exports(tmp_path)
    with duckdb.connect() as con, pytest.raises(ExportRejected) as info:
        read_export(export, con)
    return info.value


def _csv(tmp_path: Path, body: bytes, name: str = "sessions.csv") -> None:
    folder = tmp_path / "exp"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(body)


HEADER = ",".join(SESSION_COLUMNS).encode()
ROW = ",".join(str(session()[c]) for c in SESSION_COLUMNS).encode()


def test_wrong_number_of_columns_at_line_n(tmp_path) -> None:
    _csv(tmp_path, HEADER + b"\n" + ROW + b"\n" + ROW + b"\n" + ROW.rsplit(b",", 2)[0] + b"\n")
    exc = _refusal(tmp_path)
    assert str(exc) == (f"sessions.csv could not be parsed: wrong number of columns at line 4 (data row 3): "
                        f"{len(SESSION_COLUMNS) - 2} values where the header has {len(SESSION_COLUMNS)} columns")
    assert exc.public == "sessions.csv could not be parsed: a line has the wrong number of columns"


def test_the_line_of_a_parse_error_counts_line_breaks_inside_quoted_values(tmp_path) -> None:
    # the first data row's techniques value spans three lines: the third data row starts on line 6
    quoted = ROW.replace(b"swedish;trigger_point", b'"swedish;\n\ntrigger_point"', 1)
    assert quoted != ROW
    _csv(tmp_path, HEADER + b"\n" + quoted + b"\n" + ROW + b"\n" + ROW + b",extra\n")
    exc = _refusal(tmp_path)
    assert str(exc) == (f"sessions.csv could not be parsed: wrong number of columns at line 6 (data row 3): "
                        f"{len(SESSION_COLUMNS) + 1} values where the header has {len(SESSION_COLUMNS)} columns")


def test_unterminated_quote(tmp_path) -> None:
    _csv(tmp_path, HEADER + b"\n" + ROW + b'\nS2,C1,"P0002\n')
    exc = _refusal(tmp_path)
    assert str(exc) == ("sessions.csv could not be parsed: unterminated quote: a quoted value starting at line 3 "
                        "(data row 2) is never closed")
    assert "line" not in exc.public and "unterminated quote" in exc.public


def test_not_utf8_at_byte_n(tmp_path) -> None:
    latin = ROW.replace(b"P0001", b"P\xe9001")
    _csv(tmp_path, HEADER + b"\n" + ROW + b"\n" + latin + b"\n")
    offset = len(HEADER) + 1 + len(ROW) + 1 + latin.index(b"\xe9")
    exc = _refusal(tmp_path)
    assert str(exc) == (f"sessions.csv could not be parsed: it is not UTF-8: byte 0xE9 at byte {offset} (line 3) is "
                        "not valid UTF-8; save it as UTF-8 and send it again")
    assert exc.public == "sessions.csv could not be parsed: it is not UTF-8; save it as UTF-8 and send it again"


@pytest.mark.parametrize("content", [b"PAR1 this is not parquet", b"tiny", HEADER + b"\n" + ROW])
def test_not_a_parquet_file(tmp_path, content) -> None:
    _csv(tmp_path, content, "sessions.parquet")
    exc = _refusal(tmp_path)
    assert exc.public in ("sessions.parquet could not be parsed: it is not a Parquet file",
                          "sessions.parquet could not be parsed: it is not a readable Parquet file")
    assert str(tmp_path) not in str(exc)  # never the server's path


def test_an_empty_file_has_no_header(tmp_path) -> None:
    _csv(tmp_path, b"")
    assert str(_refusal(tmp_path)) == "sessions.csv could not be parsed: it is empty (no header row)"


def test_numbers_are_read_only_as_written_in_the_contract(loaded) -> None:
    """'1_0' is not a number (DuckDB's cast would read 10), '1e2' is not a whole number (100); '3.0', '+2',
    '2.', '-0', '1e1', '.5' are."""
    _, warehouse = loaded
    broken = _query(warehouse, "SELECT row_number, rule, column_name, value FROM quarantine.rejected_rows "
                               "WHERE export = 'numbers' ORDER BY row_number, rule")
    assert broken == [(1, "not_a_number", "pain_pre", "1_0"), (2, "not_an_integer", "units", "1_0"),
                      (3, "not_an_integer", "units", "1e2")]
    assert _query(warehouse, "SELECT pain_pre, units FROM staging.sessions WHERE clinic_id = 'CN' "
                             "AND session_id IN ('S3', 'S4', 'S5', 'S6') ORDER BY session_id") == [
        (6.0, 3), (10.0, 2), (0.5, 2), (6.5, 0)]


def _read_alone(tmp_path: Path, content: bytes) -> ExportRejected | None:
    folder = tmp_path / "inbox" / "exp"
    folder.mkdir(parents=True)
    (folder / "sessions.csv").write_bytes(content)
    (export,) = discover_exports(tmp_path / "inbox")
    try:
        with duckdb.connect() as con:
            read_export(export, con)
    except ExportRejected as exc:
        return exc
    return None


def _csv_bytes(tmp_path: Path, n: int) -> bytes:
    write_export(tmp_path / "src", "x", sessions_series(n))
    return (tmp_path / "src" / "x" / "sessions.csv").read_bytes().replace(b"\r\n", b"\n")


def test_mixed_line_endings_are_named_with_the_line(tmp_path) -> None:
    """A file whose lines alternate between LF and CRLF: DuckDB's reader stops with 'the CSV Parser state
    machine reached an invalid state'; the reason says what is wrong and where."""
    sample = Path(__file__).resolve().parents[2] / "data" / "sample" / "clinic-north-2026-02" / "sessions.csv"
    lines = sample.read_bytes().replace(b"\r\n", b"\n").split(b"\n")[:-1]
    exc = _read_alone(tmp_path, b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(lines)))
    assert exc is not None
    assert str(exc) == ("sessions.csv could not be parsed: it mixes line endings (lines end with CRLF and with LF; the "
                        "first change is at line 2); save it with one kind of line ending")
    assert "line 2" not in exc.public


def test_a_semicolon_separated_file_gets_a_hint(tmp_path) -> None:
    exc = _read_alone(tmp_path, _csv_bytes(tmp_path, 3).replace(b",", b";"))
    assert exc is not None and "the file seems separated by semicolons, not commas" in str(exc)


def test_two_byte_order_marks_are_named(tmp_path) -> None:
    bom = b"\xef\xbb\xbf"
    body = _csv_bytes(tmp_path, 3)
    assert _read_alone(tmp_path / "one", bom + body) is None  # one is fine
    exc = _read_alone(tmp_path / "two", bom + bom + body)
    assert exc is not None and str(exc) == (
        "sessions.csv is missing required column(s): session_id (the file starts with two byte-order marks, so its "
        "first column name is not read as written; save it as UTF-8 once)")


def test_a_blank_first_line_is_named(tmp_path) -> None:
    exc = _read_alone(tmp_path, b"\n" + _csv_bytes(tmp_path, 3))
    assert exc is not None and str(exc) == ("sessions.csv could not be parsed: its first line is blank (the header "
                                            "row must be the first line)")
