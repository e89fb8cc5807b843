"""Small-cell suppression for publishing (metrics.md section 9, domain-reference.md section 7).

The warehouse keeps every detail; only what the site shows is suppressed. The rules:

1. **Primary suppression.** A cell (a count, mean, rate or curve point) whose *support* -- the
   number of distinct patients it rests on -- is between 1 and ``threshold - 1`` is hidden. A cell
   resting on 0 patients is not hidden (a zero count may be shown; a mean of nothing is "no data").
2. **Complementary suppression.** Published tables have totals, and totals are sums of their cells.
   Every additive relation ``total = member_1 + ... + member_k`` is a :class:`Line`. A hidden cell
   could be recovered by subtraction if it were the only hidden element of a line, and a group of
   hidden cells could be recovered *together* if their combined support were still small. So, until
   nothing changes, for every line whose elements (the total and its members) include a hidden one:

   - if exactly one element is hidden, or the total is shown and the hidden members rest on fewer
     than ``threshold`` patients together, the smallest shown member with a non-zero support is hidden
     too (ties broken by key, so the result is deterministic);
   - if no member is left to hide, the total is hidden instead.

3. **Cascade** (optional, presentational): when a total is hidden, its breakdown is hidden as well,
   so that a page never shows the parts of a unit whose whole is suppressed.

The functions here are pure: mappings or DataFrames in, sets or DataFrames out. Pages call them on
small aggregated frames and then :func:`mask` the values of hidden rows, so a suppressed number
never reaches a figure, a table or the HTML.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import pandas as pd

ALL = "all"
"""The label of a margin (total) in a key column, as in ``condition_group = 'all'`` of the marts."""

SUPPRESSED_COLUMN = "suppressed"

Key = Hashable


@dataclass(frozen=True)
class Line:
    """An additive relation between published cells: ``total`` is the sum of ``members``."""

    total: Key
    members: tuple[Key, ...]


def suppressed_label(threshold: int) -> str:
    """How a suppressed cell is shown, e.g. ``"<11"``."""
    return f"<{int(threshold)}"


def _support(value: object) -> float:
    """A support value as a float; missing or NaN counts as 0 (nothing to protect)."""
    if value is None:
        return 0.0
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(number) else number


def is_small(support: object, threshold: int) -> bool:
    """True when a cell resting on ``support`` distinct patients must be suppressed (1..threshold-1)."""
    n = _support(support)
    return 0 < n < threshold


def primary_suppression(support: Mapping[Key, object], threshold: int) -> set[Key]:
    """The cells that rest on 1 to ``threshold - 1`` distinct patients."""
    return {key for key, n in support.items() if is_small(n, threshold)}


def complementary_suppression(
    support: Mapping[Key, object],
    lines: Sequence[Line],
    hidden: Iterable[Key],
    threshold: int,
    children: Mapping[Key, Sequence[Key]] | None = None,
) -> set[Key]:
    """Extend ``hidden`` until no hidden cell can be recovered from a line (see the module docstring).

    ``support`` maps every published cell to its distinct-patient count; members or totals of a
    line that are not in ``support`` are ignored (they are not published). ``children`` optionally
    maps a cell to cells that are hidden whenever it is (the cascade). Returns a new set.
    """
    result = set(hidden)
    sizes = {key: _support(n) for key, n in support.items()}
    changed = True
    while changed:
        changed = False
        if children:
            for key in sorted(result, key=str):
                for child in children.get(key, ()):
                    if child in sizes and child not in result:
                        result.add(child)
                        changed = True
        for line in lines:
            if line.total not in sizes:
                continue
            members = [m for m in line.members if m in sizes]
            if not members:
                continue
            hidden_members = [m for m in members if m in result]
            total_hidden = line.total in result
            n_hidden = len(hidden_members) + int(total_hidden)
            if n_hidden == 0:
                continue
            hidden_sum = sum(sizes[m] for m in hidden_members)
            needs_more = n_hidden == 1 or (not total_hidden and hidden_sum < threshold)
            if not needs_more:
                continue
            candidates = sorted(
                (m for m in members if m not in result and sizes[m] > 0), key=lambda m: (sizes[m], str(m))
            )
            if candidates:
                result.add(candidates[0])
                changed = True
            elif not total_hidden:
                result.add(line.total)
                changed = True
    return result


def suppress(
    support: Mapping[Key, object],
    lines: Sequence[Line],
    threshold: int,
    pre_hidden: Iterable[Key] = (),
    children: Mapping[Key, Sequence[Key]] | None = None,
) -> set[Key]:
    """Primary then complementary suppression: the set of cells to hide."""
    hidden = primary_suppression(support, threshold) | {k for k in pre_hidden if k in support}
    return complementary_suppression(support, lines, hidden, threshold, children)


# --- DataFrames with margin rows -------------------------------------------------------------------


def frame_keys(frame: pd.DataFrame, key_columns: Sequence[str]) -> list[tuple[str, ...]]:
    """The key tuple of every row (values as strings; missing values become :data:`ALL`)."""
    columns = [frame[c].map(lambda v: ALL if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
               for c in key_columns]
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(len(frame))]


def margin_lines(keys: Iterable[tuple[str, ...]], all_label: str = ALL) -> list[Line]:
    """The additive lines of a table whose key columns use ``all_label`` for totals.

    For every key column and every combination of the other columns' values, the row with
    ``all_label`` in that column is the total of the rows with a specific value there (and the same
    other values). Lines without a total row or without members are left out.
    """
    key_set = list(dict.fromkeys(keys))
    present = set(key_set)
    if not key_set:
        return []
    width = len(key_set[0])
    lines: list[Line] = []
    for column in range(width):
        groups: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for key in key_set:
            if key[column] == all_label:
                continue
            total = (*key[:column], all_label, *key[column + 1:])
            groups.setdefault(total, []).append(key)
        for total, members in groups.items():
            if total in present:
                lines.append(Line(total, tuple(sorted(members))))
    return lines


def descendants(keys: Iterable[tuple[str, ...]], all_label: str = ALL) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """For every key, the more specific keys that agree with it wherever it is not ``all_label``.

    Found from the other side: every key is a descendant of each of its proper generalisations
    (some of its specific values replaced by ``all_label``) that is itself a key. Keys are short,
    so this is linear in the number of keys; descendants keep the order of ``keys``.
    """
    key_set = list(dict.fromkeys(keys))
    out: dict[tuple[str, ...], list[tuple[str, ...]]] = {key: [] for key in key_set}
    for key in key_set:
        specific = [i for i, v in enumerate(key) if v != all_label]
        for size in range(len(specific)):
            for kept in combinations(specific, size):
                general = tuple(v if i in kept or v == all_label else all_label for i, v in enumerate(key))
                if general in out:
                    out[general].append(key)
    return out


def suppress_frame(
    frame: pd.DataFrame,
    key_columns: Sequence[str],
    support_column: str,
    threshold: int,
    cascade: bool = True,
    extra_lines: Sequence[Line] = (),
    pre_hidden: Iterable[tuple[str, ...]] = (),
) -> pd.Series:
    """Which rows of a table with margin rows (``all`` in a key column) must be hidden.

    ``frame`` has one row per cell, keyed by ``key_columns`` (``all`` marks a total), and the
    number of distinct patients of each cell in ``support_column``. Returns a boolean Series
    aligned with ``frame`` (True = suppress).
    """
    keys = frame_keys(frame, key_columns)
    support = dict(zip(keys, frame[support_column].tolist(), strict=True))
    lines = [*margin_lines(keys), *extra_lines]
    children = descendants(keys) if cascade else None
    hidden = suppress(support, lines, threshold, pre_hidden=pre_hidden, children=children)
    return pd.Series([k in hidden for k in keys], index=frame.index, name=SUPPRESSED_COLUMN, dtype=bool)


def mask(frame: pd.DataFrame, hidden: pd.Series, value_columns: Sequence[str]) -> pd.DataFrame:
    """A copy of ``frame`` whose ``value_columns`` are emptied (None) on hidden rows, plus ``suppressed``.

    The values are removed, not styled away: whatever is built from the result cannot show them.
    """
    out = frame.copy()
    flags = hidden.reindex(out.index).fillna(False).astype(bool)
    for column in value_columns:
        if column in out.columns:
            out[column] = out[column].astype(object).where(~flags, None)
    out[SUPPRESSED_COLUMN] = flags
    return out


def check_lines(support: Mapping[Key, object], lines: Sequence[Line], hidden: set[Key], threshold: int) -> list[str]:
    """Problems left by a suppression (for tests): shown small cells and recoverable hidden cells."""
    problems = [f"{k!r} rests on {support[k]} patients but is shown"
                for k in support if is_small(support[k], threshold) and k not in hidden]
    for line in lines:
        if line.total not in support:
            continue
        members = [m for m in line.members if m in support]
        hidden_members = [m for m in members if m in hidden]
        n_hidden = len(hidden_members) + int(line.total in hidden)
        if n_hidden == 1:
            problems.append(f"line {line.total!r}: a single hidden cell can be recovered by subtraction")
        elif n_hidden and line.total not in hidden:
            total = sum(_support(support[m]) for m in hidden_members)
            if total < threshold:
                problems.append(f"line {line.total!r}: the hidden cells rest on {total:g} patients together")
    return problems


def suppress_curves(
    frame: pd.DataFrame,
    group_column: str,
    time_column: str,
    support_column: str,
    threshold: int,
    hidden_groups: Iterable[str] = (),
) -> pd.Series:
    """Which points of step curves (one per group, plus an ``all`` curve) must be hidden.

    ``frame`` has one row per (group, time) with the distinct patients at risk at that time. At
    every time the groups' points add up to the ``all`` point (those at risk are a partition), so
    each time is a line; a hidden point also hides every later point of its curve (the curve stops
    where it first rests on too few patients: later points rest on even fewer). Points of
    ``hidden_groups`` are hidden from the start. Returns a boolean Series aligned with ``frame``.
    """
    groups = frame[group_column].astype(str).tolist()
    times = [f"{int(t):06d}" for t in frame[time_column]]
    keys = list(zip(groups, times, strict=True))
    support = dict(zip(keys, frame[support_column].tolist(), strict=True))
    lines = margin_lines(keys)
    later: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    by_group: dict[str, list[str]] = {}
    for group, time in keys:
        by_group.setdefault(group, []).append(time)
    for group, ts in by_group.items():
        ordered = sorted(set(ts))
        for a, b in zip(ordered, ordered[1:], strict=False):
            later[(group, a)] = [(group, b)]
    blocked = set(hidden_groups)
    pre = [k for k in keys if k[0] in blocked]
    hidden = suppress(support, lines, threshold, pre_hidden=pre, children=later)
    return pd.Series([k in hidden for k in keys], index=frame.index, name=SUPPRESSED_COLUMN, dtype=bool)
