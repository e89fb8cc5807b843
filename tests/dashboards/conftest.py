"""Warehouses and sites for the dashboard tests.

- ``crafted_warehouse``: staging tables written by hand (the lead's staging columns and types from
  ``transforms/sql/schema.sql``), marts built by the real ``transforms.marts.build_marts``, and
  ``ops.load_log`` / ``quarantine.rejected_rows`` rows, with condition groups of **3, 10, 11, 40 and
  80 patients**, a small therapist, a small month and a small payer type, so that every kind of
  suppression is exercised. Identifiers are distinctive strings, so that a search of the site for
  them cannot hit anything else. For the research panels: discharged, active and lost episodes;
  episodes without a final score; several primary techniques per condition (some on few patients);
  flares (exactly 2 points); missing symptom weeks; enough pain-evaluable patients (over 110) for
  calibration deciles of at least 11 patients each.
- ``sample_build``: `outcomes run` on ``data/sample`` (the whole pipeline, Dagster included).
- ``crafted_site`` / ``sample_site``: :func:`dashboards.site.build_site` run on them with a fixed
  run time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from dashboards.site import build_site
from transforms.config import Settings, load_settings
from transforms.marts import build_marts
from transforms.runs import RunRecord

REPO = Path(__file__).resolve().parents[2]
SCHEMA_SQL = (REPO / "transforms" / "sql" / "schema.sql").read_text(encoding="utf-8")
RUN = RunRecord(
    run_id="run-fixed-0001", started_at=datetime(2026, 11, 1, 12, 0), finished_at=datetime(2026, 11, 1, 12, 1),
    status="succeeded", pipeline_version="0.1.0", git_commit="abc123def456", settings={},
    reference={"condition_prefixes": "0" * 32}, exports=[{"export": "crafted-export", "checksum": "f" * 64,
                                                            "load_order": 1}],
    data_period={"C1": ["2026-01-05", "2026-06-29"]}, rows_loaded=10, rows_quarantined=0,
)

# condition group -> (ICD-10 code, patients per clinic): groups of 3, 10, 11, 40 and 80 patients.
GROUPS: dict[str, tuple[str, dict[str, int]]] = {
    "low_back_pain": ("M54.50", {"C1": 25, "C2": 15}),
    "neck_pain": ("M54.2", {"C1": 6, "C2": 5}),
    "sciatica": ("M54.30", {"C1": 6, "C2": 4}),
    "migraine": ("G43.909", {"C1": 3}),
    "shoulder_impingement": ("M75.40", {"C1": 50, "C2": 30}),
}
GROUP_SIZES = {"low_back_pain": 40, "neck_pain": 11, "sciatica": 10, "migraine": 3, "shoulder_impingement": 80}
BIG_GROUP = "shoulder_impingement"  # added for the research panels; keeps the small therapist, month and payer small
LEAKS = ("SXVLEAK01", "LEAKVALUE42", "PXQLEAK9")  # quarantine/load-log strings that must never be published


def patient_id(n: int) -> str:
    """A distinctive pseudonymous patient id."""
    return f"PXQ{n:04d}Z"


def session_id(n: int, k: int) -> str:
    """A distinctive session id."""
    return f"SXV{n:04d}K{k:02d}"


def episode_key(n: int) -> str:
    """An episode key shaped like staging's (``ep_`` + 16 hex characters)."""
    return "ep_" + hashlib.md5(f"crafted-{n}".encode()).hexdigest()[:16]


