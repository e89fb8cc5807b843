"""Case-mix (risk-adjustment) models, version 2, and the tables built on them.

Clinical rule (FOTO-style risk adjustment, domain-reference.md section 8; MIPS-style risk-adjusted
outcome measures): raw outcomes must never rank clinics, because intake pain and case mix dominate
them (room to improve, regression to the mean). Two models, fitted on every pain-evaluable episode
of the warehouse, predict what is *expected* for an episode's intake:

- ``pain_change`` (ordinary least squares): the sustained pain change;
- ``responder`` (logistic): the probability of being a responder (section 3).

Both use the same covariates, all of them the episode's, from its session 1::

    1 + baseline_pain + log1p_weeks + symptom_weeks_missing + age_band + condition_group + sex + payer_type

- ``log1p_weeks`` = ln(1 + symptom_weeks) (chronicity; the log damps very long histories). Missing
  symptom weeks are imputed with the mean of the observed ``log1p_weeks`` and flagged by the 0/1
  indicator ``symptom_weeks_missing`` (the indicator absorbs any difference of those episodes);
- each categorical covariate gets one indicator per level present, the most frequent level (ties by
  name) being the reference (estimate 0, listed in ``marts.model_coefficients``);
- a term that would be constant (one level only, no or only missing weeks) is left out.

The linear model: X'X and X'y are aggregated in DuckDB per cell of the categorical covariates, so
the fit costs the same at any size; the normal equations are solved in numpy (minimum-norm least
squares if the design is rank deficient, the solution ``statsmodels`` OLS with ``pinv`` gives;
standard errors are then null).

The logistic model: unpenalised maximum likelihood (the usual choice for risk-adjusted outcome
measures), fitted by Newton's method on the episodes grouped by covariate pattern
(:mod:`transforms.logistic`), with Wald standard errors. When the maximum-likelihood estimate does
not exist -- a level in which every episode has the same outcome, a combination of covariates that
separates the outcome (Newton's method then does not converge), or a rank-deficient design -- the
model is fitted with the ridge penalty of metrics.md section 13 instead (1.0 x the sum of squared
coefficients, intercept spared), which is finite and unique; its standard errors are then null,
``method`` is ``logit_ridge`` and the intercept's note says why.
When every (or no) pain-evaluable episode is a responder, the expected probability is that constant.

Tables: ``intermediate.episode_case_mix`` (per pain-evaluable episode: observed and expected), and in ``marts``
``model_coefficients`` (rows of models ``pain_change`` and ``responder``), ``risk_adjusted``
(observed minus expected mean change per clinic and therapist, t-interval), ``risk_adjusted_responders``
(observed vs expected responder rate per clinic and therapist, with the funnel interval) and
``risk_calibration`` (deciles of expected outcome: mean expected vs mean observed, per model).
The SQL is in ``transforms/sql/marts/case_mix_*.sql``, ``episode_case_mix.sql``, ``risk_*.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from transforms import model_coefficients
from transforms.episode_outcomes import TABLE as EPISODES
from transforms.indicators import indicator_columns
from transforms.intervals import ensure_t_quantiles, t_quantile, z_value
from transforms.logistic import fit_logistic, full_rank
from transforms.sqlmodels import create_table, query

if TYPE_CHECKING:  # pandas is imported where it is used: Dagster's start-up does not need it
    import pandas as pd

RISK_TABLE = "marts.risk_adjusted"
RESPONDER_TABLE = "marts.risk_adjusted_responders"
CALIBRATION_TABLE = "marts.risk_calibration"
CASE_MIX_TABLE = "intermediate.episode_case_mix"
COEFFICIENTS_TABLE = "marts.model_coefficients"

PAIN_MODEL = "pain_change"
RESPONDER_MODEL = "responder"
MODELS = (PAIN_MODEL, RESPONDER_MODEL)

CATEGORICAL = ("age_band", "condition_group", "sex", "payer_type")  # allow-list of categorical covariates

# Ridge penalty when the responder model's maximum-likelihood estimate does not exist (section 13's).
SEPARATION_PENALTY = 1.0
# Newton's method reaches a maximum-likelihood estimate that exists in a handful of iterations; one
# that has not converged by then is running off to infinity along a separating direction.
ML_MAX_ITERATIONS = 50

_ROWS = "_case_mix_rows"
_TERMS = "_case_mix_terms"


@dataclass(frozen=True)
class CaseMixDesign:
    """The case-mix design: terms in order, reference levels and the levels given an indicator."""

    terms: tuple[str, ...]
    references: dict[str, str]
    levels: dict[str, tuple[str, ...]]
    has_weeks: bool
    has_missing: bool

    def constant_part(self, frame: pd.DataFrame) -> np.ndarray:
        """Columns of the design that are constant within a cell: intercept, missing indicator, level indicators."""
        columns = [np.ones(len(frame))]
        if self.has_missing:
            columns.append(frame["m"].to_numpy(dtype=float))
        for c in CATEGORICAL:
            columns += indicator_columns(frame[c], self.levels[c])
        return np.column_stack(columns)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The full design of rows with ``b``, ``w``, ``m`` and the categorical columns, in :attr:`terms` order."""
        const = self.constant_part(frame)
        continuous = [frame["b"].to_numpy(dtype=float)]
        if self.has_weeks:
            continuous.append(frame["w"].to_numpy(dtype=float))
        return np.column_stack([const[:, :1], *continuous, const[:, 1:]])


