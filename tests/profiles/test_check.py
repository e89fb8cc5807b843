"""`outcomes check`: exact readiness figures on a hand-made inbox, and the warehouse is never touched.

The inbox (contract format, clinic C1, 14 patients, one episode each):

- group A, P01-P06, commercial: 3 weekly visits (evaluation, treatment, treatment), pain before 6, 5, 3,
  pain after only at the first (4), referral and goals only at the first, "swedish" at every visit, 97124;
  P01 and P02 have lumbar flexion measured before treatment at visits 1 and 3, P03 at visit 1 only;
- group B, P07-P11, self-pay: 2 visits, pain before only at the second, ODI at both, 97140;
- group C, P12-P14, Medicare: 1 evaluation scored 2 before and 1 after, 10 visits authorised, goals false,
  the untimed code 97010;
- three rows of P01 that break a rule (pain 11; an age band that looks like a phone number; a sex that looks
  like a date of birth) are quarantined and count nowhere;
- a second export without a sessions file is rejected.

31 visits (A 18, B 10, C 3), 14 episodes, 14 patients; the rows of the sessions file are
31 + 3 = 34, and 5 ROM rows. Which payer types each flag applies to is the shipped reference table:
UNITS_OVER_TIME all of them, NO_REFERRAL the insured and fsa_hsa, every other flag the insured (A and C).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from tests.conftest import rom, session, table_snapshot, write_export
from transforms.config import load_settings
from transforms.readiness import ANSWERS, AnswerSpec, Readiness, percent

DATES = ("2026-03-02", "2026-03-09", "2026-03-16")


def _inbox(inbox: Path) -> None:
    rows = []
    for p in range(1, 7):
        for k in range(3):
            rows.append(session(
                session_id=f"A{p}-{k + 1}", patient_id=f"P{p:02d}", session_date=DATES[k],
                visit_type="evaluation" if k == 0 else "treatment", payer_type="commercial", cpt_code="97124",
                pain_pre=str(6 - k - (k == 2)), pain_post="4" if k == 0 else "", referral_source="physician" if k == 0 else "",
                goals_documented="true" if k == 0 else "", techniques="swedish", function_instrument="",
                function_score=""))
    for p in range(7, 12):
        for k in range(2):
            rows.append(session(
                session_id=f"B{p}-{k + 1}", patient_id=f"P{p:02d}", session_date=DATES[k],
                visit_type="evaluation" if k == 0 else "treatment", payer_type="self_pay", cpt_code="97140",
                pain_pre="5" if k == 1 else "", pain_post="", referral_source="", goals_documented="", techniques="",
                function_instrument="ODI", function_score=str(40 - 10 * k)))
    for p in range(12, 15):
        rows.append(session(
            session_id=f"C{p}-1", patient_id=f"P{p:02d}", session_date=DATES[0], visit_type="evaluation",
            payer_type="medicare", cpt_code="97010", units="1", duration_min="15", pain_pre="2", pain_post="1",
            authorized_visits="10", referral_source="", goals_documented="false", techniques="",
            function_instrument="", function_score=""))
    rows += [
        session(session_id="A1-4", patient_id="P01", session_date="2026-03-23", visit_type="treatment", pain_pre="11"),
        session(session_id="A1-5", patient_id="P01", session_date="2026-03-30", visit_type="treatment",
                age_band="555-867-5309"),
        session(session_id="A1-6", patient_id="P01", session_date="2026-04-06", visit_type="treatment",
                sex="03/14/1957"),
    ]
    rom_rows = [rom(session_id=s, value=v) for s, v in (("A1-1", "40"), ("A1-3", "55"), ("A2-1", "40"), ("A2-3", "50"),
                                                        ("A3-1", "45"))]
    write_export(inbox, "ready-a", rows, rom_rows)
    write_export(inbox, "rejected-b", None, [rom()])


# answer -> (visits with, visits total, episodes with, episodes total, patients with, verdict), worked by hand
EXPECTED = {
    "responder_rates": (26, 31, 6, 14, 6, "too few patients"),  # pain before: A 18 + B 5 + C 3; evaluable: A
    "sessions_to_relief": (26, 31, 6, 14, 6, "too few patients"),  # A: first score 6 >= 3 and later ones
    "immediate_change": (9, 31, 9, 14, 9, "too few patients"),  # both scores: A's first visits and C
    "rom_gains": (5, 31, 2, 14, 2, "too few patients"),  # pre values at A1/1, A1/3, A2/1, A2/3, A3/1; series: P01, P02
    "function_outcomes": (10, 31, 5, 14, 5, "too few patients"),  # B: ODI at both visits
    "technique_outcomes": (18, 31, 6, 14, 6, "too few patients"),  # A: swedish primary and pain-evaluable
    "units_over_time": (28, 31, 11, 14, 11, "yes"),  # timed codes: A and B; exactly 11 patients is enough
    "over_authorized": (3, 21, 3, 9, 3, "too few patients"),  # insured: A and C; authorised: C
    "no_referral": (6, 21, 6, 9, 6, "too few patients"),  # referral at A's first visits
    "no_evaluation": (21, 21, 9, 9, 9, "too few patients"),
    "no_recertification": (21, 21, 9, 9, 9, "too few patients"),
    "care_after_goal": (21, 21, 6, 9, 6, "too few patients"),  # relief-evaluable: A
    "no_goals": (9, 21, 9, 9, 9, "too few patients"),  # recorded (true or false): A's first visits and C
    "no_progress_note": (21, 21, 9, 9, 9, "too few patients"),
    "no_baseline_measure": (21, 21, 9, 9, 9, "too few patients"),  # a score at the first visit: A and C
    "no_outcome_measure": (21, 21, 6, 9, 6, "too few patients"),  # a score at a later visit: A only
    "plateau": (21, 21, 0, 9, 0, "no"),  # nobody has 6 scored visits
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory):
    """`outcomes check` on the inbox, once, next to an existing warehouse; returns what it printed and the paths."""
    root = tmp_path_factory.mktemp("check")
    inbox = root / "inbox"
    _inbox(inbox)
    warehouse = root / "existing" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    with duckdb.connect(str(warehouse)) as con:
        from transforms.loading import ensure_schema

        ensure_schema(con)
        con.execute("INSERT INTO ops.exports VALUES ('older', 1, 'c0', now(), now())")
    before = (table_snapshot(warehouse, exclude=()), hashlib.sha256(warehouse.read_bytes()).hexdigest(),
              warehouse.stat().st_mtime_ns, sorted(p.name for p in warehouse.parent.iterdir()))
    restricted = root / "restricted"
    previous = os.environ.get("OUTCOMES_WAREHOUSE")
    os.environ["OUTCOMES_WAREHOUSE"] = str(warehouse)
    try:
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(["check", "--inbox", str(inbox), "--restricted", str(restricted)])
    finally:
        if previous is None:
            os.environ.pop("OUTCOMES_WAREHOUSE")
        else:
            os.environ["OUTCOMES_WAREHOUSE"] = previous
    after = (table_snapshot(warehouse, exclude=()), hashlib.sha256(warehouse.read_bytes()).hexdigest(),
             warehouse.stat().st_mtime_ns, sorted(p.name for p in warehouse.parent.iterdir()))
    return status, out.getvalue(), before, after, restricted, inbox


def test_check_changes_no_table_of_an_existing_warehouse(checked) -> None:
    status, _out, before, after, _restricted, _inbox = checked
    assert status == 0
    assert after == before  # every table, the file's bytes and time, and nothing new beside it (no scratch, no lock)


def test_check_works_with_no_warehouse_at_all(tmp_path: Path, monkeypatch, capsys) -> None:
    write_export(tmp_path / "inbox", "a", [session()])
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OUTCOMES_WAREHOUSE", raising=False)
    monkeypatch.delenv("OUTCOMES_RESTRICTED", raising=False)
    assert main(["check", "--inbox", "inbox"]) == 0
    assert "a (no profile: read as the contract)\n  would load 1 of 1 rows\n" in capsys.readouterr().out
    # the default warehouse (build/warehouse.duckdb) was neither created nor given a folder of scratch files
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == ["restricted"]


def test_check_of_an_inbox_where_no_export_can_be_read(tmp_path: Path, capsys) -> None:
    # no file reaches the row rules: the report says why and that nothing would load (it stopped with a
    # catalog error before)
    folder = tmp_path / "inbox" / "a"
    folder.mkdir(parents=True)
    (folder / "sessions.csv").write_text("session_id,clinic_id\nS1,C1,extra\n")
    assert main(["check", "--inbox", str(tmp_path / "inbox"), "--restricted", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "  would be rejected: sessions.csv is missing required column(s)" in out
    assert "the 0 export(s) that would load hold 0 visits, 0 episodes and 0 patients" in out
    assert "  responder rates                   no data" in out


def test_readiness_figures_are_exact(checked) -> None:
    _status, out, *_ = checked
    table = out.split("episodes it rests on\n")[1].split("\n\n")[0].splitlines()
    assert len(table) == len(ANSWERS) == len(EXPECTED)
    for line, spec in zip(table, ANSWERS, strict=True):
        vw, vt, ew, et, _pw, verdict = EXPECTED[spec.key]
        cells = [c for c in line.strip().split("  ") if c.strip()]
        assert [c.strip() for c in cells] == [spec.title, verdict, f"{percent(vw, vt)} ({vw} of {vt})",
                                              f"{percent(ew, et)} ({ew} of {et})"], line


def test_readiness_in_words(checked) -> None:
    _status, out, *_ = checked
    assert ("  - pain before treatment on 84% of visits: responder rates will rest on 43% of episodes (6 of 14), of 6 "
            "patient(s): fewer than 11, suppressed when published\n") in out
    assert ("  - a timed CPT code on 90% of the visits of the payer types it applies to: UNITS_OVER_TIME can be judged "
            "on 79% of their episodes (11 of 14)\n") in out
    assert ("  - pain before treatment on 100% of the visits of the payer types it applies to: PLATEAU can be judged "
            "on 0% of their episodes (0 of 9)\n") in out
    assert "readiness: the 1 export(s) that would load hold 31 visits, 14 episodes and 14 patients" in out


def test_what_would_happen_to_each_export(checked) -> None:
    _status, out, *_ = checked
    assert "ready-a (no profile: read as the contract)\n  would load 36 of 39 rows; 3 would be quarantined\n" in out
    assert "    sessions.pain_pre.out_of_range: 1 row(s), e.g. row 32: '11'\n" in out
    assert "rejected-b (no profile: read as the contract)\n  would be rejected: the export has no sessions file" in out


def test_examples_never_show_an_identifier_looking_value(checked) -> None:
    _status, out, _b, _a, restricted, _inbox = checked
    page = (restricted / "readiness" / "index.html").read_text()
    for text in (out, page):
        assert "555-867-5309" not in text and "03/14/1957" not in text
    assert "    sessions.age_band.not_in_vocabulary: 1 row(s), e.g. row 33: '(withheld: looks like a phone number)'" in out
    assert "    sessions.sex.not_in_vocabulary: 1 row(s), e.g. row 34: '(withheld: looks like a date)'" in out


def test_the_page_is_restricted_and_offline(checked) -> None:
    _status, out, _b, _a, restricted, _inbox = checked
    page = restricted / "readiness" / "index.html"
    assert f"report: {page} (restricted: it names exports, rows and values)" in out
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
    text = page.read_text()
    assert "<script" not in text and not re.search(r"https?://", text)  # (the page names the inbox's path)
    assert "<td>responder rates</td><td class='warn'>too few patients</td>" in text


def test_verdicts_at_their_edges() -> None:
    spec = AnswerSpec("x", "x", None, "v", "e")
    flag = AnswerSpec("f", "F", "F", "v", "e")
    assert Readiness(spec, 0, 0, 0, 0, 0, 0, threshold=11).verdict == "no data"
    assert Readiness(flag, 0, 0, 0, 0, 0, 0, threshold=11).verdict == "not applicable"
    assert Readiness(spec, 1, 5, 0, 3, 0, 3, threshold=11).verdict == "no"
    assert Readiness(spec, 1, 5, 10, 30, 10, 30, threshold=11).verdict == "too few patients"
    assert Readiness(spec, 1, 5, 11, 30, 11, 30, threshold=11).verdict == "yes"
    assert [percent(0, 3), percent(1, 300), percent(299, 300), percent(3, 3), percent(1, 0)] == \
        ["0%", "<1%", ">99%", "100%", "-"]


def test_check_reads_settings_and_thresholds_like_a_run(tmp_path: Path) -> None:
    settings = load_settings(environ={"OUTCOMES_PLATEAU_MIN_SESSIONS": "8"}, inbox=tmp_path)
    plateau = next(a for a in ANSWERS if a.key == "plateau")
    assert plateau.needs(settings) == "at least 8 visits with pain before treatment"
