"""A bare, one-pass DuckDB baseline of the pipeline's work, to measure the pipeline against.

The same work as `outcomes run` minus its machinery: read every export's files with one scan per
file kind, apply every row rule of the contract as one SQL predicate each (in one pass), reject
exports with more than the allowed share of broken rows, keep the latest version of each session,
and build staging (condition groups, episodes) and every mart with the project's own SQL models.
No Great Expectations, no Dagster, no per-export transactions, no site, no restricted outputs.

    python benchmarks/baseline.py --inbox build/bench/inbox-1m --work /tmp/baseline

Prints the wall time of each phase and the peak memory of the process (JSON with ``--json``).
Run by hand; results go to the closing note, not to tests.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from expectations.rules import PARAM_TODAY, RULES_BY_FILE
from expectations.validation import prepare_scratch
from transforms import contract
from transforms.config import load_settings
from transforms.loading import TYPED_ROM_SQL, _typed_sessions_sql, ensure_schema
from transforms.marts import build_marts
from transforms.profile_mapping import EXTRA_COLUMNS
from transforms.sqlmodels import install_macros
from transforms.staging import build_staging

NO_PROFILE = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in EXTRA_COLUMNS)


def _header(file: Path) -> list[str]:
    if file.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(file).names)
    with open(file, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh), [])


def _read(con: duckdb.DuckDBPyConnection, inbox: Path, kind: str, headers: dict[Path, list[str]]) -> None:
    """All files of one kind, every column as trimmed text, with the export and the row number.

    One scan per distinct header (a network's exports share a few layouts), the header read once.
    """
    columns = contract.FILE_COLUMNS[kind]
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for file, header in headers.items():
        if file.stem == kind:
            groups.setdefault((file.suffix, tuple(header)), []).append(str(file))
    sources = []
    for (suffix, header), files in sorted(groups.items()):
        present = {name.strip().lower(): i for i, name in enumerate(header)}
        if suffix == ".csv":
            types = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
            # a multi-file scan keeps file order: the row number is the position in the scan less the file's first
            reader = (f"(SELECT row_number() OVER () AS _pos, * FROM read_csv({files!r}, header = true, "
                      f"auto_detect = false, columns = {types}, filename = true))")
            row = "src._pos - min(src._pos) OVER (PARTITION BY src.filename) + 1"
            names = [f"c{i}" for i in range(len(header))]
        else:
            reader = f"read_parquet({files!r}, filename = true, file_row_number = true)"
            row = "src.file_row_number + 1"
            names = ['"' + name.replace('"', '""') + '"' for name in header]
        cols = ", ".join(
            f"NULLIF({contract.trim_sql(f'CAST(src.{names[present[c]]} AS VARCHAR)')}, '') AS {c}" if c in present
            else f"CAST(NULL AS VARCHAR) AS {c}" for c in columns)
        sources.append(f"SELECT {row} AS row_number, regexp_extract(src.filename, '([^/]+)/[^/]+$', 1) AS export, "
                       f"{cols}, {NO_PROFILE} FROM {reader} AS src")
    body = " UNION ALL BY NAME ".join(sources) if sources else (
        "SELECT CAST(NULL AS BIGINT) AS row_number, CAST(NULL AS VARCHAR) AS export, "
        + ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in columns) + f", {NO_PROFILE} LIMIT 0")
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"CREATE OR REPLACE TABLE {kind}_in AS {body}")


def _predicate(rule, today: date) -> str:
    sql = rule.bad_when.replace(PARAM_TODAY, f"DATE '{today.isoformat()}'")
    return sql.replace("{{", "{").replace("}}", "}")


def _quarantine(con: duckdb.DuckDBPyConnection, kind: str, today: date) -> None:
    """Every row rule of a file kind in one pass: the rows that break at least one."""
    rules = RULES_BY_FILE[kind]()
    cases = ", ".join(f"CASE WHEN {_predicate(r, today)} THEN '{r.name}' END" for r in rules)
    con.execute(
        f"INSERT INTO quarantine SELECT export, '{kind}' AS file, row_number, broken FROM ("
        f"SELECT t.export, t.row_number, list_filter([{cases}], lambda x: x IS NOT NULL) AS broken "
        f"FROM {kind}_in AS t) WHERE len(broken) > 0"
    )


def run(inbox: Path, work: Path) -> dict:
    """Do the whole job once into ``work/baseline.duckdb``; returns the phases' wall times."""
    work.mkdir(parents=True, exist_ok=True)
    db = work / "baseline.duckdb"
    for leftover in (db, Path(str(db) + ".wal")):
        leftover.unlink(missing_ok=True)
    settings = load_settings(warehouse=db)
    today = date.today()
    phases: dict[str, float] = {}
    started = last = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        phases[name] = round(now - last, 2)
        last = now

    with duckdb.connect(str(db)) as con:
        ensure_schema(con)
        headers = {f: _header(f) for f in sorted([*inbox.glob("*/*.csv"), *inbox.glob("*/*.parquet")])}
        for kind in contract.FILE_COLUMNS:
            _read(con, inbox, kind, headers)
        mark("read")
        # the contract's whole-export identifier guard on values: one scan of every id column
        found = " OR ".join(
            f"{contract.identifier_kind_sql(c, dates=c in contract.DATE_CHECKED_COLUMNS)} IS NOT NULL"
            for c in contract.IDENTIFIER_VALUE_COLUMNS)
        con.execute(f"CREATE TEMP TABLE refused AS SELECT DISTINCT export FROM sessions_in WHERE {found}")
        # ...and on column names: every file's header
        for file, names in headers.items():
            if any(contract.identifier_column_word(n) for n in names):
                con.execute("INSERT INTO refused VALUES (?)", [file.parent.name])
        mark("identifier guard")
        prepare_scratch(con)
        con.execute("CREATE TABLE quarantine (export VARCHAR, file VARCHAR, row_number BIGINT, broken VARCHAR[])")
        _quarantine(con, "sessions", today)
        con.execute(
            "CREATE OR REPLACE TABLE sessions_valid_keys AS SELECT DISTINCT export, clinic_id, session_id "
            "FROM sessions_in WHERE (export, row_number) NOT IN "
            "(SELECT (export, row_number) FROM quarantine WHERE file = 'sessions')"
        )
        _quarantine(con, "rom", today)
        share = float(settings.reject_share)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE accepted AS SELECT export FROM ("
            "SELECT export, count(*) AS n FROM (SELECT export FROM sessions_in UNION ALL SELECT export FROM rom_in) "
            "GROUP BY export) a LEFT JOIN (SELECT export, count(*) AS bad FROM quarantine GROUP BY export) b "
            "USING (export) WHERE coalesce(b.bad, 0) <= ? * a.n AND export NOT IN (SELECT export FROM refused)", [share])
        mark("row rules")
        install_macros(con)
        # the typed rows of the accepted exports, as the loader writes them
        con.execute(f"INSERT INTO raw.sessions BY NAME {_typed_sessions_sql()}")
        con.execute(f"INSERT INTO raw.rom BY NAME {TYPED_ROM_SQL}")
        con.execute("INSERT INTO ops.exports SELECT export, row_number() OVER (ORDER BY export), 'baseline', now(), "
                    "now() FROM accepted")
        for table in ("sessions_in", "rom_in", "sessions_valid_keys"):
            con.execute(f"DROP TABLE {table}")
        mark("typed rows")
        build_staging(con, settings)
        mark("staging")
        build_marts(con, settings)
        mark("marts")
        sessions = con.execute("SELECT count(*) FROM staging.sessions").fetchall()[0][0]
    return {"sessions": sessions, "seconds": round(time.perf_counter() - started, 2), "phases": phases,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the baseline, print the result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inbox", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("build/bench/baseline"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.inbox, args.work)
    print(json.dumps(result) if args.json else
          f"baseline: {result['sessions']:,} sessions in {result['seconds']} s, peak {result['peak_rss_mb']} MB; "
          f"phases {result['phases']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
