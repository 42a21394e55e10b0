"""Chapters 05b and 05c's lab (course_lib.labs.ch05_fits): the fit and approach widgets on runs."""
import numpy as np
import pytest

from course_lib.labs import ch05_fits as lab
from course_lib.scaling import ChinchillaLaw

LAW = ChinchillaLaw(E=0.8, A=40.0, B=60.0, alpha=0.3, beta=0.4)


def sweep_runs(noise=0.0):
    rng = np.random.default_rng(0)
    return [{"width": w, "N": 24 * w * w, "val_loss": float(LAW.loss(24 * w * w, 2e6)) * (1 + noise * rng.normal())}
            for w in (24, 32, 48, 64, 96, 128)]


def grid_runs():
    runs = []
    for C in (1e11, 2e11, 4e11, 8e11):
        n_opt, _ = LAW.compute_optimal(C)
        for f in np.geomspace(1 / 8, 8, 7):
            N = n_opt * f
            runs.append({"width": int(N), "N": N, "D": C / (6 * N), "lr": 1e-3, "budget": C, "flops": C,
                         "val_loss": float(LAW.loss(N, C / (6 * N)))})
    return runs


def test_sweep_fit_with_a_floor_predicts_a_floored_law():
    state = lab.sweep_fit_state(sweep_runs(), n_boot=200)
    assert state.floor and state.fitted.tolist() == [True] * 5 + [False]
    assert state.error < 1e-3 < state.naive_error  # exact data: the floor form is the true one
    assert state.interval.contains(state.measured)
    pure = lab.sweep_fit_state(sweep_runs(), floor=False, n_boot=200)
    assert pure.error > state.error
    assert "naive guess" in state.summary()


def test_sweep_fit_refuses_too_few_sizes():
    with pytest.raises(ValueError, match="at least 4 sizes"):
        lab.sweep_fit_state(sweep_runs(), fit_widths=(24, 32, 48))
    with pytest.raises(ValueError, match="too small"):
        lab.sweep_fit_state(sweep_runs()[:3])


def test_sweep_fit_widget_controls_change_what_it_shows():
    pytest.importorskip("ipywidgets")
    box = lab.sweep_fit_widget(sweep_runs(noise=0.005), seed_rel_sd=0.01, plot=False)
    first = box.update()
    box.floor_toggle.value = "pure power law"
    assert not box.update().floor
    box.sizes.value = (24, 32)  # too few: the text says so, the last good state stays
    assert box.update() is not None and "at least 3 sizes" in box.text.value
    box.sizes.value = (48, 64, 96)
    assert box.update().fitted.sum() == 3 and first.fitted.sum() == 5


def test_approach_state_and_widget():
    pytest.importorskip("ipywidgets")
    runs = grid_runs()
    state = lab.approach_state(runs, 2, n_boot=40)
    assert state.a == pytest.approx(LAW.a, abs=0.02) and state.a_interval[0] <= state.a <= state.a_interval[1]
    assert state.tokens_per_param == pytest.approx(float(LAW.tokens_per_parameter(8e11)), rel=0.2)
    with pytest.raises(ValueError, match="at least 2 budgets"):
        lab.approach_state(runs, 2, budgets=(1e11,))
    with pytest.raises(ValueError, match="approach must be"):
        lab.approach_state(runs, 5)
    box = lab.approach_widget(runs, plot=False)
    box.approach_buttons.value = 1
    assert box.update().approach == 1
    box.budgets.value = (1e11,)
    assert "at least 2 budgets" in box.text.value


def test_best_learning_rates_average_seeds_and_find_the_vertex():
    from course_lib.labs.ch05_fits import best_learning_rates, plot_lr_bracket

    runs = []
    for seed, shift in ((0, 0.0), (1, 0.02)):
        for lr in (1e-3, 2e-3, 4e-3, 8e-3):  # a parabola in ln lr with its bottom at 2.83e-3, plus a seed offset
            runs.append({"width": 32, "lr": lr, "seed": seed, "val_loss": 2.0 + (np.log(lr / 2.83e-3)) ** 2 + shift})
        runs.append({"width": 64, "lr": 1e-3, "seed": seed, "val_loss": 2.5 + shift})
        runs.append({"width": 64, "lr": 2e-3, "seed": seed, "val_loss": 2.6 + shift})
    table = best_learning_rates(runs)
    t = table[32]
    assert list(t["lr"]) == [1e-3, 2e-3, 4e-3, 8e-3] and t["seeds"] == [2, 2, 2, 2]
    assert t["mean"][0] == pytest.approx(2.01 + np.log(1e-3 / 2.83e-3) ** 2)
    assert t["sd"][0] == pytest.approx(0.02 / np.sqrt(2))
    assert t["best_lr"] in (2e-3, 4e-3) and t["bracketed"] and t["vertex_lr"] == pytest.approx(2.83e-3, rel=1e-6)
    assert table[64]["best_lr"] == 1e-3 and not table[64]["bracketed"] and table[64]["vertex_lr"] is None
    assert plot_lr_bracket(table).axes
    with pytest.raises(ValueError, match="no runs"):
        best_learning_rates([])
