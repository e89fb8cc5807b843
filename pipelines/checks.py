"""Asset checks on staging and marts, one per integrity rule of :mod:`transforms.integrity`."""


import dagster as dg

from pipelines.assets import STAGING_ROM, STAGING_SESSIONS
from pipelines.resources import WarehouseResource
from transforms.integrity import INTEGRITY_RULES, IntegrityRule, count_violations

_ASSET_OF_TABLE = {
    "staging.sessions": STAGING_SESSIONS,
    "staging.rom": STAGING_ROM,
    "marts.condition_outcomes": dg.AssetKey(["marts", "condition_outcomes"]),
    "marts.episode_outcomes": dg.AssetKey(["marts", "episode_outcomes"]),
}


def _make_check(rule: IntegrityRule) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=_ASSET_OF_TABLE[rule.table], name=rule.name, description=rule.description, blocking=True,
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            violations = count_violations(con, rule)
        return dg.AssetCheckResult(passed=violations == 0, metadata={"violations": violations})

    return _check


integrity_checks = [_make_check(rule) for rule in INTEGRITY_RULES]
