"""The project's one configuration place.

Every threshold the spec marks *(default)* lives here with that default, and can be
overridden by an environment variable ``OUTCOMES_<FIELD>`` (for example
``OUTCOMES_EPISODE_GAP_DAYS=60``) or by passing keyword arguments to
:func:`load_settings`. Reference tables (ICD-10 groups, ROM normals, instrument MCIDs)
are CSV files in ``transforms/reference/`` and are loaded by :mod:`transforms.reference`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

ENV_PREFIX = "OUTCOMES_"
# Environment variables with the prefix that are not settings (a test hook of the fault tests).
NOT_SETTINGS = frozenset({"OUTCOMES_TEST_PAUSE_AT"})

# metrics.md section 7: a value within this distance of a clinical threshold meets it.
THRESHOLD_TOLERANCE = 1e-9
# metrics.md section 4 names relief_by_4 and relief_by_8: they exist whatever the report times.
SPEC_RELIEF_REPORT_TIMES = (4, 8)


DEFAULT_MEMORY_LIMIT = "1.5GB"


@dataclass(frozen=True)
class Settings:
    """Typed settings of one pipeline run (paths and every configurable threshold)."""

    # Paths (metrics.md section 11 defaults).
    inbox: Path = Path("data/sample")
    warehouse: Path = Path("build/warehouse.duckdb")
    site: Path = Path("build/site")
    restricted: Path = Path("build/restricted")
    # A folder of reference CSVs that replace the shipped ones of the same name (transforms/reference/);
    # empty = the shipped tables only.
    reference_dir: Path | None = None

    # Loading (export-format.md).
    reject_share: Decimal = Decimal("0.20")
    lock_timeout_s: float = 10.0
    # DuckDB's own memory cap per connection (it spills to disk beyond it); keeps a run's peak bounded.
    # 1.5GB measured (docs/benchmarks.md): 1M sessions peak at 1.3 GB, 10M at 2.0 GB (600MB spilled
    # heavily at 10M).
    duckdb_memory_limit: str = DEFAULT_MEMORY_LIMIT

    # Episodes (metrics.md section 2).
    episode_gap_days: int = 90

    # Pain responders (section 3).
    responder_min_points: Decimal = Decimal("2")
    responder_min_fraction: Decimal = Decimal("0.30")
    substantial_min_fraction: Decimal = Decimal("0.50")

    # Sessions to relief (section 4).
    relief_min_baseline: Decimal = Decimal("3")
    relief_min_points: Decimal = Decimal("2")
    relief_max_fraction: Decimal = Decimal("0.7")
    relief_report_times: tuple[int, ...] = (4, 8)

    # Payer audit (section 8).
    progress_note_max_visits: int = 10
    plateau_min_sessions: int = 6
    plateau_window: int = 4
    plateau_min_change: Decimal = Decimal("1")
    recertification_days: int = 90
    care_after_goal_visits: int = 4

    # Follow-up status (section 12) and its sensitivity analysis (section 13).
    follow_up_active_days: int = 30
    ipw_max_weight: Decimal = Decimal("20")

    # Techniques and flares (section 14).
    flare_min_points: Decimal = Decimal("2")

    # Publishing (section 9): cells resting on fewer distinct patients are suppressed.
    suppression_threshold: int = 11

    @property
    def report_times(self) -> tuple[int, ...]:
        """Times at which cumulative relief is reported: 4 and 8 always (metrics.md names relief_by_4
        and relief_by_8), plus any other of ``relief_report_times``, ascending."""
        return tuple(sorted({*SPEC_RELIEF_REPORT_TIMES, *(int(t) for t in self.relief_report_times)}))

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the given fields replaced (coerced to the field type, then validated).

        Raises :class:`SettingsError` (one line: which setting, what is expected) for a bad value.
        """
        return _build(self, {name: value for name, value in overrides.items() if value is not None}, {})

    def validate(self, labels: Mapping[str, str] | None = None) -> Settings:
        """Check every setting against its valid range and the folders against each other; returns self.

        ``labels`` says how each given value was written (``OUTCOMES_X=...``), for the error message.
        """
        labels = labels or {}
        for name, rule in RULES.items():
            value = getattr(self, name)
            if not rule.holds(value):
                raise SettingsError(f"{_label(name, labels, value)} is not valid: expected {rule.expected}")
        if self.plateau_window > self.plateau_min_sessions:
            raise SettingsError(
                f"{_label('plateau_window', labels, self.plateau_window)} is not valid: expected at most "
                f"plateau_min_sessions ({self.plateau_min_sessions}), the sessions a plateau needs"
            )
        _check_layout(self)
        return self


