"""Time the published site on a warehouse: build time, page sizes, and how long Chromium takes to draw each page.

    python benchmarks/bench_site.py --warehouse build/warehouse.duckdb [--site DIR] [--no-browser] [--json FILE]

Targets (for a warehouse of 1,000,000 sessions): the whole site builds in under 15 s, every page
but ``assets/plotly.min.js`` is under 1 MB, and headless Chromium draws each page (navigation start
to every chart rendered) in under 2 s. The warehouse is opened read-only; the site goes to a
temporary folder unless ``--site`` is given. ``--strict`` exits 1 when a target is missed.
Needs Debian's chromium and chromedriver for the drawing times (``--no-browser`` skips them).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from dashboards import html
from dashboards.definitions import build_definitions_page
from dashboards.site import PAGE_BUILDERS, build_index_page, build_site
from transforms.config import load_settings
from transforms.runs import read_run

BUILD_TARGET_S = 15.0
PAGE_TARGET_BYTES = 1_000_000
DRAW_TARGET_S = 2.0

# Resolves with performance.now() (ms since navigation start) once every chart is drawn.
WAIT_DRAWN = """
const done = arguments[arguments.length - 1];
function check() {
  const divs = Array.from(document.querySelectorAll('.plotly-graph-div')).filter(d => !d.closest('[hidden]'));
  const ok = document.readyState === 'complete'
    && divs.every(d => d.classList.contains('js-plotly-plot') && d.querySelector('.main-svg'));
  if (ok) { done({ms: performance.now(), charts: divs.length}); } else { requestAnimationFrame(check); }
}
check();
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _sessions(con: duckdb.DuckDBPyConnection) -> int | None:
    try:
        return int(con.execute("SELECT count(*) FROM staging.sessions").fetchall()[0][0])
    except duckdb.Error:
        return None


def build(warehouse: Path, site: Path) -> dict:
    """Build the site once (timed as a whole), then each page alone (timed per page)."""
    settings = load_settings()
    # the pipeline's own memory cap, so the benchmark sees what `outcomes run` sees
    config = {"memory_limit": settings.duckdb_memory_limit}
    with duckdb.connect(str(warehouse), read_only=True, config=config) as con:
        sessions = _sessions(con)
        try:
            run = read_run(con)
        except duckdb.Error:  # a warehouse built before runs were recorded
            run = None
        started = time.perf_counter()
        written = build_site(con, site, settings, run)
        total = time.perf_counter() - started
        per_page = {}
        for name, builder in PAGE_BUILDERS.items():
            t = time.perf_counter()
            builder(con, site, settings, run)
            per_page[f"{name}.html"] = time.perf_counter() - t
        t = time.perf_counter()
        build_definitions_page(site, settings, run)
        per_page["definitions.html"] = time.perf_counter() - t
        t = time.perf_counter()
        build_index_page(con, site, settings, run)
        per_page["index.html"] = time.perf_counter() - t
    sizes = {str(p.relative_to(site)): p.stat().st_size for p in written}
    return {"sessions": sessions, "build_s": total, "page_build_s": per_page, "bytes": sizes}


def draw_times(site: Path) -> dict[str, dict]:
    """Navigation start to every chart drawn, per page, in headless Chromium over a local HTTP server."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    driver.set_script_timeout(60)
    out = {}
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        driver.get(f"{base}/index.html")  # warm the cache with plotly.min.js, as a reader moving between pages
        for page, _label in html.PAGES:
            driver.get_log("browser")
            driver.get(f"{base}/{page}")
            result = driver.execute_async_script(WAIT_DRAWN)
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            out[page] = {"draw_s": result["ms"] / 1000, "charts": result["charts"], "console_errors": errors}
    finally:
        driver.quit()
        httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True, type=Path, help="the DuckDB warehouse file (read-only)")
    parser.add_argument("--site", type=Path, help="where to write the site (default: a temporary folder)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium drawing times")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if not args.warehouse.exists():
        parser.error(f"no warehouse at {args.warehouse}")
    site = args.site or Path(tempfile.mkdtemp(prefix="bench-site-"))
    results = build(args.warehouse, site)
    if not args.no_browser:
        results["draw"] = draw_times(site)

    ok = True
    print(f"warehouse: {args.warehouse} ({results['sessions'] or '?':,} sessions)" if results["sessions"] else
          f"warehouse: {args.warehouse}")
    print(f"site:      {site}")
    verdict = results["build_s"] < BUILD_TARGET_S
    ok &= verdict
    print(f"build_site: {results['build_s']:.2f} s (target < {BUILD_TARGET_S:.0f} s) {'OK' if verdict else 'SLOW'}")
    print(f"{'file':<24}{'bytes':>12}{'build s':>10}{'draw s':>9}{'charts':>8}  verdict")
    for name, size in sorted(results["bytes"].items()):
        build_s = results["page_build_s"].get(name)
        draw = results.get("draw", {}).get(name, {})
        size_ok = name.endswith("plotly.min.js") or size < PAGE_TARGET_BYTES
        draw_ok = not draw or draw["draw_s"] < DRAW_TARGET_S
        errors_ok = not draw.get("console_errors")
        ok &= size_ok and draw_ok and errors_ok
        notes = [n for n, good in (("TOO BIG", size_ok), ("SLOW TO DRAW", draw_ok), ("CONSOLE ERRORS", errors_ok))
                 if not good]
        build_text = "" if build_s is None else f"{build_s:.2f}"
        draw_text = f"{draw['draw_s']:.2f}" if draw else ""
        charts_text = str(draw["charts"]) if draw else ""
        print(f"{name:<24}{size:>12,}{build_text:>10}{draw_text:>9}{charts_text:>8}  {', '.join(notes) or 'OK'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print("all targets met" if ok else "some targets missed")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
