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
    """``page: href`` for every internal link whose target or anchor does not exist.

    Every HTML file of the site is checked, in any folder (the data dictionary is ``data/index.html``);
    a link is resolved from its page's folder. A link to another file (a CSV download, the README) must
    point to an existing file of the site.
    """
    site = site.resolve()
    pages = {p.resolve(): _parse(p) for p in sorted(site.rglob("*.html"))}
    broken = []
    for page, parsed in pages.items():
        name = page.relative_to(site).as_posix()
        for href in parsed.hrefs:
            if re.match(r"^[a-z]+:", href):  # external (http:, mailto:) or data: links are not ours
                continue
            target, _, fragment = href.partition("#")
            path = (page.parent / target).resolve() if target else page
            if not path.is_relative_to(site) or not path.is_file():
                broken.append(f"{name}: {href} (no page {target})")
            elif path.suffix != ".html":
                if fragment:
                    broken.append(f"{name}: {href} (an anchor in a file that is not a page)")
            elif fragment and fragment not in pages[path].ids:
                broken.append(f"{name}: {href} (no anchor #{fragment} on {target or name})")
    return broken


@pytest.mark.parametrize("built", ["sample_site", "crafted_site"])
def test_every_internal_link_resolves(built: str, request: pytest.FixtureRequest) -> None:
    site = request.getfixturevalue(built).site
    assert len(list(site.glob("*.html"))) == 6 and (site / "data" / "index.html").is_file()
    assert broken_links(site) == []


def test_a_broken_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<a href='b.html#missing'>x</a><a href='#here'>y</a><p id=here></p>")
    (tmp_path / "b.html").write_text("<h2 id='present'>b</h2><a href='c.html'>z</a>")
    assert broken_links(tmp_path) == ["a.html: b.html#missing (no anchor #missing on b.html)",
                                      "b.html: c.html (no page c.html)"]


def test_links_into_and_out_of_a_folder_are_resolved(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a\n")
    (tmp_path / "a.html").write_text("<a href='data/x.csv'>csv</a><a href='data/y.csv'>gone</a>"
                                     "<a href='data/index.html#x'>dictionary</a><p id=top></p>")
    (tmp_path / "data" / "index.html").write_text("<h2 id=x>x</h2><a href='../a.html#top'>back</a>"
                                                  "<a href='x.csv'>here</a><a href='../a.html#nope'>bad</a>")
    assert broken_links(tmp_path) == ["a.html: data/y.csv (no page data/y.csv)",
                                      "data/index.html: ../a.html#nope (no anchor #nope on ../a.html)"]
