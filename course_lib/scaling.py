"""Scaling laws: published laws, fits, IsoFLOP curves, and a live sweep you run yourself.

Units throughout: loss ``L`` in **nats per token**, model size ``N`` in **non-embedding
parameters** (as Kaplan et al. count it; ``GPT.num_params()``), data ``D`` in **training
tokens**, compute ``C`` in **FLOPs** with the usual estimate ``C = 6 N D`` (forward and
backward pass; Kaplan et al. 2020, section 2.1).

Published laws (the constants are the papers'; their L is on their own data and
tokenizer, so only the *shapes* carry over to a character-level model):

* ``ChinchillaLaw``: ``L(N, D) = E + A / N**alpha + B / D**beta`` (Hoffmann et al. 2022,
  eq. 2), with ``HOFFMANN_2022`` (their approach 3) and ``BESIROGLU_2024`` (the
  replication of that fit by Besiroglu et al. 2024).
* ``KaplanLaw``: ``L(N) = (N_c/N)**alpha_N``, ``L(D) = (D_c/D)**alpha_D``,
  ``L(N, D) = [(N_c/N)**(alpha_N/alpha_D) + D_c/D]**alpha_D`` and the compute-efficient
  frontier ``L(C_min) = (C_c/C_min)**alpha_C`` (Kaplan et al. 2020), with ``KAPLAN_2020``.

Fits, written out so the course can teach them:

* ``fit_power_law(x, y)``: least squares of ln y on ln x.
* ``fit_power_law_with_floor(x, y)``: ``y = floor + coefficient * x**exponent``.
* ``fit_chinchilla(N, D, L)``: Hoffmann et al.'s procedure (Huber loss on log-loss,
  L-BFGS from a grid of starting points).
* ``isoflop_curve`` and ``fit_isoflop_minimum``: IsoFLOP profiles (Hoffmann approach 2).

The live experiment, ``run_sweep`` (also ``python -m course_lib.scaling sweep``), trains
character-level GPTs of several widths on ``course_lib.text.python_docs()``, fits
ln L against ln N on all but the largest, predicts the largest, and writes every run to
JSON as it finishes, so an interrupted sweep resumes where it stopped.

References:
    Kaplan, McCandlish, Henighan, Brown, Chess, Child, Gray, Radford, Wu, Amodei (2020),
    "Scaling Laws for Neural Language Models", arXiv:2001.08361.
    Hoffmann, Borgeaud, Mensch, et al. (2022), "Training Compute-Optimal Large Language
    Models", arXiv:2203.15556 (NeurIPS 2022).
    Besiroglu, Erdil, Barnett, You (2024), "Chinchilla Scaling: A replication attempt",
    arXiv:2404.10102.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import pathlib
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

__all__ = [
    "PF_DAY",
    "ChinchillaLaw",
    "HOFFMANN_2022",
    "BESIROGLU_2024",
    "KaplanLaw",
    "KAPLAN_2020",
    "KAPLAN_2020_JOINT",
    "training_flops",
    "PowerLawFit",
    "fit_power_law",
    "FloorPowerLawFit",
    "fit_power_law_with_floor",
    "fit_chinchilla",
    "isoflop_curve",
    "IsoFLOPFit",
    "fit_isoflop_minimum",
    "SweepConfig",
    "PRESETS",
    "sweep_config",
    "width_lr",
    "run_sweep",
    "load_sweep",
    "main",
]

PF_DAY = 1e15 * 24 * 3600  # FLOPs in one petaflop/s-day: 8.64e19 (Kaplan et al.'s compute unit)


# ----------------------------------------------------------------------------- input checks


def _positive_array(value, name: str, allow_empty: bool = False) -> np.ndarray:
    """``value`` as a float array; ValueError unless every entry is finite and > 0."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {type(value).__name__}.") from None
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty; give at least one value.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or infinity); got {arr.ravel()[~np.isfinite(arr.ravel())][:3]}.")
    if np.any(arr <= 0):
        bad = arr.ravel()[arr.ravel() <= 0][:3]
        raise ValueError(
            f"{name} must be positive (a count of parameters, tokens or FLOPs, or a loss in nats); "
            f"got {bad.tolist()}. Check the units and pass positive values."
        )
    return arr


