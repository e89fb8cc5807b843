"""Storage faults: a read-only warehouse folder and a full disk each end in one clear line and a consistent warehouse.

Permission bits do not stop root, so as root the read-only folder is a read-only bind mount in a
private mount namespace; the full disk is a small tmpfs mounted the same way (unprivileged where
the kernel allows user namespaces). Where neither can be made, the test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.faults.harness import (
    OUTCOMES,
    ROOT,
    Layout,
    clean_env,
    data_tables,
    private_mounts,
)


def _run_read_only(layout: Layout) -> subprocess.CompletedProcess:
    folder = layout.warehouse.parent
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return subprocess.run([OUTCOMES, *layout.args()], capture_output=True, text=True, cwd=ROOT,
                                  env=clean_env(), timeout=300)
        finally:
            folder.chmod(0o755)
    prefix = private_mounts()
    if prefix is None:
        pytest.skip("running as root without mount namespaces: permission bits do not stop root and no "
                    "read-only mount can be made")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run([*prefix, "sh", "-c", script, "sh", str(folder), OUTCOMES, *layout.args()],
                          capture_output=True, text=True, cwd=ROOT, env=clean_env(), timeout=300)


def test_a_read_only_warehouse_folder_is_one_line_and_changes_nothing(tmp_path, clean_build) -> None:
    layout = clean_build.copy(tmp_path)
    done = _run_read_only(layout)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"outcomes: cannot write the warehouse folder {layout.warehouse.parent}: ")
    assert "read-only" in line
    assert data_tables(layout.warehouse) == clean_build.tables


def test_a_full_disk_during_staging_is_one_line_and_the_next_run_recovers(tmp_path, clean_build) -> None:
    """The warehouse folder is a 64 MB tmpfs, filled while a rerun is paused in staging."""
    prefix = private_mounts()
    if prefix is None:
        pytest.skip("no small file system can be made here: mounting a tmpfs needs a private mount namespace "
                    "(unshare), which this machine does not allow")
    built = clean_build.copy(tmp_path / "built")
    layout = Layout(built.inbox, tmp_path / "small" / "warehouse.duckdb", built.site, built.restricted)
    args = {"inbox": str(layout.inbox), "warehouse": str(layout.warehouse), "site": str(layout.site),
            "restricted": str(layout.restricted), "copy_from": str(built.warehouse.parent)}
    layout.warehouse.parent.mkdir()
    done = subprocess.run([*prefix, sys.executable, "-m", "tests.faults.full_disk_scenario", json.dumps(args)],
                          capture_output=True, text=True, cwd=ROOT, env=clean_env(), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["full"]["code"] == 2, result["full"]
    (line,) = result["full"]["err"]
    assert line == (f"outcomes: building tables failed in step staging_tables: the disk is full: cannot write "
                    f"{layout.warehouse}.wal")
    assert result["after_full"] == {"opens": True, "whole": True, "same": True}
    assert result["next"] == 0
    assert result["tables"] == json.loads(json.dumps(clean_build.tables, default=str))
