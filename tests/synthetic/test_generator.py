"""The synthetic generator: determinism, the sample's promises, and benchmark inboxes.

Exports are judged with the contract's own row rules (``expectations.rules``) run directly in
DuckDB on the reader's scratch tables, as the loader does, but without Great Expectations so
that the tests stay fast.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from expectations.rules import PARAM_TODAY, RULES_BY_FILE
from synthetic.__main__ import main
from synthetic.generator import (
    SAMPLE_REJECTED,
    InboxSummary,
    generate_bench,
    generate_sample,
    model,
    prepare_inbox,
)
from transforms import contract
from transforms.config import load_settings
from transforms.exports import ExportFolder, ExportRejected, discover_exports, read_export
from transforms.reference import condition_groups, install_reference_tables, read_reference
from transforms.sqlmodels import create_table, install_macros
from transforms.staging import condition_groups_of, normalise_codes
from transforms.thresholds import install_thresholds

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 23)  # the project's reference date: no synthetic date may be after it
DOCS = REPO / "docs" / "sample-data.md"


# --- helpers ----------------------------------------------------------------------------------


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _broken_rows(exports: list[ExportFolder]) -> dict[str, set[tuple[str, int, str, str]] | str]:
    """Per export: (file, row_number, rule, column) of every row rule its rows break, as the loader sees
    them, or the reason the export is refused as a whole.

    The exports are read one by one and checked together (each rule is one query over all of them,
    keyed by export), as the loader's gate does: a rule query is slow to prepare, not to run.
    """
    con = duckdb.connect()
    out: dict[str, set[tuple[str, int, str, str]] | str] = {}
    read = 0
    for export in exports:
        try:
            read_export(export, con)
        except ExportRejected as exc:
            out[export.name] = str(exc)
            continue
        out[export.name] = set()
        con.execute(f"CREATE TABLE s{read} AS SELECT * FROM sessions_new")
        con.execute(f"CREATE TABLE r{read} AS SELECT * FROM rom_new")
        read += 1
    if not read:
        return out
    for file, prefix in (("sessions", "s"), ("rom", "r")):
        con.execute(f"CREATE TABLE {file}_all AS "
                    + " UNION ALL BY NAME ".join(f"SELECT * FROM {prefix}{i}" for i in range(read)))
    con.execute(
        "CREATE TABLE sessions_in AS SELECT *, count(*) OVER (PARTITION BY export, clinic_id, session_id) "
        "AS _dup_count FROM sessions_all"
    )
    con.execute("CREATE TABLE rom_in AS SELECT * FROM rom_all")
    con.execute("CREATE TABLE ref_instruments (instrument VARCHAR, score_min DOUBLE, score_max DOUBLE)")
    con.executemany("INSERT INTO ref_instruments VALUES (?, ?, ?)",
                    [[r["instrument"], r["score_min"], r["score_max"]] for r in read_reference("instruments")])
    con.execute("CREATE TABLE ref_rom_normals (joint VARCHAR, movement VARCHAR, plausible_max DOUBLE)")
    con.executemany("INSERT INTO ref_rom_normals VALUES (?, ?, ?)",
                    [[r["joint"], r["movement"], r["plausible_max"]] for r in read_reference("rom_normals")])
    con.execute("CREATE TABLE bad_sessions (export VARCHAR, row_number BIGINT)")
    for file in ("sessions", "rom"):
        if file == "rom":
            bad = [[name, n] for name, broken in out.items() if isinstance(broken, set)
                   for f, n, _, _ in broken if f == "sessions"]
            if bad:
                con.executemany("INSERT INTO bad_sessions VALUES (?, ?)", bad)
            con.execute(
                "CREATE TABLE sessions_valid_keys AS SELECT DISTINCT export, clinic_id, session_id FROM sessions_in s "
                "WHERE NOT EXISTS (SELECT 1 FROM bad_sessions b WHERE b.export = s.export AND b.row_number = s.row_number)"
            )
        for rule in RULES_BY_FILE[file]():
            sql = rule.query("{batch}").replace(PARAM_TODAY, f"DATE '{TODAY.isoformat()}'").format(batch=f"{file}_in")
            for export, row_number, *_ in con.execute(sql).fetchall():
                broken = out[export]
                assert isinstance(broken, set)
                broken.add((file, row_number, rule.rule, rule.column))
    con.close()
    return out


def _sessions(inbox: Path) -> duckdb.DuckDBPyConnection:
    """Every readable export's sessions as text, with its export name (rejected exports left out)."""
    con = duckdb.connect()
    tables = []
    for export in discover_exports(inbox):
        try:
            read_export(export, con)
        except ExportRejected:
            continue
        con.execute(f"CREATE TABLE s{len(tables)} AS SELECT * FROM sessions_new")
        tables.append(f"SELECT * FROM s{len(tables)}")
    con.execute(f"CREATE TABLE sessions AS {' UNION ALL '.join(tables)}")
    return con


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> InboxSummary:
    """A freshly generated sample inbox and its summary."""
    return generate_sample(tmp_path_factory.mktemp("sample") / "inbox")


