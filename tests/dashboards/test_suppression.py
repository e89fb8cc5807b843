"""Unit tests of the suppression rules (dashboards/suppression.py): primary, complementary, cascade, curves."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboards.suppression import (
    ALL,
    Line,
    check_lines,
    complementary_suppression,
    descendants,
    is_small,
    margin_lines,
    mask,
    primary_suppression,
    suppress,
    suppress_curves,
    suppress_frame,
)


def one_way(sizes: dict[str, int]) -> tuple[dict, list[Line]]:
    """A one-way table of groups with its total (support = patients)."""
    support = {(g,): n for g, n in sizes.items()}
    support[(ALL,)] = sum(sizes.values())
    return support, margin_lines(support)


def test_small_cells_are_one_to_threshold_minus_one() -> None:
    assert [is_small(n, 11) for n in (0, 1, 10, 11, 40, None, float("nan"))] == [
        False, True, True, False, False, False, False]


def test_threshold_is_configurable() -> None:
    assert primary_suppression({"a": 12, "b": 25, "c": 0}, 20) == {"a"}
    assert primary_suppression({"a": 12, "b": 25, "c": 0}, 11) == set()


def test_groups_of_3_10_11_40_two_small_cells_protect_each_other() -> None:
    support, lines = one_way({"a": 3, "b": 10, "c": 11, "d": 40})
    hidden = suppress(support, lines, 11)
    # 3 and 10 are hidden; together they rest on 13 >= 11 patients, so 11 and 40 stay visible
    assert hidden == {("a",), ("b",)}
    assert check_lines(support, lines, hidden, 11) == []


def test_a_single_hidden_cell_gets_the_next_smallest_as_complement() -> None:
    support, lines = one_way({"a": 3, "c": 11, "d": 40})
    assert primary_suppression(support, 11) == {("a",)}
    hidden = suppress(support, lines, 11)
    assert hidden == {("a",), ("c",)}  # total 54 - 40 = 14: a and c cannot be told apart
    assert check_lines(support, lines, hidden, 11) == []


def test_hidden_cells_adding_up_to_few_patients_get_another_complement() -> None:
    support, lines = one_way({"a": 3, "b": 4, "c": 20, "d": 40})
    hidden = suppress(support, lines, 11)
    assert hidden == {("a",), ("b",), ("c",)}  # 3 + 4 = 7 could be read from the total


def test_zero_cells_are_shown_and_never_chosen_as_complement() -> None:
    support, lines = one_way({"a": 3, "z": 0, "d": 40, "e": 50})
    hidden = suppress(support, lines, 11)
    assert ("z",) not in hidden and hidden == {("a",), ("d",)}


def test_a_small_total_is_hidden_with_its_cells() -> None:
    support, lines = one_way({"a": 3, "b": 4})
    hidden = suppress(support, lines, 11)
    assert hidden == {("a",), ("b",), (ALL,)}


def test_only_cell_hidden_under_a_shown_total_hides_the_total() -> None:
    support = {("x",): 5, (ALL,): 30}  # the other 25 patients are in no published cell
    lines = [Line((ALL,), (("x",),))]
    assert suppress(support, lines, 11) == {("x",), (ALL,)}


def test_two_way_table_with_margins_is_protected_along_rows_and_columns() -> None:
    # clinics x conditions with margins: C2's small cells force hiding in C2 *and* in the conditions' columns
    cells = {("C1", "lbp"): 25, ("C1", "neck"): 6, ("C1", "sci"): 6, ("C1", "mig"): 3,
             ("C2", "lbp"): 15, ("C2", "neck"): 5, ("C2", "sci"): 4}
    support = dict(cells)
    for clinic in ("C1", "C2"):
        support[(clinic, ALL)] = sum(v for (c, _), v in cells.items() if c == clinic)
    for cond in ("lbp", "neck", "sci", "mig"):
        support[(ALL, cond)] = sum(v for (_, g), v in cells.items() if g == cond)
    support[(ALL, ALL)] = sum(cells.values())
    lines = margin_lines(support)
    hidden = suppress(support, lines, 11)
    assert check_lines(support, lines, hidden, 11) == []
    # C2: neck 5 + sci 4 = 9 < 11, so C2's low back pain is hidden too, and then C1's low back pain
    assert {("C2", "lbp"), ("C1", "lbp")} <= hidden
    assert (ALL, "lbp") not in hidden and (ALL, ALL) not in hidden


def test_cascade_hides_the_breakdown_of_a_hidden_total() -> None:
    support = {(ALL, ALL): 60, ("C1", ALL): 50, ("C2", ALL): 5, ("C2", "T3"): 3, ("C2", "T4"): 2,
               ("C1", "T1"): 25, ("C1", "T2"): 25}
    lines = margin_lines(support)
    children = {("C1", ALL): [("C1", "T1"), ("C1", "T2")], ("C2", ALL): [("C2", "T3"), ("C2", "T4")]}
    hidden = suppress(support, lines, 11, children=children)
    # C2 is small, so C1 is its complement in the clinic line, and C1's therapists go with it
    assert hidden == set(support) - {(ALL, ALL)}


def test_complementary_suppression_returns_a_new_set() -> None:
    start = {("a",)}
    support, lines = one_way({"a": 3, "c": 11, "d": 40})
    out = complementary_suppression(support, lines, start, 11)
    assert start == {("a",)} and out == {("a",), ("c",)}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=30), min_size=2, max_size=5), min_size=2, max_size=5),
       st.integers(min_value=5, max_value=20))
def test_no_two_way_table_leaves_a_recoverable_or_small_cell(rows: list[list[int]], threshold: int) -> None:
    width = min(len(r) for r in rows)
    support: dict = {}
    for i, row in enumerate(rows):
        for j, value in enumerate(row[:width]):
            support[(f"r{i}", f"c{j}")] = value
        support[(f"r{i}", ALL)] = sum(row[:width])
    for j in range(width):
        support[(ALL, f"c{j}")] = sum(r[j] for r in rows)
    support[(ALL, ALL)] = sum(sum(r[:width]) for r in rows)
    lines = margin_lines(support)
    hidden = suppress(support, lines, threshold)
    assert check_lines(support, lines, hidden, threshold) == []


def test_suppress_frame_and_mask_remove_the_values() -> None:
    frame = pd.DataFrame({
        "group": ["a", "b", "c", ALL], "patients": [3, 11, 40, 54], "mean": [1.25, 2.5, 3.75, 3.1],
    })
    hidden = suppress_frame(frame, ["group"], "patients", 11)
    assert hidden.tolist() == [True, True, False, False]
    out = mask(frame, hidden, ["patients", "mean"])
    assert out["mean"].tolist() == [None, None, 3.75, 3.1]
    assert out["patients"].tolist() == [None, None, 40, 54]
    assert out["suppressed"].tolist() == [True, True, False, False]
    assert frame["mean"].tolist() == [1.25, 2.5, 3.75, 3.1]  # the input is untouched


def test_curves_stop_at_the_first_point_on_too_few_patients() -> None:
    frame = pd.DataFrame({
        "group": ["a"] * 4 + ["b"] * 4 + [ALL] * 4,
        "t": [1, 2, 3, 4] * 3,
        "support": [40, 20, 12, 8, 30, 25, 20, 15, 70, 45, 32, 23],
    })
    hidden = suppress_curves(frame, "group", "t", "support", 11)
    by_key = dict(zip(zip(frame["group"], frame["t"], strict=True), hidden, strict=True))
    # a at t=4 rests on 8: hidden; b at t=4 is its complement (the all curve would reveal it)
    assert by_key[("a", 4)] and by_key[("b", 4)]
    assert not any(by_key[("a", t)] for t in (1, 2, 3)) and not by_key[(ALL, 4)]


def test_curves_of_blocked_groups_are_hidden_entirely_and_complemented() -> None:
    frame = pd.DataFrame({"group": ["a", "a", "b", "b", "c", "c", ALL, ALL], "t": [1, 2] * 4,
                          "support": [30, 28, 40, 35, 50, 44, 120, 107]})
    hidden = suppress_curves(frame, "group", "t", "support", 11, hidden_groups=["a"])
    shown = {(g, t) for g, t, h in zip(frame["group"], frame["t"], hidden, strict=True) if not h}
    assert ("a", 1) not in shown and ("b", 1) not in shown and ("c", 1) in shown and (ALL, 1) in shown


def test_descendants_of_a_small_cube() -> None:
    keys = [(ALL, ALL), ("c1", ALL), ("c1", "t1"), ("c1", "t2"), (ALL, "t1"), ("c2", "t1")]
    found = descendants(keys)
    assert found[(ALL, ALL)] == [("c1", ALL), ("c1", "t1"), ("c1", "t2"), (ALL, "t1"), ("c2", "t1")]
    assert found[("c1", ALL)] == [("c1", "t1"), ("c1", "t2")]
    assert found[(ALL, "t1")] == [("c1", "t1"), ("c2", "t1")]
    assert found[("c1", "t1")] == []


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4).flatmap(
    lambda w: st.lists(st.tuples(*[st.sampled_from([ALL, "a", "b", "c"])] * w), max_size=40)))
def test_descendants_match_their_definition(keys: list[tuple[str, ...]]) -> None:
    def specific(key: tuple[str, ...]) -> set[int]:
        return {i for i, v in enumerate(key) if v != ALL}

    unique = list(dict.fromkeys(keys))
    expected = {
        key: [o for o in unique if specific(key) < specific(o) and all(o[i] == key[i] for i in specific(key))]
        for key in unique
    }
    assert descendants(keys) == expected
