"""The audit packets: per payer type and clinic, written to the restricted folder only, offline, in reviewing
order, with the evidence of every flag on the page, and with no identifier but pseudonymous ids (episode key,
session id, clinic id); an index per payer type; a rewrite of some clinics leaves the others untouched."""

from __future__ import annotations

import html as htmllib
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from dashboards.audit_packet import (
    _clinic_files,
    clinic_slug,
    packet_filename,
    payer_index_filename,
    render_packet,
    write_audit_packets,
)
from dashboards.outputs import PACKET_FOLDER
from transforms.audit import flagged_payers, packet_data, packet_groups, rule_in_words
from transforms.config import load_settings
from transforms.sqlmodels import install_macros

SECTION = re.compile(r"<section class=episode id='([^']+)'>(.*?)</section>", re.DOTALL)
ROW = re.compile(r"<tr(?: class='([^']*)')? data-visit='(\d+)'>")
REVIEW_ORDER = "ORDER BY top_tier_rank, units_at_risk DESC, first_date, episode_key"


@pytest.fixture(scope="module")
def packets(sample_build: Path) -> Path:
    """The packets `outcomes run` wrote for the sample."""
    return sample_build / "restricted" / PACKET_FOLDER


def _text(fragment: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _sections(path: Path) -> dict[str, str]:
    return dict(SECTION.findall(path.read_text(encoding="utf-8")))


def _expected_files(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every payer type's index, and per payer type and clinic a packet of ceil(n / 200) pages."""
    names = {payer_index_filename(p) for p in flagged_payers(con)}
    for payer, clinic, n in con.execute("SELECT payer_type, clinic_id, count(*) FROM marts.audit_episodes "
                                        "GROUP BY ALL").fetchall():
        names |= {packet_filename(payer, clinic, page) for page in range(1, -(-n // 200) + 1)}
    return names


def test_the_run_writes_a_packet_per_payer_type_and_clinic_to_the_restricted_folder(sample_build: Path,
                                                                                    packets: Path) -> None:
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        payers = flagged_payers(con)
        groups = packet_groups(con)
        expected = _expected_files(con)
    assert len(payers) >= 5 and len(groups) > len(payers)  # several clinics per payer type
    assert {p.name for p in packets.glob("*.html")} == expected
    assert (packets / "assets" / "plotly.min.js").stat().st_size > 1_000_000  # shipped beside the pages
    site = sample_build / "site"
    assert not [p for p in site.rglob("*") if "audit" in p.name]
    for page in packets.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        if page.name not in {payer_index_filename(p) for p in payers}:
            assert "<script src='assets/plotly.min.js'></script>" in text
        assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", text, re.IGNORECASE), page.name


def test_a_payer_index_lists_its_clinics_with_their_totals_and_links(sample_build: Path, packets: Path) -> None:
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT clinic_id, count(*), sum(units_at_risk), sum(units_over_time), "
            "count(*) FILTER (WHERE top_tier = 'billing') FROM marts.audit_episodes WHERE payer_type = 'medicare' "
            "GROUP BY clinic_id ORDER BY sum(units_at_risk) DESC, clinic_id").fetchall()
    text = (packets / payer_index_filename("medicare")).read_text(encoding="utf-8")
    table = re.search(r"<table class=data id=clinics>(.*?)</table>", text, re.DOTALL).group(1)
    body = re.findall(r"<tr><td><a href='([^']+)'>.*?</tr>", table, re.DOTALL)
    assert body == [packet_filename("medicare", c) for c, *_ in rows]  # most units at risk first
    cells = [[int(v.replace(",", "")) for v in re.findall(r"<td class=num>([\d,]+)</td>", r)]
             for r in re.findall(r"<tr><td><a .*?</tr>", table, re.DOTALL)]
    for (_, n, at_risk, excess, billing), row in zip(rows, cells, strict=True):
        assert row[0] == n and row[1] == billing and row[5] == at_risk and row[6] == excess
    assert f"{sum(r[1] for r in rows):,} flagged episodes" in text
    for link in body:
        assert (packets / link).is_file()
        assert f"href='{payer_index_filename('medicare')}'" in (packets / link).read_text(encoding="utf-8")


def test_every_flag_has_its_evidence_on_the_episode_section(sample_build: Path, packets: Path) -> None:
    """A reviewer finds every flag's rule, detail and evidence visits in the episode's own section."""
    settings = load_settings(environ={})
    checked_flags = set()
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        for payer, clinic in packet_groups(con):
            sections = _sections(packets / packet_filename(payer, clinic))
            episodes = con.execute(
                "SELECT episode_key, n_sessions, top_tier_rank, units_at_risk FROM marts.audit_episodes "
                f"WHERE payer_type = ? AND clinic_id = ? {REVIEW_ORDER}", [payer, clinic]).fetchall()
            assert list(sections) == [e[0] for e in episodes]  # tier, then units at risk (largest first)
            flags = con.execute("SELECT episode_key, flag, detail, evidence_sessions, risk_sessions "
                                "FROM marts.audit_flags WHERE payer_type = ? AND clinic_id = ?",
                                [payer, clinic]).fetchall()
            visits = {k: n for k, n, _, _ in episodes}
            rows = {key: {int(n): (cls or "").split() for cls, n in ROW.findall(body)}
                    for key, body in sections.items()}
            for key, n in visits.items():
                assert sorted(rows[key]) == list(range(1, n + 1)), key  # the whole timeline
            for key, flag, detail, evidence, risk in flags:
                text = _text(sections[key])
                assert detail in text and rule_in_words(flag, settings) in text, (key, flag)
                assert all("evidence" in rows[key][v] for v in evidence), (key, flag, evidence)
                assert all("at-risk" in rows[key][v] for v in risk), (key, flag, risk)
                checked_flags.add(flag)
    assert len(checked_flags) == 11  # the sample raises every flag


def test_no_identifier_beyond_pseudonymous_ids(sample_build: Path, packets: Path) -> None:
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        private = {str(v) for (v,) in con.execute(
            "SELECT patient_id FROM staging.sessions UNION SELECT therapist_id FROM staging.sessions "
            "UNION SELECT episode_id FROM staging.sessions WHERE episode_id IS NOT NULL").fetchall()}
        keys = {k for (k,) in con.execute("SELECT episode_key FROM marts.audit_episodes").fetchall()}
        sessions = {s for (s,) in con.execute("SELECT session_id FROM staging.sessions").fetchall()}
    assert len(private) > 500
    seen_keys, seen_sessions = set(), set()
    for page in packets.glob("*.html"):
        tokens = set(re.findall(r"[A-Za-z0-9_]+", page.read_text(encoding="utf-8")))
        assert not tokens & private, f"{page.name} contains {sorted(tokens & private)[:5]}"
        seen_keys |= tokens & keys
        seen_sessions |= tokens & sessions
    assert seen_keys == keys and len(seen_sessions) > 1000  # the pseudonymous ids are there


def test_render_is_pure_and_the_site_is_refused(crafted_warehouse: Path, tmp_path: Path) -> None:
    settings = load_settings(environ={}, recertification_days=64)
    with duckdb.connect(str(crafted_warehouse), read_only=True) as con:
        payer, clinic = packet_groups(con)[0]
        first = render_packet(packet_data(con, payer, clinic), settings)
        assert render_packet(packet_data(con, payer, clinic), settings) == first
        assert "more than 64 days" in _text(first) or "NO_RECERTIFICATION" not in first
        site = tmp_path / "site"
        with pytest.raises(ValueError, match="must not be in or around the site"):
            write_audit_packets(con, site / "packets", settings, site=site)
        folder = tmp_path / "restricted" / "packets"
        folder.mkdir(parents=True)
        (folder / "audit_packet_auto_pip.html").write_text("stale")
        (folder / "audit_packet_auto_pip.gone.html").write_text("stale")
        written = write_audit_packets(con, folder, settings, site=site)
        expected = _expected_files(con)
    assert sorted(p.name for p in folder.glob("*.html")) == sorted(p.name for p in written)
    assert {p.name for p in written} == expected


def test_clinic_ids_make_unambiguous_file_names(tmp_path: Path) -> None:
    assert clinic_slug("north") == "north" and clinic_slug("C-01_b") == "C-01_b"
    odd = ["Clinic A/1", "a.2", "../x", "x" * 65, "café"]
    slugs = {clinic_slug(c) for c in odd}
    assert len(slugs) == len(odd) and all(re.fullmatch(r"c-[0-9a-f]{16}", s) for s in slugs)
    assert packet_filename("medicare", "a", 2) == "audit_packet_medicare.a.2.html"
    for name in ("audit_packet_medicare.a.2.html", "audit_packet_medicare.2.html", "audit_packet_medicare.html",
                 "audit_packet_workers_comp.2.3.html"):
        (tmp_path / name).write_text("x")
    assert {p.name for p in _clinic_files(tmp_path, ["2"])} == {"audit_packet_medicare.2.html",
                                                                "audit_packet_workers_comp.2.3.html"}
    assert {p.name for p in _clinic_files(tmp_path, ["a"])} == {"audit_packet_medicare.a.2.html"}
    assert _clinic_files(tmp_path, []) == []


def test_rewriting_some_clinics_leaves_the_others_untouched_and_equals_a_full_rewrite(
        sample_build: Path, packets: Path, tmp_path: Path) -> None:
    settings = load_settings(environ={})
    folder = tmp_path / "packets"
    shutil.copytree(packets, folder)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.html")}
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        clinics = sorted({c for _, c in packet_groups(con)})
        target = clinics[0]
        (folder / packet_filename("medicare", target, 9)).write_text("stale page of a shorter packet")
        written = write_audit_packets(con, folder, settings, clinics=[target])
    assert not (folder / packet_filename("medicare", target, 9)).exists()
    rewritten = {p.name for p in written}
    assert rewritten and all(f".{target}." in n or n.count(".") == 1 for n in rewritten)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.html")}
    assert {n: b for n, (b, _) in after.items()} == {n: b for n, (b, _) in before.items()}  # as a full rewrite
    for name, (_, mtime) in after.items():
        assert (name in rewritten) == (mtime != before[name][1]), name  # only the asked clinic and the indexes


@pytest.mark.browser
def test_a_packet_opens_offline_with_every_chart_drawn_and_no_console_error(packets: Path) -> None:
    from tests.dashboards.test_browser import ARTIFACTS, CHART_STATE, _driver

    page = max(packets.glob("audit_packet_medicare.*.html"), key=lambda p: p.stat().st_size)
    driver = _driver()
    try:
        driver.get_log("browser")
        driver.get((packets / payer_index_filename("medicare")).as_uri())  # the index first, then a packet
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        assert driver.execute_script("return document.querySelectorAll('#clinics tbody tr').length") >= 2
        driver.get(page.as_uri())
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        n = driver.execute_script("return document.querySelectorAll('section.episode').length")
        assert n >= 5
        # charts are drawn as their section comes into view; the observer reports once per frame, so each
        # section stays in view until its chart is drawn (scrolling past in one go can outrun it)
        section_drawn = ("const p = document.querySelectorAll('section.episode')[arguments[0]]"
                         ".querySelector('.lazy-plot'); return !p || (p.classList.contains('js-plotly-plot')"
                         " && !!p.querySelector('.main-svg'))")
        for i in range(n):
            driver.execute_script("document.querySelectorAll('section.episode')[arguments[0]].scrollIntoView()", i)
            WebDriverWait(driver, 30).until(lambda d, i=i: d.execute_script(section_drawn, i))
        driver.execute_script("window.scrollTo(0, 0)")
        WebDriverWait(driver, 30).until(lambda d: all(c["drawn"] for c in d.execute_script(CHART_STATE)["charts"]))
        state = driver.execute_script(CHART_STATE)
        assert state["plotlyLoaded"] and len(state["charts"]) + state["messages"] >= n
        for chart in state["charts"]:
            assert chart["drawn"] and chart["traces"] > 0 and chart["points"] > 0, chart
        # each chart is drawn from the page's shared part (layout, trace styles) and its own (points, x range)
        first = driver.execute_script(
            "const p = document.querySelector('.lazy-plot.js-plotly-plot'); return {y: p.layout.yaxis.range, "
            "x: p.layout.xaxis.range, xTitle: p.layout.xaxis.title.text, height: p.layout.height, "
            "names: p.data.map(t => t.name), modes: p.data.map(t => t.mode)}")
        assert first["y"] == [-0.3, 10.3] and first["xTitle"] == "visit" and first["height"] == 250, first
        assert first["x"][0] == 0.5 and first["names"] == ["before treatment", "after treatment"], first
        assert first["modes"] == ["lines+markers", "markers"], first
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "file-audit-packet-medicare.png"))
    finally:
        driver.quit()


def test_a_large_packet_is_split_into_pages_in_reviewing_order(sample_build: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import dashboards.audit_packet as packet

    monkeypatch.setattr(packet, "PAGE_EPISODES", 7)
    settings = load_settings(environ={})
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        clinic = con.execute("SELECT clinic_id FROM marts.audit_episodes WHERE payer_type = 'medicare' "
                             "GROUP BY clinic_id ORDER BY count(*) DESC, clinic_id LIMIT 1").fetchall()[0][0]
        written = write_audit_packets(con, tmp_path / "packets", settings)
        expected = [k for (k,) in con.execute(
            f"SELECT episode_key FROM marts.audit_episodes WHERE payer_type = 'medicare' AND clinic_id = ? "
            f"{REVIEW_ORDER}", [clinic]).fetchall()]
    stem = f"audit_packet_medicare.{clinic}"
    pages = sorted((p for p in written if p.name.startswith(stem + ".")),
                   key=lambda p: int(p.name.split(".")[2]) if p.name.count(".") == 3 else 1)
    assert len(pages) == -(-len(expected) // 7) >= 2
    assert pages[0].name == f"{stem}.html" and pages[1].name == f"{stem}.2.html"
    seen = []
    for page in pages:
        sections = _sections(page)
        assert 1 <= len(sections) <= 7
        seen += list(sections)
        text = page.read_text(encoding="utf-8")
        assert f"of {len(pages)}" in text
        links = set(re.findall(rf"href='({re.escape(stem)}(?:\.\d+)?\.html)'", text))
        assert links == {p.name for p in pages if p != page}  # every other page, from every page
        for key, body in sections.items():  # every section has its own timeline, not another page's
            assert ROW.findall(body), key
    assert seen == expected
    index = (tmp_path / "packets" / "audit_packet_medicare.html").read_text(encoding="utf-8")
    assert f"<td class=num>{len(pages)}</td></tr>" in index  # the index says how many pages


@pytest.mark.parametrize("text", ["plain", "a & b", "<script>alert('x')</script>", 'say "hi"', "it's", "&amp;",
                                  "ünï · códe – ✓", "", "<<&&>>''\"\""])
def test_the_html_text_macro_escapes_like_python(text: str) -> None:
    """The timelines are written in DuckDB: its escaping must be Python's html.escape, character for character."""
    with duckdb.connect() as con:
        install_macros(con)
        assert con.execute("SELECT html_text(?)", [text]).fetchall()[0][0] == htmllib.escape(text)


@pytest.mark.parametrize("value", [0, 7, -0.0, 6.5, 1 / 3, 2 / 3, 10.0, 99.99999, 123456.0, 1234567.0, 0.0001,
                                   0.00001, 1e-7, 53.75, 1e21])
def test_the_html_number_macro_formats_like_python(value: float) -> None:
    """Numbers in the timelines read as Python's f"{x:g}" would write them; missing (NULL, NaN) is ""."""
    with duckdb.connect() as con:
        install_macros(con)
        assert con.execute("SELECT html_number(?::DOUBLE)", [value]).fetchall()[0][0] == f"{float(value):g}"
        if float(value).is_integer() and abs(value) < 2**31:
            assert con.execute("SELECT html_number(?::INTEGER)", [int(value)]).fetchall()[0][0] == f"{float(int(value)):g}"
        assert con.execute("SELECT html_number(NULL::DOUBLE), html_number('NaN'::DOUBLE), html_number(NULL::INTEGER)"
                           ).fetchall()[0] == ("", "", "")


def _number(value: object) -> str:
    return "" if value is None else f"{float(value):g}"


def test_every_timeline_row_shows_the_visit_and_the_flags_citing_it(sample_build: Path, packets: Path) -> None:
    """Each visit row, read back as text, holds the visit's recorded values and the authorisation in force,
    and names the flags citing it as evidence (in flag order) and whether its units are at risk -- computed
    here in Python from staging and the flag rows, independently of the SQL that writes the rows."""
    cell = re.compile(r"<td(?: class=cites)?>(.*?)</td>", re.DOTALL)
    row_re = re.compile(r"<tr(?: class='[^']*')? data-visit='(\d+)'>(.*?)</tr>", re.DOTALL)
    checked = 0
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        flags = con.execute("SELECT episode_key, flag, evidence_sessions, risk_sessions FROM marts.audit_flags "
                            "ORDER BY episode_key, flag_rank, session_number NULLS FIRST, session_id").fetchall()
        cites: dict[tuple[str, int], list[str]] = {}
        at_risk: set[tuple[str, int]] = set()
        for key, flag, evidence, risk in flags:
            for n in evidence or ():
                if flag not in cites.setdefault((key, n), []):
                    cites[(key, n)].append(flag)
            at_risk |= {(key, n) for n in risk or ()}
        visits = con.execute(
            "SELECT episode_key, session_number, session_id, session_date, visit_type, cpt_code, units, duration_min, "
            "pain_pre, pain_post, function_instrument, function_score, goals_documented, referral_source, "
            "authorized_visits FROM staging.sessions WHERE episode_key IN (SELECT episode_key FROM marts.audit_episodes) "
            "ORDER BY episode_key, session_number").fetchall()
        by_episode: dict[str, list[tuple]] = {}
        for v in visits:
            by_episode.setdefault(v[0], []).append(v)
        for payer, clinic in packet_groups(con):
            for key, body in _sections(packets / packet_filename(payer, clinic)).items():
                rows = {int(n): [htmllib.unescape(c) for c in cell.findall(r)] for n, r in row_re.findall(body)}
                in_force = None
                for (_, n, sid, day, vtype, cpt, units, minutes, pre, post, instrument, score, goals, referral,
                     authorised) in by_episode[key]:
                    in_force = authorised if authorised is not None else in_force
                    auth = "" if authorised is None and in_force is None else (
                        f"{_number(authorised) or '–'} / {_number(in_force) or '–'}")
                    cited = ", ".join(cites.get((key, n), [])) + (" · units at risk" if (key, n) in at_risk else "")
                    function = "" if score is None else f"{instrument or ''} {_number(score)}".strip()
                    assert rows[n] == [str(n), sid, str(day), vtype or "", cpt or "", _number(units), _number(minutes),
                                       _number(pre), _number(post), function,
                                       "" if goals is None else ("yes" if goals else "no"), referral or "", auth,
                                       cited], (key, n)
                    checked += 1
    assert checked == len(visits)  # every visit of every flagged episode
    assert any(len(c) > 1 for c in cites.values())  # some visit is cited by two flags or more
