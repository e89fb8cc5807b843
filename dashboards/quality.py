"""The data-quality page: what is in the warehouse now, what was held back and why.

Reads the current state of every export (:func:`dashboards.queries.load_status`), the load log and
``quarantine.rejected_rows`` aggregated in SQL to counts per export, file, column and rule -- never
a row's values, row number or session id. Reasons are the public ones the loader writes (no count,
row or line number, value, path or parser text); the full reasons and the row-level validation
results stay in the restricted folder.

Counts follow the suppression of every other page (metrics.md section 9): an export's row counts
(rows in, loaded, quarantined, and its cells of the quarantine chart) rest on the distinct patients
of its sessions file, and are published only when that is at least the suppression threshold;
otherwise they read "fewer than N patients". Totals across exports (the cards, the per-rule column)
are lines for complementary suppression, so a hidden export's count cannot be recovered by
subtraction. An export whose patients are unknown (it could not be read) shows no counts.
"""

from __future__ import annotations

import math
import re
from html import escape
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from dashboards import downloads, html
from dashboards.queries import (
    broken_rows_by_clinic_month,
    load_history,
    load_status,
    quarantine_counts,
    rule_history,
    skipped_entries,
)
from dashboards.suppression import ALL, Line, is_small, suppress, suppress_frame
from dashboards.theme import base_layout, fmt, is_missing
from transforms.config import Settings
from transforms.runs import RunRecord

