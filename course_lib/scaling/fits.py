"""Fits of scaling laws to measurements, written out so the course can teach them.

* ``fit_power_law(x, y)``: least squares of ln y on ln x, ``y = coefficient * x**exponent``.
* ``fit_power_law_with_floor(x, y)``: ``y = floor + coefficient * x**exponent``.
* ``fit_chinchilla(N, D, L)``: Hoffmann et al.'s procedure (Huber loss on log-loss, L-BFGS
  from a grid of starting points), returning a ``ChinchillaLaw``; ``fit_chinchilla_details``
  runs the same fit and also returns the objective and the optimiser's result.
* ``fit_product_form(N, D, L)``: the seeds' ``L = a N^b D^c C^d`` on runs with ``C = 6 N D``,
  which has no unique answer (the design matrix has rank 3).

Units: N in parameters, D in tokens, L in nats per token, C in FLOPs.

Reference:
    Hoffmann, Borgeaud, Mensch, et al. (2022), "Training Compute-Optimal Large Language
    Models", arXiv:2203.15556, section 3.3 and appendix D.2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..compute import training_flops
from ..validation import check_int, check_positive, check_positive_array
from .laws import ChinchillaLaw, as_float_or_array

__all__ = [
    "r_squared",
    "check_paired",
    "PowerLawFit",
    "fit_power_law",
    "FloorPowerLawFit",
    "fit_power_law_with_floor",
    "ChinchillaFit",
    "fit_chinchilla",
    "fit_chinchilla_details",
    "ProductFormFit",
    "fit_product_form",
]


def check_paired(x, y, xname: str, yname: str, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` as 1-D float arrays of positive values, of equal length and at least ``min_points`` long."""
    x = check_positive_array(x, xname)
    y = check_positive_array(y, yname)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{xname} and {yname} must be 1-D sequences, got shapes {x.shape} and {y.shape}.")
    if len(x) != len(y):
        raise ValueError(f"{xname} and {yname} must have the same length, got {len(x)} and {len(y)}.")
    if len(x) < min_points:
        raise ValueError(f"need at least {min_points} points to fit, got {len(x)}; measure more sizes.")
    return x, y


