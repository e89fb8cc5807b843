"""Every internal link of the published site points to a page that exists and to an anchor on it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if values.get("id"):
            self.ids.add(str(values["id"]))


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def broken_links(site: Path) -> list[str]:
    """``page: href`` for every internal link whose page or anchor does not exist."""
    pages = {p.name: _parse(p) for p in sorted(site.glob("*.html"))}
    broken = []
    for name, parsed in pages.items():
        for href in parsed.hrefs:
            if re.match(r"^[a-z]+:", href):  # external (http:, mailto:) or data: links are not ours
                continue
            target, _, fragment = href.partition("#")
            target = target or name
            if target not in pages:
                broken.append(f"{name}: {href} (no page {target})")
            elif fragment and fragment not in pages[target].ids:
                broken.append(f"{name}: {href} (no anchor #{fragment} on {target})")
    return broken


@pytest.mark.parametrize("built", ["sample_site", "crafted_site"])
def test_every_internal_link_resolves(built: str, request: pytest.FixtureRequest) -> None:
    site = request.getfixturevalue(built).site
    assert len(list(site.glob("*.html"))) == 6
    assert broken_links(site) == []


def test_a_broken_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<a href='b.html#missing'>x</a><a href='#here'>y</a><p id=here></p>")
    (tmp_path / "b.html").write_text("<h2 id='present'>b</h2><a href='c.html'>z</a>")
    assert broken_links(tmp_path) == ["a.html: b.html#missing (no anchor #missing on b.html)",
                                      "b.html: c.html (no page c.html)"]