def _sessions() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sessions: list[dict[str, Any]] = []
    rom: list[dict[str, Any]] = []
    n = 0
    c2_index = 0
    for group, (code, clinics) in GROUPS.items():
        for clinic, count in clinics.items():
            for i in range(count):
                n += 1
                big = group == BIG_GROUP
                if clinic == "C1":
                    therapist = "T1" if n % 2 else "T2"
                elif big:
                    therapist = "T3" if n % 2 else "T4"
                else:
                    therapist = "T3" if c2_index < 11 else ("T4" if c2_index < 21 else "T5")
                    c2_index += 1
                # five low-back-pain patients start in June: a month of 5 patients; some of the big group start
                # in July and are still active at their clinic's data end
                if group == "low_back_pain" and clinic == "C1" and i >= 20:
                    start = date(2026, 6, 1)
                elif big and i % 6 == 0:
                    start = date(2026, 7, 6)
                else:
                    start = date(2026, 1 + n % 3, 5)
                payer = "self_pay" if n % 13 == 0 and not big else ("medicare" if n % 5 == 0 else "commercial")
                # primary techniques: every patient, every second, every third; lymphatic drainage on few
                techniques = ";".join(["myofascial_release", *(["trigger_point"] if n % 2 == 0 else []),
                                       *(["deep_tissue"] if n % 3 == 0 else []),
                                       *(["lymphatic_drainage"] if n % 11 == 0 else [])])
                visits = 5 + n % 5
                baseline = 4 + (n // 2) % 5  # independent of age band (n % 3) and sex (n % 2)
                drop = 0.1 + (n % 7) * 0.2  # from no response to a large one
                discharged = n % 3 != 0 and start.month != 7  # July starters are still being treated
                no_final = n % 9 == 0
                for k in range(1, visits + 1):
                    pre = None if (no_final and k >= 2) else max(0.0, round((baseline - (k - 1) * drop) * 2) / 2)
                    post = None if pre is None or (n % 6 == 0 and k == 3) else max(0.0, pre - 1)
                    if post is not None and n % 4 == 0 and k == 2:
                        post = pre + 2  # a flare of exactly 2 points (post-treatment soreness)
                    over = n % 7 == 0 and k == 2 and not big  # few patients billed over time
                    instrument, score = {
                        "low_back_pain": ("ODI", 44.0 - 3 * (k - 1) - n % 4),
                        "neck_pain": ("NDI", 22.0 - 1.5 * (k - 1) - n % 3),
                        "migraine": ("HIT6", 64.0 - 1.2 * (k - 1)),
                    }.get(group, (None, None))
                    sessions.append({
                        "export": f"clinic-{clinic.lower()}-2026", "session_id": session_id(n, k), "clinic_id": clinic,
                        "patient_id": patient_id(n), "episode_id": None, "therapist_id": therapist,
                        "session_date": start + timedelta(days=7 * (k - 1)),
                        "visit_type": "evaluation" if k == 1 else (
                            "discharge" if k == visits and discharged else "treatment"),
                        "condition_code": code,
                        "referral_source": "physician", "payer_type": payer, "cpt_code": "97140",
                        "units": 2, "duration_min": 20 if over else 30,
                        "techniques": "cupping" if k == visits and n % 7 == 0 else techniques,
                        "pain_pre": pre, "pain_post": post, "function_instrument": instrument,
                        "function_score": score, "age_band": ("30-39", "40-49", "50-59")[n % 3],
                        "sex": "F" if n % 2 else "M", "symptom_weeks": None if n % 10 == 0 else float(4 + n % 20),
                        "goals_documented": n % 11 != 0, "condition_group": group, "episode_key": episode_key(n),
                        "session_number": k,
                    })
                rom_joint = {"low_back_pain": ("lumbar", "flexion", 35.0 + n % 10, 12.0),
                             "neck_pain": ("cervical", "rotation", 55.0 + n % 8, 10.0)}.get(group)
                if rom_joint:
                    joint, movement, first, gain = rom_joint
                    for k, value in ((1, first), (visits, first + gain + n % 3)):
                        rom.append({"export": f"clinic-{clinic.lower()}-2026", "session_id": session_id(n, k),
                                    "clinic_id": clinic, "joint": joint, "movement": movement, "side": "na",
                                    "timing": "pre", "value": value, "episode_key": episode_key(n)})
    return sessions, rom


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    schema, name = table.split(".")
    cols = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position", [schema, name],
    ).fetchall()
    frame = pd.DataFrame([[r.get(c) for c, _ in cols] for r in rows], columns=[c for c, _ in cols])
    con.register("_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} SELECT {', '.join(f'CAST({c} AS {t})' for c, t in cols)} FROM _rows")
    finally:
        con.unregister("_rows")


def empty_staging(con: duckdb.DuckDBPyConnection) -> None:
    """The warehouse schema and empty ``staging.sessions`` / ``staging.rom`` with the lead's columns and types."""
    con.execute(SCHEMA_SQL)
    con.execute(
        "CREATE TABLE staging.sessions AS SELECT * EXCLUDE (row_number), CAST(NULL AS VARCHAR) AS condition_group, "
        "CAST(NULL AS VARCHAR) AS episode_key, CAST(NULL AS INTEGER) AS session_number FROM raw.sessions WHERE false"
    )
    con.execute("CREATE TABLE staging.rom AS SELECT * EXCLUDE (row_number), CAST(NULL AS VARCHAR) AS episode_key "
                "FROM raw.rom WHERE false")


