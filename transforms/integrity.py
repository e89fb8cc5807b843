"""Integrity rules that must hold on staging after every rebuild (run as Dagster asset checks).

Each rule is a query counting the rows (or groups) that break it -- 0 means the rule holds -- and one
counting what it looked at, so that a result reads "3 of 12,000 sessions (0.03 %)".

The rules on staging are clinic-local (session keys, episodes and ROM rows belong to one clinic), so
they are also counted per clinic and kept in ``ops.integrity_by_clinic``: after a monthly export only
the clinics whose patients were restaged (marked by staging, :mod:`transforms.changes`) are counted
again, and the result is the sum over clinics -- the same numbers as the whole-table queries, which
the tests compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from transforms import changes, contract
from transforms.warehouse import transaction


@dataclass(frozen=True)
class IntegrityRule:
    """A named rule over staging with a query that counts violations."""

    name: str
    table: str
    description: str
    violations_sql: str
    checked_sql: str  # the denominator: how many rows (or groups) the rule looked at
    # (clinic_id, violations, checked) per clinic, for the clinics in the list $1 (NULL: every clinic)
    per_clinic_sql: str | None = None


_IN_SCOPE = "($1::VARCHAR[] IS NULL OR list_contains($1::VARCHAR[], clinic_id))"
# an episode's session numbers are not 1..n (over its group of staging rows)
_BROKEN_EPISODE = ("min(session_number) <> 1 OR max(session_number) <> count(*) "
                   "OR count(DISTINCT session_number) <> count(*)")
# a ROM row (alias r) without its staged session from the same export
_ORPHAN_ROM = ("NOT EXISTS (SELECT 1 FROM staging.sessions s WHERE s.clinic_id = r.clinic_id "
               "AND s.session_id = r.session_id AND s.export = r.export AND s.episode_key = r.episode_key)")


def _identifier_found() -> str:
    # The reader's own identifier rule (transforms.contract), applied to every id column of staging.
    return " OR ".join(
        f"{contract.identifier_kind_sql(c, dates=c in contract.DATE_CHECKED_COLUMNS)} IS NOT NULL"
        for c in contract.IDENTIFIER_VALUE_COLUMNS
    )


INTEGRITY_RULES: tuple[IntegrityRule, ...] = (
    IntegrityRule(
        "session_key_unique", "staging.sessions",
        "Each (clinic_id, session_id) appears once: later exports superseded earlier ones.",
        "SELECT count(*) FROM (SELECT clinic_id, session_id FROM staging.sessions GROUP BY ALL HAVING count(*) > 1)",
        "SELECT count(*) FROM staging.sessions",
        "SELECT clinic_id, count(*) FILTER (WHERE n > 1), sum(n) FROM (SELECT clinic_id, session_id, count(*) AS n "
        f"FROM staging.sessions WHERE {_IN_SCOPE} GROUP BY ALL) GROUP BY clinic_id",
    ),
    IntegrityRule(
        "session_numbers_contiguous", "staging.sessions",
        "Within every episode, session numbers run 1..n without gaps or repeats.",
        f"SELECT count(*) FROM (SELECT episode_key FROM staging.sessions GROUP BY episode_key HAVING {_BROKEN_EPISODE})",
        "SELECT count(DISTINCT episode_key) FROM staging.sessions",
        # episode keys are digests that include the clinic: an episode belongs to one clinic
        "SELECT clinic_id, count(*) FILTER (WHERE broken), count(*) FROM (SELECT clinic_id, episode_key, "
        f"{_BROKEN_EPISODE} AS broken FROM staging.sessions WHERE {_IN_SCOPE} GROUP BY clinic_id, episode_key) "
        "GROUP BY clinic_id",
    ),
    IntegrityRule(
        "no_identifier_values", "staging.sessions",
        "No id column (clinic, patient, therapist, session, episode) holds an e-mail address, phone number, SSN "
        "or run of 9+ digits, and no patient_id or therapist_id a date: the reader's rule, checked again.",
        f"SELECT count(*) FROM staging.sessions WHERE {_identifier_found()}",
        "SELECT count(*) FROM staging.sessions",
        f"SELECT clinic_id, count(*) FILTER (WHERE {_identifier_found()}), count(*) FROM staging.sessions "
        f"WHERE {_IN_SCOPE} GROUP BY clinic_id",
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
        f"SELECT count(*) FROM staging.rom r WHERE {_ORPHAN_ROM}",
        "SELECT count(*) FROM staging.rom",
        f"SELECT clinic_id, count(*) FILTER (WHERE {_ORPHAN_ROM}), count(*) FROM staging.rom r WHERE {_IN_SCOPE} "
        "GROUP BY clinic_id",
    ),
)


def count_violations(con: duckdb.DuckDBPyConnection, rule: IntegrityRule) -> int:
    """How many rows (or groups) break the rule."""
    return int(con.execute(rule.violations_sql).fetchall()[0][0])


def count_checked(con: duckdb.DuckDBPyConnection, rule: IntegrityRule) -> int:
    """How many rows (or groups) the rule looked at: the denominator of its result."""
    return int(con.execute(rule.checked_sql).fetchall()[0][0])


def clinic_target(rule: IntegrityRule) -> str:
    """The dirty-set target (:mod:`transforms.changes`) of a rule counted per clinic."""
    return f"integrity:{rule.name}"


PER_CLINIC_TARGETS: tuple[str, ...] = tuple(clinic_target(r) for r in INTEGRITY_RULES if r.per_clinic_sql)


def count_result(con: duckdb.DuckDBPyConnection, rule: IntegrityRule) -> tuple[int, int]:
    """(violations, checked) of a rule over its whole table.

    A rule counted per clinic counts again only the clinics staging marked (every clinic after a full
    rebuild, or when nothing is kept yet) and sums the kept counts; the others query the whole table.
    """
    if rule.per_clinic_sql is None:
        return count_violations(con, rule), count_checked(con, rule)
    target = clinic_target(rule)
    state, clinics = changes.pending_clinics(con, target)
    kept = con.execute("SELECT count(*) FROM ops.integrity_by_clinic WHERE rule = ?", [rule.name]).fetchall()[0][0]
    if state != changes.CLEAN or not kept:
        scope = clinics if state == changes.SCOPED and kept else None
        with transaction(con):
            con.execute("DELETE FROM ops.integrity_by_clinic WHERE rule = $2 AND ($1::VARCHAR[] IS NULL "
                        "OR list_contains($1::VARCHAR[], clinic_id))", [scope, rule.name])
            con.execute(f"INSERT INTO ops.integrity_by_clinic SELECT $2, * FROM ({rule.per_clinic_sql})",
                        [scope, rule.name])
            changes.clear(con, target)
    violations, checked = con.execute(
        "SELECT coalesce(sum(violations), 0), coalesce(sum(checked), 0) FROM ops.integrity_by_clinic WHERE rule = ?",
        [rule.name]).fetchall()[0]
    return int(violations), int(checked)
