"""course_lib.bootstrap: percentile bootstrap intervals of a mean, a paired difference, any statistic."""
import numpy as np
import pytest

from course_lib.bootstrap import Interval, bootstrap_interval, mean_interval, paired_interval


def test_mean_interval_brackets_the_mean_and_shrinks_with_more_items():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 30), rng.normal(1.0, 1.0, 3000)
    a, b = mean_interval(small), mean_interval(large)
    assert a.low < a.estimate < a.high and a.estimate == pytest.approx(small.mean())
    assert (b.high - b.low) < (a.high - a.low) / 5  # width ~ 1/sqrt(n): 10x the items, ~1/10 the width
    se = small.std(ddof=1) / np.sqrt(30)  # the normal approximation agrees roughly
    assert (a.high - a.low) == pytest.approx(2 * 1.96 * se, rel=0.2)
    assert mean_interval(small, seed=3) == mean_interval(small, seed=3)


def test_paired_interval_resamples_items_together():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 5, 100)  # large per-item spread, shared by both systems
    before, after = difficulty, difficulty + 0.3 + rng.normal(0, 0.1, 100)
    paired = paired_interval(after, before)
    assert paired.excludes(0.0) and paired.estimate == pytest.approx(0.3, abs=0.05)
    unpaired_width = mean_interval(after).high - mean_interval(after).low
    assert paired.high - paired.low < unpaired_width / 10
    assert isinstance(paired, Interval) and "interval" in str(paired)


def test_bad_input():
    with pytest.raises(ValueError, match="aligned"):
        bootstrap_interval(np.mean, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="same items"):
        paired_interval([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="not finite on any resample"):
        bootstrap_interval(lambda x: float("nan"), [1.0, 2.0])
