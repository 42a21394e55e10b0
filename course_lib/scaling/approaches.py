"""Hoffmann et al.'s three ways to find the compute-optimal model, on a grid of runs, with bootstraps.

Given runs of many sizes N trained on many token counts D (``grid.run_grid``), how should a
budget C = 6 N D be split? Hoffmann et al. (2022, section 3) answered three ways:

* ``approach1(runs)``: the lower envelope. At each budget, the run with the lowest loss;
  N_opt and D_opt of those runs fitted as power laws of C. (Hoffmann et al. took the
  envelope of whole training curves with several schedule lengths; here every run is a
  finished schedule, so the envelope's points are the grid's best runs per budget.)
* ``approach2(runs)``: IsoFLOP profiles. At each budget a parabola in ln N through the
  losses, its minimum N_opt; then N_opt and D_opt = C / (6 N_opt) fitted against C.
* ``approach3(runs)``: the parametric law L = E + A/N^alpha + B/D^beta fitted to every run
  (``fits.fit_chinchilla``: Huber loss on log L, L-BFGS); N_opt ∝ C^a with a = beta /
  (alpha + beta) and D_opt ∝ C^b with b = alpha / (alpha + beta).

Each returns the exponents ``a`` and ``b``; ``bootstrap_exponents`` resamples the runs
(within each budget for approaches 1 and 2) and refits, giving an interval for each.
Average the runs that differ only in their seed first (``mean_over_seeds``): the functions
here treat every run they are given as one point.

Units: N non-embedding parameters, D training tokens, C FLOPs (6 N D), L nats per token.

Reference: Hoffmann, Borgeaud, Mensch, et al. (2022), "Training Compute-Optimal Large
Language Models", arXiv:2203.15556, sections 3.1-3.3 and Table 2.
"""
from __future__ import annotations

import numpy as np

from ..validation import check_fraction, check_int, check_nonnegative
from .fits import fit_chinchilla_details, fit_power_law
from .isoflop import fit_isoflop_minimum
from .uncertainty import case_resamples, same_point_groups

__all__ = ["mean_over_seeds", "approach1", "approach2", "approach3", "APPROACHES", "bootstrap_exponents",
           "loss_interval"]


def mean_over_seeds(runs: list[dict]) -> list[dict]:
    """One run per (width, D, lr): ``val_loss`` averaged over seeds, ``n_seeds`` added; sorted by compute."""
    out = []
    for same in same_point_groups(runs).values():
        out.append({**same[0], "val_loss": float(np.mean([r["val_loss"] for r in same])), "n_seeds": len(same)})
    return sorted(out, key=lambda r: (r["flops"], r["N"]))


def _by_budget(runs: list[dict]) -> dict[float, list[dict]]:
    out: dict[float, list[dict]] = {}
    for r in runs:
        if r.get("budget") is None:
            raise ValueError("these runs have no budgets (a rectangle of token counts); approaches 1 and 2 need an "
                             "IsoFLOP grid, e.g. GRID_PRESETS['default'].")
        out.setdefault(float(r["budget"]), []).append(r)
    return dict(sorted(out.items()))


def _exponents(C, N_opt) -> dict:
    C, N_opt = np.asarray(C, float), np.asarray(N_opt, float)
    if len(C) < 2:
        raise ValueError(f"only {len(C)} budget(s) gave an optimum; the exponents need at least 2.")
    fn, fd = fit_power_law(C, N_opt), fit_power_law(C, C / (6 * N_opt))
    return {"a": fn.exponent, "b": fd.exponent, "N_fit": fn, "D_fit": fd, "C": C, "N_opt": N_opt,
            "D_opt": C / (6 * N_opt)}


def approach1(runs: list[dict]) -> dict:
    """The lower envelope: the best run of each budget; ``{"a", "b", "C", "N_opt", "D_opt", "N_fit", "D_fit"}``."""
    budgets = _by_budget(runs)
    best = [min(rs, key=lambda r: r["val_loss"]) for rs in budgets.values()]
    return {**_exponents(list(budgets), [r["N"] for r in best]), "best": best}


def approach2(runs: list[dict], neighbours: int | None = None) -> dict:
    """IsoFLOP parabolas: ``approach1``'s keys plus ``parabolas`` ({C: IsoFLOPFit}), ``L_fit`` (the
    parabolas' minimum losses as a power law of C: the compute frontier); budgets with
    fewer than 3 sizes, or whose points do not form a U, are left out (listed in ``skipped``).

    ``neighbours`` None fits each budget's parabola to all its runs (Hoffmann et al.); an int k
    fits it to the best run and the k sizes on either side of it only (a local parabola: when
    the profile is not a parabola far from its bottom), and skips a budget whose best run is at
    the edge of its sizes (its minimum is not bracketed).
    """
    if neighbours is not None:
        neighbours = check_int(neighbours, "neighbours (or None for every run)", minimum=1)
    parabolas, skipped = {}, []
    for C, rs in _by_budget(runs).items():
        rs = sorted(rs, key=lambda r: r["N"])
        if neighbours is not None:
            sizes = sorted({r["N"] for r in rs})
            best = min(rs, key=lambda r: r["val_loss"])["N"]
            i = sizes.index(best)
            if i < neighbours or i + neighbours >= len(sizes):
                skipped.append(C)
                continue
            keep = set(sizes[i - neighbours:i + neighbours + 1])
            rs = [r for r in rs if r["N"] in keep]
        try:
            parabolas[C] = fit_isoflop_minimum([r["N"] for r in rs], [r["val_loss"] for r in rs])
        except ValueError:
            skipped.append(C)
    out = _exponents(list(parabolas), [p.N_opt for p in parabolas.values()])
    # the frontier: the lowest loss of each budget, as a power law of C (for predicting a larger budget)
    L_fit = fit_power_law(list(parabolas), [p.loss_min for p in parabolas.values()])
    return {**out, "parabolas": parabolas, "skipped": skipped, "L_fit": L_fit}


