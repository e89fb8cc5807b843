"""Risk-adjusted pain outcomes per clinic and therapist: ``marts.risk_adjusted`` and ``marts.model_coefficients``.

Clinical rule (FOTO-style risk adjustment, domain-reference.md section 8): raw change must never
rank clinics, because intake pain and case mix dominate it (room to improve, regression to the
mean). An ordinary least-squares model predicts each pain-evaluable episode's *expected*
sustained pain change from intake factors; a clinic's or therapist's score is observed minus
expected (the mean residual) with a 95% t-interval over its episodes.

The model, fitted on every pain-evaluable episode of the warehouse::

    pain_change ~ 1 + baseline_pain + log1p_weeks + symptom_weeks_missing + age_band + condition_group

- ``baseline_pain``: NRS at session 1;
- ``log1p_weeks`` = ln(1 + symptom_weeks) (chronicity; the log damps very long histories). Missing
  symptom weeks are imputed with the mean of the observed ``log1p_weeks`` and flagged by the 0/1
  indicator ``symptom_weeks_missing`` (the indicator absorbs any difference of those episodes);
- ``age_band`` and ``condition_group``: one indicator per level present, the most frequent level
  (ties by name) being the reference (estimate 0, listed in ``marts.model_coefficients``).
  A constant column (e.g. no missing weeks) is left out.

X'X and X'y are aggregated in DuckDB per (age band, group, missing) cell, so the fit costs the
same at any size; the normal equations are solved in numpy (minimum-norm least squares if the
design is rank deficient, the solution ``statsmodels`` OLS with ``pinv`` gives; standard errors
are then null). Expected values and residuals are computed back in DuckDB. The interval of
observed minus expected treats the model as known (its parameter uncertainty is small next to a
unit's own variation once the model rests on many episodes).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from transforms.episode_outcomes import TABLE as EPISODES
from transforms.intervals import T_QUANTILES_TABLE, ensure_t_quantiles, t_quantile

RISK_TABLE = "marts.risk_adjusted"
COEFFICIENTS_TABLE = "marts.model_coefficients"

CATEGORICAL = ("age_band", "condition_group")  # allow-list of categorical covariates

_ROWS_SQL = f"""
CREATE OR REPLACE TABLE _risk_rows AS
WITH rows AS (
    SELECT episode_key, clinic_id, therapist_id, patient_id, age_band, condition_group,
           pain_change AS y, baseline_pain AS b,
           CASE WHEN symptom_weeks IS NULL THEN 1.0::DOUBLE ELSE 0.0::DOUBLE END AS m,
           ln(1.0::DOUBLE + symptom_weeks) AS w_observed
    FROM {EPISODES}
    WHERE pain_evaluable
)
SELECT r.* EXCLUDE (w_observed),
       coalesce(r.w_observed, (SELECT coalesce(det_avg(w_observed), 0.0::DOUBLE) FROM rows)) AS w
FROM rows r
"""

_CELLS_SQL = """
SELECT age_band, condition_group, m, count(*) AS n,
       det_sum(b) AS sb, det_sum(w) AS sw, det_sum(b * b) AS sbb, det_sum(w * w) AS sww, det_sum(b * w) AS sbw,
       det_sum(y) AS sy, det_sum(b * y) AS sby, det_sum(w * y) AS swy
