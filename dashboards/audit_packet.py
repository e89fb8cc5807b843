"""The audit packet: one offline HTML page per payer type, a section per flagged episode (restricted only).

A payer's reviewer reads one episode at a time and must find the evidence of every flag on the page:
each section shows the episode's facts, every flag with its rule in plain words (thresholds from the
run's settings) and its detail, the visit timeline (date, visit type, CPT code, units, minutes, pain
before and after, function score, goals, referral, authorised visits) with the evidence rows
highlighted, and a small chart of the episode's pain. Episodes come in the order a reviewer works:
by the highest tier of their flags (billing, necessity, documentation, review), then by units at
risk, largest first.

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

import math
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from dashboards import html
from dashboards.theme import ACCENT, MUTED, WARN, base_layout, clinic_label, condition_label, is_missing
from transforms.audit import (
    FLAG_BY_NAME,
    TIER_LABELS,
    TIERS,
    PacketData,
    check_restricted,
    flagged_payers,
    packet_data,
    relief_in_words,
    rule_in_words,
)
from transforms.config import Settings

PACKET_PREFIX = "audit_packet_"
PACKET_FOLDER = "audit_packets"
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
  function draw(spec) {
    var div = document.getElementById(spec.getAttribute('data-plot-for'));
    if (!div || div.classList.contains('js-plotly-plot')) { return; }
    var fig = JSON.parse(spec.textContent);
    window.Plotly.newPlot(div, fig.data, fig.layout, fig.config);
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


def _num(value: object) -> str:
    if is_missing(value):
        return ""
    v = float(value)  # type: ignore[arg-type]
    return f"{v:g}"


def _list(value: object) -> list[int]:
    """A DuckDB list (numpy array, list or None) as a list of ints."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [int(v) for v in value]  # type: ignore[union-attr]


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


def pain_figure(visits: pd.DataFrame, baseline: object, relief_session: object, settings: Settings) -> go.Figure | None:
    """The episode's pain before and after each visit (0-10), with the relief level and the relief visit."""
    scored = visits[visits["pain_pre"].notna() | visits["pain_post"].notna()]
    if scored.empty:
        return None
    fig = go.Figure()
    pre = visits[visits["pain_pre"].notna()]
    post = visits[visits["pain_post"].notna()]
    fig.add_trace(go.Scatter(x=pre["session_number"].astype(int).tolist(), y=pre["pain_pre"].astype(float).tolist(),
                             mode="lines+markers", name="before treatment", line={"color": ACCENT, "width": 2},
                             hovertemplate="visit %{x}: %{y} before treatment<extra></extra>"))
    fig.add_trace(go.Scatter(x=post["session_number"].astype(int).tolist(),
                             y=post["pain_post"].astype(float).tolist(), mode="markers", name="after treatment",
                             marker={"color": MUTED, "symbol": "circle-open", "size": 8},
                             hovertemplate="visit %{x}: %{y} after treatment<extra></extra>"))
    if not is_missing(baseline):
        b = float(baseline)  # type: ignore[arg-type]
        level = min(b - float(settings.relief_min_points), float(settings.relief_max_fraction) * b)
        if level >= 0:
            fig.add_hline(y=level, line={"color": "#5b8c3a", "dash": "dash", "width": 1},
                          annotation_text=f"relief level {level:g}", annotation_position="top right",
                          annotation_font={"size": 10, "color": "#5b8c3a"})
    if not is_missing(relief_session):
        fig.add_vline(x=int(relief_session), line={"color": WARN, "dash": "dot", "width": 1},  # type: ignore[arg-type]
                      annotation_text="relief", annotation_position="top left",
                      annotation_font={"size": 10, "color": WARN})
    fig = base_layout(fig, "Pain (0–10)", height=250)
    fig.update_layout(margin={"l": 44, "r": 14, "t": 40, "b": 40}, showlegend=True,
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.28, "yanchor": "top"})
    fig.update_xaxes(title_text="visit", dtick=1 if len(visits) <= 16 else None,
                     range=[0.5, max(float(visits["session_number"].max()), 2.0) + 0.5])
    fig.update_yaxes(range=[-0.3, 10.3], dtick=2)
    return fig


def _bool(value: object) -> str:
    if is_missing(value):
        return ""
    return "yes" if bool(value) else "no"


