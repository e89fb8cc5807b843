"""The published site: offline and self-contained, no identifiers, reproducible, small groups unreadable."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from dashboards.director import build_director_page
from dashboards.queries import missing_columns
from dashboards.site import build_site
from tests.dashboards.conftest import GROUP_SIZES, LEAKS, RUN, Built, empty_staging, site_files
from transforms.config import load_settings
from transforms.marts import build_marts

PAGES = ("index.html", "director.html", "researcher.html", "payer.html", "quality.html", "definitions.html")
SUPPRESSED = "suppressed"


class _Tables(HTMLParser):
    """Every ``<table id=...>`` of a page as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._id: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._id = dict(attrs).get("id") or f"table{len(self.tables)}"
            self.tables[self._id] = []
        elif tag == "tr" and self._id is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._id is not None:
            self.tables[self._id].append(self._row)
            self._row = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(path: Path) -> dict[str, list[list[str]]]:
    """The tables of an HTML file, by id."""
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def number(cell: str) -> int | None:
    """A table cell as an integer (the main line), or None when suppressed."""
    if SUPPRESSED in cell:
        return None
    return int(cell.split("|")[0].strip().replace(",", ""))


def _identifiers(warehouse: Path) -> set[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            str(v) for (v,) in con.execute(
                "SELECT patient_id FROM staging.sessions UNION SELECT session_id FROM staging.sessions "
                "UNION SELECT episode_key FROM staging.sessions UNION SELECT episode_id FROM staging.sessions "
                "WHERE episode_id IS NOT NULL UNION SELECT session_id FROM quarantine.rejected_rows "
                "WHERE session_id IS NOT NULL UNION SELECT episode_key FROM marts.episode_outcomes "
                "UNION SELECT episode_key FROM marts.audit_flags UNION SELECT session_id FROM marts.audit_flags "
                "WHERE session_id IS NOT NULL"
            ).fetchall()
        }


@pytest.mark.parametrize("which", ["crafted_site", "sample_site"])
def test_every_page_is_written_self_contained_and_small(which: str, request: pytest.FixtureRequest) -> None:
    built: Built = request.getfixturevalue(which)
    script = built.site / "assets" / "plotly.min.js"
    assert script.stat().st_size > 1_000_000  # Plotly shipped once for the whole site
    assert [p.name for p in built.site.rglob("*.js")] == ["plotly.min.js"]
    for page in PAGES:
        text = (built.site / page).read_text(encoding="utf-8")
        assert "<script src='assets/plotly.min.js'></script>" in text
        assert (built.site / page).stat().st_size < 1_000_000, page
        assert "plotly.js v" not in text and "Plotly.register" not in text  # not inlined
        # nothing is fetched from elsewhere: no remote src/href, no CSS import or url(), no web font
        assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", text, re.IGNORECASE), page
        assert "@import" not in text and "url(" not in text and "@font-face" not in text
        assert "cdn" not in text.lower()


@pytest.mark.parametrize("which", ["crafted_site", "sample_site"])
def test_no_identifier_reaches_the_site(which: str, request: pytest.FixtureRequest) -> None:
    built: Built = request.getfixturevalue(which)
    ids = _identifiers(built.warehouse)
    assert len(ids) > 300
    for file in site_files(built.site):
        text = file.read_text(encoding="utf-8", errors="replace")
        tokens = set(re.findall(r"[A-Za-z0-9_]+", text))
        assert not (tokens & ids), f"{file.name} contains {sorted(tokens & ids)[:5]}"
        for leak in LEAKS:
            assert leak not in text, f"{file.name} contains {leak}"
    assert len([f for f in site_files(built.site) if f.suffix == ".csv"]) > 30  # the downloads were searched too


def test_the_crafted_identifiers_are_distinctive(crafted_site: Built) -> None:
    """Sanity check of the test above: the crafted ids are found when they are in a file."""
    ids = _identifiers(crafted_site.warehouse)
    assert {"PXQ0001Z", "SXV0001K01", "SXVLEAK01"} <= ids and any(i.startswith("ep_") for i in ids)


