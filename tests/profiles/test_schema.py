"""Warehouses made before profiles existed get the new columns, and keep their rows."""

from __future__ import annotations

from pathlib import Path

import duckdb

from transforms.loading import ensure_schema

OLD_LOG = """
CREATE SCHEMA ops; CREATE SCHEMA quarantine;
CREATE TABLE ops.load_log (run_id VARCHAR NOT NULL, export VARCHAR NOT NULL, status VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, rows_in BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, checksum VARCHAR,
    loaded_at TIMESTAMP NOT NULL, warnings VARCHAR, public_reason VARCHAR, patients_in BIGINT);
CREATE TABLE quarantine.rejected_rows (export VARCHAR NOT NULL, file VARCHAR NOT NULL, row_number BIGINT NOT NULL,
    session_id VARCHAR, rule VARCHAR NOT NULL, column_name VARCHAR, value VARCHAR);
INSERT INTO ops.load_log VALUES ('r', 'a', 'loaded', 'loaded 1 of 1 rows', 1, 1, 0, 'c', TIMESTAMP '2026-05-01', NULL,
    'loaded', 1);
INSERT INTO quarantine.rejected_rows VALUES ('a', 'sessions', 2, 'S2', 'out_of_range', 'pain_pre', '11');
"""


def test_an_older_warehouse_gets_the_profile_and_original_value_columns(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(OLD_LOG)
        ensure_schema(con)
        ensure_schema(con)  # idempotent
        assert con.execute("SELECT profile, profile_checksum, public_reason FROM ops.load_log").fetchall() == [
            (None, None, "loaded")]
        assert con.execute("SELECT value, original_value FROM quarantine.rejected_rows").fetchall() == [("11", None)]
