"""The full-disk scenario, run inside a private mount namespace by ``test_storage.py`` (not a test itself).

Mounts a 64 MB tmpfs on the warehouse folder and copies a clean build's warehouse there, starts a
full rebuild (``--full``) paused in staging, fills the disk, lets the run go on (its COMMIT cannot be written), frees
the space, checks the warehouse is as it was, and runs again. Prints one JSON line with what
happened; the tmpfs disappears with the namespace.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.faults.harness import Layout, Run, data_tables, exports_are_whole, run


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 16))
                fh.flush()
        except OSError:
            pass


def main() -> None:
    """Run the scenario described in the module docstring."""
    args = json.loads(sys.argv[1])
    layout = Layout(Path(args["inbox"]), Path(args["warehouse"]), Path(args["site"]), Path(args["restricted"]))
    folder = layout.warehouse.parent
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], check=True)
    for name in ("warehouse.duckdb", "warehouse.duckdb.lock"):  # the clean build's warehouse, on the small disk
        shutil.copy2(Path(args["copy_from"]) / name, folder / name)
    before = data_tables(layout.warehouse)
    paused = Run(layout, pause_at="staging", full=True)  # a rebuild: the run has staging work to pause in
    paused.wait_for("outcomes: paused at staging")
    _fill(folder)
    paused.resume()
    result: dict = {"full": {"code": paused.finish(), "err": paused.err}}
    (folder / "filler").unlink()
    try:
        exports_are_whole(layout.warehouse)
        result["after_full"] = {"opens": True, "whole": True, "same": data_tables(layout.warehouse) == before}
    except AssertionError:
        result["after_full"] = {"opens": True, "whole": False}
    except Exception as exc:  # reported to the test
        result["after_full"] = {"opens": False, "whole": False, "error": str(exc)}
    result["next"] = run(layout).proc.returncode
    result["tables"] = data_tables(layout.warehouse)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
