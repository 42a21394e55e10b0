"""Hoffmann's three approaches (course_lib.scaling.approaches) and the bootstrap intervals
(course_lib.scaling.uncertainty), on runs drawn from a known law."""
import numpy as np
import pytest

from course_lib.scaling import ChinchillaLaw
from course_lib.scaling.approaches import (approach1, approach2, approach3, bootstrap_exponents, mean_over_seeds)
from course_lib.scaling.uncertainty import bootstrap_prediction, case_resamples, seed_spread

# A law with a = beta / (alpha + beta) = 0.4 / 0.7 = 0.571 and b = 0.429, in the range of the course's grids.
LAW = ChinchillaLaw(E=0.8, A=40.0, B=60.0, alpha=0.3, beta=0.4)


def grid_runs(law=LAW, noise=0.0, seed=0, budgets=tuple(1e11 * 2.0 ** k for k in range(6)), n_sizes=9):
    """An IsoFLOP grid: for each budget, sizes spread around the law's optimum, D = C / 6N."""
    rng = np.random.default_rng(seed)
    runs = []
    for C in budgets:
        n_opt, _ = law.compute_optimal(C)
        for f in np.geomspace(1 / 8, 8, n_sizes):
            N = n_opt * f
            D = C / (6 * N)
            runs.append({"width": int(N), "N": N, "D": D, "lr": 1e-3, "seed": 0, "budget": C, "flops": C,
                         "val_loss": float(law.loss(N, D)) * (1 + noise * rng.normal())})
    return runs


@pytest.mark.parametrize("approach", [approach1, approach2, approach3])
def test_each_approach_recovers_the_exponents_of_a_known_law(approach):
    got = approach(grid_runs())
    tol = 0.08 if approach is approach1 else 0.01  # the envelope can only pick sizes on the grid
    assert got["a"] == pytest.approx(LAW.a, abs=tol)
    assert got["b"] == pytest.approx(LAW.b, abs=tol)


def test_the_parabolas_find_each_budgets_optimum():
    got = approach2(grid_runs())
    assert not got["skipped"]
    for C, fit in got["parabolas"].items():
        assert fit.N_opt == pytest.approx(LAW.compute_optimal(C)[0], rel=0.1)


def test_bootstrap_intervals_contain_the_truth_and_shrink_with_less_noise():
    noisy = bootstrap_exponents(grid_runs(noise=0.01, seed=3), 2, n_boot=100)
    quiet = bootstrap_exponents(grid_runs(noise=0.001, seed=3), 2, n_boot=100)
    lo, hi = noisy["a"]
    assert lo < LAW.a < hi and noisy["fitted"] >= 50
    assert quiet["a"][1] - quiet["a"][0] < hi - lo


def test_seed_noise_widens_the_bootstrap_of_a_few_exact_runs():
    # five noise-free runs a budget: resampling them alone cannot see run-to-run noise
    runs = grid_runs(budgets=(1e11, 1e12), n_sizes=5)
    exact = bootstrap_exponents(runs, 2, n_boot=100, seed=0)
    noisy = bootstrap_exponents(runs, 2, n_boot=100, seed=0, seed_rel_sd=0.01)
    assert exact["a"][1] - exact["a"][0] < noisy["a"][1] - noisy["a"][0]
    assert noisy["a"][0] < LAW.a < noisy["a"][1]
    assert bootstrap_exponents(runs, 2, n_boot=100, seed=0, seed_rel_sd=0.0)["a"] == exact["a"]
    with pytest.raises(ValueError, match="seed_rel_sd"):
        bootstrap_exponents(runs, 2, n_boot=10, seed_rel_sd=-0.1)


def test_bootstrap_of_the_parametric_fit():
    got = bootstrap_exponents(grid_runs(noise=0.005, seed=1), 3, n_boot=40)
    assert got["a"][0] < LAW.a < got["a"][1]
    assert got["b"][0] < LAW.b < got["b"][1]


def test_approaches_refuse_runs_without_budgets():
    runs = [{**r, "budget": None} for r in grid_runs()]
    with pytest.raises(ValueError, match="IsoFLOP grid"):
        approach1(runs)
    with pytest.raises(ValueError, match="approach must be"):
        bootstrap_exponents(grid_runs(), 4)


def test_mean_over_seeds_and_seed_spread():
    runs = [{"width": 8, "N": 100, "D": 1000, "lr": 0.01, "seed": s, "flops": 6e5, "val_loss": v}
            for s, v in enumerate([2.0, 2.2, 2.1])]
    runs.append({"width": 16, "N": 400, "D": 1000, "lr": 0.005, "seed": 0, "flops": 2.4e6, "val_loss": 1.9})
    merged = mean_over_seeds(runs)
    assert [(r["width"], r["n_seeds"]) for r in merged] == [(8, 3), (16, 1)]
    assert merged[0]["val_loss"] == pytest.approx(2.1)
    spread = seed_spread(runs)
    assert spread["groups"] == 1 and spread["runs"] == 3
    assert spread["rel_sd"] == pytest.approx(np.std([2.0, 2.2, 2.1], ddof=1) / 2.1)
    with pytest.raises(ValueError, match="several seeds"):
        seed_spread(runs[3:])


def test_case_resamples_keep_groups_and_distinct_values():
    groups = [0] * 4 + [1] * 5
    values = [1, 2, 3, 4, 1, 2, 3, 4, 5]
    for idx in case_resamples(9, 50, seed=2, groups=groups, min_distinct=3, values=values):
        assert sorted(np.asarray(groups)[idx].tolist()) == sorted(groups)
        assert len(set(np.asarray(values)[idx[:4]])) >= 3
    assert [i.tolist() for i in case_resamples(5, 3, seed=7)] == [i.tolist() for i in case_resamples(5, 3, seed=7)]


def test_prediction_interval_covers_a_power_law_and_widens_with_seed_noise():
    N = np.geomspace(1e4, 4e5, 6)
    L = 9.0 * N ** -0.15
    rng = np.random.default_rng(0)
    noisy = L * (1 + 0.01 * rng.normal(size=6))
    got = bootstrap_prediction(N[:-1], noisy[:-1], N[-1], seed_rel_sd=0.01)
    assert got.contains(L[-1]) and got.low < got.predicted < got.high
    tight = bootstrap_prediction(N[:-1], noisy[:-1], N[-1], seed_rel_sd=0.0)
    assert tight.high - tight.low < got.high - got.low
    floor = bootstrap_prediction(N[:-1], 1.0 + L[:-1], N[-1], floor=True, n_boot=300)
    assert floor.predicted == pytest.approx(1.0 + L[-1], rel=1e-3) and floor.floor
    with pytest.raises(ValueError):
        bootstrap_prediction(N[:2], L[:2], N[-1])
