"""The whole published site: ``index.html``, one page per audience, the definitions, the shared script.

:func:`build_site` writes everything; each page function can also be called alone (the Dagster
assets do, one asset per page):

- :func:`dashboards.director.build_director_page` -> ``director.html``
- :func:`dashboards.researcher.build_researcher_page` -> ``researcher.html``
- :func:`dashboards.payer.build_payer_page` -> ``payer.html``
- :func:`dashboards.quality.build_quality_page` -> ``quality.html``
- :func:`dashboards.definitions.build_definitions_page` -> ``definitions.html``
- :func:`build_index_page` -> ``index.html`` and the data dictionary (``data/index.html``,
  ``data/data-dictionary.csv``, ``data/README.txt``: :mod:`dashboards.data_dictionary`)
- :func:`dashboards.html.install_assets` -> ``assets/plotly.min.js`` (shipped once for the site)

Each page builder also writes its downloads, ``data/<page>-<name>.csv`` (:mod:`dashboards.downloads`).

Given the same warehouse, settings and run, every file is rebuilt byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape
from pathlib import Path

import duckdb
import pandas as pd

from dashboards import downloads, html
from dashboards.data_dictionary import build_data_dictionary
from dashboards.definitions import build_definitions_page
from dashboards.director import build_director_page
from dashboards.payer import build_payer_page
from dashboards.quality import build_quality_page
from dashboards.queries import data_period, load_status
from dashboards.researcher import build_researcher_page
from dashboards.theme import clinic_label
from transforms.config import Settings
from transforms.runs import RunRecord, default_settings, settings_in_force

PageBuilder = Callable[[duckdb.DuckDBPyConnection, Path, Settings, RunRecord | None], Path]
PAGE_BUILDERS: dict[str, PageBuilder] = {
    "director": build_director_page,
    "researcher": build_researcher_page,
    "payer": build_payer_page,
    "quality": build_quality_page,
}
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "director.html": ("For clinic directors", "Headline outcomes with intervals and the lost-to-follow-up rate, "
                      "outcomes by condition, risk-adjusted funnel plots of clinics and therapists (pain change and "
                      "responder rate), follow-up completeness and the monthly trend; filter by clinic."),
    "researcher.html": ("For researchers", "Forest plot of conditions, follow-up status and how much drop-out could "
                        "change the responder rate, outcomes and flares by technique, Kaplan–Meier relief curves, "
                        "range of motion, function instruments, and the case-mix models' coefficients and "
                        "calibration."),
    "payer.html": ("For payers", "Audit flags by tier, payer type and clinic, flag rates across clinics, units at "
                   "risk and excess units, documentation, which rules apply to which payer, and how to get the "
                   "audit worklists and packets."),
    "quality.html": ("For data managers", "The load log, rejected exports with their reasons and quarantined rows "
                     "by rule and export (counts only)."),
    "definitions.html": ("For everyone", "What every number, flag and threshold means and where it comes from."),
}


def _month(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%b %Y")


def run_section(run: RunRecord | None, settings: Settings) -> str:
    """What produced this site: the run, the pipeline version, the exports in the warehouse with their
    checksums, the data period per clinic (months only) and the settings that differ from the defaults."""
    if run is None:
        return html.message("No pipeline run is recorded in this warehouse yet.")
    in_force = settings_in_force(settings, public=True)
    defaults = default_settings()
    changed = [k for k, v in in_force.items() if defaults.get(k) != v]
    facts = html.cards([
        html.card("Run", f"{run.started_at:%Y-%m-%d %H:%M}", f"run id {run.run_id}; "
                  + (f"finished {run.finished_at:%H:%M}" if run.finished_at else "still running")),
        html.card("Pipeline version", run.pipeline_version, f"commit {run.git_commit}" if run.git_commit else ""),
        html.card("Exports used by this run", f"{len(run.exports):,}", "current version of each; checksums below"),
        html.card("Settings", "defaults" if not changed else f"{len(changed)} changed",
                  ", ".join(changed) if changed else "every threshold at the specification's value"),
    ])
    periods = html.table([[clinic_label(c), f"{_month(a)} – {_month(b)}"] for c, (a, b) in run.data_period.items()],
                         ["Clinic", "Months of care in the data"], table_id="data-period")
    exports = html.table([[e["export"], e["checksum"][:12], str(e["load_order"])] for e in run.exports],
                         ["Export", "Checksum (sha256, first 12)", "Load order"], numeric=(2,), table_id="run-exports")
    reference = html.table([[name, digest[:12]] for name, digest in run.reference.items()],
                           ["Reference table", "Checksum (md5, first 12)"], table_id="run-reference")
    return (
        f"<h2 id='this-run'>How this site was made</h2>{facts}"
        "<p class=explain>Every number on these pages was computed by this run from the exports listed here, "
        "with the settings shown on the <a href='definitions.html#settings-in-force'>definitions</a> page "
        "(values in force, marked where they differ from the defaults) and the reference tables below.</p>"
        f"<div class=grid2>{html.panel('<h3>Data period per clinic</h3>' + periods, downloads.link('index-data-period'))}"
        f"{html.panel('<h3>Reference tables</h3>' + reference, downloads.link('index-reference-tables'))}</div>"
        f"<details><summary>Show the {len(run.exports):,} exports and their checksums</summary>"
        f"{html.panel(exports, downloads.link('index-run-exports'))}</details>"
    )


def index_downloads(run: RunRecord | None) -> list[downloads.Download]:
    """The overview's downloads: the run's data period per clinic, its exports and reference tables (the
    tables of "How this site was made"; empty files when no run is recorded)."""
    periods = pd.DataFrame(
        [{"clinic_id": c, "first_month": a[:7], "last_month": b[:7]} for c, (a, b) in (run.data_period if run else {})
         .items()], columns=["clinic_id", "first_month", "last_month"])
    exports = pd.DataFrame([{"export": e["export"], "checksum": e["checksum"][:12], "load_order": e["load_order"]}
                            for e in (run.exports if run else [])], columns=["export", "checksum", "load_order"])
    reference = pd.DataFrame([{"reference_table": n, "checksum": d[:12]} for n, d in (run.reference if run else {})
                              .items()], columns=["reference_table", "checksum"])
    return [downloads.download("index-data-period", periods), downloads.download("index-run-exports", exports),
            downloads.download("index-reference-tables", reference)]


def build_index_page(
    con: duckdb.DuckDBPyConnection, site: Path, settings: Settings, run: RunRecord | None = None
) -> Path:
    """``index.html``: links to every page and to the downloads, the data period, the exports in the warehouse
    (loaded, rejected) and the run that produced the site (its exports with checksums, settings and the
    pipeline's version); also writes the overview's downloads and the data dictionary of every download.

    Reads ``marts.episode_outcomes`` (first and last month of care), the exports' current state
    (:func:`dashboards.queries.load_status`) and ``ops.runs``.
    """
    period = data_period(con)
    status = load_status(con)
    loaded = int((status["status"] == "loaded").sum())
    rejected = status[status["status"] == "rejected"]["export"].astype(str).tolist()
    downloads.write_downloads(site, "index.html", index_downloads(run), settings)
    build_data_dictionary(site, settings, run)
    facts = html.cards([
        html.card("Data period", f"{period[0]} – {period[1]}" if period else "no data yet",
                  "months of care in the warehouse"),
        html.card("Last run", f"{run.started_at:%Y-%m-%d %H:%M}" if run else "none recorded",
                  "details under “How this site was made”" if run else ""),
        html.card("Exports in the warehouse", f"{loaded:,}",
                  f"loaded; {len(rejected):,} rejected (no version of it could be loaded)" if len(rejected) == 1
                  else f"loaded; {len(rejected):,} rejected (no version of them could be loaded)"),
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
    ) + (f"<a class='card link' href='{downloads.DATA_DIR}/{downloads.DICTIONARY_PAGE}'><div class=label>For "
         "researchers and analysts</div><div class=value style='font-size:19px'>Downloads (CSV)</div><div class=ci>"
         "Every table, and the data behind every chart, as CSV at full precision, with a data dictionary: each "
         "column's unit, meaning and definition, and the suppression rule in force.</div></a>")
    body = (
        facts + warn + "<h2>Dashboards</h2><div class=cards>" + links + "</div>"
        "<div class=info>Outcomes are counted per episode of care and measured on the 0–10 pain scale before "
        "treatment at later visits (sustained relief), not minutes after a massage. Every figure is an aggregate; "
        "small groups are suppressed. The site works offline: open this file in any browser.</div>"
        + run_section(run, settings)
    )
    return html.write_page(site, "index.html", html.page(
        "index.html", "Outcomes of prescribed massage and manual therapy",
        "Aggregated, de-identified outcomes for clinic directors, researchers and payers.", body, run=run,
    ))


def build_site(
    con: duckdb.DuckDBPyConnection, site_dir: Path, settings: Settings, run: RunRecord | None = None
) -> list[Path]:
    """Write the whole site into ``site_dir`` and return the files written (script, pages, definitions, index)."""
    site_dir = Path(site_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    written = [html.install_assets(site_dir)]
    written += [builder(con, site_dir, settings, run) for builder in PAGE_BUILDERS.values()]
    written.append(build_definitions_page(site_dir, settings, run))
    written.append(build_index_page(con, site_dir, settings, run))
    return written
