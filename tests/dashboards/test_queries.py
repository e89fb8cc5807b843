"""The payer page's flag cells on a hand-made case: counts of flags, flagged episodes and distinct patients."""

from __future__ import annotations

import duckdb
import pytest

from dashboards.queries import ANY_FLAG, flag_cells
from dashboards.suppression import ALL


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    """Patient p1 of clinic a has two episodes under two payers; clinic b's p1 is another patient."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.episode_outcomes (episode_key VARCHAR, clinic_id VARCHAR, patient_id VARCHAR)")
    con.execute("INSERT INTO marts.episode_outcomes VALUES ('e1', 'a', 'p1'), ('e2', 'a', 'p1'), ('e3', 'b', 'p1')")
    con.execute("CREATE TABLE marts.audit_flags (episode_key VARCHAR, clinic_id VARCHAR, payer_type VARCHAR, flag VARCHAR)")
    con.execute(
        "INSERT INTO marts.audit_flags VALUES "
        "('e1', 'a', 'commercial', 'MISSING_PAIN'), ('e1', 'a', 'commercial', 'MISSING_PAIN'), "
        "('e1', 'a', 'commercial', 'PLATEAU'), ('e2', 'a', 'medicare', 'MISSING_PAIN'), "
        "('e3', 'b', 'commercial', 'MISSING_PAIN')"
    )
    return con


def _cell(frame, flag: str, clinic: str, payer: str) -> tuple[int, int, int]:
    row = frame[(frame.flag == flag) & (frame.clinic_id == clinic) & (frame.payer_type == payer)]
    assert len(row) == 1, (flag, clinic, payer)
    return tuple(int(row.iloc[0][c]) for c in ("n_flags", "n_episodes", "patients"))


def test_flag_cells_count_flags_episodes_and_distinct_patients(con) -> None:
    frame = flag_cells(con)
    # (n_flags, n_episodes, patients)
    assert _cell(frame, "MISSING_PAIN", ALL, ALL) == (4, 3, 2)  # p1 of a counted once across two payers
    assert _cell(frame, "MISSING_PAIN", "a", ALL) == (3, 2, 1)
    assert _cell(frame, "MISSING_PAIN", ALL, "commercial") == (3, 2, 2)
    assert _cell(frame, "MISSING_PAIN", ALL, "medicare") == (1, 1, 1)
    assert _cell(frame, "PLATEAU", ALL, ALL) == (1, 1, 1)
    assert _cell(frame, ANY_FLAG, ALL, ALL) == (3, 3, 2)  # ANY counts flagged episodes
    assert _cell(frame, ANY_FLAG, "a", ALL) == (2, 2, 1)
    assert _cell(frame, ANY_FLAG, ALL, "commercial") == (2, 2, 2)
    # per flag: its total, one row per clinic, one per payer type (MISSING_PAIN, PLATEAU, ANY)
    assert len(frame) == (1 + 2 + 2) + (1 + 1 + 1) + (1 + 2 + 2)