def test_site_is_rebuilt_identically(crafted_site: Built, tmp_path: Path) -> None:
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        again = build_site(con, tmp_path / "again", crafted_site.settings, RUN)
    assert len(again) == 7
    files = site_files(tmp_path / "again")  # the pages, the script, the downloads and the data dictionary
    assert len(files) > 40 and (tmp_path / "again" / "data" / "data-dictionary.csv") in files
    assert [f.relative_to(tmp_path / "again") for f in files] == [
        f.relative_to(crafted_site.site) for f in site_files(crafted_site.site)]
    for path in files:
        first = crafted_site.site / path.relative_to(tmp_path / "again")
        assert path.read_bytes() == first.read_bytes(), path.name


def test_pages_work_without_a_run_time_and_without_the_index_run(crafted_site: Built, tmp_path: Path) -> None:
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        written = build_site(con, tmp_path / "s", crafted_site.settings)
    assert {p.name for p in written} == {*PAGES, "plotly.min.js"}


def _cell_values(warehouse: Path, threshold: int, small: bool = True) -> dict[str, set[str]]:
    """Every distinctive float of the warehouse cells resting on fewer (``small``) or at least ``threshold``
    patients, as repr."""
    queries = {
        "condition": "SELECT * FROM marts.condition_outcomes WHERE n_patients < ?",
        "clinic": "SELECT * FROM marts.condition_outcomes_by_clinic WHERE n_patients < ?",
        "therapist": "SELECT * FROM marts.condition_outcomes_by_therapist WHERE n_patients < ?",
        "month": "SELECT * FROM marts.condition_outcomes_by_month WHERE n_patients < ?",
        "clinic_month": "SELECT * FROM marts.condition_outcomes_by_clinic_month WHERE n_patients < ?",
        "pain": "SELECT mean_pain_change, mean_pain_change_ci_low, mean_pain_change_ci_high, responder_rate, "
                "responder_ci_low, responder_ci_high, srm FROM marts.condition_outcomes WHERE n_pain_evaluable < ?",
        "risk": "SELECT * FROM marts.risk_adjusted WHERE n_patients < ?",
        "curve": "SELECT survival, ci_low, ci_high FROM marts.relief_curve WHERE n_patients_at_risk < ?",
        "rom": "SELECT * FROM marts.rom_gains WHERE n_patients < ?",
        "function": "SELECT * FROM marts.function_outcomes WHERE n_patients < ?",
        # research panels: each number on the patients of its denominator
        "lost": "SELECT lost_rate, lost_ci_low, lost_ci_high FROM marts.follow_up "
                "WHERE (condition_group = 'all' OR clinic_id = 'all') AND n_patients_ended < ?",
        "sensitivity": "SELECT * EXCLUDE (condition_group) FROM marts.responder_sensitivity "
                       "WHERE n_patients_evaluable < ?",
        "technique": "SELECT * EXCLUDE (condition_group, technique) FROM marts.technique_outcomes "
                     "WHERE n_patients_pain_evaluable < ?",
        "flare": "SELECT flare_rate, flare_ci_low, flare_ci_high FROM marts.flares WHERE n_patients < ?",
        "responders": "SELECT * EXCLUDE (level, unit_id, clinic_id) FROM marts.risk_adjusted_responders "
                      "WHERE n_patients < ?",
        "calibration": "SELECT mean_expected, mean_observed FROM marts.risk_calibration WHERE n_patients < ?",
        # a model term of a covariate level with few patients (independently of the page's own query)
        "coefficient": "SELECT c.estimate, c.std_error, c.ci_low, c.ci_high FROM marts.model_coefficients c JOIN ("
                       "  SELECT 'age_band=' || age_band AS term, count(DISTINCT (clinic_id, patient_id)) AS n "
                       "  FROM marts.episode_outcomes WHERE pain_evaluable GROUP BY 1 UNION ALL "
                       "  SELECT 'condition_group=' || condition_group, count(DISTINCT (clinic_id, patient_id)) "
                       "  FROM marts.episode_outcomes WHERE pain_evaluable GROUP BY 1 UNION ALL "
                       "  SELECT 'sex=' || sex, count(DISTINCT (clinic_id, patient_id)) "
                       "  FROM marts.episode_outcomes WHERE pain_evaluable GROUP BY 1 UNION ALL "
                       "  SELECT 'payer_type=' || payer_type, count(DISTINCT (clinic_id, patient_id)) "
                       "  FROM marts.episode_outcomes WHERE pain_evaluable GROUP BY 1"
                       ") s USING (term) WHERE s.n < ?",
    }
    out: dict[str, set[str]] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name, sql in queries.items():
            values = set()
            if not small:
                sql = sql.replace(" < ?", " >= ?")
            for row in con.execute(sql, [threshold]).fetchall():
                for v in row:
                    if isinstance(v, float) and len(repr(v)) >= 7:  # e.g. 1.2857142857142858, not 0.5
                        values.add(repr(v))
            out[name] = values
    return out


