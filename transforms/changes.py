"""What changed since the last build, and what is still to rebuild (incremental runs).

A run rebuilds only what its new, replaced or superseding exports touch:

- **Full or incremental.** The *fingerprint* of a build is a hash of the settings in force, the
  reference tables in force and the pipeline's code (SQL models, Python, shipped reference CSVs,
  version). When it differs from the last build's (``ops.build_state``), or staging does not exist
  yet, everything is rebuilt; otherwise only what the changed exports touch.
- **Changed exports** are the export versions in ``ops.exports`` that staging does not reflect yet
  (``ops.staged_exports``): new exports, replaced versions, and (through superseded sessions)
  corrections of other exports' sessions.
- **Dirty set.** ``ops.dirty`` lists, per target (a mart model, a page, a restricted output), the
  episodes still to rebuild, or a row with no episode for "rebuild it all". Staging adds to it; a
  target removes its own rows in the same transaction as its rebuild, so a run that fails half way
  leaves exactly the unfinished work for the next run. A target made of per-clinic parts (the audit
  packets) is marked per clinic instead: a row ``<target>@<clinic_id>`` with no episode (a patient
  belongs to one clinic, so the clinics of the restaged patients are the clinics whose part changed).

Episode-level tables are rebuilt for the dirty episodes (their sessions are whole patients, so a
patient-day or a derived episode is never cut); aggregate tables are recomputed from the
episode-level tables. The result is the same as a rebuild from scratch (tested table for table).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from transforms.config import Settings
from transforms.reference import REFERENCE_TABLES, reference_path
from transforms.runs import pipeline_version, settings_in_force
from transforms.sqlmodels import create_table
from transforms.staging import build_staging, rebuild_staging_for

FULL = "full"
SCOPED = "scoped"
CLEAN = "clean"
CODE_ROOT = Path(__file__).resolve().parent
SCOPE_KEYS = "_scope_keys"


def code_fingerprint() -> str:
    """A hash of the pipeline's own code: every SQL model, Python module and shipped reference table."""
    digest = hashlib.sha256(pipeline_version()[0].encode())
    for path in sorted([*CODE_ROOT.rglob("*.py"), *CODE_ROOT.rglob("*.sql"), *CODE_ROOT.rglob("*.csv")]):
        digest.update(str(path.relative_to(CODE_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(settings: Settings) -> str:
    """The build's fingerprint: settings in force, reference tables in force and code (see the module doc)."""
    digest = hashlib.sha256(json.dumps(settings_in_force(settings, public=True), sort_keys=True).encode())
    for table in sorted(REFERENCE_TABLES):
        digest.update(table.encode())
        digest.update(reference_path(table, settings.reference_dir).read_bytes())
    digest.update(code_fingerprint().encode())
    return digest.hexdigest()


def _state(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = con.execute("SELECT value FROM ops.build_state WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None


def _staging_exists(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'staging' "
                            "AND table_name IN ('sessions', 'rom') AND NOT temporary").fetchall()[0][0] == 2)


# --- the dirty set -------------------------------------------------------------------------------------


def mark_full(con: duckdb.DuckDBPyConnection, targets: Iterable[str]) -> None:
    """Ask for a full rebuild of each target (its episode rows are then redundant)."""
    for target in targets:
        con.execute("DELETE FROM ops.dirty WHERE target = ?", [target])
        con.execute("INSERT INTO ops.dirty VALUES (?, NULL)", [target])


def _temp_table(name: str, what: str) -> str:
    """A temporary table's name, checked before it is written into SQL (letters, digits and ``_`` only)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"bad {what} table {name!r}")
    return name


def mark_episodes(con: duckdb.DuckDBPyConnection, targets: Iterable[str], keys: str) -> None:
    """Ask for a rebuild of the episodes in the table ``keys`` (column ``episode_key``) for each target."""
    keys = _temp_table(keys, "keys")
    for target in targets:
        con.execute(
            f"INSERT INTO ops.dirty SELECT DISTINCT ?, episode_key FROM {keys} WHERE episode_key NOT IN "
            "(SELECT episode_key FROM ops.dirty WHERE target = ? AND episode_key IS NOT NULL)",
            [target, target],
        )


def _clinic_prefix(target: str) -> str:
    return f"{target}@"


def mark_clinics(con: duckdb.DuckDBPyConnection, targets: Iterable[str], patients: str) -> None:
    """Ask for a rebuild of each target's parts of the clinics in the table ``patients`` (column ``clinic_id``)."""
    patients = _temp_table(patients, "patients")
    for prefix in map(_clinic_prefix, targets):
        con.execute(f"INSERT INTO ops.dirty SELECT DISTINCT ? || clinic_id, NULL FROM {patients} "
                    "WHERE ? || clinic_id NOT IN (SELECT target FROM ops.dirty)", [prefix, prefix])


def pending_clinics(con: duckdb.DuckDBPyConnection, target: str) -> tuple[str, list[str]]:
    """For a target marked per clinic: (``full``, []) when it is due in full, (``scoped``, the clinics whose
    parts are due) or (``clean``, [])."""
    if pending(con, target) == FULL:
        return FULL, []
    prefix = _clinic_prefix(target)
    clinics = [t[len(prefix):] for (t,) in con.execute(
        "SELECT DISTINCT target FROM ops.dirty WHERE starts_with(target, ?) ORDER BY target", [prefix]).fetchall()]
    return (SCOPED, clinics) if clinics else (CLEAN, [])


def pending(con: duckdb.DuckDBPyConnection, target: str) -> str:
    """``full``, ``scoped`` (some episodes) or ``clean`` for one target."""
    full, scoped = con.execute(
        "SELECT count(*) FILTER (WHERE episode_key IS NULL), count(*) FILTER (WHERE episode_key IS NOT NULL) "
        "FROM ops.dirty WHERE target = ?", [target]).fetchall()[0]
    return FULL if full else SCOPED if scoped else CLEAN


def load_scope(con: duckdb.DuckDBPyConnection, target: str) -> int:
    """Put a target's dirty episodes into the temporary table ``_scope_keys``; returns how many."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SCOPE_KEYS} AS SELECT DISTINCT episode_key FROM ops.dirty "
                "WHERE target = ? AND episode_key IS NOT NULL", [target])
    return con.execute(f"SELECT count(*) FROM {SCOPE_KEYS}").fetchall()[0][0]


def clear(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """The target is up to date: forget its dirty rows, its per-clinic ones included (call inside the
    rebuild's transaction)."""
    con.execute("DELETE FROM ops.dirty WHERE target = ? OR starts_with(target, ?)", [target, _clinic_prefix(target)])


def anything_pending(con: duckdb.DuckDBPyConnection, settings: Settings) -> bool:
    """Whether a run has work beyond loading: a changed fingerprint, unstaged exports, or dirty targets."""
    if not _staging_exists(con) or _state(con, "fingerprint") != fingerprint(settings):
        return True
    if con.execute("SELECT count(*) FROM ops.dirty").fetchall()[0][0]:
        return True
    return bool(_changed_exports(con))


def _changed_exports(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [e for (e,) in con.execute(
        "SELECT e.export FROM ops.exports e LEFT JOIN ops.staged_exports s USING (export) "
        "WHERE s.checksum IS DISTINCT FROM e.checksum ORDER BY e.seq").fetchall()]


# --- staging -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagingChange:
    """What a staging step did: ``full``, ``scoped`` (for some patients) or ``clean`` (nothing to do)."""

    action: str
    exports: tuple[str, ...] = ()
    patients: int = 0
    episodes: int = 0
    sessions: int | None = None
    rom: int | None = None


def stage(
    con: duckdb.DuckDBPyConnection, settings: Settings, episode_targets: Iterable[str], other_targets: Iterable[str],
    force_full: bool = False, clinic_targets: Iterable[str] = (),
) -> StagingChange:
    """Bring staging up to date with the loaded exports and record what the marts must rebuild.

    A full rebuild (first run, changed fingerprint, or ``force_full``) marks every target for a full
    rebuild; otherwise the changed exports' affected patients are restaged and their episodes (before
    and after) marked for the ``episode_targets``, their clinics for the ``clinic_targets`` (outputs in
    per-clinic parts), while ``other_targets`` (aggregates, pages, restricted outputs) are marked in
    full. Nothing changed: nothing is done.
    """
    episode_targets, other_targets = list(episode_targets), list(other_targets)
    clinic_targets = list(clinic_targets)
    previous = _state(con, "fingerprint")
    current = fingerprint(settings)
    if force_full or not _staging_exists(con) or previous != current:
        counts = build_staging(con, settings)
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM ops.staged_exports")
        con.execute("INSERT INTO ops.staged_exports SELECT export, checksum FROM ops.exports")
        mark_full(con, [*episode_targets, *other_targets, *clinic_targets])
        con.execute("INSERT OR REPLACE INTO ops.build_state VALUES ('fingerprint', ?)", [current])
        con.execute("COMMIT")
        return StagingChange(FULL, sessions=counts["staging.sessions"], rom=counts["staging.rom"])
    changed = _changed_exports(con)
    if not changed:
        return StagingChange(CLEAN)
    con.execute("CREATE OR REPLACE TEMP TABLE _changed_exports (export VARCHAR)")
    con.executemany("INSERT INTO _changed_exports VALUES (?)", [[e] for e in changed])
    create_table(con, "_affected_patients", "staging/affected_patients", changed="_changed_exports")

    def record(con: duckdb.DuckDBPyConnection) -> None:
        # In the restaging's own transaction: a run that stops between the two would otherwise leave
        # staging rebuilt without the marks, and the next run would no longer know the old episode keys.
        mark_episodes(con, episode_targets, "_scope_episodes")
        mark_clinics(con, clinic_targets, "_affected_patients")
        mark_full(con, other_targets)
        con.execute("DELETE FROM ops.staged_exports WHERE export IN (SELECT export FROM _changed_exports)")
        con.execute("INSERT INTO ops.staged_exports SELECT export, checksum FROM ops.exports "
                    "WHERE export IN (SELECT export FROM _changed_exports)")

    patients, sessions = rebuild_staging_for(con, settings, "_affected_patients", before_commit=record)
    episodes = con.execute("SELECT count(*) FROM _scope_episodes").fetchall()[0][0]
    for temp in ("_changed_exports", "_affected_patients", "_scope_episodes"):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return StagingChange(SCOPED, tuple(changed), patients, episodes, sessions)
