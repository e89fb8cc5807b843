"""The dirty set's per-clinic marks (targets made of per-clinic parts, such as the audit packets)."""

from __future__ import annotations

import duckdb
import pytest

from transforms import changes
from transforms.loading import ensure_schema

TARGET = "restricted:audit"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    con.execute("CREATE TEMP TABLE _patients AS SELECT * FROM (VALUES ('north', 'P1'), ('north', 'P2'), "
                "('east', 'P9')) t(clinic_id, patient_id)")
    yield con
    con.close()


def test_clinics_are_marked_once_and_cleared_with_their_target(con: duckdb.DuckDBPyConnection) -> None:
    assert changes.pending_clinics(con, TARGET) == (changes.CLEAN, [])
    changes.mark_clinics(con, [TARGET], "_patients")
    changes.mark_clinics(con, [TARGET], "_patients")  # a second mark adds nothing
    assert changes.pending_clinics(con, TARGET) == (changes.SCOPED, ["east", "north"])
    assert con.execute("SELECT count(*) FROM ops.dirty").fetchall()[0][0] == 2
    assert changes.pending_clinics(con, "restricted:aud") == (changes.CLEAN, [])  # a prefix is another target
    changes.clear(con, "restricted:aud")
    assert changes.pending_clinics(con, TARGET) == (changes.SCOPED, ["east", "north"])
    changes.mark_full(con, ["page:payer"])
    changes.clear(con, TARGET)
    assert changes.pending_clinics(con, TARGET) == (changes.CLEAN, [])
    assert changes.pending(con, "page:payer") == changes.FULL  # other targets keep their marks


def test_a_full_mark_outranks_the_clinic_marks(con: duckdb.DuckDBPyConnection) -> None:
    changes.mark_clinics(con, [TARGET], "_patients")
    changes.mark_full(con, [TARGET])
    assert changes.pending_clinics(con, TARGET) == (changes.FULL, [])


def test_a_bad_table_name_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="bad patients table"):
        changes.mark_clinics(con, [TARGET], "_patients; DROP TABLE ops.dirty")