def build_crafted_warehouse(path: Path, settings: Settings) -> None:
    """Write the crafted warehouse (staging by hand, real marts, load log and quarantine rows) to ``path``."""
    sessions, rom = _sessions()
    with duckdb.connect(str(path)) as con:
        empty_staging(con)
        _insert(con, "staging.sessions", sessions)
        _insert(con, "staging.rom", rom)
        build_marts(con, settings)
        t = datetime(2026, 10, 1, 8, 0)
        names = ("sessions.csv has a column 'patient_name' that looks like a direct identifier ('name'); remove it "
                 "and send the export again")
        con.executemany(
            "INSERT INTO ops.load_log (run_id, export, status, reason, rows_in, rows_loaded, rows_quarantined, "
            "checksum, loaded_at, public_reason, patients_in) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("run-a", "clinic-c1-2026", "loaded", "loaded 300 of 302 rows; 2 quarantined: "
                 "sessions.pain_pre.out_of_range (1), rom.value.out_of_range (1)", 302, 300, 2, "aa", t,
                 "loaded; some rows quarantined, most often for sessions.pain_pre.out_of_range", 40),
                ("run-a", "clinic-c2-2026", "loaded", "loaded 150 of 150 rows", 150, 150, 0, "bb", t, "loaded", 30),
                ("run-a", "clinic-c2-2026-05-names", "rejected", names, None, None, None, "cc", t, names, None),
                ("run-a", "clinic-c1-2026-07-broken", "rejected", 'sessions.csv could not be parsed: Invalid Input '
                 'Error: value "PXQLEAK9" Original Line: SXVLEAK01,C1,PXQLEAK9', None, None, None, "dd", t,
                 "sessions.csv could not be parsed: it is not a readable CSV file", None),
            ],
        )
        con.execute("INSERT INTO ops.exports VALUES ('clinic-c1-2026', 1, 'aa', ?, ?), ('clinic-c2-2026', 2, 'bb', ?, ?)",
                    [t, t, t, t])
        con.executemany(
            "INSERT INTO quarantine.rejected_rows (export, file, row_number, session_id, rule, column_name, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                ("clinic-c1-2026", "sessions", 17, "SXVLEAK01", "out_of_range", "pain_pre", "LEAKVALUE42"),
                ("clinic-c1-2026", "rom", 4, "SXVLEAK01", "out_of_range", "value", "LEAKVALUE42"),
            ],
        )


@dataclass(frozen=True)
class Built:
    """A warehouse file and the site built from it."""

    warehouse: Path
    site: Path
    settings: Settings


@pytest.fixture(scope="session")
def crafted_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The crafted warehouse file (groups of 3, 10, 11 and 40 patients)."""
    path = tmp_path_factory.mktemp("crafted") / "warehouse.duckdb"
    build_crafted_warehouse(path, load_settings(environ={}))
    return path


@pytest.fixture(scope="session")
def crafted_site(crafted_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The site built from the crafted warehouse with the default threshold (11)."""
    settings = load_settings(environ={})
    site = tmp_path_factory.mktemp("crafted-site")
    with duckdb.connect(str(crafted_warehouse), read_only=True) as con:
        build_site(con, site, settings, RUN)
    return Built(crafted_warehouse, site, settings)


@pytest.fixture(scope="session")
def sample_site(sample_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The site built by :func:`build_site` from the sample warehouse (real marts)."""
    settings = load_settings(environ={})
    site = tmp_path_factory.mktemp("sample-site")
    with duckdb.connect(str(sample_build / "warehouse.duckdb"), read_only=True) as con:
        build_site(con, site, settings, RUN)
    return Built(sample_build / "warehouse.duckdb", site, settings)


def site_files(site: Path) -> list[Path]:
    """Every file of a site: pages, the script, the downloads (CSV) and the dictionary's README."""
    files = sorted(p for p in site.rglob("*") if p.is_file())
    assert {p.suffix for p in files} <= {".html", ".js", ".csv", ".txt"}, "a kind of file the tests do not read"
    return files
