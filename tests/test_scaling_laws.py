"""course_lib.scaling.laws: the published laws (Chinchilla, Kaplan), their constants and compute-optimal allocation."""
import math

import numpy as np
import pytest

from course_lib.scaling.laws import (BESIROGLU_2024, HOFFMANN_2022, KAPLAN_2020, KAPLAN_2020_JOINT, PF_DAY,
                                     ChinchillaLaw, KaplanLaw)

LAWS = [HOFFMANN_2022, BESIROGLU_2024]


# ----------------------------------------------------------------------------- Chinchilla


def test_chinchilla_loss_is_the_formula_and_broadcasts():
    law = ChinchillaLaw(E=1.0, A=100.0, B=1000.0, alpha=0.5, beta=0.5)
    assert law.loss(1e4, 1e6) == pytest.approx(1.0 + 100 / 100 + 1000 / 1000)
    grid = law.loss(np.array([[1e4], [1e6]]), np.array([1e6, 1e8]))  # (2, 1) x (2,) -> (2, 2)
    assert grid.shape == (2, 2)
    assert grid[1, 1] == pytest.approx(1.0 + 0.1 + 0.1)
    assert HOFFMANN_2022.loss(1e40, 1e40) == pytest.approx(1.69, abs=1e-8), "infinite scale leaves only E"


@pytest.mark.parametrize("law", LAWS, ids=["hoffmann", "besiroglu"])
@pytest.mark.parametrize("C", [1e18, 1e21, 5.76e23, 1e26])
def test_compute_optimal_spends_the_budget_and_minimises_the_isoflop_loss(law, C):
    n_opt, d_opt = law.compute_optimal(C)
    assert 6 * n_opt * d_opt == pytest.approx(C, rel=1e-12)
    # Brute force along the IsoFLOP line: 20,001 sizes over two decades either side.
    N = n_opt * np.logspace(-2, 2, 20_001)
    loss = law.loss(N, C / (6 * N))
    step = 4 / 20_000  # decades between grid points
    assert abs(math.log10(N[np.argmin(loss)] / n_opt)) <= step
    assert law.loss(n_opt, d_opt) <= loss.min() + 1e-12
    assert law.optimal_loss(C) == pytest.approx(loss.min(), rel=1e-9)


def test_compute_optimal_takes_arrays_and_has_chinchilla_exponents():
    C = np.array([1e20, 1e22, 1e24])
    n_opt, d_opt = HOFFMANN_2022.compute_optimal(C)
    assert n_opt.shape == d_opt.shape == (3,)
    # N_opt ∝ C^(beta/(alpha+beta)) = C^(0.28/0.62), D_opt ∝ C^(0.34/0.62) (Hoffmann et al. eq. 4)
    assert math.log(n_opt[2] / n_opt[0]) / math.log(1e4) == pytest.approx(0.28 / 0.62, rel=1e-12)
    assert math.log(d_opt[2] / d_opt[0]) / math.log(1e4) == pytest.approx(0.34 / 0.62, rel=1e-12)
    # Besiroglu et al.: both exponents close to 0.5, "parameters and tokens grow about equally"
    assert BESIROGLU_2024.a == pytest.approx(0.5, abs=0.02) and BESIROGLU_2024.b == pytest.approx(0.5, abs=0.02)


def test_tokens_per_parameter_against_the_papers():
    # Hoffmann et al. table 3 (approach 1): 67B parameters, 1.5T tokens for Gopher's 5.76e23 FLOPs.
    # Besiroglu et al.'s refit agrees with it to within 15% and gives about 20 tokens per parameter.
    n_opt, d_opt = BESIROGLU_2024.compute_optimal(5.76e23)
    assert n_opt == pytest.approx(67e9, rel=0.15)
    assert d_opt == pytest.approx(1.5e12, rel=0.15)
    for C in (1e23, 5.76e23, 1e24):
        assert 15 <= BESIROGLU_2024.tokens_per_parameter(C) <= 25
    # Hoffmann et al.'s own approach-3 constants do NOT give 20: G = (alpha A / beta B)^(1/0.62) is
    # about 1.35, so at 5.76e23 FLOPs N_opt = 1.35 * (9.6e22)^0.4516, about 32B parameters, and
    # D/N is about 90-100 between 1e23 and 1e24 FLOPs (tolerance: the range 60-130).
    assert HOFFMANN_2022.G == pytest.approx((0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62))
    assert HOFFMANN_2022.compute_optimal(5.76e23)[0] == pytest.approx(3.2e10, rel=0.1)
    for C in (1e23, 5.76e23, 1e24):
        assert 60 <= HOFFMANN_2022.tokens_per_parameter(C) <= 130


