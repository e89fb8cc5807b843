"""Dagster resources: the DuckDB warehouse (single writer) and the run's settings.

Nothing here reads or validates settings at import time: a bad ``OUTCOMES_*`` variable must not
break ``outcomes --help`` or loading the definitions. It fails the run that uses it, in one line
(:class:`transforms.config.SettingsError`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import dagster as dg
import duckdb

from pipelines.fault_hooks import pausing
from transforms.config import ENV_PREFIX, Settings, load_settings
from transforms.restricted import make_private, private_dir
from transforms.warehouse import open_warehouse


def _env_path(name: str) -> str:
    # A folder's default: its environment variable, else the built-in default (read, never validated, here).
    return os.environ.get(ENV_PREFIX + name.upper()) or str(getattr(Settings(), name))


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Every connection holds the single-writer lock while open.

    ``path`` defaults to ``OUTCOMES_WAREHOUSE`` or ``build/warehouse.duckdb``; the lock timeout and
    DuckDB's memory limit default to their settings. Inside ``outcomes run``, which holds the lock
    from its first read to its last page, connections reuse the run's lock
    (:func:`transforms.warehouse.warehouse_lock` is re-entrant within a process).
    """

    path: str = _env_path("warehouse")
    lock_timeout_s: float | None = None
    memory_limit: str = ""

    def warehouse_settings(self) -> Settings:
        """The settings in force for this warehouse (environment plus this resource's values)."""
        return load_settings(
            warehouse=self.path or None, lock_timeout_s=self.lock_timeout_s, duckdb_memory_limit=self.memory_limit or None
        )

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A locked read-write connection to the warehouse."""
        settings = self.warehouse_settings()
        with open_warehouse(
            settings.warehouse, timeout=settings.lock_timeout_s, memory_limit=settings.duckdb_memory_limit
        ) as con:
            yield pausing(con)


class OutcomesSettings(dg.ConfigurableResource):
    """Folders of a run (inbox, published site, restricted outputs); thresholds come from ``OUTCOMES_*``."""

    inbox: str = _env_path("inbox")
    site: str = _env_path("site")
    restricted: str = _env_path("restricted")

    def settings(self, warehouse: WarehouseResource) -> Settings:
        """The typed, validated settings of this run (environment thresholds plus these folders).

        Every step asks for them first, so this is also where the restricted folder is made
        owner-only (0700, its files 0600) for steps that run outside ``outcomes run`` (``dagster
        dev``): a file an earlier step left there with wider modes is tightened before the next step.
        """
        settings = load_settings(
            inbox=self.inbox or None, site=self.site or None, restricted=self.restricted or None,
            warehouse=warehouse.path or None, lock_timeout_s=warehouse.lock_timeout_s,
            duckdb_memory_limit=warehouse.memory_limit or None,
        )
        with suppress(OSError):  # a folder that cannot be created fails the step that writes it, clearly
            private_dir(settings.restricted)
            make_private(settings.restricted)
        return settings
