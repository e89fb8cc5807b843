"""The definitions page: the project's own explanation of every published number.

``docs/metrics.md`` (written for users) is rendered with a deliberately small Markdown renderer
(headings with anchors, paragraphs, lists, tables, code, emphasis); links to other documents keep
their text only, so the page never points outside the site.

The page states the thresholds *in force* for the run that built it: a table of every setting that
shapes a number (value in force, the specification's default, what it means, from
``docs/configuration.md``), marking those that differ; and in the text, every threshold the
documentation marks as ``*(setting `name`)*`` is followed by the value in force when it differs
from the default, so no sentence states a default that the run did not use.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from dashboards import downloads, html
from transforms.config import Settings
from transforms.runs import RunRecord, default_settings, settings_in_force

METRICS_DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
CONFIGURATION_DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
PAGE = "definitions.html"
_SETTING_ROW = re.compile(r"^\|\s*`([a-z_0-9]+)`\s*\|[^|]*\|(.*)\|$")
_SETTING_MARK = re.compile(r"\*\(setting `([a-z_0-9]+)`\)\*")

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
    """The Markdown published on the definitions page (docs/metrics.md)."""
    return METRICS_DOC.read_text(encoding="utf-8")


def setting_descriptions() -> dict[str, str]:
    """Setting name -> its meaning, from the table of ``docs/configuration.md`` (the one description)."""
    out = {}
    for line in CONFIGURATION_DOC.read_text(encoding="utf-8").splitlines():
        match = _SETTING_ROW.match(line.strip())
        if match:
            out[match.group(1)] = match.group(2).strip()
    return out


def _differs(name: str, in_force: dict[str, Any], defaults: dict[str, Any]) -> bool:
    return name in defaults and in_force.get(name) != defaults[name]


def settings_table(settings: Settings) -> str:
    """Every setting that shapes a published number: in force, default, meaning; differing rows marked."""
    in_force = settings_in_force(settings, public=True)
    defaults = default_settings()
    meanings = setting_descriptions()
    rows, classes = [], []
    for name, value in in_force.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        default = defaults.get(name)
        default_text = ", ".join(map(str, default)) if isinstance(default, list) else str(default)
        differs = _differs(name, in_force, defaults)
        rows.append([name, f"{shown} (changed)" if differs else shown, default_text, meanings.get(name, "")])
        classes.append("setting-changed" if differs else "")
    changed = [r[0] for r, c in zip(rows, classes, strict=True) if c]
    note = ("<div class=note><b>This run does not use the default value of:</b> "
            + ", ".join(f"<code>{escape(n)}</code>" for n in changed)
            + ". Where the text below gives a default, the value in force follows it.</div>") if changed else (
        "<div class=info>This run uses the default value of every setting.</div>")
    table = html.table(rows, ["Setting", "In force", "Default", "Meaning"], row_classes=classes,
                       table_id="settings-table")
    return (f"<h2 id='settings-in-force'>Settings in force for this run</h2>{note}"
            f"<div class=panel>{table}{downloads.link('definitions-settings')}</div>")


def settings_download(settings: Settings) -> downloads.Download:
    """The settings table as a download (values as the table writes them, with whether they changed)."""
    in_force = settings_in_force(settings, public=True)
    defaults = default_settings()
    meanings = setting_descriptions()

    def text(value: Any) -> str:
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    frame = pd.DataFrame([{"setting": name, "in_force": text(value), "default": text(defaults.get(name)),
                           "changed": _differs(name, in_force, defaults), "meaning": meanings.get(name, "")}
                          for name, value in in_force.items()],
                         columns=["setting", "in_force", "default", "changed", "meaning"])
    return downloads.download("definitions-settings", frame)


def _mark_settings(text: str, settings: Settings) -> str:
    """Follow every ``*(setting `name`)*`` of the text with the value in force where it differs."""
    in_force = settings_in_force(settings, public=True)
    defaults = default_settings()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _differs(name, in_force, defaults):
            return match.group(0)
        value = in_force[name]
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        return f"*(setting `{name}`; **in force for this run: {shown}**)*"

    return _SETTING_MARK.sub(replace, text)


def heading(keyword: str) -> str | None:
    """The first heading of the definitions that mentions ``keyword`` (``2. Pain``), or None."""
    for line in definitions_text().splitlines():
        # "# " is the document's title, which the page replaces with its own: not an anchor
        if line.startswith("##") and keyword.lower() in line.lower():
            return line.lstrip("#").strip()
    return None


def anchor(keyword: str) -> str:
    """A link to the first heading of the definitions that mentions ``keyword`` (or to the page)."""
    title = heading(keyword)
    return PAGE if title is None else f"{PAGE}#{slug(title)}"


def build_definitions_page(site: Path, settings: Settings, run: RunRecord | None = None) -> Path:
    """Write ``definitions.html``: the settings in force, then what every number, flag and threshold means."""
    text = definitions_text()
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):  # the page's own title replaces the document's
        text = "\n".join(lines[1:])
    downloads.write_downloads(site, PAGE, [settings_download(settings)], settings)
    body = settings_table(settings) + f"<div class='panel definitions'>{render_markdown(_mark_settings(text, settings))}</div>"
    return html.write_page(site, PAGE, html.page(
        PAGE, "Definitions", "What every published number, audit flag and threshold means, where the thresholds "
        "come from, and which values this run used.", body, run=run,
    ))
