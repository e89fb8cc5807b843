"""The persistent Dagster instance that `outcomes run` and `dagster dev` share.

`outcomes run` records its runs, asset materializations and check results in the instance at
``DAGSTER_HOME`` (the README's ``$PWD/dagster_home`` when the variable is not set), so `dagster dev`
shows them. The folder is created on first use with :data:`INSTANCE_YAML`, the same settings as the
repository's ``dagster_home/dagster.yaml``: runs are queued one at a time (DuckDB allows one writer
per file) and telemetry is off.
"""

from __future__ import annotations

import os
from pathlib import Path

INSTANCE_YAML = """\
# Instance settings of the outcomes pipeline (`dagster dev -m pipelines` with DAGSTER_HOME=$PWD/dagster_home,
# and `outcomes run`, which creates this file when the folder is new).
# DuckDB allows one writer per file: runs are queued and executed one at a time, each in one process.
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""
DEFAULT_HOME = Path("dagster_home")


def dagster_home() -> Path:
    """The instance folder: ``DAGSTER_HOME`` when set, else ``./dagster_home`` (absolute)."""
    home = os.environ.get("DAGSTER_HOME")
    return Path(home).expanduser().resolve() if home else DEFAULT_HOME.resolve()


def ensure_instance_folder(home: Path) -> Path:
    """Create the instance folder and its ``dagster.yaml`` when missing (an existing one is kept)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML, encoding="utf-8")
    return home


def persistent_instance():
    """The Dagster instance at :func:`dagster_home` (created on first use)."""
    import dagster as dg

    home = ensure_instance_folder(dagster_home())
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()
