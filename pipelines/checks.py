"""Asset checks on staging and marts, one per integrity rule of :mod:`transforms.integrity`.

Each check reports its numerator and denominator and keeps its result in ``ops.check_results``.
The checks of one asset run together, in one step on one warehouse connection (the three on
``staging/sessions``; one each on ``staging/rom`` and two marts): a step costs a run about 0.2 s on
its own. They are blocking: a failed check stops what is built from its asset, and only that (a
step that fails stops everything downstream of every asset it checks, hence one step per asset).
"""

from collections.abc import Iterator

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


def _make_checks(asset: dg.AssetKey, rules: list[IntegrityRule]) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=f"integrity_{'_'.join(asset.path)}",
        specs=[dg.AssetCheckSpec(rule.name, asset=asset, description=rule.description, blocking=True)
               for rule in rules],
        can_subset=True,
        description=f"The integrity rules on {asset.to_user_string()} (transforms/integrity.py).",
    )
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
        selected = context.selected_asset_check_keys
        run_id = context.run.tags.get(RUN_TAG) or context.run.run_id
        errors: list[Exception] = []
        with warehouse.connect() as con:
            for rule in rules:
                if dg.AssetCheckKey(asset, rule.name) not in selected:
                    continue
                try:  # one rule that cannot be counted does not keep the others from their results
                    violations, checked = count_result(con, rule)
                    record_integrity(con, run_id, rule.name, checked, violations)
                except Exception as exc:
                    errors.append(exc)
                    continue
                share = violations / checked if checked else 0.0
                yield dg.AssetCheckResult(
                    asset_key=asset, check_name=rule.name, passed=violations == 0,
                    metadata={"violations": violations, "checked": checked,
                              "percent_failing": dg.MetadataValue.float(100 * share)})
        if errors:
            raise errors[0]

    return _checks


integrity_checks = [
    _make_checks(_ASSET_OF_TABLE[table], [r for r in INTEGRITY_RULES if r.table == table])
    for table in dict.fromkeys(r.table for r in INTEGRITY_RULES)
]