def test_small_groups_numbers_are_not_in_the_html(crafted_site: Built) -> None:
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        sizes = dict(con.execute("SELECT condition_group, n_patients FROM marts.condition_outcomes").fetchall())
    assert {g: sizes[g] for g in GROUP_SIZES} == GROUP_SIZES and sizes["all"] == sum(GROUP_SIZES.values())
    # every page and every download (CSV at full precision: a small cell's value would be found as written)
    text = "\n".join(p.read_text(encoding="utf-8") for p in site_files(crafted_site.site) if p.suffix != ".js")
    k = crafted_site.settings.suppression_threshold
    values = _cell_values(crafted_site.warehouse, k)
    shown = set().union(*_cell_values(crafted_site.warehouse, k, small=False).values())
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        # the payer funnel's flag rates (overall and per clinic: large cells) may equal a small cell's simple
        # fraction such as 4/9
        shown |= {repr(v) for (v,) in con.execute(
            "WITH n AS (SELECT clinic_id, count(*) AS episodes FROM marts.episode_outcomes GROUP BY ALL "
            "           UNION ALL SELECT 'all', count(*) FROM marts.episode_outcomes), "
            "f AS (SELECT clinic_id, tier, episode_key FROM marts.audit_flags "
            "      UNION ALL SELECT 'all', tier, episode_key FROM marts.audit_flags) "
            "SELECT count(DISTINCT episode_key) / any_value(episodes) FROM f JOIN n USING (clinic_id) "
            "GROUP BY GROUPING SETS ((clinic_id), (clinic_id, tier))").fetchall()}
        # shares the downloads derive from large cells (follow-up completeness and status shares, ROM against
        # normal, improvement in MCIDs), computed here independently
        derived = [
            *(f"SELECT n_with_final_pain / n_episodes FROM {t} WHERE n_patients >= ?" for t in (
                "marts.condition_outcomes", "marts.condition_outcomes_by_clinic", "marts.condition_outcomes_by_therapist")),
            *(f"SELECT {c} / n_episodes FROM marts.follow_up WHERE n_patients >= ?" for c in (
                "n_discharged", "n_active", "n_lost")),
            "SELECT mean_baseline / normal FROM marts.rom_gains WHERE n_patients >= ?",
            "SELECT mean_final / normal FROM marts.rom_gains WHERE n_patients >= ?",
            *(f"SELECT {c} / mcid FROM marts.function_outcomes WHERE n_patients >= ?" for c in (
                "mean_improvement", "improvement_ci_low", "improvement_ci_high")),
        ]
        for sql in derived:
            shown |= {repr(v) for (v,) in con.execute(sql, [k]).fetchall() if v is not None}
    assert values["condition"] and values["risk"] and values["curve"] and values["function"]
    assert values["lost"] and values["sensitivity"] and values["technique"] and values["flare"]
    assert values["responders"] and values["coefficient"]
    for name, reprs in values.items():
        found = sorted(v for v in reprs - shown if v in text)  # (a small cell may share a value with a large one)
        assert not found, f"{name}: {found[:5]}"


def test_small_groups_are_marked_and_cannot_be_recovered_from_totals(crafted_site: Built) -> None:
    """Every condition table of the director page: what the total minus the shown rows leaves is either
    nothing or at least two hidden rows resting on at least 11 patients; the same across clinics."""
    k = crafted_site.settings.suppression_threshold
    found = tables(crafted_site.site / "director.html")
    views = {name: rows for name, rows in found.items() if name.endswith("-conditions")}
    assert set(views) == {"all-conditions", "clinic1-conditions", "clinic2-conditions"}
    grid: dict[tuple[str, str], dict[str, int | None]] = {}
    for name, rows in views.items():
        header, *body = rows
        cols = {h: i for i, h in enumerate(header)}
        for row in body:
            grid[(name, row[0])] = {c: number(row[cols[c]]) for c in ("Patients", "Episodes", "Sessions")}
    overall = {cond: v for (view, cond), v in grid.items() if view == "all-conditions"}
    assert overall["Migraine"]["Patients"] is None and overall["Sciatica"]["Patients"] is None
    assert overall["Low back pain"]["Patients"] == 40 and overall["Neck pain"]["Patients"] == 11

    def check(total: int | None, parts: list[int | None], what: str) -> None:
        if total is None:
            return
        hidden = [p for p in parts if p is None]
        if hidden:
            assert len(hidden) >= 2, f"{what}: one hidden row can be recovered"
            assert total - sum(p for p in parts if p is not None) >= k, f"{what}: hidden rows rest on < {k}"

    for column in ("Patients", "Episodes", "Sessions"):
        for view in views:
            parts = [v[column] for (w, c), v in grid.items() if w == view and c != "All conditions"]
            check(grid[(view, "All conditions")][column], parts, f"{view} {column}")
        for condition in overall:  # the clinics of a condition add up to the overall row
            parts = [grid[(v, condition)][column] for v in ("clinic1-conditions", "clinic2-conditions")
                     if (v, condition) in grid]
            check(overall[condition][column], parts, f"{condition} across clinics {column}")


