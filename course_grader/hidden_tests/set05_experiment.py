"""Hidden test of set 05's experiment task, ``approach2_exponent`` (its own module: ``set05`` is long enough).

The learner writes two functions: ``isoflop_experiment`` runs an IsoFLOP study of a given
Chinchilla law (simulated training: sizes around the optimum, ``D = C / 6N``, noisy losses),
and ``approach2_exponent`` reports Hoffmann et al.'s approach-2 exponent ``a`` of
``N_opt ∝ C^a``. The test checks the report against what the learner's *own run* must
satisfy, and against grids of its own:

| check | how | tolerance |
|---|---|---|
| the analysis, on the grader's grids | ``approach2_exponent`` on runs the grader simulates (a perturbed law, 3 to 5 budgets, shuffled runs) against the grader's own approach 2 (``course_lib.scaling.fit_isoflop_minimum`` per budget, then ``np.polyfit`` of ln N_opt on ln C) | budgets exact; N_opt rtol 1e-6; a atol 1e-6 |
| the run's design | the learner's ``isoflop_experiment`` with the grader's law, budgets, sizes, spread, noise and seed: every run on its budget; each budget's sizes from N*/spread to N* spread (N* the law's closed form) | 6ND = C rtol 1e-9; sizes rtol 1e-6 |
| the run's noise | with ``noise=0`` the losses are the law's (rtol 1e-9); with noise, the log-residuals against the law have mean within 4 standard errors of 0 and a standard deviation within [0.6, 1.5] x noise | statistical, about 4 sigma |
| the report, on the learner's own run | ``approach2_exponent`` on the runs the learner's experiment returned, against the grader's approach 2 on the same runs | a atol 1e-6 |
| the study is sound | the grader's fit of the learner's run against its fit of the same design without noise (and, without noise, the law's ``beta / (alpha + beta)``) | 0.1 (0.05) |
| bad input | ``ValueError`` for runs at a single budget | |

Inputs are drawn with ``derive_seed``: a teacher's ``--secret`` gives each student another law,
other budgets and other noise.
"""
from __future__ import annotations

import math

import numpy as np

from course_grader.hidden_tests import expect_tuple, number
from course_grader.testkit import TaskFailed, call, expect_raises, graded, learner_function, rng
from course_lib import scaling as ref_scaling
from course_lib.scaling import BESIROGLU_2024, ChinchillaLaw

__all__ = ["test_approach2_exponent", "ref_approach2"]


def ref_approach2(C, N, L) -> tuple[np.ndarray, np.ndarray, float]:
    """The grader's approach 2: (budgets, N_opt per budget, slope a of ln N_opt on ln C)."""
    C, N, L = (np.asarray(v, dtype=float) for v in (C, N, L))
    budgets = np.unique(C)
    n_opt = np.array([ref_scaling.fit_isoflop_minimum(N[C == c], L[C == c]).N_opt for c in budgets])
    a, _ = np.polyfit(np.log(budgets), np.log(n_opt), 1)
    return budgets, n_opt, float(a)


def _law(draw: np.random.Generator) -> ChinchillaLaw:
    """Besiroglu et al.'s law with each constant moved by up to about 10%."""
    b = BESIROGLU_2024
    f = np.exp(draw.uniform(-0.1, 0.1, 5))
    return ChinchillaLaw(E=b.E * f[0], A=b.A * f[1], B=b.B * f[2], alpha=b.alpha * f[3], beta=b.beta * f[4])


def _simulate(law: ChinchillaLaw, budgets, sizes: int, spread: float, noise: float, draw: np.random.Generator):
    C, N = [], []
    for c in budgets:
        n_star, _ = law.compute_optimal(c)
        N += list(n_star * np.geomspace(1 / spread, spread, sizes))
        C += [float(c)] * sizes
    C, N = np.array(C), np.array(N)
    D = C / (6 * N)
    return C, N, D, law.loss(N, D) * np.exp(noise * draw.standard_normal(len(C)))


def _well_posed(C, N, L) -> bool:
    """Whether every budget's points form a U (a parabola in ln N opening upwards)."""
    return all(np.polyfit(np.log(N[C == c]), L[C == c], 2)[0] > 0 for c in np.unique(C))


def _array(got, key: str, n: int, what: str) -> np.ndarray:
    if not isinstance(got, dict) or key not in got:
        raise TaskFailed(f"{what}: expected a dict with the arrays 'C', 'N', 'D' and 'L', got "
                         f"{sorted(got) if isinstance(got, dict) else type(got).__name__}")
    a = np.asarray(got[key], dtype=float) if isinstance(got[key], (list, tuple, np.ndarray)) else None
    if a is None or a.shape != (n,) or not np.all(np.isfinite(a)) or not np.all(a > 0):
        raise TaskFailed(f"{what}: '{key}' should be {n} positive finite numbers, one per run")
    return a


