"""Deterministic synthetic session exports: the committed sample inbox and benchmark inboxes.

    python -m synthetic sample --out data/sample
    python -m synthetic bench --sessions 1000000 --out build/bench/inbox-1m

See :mod:`synthetic.generator` for the model and ``docs/sample-data.md`` for the sample.
"""

from synthetic.generator import (
    InboxSummary,
    bench_clinics,
    generate_bench,
    generate_sample,
)

__all__ = ["InboxSummary", "bench_clinics", "generate_bench", "generate_sample"]
