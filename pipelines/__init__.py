"""Dagster wiring of the outcomes pipeline: assets, checks, resources, sensors, one Definitions.

`dagster dev -m pipelines` loads :data:`pipelines.definitions.defs`. It is imported on first use
(PEP 562), not with the package: ``outcomes run`` starts the Great Expectations helper before it
imports Dagster, so that both load at the same time on the two cores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.definitions import defs

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from pipelines.definitions import defs

        return defs
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "defs"})
