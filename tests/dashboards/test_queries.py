"""The payer page's queries on hand-made cases: flags, flagged episodes and distinct patients; units and pain
documentation per clinic and payer type."""

from __future__ import annotations

import duckdb
import pytest

from dashboards.queries import ANY_FLAG, TIER_PREFIX, flag_cells, pain_documentation, units_cells
from dashboards.suppression import ALL


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    """Patient p1 of clinic a has two episodes under two payers; clinic b's p1 is another patient."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.episode_outcomes (episode_key VARCHAR, clinic_id VARCHAR, patient_id VARCHAR)")
    con.execute("INSERT INTO marts.episode_outcomes VALUES ('e1', 'a', 'p1'), ('e2', 'a', 'p1'), ('e3', 'b', 'p1')")
    con.execute("CREATE TABLE marts.audit_flags (episode_key VARCHAR, clinic_id VARCHAR, payer_type VARCHAR, "
                "flag VARCHAR, tier VARCHAR)")
    con.execute(
        "INSERT INTO marts.audit_flags VALUES "
        "('e1', 'a', 'commercial', 'NO_RECERTIFICATION', 'necessity'), "
        "('e1', 'a', 'commercial', 'NO_RECERTIFICATION', 'necessity'), ('e1', 'a', 'commercial', 'PLATEAU', 'review'), "
        "('e2', 'a', 'medicare', 'NO_RECERTIFICATION', 'necessity'), "
        "('e3', 'b', 'commercial', 'NO_RECERTIFICATION', 'necessity')"
    )
    return con


def _cell(frame, flag: str, clinic: str, payer: str) -> tuple[int, int, int]:
    row = frame[(frame.flag == flag) & (frame.clinic_id == clinic) & (frame.payer_type == payer)]
    assert len(row) == 1, (flag, clinic, payer)
    return tuple(int(row.iloc[0][c]) for c in ("n_flags", "n_episodes", "patients"))


def test_flag_cells_count_flags_episodes_and_distinct_patients(con) -> None:
    frame = flag_cells(con)
    # (n_flags, n_episodes, patients)
    assert _cell(frame, "NO_RECERTIFICATION", ALL, ALL) == (4, 3, 2)  # p1 of a counted once across two payers
    assert _cell(frame, "NO_RECERTIFICATION", "a", ALL) == (3, 2, 1)
    assert _cell(frame, "NO_RECERTIFICATION", ALL, "commercial") == (3, 2, 2)
    assert _cell(frame, "NO_RECERTIFICATION", ALL, "medicare") == (1, 1, 1)
    assert _cell(frame, "PLATEAU", ALL, ALL) == (1, 1, 1)
    assert _cell(frame, ANY_FLAG, ALL, ALL) == (3, 3, 2)  # ANY counts flagged episodes
    assert _cell(frame, ANY_FLAG, "a", ALL) == (2, 2, 1)
    assert _cell(frame, ANY_FLAG, ALL, "commercial") == (2, 2, 2)
    # a tier counts episodes with at least one of its flags
    assert _cell(frame, f"{TIER_PREFIX}necessity", ALL, ALL) == (3, 3, 2)
    assert _cell(frame, f"{TIER_PREFIX}review", "a", ALL) == (1, 1, 1)
    # per flag, tier and ANY: its total, one row per clinic, one per payer type
    # (NO_RECERTIFICATION, PLATEAU, tier:necessity, tier:review, ANY)
    assert len(frame) == (1 + 2 + 2) + (1 + 1 + 1) + (1 + 2 + 2) + (1 + 1 + 1) + (1 + 2 + 2)


@pytest.fixture()
def units_con() -> duckdb.DuckDBPyConnection:
    """Clinic a: p1 with a commercial (flagged) and a medicare episode, p2 commercial; clinic b: p1 self-pay."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.episode_outcomes (episode_key VARCHAR, clinic_id VARCHAR, payer_type VARCHAR, "
                "patient_id VARCHAR, n_sessions INTEGER, n_immediate INTEGER, units_billed BIGINT)")
    con.execute("INSERT INTO marts.episode_outcomes VALUES ('e1', 'a', 'commercial', 'p1', 5, 4, 10), "
                "('e2', 'a', 'medicare', 'p1', 3, 3, 6), ('e3', 'a', 'commercial', 'p2', 4, 1, 8), "
                "('e4', 'b', 'self_pay', 'p1', 2, 0, 4)")
    con.execute("CREATE TABLE marts.audit_episodes (episode_key VARCHAR, clinic_id VARCHAR, payer_type VARCHAR, "
                "units_at_risk BIGINT, units_over_time BIGINT)")
    con.execute("INSERT INTO marts.audit_episodes VALUES ('e1', 'a', 'commercial', 6, 1), "
                "('e4', 'b', 'self_pay', 0, 2)")
    return con


