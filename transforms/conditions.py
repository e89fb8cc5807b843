"""Condition codes and condition groups (metrics.md section 1).

Clinical rule: an ICD-10-CM code is normalised (upper case, a dot after the third character)
and assigned the group of the *longest* matching prefix of ``ref.condition_prefixes``; a
well-formed code that matches no prefix is ``other``.
"""

from __future__ import annotations

from transforms.reference import CONDITION_GROUP_OTHER, read_reference


def normalise_code(code: str) -> str:
    """``m797`` -> ``M79.7``; ``M54.50`` stays ``M54.50``; ``G43`` stays ``G43``."""
    c = code.strip().upper().replace(".", "")
    return c if len(c) <= 3 else f"{c[:3]}.{c[3:]}"


def normalise_code_sql(column: str) -> str:
    """The SQL expression equivalent to :func:`normalise_code` for a (trusted) column name."""
    bare = f"replace(upper(trim({column})), '.', '')"
    return f"CASE WHEN length({bare}) <= 3 THEN {bare} ELSE substr({bare}, 1, 3) || '.' || substr({bare}, 4) END"


def condition_group(code: str) -> str:
    """The condition group of one code by longest prefix (a Python mirror of the SQL, for tests and docs)."""
    norm = normalise_code(code)
    best = ("", CONDITION_GROUP_OTHER)
    for row in read_reference("condition_prefixes"):
        if norm.startswith(row["prefix"]) and len(row["prefix"]) > len(best[0]):
            best = (row["prefix"], row["condition_group"])
    return best[1]


CONDITION_GROUP_SQL = """
-- Longest matching prefix wins; codes without a match are 'other'.
SELECT c.code,
       coalesce(arg_max(p.condition_group, length(p.prefix)), 'other') AS condition_group
FROM (SELECT DISTINCT condition_code AS code FROM {source}) c
LEFT JOIN ref.condition_prefixes p ON starts_with(c.code, p.prefix)
GROUP BY c.code
"""
