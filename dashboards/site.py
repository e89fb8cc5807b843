"""The whole published site: ``index.html``, one page per audience, the definitions, the shared script.

:func:`build_site` writes everything; each page function can also be called alone (the Dagster
assets do, one asset per page):

- :func:`dashboards.director.build_director_page` -> ``director.html``
- :func:`dashboards.researcher.build_researcher_page` -> ``researcher.html``
- :func:`dashboards.payer.build_payer_page` -> ``payer.html``
- :func:`dashboards.quality.build_quality_page` -> ``quality.html``
- :func:`dashboards.definitions.build_definitions_page` -> ``definitions.html``
- :func:`build_index_page` -> ``index.html``
- :func:`dashboards.html.install_assets` -> ``assets/plotly.min.js`` (shipped once for the site)

Given the same warehouse, settings and run time, every file is rebuilt byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path

import duckdb

from dashboards import html
from dashboards.definitions import build_definitions_page
from dashboards.director import build_director_page
from dashboards.payer import build_payer_page
from dashboards.quality import build_quality_page
from dashboards.queries import data_period, load_status
from dashboards.researcher import build_researcher_page
from transforms.config import Settings

PageBuilder = Callable[[duckdb.DuckDBPyConnection, Path, Settings], Path]
PAGE_BUILDERS: dict[str, PageBuilder] = {
    "director": build_director_page,
    "researcher": build_researcher_page,
    "payer": build_payer_page,
    "quality": build_quality_page,
}
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "director.html": ("For clinic directors", "Headline outcomes with intervals, outcomes by condition, a risk-"
                      "adjusted funnel plot of clinics and therapists, follow-up completeness and the monthly trend; "
                      "filter by clinic."),
    "researcher.html": ("For researchers", "Forest plot of conditions, Kaplan–Meier relief curves with a number-at-"
                        "risk table, range of motion against normal values, function instruments against MCIDs."),
    "payer.html": ("For payers", "Audit flags by tier, payer type and clinic, flag rates across clinics, units at "
                   "risk and excess units, documentation, which rules apply to which payer, and how to get the "
                   "audit worklists and packets."),
    "quality.html": ("For data managers", "The load log, rejected exports with their reasons and quarantined rows "
                     "by rule and export (counts only)."),
    "definitions.html": ("For everyone", "What every number, flag and threshold means and where it comes from."),
}


@dataclass(frozen=True)
class RunInfo:
    """The pipeline run that publishes the site (shown on the index page)."""

    run_time: datetime
    run_id: str | None = None


def _run_info(run_info: RunInfo | datetime | None) -> RunInfo:
    if isinstance(run_info, RunInfo):
        return run_info
    return RunInfo(run_info if isinstance(run_info, datetime) else datetime.now().replace(microsecond=0))


def build_index_page(con: duckdb.DuckDBPyConnection, site: Path, run_info: RunInfo | datetime | None) -> Path:
    """``index.html``: links to every page, the data period, the last run time and the load status summary.

    Reads ``marts.episode_outcomes`` (first and last month of care) and ``ops.load_log``.
    """
    info = _run_info(run_info)
    period = data_period(con)
    status = load_status(con)
    counts = status["status"].value_counts().to_dict() if len(status) else {}
    summary = " · ".join(f"{counts.get(s, 0)} {s}" for s in ("loaded", "replaced", "unchanged", "rejected"))
    rejected = status[status["status"] == "rejected"]["export"].astype(str).tolist()
    run = f"{info.run_time:%Y-%m-%d %H:%M}" + (f" (run {info.run_id[:8]})" if info.run_id else "")
    facts = html.cards([
        html.card("Data period", f"{period[0]} – {period[1]}" if period else "no data yet",
                  "months of care in the warehouse"),
        html.card("Last run", f"{info.run_time:%Y-%m-%d %H:%M}", run if info.run_id else "when this site was built"),
        html.card("Exports (latest status)", f"{len(status):,}", summary),
    ])
    warn = ""
    if rejected:
        warn = ("<div class=note><b>Rejected exports:</b> " + escape(', '.join(rejected))
                + ". Their data is not in the figures; see <a href='quality.html'>Data quality</a> for the reasons."
                "</div>")
    links = "".join(
        f"<a class='card link' href='{href}'><div class=label>{escape(DESCRIPTIONS[href][0])}</div>"
        f"<div class=value style='font-size:19px'>{escape(label)}</div>"
        f"<div class=ci>{escape(DESCRIPTIONS[href][1])}</div></a>"
        for href, label in html.PAGES if href in DESCRIPTIONS
    )
    body = (
        facts + warn + "<h2>Dashboards</h2><div class=cards>" + links + "</div>"
        "<div class=info>Outcomes are counted per episode of care and measured on the 0–10 pain scale before "
        "treatment at later visits (sustained relief), not minutes after a massage. Every figure is an aggregate; "
        "small groups are suppressed. The site works offline: open this file in any browser.</div>"
    )
    return html.write_page(site, "index.html", html.page(
        "index.html", "Outcomes of prescribed massage and manual therapy",
        "Aggregated, de-identified outcomes for clinic directors, researchers and payers.", body,
    ))


def build_site(
    con: duckdb.DuckDBPyConnection, site_dir: Path, settings: Settings, run_info: RunInfo | datetime | None = None
) -> list[Path]:
    """Write the whole site into ``site_dir`` and return the files written (script, pages, definitions, index)."""
    site_dir = Path(site_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    written = [html.install_assets(site_dir)]
    written += [builder(con, site_dir, settings) for builder in PAGE_BUILDERS.values()]
    written.append(build_definitions_page(site_dir))
    written.append(build_index_page(con, site_dir, run_info))
    return written