def r_squared(observed: np.ndarray, predicted: np.ndarray) -> float:
    """The coefficient of determination ``1 - SS_res / SS_tot`` (1.0 for a perfect fit of constant data)."""
    ss_res = float(np.sum((observed - predicted) ** 2))
    ss_tot = float(np.sum((observed - observed.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


# ----------------------------------------------------------------------------- power laws


@dataclass(frozen=True)
class PowerLawFit:
    """``y = coefficient * x**exponent``, fitted by least squares in log-log space.

    For loss against parameters the exponent is negative (Kaplan's alpha_N is
    ``-exponent``). ``r2`` is the coefficient of determination of ln y on ln x.
    """

    exponent: float
    coefficient: float
    r2: float
    n_points: int

    def predict(self, x):
        """``coefficient * x**exponent`` for positive x (numpy broadcasting)."""
        return as_float_or_array(self.coefficient * check_positive_array(x, "x") ** self.exponent)

    def __str__(self) -> str:
        return f"y = {self.coefficient:.4g} * x^{self.exponent:.4f}  (R^2 = {self.r2:.4f}, {self.n_points} points)"


def _log_pairs(x, y, min_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, ln x, ln y) after the checks; ValueError if every x is the same."""
    x, y = check_paired(x, y, "x", "y", min_points=min_points)
    lx, ly = np.log(x), np.log(y)
    if np.ptp(lx) == 0:
        raise ValueError("all x values are equal: a power law needs at least two different x values.")
    return x, y, lx, ly


def fit_power_law(x, y) -> PowerLawFit:
    """Fit ``y = coefficient * x**exponent`` by least squares of ln y on ln x.

    Args:
        x: positive values, e.g. non-embedding parameters N.
        y: positive values of the same length, e.g. validation loss in nats per token.

    Returns:
        A ``PowerLawFit`` with ``exponent``, ``coefficient``, ``r2`` (in log space) and
        ``predict(x)``.
    """
    x, _, lx, ly = _log_pairs(x, y, min_points=2)
    slope, intercept = np.polyfit(lx, ly, 1)
    return PowerLawFit(float(slope), float(math.exp(intercept)), r_squared(ly, slope * lx + intercept), len(x))


@dataclass(frozen=True)
class FloorPowerLawFit:
    """``y = floor + coefficient * x**exponent``: a power law above an irreducible floor.

    For loss against N, ``floor`` estimates the irreducible loss (Chinchilla's E) and
    ``exponent`` is negative. ``r2`` is computed on ln y.
    """

    floor: float
    coefficient: float
    exponent: float
    r2: float
    n_points: int

    def predict(self, x):
        """``floor + coefficient * x**exponent`` for positive x."""
        return as_float_or_array(self.floor + self.coefficient * check_positive_array(x, "x") ** self.exponent)

    def __str__(self) -> str:
        return (f"y = {self.floor:.4g} + {self.coefficient:.4g} * x^{self.exponent:.4f}  "
                f"(R^2 = {self.r2:.4f}, {self.n_points} points)")


def fit_power_law_with_floor(x, y) -> FloorPowerLawFit:
    """Fit ``y = floor + coefficient * x**exponent`` (floor >= 0, exponent < 0) to decreasing data.

    Least squares on ln y (``scipy.optimize.least_squares``, bounded, from several starting
    floors; the best is kept). Needs at least 4 points: three parameters and one to check
    them. With few decades of x the floor is poorly determined; compare it with a known
    entropy when there is one.
    """
    from scipy.optimize import least_squares

    x, y, lx, ly = _log_pairs(x, y, min_points=4)
    y_min = float(y.min())

    def residuals(p):
        floor, log_c, k = p  # y = floor + exp(log_c) * x**(-k)
        return np.log(floor + np.exp(log_c - k * lx)) - ly

    best = None
    for frac in (0.0, 0.3, 0.6, 0.9):
        floor0 = frac * y_min
        rest = np.maximum(y - floor0, 1e-12 * y_min)
        slope, icpt = np.polyfit(lx, np.log(rest), 1)
        k0 = float(np.clip(-slope, 1e-3, 10.0))
        start = np.array([floor0, icpt, k0])
        sol = least_squares(residuals, start, bounds=([0.0, -np.inf, 0.0], [y_min, np.inf, 20.0]), x_scale="jac",
                            xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=5000)
        if best is None or sol.cost < best.cost:
            best = sol
    floor, log_c, k = best.x
    pred = np.log(floor + np.exp(log_c - k * lx))
    return FloorPowerLawFit(float(floor), float(math.exp(log_c)), float(-k), r_squared(ly, pred), len(x))


# ----------------------------------------------------------------------------- Chinchilla fit


def _huber_objective(theta, lnN, lnD, lnL, delta):
    """Mean Huber loss of (log L_pred - log L) divided by delta**2, and its gradient.

    theta = (a, b, e, alpha, beta) with A = exp(a), B = exp(b), E = exp(e);
    log L_pred = logsumexp(a - alpha lnN, b - beta lnD, e). Scaling by 1/delta**2 leaves
    the minimiser unchanged and keeps the objective near 1, so L-BFGS-B's stopping rule
    (a change in f relative to max(|f|, 1)) does not stop it before it converges.
    """
    a, b, e, alpha, beta = theta
    t1 = a - alpha * lnN  # (n,) log of the model-size term A / N**alpha
    t2 = b - beta * lnD  # (n,) log of the data term B / D**beta
    m = np.maximum(np.maximum(t1, t2), e)  # (n,) for a stable logsumexp
    w1, w2, w3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = w1 + w2 + w3
    r = m + np.log(s) - lnL  # (n,) residuals in log space
    psi = np.clip(r, -delta, delta)  # Huber derivative; huber(r) = psi * (r - psi / 2)
    scale = 1.0 / (delta * delta * len(lnN))
    q = psi / s  # psi times d logsumexp / d t_k is q * w_k
    g1, g2, g3 = q * w1, q * w2, q * w3
    grad = np.array([g1.sum(), g2.sum(), g3.sum(), -(g1 @ lnN), -(g2 @ lnD)]) * scale
    return float(psi @ (r - 0.5 * psi)) * scale, grad


def _hoffmann_grid() -> np.ndarray:
    """Hoffmann et al.'s grid of starting points (appendix D.2): (a, b, e, alpha, beta) rows."""
    alphas = np.arange(0.0, 2.01, 0.5)
    es = np.arange(-1.0, 1.01, 0.5)
    abs_ = np.arange(0.0, 25.01, 5.0)
    grid = np.array(np.meshgrid(abs_, abs_, es, alphas, alphas, indexing="ij")).reshape(5, -1).T
    return grid  # (4500, 5)


def _best_starts(starts: np.ndarray, lnN, lnD, lnL, delta: float, n_starts: int) -> np.ndarray:
    """The ``n_starts`` rows of ``starts`` with the lowest Huber objective (evaluated in chunks at once)."""
    values = np.empty(len(starts))
    for lo in range(0, len(starts), 512):
        chunk = starts[lo:lo + 512]  # (k, 5)
        t = np.stack([chunk[:, [0]] - chunk[:, [3]] * lnN, chunk[:, [1]] - chunk[:, [4]] * lnD,
                      np.broadcast_to(chunk[:, [2]], (len(chunk), len(lnN)))])  # (3, k, n)
        r = np.logaddexp.reduce(t, axis=0) - lnL  # (k, n)
        absr = np.abs(r)
        values[lo:lo + 512] = np.where(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta)).sum(axis=1)
    return starts[np.argsort(values, kind="stable")[:n_starts]]


@dataclass(frozen=True)
class ChinchillaFit:
    """What ``fit_chinchilla_details`` found.

    Attributes:
        law: the fitted ``ChinchillaLaw``.
        objective: the Huber objective at the best point (scaled by 1 / delta**2, a mean over runs).
        theta: the best (a, b, e, alpha, beta), with A = exp(a), B = exp(b), E = exp(e).
        n_starts: how many starting points L-BFGS ran from.
        result: scipy's ``OptimizeResult`` of the best run.
    """

    law: ChinchillaLaw
    objective: float
    theta: tuple[float, float, float, float, float]
    n_starts: int
    result: object


def fit_chinchilla_details(N, D, L, *, delta: float = 1e-3, n_starts: int | None = 32, grid=None) -> ChinchillaFit:
    """Fit ``L(N, D) = E + A/N**alpha + B/D**beta`` as Hoffmann et al. (2022) did (approach 3); a ``ChinchillaFit``.

    Minimises the Huber loss (``delta`` = 1e-3) between log L_pred and log L, where
    ``log L_pred = logsumexp(a - alpha log N, b - beta log D, e)`` and ``A = exp(a)``,
    ``B = exp(b)``, ``E = exp(e)``, with ``scipy.optimize.minimize(method="L-BFGS-B")`` and
    an analytic gradient, from a grid of starting points, keeping the best.

    Args:
        N: (n,) parameters of each run (> 0).
        D: (n,) training tokens of each run (> 0).
        L: (n,) final loss of each run in nats per token (> 0).
        delta: the Huber threshold on log-loss residuals.
        n_starts: the objective is evaluated on every point of the grid (Hoffmann et al.'s
            4,500: alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in
            {0, 5, ..., 25}) and L-BFGS runs from the ``n_starts`` best of them; ``None``
            runs it from all 4,500, which takes minutes rather than seconds (about 100 times
            the default's time: 85 s against 0.9 s for 48 runs in one measurement on a 2-core
            machine, longer on a busy one). On clean data both find the same minimum.
        grid: optional (k, 5) array of (a, b, e, alpha, beta) starting points instead.
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    N = check_positive_array(N, "N").ravel()
    D = check_positive_array(D, "D").ravel()
    L = check_positive_array(L, "L").ravel()
    if not len(N) == len(D) == len(L):
        raise ValueError(f"N, D and L must have the same length, got {len(N)}, {len(D)} and {len(L)}.")
    if len(N) < 5:
        raise ValueError(f"fit_chinchilla fits 5 parameters and needs at least 5 runs, got {len(N)}.")
    if np.ptp(np.log(N)) == 0 or np.ptp(np.log(D)) == 0:
        raise ValueError("N and D must each take at least two different values, or the exponents are undetermined.")
    check_positive(delta, "delta")
    starts = _hoffmann_grid() if grid is None else np.asarray(grid, dtype=float)
    if starts.ndim != 2 or starts.shape[1] != 5 or len(starts) == 0:
        raise ValueError("grid must be a (k, 5) array of (a, b, e, alpha, beta) starting points.")
    lnN, lnD, lnL = np.log(N), np.log(D), np.log(L)
    if n_starts is not None and n_starts < len(starts):
        n_starts = check_int(n_starts, "n_starts (or None for every start)", minimum=1)
        starts = _best_starts(starts, lnN, lnD, lnL, delta, n_starts)

    best = None
    # One BLAS thread: L-BFGS-B on 5 parameters gains nothing from more, and on a busy machine
    # their spin-waiting made each iteration about 50 times slower in our measurements.
    with threadpool_limits(limits=1, user_api="blas"):
        for start in starts:
            res = minimize(_huber_objective, start, args=(lnN, lnD, lnL, delta), jac=True, method="L-BFGS-B",
                           options=dict(maxiter=2000, ftol=1e-15, gtol=1e-10, maxcor=20))
            if np.all(np.isfinite(res.x)) and (best is None or res.fun < best.fun):
                best = res
    if best is None:
        raise ValueError("the fit failed from every starting point; check that L is a loss in nats per token.")
    a, b, e, alpha, beta = best.x
    if alpha <= 0 or beta <= 0:
        raise ValueError(
            f"the best fit has a non-positive exponent (alpha={alpha:.3g}, beta={beta:.3g}): the data do not "
            "show loss falling with both N and D. Vary N and D over a wider range."
        )
    law = ChinchillaLaw(E=float(math.exp(e)), A=float(math.exp(a)), B=float(math.exp(b)),
                        alpha=float(alpha), beta=float(beta))
    return ChinchillaFit(law=law, objective=float(best.fun), theta=tuple(float(v) for v in best.x),
                         n_starts=len(starts), result=best)


def fit_chinchilla(N, D, L, *, delta: float = 1e-3, n_starts: int | None = 32, grid=None) -> ChinchillaLaw:
    """The ``ChinchillaLaw`` fitted to runs (N, D, L) by Hoffmann et al.'s approach 3.

    ``fit_chinchilla_details(N, D, L, ...).law``: see there for the procedure and the
    arguments. N in parameters, D in tokens, L in nats per token, each (n,) with n >= 5.
    """
    return fit_chinchilla_details(N, D, L, delta=delta, n_starts=n_starts, grid=grid).law


# ----------------------------------------------------------------------------- the seeds' product form


@dataclass(frozen=True)
class ProductFormFit:
    """A least-squares fit of ln L = ln a + b ln N + c ln D + d ln C on runs with C = 6 N D.

    Attributes:
        N, D, C, L: (n,) the runs: parameters, tokens, FLOPs = 6 N D, loss in nats per token.
        X: (n, 4) the design matrix, columns 1, ln N, ln D, ln C.
        rank: its numerical rank (3, not 4: ln C = ln 6 + ln N + ln D).
        singular_values: (4,) of X; the last is zero up to rounding.
        null_vector: (4,) v with X v = 0, proportional to (ln 6, 1, 1, -1).
        solutions: (k, 4) rows (ln a, b, c, d), all least-squares solutions: the
            minimum-norm one, then the same plus multiples of v chosen to set d = 0 and b = 0.
        predictions: (k, n) ln L predicted by each row of ``solutions``.
        rms_residual: root-mean-square residual of the fit in ln L (the product form has no
            floor, so it cannot fit a Chinchilla-form loss exactly).
    """

    N: np.ndarray
    D: np.ndarray
    C: np.ndarray
    L: np.ndarray
    X: np.ndarray
    rank: int
    singular_values: np.ndarray
    null_vector: np.ndarray
    solutions: np.ndarray
    predictions: np.ndarray
    rms_residual: float

    @property
    def max_prediction_gap(self) -> float:
        """The largest difference in predicted ln L between any two solutions."""
        return float(np.max(np.ptp(self.predictions, axis=0)))


def fit_product_form(N, D, L) -> ProductFormFit:
    """Fit the seeds' ``L = a N^b D^c C^d`` with ``C = 6 N D`` and show that it is unidentifiable.

    The design matrix has a zero singular value because its ln C column is ln 6 times the
    constant column plus the ln N and ln D columns, so every ``theta + t v`` (v the null
    vector) fits equally well. N, D, L: (n,) parameters, tokens, nats per token, n >= 5.
    """
    N, D = check_paired(N, D, "N", "D", min_points=5)
    N, L = check_paired(N, L, "N", "L", min_points=5)
    C = training_flops(N, D)
    X = np.column_stack([np.ones(len(N)), np.log(N), np.log(D), np.log(C)])  # (n, 4)
    y = np.log(L)  # (n,)
    theta, *_ = np.linalg.lstsq(X, y, rcond=None)  # minimum-norm least-squares solution
    s = np.linalg.svd(X, compute_uv=False)
    v = np.array([math.log(6.0), 1.0, 1.0, -1.0])
    v = v / np.linalg.norm(v)  # X @ v = 0 exactly in exact arithmetic
    # theta + t v for any t fits equally well; pick t so that d = 0, then so that b = 0
    t_d0 = theta[3] / v[3]  # theta - t_d0 v has d = 0
    t_b0 = -theta[1] / v[1]  # theta + t_b0 v has b = 0
    solutions = np.stack([theta, theta - t_d0 * v, theta + t_b0 * v])  # (3, 4)
    predictions = solutions @ X.T  # (k, n)
    rms = float(np.sqrt(np.mean((predictions[0] - y) ** 2)))
    return ProductFormFit(N=N, D=D, C=C, L=L, X=X, rank=int(np.linalg.matrix_rank(X)), singular_values=s,
                          null_vector=v, solutions=solutions, predictions=predictions, rms_residual=rms)
