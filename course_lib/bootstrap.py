"""Bootstrap intervals: how much a score computed on a sample of items would move with other items like them.

Resample the items (questions, pairs, problems) with replacement, recompute the statistic,
and read the middle ``confidence`` share of the recomputed values (the percentile
bootstrap, Efron 1979). Paired data (two systems on the same questions) is resampled
together, so the interval of a difference is not inflated by how hard each question is.

    mean_interval(scores)                    # Interval(estimate, low, high, n, confidence)
    paired_interval(after, before)           # the mean of after - before, same questions
    bootstrap_interval(cohen_kappa, a, b)    # any statistic of one or more aligned arrays
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import check_fraction, check_int

__all__ = ["Interval", "bootstrap_interval", "mean_interval", "paired_interval"]


@dataclass(frozen=True)
class Interval:
    """A statistic with its percentile bootstrap interval.

    Attributes:
        estimate: the statistic on the items as they are.
        low, high: the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the resampled statistic.
        n: number of items.
        confidence: e.g. 0.95.
    """

    estimate: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def __str__(self) -> str:
        return (f"{self.estimate:.3f} ({self.confidence:.0%} interval {self.low:.3f} to {self.high:.3f}, "
                f"n = {self.n})")

    def excludes(self, value: float = 0.0) -> bool:
        """True when ``value`` lies outside [low, high] (e.g. 0 for a difference)."""
        return not self.low <= value <= self.high


def bootstrap_interval(statistic, *arrays, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of ``statistic(*arrays)``, resampling the items (rows) of all arrays together.

    ``arrays`` are aligned: item i is ``arrays[0][i], arrays[1][i], ...``. Resamples on which
    the statistic is not finite (e.g. a kappa whose resample has one label) are left out.
    """
    if not arrays:
        raise ValueError("give at least one array of per-item values.")
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    if n < 2 or any(len(a) != n for a in arrays):
        raise ValueError(f"the arrays must be aligned and hold at least 2 items each; got lengths {[len(a) for a in arrays]}.")
    n_boot = check_int(n_boot, "n_boot", minimum=100)
    confidence = check_fraction(confidence, "confidence")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(*[a[idx] for a in arrays]) for idx in rng.integers(0, n, size=(n_boot, n))], float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("the statistic was not finite on any resample; is it defined on these items?")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return Interval(float(statistic(*arrays)), float(low), float(high), n, confidence)


def mean_interval(values, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """The mean of per-item ``values`` (1-D, finite) with its bootstrap interval."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError("values must be a 1-D array of finite numbers, one per item.")
    return bootstrap_interval(np.mean, values, n_boot=n_boot, confidence=confidence, seed=seed)


def paired_interval(after, before, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """The mean of ``after - before`` over the same items, with its bootstrap interval (items resampled as pairs)."""
    after, before = np.asarray(after, dtype=float), np.asarray(before, dtype=float)
    if after.shape != before.shape:
        raise ValueError(f"after and before must score the same items; got shapes {after.shape} and {before.shape}.")
    return mean_interval(after - before, n_boot=n_boot, confidence=confidence, seed=seed)
