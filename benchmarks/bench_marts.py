"""Time ``build_marts`` on a synthetic staging of N sessions and report wall time and peak memory.

A child process generates ``staging.sessions`` / ``staging.rom`` directly in DuckDB SQL into a
temporary DuckDB file (about 10 sessions per episode, falling pain with noise and gaps, function
scores, ROM rows for about 15% of sessions, some over-billed units and missing scores). This
process then opens the file as the pipeline does (same DuckDB memory limit), runs
:func:`transforms.marts.build_marts` and :func:`transforms.marts.write_audit_worklists`, and
reports wall time and peak resident memory (``resource.getrusage``; the generator's memory is
not counted).

    python benchmarks/bench_marts.py                 # 1,000,000 sessions
    python benchmarks/bench_marts.py --sessions 200000 --keep build/bench/marts.duckdb

Target on the project's 2-core machine: < 20 s and < 1.5 GB at 1M sessions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GENERATE_SQL = """
SELECT setseed(0.42);
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE TEMP TABLE groups AS
    SELECT row_number() OVER (ORDER BY condition_group) - 1 AS g, condition_group, code
    FROM (SELECT condition_group, min(prefix) || '0' AS code FROM ref.condition_prefixes GROUP BY 1
          UNION ALL SELECT 'other', 'R52');
CREATE OR REPLACE TEMP TABLE motions AS
    SELECT row_number() OVER (ORDER BY joint, movement) - 1 AS j, joint, movement, normal FROM ref.rom_normals;
