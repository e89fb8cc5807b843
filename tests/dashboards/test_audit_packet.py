"""The audit packet: written to the restricted folder only, offline, in reviewing order, with the evidence of
every flag on the page, and with no identifier but pseudonymous ids (episode key, session id, clinic id)."""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path

import duckdb
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from dashboards.audit_packet import PACKET_FOLDER, render_packet, write_audit_packets
from transforms.audit import flagged_payers, packet_data, rule_in_words
from transforms.config import load_settings

SECTION = re.compile(r"<section class=episode id='([^']+)'>(.*?)</section>", re.DOTALL)
ROW = re.compile(r"<tr(?: class='([^']*)')? data-visit='(\d+)'>")


@pytest.fixture(scope="module")
def packets(sample_build: Path) -> Path:
    """The packets `outcomes run` wrote for the sample."""
    return sample_build / "restricted" / PACKET_FOLDER


def _text(fragment: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _sections(path: Path) -> dict[str, str]:
    return dict(SECTION.findall(path.read_text(encoding="utf-8")))


def test_the_run_writes_a_packet_per_flagged_payer_type_to_the_restricted_folder(sample_build: Path,
                                                                                 packets: Path) -> None:
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        payers = flagged_payers(con)
    assert len(payers) >= 5
    assert sorted(p.name for p in packets.glob("*.html")) == sorted(f"audit_packet_{p}.html" for p in payers)
    assert (packets / "assets" / "plotly.min.js").stat().st_size > 1_000_000  # shipped beside the pages
    site = sample_build / "site"
    assert not [p for p in site.rglob("*") if "audit" in p.name]
    for page in packets.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script src='assets/plotly.min.js'></script>" in text
        assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", text, re.IGNORECASE), page.name


def test_every_flag_has_its_evidence_on_the_episode_section(sample_build: Path, packets: Path) -> None:
    """A reviewer finds every flag's rule, detail and evidence visits in the episode's own section."""
    settings = load_settings(environ={})
    checked_flags = set()
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        for payer in flagged_payers(con):
            sections = _sections(packets / f"audit_packet_{payer}.html")
            episodes = con.execute(
                "SELECT episode_key, n_sessions, top_tier_rank, units_at_risk FROM marts.audit_episodes "
                "WHERE payer_type = ? ORDER BY top_tier_rank, units_at_risk DESC, clinic_id, first_date, episode_key",
                [payer]).fetchall()
            assert list(sections) == [e[0] for e in episodes]  # tier, then units at risk (largest first)
            flags = con.execute("SELECT episode_key, flag, detail, evidence_sessions, risk_sessions "
                                "FROM marts.audit_flags WHERE payer_type = ?", [payer]).fetchall()
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
        payers = flagged_payers(con)
        data = packet_data(con, payers[0])
        first = render_packet(data, settings)
        assert render_packet(packet_data(con, payers[0]), settings) == first
        assert "more than 64 days" in _text(first) or "NO_RECERTIFICATION" not in first
        site = tmp_path / "site"
        with pytest.raises(ValueError, match="must not be in or around the site"):
            write_audit_packets(con, site / "packets", settings, site=site)
        folder = tmp_path / "restricted" / "packets"
        folder.mkdir(parents=True)
        (folder / "audit_packet_auto_pip.html").write_text("stale")
        written = write_audit_packets(con, folder, settings, site=site)
    assert sorted(p.name for p in folder.glob("*.html")) == sorted(p.name for p in written)
    assert {p.name for p in written} == {f"audit_packet_{p}.html" for p in payers}


@pytest.mark.browser
def test_a_packet_opens_offline_with_every_chart_drawn_and_no_console_error(packets: Path) -> None:
    from tests.dashboards.test_browser import ARTIFACTS, CHART_STATE, _driver

    page = packets / "audit_packet_medicare.html"
    driver = _driver()
    try:
        driver.get_log("browser")
        driver.get(page.as_uri())
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        n = driver.execute_script("return document.querySelectorAll('section.episode').length")
        assert n >= 5
        for i in range(n):  # charts are drawn as their section comes into view
            driver.execute_script(f"document.querySelectorAll('section.episode')[{i}].scrollIntoView()")
        driver.execute_script("window.scrollTo(0, 0)")
        WebDriverWait(driver, 30).until(lambda d: all(c["drawn"] for c in d.execute_script(CHART_STATE)["charts"]))
        state = driver.execute_script(CHART_STATE)
        assert state["plotlyLoaded"] and len(state["charts"]) + state["messages"] >= n
        for chart in state["charts"]:
            assert chart["drawn"] and chart["traces"] > 0 and chart["points"] > 0, chart
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
        written = write_audit_packets(con, tmp_path / "packets", settings)
        expected = [k for (k,) in con.execute(
            "SELECT episode_key FROM marts.audit_episodes WHERE payer_type = 'medicare' "
            "ORDER BY top_tier_rank, units_at_risk DESC, clinic_id, first_date, episode_key").fetchall()]
    pages = sorted((p for p in written if p.name.startswith("audit_packet_medicare")),
                   key=lambda p: int(p.stem.rsplit("_", 1)[1]) if p.stem[-1].isdigit() else 1)
    assert len(pages) == -(-len(expected) // 7) >= 2
    assert pages[0].name == "audit_packet_medicare.html" and pages[1].name == "audit_packet_medicare_2.html"
    seen = []
    for page in pages:
        sections = _sections(page)
        assert 1 <= len(sections) <= 7
        seen += list(sections)
        text = page.read_text(encoding="utf-8")
        assert f"of {len(pages)}" in text
        links = set(re.findall(r"href='(audit_packet_medicare(?:_\d+)?\.html)'", text))
        assert links == {p.name for p in pages if p != page}  # every other page, from every page
        for key, body in sections.items():  # every section has its own timeline, not another page's
            assert ROW.findall(body), key
    assert seen == expected
