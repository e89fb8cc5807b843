"""The static HTML of every page: template, embedded CSS, navigation, cards, tables, messages.

Plotly's JavaScript is shipped once for the whole site as ``assets/plotly.min.js`` (copied from the
installed plotly package) and every page refers to it with a relative ``<script src>``; figures are
embedded as ``fig.to_html(full_html=False, include_plotlyjs=False)`` fragments. No page loads
anything else: no CDN, no web font, no image, so the site works from ``file://`` and from any
static web server, offline. Every text that comes from data is HTML-escaped here.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from html import escape
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio

from transforms.runs import RunRecord

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_JS_PATH = "assets/plotly.min.js"
PAGES: tuple[tuple[str, str], ...] = (
    ("index.html", "Overview"),
    ("director.html", "Clinic directors"),
    ("researcher.html", "Researchers"),
    ("payer.html", "Payers"),
    ("quality.html", "Data quality"),
    ("definitions.html", "Definitions"),
)
MESSAGE_CLASS = "chart-message"

CSS = """
:root{--ink:#1d2630;--muted:#5b6775;--line:#e1e6ec;--accent:#0b6e99;--bg:#f4f6f9;--head:#17324d;--sup:#7a5c00}
*{box-sizing:border-box}
body{margin:0;font:14px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
a{color:var(--accent)}
header{background:var(--head);color:#fff;padding:0 28px;display:flex;gap:28px;align-items:center;flex-wrap:wrap;min-height:54px}
header .brand{font-weight:700;font-size:16px;letter-spacing:.2px;color:#fff;text-decoration:none}
header nav{display:flex;flex-wrap:wrap;gap:4px}
header nav a{color:#c9d6e3;text-decoration:none;padding:16px 10px 14px;border-bottom:3px solid transparent}
header nav a:hover{color:#fff}
header nav a.current{color:#fff;border-bottom-color:#5fb3dd}
main{max-width:1240px;margin:0 auto;padding:22px 28px 60px}
h1{font-size:24px;margin:6px 0 2px}
h2{font-size:18px;margin:34px 0 4px;padding-top:6px}
h3{font-size:15px;margin:18px 0 6px}
p.lead{color:var(--muted);margin:0 0 10px;font-size:15px}
p.explain{color:var(--muted);margin:2px 0 10px;max-width:980px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(185px,1fr));gap:12px;margin:14px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 16px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
.card .label{color:var(--muted);font-size:12.5px;line-height:1.3}
.card .value{font-size:26px;font-weight:650;margin-top:4px;font-variant-numeric:tabular-nums}
.card .ci{color:var(--muted);font-size:12px}
.card .value.sup{font-size:20px;color:var(--sup);font-weight:600;font-style:italic}
.card a{text-decoration:none}
.card.link:hover{border-color:var(--accent)}
.panel{background:#fff;border:1px solid var(--line);border-radius:10px;padding:10px 14px;margin:12px 0;box-shadow:0 1px 2px rgba(16,24,40,.04)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:12px}
@media(max-width:960px){.grid2{grid-template-columns:1fr}}
.table-wrap{overflow-x:auto}
table.data{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
table.data th,table.data td{border-bottom:1px solid var(--line);padding:6px 9px;text-align:left;vertical-align:top}
table.data th{color:var(--muted);font-weight:600;background:#fafbfc;vertical-align:bottom;line-height:1.3}
table.data td.num{text-align:right;white-space:nowrap}
table.data th.num{text-align:right}
table.data tr.total td{font-weight:650;border-top:2px solid #c9d1da}
td.sup,span.sup{color:var(--sup);font-style:italic}
table.data span.detail{color:var(--muted);font-size:11.5px}
table.data td:first-child{white-space:nowrap}
a.card{text-decoration:none;color:inherit;display:block}
a.card .value{color:var(--accent)}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:7px;vertical-align:baseline}
.note{background:#fff8e6;border-left:4px solid #e6a700;padding:9px 13px;margin:12px 0;border-radius:4px}
.info{background:#eef6fb;border-left:4px solid var(--accent);padding:9px 13px;margin:12px 0;border-radius:4px}
.chart-message{background:#fafbfc;border:1px dashed #c3ccd6;border-radius:8px;padding:26px 18px;margin:8px 0;color:var(--muted);text-align:center}
.chart-message b{color:var(--ink)}
.filter{display:flex;align-items:center;gap:10px;background:#fff;border:1px solid var(--line);border-radius:10px;padding:10px 14px;margin:14px 0;position:sticky;top:0;z-index:5}
.filter label{font-weight:600}
.filter select{font:inherit;padding:5px 10px;border:1px solid #c3ccd6;border-radius:6px;background:#fff;min-width:220px}
.filter .hint{color:var(--muted);font-size:12.5px}
tr.status-row-rejected td:nth-child(2){color:#b00020;font-weight:650}
tr.status-row-loaded td:nth-child(2),tr.status-row-replaced td:nth-child(2){color:#1b7f3b;font-weight:650}
tr.status-row-unchanged td:nth-child(2){color:var(--muted);font-weight:650}
details summary{cursor:pointer;color:var(--accent);margin:8px 0}
code{background:#eef1f4;border-radius:4px;padding:1px 5px;font-size:12.5px}
footer{color:var(--muted);font-size:12px;margin-top:44px;border-top:1px solid var(--line);padding-top:12px}
.definitions h2{border-top:1px solid var(--line)}
tr.setting-changed td{background:#fff8e6;font-weight:600}
footer .provenance{margin-top:6px}
.definitions table.data{margin:8px 0 14px}
.download{display:flex;justify-content:flex-end;gap:16px;margin:6px 2px 2px;font-size:12px}
.download a{color:var(--muted);text-decoration:none}
.download a:hover{color:var(--accent);text-decoration:underline}
.download a[download]::before{content:"⤓ "}
h2 .file{font-weight:400;color:var(--muted);font-size:13px;margin-left:8px}
"""

VIEW_SCRIPT = """
(function () {
  var select = document.getElementById('view-filter');
  if (!select || !window.Plotly) { return; }
  function draw(view) {
    view.querySelectorAll('script[data-plot-for]').forEach(function (spec) {
      var div = document.getElementById(spec.getAttribute('data-plot-for'));
      if (!div || div.classList.contains('js-plotly-plot')) { return; }
      var fig = JSON.parse(spec.textContent);
      window.Plotly.newPlot(div, fig.data, fig.layout, fig.config);
    });
  }
  function show(name) {
    document.querySelectorAll('.view').forEach(function (view) {
      var on = view.getAttribute('data-view') === name;
      view.hidden = !on;
      if (on) {
        draw(view);
        view.querySelectorAll('.js-plotly-plot').forEach(function (plot) { window.Plotly.Plots.resize(plot); });
      }
    });
  }
  select.addEventListener('change', function () { show(select.value); });
  show(select.value);
})();
"""


PLOT_CONFIG = {
    "displaylogo": False, "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines", "zoomIn2d", "zoomOut2d",
                               "pan2d", "hoverClosestCartesian", "hoverCompareCartesian"],
}


# Plotted numbers are written with 10 significant digits, not the 17 of a double's exact repr: far below
# a pixel and below every hover format, and a 1M network's director page lost a tenth of its bytes.
# The downloads and tables keep every digit.
PLOTTED_DIGITS = 10


def _plotted(value: object) -> object:
    """A trace's value with its floats written to :data:`PLOTTED_DIGITS` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{PLOTTED_DIGITS}g}") if math.isfinite(value) else value
    if isinstance(value, list | tuple):
        return [_plotted(v) for v in value]
    if isinstance(value, dict):
        return {k: _plotted(v) for k, v in value.items()}
    return value


def _figure_json(fig: go.Figure) -> dict:
    plotly_json = fig.to_plotly_json()
    return {"data": [_plotted(trace) for trace in plotly_json["data"]], "layout": plotly_json["layout"]}


def figure_div(fig: go.Figure, div_id: str) -> str:
    """A figure as an HTML fragment drawn with the site's shared Plotly script (fixed id: reproducible)."""
    return pio.to_html(_figure_json(fig), full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG,
                       validate=False)


def lazy_figure_div(fig: go.Figure, div_id: str) -> str:
    """A figure drawn only when its view is first shown (see :data:`VIEW_SCRIPT`).

    Views hidden behind a filter are not drawn at load, so a page with many clinics still opens
    quickly. The figure travels as inline JSON (``</`` escaped so no data can close the script).
    """
    spec = pio.to_json({**_figure_json(fig), "config": PLOT_CONFIG}, validate=False, pretty=False)
    spec = spec.replace("</", "<\\/")
    height = int(fig.layout.height or 450)
    return (f"<div id='{escape(div_id)}' class='plotly-graph-div lazy-plot' style='height:{height}px;width:100%'>"
            f"</div><script type='application/json' data-plot-for='{escape(div_id)}'>{spec}</script>")


def message(text: str, detail: str = "") -> str:
    """What replaces a chart that has nothing to draw (empty or fully suppressed group)."""
    extra = f"<br><span>{escape(detail)}</span>" if detail else ""
    return f"<div class='{MESSAGE_CLASS}' role=status><b>{escape(text)}</b>{extra}</div>"


def chart(fig: go.Figure | None, div_id: str, empty: str, detail: str = "", lazy: bool = False) -> str:
    """A figure (drawn at load, or when its view is first shown if ``lazy``), or the message ``empty``."""
    if fig is None:
        return message(empty, detail)
    return lazy_figure_div(fig, div_id) if lazy else figure_div(fig, div_id)


def panel(*parts: str) -> str:
    """A white panel around chart(s) and text."""
    return "<div class=panel>" + "".join(parts) + "</div>"


def section(title: str, explain: str, *parts: str, anchor: str = "") -> str:
    """A titled section with a one-paragraph explanation (``explain`` may hold trusted inline HTML)."""
    ident = f" id='{escape(anchor)}'" if anchor else ""
    return f"<h2{ident}>{escape(title)}</h2><p class=explain>{explain}</p>" + "".join(parts)


SUPPRESSED_TEXT = "suppressed"


def suppressed_html(threshold: int) -> str:
    """The marker of a suppressed number, with an explanation on hover.

    One marker for both kinds of suppression: a cell on fewer than ``threshold`` patients and a cell
    hidden so that such a cell cannot be recovered from a total look the same (otherwise the marker
    itself would tell which hidden cells are the small ones).
    """
    return (f"<span class=sup title='Hidden: it rests on fewer than {int(threshold)} patients, or it is hidden so "
            f"that such a number cannot be recovered from a total.'>{SUPPRESSED_TEXT}</span>")


def card(label: str, value: str | None, ci: str = "", threshold: int | None = None) -> str:
    """A headline figure; ``value=None`` shows the suppression marker (needs ``threshold``)."""
    if value is None:
        shown = f"<div class='value sup'>{suppressed_html(threshold or 0)}</div>"
        ci = ci or "too few patients to publish"
    else:
        shown = f"<div class=value>{escape(value)}</div>"
    return f"<div class=card><div class=label>{escape(label)}</div>{shown}<div class=ci>{escape(ci)}</div></div>"


def cards(items: Sequence[str]) -> str:
    """A responsive grid of cards."""
    return "<div class=cards>" + "".join(items) + "</div>"


Cell = str | tuple[str, str] | None
"""A table cell: text, or (text, smaller second line) -- both escaped when rendered -- or None (suppressed)."""


def table(
    rows: Sequence[Sequence[Cell]],
    headers: Sequence[str],
    threshold: int | None = None,
    numeric: Sequence[int] = (),
    total_rows: Sequence[int] = (),
    first_cell_html: Sequence[str] | None = None,
    table_id: str = "",
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; ``None`` cells show the suppression marker, columns in ``numeric`` align right.

    ``first_cell_html`` optionally replaces the escaped first cell of each row with trusted HTML
    (e.g. a colour swatch and a label).
    """
    num = set(numeric)
    head = "".join(f"<th{' class=num' if i in num else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = []
    totals = set(total_rows)
    for r, row in enumerate(rows):
        cells = []
        for i, value in enumerate(row):
            cls = " class=num" if i in num else ""
            if i == 0 and first_cell_html is not None:
                cells.append(f"<td>{first_cell_html[r]}</td>")
            elif value is None:
                cells.append(f"<td{cls}>{suppressed_html(threshold or 0)}</td>")
            elif isinstance(value, tuple):
                main, detail = value
                second = f"<br><span class=detail>{escape(detail)}</span>" if detail else ""
                cells.append(f"<td{cls}>{escape(main)}{second}</td>")
            else:
                cells.append(f"<td{cls}>{escape(str(value))}</td>")
        classes = [*(["total"] if r in totals else []), *([row_classes[r]] if row_classes and row_classes[r] else [])]
        attr = f" class='{' '.join(classes)}'" if classes else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    ident = f" id='{escape(table_id)}'" if table_id else ""
    return f"<div class=table-wrap><table class=data{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def swatch(colour: str, label: str) -> str:
    """A colour square followed by an escaped label (first cell of condition tables)."""
    return f"<span class=swatch style='background:{escape(colour)}'></span>{escape(label)}"


def view_filter(label: str, options: Sequence[tuple[str, str]], hint: str = "") -> str:
    """A dropdown that switches between pre-rendered ``.view`` sections (no network, tiny inline script)."""
    opts = "".join(f"<option value='{escape(v)}'>{escape(t)}</option>" for v, t in options)
    return (f"<div class=filter><label for=view-filter>{escape(label)}</label><select id=view-filter>{opts}</select>"
            f"<span class=hint>{escape(hint)}</span></div>")


def view(name: str, body: str, first: bool) -> str:
    """One pre-rendered view; all but the first start hidden."""
    return f"<section class=view data-view='{escape(name)}'{'' if first else ' hidden'}>{body}</section>"


def provenance(run: RunRecord | None, root: str = "") -> str:
    """The footer line naming the run that produced a page (its id, time and the pipeline's version);
    ``root`` leads from the page's folder to the site's (``../`` for a page in ``data/``)."""
    if run is None:
        return "Produced outside a recorded pipeline run. "
    return (f"Produced by run <code>{escape(run.run_id)}</code> started {run.started_at:%Y-%m-%d %H:%M}, pipeline "
            f"{escape(run.version_text)}; its exports and settings are listed on the "
            f"<a href='{root}index.html#this-run'>overview</a>. ")


def page(filename: str, title: str, lead: str, body: str, threshold: int | None = None, scripts: str = "",
         run: RunRecord | None = None, root: str = "") -> str:
    """A whole page: header with navigation, title, lead paragraph, body, the privacy footer and the run.

    ``root`` leads from the page's folder to the site's: ``../`` for the data dictionary in ``data/``,
    which needs no Plotly script either.
    """
    nav = "".join(
        f"<a href='{root}{href}'{' class=current' if href == filename else ''}>{escape(label)}</a>"
        for href, label in PAGES
    )
    plotly_script = "" if root else f"<script src='{PLOTLY_JS_PATH}'></script>"
    rule = (f"Every number resting on 1 to {threshold - 1} distinct patients is hidden and shown as "
            f"{suppressed_html(threshold)}, and so is any number from which a hidden one could be recovered by "
            "subtraction from a total. " if threshold else "")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'><link rel=icon href='data:,'>"
        f"<title>{escape(title)} · Manual-therapy outcomes</title><style>{CSS}</style>"
        f"{plotly_script}</head><body>"
        f"<header><a class=brand href='{root}index.html'>Manual-therapy outcomes</a><nav>{nav}</nav></header>"
        f"<main><h1>{escape(title)}</h1><p class=lead>{lead}</p>{body}"
        f"<footer>{rule}Aggregates only: no patient, session or episode identifier and no date of service is "
        f"published. Definitions of every figure: <a href='{root}definitions.html'>Definitions</a>."
        f"<div class=provenance>{provenance(run, root)}</div></footer></main>"
        f"{scripts}</body></html>"
    )


def write_page(site: Path, filename: str, text: str) -> Path:
    """Write one page into the site folder (UTF-8, Unix newlines)."""
    site.mkdir(parents=True, exist_ok=True)
    path = site / filename
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def install_assets(site: Path) -> Path:
    """Copy Plotly's JavaScript into ``site/assets/plotly.min.js`` once (skipped when already identical)."""
    target = site / PLOTLY_JS_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != PLOTLY_JS.read_bytes():
        shutil.copyfile(PLOTLY_JS, target)
    return target


def script(js: str) -> str:
    """An inline script element (for the view filter)."""
    return f"<script>{js}</script>"
