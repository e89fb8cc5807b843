"""Audit packets: per payer type and clinic, offline HTML with a section per flagged episode (restricted only).

A payer's reviewer reads one episode at a time and must find the evidence of every flag on the page:
each section shows the episode's facts, every flag with its rule in plain words (thresholds from the
run's settings) and its detail, the visit timeline (date, visit type, CPT code, units, minutes, pain
before and after, function score, goals, referral, authorised visits) with the evidence rows
highlighted, and a small chart of the episode's pain. Episodes come in the order a reviewer works:
by the highest tier of their flags (billing, necessity, documentation, review), then by units at
risk, largest first.

A payer reviews one provider at a time, so each payer type has a packet per clinic (in pages of
:data:`PAGE_EPISODES` episodes) and an index page listing its clinics, the most units at risk first.
This also keeps a monthly run cheap: a new export touches one clinic, and only that clinic's packets
are rewritten (the others are byte for byte what a full rewrite would give).

The packet names episodes and dates of service, so it is written to the **restricted** folder only,
never to the published site. The only identifiers on it are pseudonymous: the ``episode_key``, the
``session_id`` of each visit and the ``clinic_id`` (no patient, therapist or clinic case number:
a reviewer does not need them, and an episode key already ties the visits of one course of care
together). Plotly's script is shipped beside the pages (``assets/plotly.min.js``), as on the site,
so the packet opens offline; charts are drawn when their section scrolls into view.

:func:`render_packet` is a pure function (data in, HTML out); :func:`write_audit_packets` reads the
warehouse and writes the files.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Collection, Iterable, Sequence
from functools import cache
from html import escape
from pathlib import Path

import duckdb
import plotly.graph_objects as go

from dashboards import html
from dashboards.theme import ACCENT, MUTED, WARN, base_layout, clinic_label, condition_label
from transforms.audit import (
    FLAG_BY_NAME,
    TIER_LABELS,
    TIERS,
    WORKLIST_PREFIX,
    PacketData,
    Record,
    check_restricted,
    flagged_payers,
    packet_pages,
    packet_totals,
    payer_clinic_totals,
    relief_in_words,
    rule_in_words,
)
from transforms.config import Settings
from transforms.contract import PAYER_TYPES

PACKET_PREFIX = "audit_packet_"
# Episodes per page: a page stays quick to open however many episodes a payer type has.
PAGE_EPISODES = 200
CLINIC_SLUG = re.compile(r"[A-Za-z0-9_-]{1,64}")
RESTRICTED_NOTE = (
    "<div class=restricted><b>Restricted.</b> The audit packets name episodes of care and their dates of "
    "service. They are for the payer's reviewer under the data-use agreement: never publish or forward them. "
    "Their only identifiers are pseudonymous (episode key, session id, clinic id).</div>")
PAYER_LABELS = {"commercial": "Commercial", "medicare": "Medicare", "medicaid": "Medicaid",
                "workers_comp": "Workers' compensation", "auto_pip": "Auto (PIP)", "fsa_hsa": "FSA / HSA",
                "self_pay": "Self-pay"}
TIER_COLOURS = {"billing": "#b00020", "necessity": "#b35c00", "documentation": "#0b6e99", "review": "#5b6775"}
STATUS_LABELS = {"discharged": "discharged", "active": "active (still in care)",
                 "lost_to_follow_up": "lost to follow-up"}

PACKET_CSS = """
.restricted{background:#fdecea;border-left:4px solid #b00020;padding:9px 13px;margin:12px 0;border-radius:4px}
.episode{background:#fff;border:1px solid var(--line);border-radius:10px;padding:6px 18px 14px;margin:22px 0;
 box-shadow:0 1px 2px rgba(16,24,40,.04)}
.episode h2{margin-top:14px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:16px}
.facts{color:var(--muted);margin:2px 0 8px}
.facts b{color:var(--ink)}
.tier{display:inline-block;border-radius:10px;padding:1px 9px;font-size:11.5px;font-weight:650;color:#fff;white-space:nowrap;
 margin-right:6px;vertical-align:1px}
ul.flags{list-style:none;padding:0;margin:8px 0 12px}
ul.flags>li{border-left:3px solid var(--line);padding:5px 12px;margin:6px 0;background:#fafbfc}
ul.flags .rule{color:var(--muted);font-size:12.5px;margin:2px 0}
ul.flags .detail{margin:2px 0}
ul.flags .evidence{font-size:12px;color:var(--muted)}
table.timeline td{white-space:nowrap}
table.timeline tr.evidence td{background:#fff4e0}
table.timeline tr.at-risk td:first-child{box-shadow:inset 4px 0 0 #b00020}
table.timeline td.cites{font-size:11.5px;color:#7a4a00;white-space:normal;min-width:140px}
.episode-grid{display:grid;grid-template-columns:minmax(0,1fr) 360px;gap:14px;align-items:start}
@media(max-width:1100px){.episode-grid{grid-template-columns:1fr}}
.legend-row{font-size:12px;color:var(--muted);margin:4px 0 10px}
.legend-row span.box{display:inline-block;width:12px;height:12px;vertical-align:-2px;margin:0 4px 0 10px}
"""

# Draw each chart when its section comes near the viewport: a packet may hold hundreds of episodes.
PACKET_SCRIPT = """
(function () {
  if (!window.Plotly) { return; }
  // what every pain chart of the page shares (layout, the two traces' styles, config) travels once
  var baseNode = document.getElementById('pain-chart-base');
  var base = baseNode ? JSON.parse(baseNode.textContent) : null;
  function draw(spec) {
    var div = document.getElementById(spec.getAttribute('data-plot-for'));
    if (!div || div.classList.contains('js-plotly-plot') || !base) { return; }
    var own = JSON.parse(spec.textContent);
    var layout = Object.assign({}, base.layout, own.layout);
    layout.xaxis = Object.assign({}, base.layout.xaxis, own.layout.xaxis);
    var data = base.traces.map(function (style, i) {
      return Object.assign({}, style, {x: own.points[i][0], y: own.points[i][1]});
    });
    window.Plotly.newPlot(div, data, layout, base.config);
  }
  var specs = Array.prototype.slice.call(document.querySelectorAll('script[data-plot-for]'));
  if (!('IntersectionObserver' in window)) { specs.forEach(draw); return; }
  var byDiv = {};
  specs.forEach(function (spec) { byDiv[spec.getAttribute('data-plot-for')] = spec; });
  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) { draw(byDiv[entry.target.id]); observer.unobserve(entry.target); }
    });
  }, {rootMargin: '600px 0px'});
  specs.forEach(function (spec) {
    var div = document.getElementById(spec.getAttribute('data-plot-for'));
    if (div) { observer.observe(div); }
  });
})();
"""


def payer_label(payer: str) -> str:
    """Readable payer type."""
    return PAYER_LABELS.get(payer, payer.replace("_", " "))


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: object) -> str:
    return "" if _missing(value) else f"{float(value):g}"  # type: ignore[arg-type]


def _visits_text(numbers: Sequence[int]) -> str:
    """``visits 3, 4, 5`` / ``visit 2`` / ``visits 3 to 12`` for a consecutive run of more than four."""
    nums = sorted(set(numbers))
    if not nums:
        return ""
    if len(nums) == 1:
        return f"visit {nums[0]}"
    if len(nums) > 4 and nums == list(range(nums[0], nums[-1] + 1)):
        return f"visits {nums[0]} to {nums[-1]}"
    return "visits " + ", ".join(str(n) for n in nums)


def tier_badge(tier: str) -> str:
    """A coloured label of a tier."""
    return (f"<span class=tier style='background:{TIER_COLOURS.get(tier, MUTED)}'>"
            f"{escape(TIER_LABELS.get(tier, tier))}</span>")


# The two traces of every pain chart: style here, points per episode.
_PAIN_TRACES = (
    {"type": "scatter", "mode": "lines+markers", "name": "before treatment", "line": {"color": ACCENT, "width": 2},
     "hovertemplate": "visit %{x}: %{y} before treatment<extra></extra>"},
    {"type": "scatter", "mode": "markers", "name": "after treatment",
     "marker": {"color": MUTED, "symbol": "circle-open", "size": 8},
     "hovertemplate": "visit %{x}: %{y} after treatment<extra></extra>"},
)
PAIN_CHART_HEIGHT = 250


@cache
def _pain_layout() -> str:
    """The shared layout of every pain chart (JSON; built once: a packet may hold many charts)."""
    fig = base_layout(go.Figure(), "Pain (0–10)", height=PAIN_CHART_HEIGHT)
    fig.update_layout(margin={"l": 44, "r": 14, "t": 40, "b": 40}, showlegend=True,
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.28, "yanchor": "top"})
    fig.update_xaxes(title_text="visit")
    fig.update_yaxes(range=[-0.3, 10.3], dtick=2)
    return json.dumps(fig.to_plotly_json()["layout"])


@cache
def _pain_chart_base() -> str:
    """What every pain chart of a packet page shares, as the JSON of one script element: the layout, the
    traces' styles and the chart configuration (PACKET_SCRIPT adds each chart's own points and layout)."""
    text = json.dumps({"layout": json.loads(_pain_layout()), "traces": _PAIN_TRACES, "config": html.PLOT_CONFIG},
                      separators=(",", ":"))
    text = text.replace("</", "<\\/")
    return f"<script type='application/json' id='pain-chart-base'>{text}</script>"


def _pain_chart_parts(timeline: Record, baseline: object, relief_session: object,
                      settings: Settings) -> tuple[list[list[list]], dict] | None:
    """An episode's own part of its pain chart: the points of the two traces (visits, scores) and the
    layout it does not share (x range, the relief level and visit); None without any pain score."""
    pre = [list(timeline.get("pre_visits") or []), [float(p) for p in timeline.get("pre_pain") or []]]
    post = [list(timeline.get("post_visits") or []), [float(p) for p in timeline.get("post_pain") or []]]
    if not pre[0] and not post[0]:
        return None
    last = max(2, int(timeline.get("last_visit") or 0))
    shapes, notes = [], []
    if not _missing(baseline):
        b = float(baseline)  # type: ignore[arg-type]
        level = min(b - float(settings.relief_min_points), float(settings.relief_max_fraction) * b)
        if level >= 0:
            shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": level, "y1": level,
                           "line": {"color": "#5b8c3a", "dash": "dash", "width": 1}})
            notes.append({"xref": "paper", "x": 1, "yref": "y", "y": level, "text": f"relief level {level:g}",
                          "showarrow": False, "xanchor": "right", "yanchor": "bottom",
                          "font": {"size": 10, "color": "#5b8c3a"}})
    if not _missing(relief_session):
        k = int(relief_session)  # type: ignore[arg-type]
        shapes.append({"type": "line", "xref": "x", "x0": k, "x1": k, "yref": "paper", "y0": 0, "y1": 1,
                       "line": {"color": WARN, "dash": "dot", "width": 1}})
        notes.append({"xref": "x", "x": k, "yref": "paper", "y": 1, "text": "relief", "showarrow": False,
                      "xanchor": "right", "yanchor": "top", "font": {"size": 10, "color": WARN}})
    layout = {"xaxis": {"range": [0.5, last + 0.5], **({"dtick": 1} if last <= 16 else {})},
              "shapes": shapes, "annotations": notes}
    return [pre, post], layout


def pain_chart_spec(timeline: Record, baseline: object, relief_session: object, settings: Settings) -> dict | None:
    """The Plotly figure (as its JSON dictionary) of an episode's pain before and after each visit (0-10),
    with the relief level and the visit where relief was first seen; None without any pain score.

    ``timeline``: the episode's row of ``restricted/audit_packet_timelines`` (``pre_visits`` and
    ``pre_pain``, ``post_visits`` and ``post_pain``: the recorded scores by visit; ``last_visit``). The
    packets draw the same figure from the shared part and the episode's own (see PACKET_SCRIPT)."""
    parts = _pain_chart_parts(timeline, baseline, relief_session, settings)
    if parts is None:
        return None
    points, own = parts
    layout = json.loads(_pain_layout())
    layout.update({**own, "xaxis": {**layout["xaxis"], **own["xaxis"]}})
    data = [{**style, "x": xs, "y": ys} for style, (xs, ys) in zip(_PAIN_TRACES, points, strict=True)]
    return {"data": data, "layout": layout}