def _paired(x, y, xname: str, yname: str, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    x = _positive_array(x, xname)
    y = _positive_array(y, yname)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{xname} and {yname} must be 1-D sequences, got shapes {x.shape} and {y.shape}.")
    if len(x) != len(y):
        raise ValueError(f"{xname} and {yname} must have the same length, got {len(x)} and {len(y)}.")
    if len(x) < min_points:
        raise ValueError(f"need at least {min_points} points to fit, got {len(x)}; measure more sizes.")
    return x, y


def training_flops(N, D):
    """Training compute ``C = 6 N D`` in FLOPs for N non-embedding parameters and D tokens.

    2 N FLOPs per token for the forward pass (a multiply and an add per weight) and 4 N
    for the backward pass (Kaplan et al. 2020, section 2.1; attention's context-dependent
    term is left out, as in the papers' C = 6ND).
    """
    return 6.0 * _positive_array(N, "N") * _positive_array(D, "D")


# ----------------------------------------------------------------------------- Chinchilla


@dataclass(frozen=True)
class ChinchillaLaw:
    """``L(N, D) = E + A / N**alpha + B / D**beta`` in nats per token (Hoffmann et al. 2022, eq. 2).

    Attributes:
        E: the irreducible loss (nats per token), the entropy of the text that no model
            removes.
        A, alpha: the loss a model of N parameters adds, ``A / N**alpha`` (N counts
            parameters; Hoffmann et al. count all of them, Kaplan et al. only the
            non-embedding ones: a source of the two papers' disagreement).
        B, beta: the loss of training on only D tokens, ``B / D**beta``.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def __post_init__(self):
        for name in ("E", "A", "B", "alpha", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise ValueError(f"ChinchillaLaw.{name} must be a number, got {value!r}.")
            if not math.isfinite(value) or (value < 0 if name == "E" else value <= 0):
                bound = ">= 0" if name == "E" else "> 0"
                raise ValueError(f"ChinchillaLaw.{name} must be finite and {bound}, got {value}.")

    def loss(self, N, D):
        """Predicted loss in nats per token for N parameters trained on D tokens (numpy broadcasting)."""
        N = _positive_array(N, "N")
        D = _positive_array(D, "D")
        out = self.E + self.A / N**self.alpha + self.B / D**self.beta
        return float(out) if out.ndim == 0 else out

    @property
    def G(self) -> float:
        """``(alpha A / (beta B)) ** (1 / (alpha + beta))``, the constant in the compute-optimal N."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    @property
    def a(self) -> float:
        """The exponent of the compute-optimal N: ``N_opt ∝ C**a``, ``a = beta / (alpha + beta)``."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """The exponent of the compute-optimal D: ``D_opt ∝ C**b``, ``b = alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)

    def compute_optimal(self, C):
        """The (N_opt, D_opt) that minimise ``loss`` for a budget of C FLOPs with C = 6 N D.

        Closed form (Hoffmann et al. 2022, eq. 4): ``N_opt = G (C/6)**a`` and
        ``D_opt = G**-1 (C/6)**b`` with ``G = (alpha A / (beta B))**(1/(alpha+beta))``,
        ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``; ``D_opt = C / (6 N_opt)``.
        Returns floats for a scalar C, arrays for an array of budgets (parameters, tokens).
        """
        C = _compute_budget(C)
        n_opt = self.G * (C / 6.0) ** self.a
        d_opt = C / (6.0 * n_opt)
        if n_opt.ndim == 0:
            return float(n_opt), float(d_opt)
        return n_opt, d_opt

    def tokens_per_parameter(self, C):
        """D_opt / N_opt at a budget of C FLOPs (about 20 in Hoffmann et al.'s approach 1)."""
        n_opt, d_opt = self.compute_optimal(C)
        return d_opt / n_opt

    def optimal_loss(self, C):
        """The lowest loss (nats per token) reachable with C FLOPs: ``loss(*compute_optimal(C))``."""
        return self.loss(*self.compute_optimal(C))


def _compute_budget(C) -> np.ndarray:
    try:
        C = np.asarray(C, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"C must be a number of FLOPs (or an array of them), got {type(C).__name__}.") from None
    if C.size == 0:
        raise ValueError("C is empty; give at least one compute budget in FLOPs.")
    if not np.all(np.isfinite(C)) or np.any(C <= 0):
        raise ValueError(f"the compute budget C must be positive and finite, in FLOPs (e.g. 1e21); got {C.ravel()[:3].tolist()}.")
    return C


HOFFMANN_2022 = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
"""Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models", approach 3
(section 3.3, eq. 10): the parametric fit to their ~400 runs, loss in nats per token on
MassiveText with a 32k SentencePiece tokenizer, N counting all parameters.

These rounded constants imply far more tokens per parameter than the paper's headline
"about 20" (which comes from approaches 1 and 2): about 90 at 5.76e23 FLOPs (N_opt about
32B parameters instead of approach 1's 67B). Besiroglu et al. (2024) traced this to the
fit itself; see ``BESIROGLU_2024``."""