def case_mix_design(cells: pd.DataFrame) -> CaseMixDesign:
    """The documented design from the per-cell counts: most frequent level as reference, constant terms left out."""
    references, levels = {}, {}
    for c in CATEGORICAL:
        counts = cells.groupby(c)["n"].sum().reset_index().sort_values([c])
        references[c] = str(counts.sort_values("n", ascending=False, kind="stable")[c].iloc[0])
        levels[c] = tuple(sorted(set(cells[c]) - {references[c]}))
    n_missing = int(cells.loc[cells["m"] == 1, "n"].sum())
    n_total = int(cells["n"].sum())
    has_weeks = n_missing < n_total
    has_missing = 0 < n_missing < n_total
    terms = ["intercept", "baseline_pain", *(["log1p_weeks"] if has_weeks else []),
             *(["symptom_weeks_missing"] if has_missing else [])]
    terms += [f"{c}={level}" for c in CATEGORICAL for level in levels[c]]
    return CaseMixDesign(tuple(terms), references, levels, has_weeks, has_missing)


def _normal_equations(design: CaseMixDesign, cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """X'X and X'y of the linear model, assembled from the per-cell sums."""
    a = design.constant_part(cells)
    n, sb, sw = (cells[c].to_numpy(dtype=float) for c in ("n", "sb", "sw"))
    sbb, sww, sbw = (cells[c].to_numpy(dtype=float) for c in ("sbb", "sww", "sbw"))
    sy, sby, swy = (cells[c].to_numpy(dtype=float) for c in ("sy", "sby", "swy"))
    # blocks in the order (constant part..., b, w); then permuted to the order of the terms
    kk = (a * n[:, None]).T @ a
    kv = np.column_stack([a.T @ sb, a.T @ sw])
    vv = np.array([[sbb.sum(), sbw.sum()], [sbw.sum(), sww.sum()]])
    xtx = np.block([[kk, kv], [kv.T, vv]])
    xty = np.concatenate([a.T @ sy, [sby.sum(), swy.sum()]])
    k = a.shape[1]
    order = [0, k, *([k + 1] if design.has_weeks else []), *range(1, k)]
    return xtx[np.ix_(order, order)], xty[order]


@dataclass(frozen=True)
class FittedModel:
    """One fitted case-mix model: estimates (and standard errors when defined) in design order."""

    name: str
    method: str
    design: CaseMixDesign
    estimates: np.ndarray
    std_errors: np.ndarray | None
    n_obs: int
    r_squared: float | None = None
    residual_sd: float | None = None
    constant: float | None = None  # the prediction of a model whose outcome never varies
    fit_note: str | None = None  # why a penalised fit was used
    imputed_log1p_weeks: float | None = None  # the value given to a missing ln(1 + symptom weeks)


def fit_pain_model(cells: pd.DataFrame, design: CaseMixDesign) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """The linear model's estimates, (X'X)^-1 when the design has full rank, and whether it has."""
    xtx, xty = _normal_equations(design, cells)
    if np.linalg.matrix_rank(xtx) == len(design.terms):
        return np.linalg.solve(xtx, xty), np.linalg.inv(xtx), True
    return np.linalg.lstsq(xtx, xty, rcond=None)[0], None, False


def single_outcome_levels(patterns: pd.DataFrame, design: CaseMixDesign) -> list[str]:
    """Levels (``covariate=level``) in which every episode has the same outcome: each separates the outcome.

    Such a level's indicator (or, for the reference level, the intercept minus the other indicators)
    is a direction along which the likelihood keeps rising: no finite maximum-likelihood estimate.
    """
    found = []
    columns = [c for c in CATEGORICAL if design.levels[c]] + (["m"] if design.has_missing else [])
    for column in columns:
        sums = patterns.groupby(column)[["n", "k"]].sum()
        found += [f"{column if column != 'm' else 'symptom_weeks_missing'}={level}"
                  for level, row in sums.iterrows() if row["k"] == 0 or row["k"] == row["n"]]
    return found


def fit_responder_model(patterns: pd.DataFrame, design: CaseMixDesign) -> FittedModel:
    """The logistic model of the responder outcome on patterns (``n`` episodes, ``k`` responders each).

    Unpenalised maximum likelihood when it exists; otherwise the section 13 ridge penalty. It does not
    exist when a level has a single outcome (checked first, cheaply), when the design is rank
    deficient, or when Newton's method does not converge (a separation by a combination of
    covariates). A constant outcome gives the constant prediction.
    """
    n = patterns["n"].to_numpy(dtype=float)
    k = patterns["k"].to_numpy(dtype=float)
    n_obs = int(n.sum())
    share = float(k.sum() / n.sum())
    if share in (0.0, 1.0):
        return FittedModel(RESPONDER_MODEL, "constant", design, np.full(len(design.terms), np.nan), None, n_obs,
                           constant=share)
    x = design.matrix(patterns)
    single = single_outcome_levels(patterns, design)
    if single:
        reason = "every episode of " + ", ".join(single) + " has the same outcome (separation)"
    elif not full_rank(x, n):
        reason = "the design is rank deficient"
    else:
        fit = fit_logistic(x, n, k, max_iterations=ML_MAX_ITERATIONS)
        if fit.converged and fit.covariance is not None:
            return FittedModel(RESPONDER_MODEL, "logit_ml", design, fit.coefficients,
                               np.sqrt(np.clip(np.diag(fit.covariance), 0.0, None)), n_obs)
        reason = "maximum likelihood does not converge: the covariates separate the outcome"
    fit = fit_logistic(x, n, k, penalty=SEPARATION_PENALTY)
    note = f"no finite maximum-likelihood estimate ({reason}); ridge penalty {SEPARATION_PENALTY:g}, intercept spared"
    return FittedModel(RESPONDER_MODEL, "logit_ridge", design, fit.coefficients, None, n_obs, fit_note=note)


def _install_terms(con: duckdb.DuckDBPyConnection, models: list[FittedModel]) -> None:
    """``_case_mix_terms`` (model, term, estimate): the coefficients the predictions use."""
    rows = []
    for model in models:
        if model.constant is not None:
            rows.append((model.name, "_constant", model.constant))
        else:
            rows += [(model.name, t, float(v)) for t, v in zip(model.design.terms, model.estimates, strict=True)]
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["model", "term", "estimate"])
    con.register("_case_mix_terms_frame", frame)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_TERMS} AS SELECT CAST(model AS VARCHAR) AS model, "
            "CAST(term AS VARCHAR) AS term, CAST(estimate AS DOUBLE) AS estimate FROM _case_mix_terms_frame"
        )
    finally:
        con.unregister("_case_mix_terms_frame")


