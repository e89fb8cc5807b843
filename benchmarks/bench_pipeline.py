"""Time the pipeline stage by stage on an inbox, with each stage's peak memory.

Each stage runs in its own child process (so its peak resident memory is its own, read from
``wait4``), materializing the same Dagster assets `outcomes run` does, against one warehouse:

    load      raw/exports, every partition (read, Great Expectations, load)
    staging   staging/sessions, staging/rom and their checks
    marts     every marts/* asset
    site      every site/* asset

then `outcomes run` end to end on a fresh warehouse, and once more unchanged.

    python benchmarks/generate_inbox.py --sessions 1000000 --out build/bench/inbox-1m
    python benchmarks/bench_pipeline.py --inbox build/bench/inbox-1m

Run by hand; results go to the closing note, not to tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("load", "staging", "marts", "site")


def _child(stage: str, inbox: str, work: str) -> None:
    """Materialize one stage in this process (runs in the child)."""
    import dagster as dg

    from pipelines.assets import RAW_EXPORTS
    from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, resources
    from transforms.exports import discover_exports

    res = resources(
        warehouse=f"{work}/warehouse.duckdb", inbox=inbox, site=f"{work}/site", restricted=f"{work}/restricted"
    )
    instance = dg.DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    if stage == "load":
        names = [e.name for e in discover_exports(Path(inbox))]
        instance.add_dynamic_partitions("exports", names)
        result = dg.materialize(
            ALL_ASSETS, selection=[RAW_EXPORTS], instance=instance, resources=res, run_config=quiet,
            tags={"dagster/asset_partition_range_start": names[0], "dagster/asset_partition_range_end": names[-1]},
        )
    else:
        selection = dg.AssetSelection.groups(stage)
        result = dg.materialize([*ALL_ASSETS, *ALL_CHECKS], selection=selection, instance=instance, resources=res,
                                run_config=quiet)
    if not result.success:
        raise SystemExit(f"stage {stage} failed")


def _measure(cmd: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    """Run every stage on the inbox and print a table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inbox", required=True)
    parser.add_argument("--work", default="build/bench/work", help="folder for the benchmark's warehouse and site")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        _child(args.stage, args.inbox, args.work)
        return

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        print(f"stage {stage} ...", flush=True)
        results[stage] = _measure([sys.executable, __file__, "--inbox", args.inbox, "--work", str(work), "--stage", stage])
        print(f"  {results[stage]}", flush=True)
    e2e = work / "e2e"
    cli = [
        sys.executable, "-m", "pipelines.cli", "run", "--inbox", args.inbox, "--warehouse", str(e2e / "warehouse.duckdb"),
        "--site", str(e2e / "site"), "--restricted", str(e2e / "restricted"),
    ]
    print("outcomes run (fresh warehouse) ...", flush=True)
    results["outcomes run, fresh"] = _measure(cli)
    print("outcomes run (again, nothing changed) ...", flush=True)
    results["outcomes run, unchanged"] = _measure(cli)
    sessions = subprocess.run(
        [sys.executable, "-c", "import duckdb,sys; print(duckdb.connect(sys.argv[1], read_only=True)"
         ".execute('select count(*) from staging.sessions').fetchall()[0][0])", str(work / "warehouse.duckdb")],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    print(f"\nsessions staged: {sessions}")
    print(f"{'stage':<28}{'wall s':>10}{'peak RSS MB':>14}")
    for name, r in results.items():
        print(f"{name:<28}{r['wall_s']:>10}{r['peak_rss_mb']:>14}")
    if args.json:
        Path(args.json).write_text(json.dumps({"sessions": int(sessions), **results}, indent=2))


if __name__ == "__main__":
    main()