class SettingsError(ValueError):
    """A setting has a bad or impossible value; the message is one line naming it and what is expected."""


@dataclass(frozen=True)
class Rule:
    """The valid values of one setting: a predicate and how to describe them to a user."""

    holds: Callable[[Any], bool]
    expected: str


def _finite(v: Any) -> bool:
    return not isinstance(v, Decimal) or v.is_finite()


def _between(low: float, high: float, low_open: bool = False) -> Callable[[Any], bool]:
    def holds(v: Any) -> bool:
        return _finite(v) and (low < v if low_open else low <= v) and v <= high
    return holds


def _at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: v >= low


_MEMORY = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)
_FRACTION = "a fraction above 0 and at most 1 (for example 0.30)"
_POINTS = "a number of pain points (0-10 scale) above 0 and at most 10"

RULES: dict[str, Rule] = {
    "inbox": Rule(lambda v: str(v).strip() not in ("", "."), "a folder"),
    "warehouse": Rule(lambda v: str(v).strip() not in ("", ".") and not Path(v).is_dir(), "a DuckDB file, not a folder"),
    "site": Rule(lambda v: str(v).strip() not in ("", "."), "a folder other than the current one"),
    "restricted": Rule(lambda v: str(v).strip() not in ("", "."), "a folder other than the current one"),
    "reference_dir": Rule(lambda v: v is None or str(v).strip() not in ("", "."), "a folder of reference CSV files"),
    "reject_share": Rule(_between(0, 1), "a fraction from 0 to 1 (for example 0.20)"),
    "lock_timeout_s": Rule(lambda v: math.isfinite(v) and 0 <= v <= 86400, "a number of seconds from 0 to 86400"),
    "duckdb_memory_limit": Rule(lambda v: bool(_MEMORY.match(str(v))), "a size such as 1.5GB or 600MB"),
    "episode_gap_days": Rule(_at_least(1), "a whole number of days, at least 1"),
    "responder_min_points": Rule(_between(0, 10, low_open=True), _POINTS),
    "responder_min_fraction": Rule(_between(0, 1, low_open=True), _FRACTION),
    "substantial_min_fraction": Rule(_between(0, 1, low_open=True), _FRACTION),
    "relief_min_baseline": Rule(_between(0, 10), "a pain score from 0 to 10"),
    "relief_min_points": Rule(_between(0, 10, low_open=True), _POINTS),
    "relief_max_fraction": Rule(_between(0, 1, low_open=True), _FRACTION),
    "relief_report_times": Rule(
        lambda v: len(v) > 0 and all(t >= 1 for t in v) and len(set(v)) == len(v),
        "session numbers of at least 1, separated by commas, each once (for example 4,8)",
    ),
    "progress_note_max_visits": Rule(_at_least(1), "a whole number of visits, at least 1"),
    "plateau_min_sessions": Rule(_at_least(2), "a whole number of sessions, at least 2"),
    "plateau_window": Rule(_at_least(2), "a whole number of sessions, at least 2"),
    "plateau_min_change": Rule(_between(0, 10, low_open=True), _POINTS),
    "recertification_days": Rule(_at_least(1), "a whole number of days, at least 1"),
    "care_after_goal_visits": Rule(_at_least(1), "a whole number of visits, at least 1"),
    "follow_up_active_days": Rule(_at_least(0), "a whole number of days, 0 or more"),
    "ipw_max_weight": Rule(lambda v: _finite(v) and v >= 1, "a number of at least 1"),
    "flare_min_points": Rule(_between(0, 10, low_open=True), _POINTS),
    "suppression_threshold": Rule(_at_least(1), "a whole number of patients, at least 1"),
}

