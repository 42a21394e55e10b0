"""course_lib.scaling.isoflop: IsoFLOP profiles of a law, the parabola minimum, and planning and running IsoFLOP runs."""
import math

import numpy as np
import pytest
import torch

from course_lib.scaling.isoflop import fit_budgets, fit_isoflop_minimum, isoflop_curve, plan_isoflop, run_isoflop
from course_lib.scaling.laws import BESIROGLU_2024, HOFFMANN_2022
from course_lib.scaling.sweep import SweepConfig


def test_isoflop_curve_and_its_minimum():
    C = 1e20
    n_opt = BESIROGLU_2024.compute_optimal(C)[0]
    N = n_opt * np.logspace(-0.5, 0.5, 7)
    D, L = isoflop_curve(BESIROGLU_2024, C, N)
    assert np.allclose(6 * N * D, C)
    assert np.allclose(L, BESIROGLU_2024.loss(N, D))
    fit = fit_isoflop_minimum(N, L)
    assert fit.inside
    assert fit.N_opt == pytest.approx(n_opt, rel=0.05), "a parabola in ln N finds the true optimum"
    assert fit.loss_min == pytest.approx(BESIROGLU_2024.optimal_loss(C), rel=1e-3)


def test_fit_isoflop_minimum_of_an_exact_parabola():
    N = np.array([1e5, 1e6, 1e7, 1e8])
    L = 0.02 * (np.log(N) - math.log(3e6)) ** 2 + 2.5
    fit = fit_isoflop_minimum(N, L)
    assert fit.N_opt == pytest.approx(3e6, rel=1e-8) and fit.loss_min == pytest.approx(2.5)
    assert fit.r2 == pytest.approx(1.0) and fit.predict(3e6) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="U"):
        fit_isoflop_minimum(N, 3.0 - 0.02 * (np.log(N) - 15) ** 2)



def test_plan_spends_each_budget():
    config = SweepConfig(batch_size=4, context_length=16)
    plan = plan_isoflop({1e8: [4, 8, 16], 1e9: [8, 16, 32]}, vocab_size=20, config=config)
    assert len(plan) == 6
    for p in plan:
        assert p["D"] == p["steps"] * 64
        assert abs(6 * p["N"] * p["D"] - p["C"]) <= 6 * p["N"] * 64  # within one step of the budget
    d = [p["D"] for p in plan if p["C"] == 1e8]
    assert d[0] > d[1] > d[2]  # smaller models read more tokens at equal compute


@pytest.mark.parametrize("call", [
    lambda: plan_isoflop({1e9: [8, 16]}, 20),
    lambda: plan_isoflop({-1.0: [4, 8, 16]}, 20),
    lambda: plan_isoflop({1e9: [0, 8, 16]}, 20),
    lambda: plan_isoflop([1e9], 20),
    lambda: isoflop_curve(HOFFMANN_2022, 0, [1e6]),
    lambda: isoflop_curve(HOFFMANN_2022, [1e20, 1e21], [1e6]),
    lambda: fit_isoflop_minimum([1e6, 1e7], [3.0, 2.9]),
    lambda: fit_isoflop_minimum([1e6, 1e6, 1e7], [3.0, 2.9, 3.0]),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_plan_error_messages():
    with pytest.raises(ValueError, match="at least 3"):
        plan_isoflop({1e9: [8, 16]}, 20)
    with pytest.raises(ValueError, match="dict"):
        plan_isoflop([1e9], 20)


def test_run_isoflop_trains_the_plan_and_fits_each_budget():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is as fast, and far faster on a busy machine
    try:
        data = torch.arange(4).repeat(2000)  # 0 1 2 3 0 1 2 3 ...: the next token is determined
        config = SweepConfig(n_layer=1, context_length=8, batch_size=8, lr=1e-2, lr_base_width=8,
                             eval_batch_size=8, eval_tokens=2 * 8 * 8)
        result = run_isoflop({2e6: [4, 6, 8]}, config, data=(data[:7000], data[7000:], 4))
    finally:
        torch.set_num_threads(before)
    plan = plan_isoflop({2e6: [4, 6, 8]}, 4, config)
    assert [(r["width"], r["steps"], r["D"]) for r in result["runs"]] == [(p["width"], p["steps"], p["D"]) for p in plan]
    assert all(r["C"] == 2e6 for r in result["runs"]) and list(result["fits"]) == [2e6]
    assert result["config"]["eval_batch_size"] == 8


def test_fit_budgets_finds_minimum_or_none():
    u = [{"C": 1.0, "N": n, "val_loss": 2 + (math.log(n) - math.log(1000)) ** 2} for n in (100, 1000, 10000)]
    down = [{"C": 2.0, "N": n, "val_loss": 3 - 0.1 * math.log(n)} for n in (100, 1000, 10000)]
    fits = fit_budgets(u + down)
    assert fits[1.0].N_opt == pytest.approx(1000, rel=1e-6) and fits[1.0].inside
    assert fits[2.0] is None