@pytest.fixture(scope="module")
def sample_checks(sample: InboxSummary) -> dict[str, set[tuple[str, int, str, str]] | str]:
    """Per export: the rows breaking a row rule, or the reason it is rejected as a whole."""
    return _broken_rows(discover_exports(sample.out))


@pytest.fixture(scope="module")
def sample_db(sample: InboxSummary) -> duckdb.DuckDBPyConnection:
    """The sample's readable sessions in one DuckDB table ``sessions`` (all text, like the loader)."""
    return _sessions(sample.out)


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path: Path, sample: InboxSummary) -> None:
    again = generate_sample(tmp_path / "again")
    assert _digests(again.out) == _digests(sample.out)
    for fmt in ("parquet", "csv"):
        a = generate_bench(tmp_path / f"a-{fmt}", 6_000, seed=7, fmt=fmt, clinics=2, months=2, block_sessions=2_000)
        b = generate_bench(tmp_path / f"b-{fmt}", 6_000, seed=7, fmt=fmt, clinics=2, months=2, block_sessions=2_000)
        assert _digests(a.out) == _digests(b.out)
    # No pandas metadata or timestamps in the Parquet footer: only Arrow's own schema.
    assert set(pq.read_metadata(next((tmp_path / "a-parquet").rglob("*.parquet"))).metadata) == {b"ARROW:schema"}
    other = generate_bench(tmp_path / "other", 6_000, seed=8, clinics=2, months=2)
    assert _digests(other.out) != _digests(tmp_path / "a-parquet")


def test_committed_sample_is_what_the_generator_writes(sample: InboxSummary) -> None:
    """data/sample must be regenerated (python -m synthetic sample) whenever the model changes."""
    committed = REPO / "data" / "sample"
    assert sorted(p.name for p in committed.iterdir() if p.is_dir()) == [e.name for e in sample.exports]
    for new in sorted(sample.out.rglob("*.*")):
        old = committed / new.relative_to(sample.out)
        assert old.is_file(), old
        if new.suffix == ".csv":
            assert old.read_bytes() == new.read_bytes(), old
        else:  # Parquet records the pyarrow version that wrote it; compare the data
            assert pq.read_table(old).equals(pq.read_table(new)), old


# --- the sample's promises --------------------------------------------------------------------


