"""The row rules of the export contract, one :class:`RowRule` per (rule, column).

Each rule is a SQL predicate over the scratch text table (every value a trimmed VARCHAR, NULL
when empty) that is true for a row that breaks it. The same rule becomes a Great Expectations
``UnexpectedRowsExpectation`` in :mod:`expectations.suites`, and its query is what fills
``quarantine.rejected_rows``, so the suite and the quarantine can never disagree.

Helper tables available to predicates in the scratch database: ``ref_instruments``,
``ref_rom_normals`` (reference data) and ``sessions_valid_keys`` (the export's sessions that
passed every sessions rule; built before the ROM suite runs). The scratch tables hold every
export of one batch, told apart by their ``export`` column, so per-export rules partition by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from transforms import contract
from transforms.profiles import CONVERTIBLE

PARAM_TODAY = "{today}"  # replaced by a DATE literal of the run date (never user input)


@dataclass(frozen=True)
class RowRule:
    """A contract rule for one column of one file: rows where ``bad_when`` is true break it."""

    file: str
    rule: str
    column: str
    description: str
    bad_when: str

    @property
    def name(self) -> str:
        """Unique name of the expectation: ``<file>.<column>.<rule>``."""
        return f"{self.file}.{self.column}.{self.rule}"

    def query(self, table: str = "{batch}", values: bool = True) -> str:
        """SQL selecting the breaking rows: export, row_number, session_id and, with ``values``, the
        offending value and the export's own value when a mapping profile changed it
        (``original_value``, else NULL).

        A value that looks like an identifier (an e-mail address, phone number, SSN or long number
        typed into the wrong column), or a date anywhere but in ``session_date`` (a date of birth
        beside a name), is replaced by what it looks like, so that it is stored nowhere, not even in
        the quarantine; the original value too. Great Expectations gets the query without values
        (see :func:`expectations.suites.rule_query`).
        """
        keys = "SELECT export, row_number, session_id"
        if values:
            original = f"json_extract_string(_original, '$.{self.column}')"
            dates = self.column != "session_date"
            keys += (f", {_withheld(f'CAST({self.column} AS VARCHAR)', dates)} AS value, "
                     f"{_withheld(original, dates)} AS original_value")
        return f"{keys} FROM (SELECT * FROM {table}) AS t WHERE {self.bad_when}"


def _withheld(expr: str, dates: bool) -> str:
    # Braces are doubled: the query goes through str.format (GX's {batch}).
    kind = contract.identifier_kind_sql(expr, dates=dates).replace("{", "{{").replace("}", "}}")
    return f"coalesce('(withheld: looks like ' || {kind} || ')', {expr})"


def _sql_list(values: tuple[str, ...]) -> str:
    # Vocabularies come from transforms.contract (code, not input); quotes are still escaped.
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _num(column: str) -> str:
    return f"TRY_CAST({column} AS DOUBLE)"


def _vocabulary(file: str, column: str, values: tuple[str, ...]) -> RowRule:
    return RowRule(
        file, "not_in_vocabulary", column, f"{column} must be one of: {', '.join(values)}",
        f"{column} IS NOT NULL AND {column} NOT IN {_sql_list(values)}",
    )


# How a number may be written: digits with an optional sign, decimal point and exponent ('6.5', '-1',
# '.5', '1e-3'); DuckDB's cast alone would also take '1_0' as 10, which the contract does not allow.
NUMBER_FORMAT = "[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?"
# A whole number: digits with an optional sign and a zero fraction ('3', '3.0'), no exponent.
INTEGER_FORMAT = "[+-]?[0-9]+([.]0*)?"


def _number(file: str, column: str) -> RowRule:
    return RowRule(
        file, "not_a_number", column, f"{column} must be a number",
        f"{column} IS NOT NULL AND (NOT regexp_full_match({column}, '{NUMBER_FORMAT}') OR {_num(column)} IS NULL "
        f"OR isnan({_num(column)}) OR isinf({_num(column)}))",
    )


def _integer(file: str, column: str) -> RowRule:
    return RowRule(
        file, "not_an_integer", column, f"{column} must be a whole number (digits, maybe with a zero fraction)",
        f"{column} IS NOT NULL AND (NOT regexp_full_match({column}, '{INTEGER_FORMAT}') OR {_num(column)} IS NULL "
        f"OR isnan({_num(column)}) OR isinf({_num(column)}) OR {_num(column)} <> floor({_num(column)}))",
    )


def _range(file: str, column: str, low: float, high: float, unit: str = "") -> RowRule:
    return RowRule(
        file, "out_of_range", column, f"{column} must be between {low:g} and {high:g}{unit}",
        f"{_num(column)} IS NOT NULL AND NOT isnan({_num(column)}) AND NOT ({_num(column)} BETWEEN {low!r} AND {high!r})",
    )


def _unmapped(column: str) -> str:
    # the mapping profile could not convert the row's value of the column (see transforms/profile_mapping.py)
    return f"(_unmapped IS NOT NULL AND list_contains(string_split(_unmapped, ','), '{column}'))"


def _required(file: str) -> list[RowRule]:
    # A value the profile could not convert is reported as unmapped (with its original), not as missing.
    return [
        RowRule(file, "missing_required_value", column, f"{column} is required",
                f"{column} IS NULL AND NOT {_unmapped(column)}")
        for column in contract.FILE_REQUIRED[file]
    ]


def _unmapped_rules(file: str) -> list[RowRule]:
    return [
        RowRule(file, "unmapped_value", column,
                f"the export's mapping profile must convert the value of {column} (a value its map covers, a date "
                "in its format, a number to rescale)", _unmapped(column))
        for column in CONVERTIBLE[file]
    ]


def session_rules() -> list[RowRule]:
    """Every row rule of the ``sessions`` file."""
    s = "sessions"
    rules = _required(s)
    rules += [
        RowRule(
            s, "duplicate_in_export", "session_id",
            "session_id appears more than once in this export for the same clinic_id; all copies are held back",
            "session_id IS NOT NULL AND _dup_count > 1",
        ),
        RowRule(
            s, "not_a_date", "session_date", "session_date must be a real date written YYYY-MM-DD",
            "session_date IS NOT NULL AND (NOT regexp_full_match(session_date, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            "OR TRY_CAST(session_date AS DATE) IS NULL)",
        ),
        RowRule(
            s, "in_the_future", "session_date", "session_date must not be after the run date",
            f"TRY_CAST(session_date AS DATE) > {PARAM_TODAY}",
        ),
        RowRule(
            s, "before_2000", "session_date", f"session_date must not be before {contract.EARLIEST_SESSION_DATE}",
            f"TRY_CAST(session_date AS DATE) < DATE '{contract.EARLIEST_SESSION_DATE}'",
        ),
        _vocabulary(s, "visit_type", contract.VISIT_TYPES),
        RowRule(
            s, "malformed_code", "condition_code",
            "condition_code must be an ICD-10-CM code: a letter, two digits, then an optional dot and up to 4 characters",
            "condition_code IS NOT NULL AND NOT regexp_full_match(upper(condition_code), "
            "'[A-Z][0-9]{{2}}(\\.?[A-Z0-9]{{1,4}})?')",
        ),
        _vocabulary(s, "referral_source", contract.REFERRAL_SOURCES),
        _vocabulary(s, "payer_type", contract.PAYER_TYPES),
        RowRule(
            s, "wrong_length", "cpt_code", "cpt_code must be exactly 5 characters",
            "cpt_code IS NOT NULL AND length(cpt_code) <> 5",
        ),
        _integer(s, "units"),
        _range(s, "units", 0, 2_147_483_647),
        _integer(s, "duration_min"),
        _range(s, "duration_min", *contract.DURATION_MIN_RANGE, " minutes"),
        RowRule(
            s, "not_in_vocabulary", "techniques",
            f"every ;-separated technique must be one of: {', '.join(contract.TECHNIQUES)}",
            "techniques IS NOT NULL AND len(list_filter(string_split(techniques, ';'), "
            f"lambda x: {contract.trim_sql('x')} <> '' AND {contract.trim_sql('x')} NOT IN "
            f"{_sql_list(contract.TECHNIQUES)})) > 0",
        ),
        _number(s, "pain_pre"),
        _range(s, "pain_pre", *contract.PAIN_RANGE),
        _number(s, "pain_post"),
        _range(s, "pain_post", *contract.PAIN_RANGE),
        _vocabulary(s, "function_instrument", contract.FUNCTION_INSTRUMENTS),
        RowRule(
            s, "instrument_missing", "function_instrument",
            "function_instrument is required when function_score is given",
            "function_score IS NOT NULL AND function_instrument IS NULL",
        ),
        _number(s, "function_score"),
        RowRule(
            s, "out_of_range", "function_score", "function_score must be within its instrument's range",
            f"{_num('function_score')} IS NOT NULL AND EXISTS (SELECT 1 FROM ref_instruments i "
            f"WHERE i.instrument = t.function_instrument AND NOT ({_num('function_score')} BETWEEN i.score_min AND i.score_max))",
        ),
        _vocabulary(s, "age_band", contract.AGE_BANDS),
        _vocabulary(s, "sex", contract.SEXES),
        _number(s, "symptom_weeks"),
        RowRule(
            s, "out_of_range", "symptom_weeks", "symptom_weeks must be 0 or more",
            f"{_num('symptom_weeks')} < 0",
        ),
        RowRule(
            s, "not_in_vocabulary", "goals_documented",
            "goals_documented must be true/false, 1/0 or yes/no (any letter case)",
            f"goals_documented IS NOT NULL AND lower(goals_documented) NOT IN "
            f"{_sql_list(contract.BOOLEAN_TRUE + contract.BOOLEAN_FALSE)}",
        ),
        _integer(s, "authorized_visits"),
        _range(s, "authorized_visits", 1, 2_147_483_647),
    ]
    return rules + _unmapped_rules(s)


def rom_rules() -> list[RowRule]:
    """Every row rule of the ``rom`` file."""
    r = "rom"
    rules = _required(r)
    rules += [
        _vocabulary(r, "joint", contract.JOINTS),
        _vocabulary(r, "movement", contract.MOVEMENTS),
        RowRule(
            r, "invalid_for_joint", "movement", "movement must be a movement of that joint (metrics.md section 5)",
            f"joint IN {_sql_list(contract.JOINTS)} AND movement IN {_sql_list(contract.MOVEMENTS)} "
            "AND NOT EXISTS (SELECT 1 FROM ref_rom_normals n WHERE n.joint = t.joint AND n.movement = t.movement)",
        ),
        _vocabulary(r, "side", contract.SIDES),
        _vocabulary(r, "timing", contract.TIMINGS),
        _number(r, "value"),
        RowRule(
            r, "out_of_range", "value", "value must be between 0 and the plausible maximum for the joint and movement",
            f"{_num('value')} IS NOT NULL AND EXISTS (SELECT 1 FROM ref_rom_normals n WHERE n.joint = t.joint "
            f"AND n.movement = t.movement AND NOT ({_num('value')} BETWEEN 0 AND n.plausible_max))",
        ),
        RowRule(
            r, "session_not_in_export", "session_id",
            "the ROM row's session must be a valid session of the same export (same clinic_id and session_id)",
            "session_id IS NOT NULL AND clinic_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sessions_valid_keys k "
            "WHERE k.export = t.export AND k.clinic_id = t.clinic_id AND k.session_id = t.session_id)",
        ),
    ]
    return rules + _unmapped_rules(r)


RULES_BY_FILE = {"sessions": session_rules, "rom": rom_rules}