BESIROGLU_2024 = ChinchillaLaw(E=1.82, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
"""Besiroglu, Erdil, Barnett, You (2024), "Chinchilla Scaling: A replication attempt"
(arXiv:2404.10102): Hoffmann et al.'s approach-3 fit redone on data read off their
figure 4, with the optimiser run to convergence. About 20 tokens per parameter near
1e23-1e24 FLOPs, consistent with Hoffmann et al.'s approaches 1 and 2."""


# ----------------------------------------------------------------------------- Kaplan


@dataclass(frozen=True)
class KaplanLaw:
    """Kaplan et al. (2020) power laws; loss in nats per token on WebText2 with GPT-2's BPE.

    ``N`` is **non-embedding** parameters, ``D`` tokens. Compute arguments are in FLOPs and
    converted to Kaplan et al.'s unit, the PF-day (``PF_DAY`` = 8.64e19 FLOPs), inside.

    Attributes:
        alpha_N, N_c: ``L(N) = (N_c / N)**alpha_N`` for models trained to convergence on
            enough data (eq. 1.1), N_c in non-embedding parameters.
        alpha_D, D_c: ``L(D) = (D_c / D)**alpha_D`` for large models with early stopping
            (eq. 1.2), D_c in tokens.
        alpha_C, C_c: ``L(C_min) = (C_c / C_min)**alpha_C`` on the compute-efficient frontier
            (eq. 1.3), C_c in PF-days.
        n_opt_coefficient, n_opt_exponent: the compute-efficient model size
            ``N_opt = n_opt_coefficient * (C_min / PF-day)**n_opt_exponent`` (figure 14 and
            eq. 1.7: N ∝ C_min**0.73, about 1.3e9 parameters at 1 PF-day).
    """

    alpha_N: float
    N_c: float
    alpha_D: float
    D_c: float
    alpha_C: float
    C_c: float
    n_opt_coefficient: float = 1.3e9
    n_opt_exponent: float = 0.73

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"KaplanLaw.{f.name} must be a positive finite number, got {value!r}.")

    def loss_N(self, N):
        """``(N_c / N)**alpha_N``: nats per token of a converged model of N non-embedding parameters."""
        out = (self.N_c / _positive_array(N, "N")) ** self.alpha_N
        return float(out) if out.ndim == 0 else out

    def loss_D(self, D):
        """``(D_c / D)**alpha_D``: nats per token of a large model early-stopped on D tokens."""
        out = (self.D_c / _positive_array(D, "D")) ** self.alpha_D
        return float(out) if out.ndim == 0 else out

    def loss(self, N, D):
        """``[(N_c/N)**(alpha_N/alpha_D) + D_c/D]**alpha_D`` (eq. 1.5), nats per token."""
        N = _positive_array(N, "N")
        D = _positive_array(D, "D")
        out = ((self.N_c / N) ** (self.alpha_N / self.alpha_D) + self.D_c / D) ** self.alpha_D
        return float(out) if out.ndim == 0 else out

    def loss_compute(self, C):
        """``(C_c / C_min)**alpha_C`` with C in FLOPs (converted to PF-days): the compute frontier."""
        C = _compute_budget(C) / PF_DAY
        out = (self.C_c / C) ** self.alpha_C
        return float(out) if out.ndim == 0 else out

    def compute_optimal(self, C):
        """Kaplan et al.'s allocation of C FLOPs: ``N_opt = 1.3e9 (C/PF-day)**0.73``, ``D = C / (6 N_opt)``.

        Returns (non-embedding parameters, tokens). Most extra compute goes into the
        model (N ∝ C**0.73, D ∝ C**0.27), unlike Chinchilla's N ∝ D ∝ C**0.5.
        """
        C = _compute_budget(C)
        n_opt = self.n_opt_coefficient * (C / PF_DAY) ** self.n_opt_exponent
        d_opt = C / (6.0 * n_opt)
        if n_opt.ndim == 0:
            return float(n_opt), float(d_opt)
        return n_opt, d_opt

    def tokens_per_parameter(self, C):
        """D_opt / N_opt under Kaplan's allocation at C FLOPs (well below 1 at GPT-3 scale)."""
        n_opt, d_opt = self.compute_optimal(C)
        return d_opt / n_opt


KAPLAN_2020 = KaplanLaw(alpha_N=0.076, N_c=8.8e13, alpha_D=0.095, D_c=5.4e13, alpha_C=0.050, C_c=3.1e8)
"""Kaplan et al. (2020), "Scaling Laws for Neural Language Models", eqs. 1.1-1.3 and
figure 14: alpha_N = 0.076, N_c = 8.8e13 non-embedding parameters; alpha_D = 0.095,
D_c = 5.4e13 tokens; alpha_C^min = 0.050, C_c^min = 3.1e8 PF-days; N_opt = 1.3e9
(C_min / PF-day)**0.73. ``loss(N, D)`` here combines the one-variable constants (it then
reduces to L(N) and L(D) in the limits); the paper's joint fit is ``KAPLAN_2020_JOINT``."""

KAPLAN_2020_JOINT = KaplanLaw(alpha_N=0.076, N_c=6.4e13, alpha_D=0.103, D_c=1.8e13, alpha_C=0.050, C_c=3.1e8)
"""Kaplan et al. (2020), table 2: the joint fit of eq. 1.5, ``L(N, D)``, with alpha_N = 0.076,
alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13 (compute constants as in ``KAPLAN_2020``)."""


# ----------------------------------------------------------------------------- power-law fits


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
        out = self.coefficient * _positive_array(x, "x") ** self.exponent
        return float(out) if out.ndim == 0 else out

    def __str__(self) -> str:
        return f"y = {self.coefficient:.4g} * x^{self.exponent:.4f}  (R^2 = {self.r2:.4f}, {self.n_points} points)"


