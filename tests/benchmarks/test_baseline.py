"""The benchmark baseline does the pipeline's work: on the sample it builds the same tables.

Every benchmark figure is a ratio to ``benchmarks/baseline.py``; the ratio means something only
while the baseline computes what the pipeline computes. Its staging, intermediate and marts tables
are compared with the session's `outcomes run` of the same inbox (row counts and row-hash sums).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_baseline_builds_the_tables_of_a_pipeline_run(sample_build: Path, tmp_path: Path) -> None:
    baseline, bench = _script("baseline"), _script("bench_pipeline")
    result = baseline.run(REPO / "data" / "sample", tmp_path)
    assert result["sessions"] > 3000 and set(result["phases"]) >= {"read", "row rules", "staging", "marts"}
    ours = bench.table_digests(tmp_path / "baseline.duckdb")
    pipeline = bench.table_digests(sample_build / "warehouse.duckdb")
    assert len(pipeline) > 20
    assert {t: ours.get(t) for t in pipeline} == pipeline
