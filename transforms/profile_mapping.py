"""Applying a mapping profile inside DuckDB, while an export is read (before the quality gate).

The reader (:mod:`transforms.exports`) first reads a file into a text table with one column per
contract column, taken from the column the profile names (renames and drops are only a matter of
which file column feeds which contract column). When the profile also changes values, this module
builds the second step: one ``CREATE TABLE ... AS SELECT`` generated from the validated profile,
where column names come only from the contract's allow-list, scalar settings (the date format, the
split separator, rescale bounds, constants) are bound as named parameters, and value and service
maps are small typed temporary tables joined by the folded source value.

Two extra text columns travel with every row to the quality gate:

- ``_original``: a JSON object with the export's own value of every column the profile changed
  (``{"payer_type": "Blue Cross"}``), so the quarantine can show the original value next to the
  mapped one;
- ``_unmapped``: the comma-separated contract columns whose value the profile could not convert (a
  value its map does not cover, a date not in its format, a text where a number is rescaled). The
  row rule ``unmapped_value`` quarantines those rows with the original value: a map that does not
  cover a value never passes it through and never drops the row.

Splitting (``[sessions.split] cpt_code = ";"``): a visit whose cell holds several services becomes
one row per service, in the order of the cell; every row of a split profile gets the session id
``<id>-<k>`` (k = 1, 2, ...; ``-1`` also for a single service, so ids do not change when a visit
gains a second service in a correction), its service's CPT code, units and minutes, and every other
column of the visit, except that the visit's clinical measures (pain before and after, the function
instrument and score) stay on its first row only. ROM rows then belong to the visit's first row
(their session id gets ``-1``). Derived rows keep the file's row number, so a rule broken by one of
them holds back the whole visit (the row of the file), as the quarantine names it.
"""

from __future__ import annotations

import duckdb

from transforms import contract
from transforms.profiles import VISIT_MEASURES, Profile

EXTRA_COLUMNS = ("_original", "_unmapped")


def needs_mapping_step(profile: Profile | None, kind: str) -> bool:
    """True when reading ``kind`` with ``profile`` changes values (not only which column feeds which)."""
    if profile is None:
        return False
    constants = [c for c in profile.constants if c in contract.FILE_COLUMNS[kind]]
    return bool(constants) or profile.mapping(kind).transforms_values or (kind == "rom" and profile.splits)


def install_maps(con: duckdb.DuckDBPyConnection, profile: Profile, kind: str) -> None:
    """(Re)create the temporary tables holding the profile's value and service maps for ``kind``."""
    mapping = profile.mapping(kind)
    con.execute("CREATE OR REPLACE TEMP TABLE _profile_values (column_name VARCHAR, source_key VARCHAR, target VARCHAR)")
    rows = [[column, key, target] for column, entries in mapping.values.items() for key, target in entries.items()]
    if rows:
        con.executemany("INSERT INTO _profile_values VALUES (?, ?, ?)", rows)
    con.execute("CREATE OR REPLACE TEMP TABLE _profile_services "
                "(source_key VARCHAR, cpt_code VARCHAR, units INTEGER, minutes INTEGER)")
    services = [[key, s.cpt_code, s.units, s.minutes] for key, s in (mapping.services or {}).items()]
    if services:
        con.executemany("INSERT INTO _profile_services VALUES (?, ?, ?, ?)", services)


def _lit(name: str) -> str:
    # Column names come from the contract's allow-list (code), never from the profile or the export.
    if name not in contract.SESSION_COLUMNS and name not in contract.ROM_COLUMNS:
        raise ValueError(f"not a contract column: {name!r}")
    return f"'{name}'"