def test_sample_shape(sample: InboxSummary, sample_db: duckdb.DuckDBPyConnection) -> None:
    exports = sample.exports
    assert 8 <= len(exports) <= 16
    assert {e.fmt for e in exports} == {"csv", "parquet"}
    assert {e.episode_ids for e in exports} == {True, False}
    assert sample.sessions >= 3000
    clinics, months, first, last = sample_db.execute(
        "SELECT count(DISTINCT clinic_id), count(DISTINCT strftime(TRY_CAST(session_date AS DATE), '%Y-%m')), "
        "min(TRY_CAST(session_date AS DATE)) FILTER (WHERE session_date >= '2000'), max(TRY_CAST(session_date AS DATE)) "
        "FROM sessions"
    ).fetchone()
    assert clinics >= 3 and months >= 6
    assert first >= date(2026, 2, 1) and last < TODAY
    # Each episode's sessions arrive in several exports: the clinic-month exports split courses of care.
    spread = sample_db.execute(
        "SELECT max(n) FROM (SELECT count(DISTINCT export) n FROM sessions WHERE episode_id IS NOT NULL GROUP BY episode_id)"
    ).fetchone()[0]
    assert spread >= 3


def _groups_of(codes: list[str]) -> dict[str, str]:
    """Each code (as written) -> its condition group, by the production normalisation and grouping."""
    normalised = normalise_codes(codes)
    groups = condition_groups_of(sorted(set(normalised)))
    return {code: groups[norm] for code, norm in zip(codes, normalised, strict=True)}


def test_sample_conditions_codes_and_instruments(sample_db: duckdb.DuckDBPyConnection) -> None:
    rows = sample_db.execute(
        "SELECT condition_code, function_instrument, visit_type, function_score IS NOT NULL FROM sessions "
        "WHERE regexp_full_match(upper(condition_code), '[A-Z][0-9]{2}(\\.?[A-Z0-9]{1,4})?')"
    ).fetchall()
    group_of = _groups_of([code for code, *_ in rows])
    groups = set(group_of.values())
    assert groups == set(condition_groups())
    codes = {code for code, *_ in rows}
    assert any("." not in c and len(c) > 3 for c in codes), "no code written without its dot"
    assert any(c != c.upper() for c in codes), "no lower-case code"
    assert {"M797", "M5450"} <= {c.upper() for c in codes}
    used = Counter((group_of[code], inst) for code, inst, _, _ in rows if inst)
    for group, inst in [("low_back_pain", "ODI"), ("neck_pain", "NDI"), ("whiplash", "NDI"),
                        ("frozen_shoulder", "QuickDASH"), ("shoulder_impingement", "QuickDASH"),
                        ("fibromyalgia", "FIQR"), ("tension_headache", "HIT6"), ("migraine", "HIT6"),
                        ("carpal_tunnel", "BCTQ"), ("plantar_fasciitis", "FFI"), ("knee_osteoarthritis", "KOOS"),
                        ("tmj_disorder", "JFLS"), ("thoracic_pain", "PSFS")]:
        assert used[(group, inst)] >= 2, (group, inst)
    assert {v for _, inst, v, scored in rows if scored and inst} <= {"evaluation", "reevaluation", "discharge"}


def test_sample_rom_rows_fit_their_conditions(sample: InboxSummary) -> None:
    con = duckdb.connect()
    valid = {(r["joint"], r["movement"]) for r in read_reference("rom_normals")}
    allowed = {g: set() for g in model().groups}
    from synthetic.generator import CONDITIONS

    for cond in CONDITIONS:
        for variant in cond.variants:
            allowed[cond.group] |= set(variant.rom)
    seen = set()
    for export in discover_exports(sample.out):
        if "rom" not in export.files:
            continue
        read_export(export, con)
        rows = con.execute(
            "SELECT s.condition_code, r.joint, r.movement, r.timing FROM rom_new r JOIN sessions_new s USING (session_id)"
        ).fetchall()
        group_of = _groups_of([code for code, *_ in rows])
        for code, joint, movement, timing in rows:
            if (joint, movement) in valid:
                assert (joint, movement) in allowed[group_of[code]], (code, joint, movement)
                seen.add((group_of[code], timing))
    assert {g for g, t in seen if t == "post"} >= {"low_back_pain", "neck_pain", "frozen_shoulder", "tmj_disorder"}
    assert "fibromyalgia" not in {g for g, _ in seen}