def test_relief_at_risk_table_cannot_be_recovered_from_the_pooled_row(crafted_site: Built) -> None:
    k = crafted_site.settings.suppression_threshold
    header, *rows = tables(crafted_site.site / "researcher.html")["at-risk"]
    pooled = next(r for r in rows if r[0] == "All conditions")
    for j in range(1, len(header)):
        if SUPPRESSED in pooled[j]:
            continue
        parts = [number(r[j]) for r in rows if r is not pooled]
        hidden = [p for p in parts if p is None]
        if hidden:
            assert len(hidden) >= 2 and number(pooled[j]) - sum(p for p in parts if p) >= k, header[j]
    migraine = next(r for r in rows if r[0] == "Migraine")
    assert all(SUPPRESSED in c for c in migraine[1:])


def test_threshold_is_configurable(crafted_site: Built, tmp_path: Path) -> None:
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        strict = build_director_page(con, tmp_path / "strict", load_settings(environ={}, suppression_threshold=20))
        lax = build_director_page(con, tmp_path / "lax", load_settings(environ={}, suppression_threshold=3))
    strict_rows = {r[0]: r for r in tables(strict)["all-conditions"]}
    lax_rows = {r[0]: r for r in tables(lax)["all-conditions"]}
    assert SUPPRESSED in strict_rows["Neck pain"][1] and number(strict_rows["Low back pain"][1]) == 40
    assert number(lax_rows["Migraine"][1]) == 3


MESSAGE = "<div class='chart-message' role=status>"


def test_everything_suppressed_gives_messages_not_broken_charts(crafted_site: Built, tmp_path: Path) -> None:
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        written = build_site(con, tmp_path / "none", load_settings(environ={}, suppression_threshold=1000), RUN)
    for path in written:
        if path.name in ("director.html", "researcher.html", "payer.html"):
            text = path.read_text(encoding="utf-8")
            assert "plotly-graph-div" not in text, path.name
            assert text.count(MESSAGE) >= 3, path.name


def test_an_empty_warehouse_gives_a_site_of_messages(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        empty_staging(con)
        build_marts(con, settings)
        written = build_site(con, tmp_path / "site", settings, RUN)
    assert {p.name for p in written} == {*PAGES, "plotly.min.js"}
    for path in written:
        if path.name in ("director.html", "researcher.html", "payer.html", "quality.html"):
            text = path.read_text(encoding="utf-8")
            assert "plotly-graph-div" not in text and text.count(MESSAGE) >= 3, path.name


def test_quality_page_shows_counts_never_rows(crafted_site: Built) -> None:
    text = (crafted_site.site / "quality.html").read_text(encoding="utf-8")
    found = tables(crafted_site.site / "quality.html")
    assert any(r[0] == "clinic-c2-2026-05-names" and r[1] == "rejected" for r in found["exports"])
    assert "patient_name" in text and "out_of_range" in text
    for leak in LEAKS:
        assert leak not in text
    rules = {(r[0], r[1]): r[2] for r in found["rules"][1:]}
    assert rules[("sessions.pain_pre", "out_of_range")] == "1"


@pytest.mark.parametrize("which", ["crafted_warehouse", "sample_build"])
def test_marts_have_every_column_the_dashboards_read(which: str, request: pytest.FixtureRequest) -> None:
    value = request.getfixturevalue(which)
    path = value if which == "crafted_warehouse" else value / "warehouse.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        assert missing_columns(con) == {}
