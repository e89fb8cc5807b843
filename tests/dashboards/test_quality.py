"""The public quality page: the warehouse's current state, public reasons only, and section 9 suppression.

A hand-made load log (so every count is known): exports of 40, 30 and 5 distinct patients loaded,
one refused for too many broken rows (20 patients), one that could not be read (patients unknown),
and a rerun that only logged `unchanged` rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dashboards.quality import build_quality_page, public_reason
from dashboards.queries import load_status
from tests.dashboards.test_site import tables
from transforms.config import load_settings
from transforms.loading import SCHEMA_SQL

T0 = datetime(2026, 10, 1, 8, 0)
LOG_COLUMNS = "run_id, export, status, reason, public_reason, rows_in, rows_loaded, rows_quarantined, patients_in, " \
              "checksum, loaded_at"
FULL_ONLY = "SECRET-FULL-REASON line 57"
# big-40 was loaded with a mapping profile; its refused correction came with a changed one
PROFILE_IN_FORCE = "a" * 12 + "0" * 52
PROFILE_CELL = f"profile.toml ({'a' * 12})"


def _warehouse(path: Path) -> Path:
    t1 = T0 + timedelta(days=1)
    log = [
        ("r1", "big-40", "loaded", f"loaded 397 of 400 rows {FULL_ONLY}", "loaded; some rows quarantined", 400, 397, 3,
         40, "c40", T0),
        ("r1", "mid-30", "loaded", "loaded 298 of 300 rows", "loaded; some rows quarantined", 300, 298, 2, 30, "c30", T0),
        ("r1", "small-5", "loaded", "loaded 49 of 50 rows", "loaded; some rows quarantined", 50, 49, 1, 5, "c5", T0),
        ("r1", "noisy-20", "rejected", "60 of 100 rows (60.0%) break a row rule", "more than 20% of its rows break a "
         "row rule", 100, None, 60, 20, "cn", T0),
        ("r1", "broken", "rejected", f"sessions.csv could not be parsed: wrong number of columns at {FULL_ONLY}",
         "sessions.csv could not be parsed: a line has the wrong number of columns", None, None, None, None, "cb", T0),
        ("r1", "_qa", "ignored", "folders starting with _ are skipped", "folders starting with _ are skipped",
         None, None, None, None, None, T0),
        # a rerun that changed nothing, and a refused correction of big-40
        *[("r2", e, "unchanged", "unchanged since ...", "unchanged since ...", None, None, None, None, c, t1)
          for e, c in (("mid-30", "c30"), ("small-5", "c5"), ("noisy-20", "cn"), ("broken", "cb"))],
        ("r2", "notes.txt", "ignored", "files directly in the inbox are skipped: an export is a folder",
         "files directly in the inbox are skipped: an export is a folder", None, None, None, None, None, t1),
        ("r2", "big-40", "rejected", "sessions.csv: patient_id has 1 value(s) that look like a date (row 9)",
         "sessions.csv: patient_id holds values that look like a date", None, None, None, 41, "c40-v2", t1),
    ]
    quarantine = [("big-40", "pain_pre", 3), ("mid-30", "pain_pre", 2), ("small-5", "pain_pre", 1)]
    with duckdb.connect(str(path)) as con:
        con.execute(SCHEMA_SQL.read_text(encoding="utf-8"))
        con.executemany(f"INSERT INTO ops.load_log ({LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", log)
        con.execute("INSERT INTO ops.exports VALUES ('big-40', 1, 'c40', ?, ?), ('mid-30', 2, 'c30', ?, ?), "
                    "('small-5', 3, 'c5', ?, ?)", [T0] * 6)
        con.execute("UPDATE ops.load_log SET profile = 'profile.toml', profile_checksum = CASE checksum "
                    "WHEN 'c40' THEN ? ELSE ? END WHERE export = 'big-40'", [PROFILE_IN_FORCE, "b" * 64])
        for export, column, n in quarantine:
            con.executemany("INSERT INTO quarantine.rejected_rows (export, file, row_number, session_id, rule, "
                            "column_name, value) VALUES (?, 'sessions', ?, 'S', 'out_of_range', ?, "
                            "'99')", [(export, i, column) for i in range(n)])
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, list[list[str]]], Path]:
    root = tmp_path_factory.mktemp("quality")
    warehouse = _warehouse(root / "w.duckdb")
    settings = load_settings(environ={}, restricted=root / "clinic-private" / "out", site=root / "site")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        path = build_quality_page(con, settings.site, settings)
    return path.read_text(encoding="utf-8"), tables(path), warehouse


def _row(found: dict, table: str, first: str) -> list[str]:
    return next(r for r in found[table] if r and r[0] == first)


def test_load_status_is_the_current_state_not_the_last_run(page) -> None:
    with duckdb.connect(str(page[2]), read_only=True) as con:
        status = load_status(con).set_index("export")
    assert status["status"].to_dict() == {"big-40": "loaded", "broken": "rejected", "mid-30": "loaded",
                                          "noisy-20": "rejected", "small-5": "loaded"}
    assert status.loc["mid-30", "rows_loaded"] == 298  # the version in force, though the last run logged `unchanged`
    assert bool(status.loc["big-40", "newer_version_rejected"]) is True
    assert status.loc["big-40", "rejected_reason"] == "sessions.csv: patient_id holds values that look like a date"
    assert "_qa" not in status.index


def test_cards_describe_the_warehouse(page) -> None:
    text = page[0]
    assert "Exports loaded</div><div class=value>3</div>" in text
    assert "Exports rejected</div><div class=value>2</div>" in text
    assert "Rows loaded</div><div class=value>744</div>" in text  # 397 + 298 + 49: the total rests on 75 patients
    # export rows, not sessions: the card says that a corrected session is counted in both exports
    assert "a session that a later export corrects counts once in each" in text
    assert "Rows quarantined</div><div class=value>6</div>" in text


def test_row_counts_follow_section_9(page) -> None:
    found = page[1]
    assert _row(found, "exports", "big-40")[1:6] == ["loaded (a newer version was rejected)", PROFILE_CELL, "400", "397",
                                                     "3"]
    assert _row(found, "exports", "small-5")[3:6] == ["fewer than 11 patients"] * 3
    # the second-smallest loaded export is hidden too, or small-5 = total - the others
    assert _row(found, "exports", "mid-30")[3:6] == ["suppressed"] * 3
    assert _row(found, "exports", "noisy-20")[1:4] == ["rejected", "none (the contract's format)", "100"]
    assert _row(found, "exports", "broken")[3] == "not published (patients unknown)"
    # the rule total rests on big-40 and the two hidden exports together (35 patients): shown
    assert found["rules"][1] == ["sessions.pain_pre", "out_of_range", "6"]
    hidden = {"small-5": "fewer than 11 patients", "mid-30": "suppressed"}
    for row in found["load-log"][1:]:
        if row[1] in hidden and row[2] == "loaded":
            assert row[3:6] == [hidden[row[1]]] * 3, row


def test_the_quarantine_chart_hides_the_suppressed_exports(page) -> None:
    text = page[0]
    assert '"x":["big-40","mid-30","small-5"]' in text
    assert '"z":[[3.0,null,null]]' in text and '"text":[["3","suppressed","suppressed"]]' in text


def test_public_reasons_only(page) -> None:
    text, found, _ = page
    assert FULL_ONLY not in text and "row 9" not in text and "(60.0%)" not in text
    assert _row(found, "exports", "broken")[6] == "sessions.csv could not be parsed: a line has the wrong number of columns"
    assert _row(found, "rejected", "big-40")[1:3] == ["sessions.csv: patient_id holds values that look like a date",
                                                     "earlier version stays loaded"]
    assert _row(found, "rejected", "noisy-20")[2] == "not in the figures"


def test_the_actual_restricted_folder_and_the_skipped_entries_are_shown(page) -> None:
    text, found, _ = page
    assert "clinic-private/out/validation/&lt;export&gt;/index.html" in text and "build/restricted" not in text
    assert found["skipped"][1:] == [["notes.txt", "files directly in the inbox are skipped: an export is a folder"]]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("sessions.parquet could not be parsed: 'x' /srv/clinic/inbox/a/sessions.parquet bad",
         "sessions.parquet could not be parsed: 'x' … bad"),
        ("first at row 4 and rows 5, 6", "first at row … and rows …"),
        ("wrong number of columns at line 12", "wrong number of columns at line …"),
    ],
)
def test_public_reason_strips_paths_and_row_numbers(reason, expected) -> None:
    assert public_reason(reason) == expected


# --- quality over time ---------------------------------------------------------------------------------

def _status(rows: list[tuple[str, str, int]]):
    import pandas as pd

    return pd.DataFrame([{"export": e, "status": s, "patients_in": n} for e, s, n in rows])


def _history(rows: list[tuple[int, str, str, int, str]]):
    import pandas as pd

    return pd.DataFrame([{"run_order": n, "run_id": f"r{n}", "checked_at": T0 + timedelta(days=n), "export": e,
                          "rule": r, "rows_checked": 100, "rows_failing": f, "change": c} for n, e, r, f, c in rows])


def test_rule_history_leaves_out_exports_of_few_patients() -> None:
    from dashboards.quality import ExportCells, history_figure

    # small and tiny are hidden together (13 patients), so no other export needs hiding for their sake
    cells = ExportCells(_status([("big", "loaded", 40), ("mid", "loaded", 30), ("small", "loaded", 5),
                                 ("tiny", "loaded", 8)]), 11)
    assert cells.shown("big") and cells.shown("mid") and not cells.shown("small")
    history = _history([(1, "big", "sessions.pain_pre.out_of_range", 3, "new"),
                        (1, "small", "sessions.pain_pre.out_of_range", 2, "new"),
                        (2, "big", "sessions.pain_pre.out_of_range", 0, "resolved"),
                        (2, "mid", "sessions.units.not_an_integer", 4, "new"),
                        (2, "small", "sessions.pain_pre.out_of_range", 2, "persisting")])
    fig = history_figure(history, cells)
    series = {t.name: list(t.y) for t in fig.data}
    assert series == {"sessions.pain_pre.out_of_range": [3.0, 0.0], "sessions.units.not_an_integer": [0.0, 4.0]}
    assert history_figure(_history([(1, "big", "sessions.units.not_an_integer", 0, "passing")]), cells) is None


def test_changes_since_the_previous_run_count_exports() -> None:
    from dashboards.quality import ExportCells, changes_table

    cells = ExportCells(_status([("a", "loaded", 40), ("b", "loaded", 30), ("c", "loaded", 3), ("d", "loaded", 9)]), 11)
    history = _history([(1, "a", "R1", 2, "new"),
                        (2, "a", "R1", 0, "resolved"), (2, "b", "R1", 5, "new"), (2, "c", "R1", 1, "persisting"),
                        (2, "a", "R2", 0, "passing")])
    table = changes_table(history, cells)
    assert "<td>R1</td><td class=num>1</td><td class=num>1</td><td class=num>1</td><td class=num>5</td>" in table
    assert "R2" not in table  # passing everywhere: nothing to report


def test_broken_share_by_clinic_month_is_suppressed_for_few_patients() -> None:
    import pandas as pd

    from dashboards.quality import broken_share_figure

    frame = pd.DataFrame([
        {"clinic_id": "north", "month": "2026-03", "rows_loaded": 95, "rows_broken": 5, "patients": 30},
        {"clinic_id": "north", "month": "2026-04", "rows_loaded": 9, "rows_broken": 1, "patients": 4},
        {"clinic_id": "south", "month": "2026-03", "rows_loaded": 50, "rows_broken": 0, "patients": 12},
    ])
    fig = broken_share_figure(frame, 11)
    heat = fig.data[0]
    assert list(heat.y) == ["Clinic north", "Clinic south"] and list(heat.x) == ["Mar 2026", "Apr 2026"]
    assert heat.z[0][0] == pytest.approx(0.05) and heat.z[0][1] is None and heat.z[1][0] == 0.0
    assert heat.text[0][1] == "fewer than 11 patients" and heat.text[1][1] == ""
    assert broken_share_figure(frame.iloc[0:0], 11) is None
