"""course_lib.labs.ch05_scaling: the compute-budget explorer, IsoFLOP tables, and the chapter-05a demos."""
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from course_lib.labs import ch05_scaling as sx
from course_lib.scaling import BESIROGLU_2024, HOFFMANN_2022, KAPLAN_2020, ChinchillaLaw

BUDGETS = [1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25]


def _numerical_optimum(law, C):
    """Minimise law.loss(N, C / 6N) over ln N numerically (independent of the closed form)."""
    res = minimize_scalar(lambda ln_n: law.loss(math.exp(ln_n), C / (6 * math.exp(ln_n))),
                          bounds=(math.log(1e3), math.log(1e15)), method="bounded", options={"xatol": 1e-10})
    return math.exp(res.x)


@pytest.mark.parametrize("law", ["Hoffmann et al. 2022 (printed)", "Hoffmann et al. 2022 (unrounded)",
                                 "Besiroglu et al. 2024"])
@pytest.mark.parametrize("C", [1e18, 1e21, 5.76e23, 1e25])
def test_optimal_point_spends_the_budget_and_minimises_the_loss(law, C):
    state = sx.explorer_state(1e9, 2e10, C, law)
    assert 6 * state.N_opt * state.D_opt == pytest.approx(C, rel=1e-12)
    assert state.tokens_per_param == pytest.approx(state.D_opt / state.N_opt)
    assert state.N_opt == pytest.approx(_numerical_optimum(sx.LAWS[law], C), rel=1e-4)
    # nothing on the same IsoFLOP line does better, Kaplan's allocation included
    assert state.loss_opt <= state.loss_N_at_budget + 1e-12
    assert state.loss_opt < state.loss_kaplan_allocation
    assert 6 * state.kaplan_N * state.kaplan_D == pytest.approx(C, rel=1e-12)


def test_run_numbers_are_the_laws():
    state = sx.explorer_state(3e9, 6e10, 1e22, HOFFMANN_2022)
    assert state.law_name == "Hoffmann et al. 2022 (printed)"
    assert state.loss == pytest.approx(1.69 + 406.4 / 3e9**0.34 + 410.7 / 6e10**0.28)
    assert state.run_flops == pytest.approx(6 * 3e9 * 6e10)
    assert state.budget_fraction == pytest.approx(1.08e21 / 1e22)
    assert state.loss_N_at_budget == pytest.approx(HOFFMANN_2022.loss(3e9, 1e22 / 18e9))
    custom = ChinchillaLaw(E=1.0, A=100.0, B=100.0, alpha=0.3, beta=0.3)
    assert sx.explorer_state(1e9, 1e10, 1e21, custom).law_name == "custom law"


def test_tokens_per_parameter_implied_by_each_law():
    """What the published constants imply (not the headline 20 for Hoffmann's printed fit).

    Besiroglu et al.'s refit has alpha ~ beta, so D_opt/N_opt stays near 20 (within 15-27)
    over 1e18-1e25 FLOPs, as Hoffmann et al.'s approaches 1 and 2 found. Hoffmann et al.'s
    printed approach-3 constants (alpha = 0.34 > beta = 0.28) give N_opt ∝ C**0.45: about
    20-35 tokens per parameter only at 1e18-1e19 FLOPs, rising with compute to about 90 at
    Chinchilla's 5.76e23 (the inconsistency Besiroglu et al. 2024 report).
    """
    besiroglu = [sx.explorer_state(1e9, 1e10, C, "Besiroglu et al. 2024").tokens_per_param for C in BUDGETS]
    hoffmann = [sx.explorer_state(1e9, 1e10, C, "Hoffmann et al. 2022 (printed)").tokens_per_param for C in BUDGETS]
    assert all(15 < r < 27 for r in besiroglu)
    assert all(20 < r < 35 for r in hoffmann[:2])
    assert hoffmann == sorted(hoffmann)  # grows with compute, as C**(b - a) = C**0.097
    assert hoffmann[-1] / hoffmann[0] == pytest.approx(1e7 ** (HOFFMANN_2022.b - HOFFMANN_2022.a), rel=1e-9)
    chinchilla = sx.explorer_state(70e9, 1.4e12, 5.76e23, "Hoffmann et al. 2022 (printed)")
    assert 80 < chinchilla.tokens_per_param < 100
    assert 25e9 < chinchilla.N_opt < 40e9
    # unrounded, the same fit gives 40.4B parameters and 59 tokens per parameter (the paper's figure 4: about 40B)
    unrounded = sx.explorer_state(70e9, 1.4e12, 5.76e23, "Hoffmann et al. 2022 (unrounded)")
    assert unrounded.N_opt == pytest.approx(40.4e9, rel=0.005) and unrounded.tokens_per_param == pytest.approx(59, abs=0.5)