def _check_report(got, C, N, L, what: str) -> float:
    budgets, n_opt, a = expect_tuple(got, ("budgets", "n_opt", "a"), what)
    ref_b, ref_n, ref_a = ref_approach2(C, N, L)
    budgets, n_opt = np.asarray(budgets, dtype=float), np.asarray(n_opt, dtype=float)
    if budgets.shape != ref_b.shape or not np.array_equal(budgets, ref_b):
        raise TaskFailed(f"{what}: expected the {len(ref_b)} distinct budgets in increasing order, got {budgets.tolist()}")
    if n_opt.shape != ref_n.shape or not np.allclose(n_opt, ref_n, rtol=1e-6, atol=0):
        raise TaskFailed(f"{what}: N_opt per budget expected {np.round(ref_n, 0).tolist()}, got {n_opt.tolist()}")
    value = number(a, f"{what}: a")
    if not abs(value - ref_a) <= 1e-6:
        raise TaskFailed(f"{what}: a expected {ref_a:.6f} (the slope of ln N_opt on ln C), got {value:.6f}")
    return value


@graded(3, "an IsoFLOP study run, then approach 2's exponent reported and re-derived from the run",
        functions=("approach2_exponent", "isoflop_experiment"))
def test_approach2_exponent(ns) -> None:
    report = learner_function(ns, "approach2_exponent")
    experiment = learner_function(ns, "isoflop_experiment")
    draw = rng(50)
    for label, n_budgets, sizes, noise in (("4 budgets, 7 sizes, no noise", 4, 7, 0.0),
                                           ("5 budgets, 6 sizes, 0.5% noise, shuffled runs", 5, 6, 0.005),
                                           ("3 budgets, 9 sizes, 0.3% noise", 3, 9, 0.003)):
        for _ in range(50):  # a grid whose every budget has a minimum (noise can flatten a U): draw until so
            law = _law(draw)
            budgets = np.geomspace(1e18, 1e18 * 10 ** draw.uniform(2.5, 4.0), n_budgets)
            C, N, _, L = _simulate(law, budgets, sizes, 4.0, noise, draw)
            if _well_posed(C, N, L):
                break
        order = draw.permutation(len(C)) if "shuffled" in label else np.arange(len(C))
        C, N, L = C[order], N[order], L[order]
        _check_report(call(report, C, N, L), C, N, L, f"approach2_exponent on the grader's grid ({label})")
    expect_raises(ValueError, report, np.array([1e20] * 3), np.array([1e8, 2e8, 4e8]), np.array([3.0, 2.9, 3.05]),
                  what="approach2_exponent on runs at a single budget")

    for noise in (0.0, 0.005):
        law = _law(draw)
        budgets = [float(c) for c in np.geomspace(1e17, 1e21, 5)]
        sizes, spread = 7, 4.0
        for _ in range(50):  # a seed whose noise leaves every budget a minimum (the grader checks with its own draw)
            seed = int(draw.integers(0, 2**31))
            C, N, _, L = _simulate(law, budgets, sizes, spread, noise, np.random.default_rng(seed))
            if _well_posed(C, N, L):
                break
        what = f"isoflop_experiment(law, 5 budgets 1e17..1e21, sizes={sizes}, spread={spread}, noise={noise})"
        got = call(experiment, (law.E, law.A, law.B, law.alpha, law.beta), budgets, sizes, spread, noise, seed)
        n = len(budgets) * sizes
        C, N, D, L = (_array(got, k, n, what) for k in ("C", "N", "D", "L"))
        if not np.allclose(6 * N * D, C, rtol=1e-9, atol=0) or not np.allclose(C, np.repeat(budgets, sizes), rtol=1e-12):
            raise TaskFailed(f"{what}: every run must be on its budget, budget by budget: 6 N D = C")
        for c in budgets:
            n_star, _ = law.compute_optimal(c)
            have = np.sort(N[C == c])
            if not np.allclose(have[[0, -1]], [n_star / spread, n_star * spread], rtol=1e-6):
                raise TaskFailed(f"{what}: at C = {c:.3g} the sizes should run from N*/spread = {n_star / spread:.4g} to "
                                 f"N* spread = {n_star * spread:.4g}, got {have[0]:.4g} to {have[-1]:.4g}")
        residual = np.log(L) - np.log(law.loss(N, D))
        if noise == 0.0 and not np.allclose(residual, 0.0, atol=1e-9):
            raise TaskFailed(f"{what}: with noise=0 the losses must be the law's, but they differ by up to "
                             f"{float(np.max(np.abs(residual))):.3g} in log")
        if noise > 0:
            sd = float(np.std(residual))
            if abs(float(np.mean(residual))) > 4 * noise / math.sqrt(n) or not 0.6 * noise <= sd <= 1.5 * noise:
                raise TaskFailed(f"{what}: the log-loss noise should have mean 0 and standard deviation {noise}, got "
                                 f"mean {float(np.mean(residual)):.3g} and standard deviation {sd:.3g}")
        mine = _check_report(call(report, C, N, L), C, N, L, f"approach2_exponent on the runs of {what}")
        C0, N0, _, L0 = _simulate(law, budgets, sizes, spread, 0.0, draw)  # the same study without noise
        design = ref_approach2(C0, N0, L0)[2]
        true_a = law.beta / (law.alpha + law.beta)
        if abs(mine - design) > 0.1 or abs(design - true_a) > 0.05:
            raise TaskFailed(f"{what}: approach 2 on this run gives a = {mine:.4f}; the same study without noise gives "
                             f"{design:.4f} and the law's exponent is {true_a:.4f}")