def _timeline(visits: pd.DataFrame, cites: dict[int, list[str]], at_risk: set[int]) -> str:
    headers = ("Visit", "Session", "Date", "Visit type", "CPT", "Units", "Minutes", "Pain before", "Pain after",
               "Function", "Goals", "Referral", "Authorised (recorded / in force)", "Flags citing this visit")
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for v in visits.itertuples(index=False):
        n = int(v.session_number)
        function = "" if is_missing(v.function_score) else f"{v.function_instrument or ''} {_num(v.function_score)}"
        recorded = _num(v.authorized_visits)
        in_force = _num(v.authorised_in_force)
        authorised = f"{recorded or '–'} / {in_force or '–'}" if recorded or in_force else ""
        cells = [str(n), v.session_id, str(v.session_date)[:10], v.visit_type, v.cpt_code, _num(v.units),
                 _num(v.duration_min), _num(v.pain_pre), _num(v.pain_post), function.strip(),
                 _bool(v.goals_documented), v.referral_source or "", authorised]
        classes = [c for c, on in (("evidence", n in cites), ("at-risk", n in at_risk)) if on]
        cls = f" class='{' '.join(classes)}'" if classes else ""
        tds = "".join(f"<td>{escape(str(c))}</td>" for c in cells)
        cited = ", ".join(cites.get(n, [])) + (" · units at risk" if n in at_risk else "")
        body.append(f"<tr{cls} data-visit='{n}'>{tds}<td class=cites>{escape(cited)}</td></tr>")
    return (f"<div class=table-wrap><table class='data timeline'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _flag_items(flags: pd.DataFrame, settings: Settings) -> str:
    items = []
    for flag, rows in flags.groupby("flag", sort=False):
        info = FLAG_BY_NAME[str(flag)]
        evidence = sorted({n for e in rows["evidence_sessions"] for n in _list(e)})
        risk = sorted({n for e in rows["risk_sessions"] for n in _list(e)})
        details = [str(d) for d in rows["detail"]]
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
            f"<div class=rule>Rule: {escape(rule_in_words(info.name, settings))} Source: {escape(info.source)}.</div>"
            f"{shown}<div class=evidence>{escape('; '.join(notes))}</div></li>"
        )
    return f"<ul class=flags>{''.join(items)}</ul>"


def _episode_section(ep: pd.Series, flags: pd.DataFrame, visits: pd.DataFrame, settings: Settings,
                     index: int) -> str:
    key = str(ep["episode_key"])
    cites: dict[int, list[str]] = {}
    for flag, evidence in zip(flags["flag"], flags["evidence_sessions"], strict=True):
        for n in _list(evidence):
            if str(flag) not in cites.setdefault(n, []):
                cites[n].append(str(flag))
    at_risk = {n for e in flags["risk_sessions"] for n in _list(e)}
    relief = ("" if is_missing(ep["relief_session"]) else f"; relief first seen at visit {int(ep['relief_session'])}")
    baseline = "none recorded" if is_missing(ep["baseline_pain"]) else _num(ep["baseline_pain"])
    facts = (
        f"{escape(clinic_label(str(ep['clinic_id'])))} (<code>{escape(str(ep['clinic_id']))}</code>) · "
        f"{escape(condition_label(str(ep['condition_group'])))} · {escape(payer_label(str(ep['payer_type'])))} · "
        f"{escape(str(ep['first_date'])[:10])} to {escape(str(ep['last_date'])[:10])} · "
        f"<b>{int(ep['n_sessions'])}</b> visits, <b>{int(ep['units_billed'])}</b> units billed · "
        f"{escape(STATUS_LABELS.get(str(ep['status']), str(ep['status'])))}<br>"
        f"Units at risk: <b>{int(ep['units_at_risk'])}</b> · excess units under the 8-minute rule: "
        f"<b>{int(ep['units_over_time'])}</b> · baseline pain {escape(baseline)}{escape(relief)}"
    )
    fig = pain_figure(visits, ep["baseline_pain"], ep["relief_session"], settings)
    chart = html.chart(fig, f"pain-{index}", "No pain score recorded in this episode.", lazy=True)
    legend = ("<div class=legend-row>Highlighted rows: <span class=box style='background:#fff4e0'></span>cited "
              "as evidence by a flag; <span class=box style='box-shadow:inset 4px 0 0 #b00020'></span>units at risk "
              "(a payer could deny them for necessity or authorisation).</div>")
    return (
        f"<section class=episode id='{escape(key)}'><h2>{escape(key)} {tier_badge(str(ep['top_tier']))}</h2>"
        f"<p class=facts>{facts}</p>"
        f"<div class=episode-grid><div>{_flag_items(flags, settings)}</div><div>{chart}</div></div>"
        f"{legend}{_timeline(visits, cites, at_risk)}</section>"
    )


