"""Write a benchmark inbox with the synthetic generator: one export per clinic and month, plus corrections.

    python benchmarks/generate_inbox.py --sessions 1000000 --clinics 12 --months 36 --corrections 40 \\
        --format csv --out build/bench/inbox-1m

A thin wrapper around ``python -m synthetic bench``. ``--corrections N`` then adds N correction
exports (``<export>-corrections``), each re-sending about 50 sessions of an earlier export with a
changed pain score, as clinics do: their sessions supersede the earlier export's (the realistic
shape of a network: 12 clinics x 36 months + corrections is about 470 export folders).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# Runnable as a script from a checkout, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.__main__ import main as synthetic_main
from synthetic.generator import BENCH_SEED, FORMATS


def _read(file: Path) -> pd.DataFrame:
    if file.suffix == ".parquet":
        return pd.read_parquet(file)
    return pd.read_csv(file, dtype=str, keep_default_na=False)


def _write(frame: pd.DataFrame, file: Path) -> None:
    if file.suffix == ".parquet":
        frame.to_parquet(file, index=False)
    else:
        frame.to_csv(file, index=False)


def add_corrections(out: Path, n: int, seed: int, rows: int = 50) -> list[str]:
    """Add ``n`` correction exports re-sending ``rows`` sessions of earlier exports with pain lowered by 1."""
    rng = np.random.default_rng(seed)
    exports = sorted(p for p in out.iterdir() if p.is_dir() and not p.name.endswith("-corrections"))
    written = []
    for export in rng.choice(exports[:-1], size=min(n, len(exports) - 1), replace=False):
        file = next(export.glob("sessions.*"))
        sessions = _read(file)
        picked = sessions.sample(n=min(rows, len(sessions)), random_state=int(rng.integers(1 << 31)))
        pain = pd.to_numeric(picked["pain_pre"], errors="coerce")
        lowered = (pain - 1).clip(lower=0)
        picked = picked.assign(pain_pre=lowered.where(pain.notna()).map(lambda v: None if pd.isna(v) else f"{v:g}")
                               if file.suffix == ".csv" else lowered)
        target = out / f"{export.name}-corrections"
        target.mkdir(exist_ok=True)
        _write(picked, target / file.name)
        written.append(target.name)
    return written


def main(argv: list[str] | None = None) -> int:
    """Parse the benchmark options and generate the inbox; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, required=True, help="exact number of session rows")
    parser.add_argument("--out", required=True, help="inbox folder to write (new, or holding earlier exports)")
    parser.add_argument("--seed", type=int, default=BENCH_SEED)
    parser.add_argument("--format", choices=FORMATS, default="parquet")
    parser.add_argument("--clinics", type=int, help="default: the generator's (about 20,000 sessions per export)")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--start", help="first month, YYYY-MM (the window must end by 2026-10)")
    parser.add_argument("--corrections", type=int, default=0, help="correction exports to add")
    args = parser.parse_args(argv)
    command = ["bench", "--sessions", str(args.sessions), "--out", args.out, "--seed", str(args.seed),
               "--format", args.format, "--months", str(args.months)]
    if args.clinics:
        command += ["--clinics", str(args.clinics)]
    if args.start:
        command += ["--start", args.start]
    code = synthetic_main(command)
    if code == 0 and args.corrections:
        added = add_corrections(Path(args.out), args.corrections, args.seed)
        print(f"added {len(added)} correction exports")
    return code


if __name__ == "__main__":
    sys.exit(main())