def _r2(observed: np.ndarray, predicted: np.ndarray) -> float:
    ss_res = float(np.sum((observed - predicted) ** 2))
    ss_tot = float(np.sum((observed - observed.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def fit_power_law(x, y) -> PowerLawFit:
    """Fit ``y = coefficient * x**exponent`` by least squares of ln y on ln x.

    Args:
        x: positive values, e.g. non-embedding parameters N.
        y: positive values of the same length, e.g. validation loss in nats per token.

    Returns:
        A ``PowerLawFit`` with ``exponent``, ``coefficient``, ``r2`` (in log space) and
        ``predict(x)``.
    """
    x, y = _paired(x, y, "x", "y", min_points=2)
    lx, ly = np.log(x), np.log(y)
    if np.ptp(lx) == 0:
        raise ValueError("all x values are equal: a power law needs at least two different x values.")
    slope, intercept = np.polyfit(lx, ly, 1)
    return PowerLawFit(float(slope), float(math.exp(intercept)), _r2(ly, slope * lx + intercept), len(x))


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
        out = self.floor + self.coefficient * _positive_array(x, "x") ** self.exponent
        return float(out) if out.ndim == 0 else out

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

    x, y = _paired(x, y, "x", "y", min_points=4)
    lx, ly = np.log(x), np.log(y)
    if np.ptp(lx) == 0:
        raise ValueError("all x values are equal: a power law needs different x values.")
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
    return FloorPowerLawFit(float(floor), float(math.exp(log_c)), float(-k), _r2(ly, pred), len(x))


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


class _OneBlasThread:
    """Run a block with one BLAS thread (OpenBLAS), then restore the previous count.

    L-BFGS-B on 5 parameters gains nothing from BLAS threads, and on a busy machine their
    spin-waiting made each iteration about 50 times slower in our measurements. Uses
    ``threadpoolctl`` when it is installed; otherwise, on Linux, OpenBLAS's own
    ``*_set_num_threads`` found among the loaded libraries; otherwise it does nothing.
    """

    def __enter__(self):
        self._restore = []
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            threadpool_limits = None
        if threadpool_limits is not None:
            self._limits = threadpool_limits(limits=1, user_api="blas")
            return self
        self._limits = None
        try:
            import ctypes

            with open("/proc/self/maps") as maps:  # the shared libraries this process has loaded
                paths = {line.split()[-1] for line in maps if "openblas" in line.split()[-1].lower()}
            for path in sorted(paths):
                lib = ctypes.CDLL(path)
                for get_name, set_name in (("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
                                           ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                                           ("openblas_get_num_threads", "openblas_set_num_threads")):
                    get, set_ = getattr(lib, get_name, None), getattr(lib, set_name, None)
                    if get is not None and set_ is not None:
                        n = get()
                        set_(1)
                        self._restore.append((set_, n))
                        break
        except (OSError, AttributeError, ValueError):
            pass  # not Linux, or not OpenBLAS: run as is
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()
        for set_, n in self._restore:
            set_(n)
        return False


def _hoffmann_grid() -> np.ndarray:
    """Hoffmann et al.'s grid of starting points (appendix D.2): (a, b, e, alpha, beta) rows."""
    alphas = np.arange(0.0, 2.01, 0.5)
    es = np.arange(-1.0, 1.01, 0.5)
    abs_ = np.arange(0.0, 25.01, 5.0)
    grid = np.array(np.meshgrid(abs_, abs_, es, alphas, alphas, indexing="ij")).reshape(5, -1).T
    return grid  # (4500, 5)


def fit_chinchilla(N, D, L, *, delta: float = 1e-3, n_starts: int | None = 32, grid=None,
                   return_details: bool = False):
    """Fit ``L(N, D) = E + A/N**alpha + B/D**beta`` as Hoffmann et al. (2022) did (approach 3).

    Minimises the Huber loss (``delta`` = 1e-3) between log L_pred and log L, where
    ``log L_pred = logsumexp(a - alpha log N, b - beta log D, e)`` and ``A = exp(a)``,
    ``B = exp(b)``, ``E = exp(e)``, with ``scipy.optimize.minimize(method="L-BFGS-B")`` and
    an analytic gradient, from a grid of starting points, keeping the best.

    Args:
        N: parameters of each run (> 0).
        D: training tokens of each run (> 0).
        L: final loss of each run in nats per token (> 0).
        delta: the Huber threshold on log-loss residuals.
        n_starts: the objective is evaluated on every point of the grid (Hoffmann et al.'s
            4,500: alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in
            {0, 5, ..., 25}) and L-BFGS runs from the ``n_starts`` best of them; ``None``
            runs it from all of them (slower, about a minute, same answer on clean data).
        grid: optional (k, 5) array of (a, b, e, alpha, beta) starting points instead.
        return_details: also return a dict with the objective and the optimiser result.

    Returns:
        A ``ChinchillaLaw`` (and the details dict if asked).
    """
    from scipy.optimize import minimize

    N = _positive_array(N, "N").ravel()
    D = _positive_array(D, "D").ravel()
    L = _positive_array(L, "L").ravel()
    if not len(N) == len(D) == len(L):
        raise ValueError(f"N, D and L must have the same length, got {len(N)}, {len(D)} and {len(L)}.")
    if len(N) < 5:
        raise ValueError(f"fit_chinchilla fits 5 parameters and needs at least 5 runs, got {len(N)}.")
    if np.ptp(np.log(N)) == 0 or np.ptp(np.log(D)) == 0:
        raise ValueError("N and D must each take at least two different values, or the exponents are undetermined.")
    if not (isinstance(delta, (int, float)) and delta > 0):
        raise ValueError(f"delta must be a positive number, got {delta!r}.")
    starts = _hoffmann_grid() if grid is None else np.asarray(grid, dtype=float)
    if starts.ndim != 2 or starts.shape[1] != 5 or len(starts) == 0:
        raise ValueError("grid must be a (k, 5) array of (a, b, e, alpha, beta) starting points.")
    lnN, lnD, lnL = np.log(N), np.log(D), np.log(L)

    # Evaluate the objective on the whole grid at once (cheap), then refine the best starts.
    if n_starts is not None and n_starts < len(starts):
        if isinstance(n_starts, bool) or not isinstance(n_starts, int) or n_starts < 1:
            raise ValueError(f"n_starts must be a positive int or None, got {n_starts!r}.")
        values = np.empty(len(starts))
        for lo in range(0, len(starts), 512):
            chunk = starts[lo:lo + 512]  # (k, 5)
            t = np.stack([chunk[:, [0]] - chunk[:, [3]] * lnN, chunk[:, [1]] - chunk[:, [4]] * lnD,
                          np.broadcast_to(chunk[:, [2]], (len(chunk), len(lnN)))])  # (3, k, n)
            r = np.logaddexp.reduce(t, axis=0) - lnL  # (k, n)
            absr = np.abs(r)
            values[lo:lo + 512] = np.where(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta)).sum(axis=1)
        starts = starts[np.argsort(values, kind="stable")[:n_starts]]

    best = None
    with _OneBlasThread():
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
    if return_details:
        return law, {"objective": float(best.fun), "theta": best.x.tolist(), "n_starts": len(starts),
                     "result": best}
    return law


# ----------------------------------------------------------------------------- IsoFLOP


def isoflop_curve(law, C, N):
    """The IsoFLOP profile of ``law`` at a budget of C FLOPs: for each N, D = C / (6 N) and L(N, D).

    Args:
        law: anything with ``loss(N, D)`` (a ``ChinchillaLaw`` or ``KaplanLaw``).
        C: one compute budget in FLOPs.
        N: parameter counts to evaluate (array).

    Returns:
        (D, L): tokens for each N, and the predicted loss in nats per token.
    """
    C = _compute_budget(C)
    if C.ndim != 0 and C.size != 1:
        raise ValueError("isoflop_curve takes one budget C; loop over budgets for several curves.")
    N = _positive_array(N, "N")
    D = float(C) / (6.0 * N)
    return D, law.loss(N, D)


@dataclass(frozen=True)
class IsoFLOPFit:
    """A parabola in ln N through IsoFLOP measurements: ``L = c2 (ln N)**2 + c1 ln N + c0``.

    ``N_opt = exp(-c1 / (2 c2))`` is the loss-minimising size (parameters) at that budget and
    ``loss_min`` the parabola's minimum (nats per token); ``inside`` says whether N_opt lies
    within the measured range (outside it, the minimum is an extrapolation).
    """

    N_opt: float
    loss_min: float
    coefficients: tuple[float, float, float]
    r2: float
    inside: bool

    def predict(self, N):
        """The parabola's loss (nats per token) at N parameters."""
        lx = np.log(_positive_array(N, "N"))
        c2, c1, c0 = self.coefficients
        out = c2 * lx**2 + c1 * lx + c0
        return float(out) if out.ndim == 0 else out


def fit_isoflop_minimum(N, L) -> IsoFLOPFit:
    """Fit a parabola in ln N to (N, loss) points measured at one compute budget; return its minimum.

    This is Hoffmann et al.'s approach 2: for each budget, the size with the lowest loss.
    Needs at least 3 points and a U shape (positive curvature); otherwise a ValueError
    says to widen the range of N.
    """
    N, L = _paired(N, L, "N", "L", min_points=3)
    lx = np.log(N)
    if len(np.unique(lx)) < 3:
        raise ValueError("need at least 3 different N to fit a parabola.")
    c2, c1, c0 = np.polyfit(lx, L, 2)
    if c2 <= 0:
        raise ValueError(
            "these points do not form a U (the fitted parabola opens downwards), so there is no minimum. "
            "Add sizes on both sides of the best one."
        )
    x_opt = -c1 / (2 * c2)
    return IsoFLOPFit(
        N_opt=float(math.exp(x_opt)),
        loss_min=float(c0 - c1 * c1 / (4 * c2)),
        coefficients=(float(c2), float(c1), float(c0)),
        r2=_r2(L, c2 * lx**2 + c1 * lx + c0),
        inside=bool(lx.min() <= x_opt <= lx.max()),
    )


# ----------------------------------------------------------------------------- the live sweep


@dataclass(frozen=True)
class SweepConfig:
    """Everything that defines a live scaling sweep (two sweeps with equal configs are the same experiment).

    Attributes:
        widths: d_model of each model; all models have ``n_layer`` layers.
        n_layer: fixed depth.
        head_dim: target width of one attention head; ``n_head(width)`` heads per layer.
        context_length: T, characters per training window.
        batch_size: B, windows per optimizer step.
        tokens: D, training tokens (characters) per model, the same for every width;
            ``steps = tokens // (batch_size * context_length)``.
        lr: peak learning rate at ``lr_base_width``.
        lr_base_width: the width at which the peak learning rate is ``lr``.
        lr_rule: ``"inverse_width"``: lr = lr * lr_base_width / width, the muP-style
            heuristic that Adam's best learning rate for hidden matrices falls as 1/width
            (Yang et al. 2022); ``"constant"``: the same ``lr`` for every width
            (``--single-lr``).
        warmup_fraction: fraction of steps of linear warmup; then cosine decay to lr/10.
        weight_decay: AdamW weight decay on matrices.
        eval_tokens: validation tokens for the final loss: random windows of the held-out
            text, drawn with a fixed seed so every model sees the same ones. 131,072 tokens
            put the standard error near 0.3% (a noisy estimate lowers R^2 on its own).
        val_fraction: the last fraction of the corpus held out for validation.
        max_chars: use only the first characters of the corpus (None: all of it).
        seed: seeds initialisation and batch order.
        device: "cpu", "cuda", "mps" (resolved from "auto" before the sweep starts).
    """

    widths: tuple[int, ...] = (24, 32, 40, 48, 64)
    n_layer: int = 1
    head_dim: int = 16
    context_length: int = 32
    batch_size: int = 16
    tokens: int = 2_000_000
    lr: float = 0.012
    lr_base_width: int = 32
    lr_rule: str = "inverse_width"
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    eval_tokens: int = 131_072
    val_fraction: float = 0.1
    max_chars: int | None = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        widths = tuple(self.widths)
        object.__setattr__(self, "widths", widths)
        if len(widths) < 1 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"widths must be positive ints, got {self.widths!r}.")
        if len(set(widths)) != len(widths):
            raise ValueError(f"widths must be distinct, got {widths}.")
        for name in ("n_layer", "head_dim", "context_length", "batch_size", "tokens", "lr_base_width",
                     "eval_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if self.tokens < self.batch_size * self.context_length:
            raise ValueError(
                f"tokens={self.tokens} is less than one step (batch_size * context_length = "
                f"{self.batch_size * self.context_length}); raise tokens."
            )
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}.")
        if self.lr_rule not in ("inverse_width", "constant"):
            raise ValueError(f"lr_rule must be 'inverse_width' or 'constant', got {self.lr_rule!r}.")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}.")
        if self.max_chars is not None and (not isinstance(self.max_chars, int) or self.max_chars < 10_000):
            raise ValueError(f"max_chars must be None or an int >= 10000, got {self.max_chars!r}.")

    @property
    def steps(self) -> int:
        """Optimizer steps per model: tokens // (batch_size * context_length)."""
        return self.tokens // (self.batch_size * self.context_length)

    def n_head(self, width: int) -> int:
        """Attention heads for a model of this width: the most heads, at most ``width // head_dim``,
        that divide ``width`` (at least 1)."""
        h = max(1, width // self.head_dim)
        while width % h:
            h -= 1
        return h

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d


PRESETS = {
    # The chapter's live experiment: at most about 2 minutes on 2 CPU cores.
    "default": SweepConfig(),
    # A few seconds: for tests and for checking that the command works.
    "tiny": SweepConfig(widths=(8, 12, 16), n_layer=1, context_length=32, batch_size=8, tokens=8 * 32 * 40,
                        eval_tokens=4096, lr=1e-2, lr_base_width=8, max_chars=200_000),
    # More sizes, deeper models and a longer context, for a GPU or a patient CPU (tens of
    # minutes on 2 cores). D/N >= 20 for width 96 at 2 layers needs 4.5M characters, about
    # two passes over python_docs() (repeated data; Muennighoff et al. 2023).
    "large": SweepConfig(widths=(8, 12, 16, 24, 32, 48, 64, 96), n_layer=2, head_dim=16, context_length=128,
                         batch_size=32, tokens=4_500_000, lr=2e-3, lr_base_width=64, eval_tokens=262_144),
}


def sweep_config(preset: str = "default", **overrides) -> SweepConfig:
    """A preset's ``SweepConfig`` (``"default"``, ``"tiny"`` or ``"large"``) with fields overridden."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(overrides) - {f.name for f in fields(SweepConfig)}
    if unknown:
        raise ValueError(f"unknown sweep settings {sorted(unknown)}; valid ones are {[f.name for f in fields(SweepConfig)]}.")
    if "widths" in overrides:
        overrides["widths"] = tuple(overrides["widths"])
    return replace(PRESETS[preset], **overrides)


def width_lr(config: SweepConfig, width: int) -> float:
    """Peak learning rate for a model of this width under ``config.lr_rule``.

    ``"inverse_width"``: ``lr * lr_base_width / width`` (a wider model takes smaller steps,
    as muP prescribes for Adam on hidden matrices); ``"constant"``: ``lr`` for every width.
    """
    if config.lr_rule == "constant":
        return config.lr
    return config.lr * config.lr_base_width / width


def _resume_key(config_dict: dict) -> dict:
    """The parts of a config that must match for finished runs to be reused (all but the widths)."""
    return {k: v for k, v in config_dict.items() if k != "widths"}


def _machine() -> dict:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def load_sweep(path) -> dict:
    """Read a sweep's JSON (as written by ``run_sweep``); ValueError if it is not one."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ValueError(f"no sweep results at {path}; run `python -m course_lib.scaling sweep --out {path}` first.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it or pass --fresh to overwrite it.") from None
    if not isinstance(data, dict) or "runs" not in data or "config" not in data:
        raise ValueError(f"{path} is not a scaling-sweep result (no 'runs' and 'config'); choose another --out or pass --fresh.")
    return data


def _write_json(path: pathlib.Path, data: dict) -> None:
    """Write atomically: a crash mid-write never leaves a truncated results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _summarise(runs: list[dict]) -> dict:
    """Fit ln L against ln N on all but the largest model and predict the largest."""
    out = {"exponent": None, "coefficient": None, "r2": None, "holdout_rel_error": None,
           "predicted_largest_loss": None, "fit_all": None}
    if len(runs) < 3:
        return out
    runs = sorted(runs, key=lambda r: r["N"])
    N = np.array([r["N"] for r in runs], dtype=float)
    L = np.array([r["val_loss"] for r in runs], dtype=float)
    fit = fit_power_law(N[:-1], L[:-1])
    pred = fit.predict(N[-1])
    fit_all = fit_power_law(N, L)
    out.update(exponent=fit.exponent, coefficient=fit.coefficient, r2=fit.r2,
               predicted_largest_loss=pred, holdout_rel_error=abs(pred - L[-1]) / L[-1],
               fit_all={"exponent": fit_all.exponent, "coefficient": fit_all.coefficient, "r2": fit_all.r2})
    return out


def _load_data(config: SweepConfig):
    """(train ids, val ids, vocab_size) for the character-level python_docs corpus."""
    from .text import python_docs
    from .tokenizer import CharTokenizer, encode_to_tensor

    text = python_docs(config.max_chars).text
    tok = CharTokenizer(text)  # the vocabulary of the whole text, so validation never has unknown characters
    ids = encode_to_tensor(tok, text)
    n_val = int(len(ids) * config.val_fraction)
    if n_val <= config.context_length or len(ids) - n_val <= config.context_length:
        raise ValueError(f"the corpus is too short for context_length={config.context_length}; raise max_chars.")
    return ids[: len(ids) - n_val], ids[len(ids) - n_val:], tok.vocab_size


def _train_one(config: SweepConfig, width: int, data, progress: bool) -> dict:
    import torch

    from .model import GPT, GPTConfig
    from .train import estimate_loss, train

    train_ids, val_ids, vocab_size = data
    torch.manual_seed(config.seed)
    model = GPT(GPTConfig(vocab_size=vocab_size, context_length=config.context_length, n_layer=config.n_layer,
                          n_head=config.n_head(width), d_model=width))
    lr = width_lr(config, width)
    steps = config.steps
    start, cpu_start = time.perf_counter(), time.process_time()
    history = train(model, train_ids, None, steps=steps, batch_size=config.batch_size, lr=lr,
                    warmup_steps=max(1, int(config.warmup_fraction * steps)), weight_decay=config.weight_decay,
                    eval_every=steps, seed=config.seed, device=config.device, progress=progress,
                    desc=f"width {width}")  # no validation during training: one careful evaluation at the end
    if history.interrupted:
        raise KeyboardInterrupt
    eval_batch = 64
    val_loss = estimate_loss(model, val_ids, eval_batch, config.context_length,
                             n_batches=max(1, config.eval_tokens // (eval_batch * config.context_length)))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    n = model.num_params(non_embedding=True)
    d = steps * config.batch_size * config.context_length
    return {
        "width": width,
        "n_layer": config.n_layer,
        "n_head": config.n_head(width),
        "N": n,
        "N_total": model.num_params(non_embedding=False),
        "D": d,
        "tokens_per_param": d / n,
        "flops": 6.0 * n * d,
        "steps": steps,
        "lr": lr,
        "train_loss_mean": history.train_loss[-1],  # mean over all steps (one record at the end)
        "val_loss": val_loss,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "threads": torch.get_num_threads(),
        "device": str(next(model.parameters()).device),
        "finished": _now(),
    }


def run_sweep(config: SweepConfig | None = None, out=None, *, resume: bool = True, progress: bool = True,
              threads: int | None = 1, command: str | None = None, on_run_end=None) -> dict:
    """Train one model per width, measure validation loss, fit the scaling law; return the results.

    Each model is a character-level GPT (``course_lib.model``) of ``config.n_layer`` layers,
    trained on ``config.tokens`` characters of ``python_docs()`` with ``course_lib.train``
    and evaluated on the held-out last ``val_fraction`` of the text. ln L is fitted against
    ln N on all but the largest model (``exponent``, ``coefficient``, ``r2``), which is then
    predicted: ``holdout_rel_error = |predicted - measured| / measured``.

    Args:
        config: a ``SweepConfig`` (default: ``PRESETS["default"]``).
        out: path of the JSON file, rewritten after every finished run. If it already holds
            runs of the same configuration (widths aside) and ``resume`` is true, those runs
            are kept and not trained again; a file with a different configuration raises
            ValueError unless ``resume=False`` (start over and overwrite).
        progress: show a ``tqdm.auto`` bar over the runs and one per run.
        threads: torch CPU threads during the sweep (restored afterwards); None keeps torch's
            setting. The default is 1: these models are too small for two threads to help
            much, and on a busy 2-core machine two threads that wait for each other were
            measured 10-30 times slower than one (about 1k against 33k tokens/s).
        command: the command line to record (the CLI fills it in).
        on_run_end: optional callable ``f(run_dict)`` called after each run is saved.

    Returns:
        The dict written to ``out``: ``runs`` (sorted by N; each with width, n_layer, N, D,
        lr, val_loss in nats per token, seconds, ...), the fit (``exponent``, ``r2``,
        ``holdout_rel_error``, ...), ``seconds`` (training seconds summed over runs),
        ``cpu_seconds`` (CPU time of this process, a better measure than wall time on a
        shared machine), ``command``, ``config``, ``machine`` and ``date``. An interrupted sweep (Ctrl-C) has
        saved every finished run and re-raises KeyboardInterrupt.
    """
    from tqdm.auto import tqdm

    from .device import pick_device

    import torch

    config = PRESETS["default"] if config is None else config
    if not isinstance(config, SweepConfig):
        raise ValueError(f"config must be a SweepConfig (see sweep_config()), got {type(config).__name__}.")
    config = replace(config, device=pick_device(config.device).type)
    cfg = config.to_dict()
    path = pathlib.Path(out) if out is not None else None

    done: dict[int, dict] = {}
    if path is not None and path.exists() and resume:
        old = load_sweep(path)
        if _resume_key(old["config"]) != _resume_key(cfg):
            diff = sorted(k for k in set(old["config"]) | set(cfg)
                          if k != "widths" and old["config"].get(k) != cfg.get(k))
            raise ValueError(
                f"{path} holds a sweep with a different configuration (differs in {diff}). "
                "Pass --fresh (resume=False) to overwrite it, or choose another --out."
            )
        done = {r["width"]: r for r in old["runs"] if r["width"] in config.widths}

    started = time.perf_counter()
    result = {
        "command": command or "course_lib.scaling.run_sweep",
        "config": cfg,
        "machine": _machine(),
        "date": _now(),
        "units": {"N": "non-embedding parameters", "D": "training tokens (characters)", "val_loss": "nats per token",
                  "flops": "FLOPs, 6 N D", "seconds": "wall-clock seconds on this machine"},
        "complete": False,
        "runs": sorted(done.values(), key=lambda r: r["N"]),
        "resumed_runs": len(done),
        "trained_runs": 0,
    }

    def save():
        result["runs"] = sorted(result["runs"], key=lambda r: r["N"])
        result["complete"] = len(result["runs"]) == len(config.widths)
        result.update(_summarise(result["runs"]) if result["complete"] else _summarise([]))
        result["min_tokens_per_param"] = min((r["tokens_per_param"] for r in result["runs"]), default=None)
        result["seconds"] = sum(r["seconds"] for r in result["runs"])
        result["cpu_seconds"] = sum(r.get("cpu_seconds", 0.0) for r in result["runs"])
        result["wall_seconds"] = time.perf_counter() - started
        result["date"] = _now()
        if path is not None:
            _write_json(path, result)

    todo = [w for w in config.widths if w not in done]
    data = None
    old_threads = torch.get_num_threads()
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int or None, got {threads!r}.")
        torch.set_num_threads(threads)
    result["machine"]["threads"] = torch.get_num_threads()
    bar = tqdm(total=len(config.widths), initial=len(done), desc="scaling sweep", unit="run", disable=not progress)
    try:
        for width in todo:
            if data is None:
                data = _load_data(config)  # only when something needs training
            run = _train_one(config, width, data, progress)
            result["runs"].append(run)
            result["trained_runs"] += 1
            save()
            bar.update(1)
            bar.set_postfix(width=width, val_loss=f"{run['val_loss']:.3f}")
            if on_run_end is not None:
                on_run_end(run)
    finally:
        bar.close()
        torch.set_num_threads(old_threads)
    save()
    return result


# ----------------------------------------------------------------------------- command line


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 16,24,32, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one width")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib.scaling",
                                     description="Scaling-law experiments for the course.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sweep", help="train one model per width, fit ln L against ln N, write JSON",
                       description="Train character-level GPTs of several widths on python_docs(), fit ln L "
                                   "against ln N on all but the largest, predict the largest. Finished runs are "
                                   "saved after each one; rerun the same command to resume.")
    s.add_argument("--preset", default="default", help=f"one of {sorted(PRESETS)} (default: default)")
    s.add_argument("--out", default=None, help="JSON file to write (default: results_scaling_<preset>.json)")
    s.add_argument("--widths", type=_int_list, default=None, help="comma-separated d_model values, e.g. 24,32,40,48,64")
    s.add_argument("--tokens", type=int, default=None, help="training tokens (characters) per model")
    s.add_argument("--n-layer", type=int, default=None, help="depth of every model")
    s.add_argument("--lr", type=float, default=None, help="peak learning rate at --lr-base-width")
    s.add_argument("--lr-base-width", type=int, default=None, help="width at which the peak lr is --lr")
    s.add_argument("--single-lr", action="store_true", help="use --lr for every width instead of lr ∝ 1/width")
    s.add_argument("--batch-size", type=int, default=None)
    s.add_argument("--context-length", type=int, default=None)
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    s.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1; 0 keeps torch's own choice)")
    group = s.add_mutually_exclusive_group()
    group.add_argument("--resume", dest="resume", action="store_true", default=True,
                       help="keep finished runs found in --out (the default)")
    group.add_argument("--fresh", dest="resume", action="store_false", help="ignore and overwrite --out")
    s.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.scaling sweep [options]``; returns the exit status."""
    args = _parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    try:
        config = sweep_config(
            args.preset, widths=args.widths, tokens=args.tokens, n_layer=args.n_layer, lr=args.lr,
            lr_base_width=args.lr_base_width, batch_size=args.batch_size, context_length=args.context_length,
            seed=args.seed, device=args.device, lr_rule="constant" if args.single_lr else None,
        )
        out = pathlib.Path(args.out or f"results_scaling_{args.preset}.json")
        command = "python -m course_lib.scaling " + " ".join(argv)
        result = run_sweep(config, out, resume=args.resume, progress=not args.no_progress,
                           threads=args.threads or None,
                           command=command)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are saved in {out}; rerun the same command to resume.", file=sys.stderr)
        return 130
    print(f"{result['trained_runs']} runs trained, {result['resumed_runs']} resumed from {out}")
    for r in result["runs"]:
        print(f"  width {r['width']:4d}  N {r['N']:>10,}  D {r['D']:>11,}  D/N {r['tokens_per_param']:7.1f}  "
              f"lr {r['lr']:.2e}  val loss {r['val_loss']:.4f} nats/token  {r['seconds']:6.1f} s")
    if result["complete"]:
        print(f"fit on all but the largest: L = {result['coefficient']:.4g} * N^{result['exponent']:.4f}, "
              f"R^2 = {result['r2']:.4f}")
        print(f"largest model: predicted {result['predicted_largest_loss']:.4f}, measured "
              f"{result['runs'][-1]['val_loss']:.4f}, relative error {100 * result['holdout_rel_error']:.2f}%")
    print(f"training time {result['seconds']:.1f} s wall, {result['cpu_seconds']:.1f} s CPU "
          f"(this invocation {result['wall_seconds']:.1f} s wall); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
