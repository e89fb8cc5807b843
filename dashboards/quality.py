"""The data-quality page: what arrived, what was loaded, what was held back and why.

Reads ``ops.load_log`` (export, status, reason, row counts, time) and ``quarantine.rejected_rows``
aggregated in SQL to counts per export, file, column and rule -- never a row's values, row number
or session id. The row-level validation results name rows, so they stay in the restricted folder.

Quarantine counts are published unsuppressed, deliberately: they count *rows of a file* that broke
a format rule, not patients with a characteristic. A quarantined row says nothing clinical about
anyone (no value is shown), its rule names a column and a defect ("pain_pre out of range"), and the
row is by definition absent from every outcome figure, so the count cannot be combined with a
published cell to single a patient out. docs/dashboards.md gives the reasoning.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from dashboards import html
from dashboards.queries import load_history, load_status, quarantine_counts
from dashboards.theme import base_layout, fmt, is_missing
from transforms.config import Settings
from transforms.runs import RunRecord

STATUSES = ("loaded", "replaced", "unchanged", "rejected")
_QUOTED = re.compile(r"\"[^\"]*\"")


def public_reason(reason: object, limit: int = 400) -> str:
    """A load-log reason fit for publication: its first line, without double-quoted text, at most ``limit`` chars.

    The loader's reasons name files, columns and rules, never values; an error message of a parser
    could quote a line of the file, so quoted text and anything after "Original Line" are dropped.
    """
    if is_missing(reason):
        return ""
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
    text = re.split(r"(?i)original line", text)[0]
    text = _QUOTED.sub('"…"', text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(value: object) -> str:
    return "" if is_missing(value) else fmt(value, 0)


def status_cards(status: pd.DataFrame) -> str:
    """Exports by latest status, and the rows loaded and held back by the accepted versions."""
    counts = status["status"].value_counts().to_dict() if len(status) else {}
    accepted = status[status["status"].isin(["loaded", "replaced", "unchanged"])]
    items = [html.card(f"Exports {s}", f"{counts.get(s, 0):,}", "latest outcome of each export") for s in STATUSES]
    items.append(html.card("Rows loaded", fmt(accepted["rows_loaded"].dropna().sum(), 0) if len(accepted) else "0",
                           "by the latest accepted version of each export"))
    items.append(html.card("Rows quarantined", fmt(accepted["rows_quarantined"].dropna().sum(), 0) if len(accepted)
                           else "0", "held back by a row rule (counts of rows, not patients)"))
    return html.cards(items)


def status_table(status: pd.DataFrame) -> str:
    """Latest outcome of every export with its counts and reason."""
    rows = [[r.export, r.status, _count(r.rows_in), _count(r.rows_loaded), _count(r.rows_quarantined),
             public_reason(r.reason)] for r in status.itertuples()]
    return html.table(rows, ["Export", "Status", "Rows in", "Loaded", "Quarantined", "Reason"], numeric=(2, 3, 4),
                      row_classes=[f"status-row-{r.status}" for r in status.itertuples()], table_id="exports")


def quarantine_figure(counts: pd.DataFrame) -> go.Figure | None:
    """Quarantined rows per rule (rows) and export (columns) as an annotated heatmap; None when there are none."""
    if counts.empty:
        return None
    counts = counts.assign(rule_name=counts["file"] + " · " + counts["column_name"].fillna("(row)") + " · "
                           + counts["rule"])
    rules = sorted(counts["rule_name"].unique())
    exports = sorted(counts["export"].unique())
    grid = counts.pivot_table(index="rule_name", columns="export", values="n_rows", aggfunc="sum").reindex(
        index=rules, columns=exports)
    z = [[None if is_missing(v) else float(v) for v in row] for row in grid.to_numpy()]
    text = [["" if v is None else f"{int(v):,}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=exports, y=rules, text=text, texttemplate="%{text}", colorscale=[[0, "#fde9d9"], [1, "#c0392b"]],
        xgap=2, ygap=2, colorbar={"title": {"text": "rows"}},
        hovertemplate="<b>%{y}</b><br>%{x}: %{z:,} rows held back<extra></extra>",
    ))
    fig = base_layout(fig, "Quarantined rows by rule and export", height=max(300, 34 * len(rules) + 190),
                      subtitle="rows held back from the warehouse; counts only, never the values")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-35)
    fig.update_layout(margin={"l": 320, "b": 130})
    return fig


def build_quality_page(
    con: duckdb.DuckDBPyConnection, site: Path, settings: Settings, run: RunRecord | None = None
) -> Path:
    """Write ``quality.html`` from ``ops.load_log`` and ``quarantine.rejected_rows`` (counts only)."""
    status = load_status(con)
    rejected = status[status["status"] == "rejected"]
    counts = quarantine_counts(con)
    history = load_history(con)
    by_rule = counts.groupby(["file", "column_name", "rule"], dropna=False, as_index=False)["n_rows"].sum() \
        if len(counts) else counts
    body = [
        status_cards(status),
        html.section(
            "Exports",
            "The latest outcome of every export folder the pipeline has seen. An export is rejected whole when it "
            "cannot be read, has a direct-identifier column, or too many of its rows break a rule; otherwise broken "
            "rows are quarantined and the rest is loaded.",
            html.panel(status_table(status)) if len(status) else html.message("No export has been loaded yet."),
        ),
        html.section(
            "Rejected exports",
            "Exports refused as a whole, with the reason the clinic needs to fix and resend them.",
            html.panel(html.table([[r.export, public_reason(r.reason), f"{pd.Timestamp(r.loaded_at):%Y-%m-%d %H:%M}"]
                                   for r in rejected.itertuples()], ["Export", "Why it was rejected", "When"],
                                  table_id="rejected"))
            if len(rejected) else html.message("No export is currently rejected."),
        ),
        html.section(
            "Quarantined rows",
            "Rows held back by a row rule, per rule and export. These are counts of file rows, not of patients, "
            "and no value is shown.",
            html.panel(html.chart(quarantine_figure(counts), "quarantine", "No row has been quarantined."),
                       html.table([[f"{r.file}.{r.column_name or '(row)'}", r.rule, fmt(r.n_rows, 0)]
                                   for r in by_rule.itertuples()], ["File and column", "Rule", "Rows (all exports)"],
                                  numeric=(2,), table_id="rules") if len(by_rule) else ""),
        ),
        "<div class=info><b>Row-level validation results are restricted.</b> The Great Expectations results that "
        "list the failing rows (session ids, row numbers, offending values) are written to the restricted folder "
        "(by default <code>build/restricted/validation/&lt;export&gt;/index.html</code>, with Great Expectations' "
        "own JSON results in <code>build/restricted/validation/_great_expectations/</code>). They name rows, so "
        "they are never published here; ask the data manager.</div>",
        html.section(
            "Load log",
            "Every load attempt, most recent first.",
            "<details><summary>Show the load log</summary>" + html.panel(html.table(
                [[f"{pd.Timestamp(r.loaded_at):%Y-%m-%d %H:%M}", r.export, r.status, _count(r.rows_in),
                  _count(r.rows_loaded), _count(r.rows_quarantined), public_reason(r.reason)]
                 for r in history.itertuples()],
                ["Time", "Export", "Status", "Rows in", "Loaded", "Quarantined", "Reason"], numeric=(3, 4, 5),
                table_id="load-log")) + "</details>" if len(history) else html.message("The load log is empty."),
        ),
    ]
    return html.write_page(site, "quality.html", html.page(
        "quality.html", "Data quality", "What arrived from each clinic, what was loaded, what was held back and why.",
        "".join(body), run=run,
    ))

