"""Every integrity rule (a Dagster asset check) holds on good data and catches a broken table."""

from __future__ import annotations

import duckdb
import pytest

from transforms import changes
from transforms.integrity import INTEGRITY_RULES, clinic_target, count_checked, count_result, count_violations
from transforms.loading import SCHEMA_SQL

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


PER_CLINIC = sorted(name for name, rule in RULES.items() if rule.per_clinic_sql)


def _with_ops(statements: list[str]) -> duckdb.DuckDBPyConnection:
    con = _warehouse(statements)
    con.execute(SCHEMA_SQL.read_text())
    return con


def test_the_staging_rules_are_counted_per_clinic() -> None:
    assert PER_CLINIC == ["no_identifier_values", "rom_rows_match_sessions", "session_key_unique",
                          "session_numbers_contiguous"]


@pytest.mark.parametrize("name", PER_CLINIC)
def test_per_clinic_counts_add_up_to_the_whole_table(name: str) -> None:
    rule = RULES[name]
    con = _with_ops(GOOD[name])
    for broken in (False, True):
        if broken:
            con.execute(BAD[name])
        changes.mark_full(con, [clinic_target(rule)])
        whole = (count_violations(con, rule), count_checked(con, rule))
        assert count_result(con, rule) == whole
        assert whole[0] == (1 if broken else 0) and whole[1] >= 1


def test_only_the_marked_clinics_are_counted_again() -> None:
    rule = RULES["no_identifier_values"]
    con = _with_ops(GOOD["no_identifier_values"])
    assert count_result(con, rule) == (0, 2)  # nothing kept yet: every clinic
    con.execute(BAD["no_identifier_values"])  # a row of clinic C1
    con.execute("INSERT INTO staging.sessions VALUES ('C2', 'S7', 'ep_7', 1, '555-123-4567', 'T1', 'e', NULL)")
    assert count_result(con, rule) == (0, 2)  # staging marked nothing: the kept counts stand
    con.execute("CREATE TEMP TABLE _patients AS SELECT 'C2' AS clinic_id")
    changes.mark_clinics(con, [clinic_target(rule)], "_patients")
    assert count_result(con, rule) == (1, 3)  # clinic C2 counted again, C1 as kept
    assert con.execute("SELECT count(*) FROM ops.dirty").fetchall()[0][0] == 0
    changes.mark_full(con, [clinic_target(rule)])
    assert count_result(con, rule) == (2, 4) == (count_violations(con, rule), count_checked(con, rule))
