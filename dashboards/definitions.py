"""The definitions page: the project's own explanation of every published number.

``docs/metrics.md`` (written for users) is rendered with a deliberately small Markdown renderer
(headings with anchors, paragraphs, lists, tables, code, emphasis); links to other documents keep
their text only, so the page never points outside the site. When that file is not available (an
installed package without the docs) a concise built-in summary is published instead.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from dashboards import html

METRICS_DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
PAGE = "definitions.html"

FALLBACK = """# Definitions

## Episodes of care
Outcomes are counted per episode: one course of treatment of one patient for one condition at one
clinic. An episode takes its condition group, payer and therapist from its first visit. Patients
are distinct (clinic, patient) pairs.

## Pain
Pain is the 0–10 numeric rating scale, asked before and after each visit. Baseline = the
before-treatment score of the first visit; final = the before-treatment score of the last later
visit that has one. Sustained change = baseline − final (higher is better). A responder improved by
at least 2 points and 30% of baseline; a substantial responder by at least 50%.

## Sessions to relief
Relief is first seen at the first later visit whose before-treatment score is at least 2 points and
30% below a baseline of at least 3. Sessions to relief = the sessions delivered before it. Episodes
without relief are censored at their last scored visit; curves are Kaplan–Meier estimates with 95%
log(−log) bands, and the median is the first t at which the curve reaches 50%.

## Range of motion
Per joint, movement and side: the first and the last later before-treatment measurement; gain =
last − first, shown against the normal value of the movement.

## Function instruments
Improvement from the first to the last later score, in the instrument's better direction; a
responder improved by at least the instrument's minimal clinically important difference (MCID).

## Statistics
Means have 95% t-intervals, rates 95% Wilson intervals. Clinics and therapists are compared on
observed minus case-mix-expected sustained change, in a funnel plot with 95% and 99.8% limits.

## Payer audit flags
Eleven prompts for a reviewer in four tiers. Billing: UNITS_OVER_TIME (more timed units on a day than
the day's minutes support, CMS 8-minute rule) and OVER_AUTHORIZED. Necessity: NO_REFERRAL,
NO_EVALUATION, NO_RECERTIFICATION, CARE_AFTER_GOAL. Documentation: NO_GOALS, NO_PROGRESS_NOTE,
NO_BASELINE_MEASURE, NO_OUTCOME_MEASURE. Review: PLATEAU (a prompt for review, not a denial).

## Publishing
Every number resting on 1 to 10 distinct patients (threshold configurable) is suppressed, and so
is any number from which a suppressed one could be recovered by subtraction from a total.
"""

_INLINE_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_LIST = re.compile(r"^(\s*)([-*+]|\d+\.)\s+")


def slug(text: str) -> str:
    """The anchor of a heading: lower case, letters, digits and hyphens (``2. Pain`` -> ``2-pain``)."""
    words = re.sub(r"[^a-z0-9\s-]", "", text.lower()).split()
    return "-".join(words)


def _inline(text: str) -> str:
    codes: list[str] = []

    def keep(match: re.Match[str]) -> str:
        codes.append(f"<code>{escape(match.group(1))}</code>")
        return f"\x00{len(codes) - 1}\x00"

    out = _INLINE_CODE.sub(keep, text)
    out = _LINK.sub(lambda m: m.group(1), out)  # links leave the site: keep their text only
    out = escape(out, quote=False)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], out)


def render_markdown(text: str) -> str:
    """A small Markdown subset as HTML: headings (with ids), paragraphs, lists, tables, code, rules."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        if not stripped:
            i += 1
        elif stripped.startswith("```"):
            block = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                block.append(lines[i])
                i += 1
            out.append(f"<pre><code>{escape(chr(10).join(block))}</code></pre>")
            i += 1
        elif stripped.startswith("#"):
            level = min(len(stripped) - len(stripped.lstrip("#")), 4)
            title = stripped.lstrip("#").strip()
            tag = max(level, 2)  # the page has its own h1
            out.append(f"<h{tag} id='{slug(title)}'>{_inline(title)}</h{tag}>")
            i += 1
        elif set(stripped) <= {"-", "*", "_"} and len(stripped) >= 3:
            out.append("<hr>")
            i += 1
        elif stripped.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(set(c) <= set("-: ") for c in cells):
                    rows.append(cells)
                i += 1
            head, *rest = rows
            out.append(
                "<div class=table-wrap><table class=data><thead><tr>"
                + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rest)
                + "</tbody></table></div>"
            )
        elif _LIST.match(line):
            ordered = _LIST.match(line).group(2)[0].isdigit()  # type: ignore[union-attr]
            items = []
            while i < len(lines) and _LIST.match(lines[i]):
                item = _LIST.sub("", lines[i]).strip()
                i += 1
                while i < len(lines) and lines[i].startswith((" ", "\t")) and lines[i].strip() \
                        and not _LIST.match(lines[i]):
                    item += " " + lines[i].strip()
                    i += 1
                items.append(f"<li>{_inline(item)}</li>")
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>{''.join(items)}</{tag}>")
        elif line.startswith("    "):
            block = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:])
                i += 1
            out.append(f"<pre><code>{escape(chr(10).join(block).rstrip())}</code></pre>")
        else:
            para = [stripped]
            i += 1
            while i < len(lines) and lines[i].strip() and not re.match(r"^(#|\||```|\s*([-*+]|\d+\.)\s)",
                                                                       lines[i].strip()):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)


def definitions_text() -> str:
    """The Markdown published on the definitions page (docs/metrics.md, or the built-in summary)."""
    return METRICS_DOC.read_text(encoding="utf-8") if METRICS_DOC.exists() else FALLBACK


def anchor(keyword: str) -> str:
    """A link to the first heading of the definitions that mentions ``keyword`` (or to the page)."""
    for line in definitions_text().splitlines():
        if line.startswith("#") and keyword.lower() in line.lower():
            return f"{PAGE}#{slug(line.lstrip('#').strip())}"
    return PAGE


def build_definitions_page(site: Path) -> Path:
    """Write ``definitions.html``: what every published number, flag and threshold means."""
    text = definitions_text()
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):  # the page's own title replaces the document's
        text = "\n".join(lines[1:])
    body = f"<div class='panel definitions'>{render_markdown(text)}</div>"
    return html.write_page(site, PAGE, html.page(
        PAGE, "Definitions", "What every published number, audit flag and threshold means, and where the thresholds "
        "come from.", body,
    ))
