"""The downloads: every table, and the data of every chart, as CSV beside its page, exactly as published,
described column by column in the data dictionary."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from dashboards import downloads
from dashboards.data_dictionary import COLUMNS, build_data_dictionary, describe, dictionary_frame
from dashboards.data_dictionary import reasons as listed_reasons
from dashboards.definitions import heading
from dashboards.downloads import (
    NOT_APPLICABLE,
    NOT_COMPUTABLE,
    REASON_COLUMN,
    SUPPRESSED,
    TABLES,
    csv_text,
    format_value,
    reason,
    write_downloads,
)
from dashboards.payer import RISK_FLAGS
from dashboards.researcher import build_researcher_page
from dashboards.theme import condition_label, fmt
from tests.dashboards.conftest import RUN, Built
from tests.dashboards.test_site import tables
from transforms.config import load_settings


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


# --- every file, every column described -----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["crafted_site", "sample_site"])
def test_every_file_of_the_catalogue_is_written_and_every_column_is_described(
    which: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(which)
    data = built.site / "data"
    assert {p.name for p in data.glob("*.csv")} == {t.filename for t in TABLES.values()}
    described = {(r["file"], r["column"]) for r in _rows(data / "data-dictionary.csv")}
    written = set()
    for table in TABLES.values():
        header = _header(data / table.filename)
        assert header == table.columns(built.settings), table.name
        assert header[-1] == REASON_COLUMN
        for column in header:
            entry = describe(table.name, column, built.settings)  # KeyError: a column without a description
            assert entry.unit and entry.meaning and "{" not in entry.meaning, (table.name, column)
            written.add((table.filename, column))
    assert described == written  # the dictionary describes exactly the columns of the files
    readme = (data / "README.txt").read_text(encoding="utf-8")
    assert all(t.filename in readme for t in TABLES.values())


def test_a_column_without_a_description_is_refused() -> None:
    settings = load_settings(environ={})
    with pytest.raises(KeyError, match="no description"):
        describe("researcher-conditions", "n_new_measure", settings)
    frame = pd.DataFrame({"condition_group": ["all"], "n_new_measure": [1]})
    with pytest.raises(ValueError, match="not the catalogue's"):
        csv_text(downloads.download("researcher-conditions", frame), settings)


def test_every_definition_section_of_the_dictionary_exists() -> None:
    sections = {c.section for c in COLUMNS if c.section}
    assert sections and all(heading(s) is not None for s in sections), sections
    frame = dictionary_frame(load_settings(environ={}))
    assert (frame["definition_link"].str.startswith("definitions.html#") | (frame["definition_link"] == "")).all()


def test_the_dictionary_states_the_settings_in_force(tmp_path: Path) -> None:
    settings = load_settings(environ={"OUTCOMES_SUPPRESSION_THRESHOLD": "20", "OUTCOMES_RESPONDER_MIN_FRACTION": "0.35",
                                      "OUTCOMES_RELIEF_REPORT_TIMES": "2,6"})
    page = build_data_dictionary(tmp_path, settings, RUN)
    text = page.read_text(encoding="utf-8")
    assert "resting on 1 to 19 distinct patients" in text and "threshold 20" in text
    assert "35% of their baseline" in text and "30% of their baseline" not in text
    rows = _rows(tmp_path / "data" / "data-dictionary.csv")
    relief = [r["column"] for r in rows if r["file"] == "researcher-conditions.csv" and r["column"].startswith("relief")]
    assert relief == ["relief_by_2", "relief_by_4", "relief_by_6", "relief_by_8"]
    assert "<script" not in text  # the dictionary needs no script, and loads nothing from elsewhere
    assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", text) and "url(" not in text
    assert "href='../definitions.html#2-pain'" in text and "href='../index.html'" in text


# --- exactly the published values ------------------------------------------------------------------------------


def test_a_suppressed_cell_is_empty_with_its_reason(crafted_site: Built) -> None:
    data = crafted_site.site / "data"
    conditions = {r["condition_group"]: r for r in _rows(data / "researcher-conditions.csv")}
    values = TABLES["researcher-conditions"].value_columns(crafted_site.settings)
    for group in ("migraine", "sciatica"):  # 3 and 10 patients
        assert all(conditions[group][c] == "" for c in values), group
        assert conditions[group][REASON_COLUMN] == SUPPRESSED
    director = {(r["clinic_id"], r["condition_group"]): r for r in _rows(data / "director-conditions.csv")}
    neck = director[("all", "neck_pain")]  # 11 patients, fewer of them pain-evaluable
    assert neck["n_patients"] == "11" and neck["mean_pain_change"] == "" and neck["responder_rate"] == ""
    assert neck[REASON_COLUMN].startswith(f"{SUPPRESSED}: n_pain_evaluable, mean_pain_change")
    assert "n_patients" not in neck[REASON_COLUMN]
    assert director[("all", "migraine")][REASON_COLUMN] == SUPPRESSED


def explained(because: str, values: list[str]) -> dict[str, str]:
    """The columns an ``empty_because`` text explains, with their reason."""
    if not because:
        return {}
    if ": " not in because:
        return dict.fromkeys(values, because)
    out = {}
    for part in because.split("; "):
        text, columns = part.rsplit(": ", 1)
        out.update(dict.fromkeys(columns.split(", "), text))
    return out


@pytest.mark.parametrize("which", ["crafted_site", "sample_site"])
def test_every_empty_cell_is_explained_and_every_explained_cell_is_empty(
    which: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(which)
    reasons: set[str] = set()
    for table in TABLES.values():
        values = table.value_columns(built.settings)
        for row in _rows(built.site / "data" / table.filename):
            why = explained(row[REASON_COLUMN], values)
            assert set(why) == {c for c in values if row[c] == ""}, (table.name, row)
            reasons |= set(why.values())
    assert SUPPRESSED in reasons and NOT_APPLICABLE in reasons
    assert reasons <= {text for text, _ in listed_reasons(built.settings)}  # the dictionary explains each one


def test_shown_values_are_the_warehouse_values_at_full_precision(crafted_site: Built) -> None:
    rows = {r["condition_group"]: r for r in _rows(crafted_site.site / "data" / "researcher-conditions.csv")}
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        mart = con.execute("SELECT mean_pain_change, responder_ci_low, srm, n_pain_evaluable FROM "
                           "marts.condition_outcomes WHERE condition_group = 'low_back_pain'").fetchall()[0]
    row = rows["low_back_pain"]
    assert row["mean_pain_change"] == repr(mart[0]) and float(row["mean_pain_change"]) == mart[0]
    assert float(row["responder_ci_low"]) == mart[1] and float(row["srm"]) == mart[2]
    assert row["n_pain_evaluable"] == str(mart[3])
    assert len(row["mean_pain_change"]) > 8  # not the page's rounded text


def _page_number(cell: str) -> str:
    return cell.split("|")[0].strip()


@pytest.mark.parametrize("which", ["crafted_site", "sample_site"])
def test_the_condition_tables_say_what_their_pages_say(which: str, request: pytest.FixtureRequest) -> None:
    """Every number of the researcher's and the all-clinics director's condition tables is in the CSV (shown
    cells rounded as on the page), and every cell the page suppresses is empty in the CSV."""
    built: Built = request.getfixturevalue(which)
    data = built.site / "data"
    checks = (
        ("researcher.html", "conditions", "researcher-conditions.csv", {}, (
            ("Pain-evaluable episodes", "n_pain_evaluable", 0), ("Mean baseline", "mean_baseline_pain", 1),
            ("Mean change (95% CI)", "mean_pain_change", 2), ("SRM", "srm", 2))),
        ("director.html", "all-conditions", "director-conditions.csv", {"clinic_id": "all"}, (
            ("Patients", "n_patients", 0), ("Episodes", "n_episodes", 0), ("Sessions", "n_sessions", 0),
            ("Mean change, points (95% CI)", "mean_pain_change", 2))),
    )
    compared = suppressed = 0
    for page, table_id, file, where, columns in checks:
        header, *body = tables(built.site / page)[table_id]
        rows = {condition_label(r["condition_group"]): r for r in _rows(data / file)
                if all(r[k] == v for k, v in where.items())}
        assert len(rows) == len(body)
        for cells in body:
            row = rows[cells[0]]
            for title, column, digits in columns:
                shown = _page_number(cells[header.index(title)])
                if shown == SUPPRESSED:
                    assert row[column] == "" and row[REASON_COLUMN].startswith(SUPPRESSED), (file, cells[0], column)
                    suppressed += 1
                else:
                    assert fmt(float(row[column]), digits) == shown, (file, cells[0], column)
                    compared += 1
    assert compared > 10 and (suppressed > 0 or which == "sample_site")


def test_the_number_at_risk_file_is_the_page_table(crafted_site: Built) -> None:
    header, *body = tables(crafted_site.site / "researcher.html")["at-risk"]
    rows = {(condition_label(r["condition_group"]), f"t = {r['t']}"): r
            for r in _rows(crafted_site.site / "data" / "researcher-number-at-risk.csv")}
    assert len(rows) == len(body) * (len(header) - 1)
    for cells in body:
        for title, cell in zip(header[1:], cells[1:], strict=True):
            row = rows[(cells[0], title)]
            if cell == SUPPRESSED:
                assert row["at_risk"] == "" and row[REASON_COLUMN] == SUPPRESSED
            else:
                assert row["at_risk"] == cell.replace(",", "") and row[REASON_COLUMN] == ""


def test_rows_the_page_only_counts_are_left_out(crafted_site: Built) -> None:
    """Outcomes by technique: the page gives the number of suppressed combinations, not their names, so the CSV
    lists only the shown ones (each resting on enough patients)."""
    k = crafted_site.settings.suppression_threshold
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        support = {(c, t): n for c, t, n in con.execute(
            "SELECT condition_group, technique, n_patients_pain_evaluable FROM marts.technique_outcomes").fetchall()}
    rows = _rows(crafted_site.site / "data" / "researcher-techniques.csv")
    assert rows and any(0 < n < k for n in support.values())
    for row in rows:
        assert support[(row["condition_group"], row["technique"])] >= k
        assert row[REASON_COLUMN] == ""
    assert ("neck_pain", "myofascial_release") not in {(r["condition_group"], r["technique"]) for r in rows}


def test_a_flag_that_does_not_apply_reads_not_applicable(crafted_site: Built) -> None:
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        checked = {p for (p,) in con.execute(
            "SELECT DISTINCT payer_type FROM ref.audit_payer_rules WHERE applies AND flag IN (SELECT unnest(?))",
            [list(RISK_FLAGS)]).fetchall()}
    rows = _rows(crafted_site.site / "data" / "payer-units.csv")
    unchecked = [r for r in rows if r["payer_type"] != "all" and r["payer_type"] not in checked]
    assert unchecked  # self-pay: no necessity or authorisation rule applies
    for row in unchecked:
        assert row["units_at_risk"] == "" and f"{NOT_APPLICABLE}: units_at_risk" in row[REASON_COLUMN]


def test_the_funnel_files_give_the_limits_at_each_point(sample_site: Built) -> None:
    data = sample_site.site / "data"
    with duckdb.connect(str(sample_site.warehouse), read_only=True) as con:
        sd = con.execute("SELECT max(residual_sd) FROM marts.model_coefficients").fetchall()[0][0]
    rows = _rows(data / "director-funnel.csv")
    assert rows
    for row in rows:
        n = float(row["n"])
        assert float(row["limit_95"]) == pytest.approx(1.959964 * sd / math.sqrt(n), rel=1e-12)
        assert float(row["limit_998"]) == pytest.approx(3.090232 * sd / math.sqrt(n), rel=1e-12)
        inside = abs(float(row["o_minus_e"])) <= float(row["limit_95"])
        assert (row["position"] == "within the 95% limits") == inside
    rows = _rows(data / "payer-flag-rate-funnel.csv")
    assert rows
    for row in rows:
        rate, n = float(row["overall_rate"]), float(row["n_episodes"])
        assert float(row["flag_rate"]) == float(row["n_flagged_episodes"]) / n
        half = 1.959963984540054 * math.sqrt(rate * (1 - rate) / n)
        assert float(row["limit_95_low"]) == pytest.approx(max(0.0, rate - half), rel=1e-9)
        assert float(row["limit_95_high"]) == pytest.approx(min(1.0, rate + half), rel=1e-9)


# --- the links --------------------------------------------------------------------------------------------------


def test_every_download_is_linked_from_its_page(sample_site: Built) -> None:
    for table in TABLES.values():
        if table.page.startswith("data/") or len(_rows(sample_site.site / "data" / table.filename)) == 0:
            continue  # the dictionary itself; a table the page replaces by a message when it has no rows
        text = (sample_site.site / table.page).read_text(encoding="utf-8")
        assert f"href='data/{table.filename}' download>" in text, table.name
        assert re.search(f"href='data/{table.filename}' download>[^<]*</a>(<a [^>]*>[^<]*</a>)*"
                         r"<a href='data/index.html#[a-z-]+'>what the columns mean</a>", text), table.name
    assert "href='data/index.html'" in (sample_site.site / "index.html").read_text(encoding="utf-8")


def test_the_overview_counts_the_exports_in_the_warehouse(crafted_site: Built) -> None:
    text = (crafted_site.site / "index.html").read_text(encoding="utf-8")
    card = re.search(r"<div class=label>Exports in the warehouse</div><div class=value>([^<]*)</div>"
                     r"<div class=ci>([^<]*)</div>", text)
    assert card is not None
    assert card.group(1) == "2" and card.group(2).startswith("loaded; 2 rejected")  # as the quality page's cards
    assert "replaced" not in card.group(2) and "unchanged" not in card.group(2)
    quality = (crafted_site.site / "quality.html").read_text(encoding="utf-8")
    assert "<div class=label>Exports loaded</div><div class=value>2</div>" in quality
    assert "<div class=label>Exports rejected</div><div class=value>2</div>" in quality


# --- the writer ------------------------------------------------------------------------------------------------


def test_values_are_written_at_full_precision() -> None:
    assert format_value(0.1 + 0.2) == "0.30000000000000004"
    assert format_value(np.float64(1) / 3) == "0.3333333333333333"
    assert format_value(40.0) == "40" and format_value(np.int64(7)) == "7" and format_value(-0.0) == "0"
    assert format_value(None) == format_value(float("nan")) == format_value(pd.NA) == ""
    assert format_value(True) == "true" and format_value(np.bool_(False)) == "false"
    assert format_value(1e20) == "1e+20"


def test_a_reason_empties_its_cells_whatever_the_frame_holds() -> None:
    settings = load_settings(environ={})
    frame = pd.DataFrame({"clinic_id": ["all", "C1", "C2"], "n_ended": [20, 12, 8], "lost_rate": [0.25, None, 0.5],
                          "lost_ci_low": [0.1, 0.2, 0.3], "lost_ci_high": [0.4, 0.5, 0.6]})
    item = downloads.download("director-lost-to-follow-up", frame, reason(SUPPRESSED, [False, False, True]),
                              reason(NOT_APPLICABLE, [False, True, True], ["lost_ci_low"]))
    lines = csv_text(item, settings).splitlines()
    assert lines[0] == "clinic_id,n_ended,lost_rate,lost_ci_low,lost_ci_high,empty_because"
    assert lines[1] == "all,20,0.25,0.1,0.4,"
    assert lines[2] == f"C1,12,,,0.5,{NOT_COMPUTABLE}: lost_rate; {NOT_APPLICABLE}: lost_ci_low"
    assert lines[3] == f"C2,,,,,{SUPPRESSED}"  # the first reason given wins; the suppressed values are not written
    with pytest.raises(ValueError, match="flags for 3 rows"):
        csv_text(downloads.download("director-lost-to-follow-up", frame, reason(SUPPRESSED, [True])), settings)


def test_a_page_writes_exactly_its_catalogue_and_clears_its_old_files(crafted_site: Built, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "researcher-old-table.csv").write_text("x\n")
    (data / "payer-flags.csv").write_text("kept\n")
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        build_researcher_page(con, tmp_path, crafted_site.settings, RUN)
    names = {p.name for p in data.glob("*.csv")}
    assert names == {t.filename for t in TABLES.values() if t.page == "researcher.html"} | {"payer-flags.csv"}
    with pytest.raises(ValueError, match="not the catalogue's"):
        write_downloads(tmp_path, "researcher.html", [], crafted_site.settings)