def test_sample_values_look_like_real_care(sample_db: duckdb.DuckDBPyConnection) -> None:
    q = sample_db.execute(
        """SELECT
             avg(TRY_CAST(pain_pre AS DOUBLE)) FILTER (WHERE visit_type = 'evaluation'),
             avg(TRY_CAST(pain_pre AS DOUBLE) - TRY_CAST(pain_post AS DOUBLE)),
             avg((pain_post IS NULL)::INT), avg((pain_pre IS NULL)::INT), avg((referral_source IS NULL)::INT),
             avg((goals_documented IS NULL)::INT), avg((goals_documented IN ('false', 'no'))::INT),
             avg((symptom_weeks IS NULL)::INT),
             avg((TRY_CAST(pain_pre AS DOUBLE) <> floor(TRY_CAST(pain_pre AS DOUBLE)))::INT),
             avg((cpt_code IN ('97124', '97140'))::INT),
             avg((TRY_CAST(units AS INT) > (TRY_CAST(duration_min AS INT) + 7) // 15 AND cpt_code <> '97162')::INT),
             count(DISTINCT payer_type), count(DISTINCT visit_type)
           FROM sessions"""
    ).fetchone()
    baseline, immediate, post_na, pre_na, ref_na, goals_na, goals_false, weeks_na, halves, cpt, over, payers, visits = q
    assert 5.0 <= baseline <= 6.2
    assert 1.0 <= immediate <= 2.0
    # the second rows of visits billed as two rows carry no scores, nor do courses without measures
    assert 0.04 <= post_na <= 0.2 and 0.03 <= pre_na <= 0.12
    assert 0.05 <= ref_na <= 0.3 and 0.03 <= goals_na <= 0.2 and 0.03 <= goals_false <= 0.25
    assert 0.03 <= weeks_na <= 0.2 and 0.03 <= halves <= 0.2
    assert cpt >= 0.85 and 0.005 <= over <= 0.08
    assert payers == len(contract.PAYER_TYPES) and visits == len(contract.VISIT_TYPES) + 1  # + follow_up (bad row)
    # Pre-treatment pain drifts down over a course of care.
    first, later = sample_db.execute(
        "WITH s AS (SELECT *, row_number() OVER (PARTITION BY clinic_id, episode_id ORDER BY session_date, session_id) k "
        "FROM sessions WHERE episode_id IS NOT NULL) "
        "SELECT avg(TRY_CAST(pain_pre AS DOUBLE)) FILTER (WHERE k = 1), avg(TRY_CAST(pain_pre AS DOUBLE)) FILTER (WHERE k >= 6) "
        "FROM s"
    ).fetchone()
    assert first - later >= 1.0


def test_sample_identifiers(sample_db: duckdb.DuckDBPyConnection) -> None:
    patients, therapists, dupes = sample_db.execute(
        "SELECT list(DISTINCT patient_id), list(DISTINCT therapist_id), "
        "(SELECT count(*) FROM (SELECT clinic_id, session_id FROM sessions "
        " WHERE export NOT LIKE '%-corrections' GROUP BY ALL HAVING count(*) > 1)) FROM sessions"
    ).fetchone()
    assert all(re.fullmatch(r"P[0-9A-F]{7}", p) for p in patients)
    assert all(re.fullmatch(r"T[0-9]{3}", t) for t in therapists)
    kind = contract.identifier_kind_sql("v", dates=True)
    flagged = sample_db.execute(f"SELECT list(v) FILTER (WHERE {kind} IS NOT NULL) FROM unnest(?::VARCHAR[]) t(v)",
                                [[*patients, *therapists]]).fetchone()[0]
    assert not flagged
    assert dupes == 1  # the one deliberately duplicated session_id


