"""The process's in-memory DuckDB for small computations, and the per-process memo of name checks."""

from __future__ import annotations

import threading

from transforms import contract
from transforms.local_duckdb import local_cursor


def test_each_cursor_is_its_own_connection_on_one_database() -> None:
    with local_cursor() as a, local_cursor() as b:
        a.execute("CREATE TEMP TABLE t AS SELECT 1 AS x")
        assert a.execute("SELECT x FROM t").fetchall() == [(1,)]
        # temporary objects belong to their cursor and end with it
        assert b.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'").fetchall() == [(0,)]
    with local_cursor() as c:
        assert c.execute("SELECT count(*) FROM duckdb_tables()").fetchall() == [(0,)]


def test_cursors_work_from_several_threads() -> None:
    results: list[int] = []

    def work(n: int) -> None:
        with local_cursor() as con:
            results.append(con.execute("SELECT sum(range) FROM range(?)", [n]).fetchall()[0][0])

    threads = [threading.Thread(target=work, args=(n,)) for n in (10, 100, 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [45, 4950, 499500]


def test_names_are_checked_once_per_process_with_the_same_answers(monkeypatch) -> None:
    asked: list[list[str]] = []
    real = contract.identifier_kinds

    def counting(values, dates):
        asked.append(list(values))
        return real(values, dates)

    monkeypatch.setattr(contract, "_NAME_KINDS", {})
    monkeypatch.setattr(contract, "identifier_kinds", counting)
    names = ["clinic01-2024-03", "jane.doe@example.com", "sessions.csv", "555-867-5309"]
    first = contract.names_like_identifiers(names)
    assert first == {"jane.doe@example.com": "an e-mail address", "555-867-5309": "a phone number"}
    assert asked == [["clinic01-2024-03", "jane.doe@example.com", "555-867-5309"]]
    assert contract.names_like_identifiers(names) == first
    assert contract.names_like_identifiers([*names, "north-212-555-0199"]) == {
        **first, "north-212-555-0199": "a phone number"}
    assert asked[1:] == [["north-212-555-0199"]]  # only the new name went to DuckDB
    # dates are part of the question: the same name, asked with dates, is checked again
    assert contract.names_like_identifiers(["2024-03-05"], dates=True) == {"2024-03-05": "a date"}
    assert contract.names_like_identifiers(["2024-03-05"]) == {}


def test_a_full_memo_starts_again_and_still_answers_every_name(monkeypatch) -> None:
    monkeypatch.setattr(contract, "_NAME_KINDS", {})
    monkeypatch.setattr(contract, "_NAME_KINDS_MAX", 3)
    assert contract.names_like_identifiers(["a1-2-3", "555-867-5309"]) == {"555-867-5309": "a phone number"}
    # two known names and two new ones exceed the memo: it starts again with the new ones, and the
    # answer still covers all four
    found = contract.names_like_identifiers(["a1-2-3", "555-867-5309", "b4-5-6", "jo@example.org"])
    assert found == {"555-867-5309": "a phone number", "jo@example.org": "an e-mail address"}
    assert set(contract._NAME_KINDS) == {("b4-5-6", False), ("jo@example.org", False)}


def test_a_memo_emptied_by_another_thread_meanwhile_still_gives_every_answer(monkeypatch) -> None:
    monkeypatch.setattr(contract, "_NAME_KINDS", {("555-867-5309", False): "a phone number"})
    real = contract.identifier_kinds

    def emptying(values, dates):  # another thread empties the memo while this one asks DuckDB
        contract._NAME_KINDS.clear()
        return real(values, dates)

    monkeypatch.setattr(contract, "identifier_kinds", emptying)
    assert contract.names_like_identifiers(["555-867-5309", "jo@example.org"]) == {
        "555-867-5309": "a phone number", "jo@example.org": "an e-mail address"}