CREATE OR REPLACE TEMP TABLE episodes AS
WITH e AS (
    SELECT i AS ep, 6 + CAST(floor(random() * 9) AS INTEGER) AS n,
           random() AS u_group, random() AS u_payer, random() AS u_age, random() AS u1, random() AS u2,
           random() AS u_weeks, random() AS u_effect, random() AS u_motion, random() AS u_start
    FROM range(CAST(? AS BIGINT)) t(i)
)
SELECT ep, n,
       'C' || lpad(CAST(ep % 20 AS VARCHAR), 2, '0') AS clinic_id,
       'T' || lpad(CAST(ep % 200 AS VARCHAR), 3, '0') AS therapist_id,
       'P' || lpad(CAST(ep * 5 // 6 AS VARCHAR), 7, '0') AS patient_id,
       CAST(floor(u_group * (SELECT count(*) FROM groups)) AS INTEGER) AS g,
       (['commercial', 'commercial', 'medicare', 'medicaid', 'workers_comp', 'auto_pip', 'fsa_hsa', 'self_pay'])
           [1 + CAST(floor(u_payer * 8) AS INTEGER)] AS payer_type,
       (['18-29', '30-39', '40-49', '50-59', '60-69', '70-79', '80-89'])[1 + CAST(floor(u_age * 7) AS INTEGER)]
           AS age_band,
       greatest(0.0, least(10.0, round(5.5 + 1.8 * sqrt(-2 * ln(u1 + 1e-12)) * cos(2 * pi() * u2)))) AS baseline,
       CASE WHEN u_weeks < 0.2 THEN NULL ELSE round(exp(1 + 3 * u_weeks)) END AS symptom_weeks,
       u_effect * 4.0 - 0.5 AS effect,
       CAST(floor(u_motion * (SELECT count(*) FROM motions)) AS INTEGER) AS j,
       DATE '2024-01-01' + CAST(floor(u_start * 700) AS INTEGER) AS start_date
    FROM e;
CREATE OR REPLACE TABLE staging.sessions AS
WITH s AS (
    SELECT e.*, k, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6
    FROM episodes e, range(1, e.n + 1) t(k)
),
v AS (
    SELECT s.*, greatest(0.0, least(10.0, round(baseline - effect * (k - 1) / (n - 1) + (r1 - 0.5) * 2, 1))) AS pain,
           15 + CAST(floor(r3 * 46) AS INTEGER) AS duration_min
    FROM s
)
SELECT 'bench' AS export,
       'S' || lpad(CAST(ep AS VARCHAR), 8, '0') || '-' || lpad(CAST(k AS VARCHAR), 2, '0') AS session_id,
       clinic_id, patient_id, CAST(NULL AS VARCHAR) AS episode_id, therapist_id,
       start_date + CAST(7 * (k - 1) AS INTEGER) AS session_date,
       CASE WHEN k = 1 AND r6 > 0.03 THEN 'evaluation' WHEN k = n AND r6 < 0.5 THEN 'discharge'
            WHEN k % 8 = 0 THEN 'reevaluation' ELSE 'treatment' END AS visit_type,
       groups.code AS condition_code,
       CASE WHEN r5 < 0.1 THEN 'self' WHEN r5 < 0.12 THEN NULL ELSE 'physician' END AS referral_source,
       payer_type,
       CASE WHEN r4 < 0.7 THEN '97124' WHEN r4 < 0.9 THEN '97140' ELSE '97010' END AS cpt_code,
       CAST(CASE WHEN r4 >= 0.9 THEN 1 ELSE (duration_min + 7) // 15 + CASE WHEN r2 < 0.05 THEN 1 ELSE 0 END END
            AS INTEGER) AS units,
       CAST(duration_min AS INTEGER) AS duration_min,
       'swedish;trigger_point' AS techniques,
       CASE WHEN r2 BETWEEN 0.05 AND 0.09 THEN NULL ELSE pain END AS pain_pre,
       CASE WHEN r2 BETWEEN 0.09 AND 0.12 THEN NULL ELSE greatest(0.0, round(pain - 2 * r1, 1)) END AS pain_post,
       CASE WHEN k IN (1, 5, 10, 14) THEN (['ODI', 'NDI', 'PSFS', 'LEFS'])[1 + g % 4] END AS function_instrument,
       CASE WHEN k IN (1, 5, 10, 14) THEN CASE g % 4
            WHEN 0 THEN round(45 - k * effect * 1.5) WHEN 1 THEN round(25 - k * effect * 0.8)
            WHEN 2 THEN round(least(10, 3 + k * effect * 0.2)) ELSE round(least(80, 40 + k * effect)) END
       END AS function_score,
       age_band, CASE WHEN r6 < 0.6 THEN 'F' ELSE 'M' END AS sex, symptom_weeks,
       r5 > 0.05 AS goals_documented,
       CASE WHEN payer_type IN ('medicare', 'workers_comp') THEN 12 END AS authorized_visits,
       groups.condition_group,
       'ep_' || substr(md5(CAST(ep AS VARCHAR)), 1, 16) AS episode_key,
       CAST(k AS INTEGER) AS session_number
FROM v JOIN groups USING (g)
ORDER BY clinic_id, episode_key, session_number
LIMIT CAST(? AS BIGINT);
CREATE OR REPLACE TABLE staging.rom AS
WITH measured AS (
    SELECT s.session_id, s.clinic_id, s.episode_key, s.session_number, e.j, random() AS r
    FROM staging.sessions s
    JOIN episodes e ON 'ep_' || substr(md5(CAST(e.ep AS VARCHAR)), 1, 16) = s.episode_key
    WHERE s.session_number = 1 OR random() < 0.055
)
SELECT m.session_id, m.clinic_id, mo.joint, mo.movement, 'na' AS side, timing,
       least(mo.normal * 1.2, round(mo.normal * (0.6 + 0.03 * m.session_number + 0.1 * m.r)
             + CASE timing WHEN 'post' THEN 3 ELSE 0 END)) AS value,
       'bench' AS export, m.episode_key
FROM measured m
JOIN motions mo USING (j)
CROSS JOIN (VALUES ('pre'), ('post')) t(timing);
"""


def generate(path: Path, sessions: int) -> None:
    """Write a synthetic staging of about ``sessions`` sessions into a DuckDB file."""
    import duckdb

    from transforms.reference import install_reference_tables

    con = duckdb.connect(str(path))
    install_reference_tables(con)
    episodes = sessions // 10 + sessions // 100 + 10
    for statement in [s for s in GENERATE_SQL.split(";\n") if s.strip()]:
        params = []
        if "range(CAST(? AS BIGINT))" in statement:
            params = [episodes]
        elif "LIMIT CAST(? AS BIGINT)" in statement:
            params = [sessions]
        con.execute(statement, params)
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the DuckDB file here instead of a temporary folder")
    parser.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.generate_only, args.sessions)
        return

    import duckdb

    from transforms.config import load_settings
    from transforms.marts import build_marts, write_audit_worklists

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "marts-bench.duckdb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--sessions", str(args.sessions), "--generate-only", str(path)],
                       check=True)
        generated = time.perf_counter() - t0
        settings = load_settings(environ={})
        con = duckdb.connect(str(path), config={"memory_limit": settings.duckdb_memory_limit})
        staged = con.execute("SELECT (SELECT count(*) FROM staging.sessions), (SELECT count(*) FROM staging.rom), "
                             "(SELECT count(DISTINCT episode_key) FROM staging.sessions)").fetchall()[0]
        t1 = time.perf_counter()
        counts = build_marts(con, settings)
        built = time.perf_counter() - t1
        t2 = time.perf_counter()
        worklists = write_audit_worklists(con, Path(tmp) / "restricted")
        listed = time.perf_counter() - t2
        con.close()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report = {
            "sessions": staged[0], "rom_rows": staged[1], "episodes": staged[2],
            "generate_s": round(generated, 2), "build_marts_s": round(built, 2),
            "write_audit_worklists_s": round(listed, 2), "peak_rss_mb": round(peak_mb),
            "duckdb_memory_limit": settings.duckdb_memory_limit, "worklists": len(worklists), "tables": counts,
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