def test_sample_bad_rows_are_exactly_the_documented_ones(sample: InboxSummary, sample_checks: dict) -> None:
    rejected = {name: why for name, why in sample_checks.items() if isinstance(why, str)}
    found: dict[str, set[tuple[str, int, str, str]]] = {}
    for name, broken in sample_checks.items():
        if name in rejected:
            continue
        rows = sum(e.sessions + e.rom for e in sample.exports if e.name == name)
        assert len({(f, n) for f, n, _, _ in broken}) / rows < 0.05, name
        if broken:
            found[name] = broken
    assert list(rejected) == [SAMPLE_REJECTED]
    assert "patient_name" in rejected[SAMPLE_REJECTED]
    expected: dict[str, set[tuple[str, int, str, str]]] = {}
    for b in sample.bad_rows:
        expected.setdefault(b.export, set()).add((b.file, b.row_number, b.rule, b.column))
    assert found == expected
    assert 2 <= len(found) <= 3 and 5 <= len(sample.bad_rows) <= 15


def test_the_pipeline_finds_the_generated_episodes(sample: InboxSummary, sample_checks: dict) -> None:
    """metrics.md section 2 (given episode ids, or derived ones) recovers every generated episode."""
    con = duckdb.connect()
    install_reference_tables(con)
    parts = []
    for export in discover_exports(sample.out):
        broken = sample_checks[export.name]
        if isinstance(broken, str):
            continue
        read_export(export, con)
        bad = [n for f, n, _, _ in broken if f == "sessions"] or [-1]
        con.execute(f"CREATE TABLE p{len(parts)} AS SELECT * FROM sessions_new WHERE row_number NOT IN ({', '.join(map(str, bad))})")
        parts.append(f"SELECT * FROM p{len(parts)}")
    # The later export's row is the session (folder-name order within one run); then the production
    # models group the codes and derive the episodes.
    install_macros(con)
    install_thresholds(con, load_settings(environ={}))
    con.execute("CREATE SCHEMA staging")
    con.execute(
        f"CREATE TABLE staging._latest AS SELECT * REPLACE (CAST(session_date AS DATE) AS session_date, "
        f"normalise_icd10(condition_code) AS condition_code) FROM ({' UNION ALL '.join(parts)}) "
        "QUALIFY row_number() OVER (PARTITION BY clinic_id, session_id ORDER BY export DESC) = 1"
    )
    create_table(con, "staging._groups", "staging/condition_groups", sessions="staging._latest")
    create_table(con, "staging.sessions", "staging/sessions", latest="staging._latest", groups="staging._groups")
    found = dict(con.execute(
        "SELECT condition_group, count(*) FROM staging.sessions WHERE session_number = 1 GROUP BY 1"
    ).fetchall())
    assert found == {g: n for g, n in sample.episodes_by_group.items() if n}
    assert min(sample.episodes_by_group.values()) >= 20  # every group large enough to publish (11+ patients)


def test_docs_describe_every_deliberate_problem(sample: InboxSummary) -> None:
    text = DOCS.read_text(encoding="utf-8")
    for b in sample.bad_rows:
        assert b.export in text and f"`{b.rule}`" in text and b.session_id in text, b
    for correction in sample.corrections:  # "<export> supersedes V0000123: what changed"
        session, change = correction.split(" supersedes ")[1].split(": ", 1)
        assert session in text, correction
        assert all(number in text for number in re.findall(r"\b\d+\b", change.split(";")[0])), correction
    assert SAMPLE_REJECTED in text and "python -m synthetic sample" in text
    assert f"{sample.sessions:,} session rows and {sample.rom_rows:,} ROM rows" in text
    for group, n in sample.episodes_by_group.items():
        assert re.search(rf"\| {group} \| {n} \|", text), group