def _coefficient_rows(model: FittedModel, imputed: float | None) -> list[tuple]:
    """Rows of ``marts.model_coefficients`` for one model (reference levels last, estimate 0)."""
    rows: list[tuple] = []
    common = (model.n_obs, model.r_squared, model.residual_sd, model.method)
    if model.constant is not None:
        note = f"every pain-evaluable episode has the same outcome; expected = {model.constant:g}"
        return [(model.name, 1, "intercept", None, None, None, None, *common, note)]
    if model.std_errors is None:
        q = None
    elif model.name == PAIN_MODEL:
        dof = model.n_obs - len(model.design.terms)
        q = float(t_quantile(dof)) if dof > 0 else None
    else:
        q = z_value()  # Wald interval of a maximum-likelihood estimate
    for i, term in enumerate(model.design.terms):
        est = float(model.estimates[i])
        se = float(model.std_errors[i]) if model.std_errors is not None else None
        low, high = (est - q * se, est + q * se) if se is not None and q is not None else (None, None)
        note = None
        if term == "intercept":
            note = model.fit_note
        elif term == "log1p_weeks":
            note = "ln(1 + symptom weeks at session 1)"
        elif term == "symptom_weeks_missing":
            note = f"1 when symptom weeks are missing; log1p_weeks then imputed with {imputed:.4f}"
        elif "=" in term:
            covariate = term.split("=", 1)[0]
            note = f"difference from the reference level {covariate}={model.design.references[covariate]}"
        rows.append((model.name, i + 1, term, est, se, low, high, *common, note))
    for covariate in CATEGORICAL:
        level = model.design.references[covariate]
        rows.append((model.name, len(rows) + 1, f"{covariate}={level}", 0.0, None, None, None, *common,
                     "reference level"))
    return rows


