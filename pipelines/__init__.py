"""Dagster wiring of the outcomes pipeline: assets, checks, resources, sensors, one Definitions.

`dagster dev -m pipelines` loads :data:`pipelines.definitions.defs`.
"""

from pipelines.definitions import defs

__all__ = ["defs"]
