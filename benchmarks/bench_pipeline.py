"""The pipeline against a bare DuckDB baseline, measured side by side: full run, new monthly export,
unchanged rerun, peak memory, and the incremental result compared with a from-scratch one.

    python benchmarks/generate_inbox.py --sessions 1000000 --clinics 12 --months 36 --start 2023-11 \\
        --corrections 40 --format csv --out build/bench/inbox-1m
    python benchmarks/bench_pipeline.py --inbox build/bench/inbox-1m --work build/bench/work-1m

Steps, each in its own process (wall time and peak resident memory from ``wait4``, so start-up is
included and each figure is that process's own):

1. the baseline (``benchmarks/baseline.py``) on the whole inbox;
2. ``outcomes run`` on the whole inbox, fresh warehouse: **full run**;
3. ``outcomes run`` on the inbox without its newest clinic-month export, fresh warehouse (the history);
4. that export added, ``outcomes run`` again: **new monthly export**;
5. ``outcomes run`` once more: **unchanged rerun**;
6. every staging, intermediate and marts table of (2) and (4) compared (row count and a sum of row
   hashes): the incremental warehouse must equal the from-scratch one.

Run by hand; the results go to the closing note and docs/benchmarks.md, not to tests.
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

ROOT = Path(__file__).resolve().parents[1]
BUILT = ("staging", "intermediate", "marts")


def _measure(cmd: list[str], env: dict[str, str], log: Path | None = None) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if log is not None:
        log.write_text(out)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def _run(inbox: Path, folder: Path, env: dict[str, str], log: str) -> dict[str, float]:
    """``outcomes run -v`` (each step's time in its output, kept in ``<work>/<log>.log``)."""
    cmd = [str(Path(sys.executable).with_name("outcomes")), "run", "-v", "--inbox", str(inbox),
           "--warehouse", str(folder / "warehouse.duckdb"), "--site", str(folder / "site"),
           "--restricted", str(folder / "restricted")]
    return _measure(cmd, env, folder.parent / f"{log}.log")


def table_digests(warehouse: Path) -> dict[str, tuple[int, int]]:
    """Every built table: (rows, sum of row hashes) -- order-independent, computed inside DuckDB."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [f"{s}.{t}" for s, t in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('staging', 'intermediate', "
            "'marts') AND NOT temporary ORDER BY 1, 2").fetchall()]
        return {t: tuple(con.execute(f"SELECT count(*), coalesce(sum(hash(x)), 0) FROM {t} x").fetchall()[0])
                for t in tables}


def main(argv: list[str] | None = None) -> int:
    """Run the steps of the module docstring and print the figures with their ratios to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inbox", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("build/bench/work"))
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--memory-limit", help="DuckDB's memory cap for the baseline and every run "
                        "(OUTCOMES_DUCKDB_MEMORY_LIMIT; default: the pipeline's default)")
    args = parser.parse_args(argv)
    inbox = args.inbox.resolve()
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTCOMES_")}
    env["DAGSTER_HOME"] = str(work / "dagster_home")
    if args.memory_limit:
        env["OUTCOMES_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    exports = sorted(p.name for p in inbox.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    monthly = [e for e in exports if "correction" not in e]
    newest = max(monthly, key=lambda e: (e.rsplit("-", 2)[-2:], e))  # the latest clinic-month
    history = work / "inbox-history"
    history.mkdir()
    for name in exports:
        if name != newest:
            (history / name).symlink_to(inbox / name)
    results: dict[str, dict[str, float]] = {}
    print(f"{len(exports)} exports; the new monthly export is {newest}", flush=True)
    print("baseline ...", flush=True)
    results["baseline"] = _measure([sys.executable, str(ROOT / "benchmarks" / "baseline.py"), "--inbox", str(inbox),
                                    "--work", str(work / "baseline")], env)
    print("full run ...", flush=True)
    results["full run"] = _run(inbox, work / "full", env, "full")
    print("history (everything but the newest export) ...", flush=True)
    results["history"] = _run(history, work / "incremental", env, "history")
    (history / newest).symlink_to(inbox / newest)
    print("new monthly export ...", flush=True)
    results["new monthly export"] = _run(history, work / "incremental", env, "monthly")
    print("unchanged rerun ...", flush=True)
    results["unchanged rerun"] = _run(history, work / "incremental", env, "unchanged")
    full, incremental = table_digests(work / "full" / "warehouse.duckdb"), table_digests(
        work / "incremental" / "warehouse.duckdb")
    differing = sorted(t for t in set(full) | set(incremental) if full.get(t) != incremental.get(t))
    base = results["baseline"]["wall_s"]
    print(f"\n{'step':<22}{'wall s':>9}{'x baseline':>12}{'peak MB':>10}")
    for name, r in results.items():
        print(f"{name:<22}{r['wall_s']:>9}{r['wall_s'] / base:>12.2f}{r['peak_rss_mb']:>10}")
    share = results["new monthly export"]["wall_s"] / results["full run"]["wall_s"]
    print(f"new monthly export = {share:.1%} of the full run")
    print(f"tables compared: {len(full)}; identical: {'yes' if not differing else 'NO: ' + ', '.join(differing)}")
    if args.json:
        args.json.write_text(json.dumps({"exports": len(exports), "newest": newest, "results": results,
                                         "monthly_share_of_full": share, "tables": len(full),
                                         "differing": differing}, indent=2))
    return 0 if not differing else 1


if __name__ == "__main__":
    raise SystemExit(main())
