"""Export checksums without re-reading unchanged files: a run over hundreds of exports hashes only new ones.

An export's version is the sha256 of its data files and mapping profile
(:attr:`transforms.exports.ExportFolder.checksum`); at 10 million sessions that is 1.7 GB to read on
every run, most of it unchanged for years. Each checksum is recorded in ``ops.export_stamps`` with the
files' *stamp*: device, inode, size, modification and status-change times (nanoseconds) of every file.
A later run reuses the checksum when the stamp is identical. The status-change time (``ctime``) cannot
be set by a user or a copy tool (``touch``, ``cp -p`` and ``rsync -t`` set ``mtime`` only, and any
write, rename or restore updates ``ctime``), and a file copied elsewhere gets a new inode, so a
changed file never keeps its stamp. As git does for its index, a stamp whose files changed less than
:data:`SETTLE_SECONDS` before they were hashed is not trusted: a second write within the file system's
clock tick could leave the times unchanged, so such an export is hashed again until it has settled.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from pathlib import Path

import duckdb

from transforms.exports import ExportFolder

SETTLE_SECONDS = 2.0


def _file_stamp(path: Path) -> tuple[str, int]:
    st = path.stat()
    return f"{path.name}:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}", max(
        st.st_mtime_ns, st.st_ctime_ns)


def export_stamp(export: ExportFolder) -> tuple[str, int]:
    """(stamp, newest change in nanoseconds) of an export's data files and mapping profile."""
    parts, newest = [], 0
    files = [(kind, export.files[kind]) for kind in sorted(export.files)]
    if export.profile is not None:
        files.append((f"profile {export.profile_label}", export.profile))
    for kind, path in files:
        stamp, changed = _file_stamp(path)
        parts.append(f"{kind}={stamp}")
        newest = max(newest, changed)
    if export.profile_problem:
        parts.append(f"profile problem={export.profile_problem}")
    if export.unreadable:
        parts.append(f"unreadable={export.unreadable}")
    # kept as a digest: the file names (a profile's, say) are not the warehouse's to keep
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest(), newest


def export_checksums(con: duckdb.DuckDBPyConnection, exports: Iterable[ExportFolder]) -> dict[str, str]:
    """export -> checksum: the recorded one where the export's stamp is unchanged and settled, else computed
    (and recorded, in one statement). Needs ``ops.export_stamps``."""
    exports = list(exports)
    recorded = {export: (stamp, checksum) for export, stamp, checksum in con.execute(
        "SELECT export, stamp, checksum FROM ops.export_stamps WHERE export IN (SELECT unnest(?::VARCHAR[]))",
        [[e.name for e in exports]]).fetchall()}
    checksums: dict[str, str] = {}
    fresh: list[tuple[str, str, str]] = []
    for export in exports:
        stamp, newest = export_stamp(export)
        known_stamp, known_checksum = recorded.get(export.name, (None, None))
        if known_stamp == stamp:
            checksums[export.name] = known_checksum
            continue
        hashed_at = time.time_ns()
        checksums[export.name] = export.checksum
        if hashed_at - newest >= SETTLE_SECONDS * 1e9:
            fresh.append((export.name, stamp, checksums[export.name]))
    if fresh:
        con.execute("INSERT OR REPLACE INTO ops.export_stamps SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                    "unnest(?::VARCHAR[])", [[f[0] for f in fresh], [f[1] for f in fresh], [f[2] for f in fresh]])
    return checksums


def stamps_recorded(con: duckdb.DuckDBPyConnection, exports: Iterable[ExportFolder]) -> bool:
    """Whether every export's files still carry the stamp recorded when they were last hashed: nothing
    in the inbox changed since. A hint for starting work early (the validation helper), never a
    decision: the loader still checks every export. Needs ``ops.export_stamps``."""
    stamps = {e.name: export_stamp(e)[0] for e in exports}
    if not stamps:
        return False
    recorded = dict(con.execute(
        "SELECT export, stamp FROM ops.export_stamps WHERE export IN (SELECT unnest(?::VARCHAR[]))",
        [list(stamps)]).fetchall())
    return recorded == stamps
