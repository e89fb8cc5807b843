"""The payer page: thresholds in words from the run's settings, the applicability table in force, "not
applicable" cells, suppressed units that cannot be recovered, the funnel's control limits, the restricted
folder and the definitions link."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from dashboards.definitions import build_definitions_page
from dashboards.payer import (
    NOT_APPLICABLE,
    build_payer_page,
    documentation_figure,
    flag_heatmap,
    funnel_figure,
    funnel_position,
    payer_label,
    publish_flags,
    rate_limits,
)
from dashboards.queries import ANY_FLAG, flag_cells, payer_rules
from dashboards.suppression import ALL
from tests.dashboards.conftest import Built
from tests.dashboards.test_site import number, tables
from transforms.config import load_settings
from transforms.intervals import z_value

Z95 = z_value(0.95)


def _page(warehouse: Path, folder: Path, **overrides: object) -> str:
    settings = load_settings(environ={}, **overrides)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return build_payer_page(con, folder, settings).read_text(encoding="utf-8")


def test_thresholds_and_the_restricted_folder_come_from_the_run(crafted_warehouse: Path, tmp_path: Path) -> None:
    restricted = tmp_path / "our-restricted-area"
    text = _page(crafted_warehouse, tmp_path / "site", recertification_days=77, progress_note_max_visits=13,
                 care_after_goal_visits=5, plateau_window=3, plateau_min_sessions=7, plateau_min_change="1.5",
                 follow_up_active_days=21, relief_max_fraction="0.6", restricted=str(restricted))
    plain = re.sub(r"<[^>]+>", " ", text)
    for phrase in ("more than 77 days", "More than 13 treatment visits", "5 or more treatment visits",
                   "At least 7 visits", "last 3 of them", "less than 1.5 points", "last 21 days",
                   "no more than 60 % of it", "recertified within 77 days"):
        assert phrase in plain, phrase
    for default in ("90 days", "10 treatment visits", "4 or more treatment", "At least 6 visits", "70 %",
                    "build/restricted"):
        assert default not in plain, default
    assert f"{restricted}/audit_worklists/" in plain and f"{restricted}/audit_packets/" in plain


def test_the_definitions_link_points_to_an_existing_anchor(crafted_site: Built, tmp_path: Path) -> None:
    text = (crafted_site.site / "payer.html").read_text(encoding="utf-8")
    targets = re.findall(r"href='definitions\.html#([^']+)'", text)
    assert targets, "the payer page links to the audit definitions"
    definitions = build_definitions_page(tmp_path, crafted_site.settings).read_text(encoding="utf-8")
    for target in targets:
        assert f"id='{target}'" in definitions, target
    assert "payer-audit-flags" in targets[0]


def test_the_rules_table_is_the_table_in_force(crafted_warehouse: Path, tmp_path: Path) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(crafted_warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE ref.audit_payer_rules SET applies = true WHERE flag = 'PLATEAU' AND payer_type = 'self_pay'")
        con.execute("UPDATE ref.audit_payer_rules SET applies = false WHERE flag = 'NO_GOALS'")
    _page(copy, tmp_path / "site")
    header, *rows = tables(tmp_path / "site" / "payer.html")["payer-rules"]
    table = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert len(table) == 11 and "MISSING_PAIN" not in table
    assert table["PLATEAU"]["Self-pay"] == "applies" and table["PLATEAU"]["Tier"] == "Review"
    assert {table["NO_GOALS"][payer_label(p)] for p in ("commercial", "medicare", "self_pay")} == {NOT_APPLICABLE}
    assert table["NO_REFERRAL"]["FSA / HSA"] == "applies" and table["UNITS_OVER_TIME"]["Self-pay"] == "applies"


def test_not_applicable_cells_are_never_zero_or_suppressed(crafted_warehouse: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(crafted_warehouse), read_only=True) as con:
        rules = payer_rules(con)
        flags = publish_flags(flag_cells(con), 11)
        payers = sorted({p for (p,) in con.execute("SELECT DISTINCT payer_type FROM marts.episode_outcomes")
                         .fetchall()})
    assert "self_pay" in payers
    episodes = dict.fromkeys(payers, 500.0)  # large published denominators: only applicability decides
    fig = documentation_figure(flags, episodes, rules)
    column = [payer_label(p) for p in payers if p != ALL].index("Self-pay")
    assert {row[column] for row in fig.data[0].text} == {NOT_APPLICABLE}
    assert all(row[column] is None for row in fig.data[0].z)
    heat = flag_heatmap(flags, "payer_type", episodes, "t", payers, {p: p for p in payers}, rules)
    labels = list(heat.data[0].y)
    texts = {(labels[i], payers[j]): t for i, row in enumerate(heat.data[0].text) for j, t in enumerate(row)}
    assert texts[(next(x for x in labels if "Plateau" in x), "self_pay")] == NOT_APPLICABLE
    assert texts[(next(x for x in labels if "No treatment goals" in x), "self_pay")] == NOT_APPLICABLE
    assert texts[(next(x for x in labels if "8-minute" in x), "self_pay")] != NOT_APPLICABLE
    _page(crafted_warehouse, tmp_path / "site")
    header, *rows = tables(tmp_path / "site" / "payer.html")["units"]
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        if cells["Payer type"] == "Self-pay":
            assert cells["Units at risk"] == NOT_APPLICABLE  # only the 8-minute rule applies to self-pay
            assert cells["Excess units (8-minute rule)"] != NOT_APPLICABLE


def test_hidden_units_cannot_be_recovered_from_totals(crafted_site: Built) -> None:
    """Per clinic the payer types add up to the clinic's row, per payer type the clinics add up to all clinics:
    a line with a hidden cell has at least two, or its total hidden too."""
    header, *rows = tables(crafted_site.site / "payer.html")["units"]
    grid = {(r[0], r[1]): dict(zip(header, r, strict=True)) for r in rows}
    clinics = {c for c, _ in grid}
    payers = {p for _, p in grid}
    columns = ("Episodes", "Flagged episodes", "Units billed", "Units at risk", "Excess units (8-minute rule)")
    hidden_somewhere = False
    for column in columns:
        lines = [[(c, p) for p in payers if p != "All payers"] + [(c, "All payers")] for c in clinics]
        lines += [[(c, p) for c in clinics if c != "All clinics"] + [("All clinics", p)] for p in payers]
        for line in lines:
            cells = [grid[k][column] for k in line if k in grid and grid[k][column] != NOT_APPLICABLE]
            hidden = [c for c in cells if number(c) is None]
            hidden_somewhere |= bool(hidden)
            assert len(hidden) != 1, (column, line)
    assert hidden_somewhere  # the crafted warehouse has small payer types: the check is exercised
    total = grid[("All clinics", "All payers")]
    with duckdb.connect(str(crafted_site.warehouse), read_only=True) as con:
        units, risk, excess = con.execute("SELECT sum(units_billed), sum(units_at_risk), sum(units_over_time) "
                                          "FROM marts.audit_summary").fetchall()[0]
        excess_patients = con.execute(
            "SELECT count(DISTINCT (e.clinic_id, e.patient_id)) FROM marts.audit_episodes a "
            "JOIN marts.episode_outcomes e USING (episode_key) WHERE a.units_over_time > 0").fetchall()[0][0]
    assert number(total["Units billed"]) == units and number(total["Units at risk"]) == risk
    # the excess units rest on the few patients billed over time: shown only with 11 or more of them
    assert 0 < excess_patients < 11 and excess > 0
    assert number(total["Excess units (8-minute rule)"]) is None


def test_rate_limits_equal_the_normal_interval_of_statsmodels() -> None:
    for flagged, n in ((20, 100), (3, 40), (57, 60)):
        low, high = proportion_confint(flagged, n, alpha=0.05, method="normal")
        assert rate_limits(flagged / n, n, Z95) == pytest.approx((max(low, 0.0), min(high, 1.0)), abs=1e-12)
    assert rate_limits(0.2, 100, Z95) == pytest.approx((0.2 - 0.0783985593816, 0.2 + 0.0783985593816), abs=1e-12)


@pytest.mark.parametrize(("flagged", "expected"), [
    (20, "within the 95% limits"), (27, "within the 95% limits"), (28, "above the 95% limits"),
    (32, "above the 95% limits"), (33, "above the 99.8% limits"), (12, "below the 95% limits"),
    (7, "below the 99.8% limits"),
])
def test_funnel_position(flagged: int, expected: str) -> None:
    # rate 0.2 at n = 100: 95% limits 0.1216 to 0.2784, 99.8% limits 0.0764 to 0.3236
    assert funnel_position(flagged, 100, 0.2) == expected


def test_funnel_figure_draws_the_limits_around_the_overall_rate() -> None:
    cells = pd.DataFrame([
        {"flag": ANY_FLAG, "clinic_id": ALL, "payer_type": ALL, "n_flags": 60, "n_episodes": 60, "patients": 60},
        {"flag": ANY_FLAG, "clinic_id": "a", "payer_type": ALL, "n_flags": 40, "n_episodes": 40, "patients": 40},
        {"flag": ANY_FLAG, "clinic_id": "b", "payer_type": ALL, "n_flags": 20, "n_episodes": 20, "patients": 20},
    ])
    fig = funnel_figure(publish_flags(cells, 11), {"a": 100.0, "b": 200.0}, 300.0)
    points = next(t for t in fig.data if t.name == "clinics")
    assert list(points.x) == [100.0, 200.0] and list(points.y) == pytest.approx([0.4, 0.1])
    overall = next(t for t in fig.data if t.name == "overall rate")
    assert set(overall.y) == {0.2}
    upper = next(t for t in fig.data if t.name == "95% limits")
    for x, y in zip(upper.x, upper.y, strict=True):
        assert y == pytest.approx(rate_limits(0.2, x, Z95)[1])
    assert [c[2] for c in points.customdata] == ["above the 99.8% limits", "below the 99.8% limits"]
