"""Asset checks on staging and marts, one per integrity rule of :mod:`transforms.integrity`.

Each check reports its numerator and denominator and keeps its result in ``ops.check_results``.
"""


import dagster as dg

from pipelines.assets import RUN_TAG, STAGING_ROM, STAGING_SESSIONS
from pipelines.resources import WarehouseResource
from transforms.integrity import INTEGRITY_RULES, IntegrityRule, count_result
from transforms.quality_history import record_integrity

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
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            violations, checked = count_result(con, rule)
            record_integrity(con, context.run.tags.get(RUN_TAG) or context.run.run_id, rule.name, checked, violations)
        share = violations / checked if checked else 0.0
        return dg.AssetCheckResult(passed=violations == 0, metadata={
            "violations": violations, "checked": checked, "percent_failing": dg.MetadataValue.float(100 * share)})

    return _check


integrity_checks = [_make_check(rule) for rule in INTEGRITY_RULES]