def pain_figure(timeline: Record, baseline: object, relief_session: object, settings: Settings) -> go.Figure | None:
    """The episode's pain chart as a Plotly figure (see :func:`pain_chart_spec`)."""
    spec = pain_chart_spec(timeline, baseline, relief_session, settings)
    return None if spec is None else go.Figure(spec)


def _chart(parts: tuple[list[list[list]], dict] | None, div_id: str) -> str:
    """A pain chart drawn when its section comes into view: its own points and layout travel as inline JSON,
    the rest once per page (:func:`_pain_chart_base`)."""
    if parts is None:
        return html.message("No pain score recorded in this episode.")
    points, layout = parts
    text = json.dumps({"points": points, "layout": layout}, separators=(",", ":")).replace("</", "<\\/")
    return (f"<div id='{escape(div_id)}' class='plotly-graph-div lazy-plot' "
            f"style='height:{PAIN_CHART_HEIGHT}px;width:100%'></div>"
            f"<script type='application/json' data-plot-for='{escape(div_id)}'>{text}</script>")


TIMELINE_HEADERS = ("Visit", "Session", "Date", "Visit type", "CPT", "Units", "Minutes", "Pain before", "Pain after",
                    "Function", "Goals", "Referral", "Authorised (recorded / in force)", "Flags citing this visit")
