"""course_lib.isoflop: planning and running IsoFLOP experiments."""
import math

import pytest
import torch

from course_lib.isoflop import RunConfig, fit_budgets, n_params, plan_isoflop, train_width


def test_n_params_matches_the_gpt_formula():
    config = RunConfig(n_layer=2)
    for w in (4, 8, 16):
        # 12 d^2 weights and two LayerNorm gains per block, one final LayerNorm; no biases
        assert n_params(w, vocab_size=50, config=config) == 2 * (12 * w * w + 2 * w) + w
    assert n_params(8, 50, config) == n_params(8, 500, config)  # embeddings are not counted


def test_plan_spends_each_budget():
    config = RunConfig(batch_size=4, context_length=16)
    plan = plan_isoflop({1e8: [4, 8, 16], 1e9: [8, 16, 32]}, vocab_size=20, config=config)
    assert len(plan) == 6
    for p in plan:
        assert p["D"] == p["steps"] * 64
        assert abs(6 * p["N"] * p["D"] - p["C"]) <= 6 * p["N"] * 64  # within one step of the budget
    d = [p["D"] for p in plan if p["C"] == 1e8]
    assert d[0] > d[1] > d[2]  # smaller models read more tokens at equal compute


def test_plan_rejects_bad_budgets():
    with pytest.raises(ValueError, match="at least 3"):
        plan_isoflop({1e9: [8, 16]}, 20)
    with pytest.raises(ValueError, match="positive"):
        plan_isoflop({-1.0: [4, 8, 16]}, 20)
    with pytest.raises(ValueError, match="dict"):
        plan_isoflop([1e9], 20)
    with pytest.raises(ValueError, match="lr"):
        RunConfig(lr=0.0)


@pytest.fixture
def one_thread():
    """Tiny models: one torch thread is as fast, and far faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_train_width_learns_a_predictable_sequence(one_thread):
    data = torch.arange(4).repeat(2000)  # 0 1 2 3 0 1 2 3 ...: the next token is determined
    config = RunConfig(n_layer=1, context_length=8, batch_size=8, lr=1e-2, lr_base_width=8, eval_batches=2)
    run = train_width(8, 8 * 8 * 150, data[:7000], data[7000:], vocab_size=4, config=config)
    assert run["steps"] == 150 and run["D"] == 150 * 64
    assert run["flops"] == 6 * run["N"] * run["D"]
    assert run["val_loss"] < 0.2 * math.log(4)


def test_fit_budgets_finds_minimum_or_none():
    u = [{"C": 1.0, "N": n, "val_loss": 2 + (math.log(n) - math.log(1000)) ** 2} for n in (100, 1000, 10000)]
    down = [{"C": 2.0, "N": n, "val_loss": 3 - 0.1 * math.log(n)} for n in (100, 1000, 10000)]
    fits = fit_budgets(u + down)
    assert fits[1.0].N_opt == pytest.approx(1000, rel=1e-6) and fits[1.0].inside
    assert fits[2.0] is None
