"""Computation of the outcomes pipeline: plain functions and SQL over a DuckDB connection.

Nothing in this package imports Dagster; `pipelines/` wires these functions into assets.
"""