def test_units_cells_sum_units_and_count_distinct_patients(units_con) -> None:
    frame = units_cells(units_con).set_index(["clinic_id", "payer_type"])
    columns = ["n_episodes", "n_flagged", "units_billed", "units_at_risk", "units_over_time", "patients",
               "flagged_patients", "risk_patients", "excess_patients"]

    def cell(clinic: str, payer: str) -> list[int]:
        return [int(frame.loc[(clinic, payer), c]) for c in columns]

    assert cell(ALL, ALL) == [4, 2, 28, 6, 3, 3, 2, 1, 2]
    assert cell("a", ALL) == [3, 1, 24, 6, 1, 2, 1, 1, 1]  # p1 once although two payers
    assert cell(ALL, "commercial") == [2, 1, 18, 6, 1, 2, 1, 1, 1]
    assert cell("a", "medicare") == [1, 0, 6, 0, 0, 1, 0, 0, 0]
    assert cell("b", "self_pay") == [1, 1, 4, 0, 2, 1, 1, 0, 1]
    assert len(frame) == 1 + 2 + 3 + 3  # all; 2 clinics; 3 payer types; 3 (clinic, payer type) pairs


def test_pain_documentation_per_clinic(units_con) -> None:
    frame = pain_documentation(units_con).set_index("clinic_id")
    assert [int(frame.loc[ALL, c]) for c in ("n_sessions", "n_scored", "patients")] == [14, 8, 3]
    assert [int(frame.loc["a", c]) for c in ("n_sessions", "n_scored", "patients")] == [12, 8, 2]


def test_case_mix_support_counts_distinct_patients_of_pain_evaluable_episodes() -> None:
    """Patient p1 of clinic a has two evaluable episodes; clinic b's p1 is another patient; p3's episode is not
    pain-evaluable and counts nowhere."""
    from dashboards.queries import case_mix_support

    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.episode_outcomes (clinic_id VARCHAR, patient_id VARCHAR, pain_evaluable BOOLEAN, "
                "age_band VARCHAR, condition_group VARCHAR, sex VARCHAR, payer_type VARCHAR, symptom_weeks DOUBLE)")
    con.execute("INSERT INTO marts.episode_outcomes VALUES "
                "('a', 'p1', true, '40-49', 'neck_pain', 'F', 'commercial', 4), "
                "('a', 'p1', true, '40-49', 'low_back_pain', 'F', 'medicare', NULL), "
                "('b', 'p1', true, '90+', 'neck_pain', 'M', 'commercial', 10), "
                "('a', 'p3', false, '90+', 'migraine', 'X', 'self_pay', NULL)")
    frame = case_mix_support(con)
    got = {(c, lv): int(n) for c, lv, n in zip(frame["covariate"], frame["level"], frame["patients"], strict=True)}
    assert got == {
        ("age_band", "40-49"): 1, ("age_band", "90+"): 1,
        ("condition_group", "neck_pain"): 2, ("condition_group", "low_back_pain"): 1,
        ("sex", "F"): 1, ("sex", "M"): 1,
        ("payer_type", "commercial"): 2, ("payer_type", "medicare"): 1,
        ("symptom_weeks_missing", "1"): 1, ("symptom_weeks_missing", "0"): 2,
        (ALL, ALL): 2,
    }


def _support_by_pandas(episodes) -> dict[tuple, tuple[int, int, int]]:
    """The suppression cube counted directly from the episodes: distinct (clinic, patient) per cell."""
    episodes = episodes.assign(month=episodes["start_month"].dt.strftime("%Y-%m"),
                               patient=episodes["clinic_id"] + "\x1f" + episodes["patient_id"])
    cells: dict[tuple, tuple[int, int, int]] = {}
    for keys in ((), ("condition_group",), ("clinic_id",), ("clinic_id", "condition_group"),
                 ("clinic_id", "therapist_id"), ("month",), ("clinic_id", "month")):
        groups = [((), episodes)] if not keys else episodes.groupby(list(keys))
        for values, part in groups:
            values = values if isinstance(values, tuple) else (values,)
            cell = dict(zip(keys, values, strict=True))
            key = tuple(cell.get(c, ALL) for c in ("clinic_id", "therapist_id", "month", "condition_group"))
            cells[key] = (part["patient"].nunique(), part.loc[part["pain_evaluable"], "patient"].nunique(),
                          part.loc[part["relief_evaluable"], "patient"].nunique())
    return cells


def test_episode_support_counts_distinct_patients_per_cell(crafted_warehouse) -> None:
    from dashboards.queries import EPISODE_KEYS, episode_support

    with duckdb.connect(str(crafted_warehouse), read_only=True) as con:
        frame = episode_support(con)
        episodes = con.execute("SELECT * FROM marts.episode_outcomes").df()
    got = {tuple(r[k] for k in EPISODE_KEYS): (r["patients"], r["pain_patients"], r["relief_patients"])
           for r in frame.to_dict("records")}
    assert len(got) == len(frame) > 10
    assert got == _support_by_pandas(episodes)


def test_episode_support_of_an_empty_warehouse_is_its_grand_total(tmp_path) -> None:
    from dashboards.queries import episode_support
    from tests.dashboards.conftest import empty_staging
    from transforms.config import load_settings
    from transforms.marts import build_marts
    from transforms.warehouse import open_warehouse

    settings = load_settings(environ={}, warehouse=tmp_path / "w.duckdb")
    with open_warehouse(settings.warehouse) as con:
        empty_staging(con)
        build_marts(con, settings)
        assert episode_support(con).to_dict("records") == [
            {"clinic_id": ALL, "therapist_id": ALL, "month": ALL, "condition_group": ALL,
             "patients": 0, "pain_patients": 0, "relief_patients": 0}]
