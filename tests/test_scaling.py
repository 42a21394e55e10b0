"""course_lib.scaling: published laws, compute-optimal allocation, fits, IsoFLOP, the live sweep."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from course_lib.scaling import (
    BESIROGLU_2024,
    HOFFMANN_2022,
    KAPLAN_2020,
    KAPLAN_2020_JOINT,
    PF_DAY,
    PRESETS,
    ChinchillaLaw,
    KaplanLaw,
    _huber_objective,
    fit_chinchilla,
    fit_isoflop_minimum,
    fit_power_law,
    fit_power_law_with_floor,
    isoflop_curve,
    load_sweep,
    run_sweep,
    sweep_config,
    training_flops,
    width_lr,
)

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


# ----------------------------------------------------------------------------- IsoFLOP


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
        lambda: KaplanLaw(alpha_N=0.0, N_c=1, alpha_D=1, D_c=1, alpha_C=1, C_c=1),
        lambda: training_flops(1e6, -5),
        lambda: fit_power_law([], []),
        lambda: fit_power_law([10.0], [1.0]),
        lambda: fit_power_law([1, 2, 3], [1, 2]),
        lambda: fit_power_law([1, 2, 3], [1, 0, 2]),
        lambda: fit_power_law([5, 5, 5], [1, 2, 3]),
        lambda: fit_power_law_with_floor([1, 2, 3], [3, 2, 1]),
        lambda: fit_chinchilla([1e6] * 4, [1e9] * 4, [3.0] * 4),
        lambda: fit_chinchilla([1e6, 1e7, 1e8, 1e9, 1e10], [1e9] * 5, [3, 2.9, 2.8, 2.7, 2.6]),
        lambda: fit_isoflop_minimum([1e6, 1e7], [3.0, 2.9]),
        lambda: isoflop_curve(HOFFMANN_2022, 0, [1e6]),
        lambda: sweep_config("huge"),
        lambda: sweep_config("tiny", widths=(8, 8)),
        lambda: sweep_config("tiny", tokens=-5),
        lambda: sweep_config("tiny", learning_rate=1e-3),
        lambda: load_sweep("/nonexistent/results.json"),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_error_messages_say_what_to_do():
    with pytest.raises(ValueError, match="positive"):
        HOFFMANN_2022.compute_optimal(0)
    with pytest.raises(ValueError, match="choose one of"):
        sweep_config("huge")
    with pytest.raises(ValueError, match="same length"):
        fit_power_law([1, 2, 3], [1, 2])


# ----------------------------------------------------------------------------- the live sweep


def test_learning_rate_rules():
    cfg = sweep_config("default")
    assert cfg.lr_rule == "inverse_width"
    lrs = {w: width_lr(cfg, w) for w in cfg.widths}
    assert len({round(lr * w, 12) for w, lr in lrs.items()}) == 1, "lr * width is constant"
    assert width_lr(cfg, cfg.lr_base_width) == pytest.approx(cfg.lr)
    single = sweep_config("default", lr_rule="constant")
    assert {width_lr(single, w) for w in single.widths} == {single.lr}
    assert all(cfg.tokens / n >= 20 for n in (12 * cfg.n_layer * w * w for w in cfg.widths)), "D/N >= 20"
    for w in (16, 24, 40, 56, 64):
        assert w % cfg.n_head(w) == 0


def sweep_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "course_lib.scaling", "sweep", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_tiny_sweep_command_writes_json_and_resumes(tmp_path):
    out = tmp_path / "tiny.json"
    first = sweep_cli("--preset", "tiny", "--out", str(out), "--device", "cpu", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    data = json.loads(out.read_text())
    for key in ("runs", "exponent", "r2", "holdout_rel_error", "seconds", "command", "config", "machine", "date"):
        assert key in data, key
    assert data["complete"] and data["trained_runs"] == 3 and data["resumed_runs"] == 0
    assert [r["width"] for r in data["runs"]] == list(PRESETS["tiny"].widths)
    for run in data["runs"]:
        for key in ("width", "n_layer", "N", "D", "lr", "val_loss", "seconds"):
            assert key in run, key
        assert 0 < run["val_loss"] < math.log(200), "below the loss of a uniform guess over the characters"
    assert data["runs"][0]["N"] < data["runs"][-1]["N"]
    assert 0 <= data["r2"] <= 1 and data["holdout_rel_error"] >= 0
    assert "--preset tiny" in data["command"] and "torch" in data["machine"]

    second = sweep_cli("--preset", "tiny", "--out", str(out), "--device", "cpu", "--no-progress", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    again = json.loads(out.read_text())
    assert again["trained_runs"] == 0 and again["resumed_runs"] == 3, "finished runs are not trained again"
    assert again["runs"] == data["runs"]


def test_cli_rejects_an_unknown_preset(tmp_path):
    result = sweep_cli("--preset", "huge", "--out", str(tmp_path / "x.json"), cwd=tmp_path)
    assert result.returncode == 2 and "choose one of" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_interrupted_sweep_keeps_finished_runs_and_resumes(tmp_path):
    out = tmp_path / "sweep.json"
    cfg = sweep_config("tiny", device="cpu")

    def stop_after_first(run):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, out, progress=False, on_run_end=stop_after_first)
    partial = load_sweep(out)
    assert len(partial["runs"]) == 1 and not partial["complete"] and partial["r2"] is None

    result = run_sweep(cfg, out, progress=False)
    assert result["resumed_runs"] == 1 and result["trained_runs"] == 2
    assert result["runs"][0] == partial["runs"][0]
    assert result["complete"] and len(result["runs"]) == 3

    # A different configuration in the same file is refused unless asked to start over.
    other = sweep_config("tiny", device="cpu", lr=3e-3)
    with pytest.raises(ValueError, match="different configuration"):
        run_sweep(other, out, progress=False)
    fresh = run_sweep(sweep_config("tiny", device="cpu", widths=(8, 12, 16)), out, progress=False, resume=False)
    assert fresh["trained_runs"] == 3 and fresh["resumed_runs"] == 0
