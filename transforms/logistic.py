"""Logistic regression on covariate patterns by Newton's method (metrics.md section 13; case-mix responder model).

Both logistic models of the project -- the follow-up model of section 13 (is an eligible episode
evaluable?) and the case-mix model of the responder outcome (:mod:`transforms.risk_adjustment`) --
are fitted here, on data aggregated per covariate pattern: row i of the design ``x`` stands for
``n_i`` episodes with identical covariates, ``k_i`` of which have outcome 1. The binomial
log-likelihood of the patterns equals the Bernoulli log-likelihood of the episodes, so the fit is the
episode-level fit at a fraction of the size.

The objective minimised is::

    sum_i [ n_i log(1 + exp(eta_i)) - k_i eta_i ]  +  penalty x sum_{j >= 1} b_j^2,    eta = x b

(the negative log-likelihood, summed, plus a ridge penalty that spares the intercept ``b_0``). With
a positive penalty it is strictly convex and grows in every direction whenever the outcome takes
both values, so its minimum is unique and finite even when a level predicts the outcome perfectly
(separation). Without penalty a finite minimum exists only when the outcome is not separated by
the covariates; since the objective is convex, Newton's method converging to a point where the
step vanishes proves that it exists, and failing to converge means it (numerically) does not.

Newton's method with step halving converges quadratically on this smooth, strictly convex problem;
iteration stops when the Newton step is below ``1e-10`` relative to the coefficients. Products
with the design are formed in blocks of rows, so memory stays at about one copy of the design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ITERATIONS = 200
STEP_TOLERANCE = 1e-10
_BLOCK_ROWS = 1 << 16


def expit(z: np.ndarray) -> np.ndarray:
    """The logistic function, scipy's overflow-safe one (imported on use: scipy is slow to import)."""
    from scipy.special import expit as logistic

    return logistic(z)


@dataclass(frozen=True)
class LogisticFit:
    """A fitted logistic model: coefficients in design order, and the covariance when unpenalised."""

    coefficients: np.ndarray
    covariance: np.ndarray | None
    penalty: float
    iterations: int
    converged: bool


def objective(b: np.ndarray, x: np.ndarray, n: np.ndarray, k: np.ndarray, penalty: float) -> float:
    """The penalised negative log-likelihood of ``b`` (intercept, column 0, not penalised)."""
    eta = x @ b
    return float(np.sum(n * np.logaddexp(0.0, eta) - k * eta) + penalty * np.sum(b[1:] ** 2))


def weighted_gram(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``x' diag(weights) x``, accumulated over blocks of rows (no temporary the size of ``x``)."""
    gram = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, x.shape[0], _BLOCK_ROWS):
        block = x[start:start + _BLOCK_ROWS]
        gram += (block * weights[start:start + _BLOCK_ROWS, None]).T @ block
    return gram


def fit_logistic(
    x: np.ndarray, n: np.ndarray, k: np.ndarray, penalty: float = 0.0, max_iterations: int = MAX_ITERATIONS
) -> LogisticFit:
    """Minimise the (penalised) binomial negative log-likelihood of patterns by Newton's method.

    ``x``: design (one row per pattern, column 0 the intercept); ``n``: episodes per pattern; ``k``:
    of them with outcome 1. Needs both outcomes to occur (otherwise the intercept is infinite).
    ``converged`` is False when the step did not vanish within ``max_iterations`` or the Hessian
    became singular (without penalty: the maximum-likelihood estimate does not exist). The
    covariance (inverse Hessian of the negative log-likelihood) is returned only without penalty.
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    k = np.asarray(k, dtype=float)
    ridge = np.full(x.shape[1], 2.0 * penalty)
    ridge[0] = 0.0
    b = np.zeros(x.shape[1])
    # start the intercept at the overall log-odds: fewer iterations, same optimum
    share = k.sum() / n.sum()
    if 0.0 < share < 1.0:
        b[0] = np.log(share / (1.0 - share))
    current = objective(b, x, n, k, penalty)
    converged = False
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        mu = expit(x @ b)
        gradient = x.T @ (n * mu - k) + ridge * b
        hessian = weighted_gram(x, n * mu * (1.0 - mu)) + np.diag(ridge)
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        scale = 1.0
        candidate = b - step
        value = objective(candidate, x, n, k, penalty)
        # step halving keeps every iteration a descent (rounding may leave the objective flat at the end)
        while value > current and scale > 1e-10:
            scale /= 2.0
            candidate = b - scale * step
            value = objective(candidate, x, n, k, penalty)
        small = np.max(np.abs(scale * step)) <= STEP_TOLERANCE * (1.0 + np.max(np.abs(b)))
        if value <= current or small:
            b, current = candidate, min(value, current)
        if small:
            converged = True
            break
    covariance = None
    if penalty == 0.0 and converged:
        mu = expit(x @ b)
        try:
            covariance = np.linalg.inv(weighted_gram(x, n * mu * (1.0 - mu)))
        except np.linalg.LinAlgError:
            converged = False
    return LogisticFit(b, covariance, penalty, iterations, converged)


def predict(x: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """The fitted probabilities ``1 / (1 + exp(-x b))``."""
    return expit(np.asarray(x, dtype=float) @ coefficients)


def full_rank(x: np.ndarray, n: np.ndarray) -> bool:
    """Whether the weighted design has full column rank (otherwise the unpenalised fit is not unique)."""
    x = np.asarray(x, dtype=float)
    return int(np.linalg.matrix_rank(weighted_gram(x, np.asarray(n, dtype=float)))) == x.shape[1]
