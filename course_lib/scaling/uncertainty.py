"""How sure is a fitted law? Bootstrap intervals over runs, and the spread from seed to seed.

A law fitted to five or six runs is a statistic of those runs: another set of runs (other
seeds, another sample of sizes) gives another law. Two measurements of that:

* ``seed_spread(runs)``: the relative standard deviation of the loss between runs that
  differ only in their seed (what the same model trained again would measure);
* ``bootstrap_prediction(N, L, N_new, ...)``: resample the runs with replacement, refit,
  predict, and add the seed-to-seed noise of the measurement being predicted; the
  percentiles of the predictions are the interval (Efron & Tibshirani 1993, ch. 6 and 13).

With so few runs the interval is itself rough: it is the honest size of what a handful of
runs can say, not a guarantee.

Units: N in non-embedding parameters, losses in nats per token.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..validation import check_fraction, check_int, check_nonnegative
from .fits import check_paired, fit_power_law, fit_power_law_with_floor

__all__ = ["same_point_groups", "seed_spread", "PredictionInterval", "bootstrap_prediction", "case_resamples"]


def same_point_groups(runs: list[dict]) -> dict[tuple, list[dict]]:
    """Runs grouped by (width, D, lr): runs in one group differ only in their seed (D is ``D``,
    or ``tokens`` for a run that has no ``D``), in the order given."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["width"], r.get("D", r.get("tokens")), round(r["lr"], 12)), []).append(r)
    return groups


def seed_spread(runs: list[dict], key: str = "val_loss") -> dict:
    """The spread between runs that share everything but their seed.

    Args:
        runs: dicts with ``width``, ``D`` (or ``tokens``), ``lr`` and ``seed`` and ``key``;
            runs with the same (width, D, lr) form a group.

    Returns:
        ``{"rel_sd": pooled relative standard deviation (sd / mean, degrees of freedom
        pooled over groups), "groups": number of groups with 2 or more seeds, "runs": runs in
        them, "per_group": [{"width", "D", "n", "mean", "sd"}]}``. ValueError if no group has
        two seeds.
    """
    per_group, ss, dof = [], 0.0, 0
    for (width, d, _), same in sorted(same_point_groups(runs).items()):
        values = [float(r[key]) for r in same]
        if len(values) < 2:
            continue
        v = np.asarray(values)
        per_group.append({"width": width, "D": d, "n": len(v), "mean": float(v.mean()), "sd": float(v.std(ddof=1))})
        ss += float(((v / v.mean() - 1.0) ** 2).sum())
        dof += len(v) - 1
    if not dof:
        raise ValueError("no two runs differ only in their seed; train one point with several seeds first.")
    return {"rel_sd": float(np.sqrt(ss / dof)), "groups": len(per_group), "runs": sum(g["n"] for g in per_group),
            "per_group": per_group}


def case_resamples(n: int, n_boot: int, seed: int = 0, *, groups=None, min_distinct: int = 2, values=None):
    """Index arrays of ``n_boot`` bootstrap resamples of ``n`` cases (with replacement).

    ``groups`` (length-n labels): resample within each group separately (a stratified
    bootstrap: every budget keeps its number of runs). ``values`` with ``min_distinct``:
    a resample is drawn again until it holds at least ``min_distinct`` distinct values
    (in every group), so that the refit is determined. Deterministic for a given ``seed``.
    """
    n = check_int(n, "n", minimum=1)
    n_boot = check_int(n_boot, "n_boot", minimum=1)
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, dtype=int) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    members = [np.flatnonzero(labels == g) for g in range(labels.max() + 1)]
    vals = None if values is None else np.asarray(values)
    for idx in members:
        if vals is not None and len(np.unique(vals[idx])) < min_distinct:
            raise ValueError(f"a group has fewer than {min_distinct} distinct values; no resample can be fitted.")
    out = []
    for _ in range(n_boot):
        parts = []
        for idx in members:
            for _attempt in range(1000):
                pick = rng.choice(idx, size=len(idx), replace=True)
                if vals is None or len(np.unique(vals[pick])) >= min_distinct:
                    break
            parts.append(pick)
        out.append(np.concatenate(parts))
    return out


@dataclass(frozen=True)
class PredictionInterval:
    """A prediction of the loss at ``N_new`` and its bootstrap interval.

    Attributes:
        predicted: the fit to all the given runs, evaluated at ``N_new`` (nats per token).
        low, high: the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the
            bootstrap predictions (fit uncertainty and seed noise together).
        level: e.g. 0.9.
        samples: the bootstrap predictions.
        floor: whether the fit had an irreducible floor.
        distinct_fits: how many different resamples (multisets of runs) were fitted. With
            few runs this is small (5 runs with a floor: at most 21), and the percentiles
            are those of a handful of fits, smoothed only by the seed noise.
    """

    predicted: float
    low: float
    high: float
    level: float
    samples: np.ndarray = field(repr=False)
    floor: bool = False
    distinct_fits: int = 0

    def contains(self, value: float) -> bool:
        """Whether a measured loss lies inside the interval."""
        return bool(self.low <= value <= self.high)


def bootstrap_prediction(N, L, N_new: float, *, floor: bool = False, seed_rel_sd: float = 0.0, level: float = 0.9,
                         n_boot: int = 2000, seed: int = 0) -> PredictionInterval:
    """Predict the loss at ``N_new`` from runs (N, L), with a bootstrap interval over the runs.

    Each resample draws len(N) runs with replacement (at least 3 distinct sizes, 4 with a
    floor), refits the power law (``fit_power_law``, or ``fit_power_law_with_floor`` if
    ``floor``), predicts at ``N_new`` and multiplies by ``1 + e``, e ~ Normal(0,
    ``seed_rel_sd``): the measurement to be compared carries seed noise of its own.
    Resamples whose fit fails are skipped (at most a tenth, or ValueError).

    Two limits of a case bootstrap this small. Resamples with too few distinct sizes are
    drawn again, so the interval is conditional on resamples that can be fitted (with 5 runs
    and a floor, 42% of all draws, 21 distinct multisets: close to a jackknife). And the
    sizes were chosen by the experimenter, not sampled, so resampling them treats the design
    as random; ``distinct_fits`` says how many fits the percentiles rest on.
    """
    N, L = check_paired(N, L, "N", "L", min_points=4 if floor else 3)
    check_fraction(level, "level")
    check_nonnegative(seed_rel_sd, "seed_rel_sd")
    fit = fit_power_law_with_floor if floor else fit_power_law
    predicted = float(fit(N, L).predict(N_new))
    rng = np.random.default_rng(seed + 1)
    samples, refits = [], {}  # a resample's fit depends only on which runs it holds, with what counts
    for idx in case_resamples(len(N), n_boot, seed, min_distinct=4 if floor else 3, values=N):
        key = tuple(sorted(idx.tolist()))
        if key not in refits:  # 5 runs have only 126 distinct resamples: fit each once
            try:
                refits[key] = float(fit(N[idx], L[idx]).predict(N_new))
            except (ValueError, RuntimeError):
                refits[key] = None
        if refits[key] is not None:
            samples.append(refits[key])
    if len(samples) < 0.9 * n_boot:
        raise ValueError(f"only {len(samples)} of {n_boot} resamples could be fitted; add runs.")
    samples = np.asarray(samples) * (1.0 + rng.normal(0.0, seed_rel_sd, size=len(samples)))
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return PredictionInterval(predicted=predicted, low=float(low), high=float(high), level=level, samples=samples,
                              floor=floor, distinct_fits=sum(v is not None for v in refits.values()))