_TYPE_WORDS = {Decimal: "a number", int: "a whole number", float: "a number", tuple: "whole numbers separated by commas"}


def _label(name: str, labels: Mapping[str, str], value: Any) -> str:
    # ``labels`` holds "OUTCOMES_X=<value as given>" for the values that were given.
    shown = ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
    return labels.get(name) or f"{name}={shown}"


def _coerce(settings: Settings, name: str, value: Any) -> Any:
    current = getattr(settings, name)
    if name == "reference_dir":  # an optional folder: empty means none
        return Path(value) if str(value).strip() else None
    if isinstance(current, Path):
        return Path(value)
    if isinstance(current, bool):
        return str(value).strip().lower() in {"1", "true", "yes"}
    if isinstance(current, Decimal):
        return Decimal(str(value).strip())
    if isinstance(current, int):
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        if isinstance(value, str):
            return tuple(int(v) for v in value.split(",") if v.strip())
        return tuple(int(v) for v in value)
    return value


def _build(base: Settings, values: Mapping[str, Any], labels: Mapping[str, str]) -> Settings:
    """``base`` with ``values`` coerced and validated; errors name the setting (``labels``) in one line."""
    typed = {}
    for name, value in values.items():
        try:
            typed[name] = _coerce(base, name, value)
        except (ValueError, TypeError, ArithmeticError):
            rule = RULES.get(name)
            expected = rule.expected if rule else _TYPE_WORDS.get(type(getattr(base, name)), "another value")
            raise SettingsError(f"{labels.get(name, name)}={value} is not valid: expected {expected}") from None
    given = {name: f"{labels.get(name, name)}={value}" for name, value in values.items()}
    return dataclasses.replace(base, **typed).validate(given)


def _inside(inner: Path, outer: Path) -> bool:
    a, b = inner.resolve(), outer.resolve()
    return a == b or a.is_relative_to(b)


def _check_layout(settings: Settings) -> None:
    """Refuse folder layouts that would publish row-level data (one line, naming both folders)."""
    site, restricted = settings.site, settings.restricted
    if _inside(restricted, site):
        raise SettingsError(f"the restricted folder {restricted} is inside the site folder {site}: row-level "
                            "outputs would be published; choose a restricted folder outside the site")
    if _inside(site, restricted):
        raise SettingsError(f"the site folder {site} is inside the restricted folder {restricted}: "
                            "choose two separate folders")
    if _inside(settings.warehouse, site):
        raise SettingsError(f"the warehouse {settings.warehouse} is inside the site folder {site}: it holds "
                            "row-level data; choose a warehouse outside the site")
    if _inside(settings.inbox, site):
        raise SettingsError(f"the inbox {settings.inbox} is inside the site folder {site}: the exports would be "
                            "published; choose an inbox outside the site")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, then ``OUTCOMES_*`` environment variables, then keyword overrides.

    Unknown ``OUTCOMES_*`` variables and bad or impossible values raise :class:`SettingsError`
    with one line naming the variable and what is expected, so that a typo never goes unnoticed.
    """
    env = os.environ if environ is None else environ
    base = Settings()
    names = {f.name for f in fields(Settings)}
    from_env: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in NOT_SETTINGS:
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in names:
            raise SettingsError(f"unknown setting {key}; known: {', '.join(sorted(n.upper() for n in names))}")
        from_env[name] = value
        labels[name] = key
    unknown = set(overrides) - names
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    given = {name: value for name, value in overrides.items() if value is not None}
    labels = {name: label for name, label in labels.items() if name not in given}
    return _build(base, {**from_env, **given}, labels)
