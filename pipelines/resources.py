"""Dagster resources: the DuckDB warehouse (single writer) and the run's settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from transforms.config import Settings, load_settings
from transforms.warehouse import open_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Every connection holds the single-writer lock while open.

    ``path`` defaults to ``OUTCOMES_WAREHOUSE`` or ``build/warehouse.duckdb``.
    """

    path: str = str(load_settings().warehouse)
    lock_timeout_s: float = load_settings().lock_timeout_s
    memory_limit: str = load_settings().duckdb_memory_limit

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A locked read-write connection to the warehouse."""
        with open_warehouse(Path(self.path), timeout=self.lock_timeout_s, memory_limit=self.memory_limit) as con:
            yield con


class OutcomesSettings(dg.ConfigurableResource):
    """Folders of a run (inbox, published site, restricted outputs); thresholds come from ``OUTCOMES_*``."""

    inbox: str = str(load_settings().inbox)
    site: str = str(load_settings().site)
    restricted: str = str(load_settings().restricted)

    def settings(self, warehouse: WarehouseResource) -> Settings:
        """The typed settings of this run (environment thresholds plus these folders)."""
        return load_settings(
            inbox=self.inbox, site=self.site, restricted=self.restricted, warehouse=warehouse.path,
            lock_timeout_s=warehouse.lock_timeout_s, duckdb_memory_limit=warehouse.memory_limit,
        )
