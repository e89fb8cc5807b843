"""Sessions to relief: Kaplan-Meier curves, medians and cumulative relief (metrics.md section 4).

Clinical rule: among relief-evaluable episodes, S(t) is the probability of not yet being relieved
after t sessions, estimated by Kaplan-Meier with unrelieved episodes (drop-outs included)
*censored* at their last scored session, never dropped and never counted as failures. The 95%
pointwise band is the exponential Greenwood (log(-log)) band. Median = smallest t with
S(t) <= 0.5; its CI: lower = smallest t whose lower band is <= 0.5, upper = smallest t whose upper
band is <= 0.5 (null if never). Cumulative relief by t = 1 - S(t), S a right-continuous step
function carried forward from the last time at or before t (as ``lifelines`` does).

Models: ``marts/relief_km`` (the curve of every unit and condition group, for every breakdown of
:mod:`transforms.condition_outcomes` at once), ``marts/relief_summary`` (medians and cumulative
relief) and ``marts/relief_curve`` (the published curve per condition group and ``all``). They
reproduce ``lifelines.KaplanMeierFitter`` (survival, ``confidence_interval_``,
``median_survival_time_``); see docs/metrics.md for the one deliberate difference (a survival
value within 1e-9 of 0.5 counts as reaching it).
"""

from __future__ import annotations

import duckdb

from transforms.sqlmodels import create_table

CURVE_TABLE = "marts.relief_curve"


def build_relief_curve(con: duckdb.DuckDBPyConnection, km: str = "intermediate.relief_km") -> int:
    """Section 4: the Kaplan-Meier relief curve per condition group and ``all`` (drop-outs censored).

    ``km`` is the Kaplan-Meier table of every breakdown (built by
    :func:`transforms.condition_outcomes.build_condition_outcomes`); returns the row count.
    """
    return create_table(con, CURVE_TABLE, "marts/relief_curve", episodes="marts.episode_outcomes", km=km)
