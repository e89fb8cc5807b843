"""How much missing follow-up could move the responder rate: ``marts.responder_sensitivity`` (metrics.md section 13).

About half of the episodes end without a discharge, and an episode without a final pain score
cannot be called a responder or not: the complete-case responder rate silently assumes the missing
episodes would have done like the others. Per condition group (and ``all``), over the *eligible*
episodes (a baseline and a status other than ``active``):

- complete case ``R / E``; worst case ``R / (E + M)`` (every missing follow-up a non-responder);
  best case ``(R + M) / (E + M)`` (every one a responder) -- R responders, E evaluable, M eligible
  but not evaluable;
- inverse probability weighting (IPW): one logistic model over all eligible episodes of the
  warehouse predicts whether an episode is evaluable from an intercept, baseline pain,
  ln(1 + symptom weeks) (0 when missing), a missing-weeks indicator, and indicators for every level
  of condition group, age band, sex and payer type but each variable's alphabetically first
  (levels as they occur among eligible episodes; covariates raw). Its coefficients minimise the
  summed negative log-likelihood plus 1.0 x the sum of squared coefficients (intercept not
  penalised): unique and finite even when a level predicts perfectly. An evaluable episode is
  weighted min(1 / p, 20 (setting ``ipw_max_weight``)); when every eligible episode is evaluable,
  every p is 1. The IPW rate and mean change are weighted means over the evaluable episodes,
  with the interval of the SQL model.

The fit runs in numpy (:mod:`transforms.logistic`) on the eligible episodes grouped by covariate
pattern, pulled from DuckDB; its coefficients are published in ``marts.ipw_coefficients``
(model ``evaluable``). Tables: ``intermediate.episode_ipw`` (per eligible episode: p and weight) and
``marts.responder_sensitivity``. SQL: ``transforms/sql/marts/ipw_*.sql``, ``episode_ipw.sql``,
``responder_sensitivity.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from transforms import model_coefficients
from transforms.episode_outcomes import TABLE as EPISODES
from transforms.indicators import indicator_columns
from transforms.logistic import fit_logistic, predict
from transforms.sqlmodels import create_table, query

if TYPE_CHECKING:  # pandas is imported where it is used: Dagster's start-up does not need it
    import pandas as pd

TABLE = "marts.responder_sensitivity"
COEFFICIENTS_TABLE = "marts.ipw_coefficients"
EPISODE_TABLE = "intermediate.episode_ipw"
MODEL = "evaluable"

# Section 13: the ridge penalty on the summed log-likelihood (a fixed part of the definition, not a setting).
PENALTY = 1.0
# Section 13: indicator columns, in this order, for every level but the alphabetically first.
CATEGORICAL = ("condition_group", "age_band", "sex", "payer_type")
PATTERN_KEYS = ("baseline_pain", "symptom_weeks", *CATEGORICAL)

_ELIGIBLE = "_ipw_eligible"
_PROBABILITIES = "_ipw_probabilities"


@dataclass(frozen=True)
class FollowUpModel:
    """The fitted section 13 model: terms, coefficients (None when no fit was needed) and reference levels."""

    terms: tuple[str, ...]
    coefficients: np.ndarray | None
    references: dict[str, str]
    n_obs: int
    note: str


def design(patterns: pd.DataFrame) -> tuple[tuple[str, ...], np.ndarray, dict[str, str]]:
    """Section 13's design for rows with ``baseline_pain``, ``symptom_weeks`` and the categorical columns.

    Columns: intercept, baseline pain, ln(1 + weeks) (0 when missing), missing indicator, then one
    indicator per non-reference level of condition group, age band, sex and payer type (levels
    sorted by code point; the first is the reference).
    """
    weeks = patterns["symptom_weeks"].to_numpy(dtype=float)
    missing = np.isnan(weeks)
    columns = [np.ones(len(patterns)), patterns["baseline_pain"].to_numpy(dtype=float),
               np.where(missing, 0.0, np.log1p(np.where(missing, 0.0, weeks))), missing.astype(float)]
    terms = ["intercept", "baseline_pain", "log1p_weeks", "symptom_weeks_missing"]
    references = {}
    for c in CATEGORICAL:
        levels = sorted(str(v) for v in set(patterns[c]))
        references[c] = levels[0]
        columns += indicator_columns(patterns[c], levels[1:], as_text=True)
        terms += [f"{c}={level}" for level in levels[1:]]
    return tuple(terms), np.column_stack(columns), references


def fit_follow_up_model(patterns: pd.DataFrame) -> tuple[FollowUpModel, np.ndarray]:
    """Section 13: fit the penalised model on patterns (``n`` eligible, ``k`` evaluable); returns it and p per pattern.

    Every p is 1 when every eligible episode is evaluable, and 0 when none is (no weight is used then).
    """
    terms, x, references = design(patterns)
    n = patterns["n"].to_numpy(dtype=float)
    k = patterns["k"].to_numpy(dtype=float)
    n_obs = int(n.sum())
    if k.sum() == n.sum():
        return FollowUpModel(terms, None, references, n_obs, "every eligible episode is evaluable: p = 1"), np.ones(len(n))
    if k.sum() == 0:
        return FollowUpModel(terms, None, references, n_obs, "no eligible episode is evaluable: p = 0"), np.zeros(len(n))
    fit = fit_logistic(x, n, k, penalty=PENALTY)
    return FollowUpModel(terms, fit.coefficients, references, n_obs, ""), predict(x, fit.coefficients)


def _coefficient_rows(model: FollowUpModel) -> list[tuple]:
    method = f"logit_ridge_{PENALTY:g}"
    if model.coefficients is None:
        return [(MODEL, 1, "intercept", None, None, None, None, model.n_obs, None, None, "not fitted", model.note)]
    rows: list[tuple] = []
    for i, (term, estimate) in enumerate(zip(model.terms, model.coefficients, strict=True)):
        note = None
        if term == "intercept":
            note = "not penalised"
        elif term == "log1p_weeks":
            note = "ln(1 + symptom weeks at session 1); 0 when missing"
        elif term == "symptom_weeks_missing":
            note = "1 when symptom weeks are missing"
        elif "=" in term:
            covariate = term.split("=", 1)[0]
            note = f"difference from the reference level {covariate}={model.references[covariate]}"
        rows.append((MODEL, i + 1, term, float(estimate), None, None, None, model.n_obs, None, None, method, note))
    for covariate in CATEGORICAL:
        rows.append((MODEL, len(rows) + 1, f"{covariate}={model.references[covariate]}", 0.0, None, None, None,
                     model.n_obs, None, None, method, "reference level (alphabetically first)"))
    return rows


def _install_probabilities(con: duckdb.DuckDBPyConnection, patterns: pd.DataFrame, p: np.ndarray) -> None:
    frame = patterns[list(PATTERN_KEYS)].assign(p_evaluable=p)
    con.register("_ipw_probabilities_frame", frame)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_PROBABILITIES} AS SELECT "
            "CAST(baseline_pain AS DOUBLE) AS baseline_pain, CAST(symptom_weeks AS DOUBLE) AS symptom_weeks, "
            "CAST(condition_group AS VARCHAR) AS condition_group, CAST(age_band AS VARCHAR) AS age_band, "
            "CAST(sex AS VARCHAR) AS sex, CAST(payer_type AS VARCHAR) AS payer_type, "
            "CAST(p_evaluable AS DOUBLE) AS p_evaluable FROM _ipw_probabilities_frame"
        )
    finally:
        con.unregister("_ipw_probabilities_frame")


def build_responder_sensitivity(con: duckdb.DuckDBPyConnection, episodes: str = EPISODES) -> dict[str, int]:
    """Section 13: fit the follow-up model, weight the evaluable episodes and write the sensitivity table.

    Writes ``intermediate.episode_ipw``, ``marts.responder_sensitivity`` and ``marts.ipw_coefficients``
    (model ``evaluable``). Needs ``marts.episode_outcomes``, ``_thresholds`` and the macros.
    """
    create_table(con, _ELIGIBLE, "marts/ipw_eligible", episodes=episodes)
    patterns = query(con, "marts/ipw_patterns").df()
    rows: list[tuple] = []
    if patterns.empty:
        p = np.zeros(0)
    else:
        model, p = fit_follow_up_model(patterns)
        rows = _coefficient_rows(model)
    _install_probabilities(con, patterns, p)
    counts = {COEFFICIENTS_TABLE: model_coefficients.write_coefficients(con, COEFFICIENTS_TABLE, rows)}
    counts[EPISODE_TABLE] = create_table(con, EPISODE_TABLE, "marts/episode_ipw")
    counts[TABLE] = create_table(con, TABLE, "marts/responder_sensitivity", ipw=EPISODE_TABLE, episodes=episodes)
    for temp in (_ELIGIBLE, _PROBABILITIES):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return counts
