"""Write a benchmark inbox with the synthetic generator (one export per clinic and month).

    python benchmarks/generate_inbox.py --sessions 1000000 --out build/bench/inbox-1m
    python benchmarks/bench_pipeline.py --inbox build/bench/inbox-1m

A thin wrapper around ``python -m synthetic bench`` with the benchmark's usual options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Runnable as a script from a checkout, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.__main__ import main as synthetic_main
from synthetic.generator import BENCH_SEED, FORMATS


def main(argv: list[str] | None = None) -> int:
    """Parse the benchmark options and generate the inbox; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, required=True, help="exact number of session rows")
    parser.add_argument("--out", required=True, help="inbox folder to write (new, or holding earlier exports)")
    parser.add_argument("--seed", type=int, default=BENCH_SEED)
    parser.add_argument("--format", choices=FORMATS, default="parquet")
    args = parser.parse_args(argv)
    return synthetic_main(
        ["bench", "--sessions", str(args.sessions), "--out", args.out, "--seed", str(args.seed), "--format", args.format]
    )


if __name__ == "__main__":
    sys.exit(main())