_TIMELINE_HEAD = "".join(f"<th>{escape(h)}</th>" for h in TIMELINE_HEADERS)


def _timeline(timeline: Record) -> str:
    # the rows are written (and every text from the data escaped) by restricted/audit_packet_timelines.sql
    return (f"<div class=table-wrap><table class='data timeline'><thead><tr>{_TIMELINE_HEAD}</tr></thead>"
            f"<tbody>{timeline.get('rows_html') or ''}</tbody></table></div>")


def _flag_items(flags: Sequence[Record], rules: dict[str, str]) -> str:
    by_flag: dict[str, list[Record]] = {}
    for f in flags:
        by_flag.setdefault(f["flag"], []).append(f)
    items = []
    for flag, rows in by_flag.items():
        info = FLAG_BY_NAME[flag]
        evidence = sorted({n for r in rows for n in r["evidence_sessions"] or ()})
        risk = sorted({n for r in rows for n in r["risk_sessions"] or ()})
        details = [str(r["detail"]) for r in rows]
        shown = "".join(f"<div class=detail>{escape(d)}</div>" for d in details[:6])
        if len(details) > 6:
            rest = "".join(f"<div class=detail>{escape(d)}</div>" for d in details[6:])
            shown += f"<details><summary>{len(details) - 6} more visits with this flag</summary>{rest}</details>"
        notes = [f"evidence: {_visits_text(evidence)}"] if evidence else []
        if risk:
            notes.append(f"units at risk: {_visits_text(risk)}")
        items.append(
            f"<li style='border-left-color:{TIER_COLOURS.get(info.tier, MUTED)}'>{tier_badge(info.tier)}"
            f"<b>{escape(info.name)}</b> · {escape(info.label)}"
            f"<div class=rule>Rule: {rules[flag]} Source: {escape(info.source)}.</div>"
            f"{shown}<div class=evidence>{escape('; '.join(notes))}</div></li>"
        )
    return f"<ul class=flags>{''.join(items)}</ul>"


