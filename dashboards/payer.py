"""The payer's page: is each course of care documented and billed as the minutes support?

Audit flags by reason, payer type and clinic; documentation completeness per payer type; timed
units billed against the units the documented minutes support (CMS 8-minute rule); the
distribution of visits per episode; and where the audit worklist is (not on the site).

Reads ``marts.audit_summary`` (summed per payer type in SQL), ``marts.audit_flags`` joined to
``marts.episode_outcomes`` (counted per flag, clinic and payer type in SQL), and
``marts.episode_outcomes`` (visits per episode binned in SQL; distinct patients per cell).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from dashboards import html
from dashboards.definitions import anchor
from dashboards.publication import EpisodeCells
from dashboards.queries import (
    ANY_FLAG,
    episode_support,
    flag_cells,
    payer_summary,
    visits_per_episode,
)
from dashboards.suppression import ALL, suppress_frame
from dashboards.theme import ACCENT, ACCENT_LIGHT, MUTED, WARN, base_layout, clinic_label, fmt, is_missing
from transforms.config import Settings
from transforms.contract import INSURED_PAYERS, PAYER_TYPES
from transforms.runs import RunRecord

FLAGS: dict[str, str] = {
    "UNITS_OVER_TIME": "Units over time (8-minute rule)",
    "MISSING_PAIN": "Pain score missing",
    "NO_REFERRAL": "No referral",
    "NO_EVALUATION": "No evaluation at visit 1",
    "NO_GOALS": "No goals documented",
    "NO_PROGRESS_NOTE": "No progress note in 10 visits",
    "PLATEAU": "Plateau (prompt for review)",
}
SESSION_FLAGS = ("UNITS_OVER_TIME", "MISSING_PAIN")
DOCUMENTATION: dict[str, str] = {
    "NO_REFERRAL": "referral on file",
    "NO_EVALUATION": "evaluation at the first visit",
    "NO_GOALS": "goals documented",
    "NO_PROGRESS_NOTE": "progress notes on time",
}
DOC_COLOURS = ("#0b6e99", "#5fb3dd", "#5b8c3a", "#a67c00")
VISIT_EDGES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 20, 30)


PAYER_LABELS = {ALL: "All payers", "commercial": "Commercial", "medicare": "Medicare", "medicaid": "Medicaid",
                "workers_comp": "Workers' comp", "auto_pip": "Auto (PIP)", "fsa_hsa": "FSA / HSA",
                "self_pay": "Self-pay"}


def payer_label(payer: str) -> str:
    """Readable payer type (``workers_comp`` -> ``Workers' comp``); ``all`` -> ``All payers``."""
    return PAYER_LABELS.get(payer, payer.replace("_", " ").capitalize())


def visit_bin_labels(edges: tuple[int, ...] = VISIT_EDGES) -> list[str]:
    """Labels of the visit bins of :func:`dashboards.queries.visits_per_episode` (``1``, ..., ``13–15``, ``31+``)."""
    labels, low = [], 1
    for edge in edges:
        labels.append(str(edge) if edge == low else f"{low}–{edge}")
        low = edge + 1
    labels.append(f"{low}+")
    return labels


def _payers(values: list[str]) -> list[str]:
    known = {p: i for i, p in enumerate(PAYER_TYPES)}
    return sorted(values, key=lambda p: (p == ALL, known.get(p, len(known)), p))


def publish_flags(cells: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Flag counts ready to publish: a cell rests on its distinct flagged patients; the clinics and payer
    types of a flag add up to the flag's total, so each is a line for complementary suppression."""
    out = cells.copy()
    hidden = suppress_frame(out, ["flag", "clinic_id", "payer_type"], "patients", threshold)
    out["hidden"] = hidden
    for column in ("n_flags", "n_episodes", "patients"):
        out[column] = out[column].astype(object).where(~hidden, None)
    return out


def publish_visits(visits: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Visits-per-episode cells ready to publish (bins of a payer type add up to its total, and so on)."""
    out = visits.copy()
    out["bin_key"] = out["bin"].map(lambda b: ALL if int(b) < 0 else f"{int(b):03d}")
    hidden = suppress_frame(out, ["payer_type", "bin_key"], "patients", threshold)
    out["hidden"] = hidden
    for column in ("n_episodes", "patients"):
        out[column] = out[column].astype(object).where(~hidden, None)
    return out


def _flag_value(flags: pd.DataFrame, flag: str, clinic: str, payer: str, column: str) -> tuple[bool, float]:
    """(shown, value) of a flag cell; a cell with no row is a published zero."""
    row = flags[(flags["flag"] == flag) & (flags["clinic_id"] == clinic) & (flags["payer_type"] == payer)]
    if row.empty:
        return True, 0.0
    if bool(row["hidden"].iloc[0]):
        return False, float("nan")
    return True, float(row[column].iloc[0])


def headline_cards(summary: pd.DataFrame, visits: pd.DataFrame, flags: pd.DataFrame, threshold: int) -> str:
    """Episodes, flagged episodes, sessions and units for all payers."""
    total = summary[summary["payer_type"] == ALL]
    cell = visits[(visits["payer_type"] == ALL) & (visits["bin"] < 0)]
    if total.empty or cell.empty or is_missing(total["n_episodes"].iloc[0]) or not total["n_episodes"].iloc[0]:
        return html.message("No episodes of care yet.")
    shown = not bool(cell["hidden"].iloc[0])
    t = total.iloc[0]
    flag_shown, flagged = _flag_value(flags, ANY_FLAG, ALL, ALL, "n_episodes")
    over_shown, _ = _flag_value(flags, "UNITS_OVER_TIME", ALL, ALL, "n_episodes")
    items = [
        html.card("Episodes of care", fmt(t["n_episodes"], 0) if shown else None, "all payers", threshold),
        html.card("Episodes with at least one flag",
                  fmt(flagged / float(t["n_episodes"]), 0, True) if shown and flag_shown and t["n_episodes"] else None,
                  f"{fmt(flagged, 0)} episodes" if shown and flag_shown else "", threshold),
        html.card("Sessions", fmt(t["n_sessions"], 0) if shown else None, "visits billed", threshold),
        html.card("Timed units billed", fmt(t["units_billed_timed"], 0) if shown else None,
                  "CPT 97110, 97112, 97124, 97140, 97530", threshold),
        html.card("Units the minutes support", fmt(t["units_supported"], 0) if shown else None,
                  "(minutes + 7) ÷ 15 per timed session", threshold),
        html.card("Units beyond the minutes", fmt(t["units_over_time"], 0) if shown and over_shown else None,
                  "billed above the 8-minute rule", threshold),
    ]
    return html.cards(items)


def flags_figure(flags: pd.DataFrame) -> go.Figure | None:
    """Flagged episodes per reason (all clinics and payers); None when every reason is hidden or zero."""
    rows = flags[(flags["clinic_id"] == ALL) & (flags["payer_type"] == ALL) & flags["flag"].isin(list(FLAGS))
                 & ~flags["hidden"].astype(bool)]
    if rows.empty:
        return None
    rows = rows.set_index("flag").reindex([f for f in FLAGS if f in set(rows["flag"])]).reset_index()
    labels = [FLAGS[f] for f in rows["flag"]]
    fig = go.Figure(go.Bar(
        x=rows["n_episodes"].astype(float).tolist(), y=labels, orientation="h",
        marker_color=[WARN if f in SESSION_FLAGS else ACCENT for f in rows["flag"]],
        customdata=[[f, int(n), "sessions" if f in SESSION_FLAGS else "episodes"] for f, n in zip(
            rows["flag"], rows["n_flags"], strict=True)],
        hovertemplate=("<b>%{y}</b> (%{customdata[0]})<br>%{x:,} flagged episodes<br>%{customdata[1]:,} flags "
                       "(one per %{customdata[2]})<extra></extra>"),
    ))
    fig = base_layout(fig, "Flagged episodes by reason", height=360,
                      subtitle="episodes with the flag, all clinics and payers; orange: flags raised per session")
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1])
    fig.update_xaxes(title_text="flagged episodes", rangemode="tozero")
    fig.update_layout(margin={"l": 230})
    return fig


def flag_heatmap(flags: pd.DataFrame, by: str, denominators: dict[str, float | None], title: str,
                 order: list[str], label: dict[str, str]) -> go.Figure | None:
    """Flagged episodes per reason and clinic (or payer type), coloured by the share of that unit's episodes.

    ``denominators`` holds each unit's published episode count (None when hidden): the share is shown
    only when both the flag cell and the unit's count are published. None when nothing can be shown.
    """
    other = "payer_type" if by == "clinic_id" else "clinic_id"
    part = flags[(flags[other] == ALL) & (flags[by] != ALL) & flags["flag"].isin(list(FLAGS))]
    if part.empty or part["hidden"].astype(bool).all():
        return None
    reasons = [f for f in FLAGS if f in set(part["flag"])]
    units = [u for u in order if u in set(part[by])]
    z, text, custom = [], [], []
    for flag in reasons:
        z_row, t_row, c_row = [], [], []
        for unit in units:
            cell = part[(part["flag"] == flag) & (part[by] == unit)]
            denominator = denominators.get(unit)
            if cell.empty:
                z_row.append(0.0 if denominator else None)
                t_row.append("0")
                c_row.append(["0 episodes", "0%" if denominator else ""])
            elif bool(cell["hidden"].iloc[0]):
                z_row.append(None)
                t_row.append(html.SUPPRESSED_TEXT)
                c_row.append([html.SUPPRESSED_TEXT, ""])
            else:
                n = float(cell["n_episodes"].iloc[0])
                share = n / denominator if denominator else None
                z_row.append(share)
                t_row.append(f"{int(n):,}")
                c_row.append([f"{int(n):,} episodes", "" if share is None else f"{share:.0%} of its episodes"])
        z.append(z_row)
        text.append(t_row)
        custom.append(c_row)
    fig = go.Figure(go.Heatmap(
        z=z, x=[label[u] for u in units], y=[FLAGS[f] for f in reasons], text=text, texttemplate="%{text}",
        customdata=custom, colorscale=[[0, "#fff7ec"], [0.5, "#fdae6b"], [1, "#b35c00"]], zmin=0,
        colorbar={"title": {"text": "share of<br>episodes"}, "tickformat": ".0%"}, xgap=2, ygap=2,
        hovertemplate="<b>%{y}</b><br>%{x}: %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
    ))
    fig = base_layout(fig, title, height=max(320, 40 * len(reasons) + 150),
                      subtitle="number of flagged episodes; colour: share of the unit's episodes; blank: suppressed")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(margin={"l": 230})
    return fig


def documentation_figure(summary: pd.DataFrame, visits: pd.DataFrame, flags: pd.DataFrame) -> go.Figure | None:
    """Share of insured episodes with each documentation element and of sessions with both pain scores."""
    shown_payers = {str(p) for p, b, h in zip(visits["payer_type"], visits["bin"], visits["hidden"], strict=True)
                    if b < 0 and not h}
    payers = [p for p in _payers(summary["payer_type"].astype(str).tolist()) if p in shown_payers]
    if not payers:
        return None
    fig = go.Figure()
    any_point = False
    insured = [p for p in payers if p in INSURED_PAYERS]
    for (flag, label), colour in zip(DOCUMENTATION.items(), DOC_COLOURS, strict=True):
        xs, ys, custom = [], [], []
        for payer in insured:
            ok, n = _flag_value(flags, flag, ALL, payer, "n_episodes")
            episodes = float(summary.loc[summary["payer_type"] == payer, "n_episodes"].iloc[0])
            if ok and episodes:
                xs.append(payer_label(payer))
                ys.append(1 - n / episodes)
                custom.append([int(episodes - n), int(episodes)])
        if xs:
            any_point = True
            fig.add_trace(go.Bar(x=xs, y=ys, name=label, marker_color=colour, customdata=custom,
                                 hovertemplate=f"<b>%{{x}}</b>: {label}<br>%{{y:.0%}} of %{{customdata[1]:,}} episodes"
                                               "<extra></extra>"))
    xs, ys, custom = [], [], []
    for payer in [p for p in payers if p != ALL]:
        ok, n = _flag_value(flags, "MISSING_PAIN", ALL, payer, "n_flags")
        sessions = float(summary.loc[summary["payer_type"] == payer, "n_sessions"].iloc[0])
        if ok and sessions:
            xs.append(payer_label(payer))
            ys.append(1 - n / sessions)
            custom.append([int(sessions)])
    if xs:
        any_point = True
        fig.add_trace(go.Bar(x=xs, y=ys, name="pain scored before and after (sessions)", marker_color=MUTED,
                             customdata=custom, hovertemplate="<b>%{x}</b>: both pain scores recorded<br>%{y:.0%} of "
                                                              "%{customdata[0]:,} sessions<extra></extra>"))
    if not any_point:
        return None
    fig = base_layout(fig, "Documentation completeness by payer type", height=420,
                      subtitle="referral, evaluation, goals and progress notes: insured payers' episodes; pain "
                               "scores: every payer's sessions; a missing bar is suppressed")
    fig.update_xaxes(categoryorder="array", categoryarray=[payer_label(p) for p in payers if p != ALL])
    fig.update_layout(barmode="group", legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.18,
                                               "yanchor": "top"}, margin={"b": 110})
    fig.update_yaxes(title_text="documented", tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(title_text="payer type")
    return fig


def units_figure(summary: pd.DataFrame, visits: pd.DataFrame, flags: pd.DataFrame) -> go.Figure | None:
    """Timed units billed against the units the documented minutes support, per payer type."""
    shown_payers = {str(p) for p, b, h in zip(visits["payer_type"], visits["bin"], visits["hidden"], strict=True)
                    if b < 0 and not h and p != ALL}
    payers = [p for p in _payers(summary["payer_type"].astype(str).tolist()) if p in shown_payers]
    if not payers:
        return None
    rows = summary.set_index("payer_type").loc[payers]
    labels = [payer_label(p) for p in payers]
    over = [(lambda ok_v: ok_v[1] if ok_v[0] else None)(_flag_value(flags, "UNITS_OVER_TIME", ALL, p, "n_flags"))
            for p in payers]
    over_units = [None if o is None else float(u) for o, u in zip(over, rows["units_over_time"], strict=True)]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=rows["units_billed_timed"].astype(float).tolist(), name="timed units billed",
                         marker_color=ACCENT, hovertemplate="<b>%{x}</b><br>%{y:,} timed units billed<extra></extra>"))
    fig.add_trace(go.Bar(x=labels, y=rows["units_supported"].astype(float).tolist(), name="units the minutes support",
                         marker_color=ACCENT_LIGHT,
                         hovertemplate="<b>%{x}</b><br>%{y:,} units supported by the minutes<extra></extra>"))
    keep = [i for i, v in enumerate(over_units) if v is not None]
    fig.add_trace(go.Bar(x=[labels[i] for i in keep], y=[over_units[i] for i in keep], name="units beyond the minutes",
                         marker_color=WARN, text=[f"{over_units[i]:,.0f}" for i in keep], textposition="outside",
                         textfont={"color": WARN, "size": 11}, cliponaxis=False,
                         hovertemplate="<b>%{x}</b><br>%{y:,} units billed beyond the 8-minute rule<extra></extra>"))
    fig = base_layout(fig, "Timed units billed against the units the minutes support", height=420,
                      subtitle="CMS 8-minute rule: a timed session supports (minutes + 7) ÷ 15 units")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="units (timed CPT codes)", rangemode="tozero")
    fig.update_xaxes(title_text="payer type")
    return fig


def visits_figure(visits: pd.DataFrame) -> go.Figure | None:
    """Episodes by number of visits, with a dropdown per payer type; suppressed bins are left empty."""
    labels = visit_bin_labels()
    ordered = _payers([str(p) for p in visits["payer_type"].unique()])
    payers = [p for p in ordered if p == ALL] + [p for p in ordered if p != ALL]  # all payers first (default)
    fig = go.Figure()
    shown_payers = []
    for payer in payers:
        part = visits[(visits["payer_type"] == payer) & (visits["bin"] >= 0) & ~visits["hidden"].astype(bool)]
        if part.empty:
            continue
        shown_payers.append(payer)
        fig.add_trace(go.Bar(
            x=[labels[int(b)] for b in part["bin"]], y=part["n_episodes"].astype(float).tolist(),
            marker_color=ACCENT, name=payer_label(payer), visible=not shown_payers[:-1],
            customdata=[[payer_label(payer)]] * len(part),
            hovertemplate="<b>%{x} visits</b><br>%{y:,} episodes (%{customdata[0]})<extra></extra>",
        ))
    if not shown_payers:
        return None
    buttons = [{"label": payer_label(p), "method": "restyle",
                "args": [{"visible": [q == p for q in shown_payers]}]} for p in shown_payers]
    fig = base_layout(fig, "Visits per episode of care", height=400,
                      subtitle="episodes by number of visits; a missing bar is a suppressed bin")
    fig.update_layout(updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.0,
                                    "yanchor": "bottom", "bgcolor": "#ffffff", "bordercolor": "#c3ccd6"}],
                      margin={"t": 96}, showlegend=False)
    fig.update_xaxes(title_text="visits in the episode", type="category", categoryorder="array", categoryarray=labels)
    fig.update_yaxes(title_text="episodes", rangemode="tozero")
    return fig


def build_payer_page(
    con: duckdb.DuckDBPyConnection, site: Path, settings: Settings, run: RunRecord | None = None
) -> Path:
    """Write ``payer.html`` (see the module docstring for the tables it reads); returns its path."""
    k = settings.suppression_threshold
    summary = payer_summary(con)
    visits = publish_visits(visits_per_episode(con, VISIT_EDGES), k)
    flags = publish_flags(flag_cells(con), k)
    cells = EpisodeCells.build(episode_support(con), k)
    by_clinic = cells.support["counts"]
    clinics = sorted({key[0] for key in by_clinic if key[0] != ALL})
    clinic_episodes = {}
    clinic_n = con.execute(
        "SELECT clinic_id, count(*) FROM marts.episode_outcomes GROUP BY clinic_id ORDER BY clinic_id"
    ).fetchall()
    for clinic, n in clinic_n:
        hidden = cells.is_hidden("counts", (str(clinic), ALL, ALL, ALL))
        clinic_episodes[str(clinic)] = None if hidden else float(n)
    payer_episodes = {}
    for payer, b, h, n in zip(visits["payer_type"], visits["bin"], visits["hidden"], visits["n_episodes"], strict=True):
        if b < 0 and payer != ALL:
            payer_episodes[str(payer)] = None if h or is_missing(n) else float(n)
    payers = _payers([p for p in payer_episodes])
    hidden_reasons = [FLAGS[f] for f, c, p, h in zip(flags["flag"], flags["clinic_id"], flags["payer_type"],
                                                     flags["hidden"], strict=True)
                      if c == ALL and p == ALL and h and f in FLAGS]
    body = [
        headline_cards(summary, visits, flags, k),
        html.section(
            "Audit flags",
            f"Each flag is a prompt for a reviewer, not a finding (<a href='{anchor('audit')}'>definitions</a>). "
            "Session flags (units over time, missing pain) are raised per visit, the others once per episode; "
            "referral, evaluation, goals and progress notes are checked for insured payers only."
            + (f" <span class=sup>Suppressed:</span> {escape(', '.join(hidden_reasons))}."
               if hidden_reasons else ""),
            html.panel(html.chart(flags_figure(flags), "flags", "No flag count can be shown.",
                                  "Every flag rests on too few patients, or no flag was raised.")),
            html.panel(html.chart(flag_heatmap(flags, "payer_type", payer_episodes, "Flags by payer type", payers,
                                               {p: payer_label(p) for p in payers}),
                                  "flags-payer", "No flag count by payer type can be shown.")),
            html.panel(html.chart(flag_heatmap(flags, "clinic_id", clinic_episodes, "Flags by clinic", clinics,
                                               {c: clinic_label(c) for c in clinics}),
                                  "flags-clinic", "No flag count by clinic can be shown.")),
        ),
        html.section(
            "Documentation completeness",
            "Share of episodes whose record has each element a payer expects, and share of visits with pain scored "
            "before and after treatment.",
            html.panel(html.chart(documentation_figure(summary, visits, flags), "documentation",
                                  "No payer type has enough patients to publish.")),
        ),
        html.section(
            "Units billed and the minutes behind them",
            "Timed codes are billed in 15-minute units; the minutes documented for a visit support "
            "(minutes + 7) ÷ 15 units. Units beyond that are flagged per visit (UNITS_OVER_TIME).",
            html.panel(html.chart(units_figure(summary, visits, flags), "units",
                                  "No payer type has enough patients to publish.")),
        ),
        html.section(
            "Visits per episode",
            "How many visits a course of care takes, overall and per payer type (menu). Long courses without "
            "measurable gain are what the PLATEAU flag points at.",
            html.panel(html.chart(visits_figure(visits), "visits", "No visit count can be shown.",
                                  "Every bin rests on too few patients.")),
        ),
        html.section(
            "The audit worklist",
            "The list of flagged episodes is not published: it names episodes.",
            "<div class=note>The pipeline writes the audit worklist to the <b>restricted folder</b> (by default "
            "<code>build/restricted/audit_worklists/</code>), one CSV per payer type "
            "(<code>audit_worklist_&lt;payer_type&gt;.csv</code>, e.g. <code>audit_worklist_medicare.csv</code>). "
            "Each row is a flagged episode, named by its pseudonymous episode key, with its clinic, flags, first and "
            "last date, sessions, units billed and a plain-language detail of each flag. Ask the clinic's data "
            "manager for the file of your payer type; it is shared under your data-use agreement, never "
            "published.</div>",
        ),
    ]
    return html.write_page(site, "payer.html", html.page(
        "payer.html", "Payers",
        "Is each course of care documented, billed as the documented minutes support, and continued only while it "
        "helps?",
        "".join(body), threshold=k, run=run,
    ))
