"""course_lib.scaling.fits: power laws with and without a floor, the Chinchilla fit, the product form."""

import numpy as np
import pytest

from course_lib.scaling.fits import (_huber_objective, ChinchillaFit, fit_chinchilla, fit_chinchilla_details,
                                     fit_power_law, fit_power_law_with_floor, fit_product_form, r_squared)
from course_lib.scaling.laws import BESIROGLU_2024, HOFFMANN_2022, ChinchillaLaw

LAWS = [HOFFMANN_2022, BESIROGLU_2024]

# ----------------------------------------------------------------------------- power-law fits


def test_fit_power_law_recovers_exact_data():
    x = np.logspace(3, 7, 9)
    fit = fit_power_law(x, 3.2 * x**-0.25)
    assert fit.exponent == pytest.approx(-0.25, rel=1e-10)
    assert fit.coefficient == pytest.approx(3.2, rel=1e-9)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.predict(1e9) == pytest.approx(3.2 * 1e9**-0.25, rel=1e-9)
    rising = fit_power_law([1, 2, 4], [5, 10, 20])
    assert rising.exponent == pytest.approx(1.0) and rising.coefficient == pytest.approx(5.0)


def test_fit_power_law_r2_drops_with_noise():
    rng = np.random.default_rng(0)
    x = np.logspace(3, 5, 20)
    y = 2.0 * x**-0.1 * np.exp(0.05 * rng.standard_normal(20))
    fit = fit_power_law(x, y)
    assert fit.r2 < 0.95
    assert fit.exponent == pytest.approx(-0.1, abs=0.05)


def test_fit_power_law_with_floor_recovers_the_floor():
    x = np.logspace(4, 9, 12)
    fit = fit_power_law_with_floor(x, 1.5 + 40.0 * x**-0.3)
    assert fit.floor == pytest.approx(1.5, rel=1e-4)
    assert fit.coefficient == pytest.approx(40.0, rel=1e-3)
    assert fit.exponent == pytest.approx(-0.3, rel=1e-4)
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    # The plain power law cannot follow the bend towards the floor.
    assert fit_power_law(x, 1.5 + 40.0 * x**-0.3).r2 < 0.999


# ----------------------------------------------------------------------------- Chinchilla fit


def synthetic_runs(law, noise, seed=0):
    """Loss of `law` on an 8 x 9 grid of N in 1e7..1e10 and D in 1e8..1e12, times exp(noise * z)."""
    N, D = np.meshgrid(np.logspace(7, 10, 8), np.logspace(8, 12, 9))
    N, D = N.ravel(), D.ravel()
    z = np.random.default_rng(seed).standard_normal(N.size)
    return N, D, law.loss(N, D) * np.exp(noise * z)


def test_huber_objective_gradient_matches_finite_differences():
    N, D, L = synthetic_runs(HOFFMANN_2022, noise=0.01)
    args = (np.log(N), np.log(D), np.log(L), 1e-3)
    theta = np.array([5.5, 6.5, 0.4, 0.3, 0.3])
    f, g = _huber_objective(theta, *args)
    for i in range(5):
        h = np.zeros(5)
        h[i] = 1e-6
        numeric = (_huber_objective(theta + h, *args)[0] - _huber_objective(theta - h, *args)[0]) / 2e-6
        assert g[i] == pytest.approx(numeric, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("law", LAWS, ids=["hoffmann", "besiroglu"])
def test_fit_chinchilla_recovers_exact_constants(law):
    fit = fit_chinchilla(*synthetic_runs(law, noise=0.0))
    for name in ("E", "A", "B", "alpha", "beta"):
        assert getattr(fit, name) == pytest.approx(getattr(law, name), rel=1e-4), name


def test_fit_chinchilla_with_noise_stays_close():
    # 0.5% multiplicative noise on 72 runs. Tolerances: E within 3%, the exponents within 5%;
    # A and B within 30%, because a change in A is almost undone by a small change in alpha
    # over three decades of N (they are strongly correlated in the fit).
    N, D, L = synthetic_runs(HOFFMANN_2022, noise=0.005, seed=3)
    fit = fit_chinchilla(N, D, L)
    assert fit.E == pytest.approx(1.69, rel=0.03)
    assert fit.alpha == pytest.approx(0.34, rel=0.05) and fit.beta == pytest.approx(0.28, rel=0.05)
    assert fit.A == pytest.approx(406.4, rel=0.3) and fit.B == pytest.approx(410.7, rel=0.3)
    # The fitted law must predict the compute-optimal size nearly as the true one does.
    assert fit.compute_optimal(1e21)[0] == pytest.approx(HOFFMANN_2022.compute_optimal(1e21)[0], rel=0.25)



def test_fit_chinchilla_details_holds_the_same_law_and_the_optimiser_result():
    N, D, L = synthetic_runs(BESIROGLU_2024, noise=0.0)
    details = fit_chinchilla_details(N, D, L, n_starts=8)
    assert isinstance(details, ChinchillaFit) and isinstance(details.law, ChinchillaLaw)
    assert details.law == fit_chinchilla(N, D, L, n_starts=8)
    assert details.n_starts == 8 and details.objective == pytest.approx(details.result.fun)
    assert details.theta[3] == pytest.approx(BESIROGLU_2024.alpha, rel=1e-4)


# ----------------------------------------------------------------------------- the product form


def test_product_form_has_rank_three_and_many_solutions():
    rng = np.random.default_rng(0)
    N, D = np.exp(rng.uniform(16, 23, 10)), np.exp(rng.uniform(20, 27, 10))
    fit = fit_product_form(N, D, HOFFMANN_2022.loss(N, D))
    assert fit.X.shape == (10, 4) and fit.rank == 3
    assert np.allclose(fit.C, 6 * N * D)
    assert np.allclose(fit.X @ fit.null_vector, 0, atol=1e-9)
    assert fit.max_prediction_gap < 1e-9 and fit.rms_residual > 0.01


def test_r_squared():
    y = np.array([1.0, 2.0, 3.0])
    assert r_squared(y, y) == 1.0 and r_squared(y, np.full(3, 2.0)) == 0.0
    assert r_squared(np.ones(3), np.ones(3)) == 1.0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call",
    [
        lambda: fit_power_law([], []),
        lambda: fit_power_law([10.0], [1.0]),
        lambda: fit_power_law([1, 2, 3], [1, 2]),
        lambda: fit_power_law([1, 2, 3], [1, 0, 2]),
        lambda: fit_power_law([5, 5, 5], [1, 2, 3]),
        lambda: fit_power_law_with_floor([1, 2, 3], [3, 2, 1]),
        lambda: fit_chinchilla([1e6] * 4, [1e9] * 4, [3.0] * 4),
        lambda: fit_chinchilla([1e6, 1e7, 1e8, 1e9, 1e10], [1e9] * 5, [3, 2.9, 2.8, 2.7, 2.6]),
        lambda: fit_chinchilla(*synthetic_runs(HOFFMANN_2022, 0.0), n_starts=0),
        lambda: fit_chinchilla(*synthetic_runs(HOFFMANN_2022, 0.0), delta=0.0),
        lambda: fit_product_form([1e7] * 4, [1e9] * 4, [3.0] * 4),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_error_messages_say_what_to_do():
    with pytest.raises(ValueError, match="same length"):
        fit_power_law([1, 2, 3], [1, 2])