def _contents(episodes: pd.DataFrame) -> str:
    rows = []
    for ep in episodes.itertuples(index=False):
        flags = ", ".join(str(f) for f in _list_str(ep.flags))
        rows.append(
            f"<tr><td><a href='#{escape(str(ep.episode_key))}'><code>{escape(str(ep.episode_key))}</code></a></td>"
            f"<td>{escape(str(ep.clinic_id))}</td><td>{tier_badge(str(ep.top_tier))}</td><td>{escape(flags)}</td>"
            f"<td class=num>{int(ep.units_at_risk)}</td><td class=num>{int(ep.units_over_time)}</td></tr>"
        )
    head = "".join(f"<th{' class=num' if i >= 4 else ''}>{h}</th>" for i, h in enumerate(
        ("Episode", "Clinic", "Highest tier", "Flags", "Units at risk", "Excess units")))
    return (f"<div class=table-wrap><table class=data id=contents><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _list_str(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [str(v) for v in value]  # type: ignore[union-attr]


def _rules_table(flags_present: Iterable[str], settings: Settings) -> str:
    present = set(flags_present)
    rows = []
    for tier in TIERS:
        for info in (f for f in FLAG_BY_NAME.values() if f.tier == tier and f.name in present):
            rows.append(f"<tr><td><b>{escape(info.name)}</b></td><td>{tier_badge(tier)}</td>"
                        f"<td>{escape(rule_in_words(info.name, settings))}</td><td>{escape(info.source)}</td></tr>")
    return ("<div class=table-wrap><table class=data><thead><tr><th>Flag</th><th>Tier</th><th>Raised when</th>"
            f"<th>Source</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def render_packet(data: PacketData, settings: Settings) -> str:
    """The whole HTML page of one payer type's audit packet (pure: the same data gives the same bytes)."""
    episodes = data.episodes
    label = payer_label(data.payer_type)
    by_tier = {t: int((episodes["top_tier"] == t).sum()) for t in TIERS}
    summary = html.cards([
        html.card("Flagged episodes", f"{len(episodes):,}", "; ".join(
            f"{TIER_LABELS[t].lower()} {n}" for t, n in by_tier.items() if n) or "none"),
        html.card("Units at risk", f"{int(episodes['units_at_risk'].sum()):,}" if len(episodes) else "0",
                  "denial for necessity or authorisation"),
        html.card("Excess units", f"{int(episodes['units_over_time'].sum()):,}" if len(episodes) else "0",
                  "8-minute rule, each patient-day once"),
    ])
    sections = []
    flags_by_episode = {k: g for k, g in data.flags.groupby("episode_key", sort=False)}
    visits_by_episode = {k: g for k, g in data.visits.groupby("episode_key", sort=False)}
    for i, ep in enumerate(episodes.itertuples(index=False)):
        key = ep.episode_key
        sections.append(_episode_section(pd.Series(ep._asdict()), flags_by_episode.get(key, data.flags.iloc[0:0]),
                                         visits_by_episode.get(key, data.visits.iloc[0:0]), settings, i))
    body = (
        "<div class=restricted><b>Restricted.</b> This packet names episodes of care and their dates of service. "
        "It is for the payer's reviewer under the data-use agreement: never publish it or forward it. Its only "
        "identifiers are pseudonymous (episode key, session id, clinic id).</div>"
        f"{summary}"
        "<h2>How to read it</h2><p class=explain>Every flag is a prompt to look at the record, not a finding. "
        "Episodes are ordered by the highest tier of their flags (billing, then medical necessity, documentation "
        "and review), then by units at risk, largest first. <b>Units at risk</b> are the units a payer could deny "
        "for necessity or authorisation (every unit of an episode without a referral or without an evaluation; "
        "otherwise the visits beyond the authorisation or past the recertification date, and the treatment visits "
        "after relief without re-evaluation), each visit counted once. <b>Excess units</b> are units billed beyond "
        "the 8-minute rule, counted once per patient and day. The relief level is "
        f"{escape(relief_in_words(settings))}.</p>"
        f"<h2>The rules behind the flags in this packet</h2>{_rules_table(data.flags['flag'].unique(), settings)}"
        f"<h2>Flagged episodes</h2>{_contents(episodes)}{''.join(sections)}"
    )
    title = f"Audit packet · {label}"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'><link rel=icon href='data:,'>"
        f"<title>{escape(title)}</title><style>{html.CSS}{PACKET_CSS}</style>"
        f"<script src='{html.PLOTLY_JS_PATH}'></script></head><body>"
        f"<header><span class=brand>Manual-therapy outcomes · restricted</span></header>"
        f"<main><h1>{escape(title)}</h1><p class=lead>{len(episodes):,} flagged episode"
        f"{'' if len(episodes) == 1 else 's'} whose payer (at the first visit) is {escape(label)}.</p>{body}"
        f"</main>{html.script(PACKET_SCRIPT)}</body></html>"
    )


def write_audit_packets(
    con: duckdb.DuckDBPyConnection, folder: Path, settings: Settings, *, site: Path | None = None
) -> list[Path]:
    """Write ``audit_packet_<payer>.html`` for every payer type with a flagged episode into ``folder``.

    ``folder`` is in the restricted area; given the public ``site`` folder, one in or around it is
    refused. Plotly's script is copied to ``folder/assets/``; packets of an earlier run are replaced.
    Needs the audit marts and ``staging.sessions``. Returns the pages written.
    """
    folder = check_restricted(folder, site)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{PACKET_PREFIX}*.html"):
        old.unlink()
    written = []
    payers = flagged_payers(con)
    if payers:
        html.install_assets(folder)
    for payer in payers:
        page = render_packet(packet_data(con, payer), settings)
        written.append(html.write_page(folder, f"{PACKET_PREFIX}{payer}.html", page))
    return written