FROM _risk_rows
GROUP BY age_band, condition_group, m
ORDER BY age_band, condition_group, m
"""


@dataclass(frozen=True)
class RiskModel:
    """A fitted risk-adjustment model: terms in design order with estimates (and the reference levels)."""

    terms: tuple[str, ...]
    estimates: np.ndarray
    std_errors: np.ndarray | None
    references: dict[str, str]
    n_obs: int
    r_squared: float | None
    residual_sd: float | None
    imputed_log1p_weeks: float


def _reference(cells: pd.DataFrame, column: str) -> str:
    counts = cells.groupby(column)["n"].sum().reset_index().sort_values([column])
    return str(counts.sort_values("n", ascending=False, kind="stable")[column].iloc[0])


def _design(cells: pd.DataFrame) -> tuple[list[str], dict[str, str], np.ndarray, np.ndarray]:
    """Terms, reference levels, and X'X, X'y assembled from the per-cell sums."""
    references = {c: _reference(cells, c) for c in CATEGORICAL}
    levels = {c: sorted(set(cells[c]) - {references[c]}) for c in CATEGORICAL}
    has_missing = 0 < cells.loc[cells["m"] == 1, "n"].sum() < cells["n"].sum()
    # constant-within-cell part of the row: intercept, missing indicator, level indicators
    const_terms = ["intercept", *(["symptom_weeks_missing"] if has_missing else [])]
    const_terms += [f"{c}={lvl}" for c in CATEGORICAL for lvl in levels[c]]
    terms = [const_terms[0], "baseline_pain", "log1p_weeks", *const_terms[1:]]
    k = len(const_terms)
    a = np.zeros((len(cells), k))
    a[:, 0] = 1.0
    j = 1
    if has_missing:
        a[:, 1] = cells["m"].to_numpy(dtype=float)
        j = 2
    for c in CATEGORICAL:
        for lvl in levels[c]:
            a[:, j] = (cells[c] == lvl).to_numpy(dtype=float)
            j += 1
    n, sb, sw = (cells[c].to_numpy(dtype=float) for c in ("n", "sb", "sw"))
    sbb, sww, sbw = (cells[c].to_numpy(dtype=float) for c in ("sbb", "sww", "sbw"))
    sy, sby, swy = (cells[c].to_numpy(dtype=float) for c in ("sy", "sby", "swy"))
    kk = (a * n[:, None]).T @ a
    kv = np.column_stack([a.T @ sb, a.T @ sw])
    vv = np.array([[sbb.sum(), sbw.sum()], [sbw.sum(), sww.sum()]])
    ky, vy = a.T @ sy, np.array([sby.sum(), swy.sum()])
    # order: intercept, baseline, log1p_weeks, the other constant terms; log1p_weeks is left out
    # when no episode has symptom weeks (it would be a constant)
    all_missing = cells.loc[cells["m"] == 0, "n"].sum() == 0
    order = [0, k, *([] if all_missing else [k + 1]), *range(1, k)]
    if all_missing:
        terms.remove("log1p_weeks")
    xtx_full = np.block([[kk, kv], [kv.T, vv]])
    xty_full = np.concatenate([ky, vy])
    return terms, references, xtx_full[np.ix_(order, order)], xty_full[order]


def fit_risk_model(con: duckdb.DuckDBPyConnection) -> RiskModel | None:
    """Risk adjustment: OLS of sustained pain change on intake factors, fitted on pain-evaluable episodes.

    Builds ``_risk_rows`` (one row per pain-evaluable episode) and ``_risk_fitted`` (with the expected
    change) and returns the fitted model, or None
    when there is no pain-evaluable episode.
    """
    con.execute(_ROWS_SQL)
    cells = con.execute(_CELLS_SQL).df()
    if cells.empty:
        return None
    terms, references, xtx, xty = _design(cells)
    p = len(terms)
    n_obs = int(cells["n"].sum())
    full_rank = np.linalg.matrix_rank(xtx) == p
    beta = np.linalg.solve(xtx, xty) if full_rank else np.linalg.lstsq(xtx, xty, rcond=None)[0]
    imputed = con.execute("SELECT det_avg(CASE WHEN m = 0 THEN w END) FROM _risk_rows").fetchall()[0][0]
    _install_predictions(con, terms, beta)
    rss, tss = con.execute(
        "SELECT det_sum((y - expected) * (y - expected)), det_sum(y * y) - det_sum(y) * det_sum(y) / count(*) "
        "FROM _risk_fitted"
    ).fetchall()[0]
    dof = n_obs - p
    sigma2 = rss / dof if dof > 0 else None
    std_errors = None
    if full_rank and sigma2 is not None:
        std_errors = np.sqrt(np.clip(np.diag(np.linalg.inv(xtx)) * sigma2, 0.0, None))
    r_squared = 1.0 - rss / tss if tss and tss > 0 else None
    return RiskModel(
        tuple(terms), beta, std_errors, references, n_obs, r_squared,
        float(np.sqrt(sigma2)) if sigma2 is not None else None,
        float(imputed) if imputed is not None else float("nan"),
    )


def _install_predictions(con: duckdb.DuckDBPyConnection, terms: list[str], beta: np.ndarray) -> None:
    """Creates ``_risk_fitted``: ``_risk_rows`` plus ``expected`` (the model's prediction)."""
    coef = dict(zip(terms, (float(b) for b in beta), strict=True))
    levels = pd.DataFrame(
        [(c, t.split("=", 1)[1], v) for t, v in coef.items() for c in CATEGORICAL if t.startswith(f"{c}=")],
        columns=["covariate", "level", "effect"],
    )
    con.register("_risk_levels_frame", levels)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _risk_levels AS "
            "SELECT CAST(covariate AS VARCHAR) AS covariate, CAST(level AS VARCHAR) AS level, "
            "CAST(effect AS DOUBLE) AS effect FROM _risk_levels_frame"
        )
    finally:
        con.unregister("_risk_levels_frame")
    con.execute(
        """
        CREATE OR REPLACE TABLE _risk_fitted AS
        SELECT r.*,
               ? + ? * r.b + ? * r.w + ? * r.m + coalesce(a.effect, 0.0::DOUBLE) + coalesce(g.effect, 0.0::DOUBLE)
                   AS expected
        FROM _risk_rows r
        LEFT JOIN _risk_levels a ON a.covariate = 'age_band' AND a.level = r.age_band
        LEFT JOIN _risk_levels g ON g.covariate = 'condition_group' AND g.level = r.condition_group
        """,
        [coef["intercept"], coef["baseline_pain"], coef.get("log1p_weeks", 0.0), coef.get("symptom_weeks_missing", 0.0)],
    )