def test_kaplan_allocation_grows_as_c_to_the_073():
    small, large = (sx.explorer_state(1e9, 1e10, C) for C in (1e21, 1e22))
    assert large.kaplan_N / small.kaplan_N == pytest.approx(10**0.73)
    assert large.kaplan_D / small.kaplan_D == pytest.approx(10**0.27)
    assert large.N_opt / small.N_opt == pytest.approx(10 ** (0.28 / 0.62))
    # at GPT-3's compute Kaplan's model is far larger than Chinchilla's
    gpt3 = sx.explorer_state(175e9, 300e9, 6 * 175e9 * 300e9, "Besiroglu et al. 2024")
    assert gpt3.kaplan_N > 5 * gpt3.N_opt and gpt3.kaplan_tokens_per_param < 1


def test_summary_reports_the_state():
    text = sx.explorer_state(1e9, 2e10, 1e21).summary()
    assert "Hoffmann et al. 2022 (printed)" in text and "20 tokens/param" in text and "1.2e+20" in text


def test_isoflop_table_minimum_is_the_analytic_optimum():
    curves = sx.isoflop_table("Besiroglu et al. 2024", [1e19, 1e23], decades=1.0, n_points=41)
    assert [c.C for c in curves] == [1e19, 1e23]
    for c in curves:
        assert c.N.shape == c.D.shape == c.L.shape == (41,)
        assert np.allclose(6 * c.N * c.D, c.C)
        assert c.N_grid_min == pytest.approx(c.N_opt)
        assert c.L.min() == pytest.approx(c.L_opt)
        assert c.L[0] > c.L_opt and c.L[-1] > c.L_opt  # a valley
        assert c.N_opt == pytest.approx(_numerical_optimum(BESIROGLU_2024, c.C), rel=1e-4)
    assert curves[1].L_opt < curves[0].L_opt


def test_allocation_table_rows():
    rows = sx.allocation_table([1e20, 1e21])
    assert [r.law_name for r in rows] == ["Hoffmann et al. 2022 (printed)", "Hoffmann et al. 2022 (unrounded)",
                                          "Besiroglu et al. 2024", "Kaplan et al. 2020"] * 2
    for r in rows:
        assert 6 * r.N_opt * r.D_opt == pytest.approx(r.C)
        assert r.tokens_per_param == pytest.approx(r.D_opt / r.N_opt)
    assert rows[3].loss == pytest.approx(KAPLAN_2020.loss_compute(1e20))
    assert len(sx.allocation_table([1e20], laws=["Besiroglu et al. 2024"], include_kaplan=False)) == 1


def test_product_form_is_unidentifiable():
    demo = sx.product_form_demo(n_runs=12, seed=0)
    assert demo.X.shape == (12, 4)
    assert np.allclose(demo.C, 6 * demo.N * demo.D)
    assert demo.rank == 3  # ln C = ln 6 + ln N + ln D
    assert np.linalg.matrix_rank(demo.X[:, :3]) == 3  # the other three columns alone are fine
    assert demo.singular_values[-1] < 1e-10 * demo.singular_values[0]
    v = np.array([math.log(6), 1, 1, -1])
    assert np.allclose(demo.X @ v, 0, atol=1e-9)
    assert abs(abs(demo.null_vector @ v) / np.linalg.norm(v) - 1) < 1e-12  # the null vector is that one
    # different exponent triples, identical predictions
    b, c, d = demo.solutions[:, 1], demo.solutions[:, 2], demo.solutions[:, 3]
    assert abs(d[1]) < 1e-12 and abs(b[2]) < 1e-12 and abs(d[0] - d[1]) > 0.5
    assert demo.max_prediction_gap < 1e-9
    assert np.allclose(b + d, (b + d)[0]) and np.allclose(c + d, (c + d)[0])
    # every solution is a least-squares solution: normal equations hold
    y = np.log(demo.L)
    for theta in demo.solutions:
        assert np.allclose(demo.X.T @ (demo.X @ theta - y), 0, atol=1e-8)
    assert demo.rms_residual > 0.01  # the product form cannot fit a sum with a floor


def test_product_form_with_an_independent_column_would_be_identifiable():
    """Control: the rank deficiency comes from C = 6ND, not from the sampling."""
    demo = sx.product_form_demo(n_runs=12, seed=1)
    X = demo.X.copy()
    X[:, 3] += np.random.default_rng(0).normal(size=len(X))  # C no longer 6ND
    assert np.linalg.matrix_rank(X) == 4