LEGEND = ("<div class=legend-row>Highlighted rows: <span class=box style='background:#fff4e0'></span>cited "
          "as evidence by a flag; <span class=box style='box-shadow:inset 4px 0 0 #b00020'></span>units at risk "
          "(a payer could deny them for necessity or authorisation).</div>")


def _episode_section(ep: Record, flags: Sequence[Record], timeline: Record, settings: Settings,
                     rules: dict[str, str], index: int) -> str:
    key = str(ep["episode_key"])
    relief = "" if _missing(ep["relief_session"]) else f"; relief first seen at visit {int(ep['relief_session'])}"
    baseline = "none recorded" if _missing(ep["baseline_pain"]) else _num(ep["baseline_pain"])
    facts = (
        f"{escape(clinic_label(str(ep['clinic_id'])))} (<code>{escape(str(ep['clinic_id']))}</code>) · "
        f"{escape(condition_label(str(ep['condition_group'])))} · {escape(payer_label(str(ep['payer_type'])))} · "
        f"{escape(str(ep['first_date'])[:10])} to {escape(str(ep['last_date'])[:10])} · "
        f"<b>{int(ep['n_sessions'])}</b> visits, <b>{int(ep['units_billed'])}</b> units billed · "
        f"{escape(STATUS_LABELS.get(str(ep['status']), str(ep['status'])))}<br>"
        f"Units at risk: <b>{int(ep['units_at_risk'])}</b> · excess units under the 8-minute rule: "
        f"<b>{int(ep['units_over_time'])}</b> · baseline pain {escape(baseline)}{escape(relief)}"
    )
    chart = _chart(_pain_chart_parts(timeline, ep["baseline_pain"], ep["relief_session"], settings), f"pain-{index}")
    return (
        f"<section class=episode id='{escape(key)}'><h2>{escape(key)} {tier_badge(str(ep['top_tier']))}</h2>"
        f"<p class=facts>{facts}</p>"
        f"<div class=episode-grid><div>{_flag_items(flags, rules)}</div><div>{chart}</div></div>"
        f"{LEGEND}{_timeline(timeline)}</section>"
    )


