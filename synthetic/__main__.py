"""Command line: ``python -m synthetic sample|bench ...`` (see :mod:`synthetic.generator`).

    python -m synthetic sample --out data/sample
    python -m synthetic bench --sessions 1000000 --out build/bench/inbox-1m [--format parquet|csv] [--seed N]

The output folder may be new, or hold export folders of an earlier generation (they are
replaced); anything else in it stops the command.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from synthetic.generator import BENCH_SEED, FORMATS, SAMPLE_SEED, generate_bench, generate_sample


def build_parser() -> argparse.ArgumentParser:
    """The ``sample`` and ``bench`` sub-commands and their options."""
    parser = argparse.ArgumentParser(prog="python -m synthetic", description="Write a synthetic inbox of exports.")
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="regenerate the committed sample inbox")
    sample.add_argument("--out", type=Path, default=Path("data/sample"))
    sample.add_argument("--seed", type=int, default=SAMPLE_SEED)
    bench = sub.add_parser("bench", help="write a large benchmark inbox (one export per clinic and month)")
    bench.add_argument("--sessions", type=int, required=True, help="exact number of session rows")
    bench.add_argument("--out", type=Path, required=True)
    bench.add_argument("--format", choices=FORMATS, default="parquet")
    bench.add_argument("--seed", type=int, default=BENCH_SEED)
    bench.add_argument("--clinics", type=int, help="default: enough for about 20,000 sessions per export, at most 20")
    bench.add_argument("--months", type=int, default=12)
    bench.add_argument("--start", default="2025-09", help="first month, YYYY-MM (the window must end by 2026-10)")
    bench.add_argument("--bad-rate", type=float, default=0.0002, help="share of rows that break a rule (0 = clean)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        if args.command == "sample":
            summary = generate_sample(args.out, seed=args.seed)
        else:
            summary = generate_bench(
                args.out, args.sessions, seed=args.seed, fmt=args.format, clinics=args.clinics, months=args.months,
                start=args.start, bad_rate=args.bad_rate,
            )
    except ValueError as exc:
        print(f"synthetic: {exc}", file=sys.stderr)
        return 2
    print(summary.report())
    print(f"written in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