def mapping_sql(profile: Profile, kind: str, source: str, target: str) -> tuple[str, dict[str, object]]:
    """SQL creating ``target`` from the first-step text table ``source``, and its named parameters.

    Needs :func:`install_maps` on the same connection. ``source`` and ``target`` are the reader's own
    table names.
    """
    mapping = profile.mapping(kind)
    params: dict[str, object] = {}
    split = kind == "sessions" and bool(mapping.split)
    joins: list[str] = []
    exprs: list[str] = []
    originals: list[tuple[str, str]] = []  # (column, the export's own value)
    unmapped: list[tuple[str, str]] = []   # (column, true when the profile could not convert the value)

    service_source = "s._piece" if split else "s.cpt_code"
    if mapping.services is not None:
        joins.append(f"LEFT JOIN _profile_services svc ON svc.source_key = lower({service_source})")
    service_unmapped = f"({service_source} IS NOT NULL AND svc.source_key IS NULL)"

    for column in contract.FILE_COLUMNS[kind]:
        col = f"s.{column}"
        expr = col
        if column in profile.constants:
            params[f"constant_{column}"] = profile.constants[column]
            expr = f"CAST($constant_{column} AS VARCHAR)"
        elif column == "session_id" and (split or (kind == "rom" and profile.splits)):
            suffix = "CAST(s._k AS VARCHAR)" if split else "'1'"
            expr = f"CASE WHEN {col} IS NOT NULL THEN {col} || '-' || {suffix} END"
            originals.append((column, col))
        elif column == "cpt_code" and mapping.services is not None:
            expr = "svc.cpt_code"
            originals.append((column, service_source))
            unmapped.append((column, service_unmapped))
        elif column in ("units", "duration_min") and mapping.service_gives("units" if column == "units" else "minutes"):
            expr = f"CAST(svc.{'units' if column == 'units' else 'minutes'} AS VARCHAR)"
            # no rule of its own: an unknown service is reported once, under cpt_code (and is not "missing" here)
            unmapped.append((column, service_unmapped))
        elif column in mapping.values:
            alias = f"v_{column}"
            joins.append(f"LEFT JOIN _profile_values {alias} ON {alias}.column_name = {_lit(column)} "
                         f"AND {alias}.source_key = lower({col})")
            expr = f"{alias}.target"
            originals.append((column, col))
            unmapped.append((column, f"{col} IS NOT NULL AND {alias}.source_key IS NULL"))
        elif column == "session_date" and mapping.date_format:
            params["date_format"] = mapping.date_format
            expr = f"strftime(try_strptime({col}, $date_format), '%Y-%m-%d')"
            originals.append((column, col))
            unmapped.append((column, f"{col} IS NOT NULL AND {expr} IS NULL"))
        elif column in mapping.rescale:
            r = mapping.rescale[column]
            names = {key: f"rescale_{column}_{key}" for key in ("low", "high", "to_low", "to_high")}
            params.update({names["low"]: r.low, names["high"]: r.high, names["to_low"]: r.to_low,
                           names["to_high"]: r.to_high})
            number = f"TRY_CAST({col} AS DOUBLE)"
            expr = (f"CAST(({number} - ${names['low']}) * (${names['to_high']} - ${names['to_low']}) "
                    f"/ (${names['high']} - ${names['low']}) + ${names['to_low']} AS VARCHAR)")
            originals.append((column, col))
            unmapped.append((column, f"{col} IS NOT NULL AND {number} IS NULL"))
        exprs.append(f"{_first_row_only(expr) if split and column in VISIT_MEASURES else expr} AS {column}")

    def kept(column: str, expr: str) -> str:
        # a visit's measures stay on its first row: so do their original value and any failure to convert them
        return _first_row_only(expr) if split and column in VISIT_MEASURES else expr

    original = (f"json_object({', '.join(f'{_lit(c)}, {kept(c, e)}' for c, e in originals)})"
                if originals else "CAST(NULL AS VARCHAR)")
    missing = (f"NULLIF(concat_ws(',', {', '.join(f'CASE WHEN {kept(c, e)} THEN {_lit(c)} END' for c, e in unmapped)}), '')"
               if unmapped else "CAST(NULL AS VARCHAR)")

    if split:
        params["split_separator"] = mapping.split
        trim = contract.trim_sql("x")
        pieces = (f"list_filter(list_transform(string_split(cpt_code, $split_separator), lambda x: {trim}), "
                  "lambda x: x <> '')")
        parts = f"list_transform({pieces}, lambda x, i: {{'piece': x, 'k': i}})"
        base = (
            "(SELECT * EXCLUDE (_parts, _part), _part.piece AS _piece, _part.k AS _k FROM "
            "(SELECT *, unnest(CASE WHEN coalesce(len(_parts), 0) = 0 THEN [{'piece': CAST(NULL AS VARCHAR), 'k': 1}] "
            f"ELSE _parts END) AS _part FROM (SELECT *, {parts} AS _parts FROM {source})))"
        )
    else:
        base = f"(SELECT *, 1 AS _k FROM {source})"
    sql = (
        f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT s.row_number, s.export, {', '.join(exprs)}, "
        f"CAST({original} AS VARCHAR) AS _original, {missing} AS _unmapped "
        f"FROM {base} s {' '.join(joins)}"
    )
    return sql, params


def _first_row_only(expr: str) -> str:
    return f"CASE WHEN s._k = 1 THEN {expr} END"