# ----------------------------------------------------------------------------- Kaplan


def test_kaplan_laws_and_units():
    assert PF_DAY == pytest.approx(8.64e19)
    k = KAPLAN_2020
    assert k.loss_N(k.N_c) == pytest.approx(1.0) and k.loss_D(k.D_c) == pytest.approx(1.0)
    assert k.loss_compute(k.C_c * PF_DAY) == pytest.approx(1.0), "C_c is in PF-days, the argument in FLOPs"
    # L(N, D) reduces to L(N) with unlimited data and to L(D) with an unlimited model.
    assert k.loss(1e9, 1e40) == pytest.approx(k.loss_N(1e9), rel=1e-6)
    assert k.loss(1e40, 1e10) == pytest.approx(k.loss_D(1e10), rel=1e-6)
    assert k.loss(1e9, 1e10) > max(k.loss_N(1e9), k.loss_D(1e10))
    # COURSE_MAP item 2: 100x more parameters lowers the loss by 100^0.076, about 1.42x, not 10x.
    assert k.loss_N(1e8) / k.loss_N(1e10) == pytest.approx(100**0.076)
    assert KAPLAN_2020_JOINT.alpha_D == 0.103


def test_kaplan_allocation_versus_chinchilla():
    n1, d1 = KAPLAN_2020.compute_optimal(PF_DAY)
    assert n1 == pytest.approx(1.3e9) and 6 * n1 * d1 == pytest.approx(PF_DAY)
    n10, _ = KAPLAN_2020.compute_optimal(10 * PF_DAY)
    assert n10 / n1 == pytest.approx(10**0.73)
    # At GPT-3's budget (3.14e23 FLOPs) Kaplan's rule wants a bigger model on far fewer tokens.
    n_k, d_k = KAPLAN_2020.compute_optimal(3.14e23)
    n_c, d_c = BESIROGLU_2024.compute_optimal(3.14e23)
    assert n_k > 5 * n_c and d_k < d_c / 5
    assert KAPLAN_2020.tokens_per_parameter(3.14e23) < 1.0



# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call",
    [
        lambda: HOFFMANN_2022.loss(-1e9, 1e10),
        lambda: HOFFMANN_2022.loss(1e9, 0),
        lambda: HOFFMANN_2022.compute_optimal(0),
        lambda: HOFFMANN_2022.compute_optimal(-1e20),
        lambda: HOFFMANN_2022.compute_optimal(float("nan")),
        lambda: HOFFMANN_2022.compute_optimal([]),
        lambda: KAPLAN_2020.loss_compute(0),
        lambda: KAPLAN_2020.loss_N(np.array([1e6, -1.0])),
        lambda: ChinchillaLaw(E=1.7, A=-1.0, B=400.0, alpha=0.3, beta=0.3),
        lambda: ChinchillaLaw(E=-0.1, A=1.0, B=400.0, alpha=0.3, beta=0.3),
        lambda: ChinchillaLaw(E=1.7, A="400", B=400.0, alpha=0.3, beta=0.3),
        lambda: KaplanLaw(alpha_N=0.0, N_c=1, alpha_D=1, D_c=1, alpha_C=1, C_c=1),
        lambda: KaplanLaw(alpha_N=True, N_c=1, alpha_D=1, D_c=1, alpha_C=1, C_c=1),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_error_messages_say_what_to_do():
    with pytest.raises(ValueError, match="positive"):
        HOFFMANN_2022.compute_optimal(0)
    with pytest.raises(ValueError, match="ChinchillaLaw.A"):
        ChinchillaLaw(E=1.7, A=-1.0, B=400.0, alpha=0.3, beta=0.3)


def test_unrounded_hoffmann_constants_are_the_tex_source_values():
    """ln A, ln B, ln E, alpha, beta of the paper's TeX source (as Besiroglu et al. 2024 report them)."""
    from course_lib.scaling import HOFFMANN_2022_UNROUNDED as U

    assert (math.log(U.A), math.log(U.B), math.log(U.E)) == pytest.approx((6.0073404, 6.0179186, 0.5267228), abs=1e-12)
    assert (U.alpha, U.beta) == (0.33917084, 0.2849083)
    # they round to the printed constants ...
    assert (round(U.E, 2), round(U.A, 1), round(U.B, 1), round(U.alpha, 2), round(U.beta, 2)) == (1.69, 406.4, 410.7, 0.34, 0.28)
    # ... yet move the optimum at Chinchilla's budget from 32.2B to 40.4B parameters
    assert HOFFMANN_2022.compute_optimal(5.76e23)[0] == pytest.approx(32.2e9, rel=0.005)
    assert U.compute_optimal(5.76e23)[0] == pytest.approx(40.4e9, rel=0.005)
