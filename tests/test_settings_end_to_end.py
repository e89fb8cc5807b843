"""A whole run with non-default settings: every table and every page states the values in force."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
CHANGED = {
    "OUTCOMES_RESPONDER_MIN_FRACTION": "0.35",
    "OUTCOMES_RELIEF_REPORT_TIMES": "2,6",
    "OUTCOMES_SUPPRESSION_THRESHOLD": "6",
    "OUTCOMES_RELIEF_MAX_FRACTION": "0.65",
}


def _text(page: Path) -> str:
    """A page's text with the JSON escapes of its figures undone (Plotly writes ≥ as \\u2265)."""
    raw = page.read_text(encoding="utf-8")
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), raw)


@pytest.fixture(scope="module")
def changed_run(tmp_path_factory):
    build = tmp_path_factory.mktemp("changed-settings")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in CHANGED.items():
            mp.setenv(key, value)
        code = main(["run", "--inbox", str(SAMPLE), "--warehouse", str(build / "warehouse.duckdb"),
                     "--site", str(build / "site"), "--restricted", str(build / "restricted")])
    assert code == 0
    return build


def test_tables_follow_the_settings(changed_run: Path) -> None:
    with duckdb.connect(str(changed_run / "warehouse.duckdb"), read_only=True) as con:
        columns = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
            "AND table_name = 'condition_outcomes' AND column_name LIKE 'relief_by_%' ORDER BY ordinal_position"
        ).fetchall()]
        assert columns == ["relief_by_2", "relief_by_4", "relief_by_6", "relief_by_8"]
        # a responder under 35%: every responder's change is at least 35% of baseline (within the tolerance)
        low = con.execute("SELECT count(*) FROM marts.episode_outcomes WHERE responder "
                          "AND pain_change_pct < 0.35 - 1e-9").fetchall()[0][0]
        between = con.execute("SELECT count(*) FROM marts.episode_outcomes WHERE pain_change >= 2 "
                              "AND pain_change_pct >= 0.30 AND pain_change_pct < 0.35 - 1e-9").fetchall()[0][0]
        assert low == 0 and between > 0  # the sample has episodes the default would count and 35% does not
        settings = json.loads(con.execute("SELECT settings_json FROM ops.runs ORDER BY started_at DESC LIMIT 1")
                              .fetchall()[0][0])
        assert settings["responder_min_fraction"] == "0.35" and settings["relief_report_times"] == [2, 6]


def test_no_page_states_a_default_that_is_not_in_force(changed_run: Path) -> None:
    site = changed_run / "site"
    pages = {p.name: _text(p) for p in site.glob("*.html")}
    for name, text in pages.items():
        assert "≥30%" not in text and "30% of their baseline" not in text, name
        assert "at most 70%" not in text, name
    assert "≥2 points and ≥35%" in pages["director.html"] and "≥2 points and ≥35%" in pages["researcher.html"]
    assert "at most 65% of it" in pages["researcher.html"]
    assert "Relieved by 2" in pages["researcher.html"] and "Relieved by 6" in pages["researcher.html"]
    for name in ("director.html", "researcher.html", "payer.html"):
        assert "resting on 1 to 5 distinct patients" in pages[name], name


def test_definitions_page_states_the_values_in_force(changed_run: Path) -> None:
    text = _text(changed_run / "site" / "definitions.html")
    table = text.split("id='settings-table'")[1].split("</table>")[0]
    changed_rows = re.findall(r"<tr class='setting-changed'><td>([a-z_]+)</td><td>([^<]*)</td>", table)
    assert dict(changed_rows) == {
        "responder_min_fraction": "0.35 (changed)", "relief_report_times": "2, 6 (changed)",
        "suppression_threshold": "6 (changed)", "relief_max_fraction": "0.65 (changed)",
    }
    assert "in force for this run: 0.35" in text and "in force for this run: 0.65" in text
    assert "in force for this run: 6" in text  # the suppression threshold in the publishing section


def test_index_names_the_run_its_exports_and_settings(changed_run: Path) -> None:
    text = _text(changed_run / "site" / "index.html")
    with duckdb.connect(str(changed_run / "warehouse.duckdb"), read_only=True) as con:
        run_id, exports = con.execute("SELECT run_id, exports_json FROM ops.runs ORDER BY started_at DESC LIMIT 1"
                                      ).fetchall()[0]
    assert run_id in text and "4 changed" in text
    for export in json.loads(exports):
        assert export["export"] in text and export["checksum"][:12] in text
    for page in (changed_run / "site").glob("*.html"):
        assert f"Produced by run <code>{run_id}</code>" in page.read_text(encoding="utf-8"), page.name
