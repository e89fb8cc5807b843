"""Every integrity rule (a Dagster asset check) holds on good data and catches a broken table."""

from __future__ import annotations

import duckdb
import pytest

from transforms.integrity import INTEGRITY_RULES, count_violations

RULES = {r.name: r for r in INTEGRITY_RULES}

GOOD = {
    "session_key_unique": [
        "CREATE TABLE staging.sessions AS SELECT * FROM (VALUES ('C1', 'S1', 'ep_1', 1, 'P1', 'T1', 'e', NULL), "
        "('C2', 'S1', 'ep_2', 1, 'P2', 'T1', 'e', 'case-4-1')) v(clinic_id, session_id, episode_key, session_number, "
        "patient_id, therapist_id, export, episode_id)",
    ],
    "rom_rows_match_sessions": [
        "CREATE TABLE staging.sessions AS SELECT 'C1' AS clinic_id, 'S1' AS session_id, 'ep_1' AS episode_key, "
        "'e' AS export",
        "CREATE TABLE staging.rom AS SELECT 'C1' AS clinic_id, 'S1' AS session_id, 'ep_1' AS episode_key, 'e' AS export",
    ],
    "episode_counts_add_up": [
        "CREATE TABLE marts.condition_outcomes AS SELECT * FROM (VALUES ('neck_pain', 3), ('low_back_pain', 4), "
        "('all', 7)) v(condition_group, n_episodes)",
    ],
    "responders_are_pain_evaluable": [
        "CREATE TABLE marts.episode_outcomes AS SELECT * FROM (VALUES (true, true, true), (true, true, false), "
        "(false, NULL, NULL)) v(pain_evaluable, responder, substantial_responder)",
    ],
}
GOOD["session_numbers_contiguous"] = GOOD["session_key_unique"]
GOOD["no_identifier_values"] = GOOD["session_key_unique"]

BAD = {
    "session_key_unique": "INSERT INTO staging.sessions VALUES ('C1', 'S1', 'ep_9', 1, 'P1', 'T1', 'e', NULL)",
    "session_numbers_contiguous": "INSERT INTO staging.sessions VALUES ('C1', 'S2', 'ep_1', 3, 'P1', 'T1', 'e', NULL)",
    "no_identifier_values": "INSERT INTO staging.sessions VALUES ('C1', 'S3', 'ep_3', 1, 'jo@example.org', 'T1', 'e', NULL)",
    "rom_rows_match_sessions": "INSERT INTO staging.rom VALUES ('C1', 'S1', 'ep_1', 'other-export')",
    "episode_counts_add_up": "INSERT INTO marts.condition_outcomes VALUES ('whiplash', 2)",
    "responders_are_pain_evaluable": "INSERT INTO marts.episode_outcomes VALUES (false, true, NULL)",
}


def _warehouse(statements: list[str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging; CREATE SCHEMA marts")
    for sql in statements:
        con.execute(sql)
    return con


def test_every_rule_has_fixtures() -> None:
    assert set(GOOD) == set(BAD) == set(RULES)


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_passes_on_good_data_and_fails_on_bad(name: str) -> None:
    con = _warehouse(GOOD[name])
    assert count_violations(con, RULES[name]) == 0
    con.execute(BAD[name])
    assert count_violations(con, RULES[name]) >= 1
