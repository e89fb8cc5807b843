"""Monthly runs on copies of a built warehouse: the quick before/after measure at 10M sessions.

A whole ``bench_pipeline.py`` run at 10M sessions takes about 50 minutes, and the VM's speed drifts
within that time. This script reuses what such a run leaves in its work folder (``incremental/``:
warehouse, site and restricted folder after the monthly export; ``dagster_home/``;
``inbox-history/``: links to every export) and measures only a monthly run on top of it:

1. a next-month export is made from the newest clinic-month export: the same patients (their
   episodes continue), dates moved one month on, new session ids (``--name``, default
   ``<clinic>-<next month>``; CSV exports only);
2. for each run: a fresh copy of the warehouse and folders, an inbox of links to every export plus
   the new one, the copy given the fingerprint of the code being measured (so the run stays
   incremental), then ``outcomes run -v``: wall time and peak memory, and the slowest steps.

``--code`` runs another checkout's code (``PYTHONPATH``), so runs of the old and new code can be
interleaved (``--code`` once with the old checkout, once without) and compared close together:

    python benchmarks/bench_monthly.py --work build/bench/work-10m --runs 2
    python benchmarks/bench_monthly.py --work build/bench/work-10m --runs 2 --code ../checkout-before

Run by hand; the results go to the closing note and docs/benchmarks.md, not to tests.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import _measure  # a script beside this one (benchmarks is not a package)

STEP = re.compile(r'Finished execution of step "([^"]+)" in (?:(\d+)m)?([0-9.]+)(ms|s)\.')
CLINIC_MONTH = re.compile(r"^(?P<clinic>.+)-(?P<year>\d{4})-(?P<month>\d{2})$")


def next_month(day: date) -> date:
    """The same day one month on, or the month's last day when it has fewer days (31 January -> 28/29 February)."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_month_export(source: Path, target: Path, id_prefix: str = "n") -> int:
    """Write ``target`` from the CSV export ``source``: every session one month later with ``id_prefix`` before
    its session id (ROM rows follow their sessions). Returns the number of sessions written."""
    if not (source / "sessions.csv").exists():
        raise SystemExit(f"{source} has no sessions.csv: only CSV exports can be moved a month on")
    target.mkdir(parents=True)
    written = 0
    for name in ("sessions.csv", "rom.csv"):
        path = source / name
        if not path.exists():
            continue
        with open(path, newline="", encoding="utf-8") as fh, open(target / name, "w", newline="", encoding="utf-8") as out:
            reader = csv.DictReader(fh)
            writer = csv.DictWriter(out, fieldnames=list(reader.fieldnames or ()))
            writer.writeheader()
            for row in reader:
                row["session_id"] = id_prefix + row["session_id"]
                if "session_date" in row:
                    row["session_date"] = next_month(date.fromisoformat(row["session_date"])).isoformat()
                    written += 1
                writer.writerow(row)
    return written


def _newest_export(inbox: Path) -> tuple[Path, str]:
    """The newest clinic-month export (correction exports left out) and the next month's folder name."""
    months = []
    for path in inbox.iterdir():
        match = CLINIC_MONTH.match(path.name)
        if match and path.is_dir():
            months.append(((int(match["year"]), int(match["month"])), path.name, match["clinic"], path))
    if not months:
        raise SystemExit(f"no <clinic>-<yyyy>-<mm> export in {inbox}")
    (year, month), _, clinic, path = max(months)
    following = next_month(date(year, month, 1))
    return path.resolve(), f"{clinic}-{following:%Y-%m}"


def _set_fingerprint(folder: Path, inbox: Path, env: dict[str, str]) -> None:
    """Give the copied warehouse the fingerprint of the code that will run (that code's own function)."""
    script = (
        "import sys, duckdb; from transforms.config import load_settings; from transforms.changes import fingerprint\n"
        "w, i, s, r = sys.argv[1:5]\n"
        "settings = load_settings(warehouse=w, inbox=i, site=s, restricted=r)\n"
        "with duckdb.connect(w) as con:\n"
        "    con.execute(\"UPDATE ops.build_state SET value = ? WHERE key = 'fingerprint'\", [fingerprint(settings)])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(folder / "warehouse.duckdb"), str(inbox), str(folder / "site"),
                    str(folder / "restricted")], env=env, check=True, cwd=env.get("PYTHONPATH") or None)


def _steps(log: Path, top: int = 8) -> list[tuple[str, float]]:
    """The ``top`` slowest steps of a verbose run's log, in seconds."""
    found = [(m[1], 60 * int(m[2] or 0) + float(m[3]) / (1000 if m[4] == "ms" else 1))
             for m in STEP.finditer(log.read_text())]
    return sorted(found, key=lambda s: -s[1])[:top]


def main(argv: list[str] | None = None) -> int:
    """Make the next-month export, then measure ``--runs`` monthly runs, each on a fresh copy."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="a bench_pipeline.py work folder")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--code", type=Path, help="run this checkout's code instead of this one's")
    parser.add_argument("--name", help="the new export's folder name (default: <clinic>-<next month>)")
    parser.add_argument("--out", type=Path, help="where to make the copies (default: <work>/monthly-runs)")
    parser.add_argument("--memory-limit", help="DuckDB memory limit of the runs (OUTCOMES_DUCKDB_MEMORY_LIMIT)")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    inbox_links = work / "inbox-history"
    newest, default_name = _newest_export(inbox_links)
    out = (args.out or work / "monthly-runs").resolve()
    export = out / "exports" / (args.name or default_name)
    if not export.exists():
        print(f"{export.name}: {next_month_export(newest, export)} sessions, from {newest.name}", flush=True)
    env = dict(os.environ, DAGSTER_HOME="")
    if args.memory_limit:
        env["OUTCOMES_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    if args.code:
        env["PYTHONPATH"] = str(args.code.resolve())
    label = f"code {args.code}" if args.code else "this checkout"
    for run in range(1, args.runs + 1):
        folder = out / f"run-{run}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(work / "incremental", folder / "h", symlinks=True)
        shutil.copytree(work / "dagster_home", folder / "dagster_home", symlinks=True)
        (folder / "inbox").mkdir()
        for link in [*inbox_links.iterdir(), export]:
            (folder / "inbox" / link.name).symlink_to(link.resolve())
        env["DAGSTER_HOME"] = str(folder / "dagster_home")
        _set_fingerprint(folder / "h", folder / "inbox", env)
        cmd = [sys.executable, str(Path(sys.executable).with_name("outcomes")), "run", "-v", "--inbox",
               str(folder / "inbox"), "--warehouse", str(folder / "h" / "warehouse.duckdb"), "--site",
               str(folder / "h" / "site"), "--restricted", str(folder / "h" / "restricted")]
        log = folder / "run.log"
        try:
            result = _measure(cmd, env, log)
        finally:
            shutil.rmtree(folder / "h")  # gigabytes at 10M; the log stays
        if "built staging in full" in log.read_text():
            raise SystemExit(f"run {run} rebuilt everything: the copy's fingerprint did not match ({log})")
        steps = ", ".join(f"{name} {seconds:.1f}" for name, seconds in _steps(log))
        print(f"{label}, run {run}: {result['wall_s']:.1f} s, peak {result['peak_rss_mb']:.0f} MB; slowest steps: "
              f"{steps}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