def approach3(runs: list[dict], *, n_starts: int | None = 32, grid=None) -> dict:
    """The parametric fit: ``{"a", "b", "law", "fit"}`` (``law`` a ``ChinchillaLaw``)."""
    fit = fit_chinchilla_details([r["N"] for r in runs], [r["D"] for r in runs], [r["val_loss"] for r in runs],
                                 n_starts=n_starts, grid=grid)
    return {"a": fit.law.a, "b": fit.law.b, "law": fit.law, "fit": fit}


APPROACHES = {1: approach1, 2: approach2, 3: approach3}


def bootstrap_exponents(runs: list[dict], approach: int, *, n_boot: int = 200, level: float = 0.9,
                        seed: int = 0, neighbours: int | None = None, seed_rel_sd: float = 0.0) -> dict:
    """Percentile intervals of the exponents a and b of one approach, resampling runs.

    ``neighbours`` is ``approach2``'s (local parabolas). ``seed_rel_sd`` > 0 also multiplies each
    resampled run's loss by 1 + e, e ~ Normal(0, seed_rel_sd): the run-to-run noise that
    resampling the measured values alone cannot show (a handful of runs per budget reuse the
    same noisy losses in every resample). Approaches 1 and 2 resample within each budget (each budget keeps its number of runs,
    with at least 3 distinct sizes for a parabola); approach 3 resamples all runs and
    refits from the full fit's optimum (one L-BFGS start per resample, so 200 resamples
    take seconds; a resample whose best fit lies in another basin is not found, which can
    make approach 3's interval too narrow). Resamples whose fit fails are skipped and
    counted (``fitted``): the interval is conditional on the resamples that could be fitted.
    Resampling and the added noise both carry run-to-run noise, so with ``seed_rel_sd`` the
    interval errs on the wide side.

    Returns:
        ``{"a": (low, high), "b": (low, high), "a_samples", "b_samples", "fitted": resamples
        that gave a fit, "n_boot", "level", "estimate": the approach on all runs, "laws": approach
        3's refitted ``ChinchillaLaw`` of each resample (empty for 1 and 2), "refits": what the
        approach returned on each resample}``.
    """
    if approach not in APPROACHES:
        raise ValueError(f"approach must be 1, 2 or 3, got {approach!r}.")
    n_boot = check_int(n_boot, "n_boot", minimum=10)
    check_fraction(level, "level")
    if approach == 2:
        estimate = approach2(runs, neighbours)
    else:
        estimate = APPROACHES[approach](runs)
    if approach == 3:
        groups, refit = None, lambda rs: approach3(rs, grid=np.array([estimate["fit"].theta]))
    elif approach == 2:
        groups, refit = [r["budget"] for r in runs], lambda rs: approach2(rs, neighbours)
    else:
        groups, refit = [r["budget"] for r in runs], approach1
    check_nonnegative(seed_rel_sd, "seed_rel_sd")
    noise = np.random.default_rng(seed + 1)
    a_s, b_s, laws, refits = [], [], [], []
    for idx in case_resamples(len(runs), n_boot, seed, groups=groups, min_distinct=3 if approach == 2 else 1,
                              values=[r["N"] for r in runs]):
        picked = [runs[i] for i in idx]
        if seed_rel_sd:
            picked = [{**r, "val_loss": r["val_loss"] * (1 + e)}
                      for r, e in zip(picked, noise.normal(0.0, seed_rel_sd, size=len(picked)))]
        try:
            got = refit(picked)
        except (ValueError, np.linalg.LinAlgError):
            continue
        a_s.append(got["a"])
        b_s.append(got["b"])
        refits.append(got)
        if approach == 3:
            laws.append(got["law"])
    if len(a_s) < n_boot // 2:
        raise ValueError(f"only {len(a_s)} of {n_boot} resamples could be fitted; the grid is too small for a bootstrap.")
    q = [(1 - level) / 2, (1 + level) / 2]
    return {"a": tuple(float(v) for v in np.quantile(a_s, q)), "b": tuple(float(v) for v in np.quantile(b_s, q)),
            "a_samples": np.asarray(a_s), "b_samples": np.asarray(b_s), "fitted": len(a_s), "n_boot": n_boot,
            "level": level, "estimate": estimate, "laws": laws, "refits": refits}


def loss_interval(laws, N: float, D: float, *, seed_rel_sd: float = 0.0, level: float = 0.9, seed: int = 0):
    """The ``level`` percentile interval of L(N, D) over bootstrapped laws, with seed noise added.

    ``laws``: e.g. ``bootstrap_exponents(runs, 3)["laws"]``; each loss is multiplied by
    ``1 + e``, e ~ Normal(0, ``seed_rel_sd``), the run-to-run spread of the model to be
    trained. Returns ``(low, high, samples)`` in nats per token.
    """
    if not laws:
        raise ValueError("no laws given; bootstrap approach 3 first (bootstrap_exponents(runs, 3)).")
    check_fraction(level, "level")
    rng = np.random.default_rng(seed)
    samples = np.array([float(law.loss(N, D)) for law in laws]) * (1 + rng.normal(0, seed_rel_sd, size=len(laws)))
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high), samples
