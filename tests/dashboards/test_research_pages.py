"""The research panels on the built site: present, worded from the run's settings, one clinic's figures per
director view, and nothing published that names a small group, a row or a date of service."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from dashboards.researcher import build_researcher_page
from dashboards.theme import fmt
from tests.dashboards.conftest import Built
from transforms.config import load_settings

RESEARCH_CHARTS = ("follow-up", "sensitivity", "techniques", "flares", "coefficients", "calibration")


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        if ident:
            self.ids.append(ident)


@pytest.mark.parametrize("which", ["crafted_site", "sample_site"])
def test_every_research_panel_is_on_the_page_with_unique_ids(which: str, request: pytest.FixtureRequest) -> None:
    built: Built = request.getfixturevalue(which)
    for page in sorted(built.site.glob("*.html")):
        parser = _Ids()
        parser.feed(page.read_text(encoding="utf-8"))
        duplicates = {i for i in parser.ids if parser.ids.count(i) > 1}
        assert not duplicates, f"{page.name}: {duplicates}"  # a chart drawn into a heading of the same id is lost
    text = (built.site / "researcher.html").read_text(encoding="utf-8")
    for chart in RESEARCH_CHARTS:
        assert f'id="{chart}"' in text, chart  # drawn at load (a message would replace the div)
    assert "associations, not effects" in text and "chosen by the therapist for the patient" in text
    assert "IPW corrects only for what its model sees" in text


def test_the_reason_for_a_penalised_fit_is_not_published(crafted_site: Built) -> None:
    """The crafted responder model is penalised because every migraine patient (3) responded: the mart's note
    says so, and the page must not."""
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        method, note = con.execute("SELECT method, note FROM marts.model_coefficients "
                                   "WHERE model = 'responder' AND term = 'intercept'").fetchone()
    assert method == "logit_ridge" and "condition_group=migraine" in note
    text = "\n".join(p.read_text(encoding="utf-8") for p in crafted_site.site.glob("*.html"))
    assert note not in text and "condition_group=migraine" not in text and "(separation)" not in text
    table = re.search(r"<table class=data id='coefficients-table'>.*?</table>", text, re.S).group(0)
    migraine = re.search(r"<tr><td>Condition: Migraine</td>(.*?)</tr>", table, re.S).group(1)
    assert migraine.count(">suppressed<") == 2


def test_each_director_view_shows_its_own_lost_to_follow_up_rate(crafted_site: Built) -> None:
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        expected = {clinic: (rate, ended) for clinic, rate, ended in con.execute(
            "SELECT clinic_id, lost_rate, n_ended FROM marts.follow_up WHERE condition_group = 'all'").fetchall()}
    text = (crafted_site.site / "director.html").read_text(encoding="utf-8")
    views = dict(re.findall(r"<section class=view data-view='([^']+)'[^>]*>(.*?)</section>", text, re.S))
    labels = dict(re.findall(r"<option value='([^']+)'>([^<]+)</option>", text))
    assert set(views) == {"all", "clinic1", "clinic2"}
    for key, body in views.items():
        clinic = "all" if key == "all" else labels[key].removeprefix("Clinic ")
        rate, ended = expected[clinic]
        card = re.search(r"<div class=label>Lost to follow-up</div><div class=value>([^<]+)</div>"
                         r"<div class=ci>([^<]+)</div>", body)
        assert card is not None, key
        assert card.group(1) == fmt(rate, 0, True)
        assert f"of {ended:,} ended episodes" in card.group(2), key
        assert f"{key}-responder-funnel" in body


def test_no_date_of_service_reaches_the_site(crafted_site: Built) -> None:
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        dates = {str(d) for (d,) in con.execute("SELECT DISTINCT session_date FROM staging.sessions").fetchall()}
        dates |= {str(d) for (d,) in con.execute("SELECT DISTINCT data_end FROM marts.follow_up "
                                                 "WHERE data_end IS NOT NULL").fetchall()}
    assert "2026-08-31" in dates
    # the data pages (definitions.html is the documentation, whose examples are made-up dates)
    for name in ("index.html", "director.html", "researcher.html", "payer.html", "quality.html"):
        page = crafted_site.site / name
        text = page.read_text(encoding="utf-8")
        found = sorted(d for d in dates if d in text)
        assert not found, f"{page.name}: {found[:3]}"


def test_research_wording_follows_the_run_settings(crafted_site: Built, tmp_path: Path) -> None:
    settings = load_settings(environ={}, ipw_max_weight=15, flare_min_points=3, follow_up_active_days=45)
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        text = build_researcher_page(con, tmp_path, settings).read_text(encoding="utf-8")
    assert "capped at 15" in text and "capped at 20" not in text
    assert "at least 3 points above pain before it" in text and "at least 2 points above" not in text
    assert "within 45 days of its clinic&#x27;s latest session" in text and "within 30 days" not in text