def fit_case_mix(con: duckdb.DuckDBPyConnection, episodes: str = EPISODES) -> tuple[list[FittedModel], int]:
    """Fit both case-mix models on the pain-evaluable episodes and build ``intermediate.episode_case_mix``.

    Leaves ``_case_mix_rows`` and ``_case_mix_terms`` for the caller to drop. Returns the models
    (none when there is no pain-evaluable episode; ``intermediate.episode_case_mix`` is then empty) and the
    row count of ``intermediate.episode_case_mix``.
    """
    create_table(con, _ROWS, "marts/case_mix_rows", episodes=episodes)
    cells = query(con, "marts/case_mix_cells").df()
    models: list[FittedModel] = []
    if not cells.empty:
        design = case_mix_design(cells)
        estimates, inverse, ok = fit_pain_model(cells, design)
        n_obs = int(cells["n"].sum())
        models.append(FittedModel(PAIN_MODEL, "ols" if ok else "ols_min_norm", design, estimates, None, n_obs))
        patterns = query(con, "marts/case_mix_patterns").df()
        models.append(fit_responder_model(patterns, design))
        _install_terms(con, models)
        n_rows = create_table(con, CASE_MIX_TABLE, "marts/episode_case_mix")
        # goodness of fit of the linear model, from the predictions
        rss, tss, imputed = query(con, "marts/case_mix_fit", case_mix=CASE_MIX_TABLE).fetchall()[0]
        dof = n_obs - len(design.terms)
        sigma2 = rss / dof if dof > 0 else None
        std_errors = np.sqrt(np.clip(np.diag(inverse) * sigma2, 0.0, None)) if ok and sigma2 is not None else None
        models[0] = FittedModel(
            PAIN_MODEL, models[0].method, design, estimates, std_errors, n_obs,
            r_squared=1.0 - rss / tss if tss and tss > 0 else None,
            residual_sd=float(np.sqrt(sigma2)) if sigma2 is not None else None,
            imputed_log1p_weeks=imputed,
        )
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_TERMS} (model VARCHAR, term VARCHAR, estimate DOUBLE)")
        n_rows = create_table(con, CASE_MIX_TABLE, "marts/episode_case_mix")
    return models, n_rows


def build_risk_adjustment(con: duckdb.DuckDBPyConnection, episodes: str = EPISODES) -> dict[str, int]:
    """Risk adjustment: both case-mix models, per-episode expectations, and observed vs expected per clinic and therapist.

    Writes ``intermediate.episode_case_mix``, the ``pain_change`` and ``responder`` rows of
    ``marts.model_coefficients``, ``marts.risk_adjusted``, ``marts.risk_adjusted_responders`` and
    ``marts.risk_calibration``. Needs ``marts.episode_outcomes``, ``_thresholds`` and the interval
    macros. Returns their row counts.
    """
    models, n_rows = fit_case_mix(con, episodes)
    imputed = models[0].imputed_log1p_weeks if models else None
    rows = [r for model in models for r in _coefficient_rows(model, imputed)]
    counts_coefficients = model_coefficients.write_coefficients(con, COEFFICIENTS_TABLE, rows)
    ensure_t_quantiles(con, n_rows)
    counts = {CASE_MIX_TABLE: n_rows}
    counts[RISK_TABLE] = create_table(con, RISK_TABLE, "marts/risk_adjusted", case_mix=CASE_MIX_TABLE)
    counts[RESPONDER_TABLE] = create_table(
        con, RESPONDER_TABLE, "marts/risk_adjusted_responders", case_mix=CASE_MIX_TABLE
    )
    counts[CALIBRATION_TABLE] = create_table(con, CALIBRATION_TABLE, "marts/risk_calibration", case_mix=CASE_MIX_TABLE)
    counts[COEFFICIENTS_TABLE] = counts_coefficients
    for temp in (_ROWS, _TERMS):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return counts
