"""The dynamic partitions of the pipeline: one partition per export folder of the inbox."""

from __future__ import annotations

import dagster as dg

exports_partitions = dg.DynamicPartitionsDefinition(name="exports")

# Every asset that writes the warehouse runs in this pool; the project's dagster.yaml limits it to one
# step at a time across runs (DuckDB allows one writer per file). The file lock in
# transforms.warehouse enforces the same rule for any other executor or process.
WAREHOUSE_POOL = "duckdb_warehouse"
