"""The project's one configuration place.

Every threshold the spec marks *(default)* lives here with that default, and can be
overridden by an environment variable ``OUTCOMES_<FIELD>`` (for example
``OUTCOMES_EPISODE_GAP_DAYS=60``) or by passing keyword arguments to
:func:`load_settings`. Reference tables (ICD-10 groups, ROM normals, instrument MCIDs)
are CSV files in ``transforms/reference/`` and are loaded by :mod:`transforms.reference`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

ENV_PREFIX = "OUTCOMES_"

# metrics.md section 7: a value within this distance of a clinical threshold meets it.
THRESHOLD_TOLERANCE = 1e-9
# metrics.md section 4 names relief_by_4 and relief_by_8: they exist whatever the report times.
SPEC_RELIEF_REPORT_TIMES = (4, 8)


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
    duckdb_memory_limit: str = "600MB"

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
        """Return a copy with the given fields replaced (values are coerced to the field type)."""
        typed = {name: _coerce(self, name, value) for name, value in overrides.items() if value is not None}
        return dataclasses.replace(self, **typed)


def _coerce(settings: Settings, name: str, value: Any) -> Any:
    current = getattr(settings, name)
    if name == "reference_dir":  # an optional folder: empty means none
        return Path(value) if str(value).strip() else None
    if isinstance(current, Path):
        return Path(value)
    if isinstance(current, bool):
        return str(value).strip().lower() in {"1", "true", "yes"}
    if isinstance(current, Decimal):
        return Decimal(str(value))
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        if isinstance(value, str):
            return tuple(int(v) for v in value.split(",") if v.strip())
        return tuple(value)
    return value


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, then ``OUTCOMES_*`` environment variables, then keyword overrides.

    Unknown ``OUTCOMES_*`` variables raise ``ValueError`` so that a typo never goes unnoticed.
    """
    env = os.environ if environ is None else environ
    base = Settings()
    names = {f.name for f in fields(Settings)}
    from_env: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in names:
            raise ValueError(f"unknown setting {key}; known: {', '.join(sorted(n.upper() for n in names))}")
        from_env[name] = value
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return base.with_overrides(**from_env).with_overrides(**overrides)
