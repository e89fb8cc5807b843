"""Great Expectations runs in children of a helper process that imports it once: the loading process itself
never imports GX, a helper started early (warm), on demand (cold) or stopped early and started again gives the same results, and a helper
that dies is reported in one line and replaced by the next load."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import sessions_series, write_export

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from pathlib import Path
from expectations.validation import cool_down, warm_up
from transforms.config import load_settings
from transforms.exports import discover_exports
from transforms.loading import load_exports, new_run_id
from transforms.warehouse import open_warehouse

import os
root = Path(sys.argv[1])
if sys.argv[2] in ("warm", "stopped"):
    warm_up()  # as `outcomes run` does before starting Dagster
if sys.argv[2] == "stopped":
    from expectations.gx_server import HELPER
    started = HELPER._process
    cool_down()  # as `outcomes run` does when the inbox looked unchanged
    assert HELPER._process is None and started.poll() is not None  # gone, not left importing
os.chdir(root)  # folders relative to where the user is (the helper may have started elsewhere)
settings = load_settings(environ={}, inbox=Path("inbox"), warehouse=Path("w.duckdb"), restricted=Path("restricted"),
                         site=Path("site"))
outcomes = load_exports(discover_exports(settings.inbox), lambda: open_warehouse(settings.warehouse), settings,
                        new_run_id())
print(json.dumps({"gx_imported": "great_expectations" in sys.modules,
                  "outcomes": [[o.status, o.rows_loaded, o.rows_quarantined] for o in outcomes]}))
"""


def _load(root: Path, mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(root), mode], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_validation_runs_outside_the_loading_process(tmp_path: Path) -> None:
    rows = sessions_series(6, patient_id="P1")
    rows[2]["pain_pre"] = "14"  # out of range: quarantined by GX's rule
    results = {}
    for mode in ("cold", "warm", "stopped"):  # stopped: started early, stopped, started again on demand
        root = tmp_path / mode
        write_export(root / "inbox", "a-2026-01", rows)
        results[mode] = _load(root, mode)
    assert results["cold"] == results["warm"] == results["stopped"]
    assert results["warm"] == {"gx_imported": False, "outcomes": [["loaded", 5, 1]]}


def test_a_helper_that_dies_is_reported_in_one_line_and_replaced(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import expectations.gx_server as server
    from expectations.validation import QualityGateError, _run_gx_isolated

    helper = server.Helper()
    monkeypatch.setattr(server, "HELPER", helper)
    try:
        helper.start()
        idle = helper._process
        idle.kill()
        idle.wait()
        # a helper found dead before a request is replaced: the request reaches a new one
        with pytest.raises(QualityGateError, match="sessions_in"):
            _run_gx_isolated(tmp_path / "empty.duckdb", "sessions", date(2026, 1, 1))
        assert helper._process is not None and helper._process is not idle
        helper.stop()
        # one that dies while answering (here: reads the request and exits) is reported in one line
        helper._process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()"],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        with pytest.raises(QualityGateError, match=r"^the validation helper ended without a result \(exit code 0\)$"):
            _run_gx_isolated(tmp_path / "empty.duckdb", "sessions", date(2026, 1, 1))
        assert helper._process is None  # forgotten: the next validation starts a new one
    finally:
        helper.stop()


CHILD_SCRIPT = """
import os
import expectations.gx_server as server

def noisy(request):
    os.write(1, b"NOISE: a progress bar on standard output\\n")  # as DuckDB's C++ code writes it
    return {"status": "ok", "request": request}

server._answer = noisy
print("answer:", server._validate_in_child({"file": "sessions"}))
"""


def test_what_a_validation_writes_on_standard_output_never_reaches_the_run(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD_SCRIPT], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == 'answer: {"status": "ok", "request": {"file": "sessions"}}\n'
    assert "NOISE" not in done.stderr


DEFERRED_SCRIPT = """
import json, sys
from datetime import date
from pathlib import Path
import expectations.gx_server as server
server.prepare()
from expectations.validation import _run_gx
outcomes, _ = _run_gx(Path(sys.argv[1]), "sessions", date(2026, 2, 1))
print(json.dumps({"failing": sorted(o.name for o in outcomes if not o.success), "rules": len(outcomes),
                  "loaded": sorted(m for m in ("altair.vegalite", "scipy.stats._stats_py") if m in sys.modules)}))
"""


def test_the_helper_defers_what_gx_imports_for_features_never_used(tmp_path: Path) -> None:
    """Charts (altair) and statistics (scipy.stats) are never run: a validation, with GX imported as the
    helper imports it, leaves them unloaded and finds what the rules find."""
    import duckdb

    from expectations.validation import prepare_scratch

    rows = sessions_series(3, patient_id="P1")
    rows[1]["pain_pre"] = "14"  # out of range
    write_export(tmp_path / "inbox", "a-2026-01", rows)
    scratch = tmp_path / "scratch.duckdb"
    with duckdb.connect(str(scratch)) as con:
        csv = str(tmp_path / "inbox" / "a-2026-01" / "sessions.csv")
        con.execute("CREATE TABLE sessions_in AS SELECT 'a-2026-01' AS export, row_number() OVER () AS row_number, "
                    "NULL::VARCHAR AS _unmapped, * FROM read_csv(?, all_varchar = true)", [csv])
        con.execute("CREATE TABLE rom_in (export VARCHAR)")
        prepare_scratch(con)
    done = subprocess.run([sys.executable, "-c", DEFERRED_SCRIPT, str(scratch)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    assert found["failing"] == ["sessions.pain_pre.out_of_range"] and found["rules"] > 40