def _contents(episodes: Sequence[Record]) -> str:
    rows = []
    for ep in episodes:
        key = escape(str(ep["episode_key"]))
        rows.append(
            f"<tr><td><a href='#{key}'><code>{key}</code></a></td><td>{escape(str(ep['clinic_id']))}</td>"
            f"<td>{tier_badge(str(ep['top_tier']))}</td><td>{escape(', '.join(ep['flags']))}</td>"
            f"<td class=num>{int(ep['units_at_risk'])}</td><td class=num>{int(ep['units_over_time'])}</td></tr>"
        )
    head = "".join(f"<th{' class=num' if i >= 4 else ''}>{h}</th>" for i, h in enumerate(
        ("Episode", "Clinic", "Highest tier", "Flags", "Units at risk", "Excess units")))
    return (f"<div class=table-wrap><table class=data id=contents><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _rules_table(flags_present: Iterable[str], rules: dict[str, str]) -> str:
    present = set(flags_present)
    rows = []
    for tier in TIERS:
        for info in (f for f in FLAG_BY_NAME.values() if f.tier == tier and f.name in present):
            rows.append(f"<tr><td><b>{escape(info.name)}</b></td><td>{tier_badge(tier)}</td>"
                        f"<td>{rules[info.name]}</td><td>{escape(info.source)}</td></tr>")
    return ("<div class=table-wrap><table class=data><thead><tr><th>Flag</th><th>Tier</th><th>Raised when</th>"
            f"<th>Source</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def clinic_slug(clinic: str) -> str:
    """The clinic id as it appears in file names: itself when it is letters, digits, ``_`` and ``-`` only
    (at most 64), otherwise ``c-`` and a hash of it (ids are free text in the export contract)."""
    if CLINIC_SLUG.fullmatch(clinic):
        return clinic
    return "c-" + hashlib.sha256(clinic.encode("utf-8")).hexdigest()[:16]


def payer_index_filename(payer: str) -> str:
    """``audit_packet_<payer>.html``: the payer type's index of its packets, one per clinic."""
    return f"{PACKET_PREFIX}{payer}.html"


def packet_filename(payer: str, clinic: str, page: int = 1) -> str:
    """``audit_packet_<payer>.<clinic>.html`` for the first page of a clinic's packet,
    ``audit_packet_<payer>.<clinic>.<page>.html`` for the next ones (the dots keep names unambiguous:
    payer types and clinic slugs never contain one)."""
    stem = f"{PACKET_PREFIX}{payer}.{clinic_slug(clinic)}"
    return f"{stem}.html" if page == 1 else f"{stem}.{page}.html"


def _clinic_files(folder: Path, clinics: Iterable[str]) -> list[Path]:
    """The packet pages of these clinics (every payer type) now in ``folder``."""
    slugs = "|".join(re.escape(clinic_slug(c)) for c in clinics)
    if not slugs:
        return []
    pattern = re.compile(rf"{re.escape(PACKET_PREFIX)}(?:{'|'.join(PAYER_TYPES)})\.(?:{slugs})(?:\.\d+)?\.html")
    return [p for p in folder.glob(f"{PACKET_PREFIX}*.html") if pattern.fullmatch(p.name)]


def _pages_nav(payer: str, clinic: str, page: int, pages: int, first: int, last: int, total: int) -> str:
    back = f"<a href='{escape(payer_index_filename(payer))}'>all clinics of this payer type</a>"
    if pages <= 1:
        return f"<div class=info>Back to {back}.</div>"
    links = " ".join(f"<b>{p}</b>" if p == page else f"<a href='{escape(packet_filename(payer, clinic, p))}'>{p}</a>"
                     for p in range(1, pages + 1))
    return (f"<div class=info>Page {page} of {pages}: episodes {first:,} to {last:,} of {total:,}, in reviewing "
            f"order. Pages: {links} · back to {back}.</div>")


def _page(title: str, lead: str, body: str, script: str = "") -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'><link rel=icon href='data:,'>"
        f"<title>{escape(title)}</title><style>{html.CSS}{PACKET_CSS}</style>"
        + (f"<script src='{html.PLOTLY_JS_PATH}'></script>" if script else "")
        + "</head><body><header><span class=brand>Manual-therapy outcomes · restricted</span></header>"
        f"<main><h1>{escape(title)}</h1><p class=lead>{lead}</p>{RESTRICTED_NOTE}{body}</main>"
        + (html.script(script) if script else "") + "</body></html>"
    )


def _summary_cards(totals: dict[str, int]) -> str:
    return html.cards([
        html.card("Flagged episodes", f"{totals['episodes']:,}", "; ".join(
            f"{TIER_LABELS[t].lower()} {totals[t]}" for t in TIERS if totals.get(t)) or "none"),
        html.card("Units at risk", f"{totals['units_at_risk']:,}", "denial for necessity or authorisation"),
        html.card("Excess units", f"{totals['units_over_time']:,}", "8-minute rule, each patient-day once"),
    ])


def render_packet(data: PacketData, settings: Settings) -> str:
    """One page of the audit packet of a payer type at a clinic as HTML (pure: the same data gives the same
    bytes)."""
    episodes = data.episodes
    totals = data.totals or packet_totals(episodes)
    label = payer_label(data.payer_type)
    first = int(episodes[0]["review_rank"]) if episodes else 0
    nav = _pages_nav(data.payer_type, data.clinic_id, data.page, data.pages, first, first + len(episodes) - 1,
                     totals["episodes"])
    rules = {f: escape(rule_in_words(f, settings)) for f in FLAG_BY_NAME}
    flags_by_episode: dict[str, list[Record]] = {}
    for f in data.flags:
        flags_by_episode.setdefault(f["episode_key"], []).append(f)
    timelines = {t["episode_key"]: t for t in data.timelines}
    sections = [_episode_section(ep, flags_by_episode.get(ep["episode_key"], []),
                                 timelines.get(ep["episode_key"], {}), settings, rules, i)
                for i, ep in enumerate(episodes)]
    body = (
        f"{_summary_cards(totals)}"
        "<h2>How to read it</h2><p class=explain>Every flag is a prompt to look at the record, not a finding. "
        "Episodes are ordered by the highest tier of their flags (billing, then medical necessity, documentation "
        "and review), then by units at risk, largest first. <b>Units at risk</b> are the units a payer could deny "
        "for necessity or authorisation (every unit of an episode without a referral or without an evaluation; "
        "otherwise the visits beyond the authorisation or past the recertification date, and the treatment visits "
        "after relief without re-evaluation), each visit counted once. <b>Excess units</b> are units billed beyond "
        "the 8-minute rule, counted once per patient and day. The relief level is "
        f"{escape(relief_in_words(settings))}.</p>"
        f"<h2>The rules behind the flags on this page</h2>{_rules_table({f['flag'] for f in data.flags}, rules)}"
        f"<h2>Flagged episodes</h2>{nav}{_contents(episodes)}{_pain_chart_base()}{''.join(sections)}{nav}"
    )
    clinic = clinic_label(data.clinic_id)
    title = f"Audit packet · {label} · {clinic}" + (f" · page {data.page} of {data.pages}" if data.pages > 1 else "")
    n = totals["episodes"]
    lead = (f"{n:,} flagged episode{'' if n == 1 else 's'} at {escape(clinic)} (<code>{escape(data.clinic_id)}"
            f"</code>) whose payer (at the first visit) is {escape(label)}.")
    return _page(title, lead, body, PACKET_SCRIPT)


def render_payer_index(payer: str, clinics: Sequence[Record], settings: Settings) -> str:
    """A payer type's index of its audit packets (pure): its totals, then one row per clinic (flagged
    episodes per tier, units at risk, excess units) linking to the clinic's packet, the clinics with the
    most units at risk first."""
    totals = {"episodes": sum(int(c["episodes"]) for c in clinics),
              "units_at_risk": sum(int(c["units_at_risk"]) for c in clinics),
              "units_over_time": sum(int(c["units_over_time"]) for c in clinics)}
    totals.update({t: sum(int(c[t]) for c in clinics) for t in TIERS})
    head = "".join(f"<th{' class=num' if i else ''}>{escape(h)}</th>" for i, h in enumerate(
        ("Clinic", "Flagged episodes", *(TIER_LABELS[t] for t in TIERS), "Units at risk", "Excess units", "Pages")))
    rows = []
    for c in clinics:
        clinic = str(c["clinic_id"])
        pages = max(1, -(-int(c["episodes"]) // PAGE_EPISODES))
        cells = [int(c["episodes"]), *(int(c[t]) for t in TIERS), int(c["units_at_risk"]),
                 int(c["units_over_time"]), pages]
        rows.append(f"<tr><td><a href='{escape(packet_filename(payer, clinic))}'>{escape(clinic_label(clinic))}</a> "
                    f"(<code>{escape(clinic)}</code>)</td>" + "".join(f"<td class=num>{v:,}</td>" for v in cells)
                    + "</tr>")
    label = payer_label(payer)
    body = (
        f"{_summary_cards(totals)}"
        "<h2>Packets by clinic</h2><p class=explain>A payer reviews one provider at a time: each clinic has its "
        "own packet, a section per flagged episode in reviewing order (highest tier of its flags, then units at "
        "risk, largest first), in pages of "
        f"{PAGE_EPISODES} episodes. The clinics with the most units at risk come first. The whole payer type's "
        f"episodes in one reviewing order are in the worklist <code>audit_worklists/"
        f"{escape(WORKLIST_PREFIX + payer)}.csv</code> beside this folder. The relief level is "
        f"{escape(relief_in_words(settings))}.</p>"
        "<div class=table-wrap><table class=data id=clinics><thead><tr>"
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    n = totals["episodes"]
    lead = (f"{n:,} flagged episode{'' if n == 1 else 's'} whose payer (at the first visit) is {escape(label)}, "
            f"at {len(clinics)} clinic{'' if len(clinics) == 1 else 's'}.")
    return _page(f"Audit packets · {label}", lead, body)


def write_audit_packets(
    con: duckdb.DuckDBPyConnection, folder: Path, settings: Settings, *, site: Path | None = None,
    clinics: Collection[str] | None = None,
) -> list[Path]:
    """Write the audit packets into ``folder``: per payer type with a flagged episode, an index
    (``audit_packet_<payer>.html``) and one packet per clinic (``audit_packet_<payer>.<clinic>.html``,
    beyond :data:`PAGE_EPISODES` episodes further pages ``audit_packet_<payer>.<clinic>.2.html``, ...;
    each page's episodes are read on their own, so memory stays bounded).

    ``clinics``: rewrite only these clinics' packets (a monthly export touches one clinic; every other
    clinic's packets stay as they are, byte for byte what a full rewrite would give) and every payer
    index; None rewrites everything and removes every earlier packet. ``folder`` is in the restricted
    area; given the public ``site`` folder, one in or around it is refused. Plotly's script is copied to
    ``folder/assets/``. Needs the audit marts and ``staging.sessions``. Returns the pages written.
    """
    folder = check_restricted(folder, site)
    folder.mkdir(parents=True, exist_ok=True)
    stale = folder.glob(f"{PACKET_PREFIX}*.html") if clinics is None else [
        *_clinic_files(folder, clinics), *(folder / payer_index_filename(p) for p in PAYER_TYPES)]
    for old in stale:
        old.unlink(missing_ok=True)
    written = []
    payers = flagged_payers(con)
    if payers:
        html.install_assets(folder)
    for data in packet_pages(con, clinics, PAGE_EPISODES):
        text = render_packet(data, settings)
        written.append(html.write_page(folder, packet_filename(data.payer_type, data.clinic_id, data.page), text))
    for payer in payers:
        text = render_payer_index(payer, payer_clinic_totals(con, payer), settings)
        written.append(html.write_page(folder, payer_index_filename(payer), text))
    return written