# --- benchmark inboxes ------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "sessions"), [("parquet", 30_000), ("csv", 7_000)])
def test_bench_has_the_requested_sessions_and_only_valid_rows(tmp_path: Path, fmt: str, sessions: int) -> None:
    summary = generate_bench(tmp_path / "inbox", sessions, fmt=fmt, clinics=2, months=3, bad_rate=0.0,
                             block_sessions=8_000)
    exports = discover_exports(summary.out)
    assert [e.name for e in exports] == [f"clinic0{c}-2025-{m}" for c in (1, 2) for m in ("09", "10", "11")]
    assert all(e.files["sessions"].suffix == f".{fmt}" for e in exports)
    assert summary.sessions == sessions
    assert _broken_rows(exports) == {e.name: set() for e in exports}
    con = _sessions(summary.out)
    n, ids = con.execute("SELECT count(*), count(DISTINCT (clinic_id, session_id)) FROM sessions").fetchone()
    assert n == ids == sessions
    rom_sessions = sum(
        con.execute("SELECT count(DISTINCT session_id) FROM " + ("read_parquet(?)" if fmt == "parquet" else "read_csv(?)"),
                    [str(e.files["rom"])]).fetchone()[0]
        for e in exports if "rom" in e.files
    )
    assert 0.10 <= rom_sessions / sessions <= 0.20


def test_bench_bad_rows_are_the_injected_ones(tmp_path: Path) -> None:
    summary = generate_bench(tmp_path / "inbox", 20_000, clinics=1, months=2, bad_rate=0.002)
    found: Counter[str] = Counter()
    for broken in _broken_rows(discover_exports(summary.out)).values():
        assert isinstance(broken, set)
        for file, _, rule, column in broken:
            found[f"{file}.{column}.{rule}"] += 1
    assert dict(found) == summary.bad_counts
    assert sum(found.values()) > 0


def test_bench_layout_grows_with_size() -> None:
    from synthetic.generator import bench_clinics

    assert len(bench_clinics(1_000_000)) == 4
    assert len(bench_clinics(10_000_000)) == 20
    assert sum(n for _, n in bench_clinics(10_000_000)) == 10_000_000
    assert len(bench_clinics(5_000)) == 1