def test_power_law_state():
    pure = sx.power_law_state(exponent=0.3, floor=0.0)
    assert pure.fit.exponent == pytest.approx(-0.3) and pure.fit.r2 == pytest.approx(1.0)
    assert pure.slope_start == pytest.approx(-0.3) and pure.far_error == pytest.approx(0, abs=1e-9)
    bent = sx.power_law_state(exponent=0.3, floor=1.7)
    assert bent.slope_start < bent.fit.exponent < bent.slope_end < 0  # the fit averages a bending curve
    assert bent.y_far_fit < bent.floor < bent.y_far  # the straight line dives through the floor
    assert bent.y_far == pytest.approx(1.7 + 100 * 1e12**-0.3)
    # local slope formula, checked by finite differences on the curve
    x0, h = bent.x[0], 1e-6
    f = lambda x: 1.7 + 100 * x**-0.3  # noqa: E731
    numeric = (math.log(f(x0 * math.exp(h))) - math.log(f(x0 * math.exp(-h)))) / (2 * h)
    assert bent.slope_start == pytest.approx(numeric, rel=1e-6)


def test_explorer_widget_sliders_change_what_it_shows():
    pytest.importorskip("ipywidgets")
    box = sx.explorer_widget(N=1e9, D=2e10, C=1e21, plot=False)
    first, first_text = box.update(), box.text.value
    assert first.C == pytest.approx(1e21) and "1e+21" in first_text
    box.c_slider.value = 1e23
    second = box.update()
    assert second.N_opt > first.N_opt and box.text.value != first_text
    assert 6 * second.N_opt * second.D_opt == pytest.approx(box.c_slider.value)
    box.n_slider.value = 1e10
    assert box.update().loss < second.loss  # a bigger model on the same tokens
    before = box.text.value
    box.law_menu.value = "Besiroglu et al. 2024"
    third = box.update()
    assert third.law_name == "Besiroglu et al. 2024" and box.text.value != before
    assert third.N_opt != second.N_opt


def test_power_law_widget_sliders_change_what_it_shows():
    pytest.importorskip("ipywidgets")
    box = sx.power_law_widget(exponent=0.3, floor=1.7, plot=False)
    first, first_text = box.update(), box.text.value
    box.e_slider.value = 0.0
    flat = box.update()
    assert box.text.value != first_text
    assert flat.fit.exponent == pytest.approx(-0.3) and first.fit.exponent > -0.1
    box.k_slider.value = 0.5
    assert box.update().fit.exponent == pytest.approx(-0.5)


def test_plots_draw():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = sx.plot_explorer(sx.explorer_state(1e9, 2e10, 1e21, "Besiroglu et al. 2024"))
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) >= 10
    plt.close(fig)
    fig = sx.plot_power_law(sx.power_law_state())
    assert len(fig.axes) == 1
    plt.close(fig)
    custom = ChinchillaLaw(E=1.0, A=100.0, B=100.0, alpha=0.3, beta=0.3)
    state = sx.explorer_state(1e9, 1e10, 1e21, custom)
    with pytest.raises(ValueError, match="pass that ChinchillaLaw"):
        sx.plot_explorer(state)
    plt.close(sx.plot_explorer(state, law=custom))


@pytest.mark.parametrize("call", [
    lambda: sx.explorer_state(0, 1e10, 1e21),
    lambda: sx.explorer_state(1e9, -1, 1e21),
    lambda: sx.explorer_state(1e9, 1e10, float("nan")),
    lambda: sx.explorer_state(1e9, 1e10, float("inf")),
    lambda: sx.explorer_state("big", 1e10, 1e21),
    lambda: sx.explorer_state(True, 1e10, 1e21),
    lambda: sx.explorer_state(1e9, 1e10, 1e21, law="GPT-4"),
    lambda: sx.isoflop_table(budgets=[1e20, -1]),
    lambda: sx.isoflop_table(budgets=[]),
    lambda: sx.isoflop_table(decades=0),
    lambda: sx.isoflop_table(n_points=2),
    lambda: sx.allocation_table([0]),
    lambda: sx.product_form_demo(n_runs=3),
    lambda: sx.power_law_state(exponent=0),
    lambda: sx.power_law_state(floor=-0.1),
    lambda: sx.power_law_state(x_min=1e9, x_max=1e6),
    lambda: sx.explorer_widget(N=-5, plot=False),
    lambda: sx.explorer_widget(law="nope", plot=False),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_widget_figure_follows_the_sliders():
    pytest.importorskip("ipywidgets")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    box = sx.power_law_widget(exponent=0.3, floor=1.7, plot=True)
    first = bytes(box.figure.value)
    assert first.startswith(b"\x89PNG")
    box.e_slider.value = 0.5
    assert bytes(box.figure.value) != first
