"""Every page opens in headless Chromium with no console error and every chart drawn with data.

Uses Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (CI installs them with
``apt-get install chromium chromium-driver``; ``scripts/test.sh`` installs them). Without them these
tests are skipped with a one-line reason, shown in the summary; where ``TESTS_REQUIRE_BROWSER`` is
set (``.ci/run`` sets it) they fail instead, so CI can never pass without having drawn the pages.
Pages are served from their folder over HTTP on 127.0.0.1 (a thread of this process), and opened
once from ``file://`` to prove the site works offline. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.dashboards.conftest import Built

PAGES = ("index.html", "director.html", "researcher.html", "payer.html", "quality.html", "definitions.html")
CHART_PAGES = ("director.html", "researcher.html", "payer.html", "quality.html")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHART_STATE = """
// charts of views hidden behind the clinic filter are drawn when their view is first shown
const divs = Array.from(document.querySelectorAll('.plotly-graph-div')).filter(d => !d.closest('[hidden]'));
return {
  messages: document.querySelectorAll('.chart-message').length,
  plotlyLoaded: typeof window.Plotly === 'object',
  charts: divs.map(p => ({
    id: p.id,
    drawn: p.classList.contains('js-plotly-plot') && !!p.querySelector('.main-svg'),
    traces: (p.data || []).length,
    points: (p.data || []).reduce((n, t) => n + ((t.x || t.y || t.z || []).length || 0), 0),
  })),
};
"""


def _driver() -> webdriver.Chrome:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (Path(chromium).exists() and Path(chromedriver).exists()):
        reason = "headless Chromium is not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("TESTS_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,2200", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=options)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Debian Chromium through chromedriver, with the browser console captured."""
    driver = _driver()
    yield driver
    driver.quit()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def servers(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The crafted and the sample sites, each served over HTTP on 127.0.0.1 (any free port)."""
    urls, httpds = {}, []
    for name in ("crafted_site", "sample_site"):
        built: Built = request.getfixturevalue(name)
        handler = functools.partial(_Quiet, directory=str(built.site))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        urls[name] = f"http://127.0.0.1:{httpd.server_address[1]}"
        httpds.append(httpd)
    yield urls
    for httpd in httpds:
        httpd.shutdown()
        httpd.server_close()


def open_page(browser: webdriver.Chrome, url: str, shot: str) -> dict:
    """Open a page, wait until every chart is drawn, save a full-page screenshot; returns the chart state."""
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    WebDriverWait(browser, 30).until(lambda d: all(c["drawn"] for c in d.execute_script(CHART_STATE)["charts"]))
    ARTIFACTS.mkdir(exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(max(int(height) + 40, 900), 12000))
    browser.save_screenshot(str(ARTIFACTS / shot))
    browser.set_window_size(1400, 2200)
    return browser.execute_script(CHART_STATE)


def assert_drawn(state: dict, page: str, errors: list[dict]) -> None:
    """No console error; every chart drawn with data; a chart page has charts or explicit messages."""
    assert errors == [], f"{page}: {errors}"
    if page in PAGES and page != "index.html" and page != "definitions.html":
        assert state["plotlyLoaded"], page
    for chart in state["charts"]:
        assert chart["drawn"] and chart["traces"] > 0 and chart["points"] > 0, f"{page}: {chart}"
    if page in CHART_PAGES:
        assert state["charts"] or state["messages"], f"{page} shows neither a chart nor a message"


@pytest.mark.browser
@pytest.mark.parametrize("site", ["sample_site", "crafted_site"])
@pytest.mark.parametrize("page", PAGES)
def test_page_draws_every_chart_without_console_errors(browser, servers, site: str, page: str) -> None:
    state = open_page(browser, f"{servers[site]}/{page}", f"http-{site}-{page.replace('.html', '')}.png")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert_drawn(state, page, errors)
    if site == "sample_site" and page in CHART_PAGES:
        assert len(state["charts"]) >= (1 if page == "quality.html" else 4), f"{page}: the sample data gives charts"


@pytest.mark.browser
@pytest.mark.parametrize("site", ["sample_site", "crafted_site"])
def test_clinic_filter_switches_views_offline(browser, site: str, request: pytest.FixtureRequest) -> None:
    """From file:// (no server at all): each clinic's view shows alone, with every chart drawn and sized."""
    built: Built = request.getfixturevalue(site)
    open_page(browser, (built.site / "director.html").as_uri(), f"file-{site}-director.png")
    select = Select(browser.find_element("id", "view-filter"))
    options = [o.get_attribute("value") for o in select.options]
    assert options[0] == "all" and len(options) >= 3
    widths = ("return Array.from(document.querySelectorAll('.view:not([hidden]) .js-plotly-plot'))"
              ".map(p => p._fullLayout.width)")
    for value in [*options[1:], options[0]]:
        select.select_by_value(value)
        shown = browser.execute_script(
            "return Array.from(document.querySelectorAll('.view')).filter(v => !v.hidden).map(v => v.dataset.view)")
        assert shown == [value]
        WebDriverWait(browser, 20).until(lambda d: all(c["drawn"] for c in d.execute_script(CHART_STATE)["charts"]))
        state = browser.execute_script(CHART_STATE)
        assert_drawn(state, "director.html", [e for e in browser.get_log("browser") if e["level"] == "SEVERE"])
        assert state["charts"] or state["messages"]
        if state["charts"]:
            WebDriverWait(browser, 10).until(lambda d: min(d.execute_script(widths) or [0]) > 500)  # fits its panel
        browser.save_screenshot(str(ARTIFACTS / f"file-{site}-director-{value}.png"))


@pytest.mark.browser
@pytest.mark.parametrize("page", ["index.html", "researcher.html", "payer.html"])
def test_pages_work_offline_from_file_urls(browser, sample_site: Built, page: str) -> None:
    state = open_page(browser, (sample_site.site / page).as_uri(), f"file-{page.replace('.html', '')}.png")
    assert_drawn(state, page, [e for e in browser.get_log("browser") if e["level"] == "SEVERE"])


RESEARCH_CHARTS = ("follow-up", "sensitivity", "techniques", "flares", "coefficients", "calibration")
PRESS_EVERY_BUTTON = """
// apply every entry of a chart's menu as a click would (Plotly.update / restyle with the entry's args), and
// count the data points of the traces then visible
const [id, done] = [arguments[0], arguments[arguments.length - 1]];
const div = document.getElementById(id);
const menus = (div.layout && div.layout.updatemenus) || [];
(async () => {
  const out = [];
  for (const button of (menus[0] ? menus[0].buttons : [])) {
    await window.Plotly[button.method](div, ...button.args);
    out.push([button.label, div.data.filter(t => t.visible !== false)
      .reduce((n, t) => n + (t.x || []).filter(v => v !== null).length, 0)]);
  }
  done(out);
})().catch(e => done(String(e)));
"""


@pytest.mark.browser
@pytest.mark.parametrize("site", ["sample_site", "crafted_site"])
def test_research_charts_draw_with_data_and_every_menu_entry_works(browser, servers, site: str) -> None:
    """The new research panels are drawn with data in headless Chromium, and every condition of their menus
    shows points, with no console error."""
    state = open_page(browser, f"{servers[site]}/researcher.html", f"http-{site}-researcher-research.png")
    charts = {c["id"]: c for c in state["charts"]}
    for chart in RESEARCH_CHARTS:
        assert chart in charts, f"{site}: {chart} is not drawn (a message replaced it?)"
        assert charts[chart]["drawn"] and charts[chart]["traces"] > 0 and charts[chart]["points"] > 0, charts[chart]
    for chart in ("techniques", "flares"):
        browser.set_script_timeout(30)
        entries = browser.execute_async_script(PRESS_EVERY_BUTTON, chart)
        assert isinstance(entries, list) and entries, f"{chart}: {entries}"
        assert entries[0][0] == "All conditions"
        assert all(points > 0 for _, points in entries), f"{chart}: {entries}"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


@pytest.mark.browser
def test_director_responder_funnels_draw_in_every_view(browser, crafted_site: Built) -> None:
    open_page(browser, (crafted_site.site / "director.html").as_uri(), "file-crafted-director-responders.png")
    select = Select(browser.find_element("id", "view-filter"))
    for value in [o.get_attribute("value") for o in select.options]:
        select.select_by_value(value)
        WebDriverWait(browser, 20).until(lambda d: all(c["drawn"] for c in d.execute_script(CHART_STATE)["charts"]))
        charts = {c["id"]: c for c in browser.execute_script(CHART_STATE)["charts"]}
        funnel = charts.get(f"{value}-responder-funnel")
        assert funnel and funnel["drawn"] and funnel["points"] > 0, (value, sorted(charts))
        if value != "all":  # one clinic: its points are labelled
            texts = browser.execute_script(
                f"return document.getElementById('{value}-responder-funnel').querySelectorAll('.textpoint').length")
            assert texts > 0, value
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
