"""The readiness check in words: the text `outcomes check` prints, and its offline page.

The page goes to the restricted folder (``<restricted>/readiness/index.html``, owner-only like
the rest of it): it names exports, row numbers and example values of held-back rows, so it is
never published. It needs nothing from the network.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from transforms.readiness import CheckReport, ExportCheck, Readiness, percent
from transforms.restricted import private_dir, write_private

READINESS_FOLDER = "readiness"


def _profile(check: ExportCheck) -> str:
    o = check.outcome
    if not o.profile:
        return "no profile: read as the contract"
    return f"profile {o.profile}, sha256 {(o.profile_checksum or '')[:12]}"


def _fate(check: ExportCheck) -> str:
    o = check.outcome
    if not check.would_load:
        return f"would be rejected: {o.reason}"
    rows_in, bad = o.rows_in or 0, o.rows_quarantined or 0
    if rows_in == 0:
        return "would load 0 rows: the sessions file has a header and no rows"
    text = f"would load {rows_in - bad} of {rows_in} rows"
    return text + (f"; {bad} would be quarantined" if bad else "")


def _counts(part: int, whole: int) -> str:
    return f"{percent(part, whole)} ({part} of {whole})" if whole else "-"


def check_lines(report: CheckReport, page: Path | None = None) -> list[str]:
    """The check as lines of text: per export what would happen, then the readiness table and its sentences."""
    lines = [f"checked the inbox {report.inbox}: {len(report.exports)} export(s); nothing was written to a warehouse", ""]
    for check in report.exports:
        lines.append(f"{check.outcome.export} ({_profile(check)})")
        lines.append(f"  {_fate(check)}")
        for rule in check.rules:
            examples = f", e.g. {'; '.join(rule.examples)}" if rule.examples else ""
            lines.append(f"    {rule.rule}: {rule.rows} row(s){examples}")
        lines += [f"  warning: {w}" for w in check.outcome.warnings]
    lines += [f"ignored: {e.name} ({e.reason})" for e in report.ignored]
    loading = sum(1 for c in report.exports if c.would_load)
    lines += [
        "",
        f"readiness: the {loading} export(s) that would load hold {report.visits} visits, {report.episodes} episodes "
        f"and {report.patients} patients (episodes as staging would form them from these exports alone)",
    ]
    if report.answers:
        width = max(len(a.spec.title) for a in report.answers)
        lines.append(f"  {'answer'.ljust(width)}  {'supported'.ljust(16)}  {'visits that carry it'.ljust(20)}  "
                     "episodes it rests on")
        for a in report.answers:
            lines.append(f"  {a.spec.title.ljust(width)}  {a.verdict.ljust(16)}  "
                         f"{_counts(a.visits_with, a.visits_total).ljust(20)}  {_counts(a.episodes_with, a.episodes_total)}")
        lines.append("")
        lines += [f"  - {a.sentence}" for a in report.answers]
        lines.append(f"  (an answer is published only where it rests on at least {report.threshold} patients)")
    if page is not None:
        lines.append(f"report: {page} (restricted: it names exports, rows and values)")
    return lines


def _esc(value: object) -> str:
    return escape("" if value is None else str(value))


def _answer_row(a: Readiness) -> str:
    verdict = {"yes": "ok", "too few patients": "warn"}.get(a.verdict, "fail")
    return (f"<tr><td>{_esc(a.spec.title)}</td><td class='{verdict}'>{_esc(a.verdict)}</td>"
            f"<td>{_esc(a.spec.visit_need)}</td><td class='n'>{_esc(_counts(a.visits_with, a.visits_total))}</td>"
            f"<td>{_esc(a.episode_need)}</td><td class='n'>{_esc(_counts(a.episodes_with, a.episodes_total))}</td>"
            f"<td class='n'>{a.patients_with}</td></tr>")


def render_page(report: CheckReport) -> str:
    """The check as an offline HTML page (inline style, no script)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Readiness of the inbox</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222;max-width:80em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;"
        "vertical-align:top}td.n{text-align:right;white-space:nowrap}.ok{color:#1b7f3b}.warn{color:#a05a00}"
        ".fail{color:#b00020}.note{background:#fff4e5;padding:.6em 1em;border-left:4px solid #e69500}</style>"
        "</head><body>",
        f"<h1>Readiness of the inbox <code>{_esc(report.inbox)}</code></h1>",
        f"<p>Checked {report.checked_at:%Y-%m-%d %H:%M}. Nothing was written to a warehouse: the exports were read, "
        "mapped and checked on a throwaway copy.</p>",
        "<p class='note'>Restricted: this page names exports, row numbers and example values of held-back rows. "
        "Keep it inside the clinic; it is never published.</p>",
        "<h2>Exports</h2><table><tr><th>export</th><th>mapping profile</th><th>what would happen</th>"
        "<th>rows held back, most frequent rules</th><th>warnings</th></tr>",
    ]
    for check in report.exports:
        rules = "<br>".join(f"<code>{_esc(r.rule)}</code>: {r.rows} row(s)"
                            + (f", e.g. {_esc('; '.join(r.examples))}" if r.examples else "") for r in check.rules)
        klass = "ok" if check.would_load and not check.rules else ("warn" if check.would_load else "fail")
        parts.append(f"<tr><td>{_esc(check.outcome.export)}</td><td>{_esc(_profile(check))}</td>"
                     f"<td class='{klass}'>{_esc(_fate(check))}</td><td>{rules}</td>"
                     f"<td>{'<br>'.join(_esc(w) for w in check.outcome.warnings)}</td></tr>")
    parts.append("</table>")
    if report.ignored:
        parts.append("<p>Skipped: " + "; ".join(f"{_esc(e.name)} ({_esc(e.reason)})" for e in report.ignored) + "</p>")
    loading = sum(1 for c in report.exports if c.would_load)
    parts += [
        "<h2>What the data can answer</h2>",
        f"<p>The {loading} export(s) that would load hold {report.visits} visits, {report.episodes} episodes and "
        f"{report.patients} patients. Episodes are those staging would form from these exports alone (a warehouse's "
        "earlier data is not read). An answer is published only where it rests on at least "
        f"{report.threshold} distinct patients; audit flags are judged on the episodes of the payer types they apply "
        "to.</p>",
        "<table><tr><th>answer</th><th>supported</th><th>a visit carries</th><th>visits</th>"
        "<th>an episode carries</th><th>episodes</th><th>patients</th></tr>",
        *[_answer_row(a) for a in report.answers],
        "</table><ul>",
        *[f"<li>{_esc(a.sentence)}</li>" for a in report.answers],
        "</ul></body></html>",
    ]
    return "\n".join(parts)


def write_page(report: CheckReport, restricted: Path) -> Path:
    """Write the page to ``<restricted>/readiness/index.html``, owner-only; returns its path."""
    private_dir(restricted)
    folder = private_dir(restricted / READINESS_FOLDER)
    return write_private(folder / "index.html", render_page(report))
