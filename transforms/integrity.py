"""Integrity rules that must hold on staging after every rebuild (run as Dagster asset checks).

Each rule is a query counting the rows (or groups) that break it -- 0 means the rule holds -- and one
counting what it looked at, so that a result reads "3 of 12,000 sessions (0.03 %)".
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from transforms import contract


@dataclass(frozen=True)
class IntegrityRule:
    """A named rule over staging with a query that counts violations."""

    name: str
    table: str
    description: str
    violations_sql: str
    checked_sql: str  # the denominator: how many rows (or groups) the rule looked at


def _identifier_sql() -> str:
    # The reader's own identifier rule (transforms.contract), applied to every id column of staging.
    found = " OR ".join(
        f"{contract.identifier_kind_sql(c, dates=c in contract.DATE_CHECKED_COLUMNS)} IS NOT NULL"
        for c in contract.IDENTIFIER_VALUE_COLUMNS
    )
    return f"SELECT count(*) FROM staging.sessions WHERE {found}"


INTEGRITY_RULES: tuple[IntegrityRule, ...] = (
    IntegrityRule(
        "session_key_unique", "staging.sessions",
        "Each (clinic_id, session_id) appears once: later exports superseded earlier ones.",
        "SELECT count(*) FROM (SELECT clinic_id, session_id FROM staging.sessions GROUP BY ALL HAVING count(*) > 1)",
        "SELECT count(*) FROM staging.sessions",
    ),
    IntegrityRule(
        "session_numbers_contiguous", "staging.sessions",
        "Within every episode, session numbers run 1..n without gaps or repeats.",
        "SELECT count(*) FROM (SELECT episode_key FROM staging.sessions GROUP BY episode_key "
        "HAVING min(session_number) <> 1 OR max(session_number) <> count(*) OR count(DISTINCT session_number) <> count(*))",
        "SELECT count(DISTINCT episode_key) FROM staging.sessions",
    ),
    IntegrityRule(
        "no_identifier_values", "staging.sessions",
        "No id column (clinic, patient, therapist, session, episode) holds an e-mail address, phone number, SSN "
        "or run of 9+ digits, and no patient_id or therapist_id a date: the reader's rule, checked again.",
        _identifier_sql(),
        "SELECT count(*) FROM staging.sessions",
    ),
    IntegrityRule(
        "episode_counts_add_up", "marts.condition_outcomes",
        "The episodes of the condition groups add up to the 'all' row (every episode has exactly one group).",
        "SELECT count(*) FROM (SELECT sum(n_episodes) FILTER (WHERE condition_group <> 'all') AS parts, "
        "max(n_episodes) FILTER (WHERE condition_group = 'all') AS total FROM marts.condition_outcomes) "
        "WHERE coalesce(parts, 0) <> coalesce(total, 0)",
        "SELECT 1",
    ),
    IntegrityRule(
        "responders_are_pain_evaluable", "marts.episode_outcomes",
        "Responders and substantial responders are pain-evaluable; substantial responders are responders.",
        "SELECT count(*) FROM marts.episode_outcomes WHERE (responder AND NOT pain_evaluable) "
        "OR (substantial_responder AND NOT coalesce(responder, false))",
        "SELECT count(*) FROM marts.episode_outcomes",
    ),
    IntegrityRule(
        "rom_rows_match_sessions", "staging.rom",
        "Every ROM row belongs to a staged session from the same export.",
        "SELECT count(*) FROM staging.rom r WHERE NOT EXISTS (SELECT 1 FROM staging.sessions s "
        "WHERE s.clinic_id = r.clinic_id AND s.session_id = r.session_id AND s.export = r.export "
        "AND s.episode_key = r.episode_key)",
        "SELECT count(*) FROM staging.rom",
    ),
)


def count_violations(con: duckdb.DuckDBPyConnection, rule: IntegrityRule) -> int:
    """How many rows (or groups) break the rule."""
    return int(con.execute(rule.violations_sql).fetchall()[0][0])


def count_checked(con: duckdb.DuckDBPyConnection, rule: IntegrityRule) -> int:
    """How many rows (or groups) the rule looked at: the denominator of its result."""
    return int(con.execute(rule.checked_sql).fetchall()[0][0])