_COEFFICIENT_COLUMNS = (
    "position INTEGER, term VARCHAR, estimate DOUBLE, std_error DOUBLE, ci_low DOUBLE, ci_high DOUBLE, n_obs BIGINT, "
    "r_squared DOUBLE, residual_sd DOUBLE, note VARCHAR"
)

_RISK_SQL = f"""
CREATE OR REPLACE TABLE {RISK_TABLE} AS
WITH units AS (
    SELECT 'clinic' AS level, clinic_id AS unit_id, clinic_id, y, expected, patient_id FROM _risk_fitted
    UNION ALL
    SELECT 'therapist', therapist_id, clinic_id, y, expected, patient_id FROM _risk_fitted
),
agg AS (
    SELECT level, unit_id, clinic_id, count(*) AS n, count(DISTINCT patient_id) AS n_patients,
           det_avg(y) AS observed_mean, det_avg(expected) AS expected_mean, det_avg(y - expected) AS o_minus_e,
           det_sd(y - expected) AS sd_residual
    FROM units
    GROUP BY level, unit_id, clinic_id
)
SELECT a.level, a.unit_id, a.clinic_id, a.n, a.n_patients, a.observed_mean, a.expected_mean, a.o_minus_e,
       t_low(a.o_minus_e, a.sd_residual, a.n, q.q) AS ci_low,
       t_high(a.o_minus_e, a.sd_residual, a.n, q.q) AS ci_high,
       CASE WHEN a.n >= 2 THEN a.sd_residual END AS sd_residual
FROM agg a
LEFT JOIN {T_QUANTILES_TABLE} q ON q.df = a.n - 1
ORDER BY a.level, a.clinic_id, a.unit_id
"""

_EMPTY_RISK_SQL = f"""
CREATE OR REPLACE TABLE {RISK_TABLE} (
    level VARCHAR, unit_id VARCHAR, clinic_id VARCHAR, n BIGINT, n_patients BIGINT, observed_mean DOUBLE,
    expected_mean DOUBLE, o_minus_e DOUBLE, ci_low DOUBLE, ci_high DOUBLE, sd_residual DOUBLE
)
"""


def _coefficient_rows(model: RiskModel) -> list[tuple]:
    rows = []
    dof = model.n_obs - len(model.terms)
    q = float(t_quantile(dof)) if dof > 0 else None
    for i, term in enumerate(model.terms):
        est = float(model.estimates[i])
        se = float(model.std_errors[i]) if model.std_errors is not None else None
        low, high = (est - q * se, est + q * se) if se is not None and q is not None else (None, None)
        note = None
        if term == "log1p_weeks":
            note = "ln(1 + symptom weeks at session 1)"
        elif term == "symptom_weeks_missing":
            note = f"1 when symptom weeks are missing; log1p_weeks then imputed with {model.imputed_log1p_weeks:.4f}"
        elif "=" in term:
            covariate = term.split("=", 1)[0]
            note = f"difference from the reference level {covariate}={model.references[covariate]}"
        rows.append((i + 1, term, est, se, low, high, model.n_obs, model.r_squared, model.residual_sd, note))
    for covariate, level in model.references.items():
        rows.append((len(rows) + 1, f"{covariate}={level}", 0.0, None, None, None, model.n_obs, model.r_squared,
                     model.residual_sd, "reference level"))
    return rows


def build_risk_adjustment(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Risk adjustment: per clinic and therapist, observed vs model-expected mean pain change (O - E, 95% CI).

    Writes ``marts.model_coefficients`` and ``marts.risk_adjusted``; needs ``marts.episode_outcomes``
    and the interval macros. Returns their row counts.
    """
    model = fit_risk_model(con)
    con.execute(f"CREATE OR REPLACE TABLE {COEFFICIENTS_TABLE} ({_COEFFICIENT_COLUMNS})")
    if model is None:
        con.execute(_EMPTY_RISK_SQL)
    else:
        con.executemany(f"INSERT INTO {COEFFICIENTS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _coefficient_rows(model))
        ensure_t_quantiles(con, model.n_obs)
        con.execute(_RISK_SQL)
        con.execute("DROP TABLE IF EXISTS _risk_levels")
    for temp in ("_risk_rows", "_risk_fitted"):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return {
        COEFFICIENTS_TABLE: con.execute(f"SELECT count(*) FROM {COEFFICIENTS_TABLE}").fetchall()[0][0],
        RISK_TABLE: con.execute(f"SELECT count(*) FROM {RISK_TABLE}").fetchall()[0][0],
    }