def test_dates_never_pass_the_latest_day(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must end by"):
        generate_bench(tmp_path / "inbox", 100, start="2026-10", months=2)


def test_an_inbox_with_other_files_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not an export folder"):
        prepare_inbox(tmp_path)
    assert (tmp_path / "notes.txt").exists()


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--sessions", "1500", "--out", str(tmp_path / "inbox"), "--format", "csv"]) == 0
    assert "1500 session rows" in capsys.readouterr().out
    assert main(["bench", "--sessions", "10", "--out", str(tmp_path / "x"), "--start", "2027-01"]) == 2


# --- what the payer audit and the research tables need (metrics.md sections 8, 12, 14) ----------------------


def test_sample_authorised_visits(sample: InboxSummary, sample_db: duckdb.DuckDBPyConnection) -> None:
    """North and south record authorised visits of insured episodes (CSV and Parquet); east has no column."""
    for export in discover_exports(sample.out):
        if export.name == SAMPLE_REJECTED:
            continue
        path = export.files["sessions"]
        columns = (pq.read_schema(path).names if path.suffix == ".parquet"
                   else path.read_text(encoding="utf-8").splitlines()[0].split(","))
        assert ("authorized_visits" in columns) == (not export.name.startswith("clinic-east")), export.name
        if path.suffix == ".parquet":
            assert str(pq.read_schema(path).field("authorized_visits").type) == "int32"
    rows = sample_db.execute(
        "SELECT clinic_id, payer_type, TRY_CAST(authorized_visits AS INTEGER) FROM sessions "
        "WHERE authorized_visits IS NOT NULL").fetchall()
    assert {c for c, _, _ in rows} == {"north", "south"}
    assert {p for _, p, _ in rows} == set(contract.INSURED_PAYERS)
    assert all(v is not None and v >= 1 for _, _, v in rows)
    # authorisations that run out, change later, or are recorded after the first visit
    over, changed, late = sample_db.execute(
        """WITH s AS (SELECT episode_id, TRY_CAST(authorized_visits AS INTEGER) AS a,
                             row_number() OVER (PARTITION BY episode_id ORDER BY session_date, session_id) AS k
                      FROM sessions WHERE clinic_id = 'north' AND session_date >= '2000')
           SELECT count(DISTINCT episode_id) FILTER (WHERE k > a),
                  (SELECT count(*) FROM (SELECT episode_id FROM s WHERE a IS NOT NULL GROUP BY 1
                                         HAVING count(DISTINCT a) > 1)),
                  (SELECT count(*) FROM (SELECT episode_id FROM s GROUP BY 1
                                         HAVING min(k) FILTER (WHERE a IS NOT NULL) > 1))
           FROM s"""
    ).fetchone()
    assert over >= 5 and changed >= 5 and late >= 5


def test_sample_bills_some_visits_as_two_rows_of_one_day(sample_db: duckdb.DuckDBPyConnection) -> None:
    """Days with two timed rows of one patient; some of them over-billed for the day's minutes only."""
    days, over_day_only = sample_db.execute(
        """WITH d AS (SELECT clinic_id, patient_id, session_date, count(*) AS n,
                             sum(TRY_CAST(units AS INT)) AS units, sum(TRY_CAST(duration_min AS INT)) AS minutes,
                             bool_and(TRY_CAST(units AS INT) <= (TRY_CAST(duration_min AS INT) + 7) // 15) AS rows_ok
                      FROM sessions WHERE cpt_code IN ('97110', '97112', '97124', '97140', '97530')
                        AND export NOT LIKE '%-corrections' AND export NOT LIKE '%-with-names'
                      GROUP BY ALL HAVING count(*) > 1)
           SELECT count(*), count(*) FILTER (WHERE rows_ok AND units > (minutes + 7) // 15) FROM d"""
    ).fetchone()
    assert days >= 50 and over_day_only >= 5


def test_sample_flares_techniques_and_follow_up(sample_db: duckdb.DuckDBPyConnection) -> None:
    """Flares on 2-10% of scored visits, more with deep work; several techniques per visit; discharged,
    active and lost-to-follow-up episodes (north, whose episode ids need no derivation)."""
    flare_rate, per_visit, distinct = sample_db.execute(
        """SELECT avg((TRY_CAST(pain_post AS DOUBLE) - TRY_CAST(pain_pre AS DOUBLE) >= 2)::INT)
                      FILTER (WHERE pain_pre IS NOT NULL AND pain_post IS NOT NULL AND TRY_CAST(pain_pre AS DOUBLE) <= 10),
                  avg(len(string_split(techniques, ';'))),
                  count(DISTINCT t)
           FROM sessions, unnest(string_split(coalesce(techniques, ''), ';')) AS u(t)"""
    ).fetchone()
    assert 0.02 <= flare_rate <= 0.10
    assert per_visit >= 1.8 and distinct >= len(contract.TECHNIQUES)
    by_technique = dict(sample_db.execute(
        """SELECT t, avg((TRY_CAST(pain_post AS DOUBLE) - TRY_CAST(pain_pre AS DOUBLE) >= 2)::INT)
           FROM sessions, unnest(string_split(techniques, ';')) AS u(t)
           WHERE pain_pre IS NOT NULL AND pain_post IS NOT NULL GROUP BY t"""
    ).fetchall())
    assert by_technique["deep_tissue"] > 1.5 * by_technique["swedish"]
    status = dict(sample_db.execute(
        """WITH e AS (SELECT episode_id, bool_or(visit_type = 'discharge') AS discharged,
                             max(TRY_CAST(session_date AS DATE)) AS last
                      FROM sessions WHERE clinic_id = 'north' AND session_date >= '2000' GROUP BY 1),
                end_ AS (SELECT max(last) AS data_end FROM e)
           SELECT CASE WHEN discharged THEN 'discharged' WHEN date_diff('day', last, data_end) <= 30 THEN 'active'
                       ELSE 'lost' END, count(*)
           FROM e, end_ GROUP BY 1"""
    ).fetchall())
    total = sum(status.values())
    assert all(status[s] >= 0.1 * total for s in ("discharged", "active", "lost")), status