_QUOTED = re.compile(r"\"[^\"]*\"|'/[^']*'")
_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?(?:/[^\s/'\"]+){2,}")
_ROW = re.compile(r"(?i)\b(rows?|lines?|bytes?) [0-9]+(?:, ?[0-9]+)*")


def public_reason(reason: object, limit: int = 400) -> str:
    """A load-log reason fit for publication: its first line, at most ``limit`` characters.

    The loader already writes a public reason without counts, row or line numbers, values, paths or
    parser text; this is a second guard: quoted text, anything after "Original Line", file paths and
    row / line / byte numbers are dropped.
    """
    if is_missing(reason):
        return ""
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
    text = re.split(r"(?i)original line", text)[0]
    text = _QUOTED.sub('"…"', text)
    text = _PATH.sub("…", text)
    text = _ROW.sub(lambda m: f"{m.group(1)} …", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(value: object) -> str:
    return "" if is_missing(value) else fmt(value, 0)


def _support(value: object) -> float | None:
    """Distinct patients of an export, or None when unknown (it could not be read)."""
    if is_missing(value):
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


class ExportCells:
    """Which exports' row counts may be published (metrics.md section 9), and how a hidden one reads."""

    def __init__(self, status: pd.DataFrame, threshold: int) -> None:
        self.threshold = threshold
        support = {r.export: _support(r.patients_in) for r in status.itertuples()}
        self.unknown = {e for e, n in support.items() if n is None}
        self.small = {e for e, n in support.items() if n is not None and is_small(n, threshold)}
        sizes = {e: n or 0.0 for e, n in support.items()}
        loaded = tuple(sorted(r.export for r in status.itertuples() if r.status == "loaded"))
        sizes[ALL] = sum(sizes[e] for e in loaded)
        self.hidden = suppress(sizes, [Line(ALL, loaded)] if loaded else [], threshold, pre_hidden=self.unknown)
        self.support = sizes

    def shown(self, export: str) -> bool:
        """True when the export's counts may be published."""
        return export not in self.hidden

    def label(self, export: str) -> str:
        """How a hidden export's counts read."""
        if export in self.unknown:
            return "not published (patients unknown)"
        if export in self.small:
            return f"fewer than {self.threshold} patients"
        return "suppressed"

    def cell(self, export: str, value: object) -> str:
        """A count of the export, or the label saying why it is not shown."""
        return _count(value) if self.shown(export) else self.label(export)


def _status_text(status: str, newer_version_rejected: object) -> str:
    if status == "loaded" and newer_version_rejected is True:
        return "loaded (a newer version was rejected)"
    return status


def status_cards(status: pd.DataFrame, cells: ExportCells) -> str:
    """Exports loaded and rejected now, and the rows the warehouse holds (suppressed like every total)."""
    loaded = status[status["status"] == "loaded"]
    rejected = status[status["status"] == "rejected"]
    total_shown = cells.shown(ALL)
    rows_loaded = fmt(loaded["rows_loaded"].dropna().sum(), 0) if len(loaded) else "0"
    rows_held = fmt(loaded["rows_quarantined"].dropna().sum(), 0) if len(loaded) else "0"
    items = [
        html.card("Exports loaded", f"{len(loaded):,}", "exports whose data is in the warehouse now"),
        html.card("Exports rejected", f"{len(rejected):,}", "exports of which no version could be loaded"),
        html.card("Rows loaded", rows_loaded if total_shown else None, "rows of the exports in the warehouse; a session that a later export corrects "
                  "counts once in each",
                  threshold=cells.threshold),
        html.card("Rows quarantined", rows_held if total_shown else None,
                  "held back by a row rule (counts of rows, not patients)", threshold=cells.threshold),
    ]
    return html.cards(items)


def profile_text(profile: object, checksum: object) -> str:
    """The mapping profile an export was read with: its name and the first 12 characters of its sha256."""
    if is_missing(profile):
        return "none (the contract's format)"
    return f"{profile} ({str(checksum)[:12]})" if not is_missing(checksum) else str(profile)


def status_table(status: pd.DataFrame, cells: ExportCells) -> str:
    """Every export's current state with the counts of the version in force (or why they are not shown)."""
    rows = [[r.export, _status_text(r.status, bool(r.newer_version_rejected)), profile_text(r.profile, r.profile_checksum),
             cells.cell(r.export, r.rows_in), cells.cell(r.export, r.rows_loaded),
             cells.cell(r.export, r.rows_quarantined), public_reason(r.reason)] for r in status.itertuples()]
    return html.table(rows, ["Export", "Status", "Mapping profile", "Rows in", "Loaded", "Quarantined", "Reason"],
                      numeric=(3, 4, 5), row_classes=[f"status-row-{r.status}" for r in status.itertuples()],
                      table_id="exports")


def rule_cells(counts: pd.DataFrame, cells: ExportCells) -> pd.DataFrame:
    """Quarantined rows per rule and export plus a per-rule total (``export == 'all'``), with ``shown``.

    A cell rests on its export's patients; a hidden export's cells are hidden, and each rule's
    total over the exports is a line for complementary suppression.
    """
    if counts.empty:
        return pd.DataFrame(columns=["rule_name", "export", "n_rows", "patients", "shown"])
    frame = counts.assign(rule_name=counts["file"] + "." + counts["column_name"].fillna("(row)") + " · "
                          + counts["rule"])
    frame = frame.groupby(["rule_name", "export"], as_index=False)["n_rows"].sum()
    frame["patients"] = [cells.support.get(e, 0.0) for e in frame["export"]]
    totals = frame.groupby("rule_name", as_index=False).agg(n_rows=("n_rows", "sum"), patients=("patients", "sum"))
    totals["export"] = ALL
    frame = pd.concat([frame, totals], ignore_index=True)
    pre = [(r.rule_name, r.export) for r in frame.itertuples() if r.export != ALL and not cells.shown(r.export)]
    hidden = suppress_frame(frame, ["rule_name", "export"], "patients", cells.threshold, cascade=False, pre_hidden=pre)
    return frame.assign(shown=~hidden)


def quarantine_figure(cells_frame: pd.DataFrame) -> go.Figure | None:
    """Quarantined rows per rule (rows) and export (columns) as an annotated heatmap; None when there are none.

    Hidden cells are left blank (their value never reaches the figure).
    """
    frame = cells_frame[cells_frame["export"] != ALL] if len(cells_frame) else cells_frame
    if frame.empty:
        return None
    rules = sorted(frame["rule_name"].unique())
    exports = sorted(frame["export"].unique())
    values = {(r.rule_name, r.export): (float(r.n_rows) if r.shown else None) for r in frame.itertuples()}
    hidden = {(r.rule_name, r.export) for r in frame.itertuples() if not r.shown}
    z = [[values.get((rule, e)) for e in exports] for rule in rules]
    text = [["suppressed" if (rule, e) in hidden else ("" if values.get((rule, e)) is None else
             f"{int(values[(rule, e)]):,}") for e in exports] for rule in rules]
    fig = go.Figure(go.Heatmap(
        z=z, x=exports, y=rules, text=text, texttemplate="%{text}", colorscale=[[0, "#fde9d9"], [1, "#c0392b"]],
        xgap=2, ygap=2, colorbar={"title": {"text": "rows"}},
        hovertemplate="<b>%{y}</b><br>%{x}: %{text} rows held back<extra></extra>",
    ))
    fig = base_layout(fig, "Quarantined rows by rule and export", height=max(300, 34 * len(rules) + 190),
                      subtitle="rows held back from the warehouse; counts only, never the values; "
                               "exports of few patients are suppressed")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-35)
    fig.update_layout(margin={"l": 320, "b": 130})
    return fig


def _history_cells(history: pd.DataFrame, cells: ExportCells) -> list[list[str]]:
    rows = []
    for r in history.itertuples():
        n = _support(r.patients_in)
        hidden = (bool(r.current_version) and not cells.shown(r.export)) or n is None or is_small(n, cells.threshold)
        counts = [r.rows_in, r.rows_loaded, r.rows_quarantined]
        if r.status in ("ignored", "unchanged") or all(is_missing(v) for v in counts):
            shown = ["", "", ""]
        elif hidden:
            if bool(r.current_version) and not cells.shown(r.export):
                label = cells.label(r.export)
            else:
                label = "not published" if n is None else f"fewer than {cells.threshold} patients"
            shown = [label if not is_missing(v) else "" for v in counts]
        else:
            shown = [_count(v) for v in counts]
        rows.append([f"{pd.Timestamp(r.loaded_at):%Y-%m-%d %H:%M}", r.export, r.status, *shown, public_reason(r.reason)])
    return rows


def history_figure(history: pd.DataFrame, cells: ExportCells) -> go.Figure | None:
    """Rows failing each row rule after each run, over the exports whose counts are published; None when
    no rule ever failed. A run's point is the warehouse's state after it (not only what it loaded)."""
    shown = history[[cells.shown(e) for e in history["export"]]] if len(history) else history
    if shown.empty or not (shown["rows_failing"] > 0).any():
        return None
    rules = sorted(shown.loc[shown["rows_failing"] > 0, "rule"].unique())
    runs = shown[["run_order", "checked_at"]].drop_duplicates().sort_values("run_order")
    labels = [f"{pd.Timestamp(t):%Y-%m-%d %H:%M}" for t in runs["checked_at"]]
    totals = shown[shown["rule"].isin(rules)].groupby(["rule", "run_order"])["rows_failing"].sum()
    fig = go.Figure()
    for rule in rules:
        fig.add_trace(go.Scatter(
            x=labels, y=[float(totals.get((rule, n), 0)) for n in runs["run_order"]], mode="lines+markers",
            name=rule, hovertemplate=f"<b>{escape(rule)}</b><br>%{{x}}: %{{y:,}} rows failing<extra></extra>",
        ))
    fig = base_layout(fig, "Rows failing each rule, run by run", height=420,
                      subtitle="the warehouse's state after each run that checked exports; exports of few patients "
                               "are left out")
    fig.update_xaxes(type="category", title_text="run")
    fig.update_yaxes(title_text="rows failing", rangemode="tozero")
    fig.update_layout(legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.25, "yanchor": "top"},
                      margin={"b": 130})
    return fig


def changes_table(history: pd.DataFrame, cells: ExportCells) -> str:
    """Per rule, since the previous run: exports newly failing it, exports that no longer fail it, and
    exports still failing it (counts of exports), with the rows failing now (published exports only)."""
    if history.empty:
        return html.message("No export has been checked yet.")
    last = history[history["run_order"] == history["run_order"].max()]
    active = last[last["change"] != "passing"]
    if active.empty:
        return html.message("No rule fails in the exports in the warehouse, and none stopped failing in the latest run.")
    rows = []
    for rule, part in active.groupby("rule", sort=True):
        counts = part["change"].value_counts().to_dict()
        failing = part[[cells.shown(e) for e in part["export"]]]["rows_failing"].sum()
        rows.append([rule, str(counts.get("new", 0)), str(counts.get("resolved", 0)), str(counts.get("persisting", 0)),
                     fmt(failing, 0)])
    return html.table(rows, ["Rule", "Exports newly failing", "Exports resolved", "Exports still failing",
                             "Rows failing now"], numeric=(1, 2, 3, 4), table_id="rule-changes")


def broken_share_figure(frame: pd.DataFrame, threshold: int) -> go.Figure | None:
    """Share of broken session rows per clinic (rows) and month (columns); a clinic-month resting on fewer
    than ``threshold`` patients is suppressed (blank, labelled). None when there is nothing."""
    if frame.empty:
        return None
    clinics = sorted(frame["clinic_id"].astype(str).unique())
    months = sorted(frame["month"].astype(str).unique())
    cells = {(str(r.clinic_id), str(r.month)): r for r in frame.itertuples()}
    z, text = [], []
    for clinic in clinics:
        z_row, t_row = [], []
        for month in months:
            r = cells.get((clinic, month))
            total = 0 if r is None else int(r.rows_loaded) + int(r.rows_broken)
            if r is None or total == 0:
                z_row.append(None)
                t_row.append("")
            elif r.patients < threshold:
                z_row.append(None)
                t_row.append(f"fewer than {threshold} patients")
            else:
                share = r.rows_broken / total
                z_row.append(share)
                t_row.append(f"{share:.1%}")
        z.append(z_row)
        text.append(t_row)
    fig = go.Figure(go.Heatmap(
        z=z, x=[pd.Timestamp(m + "-01").strftime("%b %Y") for m in months], y=[f"Clinic {c}" for c in clinics],
        text=text, texttemplate="%{text}", colorscale=[[0, "#eef6fb"], [1, "#c0392b"]], zmin=0, xgap=2, ygap=2,
        colorbar={"title": {"text": "broken"}, "tickformat": ".0%"},
        hovertemplate="<b>%{y}</b>, %{x}: %{text} of the session rows broke a rule<extra></extra>",
    ))
    fig = base_layout(fig, "Share of broken session rows, per clinic and month", height=max(260, 46 * len(clinics) + 190),
                      subtitle="quarantined ÷ all session rows of the exports in the warehouse, by month of the session")
    fig.update_yaxes(autorange="reversed")
    return fig


def build_quality_page(
    con: duckdb.DuckDBPyConnection, site: Path, settings: Settings, run: RunRecord | None = None
) -> Path:
    """Write ``quality.html`` from the exports' current state, the load log and the quarantine (counts only)."""
    threshold = settings.suppression_threshold
    status = load_status(con)
    cells = ExportCells(status, threshold)
    refused = status[(status["status"] == "rejected") | status["newer_version_rejected"].fillna(False).astype(bool)]
    rules = rule_cells(quarantine_counts(con), cells)
    history = load_history(con)
    skipped = skipped_entries(con)
    by_rule = rules[rules["export"] == ALL] if len(rules) else rules
    restricted = escape(str(settings.restricted))
    checks = rule_history(con)
    broken = broken_rows_by_clinic_month(con)
    downloads.write_downloads(site, "quality.html", quality_downloads(
        status, cells, refused, rules, checks, broken, skipped, history), settings)
    body = [
        status_cards(status, cells),
        html.section(
            "Exports",
            "Every export folder the pipeline has seen and its state now: <b>loaded</b> (its data is in the "
            "warehouse) or <b>rejected</b> (no version of it could be loaded). An export is rejected whole when it "
            "cannot be read, has a direct-identifier column or value, or too many of its rows break a rule; "
            "otherwise broken rows are quarantined and the rest is loaded. The mapping profile is the file that "
            "turned a clinic system's own export into the contract (with the start of its checksum: a changed "
            "profile reloads the exports it applies to). Row counts are those of the version in "
            f"force, and are shown only for exports of at least {threshold} distinct patients.",
            html.panel(status_table(status, cells), downloads.link("quality-exports")) if len(status)
            else html.message("No export has been loaded yet."),
        ),
        html.section(
            "Rejected exports",
            "Exports refused as a whole, and corrections refused while the earlier version stays loaded, with the "
            "reason the clinic needs to fix and resend them.",
            html.panel(html.table(
                [[r.export, public_reason(r.rejected_reason if r.status == "loaded" else r.reason),
                  "earlier version stays loaded" if r.status == "loaded" else "not in the figures",
                  f"{pd.Timestamp(r.last_attempt_at):%Y-%m-%d %H:%M}"] for r in refused.itertuples()],
                ["Export", "Why it was rejected", "Effect", "When"], table_id="rejected"), downloads.link("quality-rejected"))
            if len(refused) else html.message("No export is currently rejected."),
        ),
        html.section(
            "Quarantined rows",
            "Rows held back by a row rule, per rule and export, for the exports in the warehouse. These are counts "
            "of file rows, not of patients, and no value is shown; an export of few patients is suppressed, and so "
            "is any count from which a suppressed one could be recovered.",
            html.panel(html.chart(quarantine_figure(rules), "quarantine", "No row has been quarantined."),
                       html.table([[r.rule_name.split(" · ")[0], r.rule_name.split(" · ")[1],
                                    fmt(r.n_rows, 0) if r.shown else None] for r in by_rule.itertuples()],
                                  ["File and column", "Rule", "Rows (all exports)"], threshold=threshold,
                                  numeric=(2,), table_id="rules") if len(by_rule) else "",
                       downloads.link("quality-quarantine")),
        ),
        html.section(
            "Quality over time",
            "Every run checks the exports it loads against every rule of the contract, and keeps the result. "
            "Below: the rows failing each rule in the warehouse after each run, what changed since the previous "
            "run (an export newly failing a rule, a rule an export no longer fails after a corrected version, a "
            "rule still failing), and, per clinic, the share of session rows that broke a rule by month.",
            html.panel(html.chart(history_figure(checks, cells), "rule-history", "No rule has failed yet."),
                       downloads.link("quality-rule-history"), "<h3>Since the previous run</h3>",
                       changes_table(checks, cells), downloads.link("quality-rule-changes")),
            html.panel(html.chart(broken_share_figure(broken, threshold), "broken-share",
                                  "No session row is in the warehouse yet."), downloads.link("quality-broken-rows")),
        ),
        "<div class=info><b>Row-level validation results are restricted.</b> The pages that list the failing rows "
        "of each export (row numbers, session ids, offending values) and the full reasons are in the restricted "
        f"folder, <code>{restricted}/validation/&lt;export&gt;/index.html</code>, with Great Expectations' own "
        f"results in <code>{restricted}/validation/_great_expectations/</code>. They name rows, so they are never "
        "published here; ask the data manager.</div>",
        html.section(
            "Skipped inbox entries",
            "Entries of the inbox that are not export folders, skipped by the latest run.",
            html.panel(html.table([[r.entry, public_reason(r.reason)] for r in skipped.itertuples()],
                                  ["Entry", "Why it was skipped"], table_id="skipped"), downloads.link("quality-skipped"))
            if len(skipped) else html.message("The latest run skipped nothing."),
        ),
        html.section(
            "Load log",
            "Every load attempt, most recent first.",
            "<details><summary>Show the load log</summary>" + html.panel(html.table(
                _history_cells(history, cells),
                ["Time", "Export", "Status", "Rows in", "Loaded", "Quarantined", "Reason"], numeric=(3, 4, 5),
                table_id="load-log"), downloads.link("quality-load-log")) + "</details>" if len(history)
            else html.message("The load log is empty."),
        ),
    ]
    return html.write_page(site, "quality.html", html.page(
        "quality.html", "Data quality", "What arrived from each clinic, what is loaded, what was held back and why.",
        "".join(body), threshold=threshold, run=run,
    ))


# --- downloads ------------------------------------------------------------------------------------------------


def _numbers(cells: list[str]) -> tuple[list[object], list[str]]:
    """Counts as written on the page back to numbers; a label in their place (why they are not shown) is kept
    apart as the reason: ``(values, reasons)``."""
    values: list[object] = []
    reasons: list[str] = []
    for text in cells:
        plain = text.replace(",", "")
        if plain.isdigit():
            values.append(int(plain))
        else:
            values.append(None)
            if text:
                reasons.append(text)
    return values, reasons


def quality_downloads(status: pd.DataFrame, cells: ExportCells, refused: pd.DataFrame, rules: pd.DataFrame,
                      checks: pd.DataFrame, broken: pd.DataFrame, skipped: pd.DataFrame,
                      history: pd.DataFrame) -> list[downloads.Download]:
    """The data-quality page's downloads, from the frames its tables and charts use (counts only; a hidden
    export's counts are empty, with the page's label as the reason)."""
    out = []
    counts = ["rows_in", "rows_loaded", "rows_quarantined"]
    records = []
    for r in status.itertuples():
        shown = cells.shown(r.export)
        records.append({"export": r.export, "status": _status_text(r.status, bool(r.newer_version_rejected)),
                        **{c: getattr(r, c) if shown else None for c in counts}, "reason": public_reason(r.reason),
                        "_label": "" if shown else cells.label(r.export)})
    frame = pd.DataFrame(records, columns=["export", "status", *counts, "reason", "_label"])
    out.append(downloads.download("quality-exports", frame.drop(columns="_label"), *(
        downloads.reason(label, frame["_label"] == label, counts) for label in sorted(set(frame["_label"]) - {""}))))
    frame = pd.DataFrame([{
        "export": r.export, "why_rejected": public_reason(r.rejected_reason if r.status == "loaded" else r.reason),
        "effect": "earlier version stays loaded" if r.status == "loaded" else "not in the figures",
        "attempted_at": f"{pd.Timestamp(r.last_attempt_at):%Y-%m-%d %H:%M}"} for r in refused.itertuples()],
        columns=["export", "why_rejected", "effect", "attempted_at"])
    out.append(downloads.download("quality-rejected", frame))
    frame = pd.DataFrame([{
        "file_and_column": r.rule_name.split(" · ")[0], "rule": r.rule_name.split(" · ")[1], "export": r.export,
        "n_rows": r.n_rows if r.shown else None, "_hidden": not r.shown} for r in rules.itertuples()],
        columns=["file_and_column", "rule", "export", "n_rows", "_hidden"])
    if len(frame):
        frame = frame.assign(_all=frame["export"] == ALL).sort_values(
            ["file_and_column", "rule", "_all", "export"]).drop(columns="_all").reset_index(drop=True)
    out.append(downloads.download("quality-quarantine", frame.drop(columns="_hidden"),
                                  downloads.suppressed(frame["_hidden"])))
    # rows failing each rule after each run: the points of the chart (published exports only)
    shown = checks[[cells.shown(e) for e in checks["export"]]] if len(checks) else checks
    records = []
    if len(shown) and (shown["rows_failing"] > 0).any():
        failing = sorted(shown.loc[shown["rows_failing"] > 0, "rule"].unique())
        runs = shown[["run_order", "checked_at"]].drop_duplicates().sort_values("run_order")
        totals = shown[shown["rule"].isin(failing)].groupby(["rule", "run_order"])["rows_failing"].sum()
        records = [{"run_at": f"{pd.Timestamp(t):%Y-%m-%d %H:%M}", "rule": rule,
                    "rows_failing": int(totals.get((rule, n), 0))}
                   for n, t in zip(runs["run_order"], runs["checked_at"], strict=True) for rule in failing]
    out.append(downloads.download("quality-rule-history", pd.DataFrame(records, columns=["run_at", "rule",
                                                                                         "rows_failing"])))
    records = []
    if len(checks):
        last = checks[checks["run_order"] == checks["run_order"].max()]
        for rule, part in last[last["change"] != "passing"].groupby("rule", sort=True):
            changes = part["change"].value_counts().to_dict()
            records.append({"rule": rule, "exports_newly_failing": changes.get("new", 0),
                            "exports_resolved": changes.get("resolved", 0),
                            "exports_still_failing": changes.get("persisting", 0),
                            "rows_failing_now": part[[cells.shown(e) for e in part["export"]]]["rows_failing"].sum()})
    out.append(downloads.download("quality-rule-changes", pd.DataFrame(records, columns=[
        "rule", "exports_newly_failing", "exports_resolved", "exports_still_failing", "rows_failing_now"])))
    # share of broken session rows per clinic and month (chart)
    records, small = [], []
    for r in broken.itertuples():
        total = int(r.rows_loaded) + int(r.rows_broken)
        hidden = total > 0 and r.patients < cells.threshold
        records.append({"clinic_id": str(r.clinic_id), "month": str(r.month),
                        "share_broken": None if hidden or total == 0 else r.rows_broken / total})
        small.append(hidden)
    frame = pd.DataFrame(records, columns=["clinic_id", "month", "share_broken"])
    out.append(downloads.download("quality-broken-rows", frame, downloads.reason(
        f"fewer than {cells.threshold} patients", small)))
    frame = pd.DataFrame([{"entry": r.entry, "reason": public_reason(r.reason)} for r in skipped.itertuples()],
                         columns=["entry", "reason"])
    out.append(downloads.download("quality-skipped", frame))
    # the load log, as its table shows it (a label in place of counts is the reason they are empty)
    records, reasons = [], []
    for row in _history_cells(history, cells):
        values, why = _numbers(row[3:6])
        records.append({"loaded_at": row[0], "export": row[1], "status": row[2], "rows_in": values[0],
                        "rows_loaded": values[1], "rows_quarantined": values[2], "reason": row[6]})
        reasons.append(why[0] if why else (downloads.NOT_APPLICABLE if all(v is None for v in values) else ""))
    frame = pd.DataFrame(records, columns=["loaded_at", "export", "status", *counts, "reason"])
    out.append(downloads.download("quality-load-log", frame, *(
        downloads.reason(label, [r == label for r in reasons], counts) for label in sorted(set(reasons) - {""}))))
    return out
