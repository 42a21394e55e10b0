"""course_lib.labs.ch02_attention: softmax saturation, attention maps of a GPT, attention cost."""
import math

import matplotlib
import numpy as np
import pytest
import torch

from course_lib.labs.ch02_attention import (
    attention_cost,
    attention_crossover,
    attention_maps,
    block_outputs,
    byte_labels,
    plot_attention,
    plot_saturation,
    recomputed_block_outputs,
    softmax_jacobian_norm,
    softmax_saturation,
)
from course_lib.model import GPT, GPTConfig

# ----------------------------------------------------------------------------- saturation


@pytest.mark.parametrize("d_k", [4, 64, 1024])
def test_scores_have_the_variance_theory_predicts(d_k):
    scaled = softmax_saturation(d_k, scaled=True, n_queries=512)
    raw = softmax_saturation(d_k, scaled=False, n_queries=512)
    assert scaled.expected_std == 1.0 and raw.expected_std == pytest.approx(math.sqrt(d_k))
    assert scaled.score_std == pytest.approx(1.0, rel=0.1)
    assert raw.score_std == pytest.approx(math.sqrt(d_k), rel=0.1)


def test_without_scale_softmax_saturates_as_d_k_grows():
    d_ks = [1, 4, 16, 64, 256, 1024]
    raw = [softmax_saturation(d, scaled=False) for d in d_ks]
    scaled = [softmax_saturation(d, scaled=True) for d in d_ks]
    raw_max = [s.max_weight for s in raw]
    assert raw_max == sorted(raw_max), "the largest weight should grow with d_k without the scale"
    assert raw[-1].max_weight > 0.9 and raw[-1].entropy < 0.3
    assert raw[-1].jacobian_norm < 0.3 * raw[0].jacobian_norm
    # with the scale the rows look alike for every d_k
    assert max(s.max_weight for s in scaled) - min(s.max_weight for s in scaled) < 0.1
    assert all(s.entropy > 0.6 * s.max_entropy for s in scaled)


def test_saturation_is_deterministic_and_d_k_1_is_unaffected_by_the_scale():
    a, b = softmax_saturation(32, seed=3), softmax_saturation(32, seed=3)
    assert a.max_weight == b.max_weight and np.array_equal(a.example_row, b.example_row)
    assert softmax_saturation(32, seed=4).max_weight != a.max_weight
    one_raw, one_scaled = softmax_saturation(1, scaled=False), softmax_saturation(1, scaled=True)
    assert one_raw.max_weight == pytest.approx(one_scaled.max_weight)


def test_saturation_stats_are_consistent():
    s = softmax_saturation(16, n_keys=10)
    assert s.example_row.shape == (10,)
    assert s.example_row.sum() == pytest.approx(1.0)
    assert s.max_entropy == pytest.approx(math.log(10))
    assert 1 / 10 <= s.max_weight <= 1.0 and 0.0 <= s.entropy <= s.max_entropy


def test_example_row_is_the_same_typical_query_in_both_panels():
    raw, scaled = softmax_saturation(64, scaled=False), softmax_saturation(64, scaled=True)
    assert raw.example_query == scaled.example_query
    assert scaled.example_row.max() < raw.example_row.max()  # the scale flattens the same row
    # typical: about as peaked as the average unscaled row, not an extreme one
    assert abs(raw.example_row.max() - raw.max_weight) < 0.15


@pytest.mark.parametrize("kwargs", [{"d_k": 0}, {"d_k": 2.5}, {"d_k": True}, {"d_k": 8, "n_keys": 1},
                                    {"d_k": 8, "n_queries": 0}])
def test_saturation_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        softmax_saturation(**kwargs)


def test_jacobian_norm_matches_autograd():
    s = torch.randn(5, dtype=torch.float64) * 2
    p = torch.softmax(s, -1)
    J = torch.autograd.functional.jacobian(lambda x: torch.softmax(x, -1), s)
    assert softmax_jacobian_norm(p).item() == pytest.approx(torch.linalg.norm(J).item(), rel=1e-9)
    one_hot = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    assert softmax_jacobian_norm(one_hot).item() == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- attention maps


def tiny_gpt(bias=False, seed=0, n_head=4):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=256, context_length=16, n_layer=3, n_head=n_head, d_model=32, bias=bias))
    with torch.no_grad():  # larger weights than the init, so the heads are not near-uniform
        for block in model.blocks:
            block.attn.c_attn.weight.mul_(10)
            if bias:
                block.attn.c_attn.bias.normal_()
    return model.eval()


@pytest.mark.parametrize("bias", [False, True])
def test_recomputed_blocks_equal_the_models_own(bias):
    model = tiny_gpt(bias)
    ids = torch.tensor([72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100])
    weights, outs = attention_maps(model, ids), recomputed_block_outputs(model, ids)
    assert weights.shape == (3, 4, 11, 11) and outs.shape == (3, 11, 32)
    theirs = block_outputs(model, ids)
    assert (outs - theirs).abs().max().item() < 1e-5
    logits, _ = model(ids[None])
    assert torch.allclose(model.lm_head(model.ln_f(outs[-1])), logits[0], atol=1e-5)


def test_maps_are_causal_distributions_that_differ_per_head():
    model = tiny_gpt()
    w = attention_maps(model, [1, 2, 3, 4, 5, 6, 7])
    assert torch.allclose(w.sum(-1), torch.ones(3, 4, 7), atol=1e-6)
    assert torch.all(w.triu(diagonal=1) == 0)
    assert torch.all(w[..., 0, 0] == 1)  # the first token can only attend to itself
    assert not torch.allclose(w[0, 0], w[0, 1], atol=1e-3)
    assert torch.equal(w, attention_maps(model, torch.tensor([[1, 2, 3, 4, 5, 6, 7]])))


def test_maps_match_hugging_face_eager_attentions():
    from course_lib.model import to_hf

    model = tiny_gpt(bias=True)
    ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    hf = to_hf(model).eval()
    hf.config._attn_implementation = "eager"
    with torch.no_grad():
        ref = hf(ids, output_attentions=True).attentions  # n_layer x (1, nh, T, T)
    ours = attention_maps(model, ids)
    assert torch.allclose(ours, torch.stack([a[0] for a in ref]), atol=1e-5)


def test_maps_leave_training_mode_alone():
    model = tiny_gpt().train()
    block_outputs(model, [1, 2, 3])
    assert model.training


def test_recomputation_runs_without_dropout_even_on_a_training_model():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=256, context_length=16, n_layer=2, n_head=2, d_model=16, dropout=0.5))
    ids = [5, 6, 7, 8, 9]
    expected = recomputed_block_outputs(model.eval(), ids)
    model.train()
    assert torch.equal(recomputed_block_outputs(model, ids), expected), "dropout must be off in the recomputation"
    assert torch.equal(attention_maps(model, ids), attention_maps(model.eval(), ids))
    model.train()
    attention_maps(model, ids)
    assert model.training, "the model's training mode is restored"


@pytest.mark.parametrize("ids", [[[1, 2], [3, 4]], torch.tensor([1.0, 2.0]), list(range(17)), [300]])
def test_maps_reject_bad_ids(ids):
    with pytest.raises(ValueError):
        attention_maps(tiny_gpt(), ids)


def test_byte_labels():
    assert byte_labels([72, 105, 32, 10, 0xE2]) == ["H", "i", "␣", "⏎", "xe2"]


def test_plot_attention_draws_one_matrix():
    matplotlib.use("Agg")
    ax = plot_attention(torch.eye(3), ["a", "b", "c"], title="t")
    assert len(ax.images) == 1 and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="layer and head"):
        plot_attention(torch.ones(2, 3, 3))


# ----------------------------------------------------------------------------- cost


def test_cost_formulas():
    c = attention_cost(128, d_model=64, n_layer=2, n_head=4)
    assert c["linear_flops"] == 2 * 12 * 2 * 64**2 * 128
    assert c["attention_flops"] == 4 * 128**2 * 64 * 2
    assert c["total_flops"] == c["linear_flops"] + c["attention_flops"]
    assert c["scores_bytes_per_layer"] == 128**2 * 4 * 4
    assert c["scores_bytes"] == 2 * c["scores_bytes_per_layer"]
    assert c["activation_bytes_per_layer"] == 128 * 64 * 4
    assert attention_cost(128, 64, 2, 4, bytes_per_element=2)["scores_bytes"] == c["scores_bytes"] / 2


def test_cost_matches_gpt_flops_per_token():
    config = GPTConfig(vocab_size=300, context_length=96, n_layer=3, n_head=4, d_model=48)
    model = GPT(config)
    c = attention_cost(96, 48, 3, 4, vocab_size=300)
    # flops_per_token counts every non-embedding parameter, LayerNorm gains included (6 per token each)
    n_layernorm = sum(p.numel() for name, p in model.named_parameters() if "ln_" in name)
    assert n_layernorm == (2 * 3 + 1) * 48
    assert 3 * c["total_flops"] / 96 + 6 * n_layernorm == pytest.approx(model.flops_per_token(), rel=1e-12)


def test_cost_scaling_and_crossover():
    Ts = np.array([64, 128, 256])
    c = attention_cost(Ts, 64, 2, 4)
    assert c["attention_flops"].shape == (3,)
    assert np.allclose(c["attention_flops"][1:] / c["attention_flops"][:-1], 4)  # quadratic
    assert np.allclose(c["linear_flops"][1:] / c["linear_flops"][:-1], 2)  # linear
    assert np.all(np.diff(c["attention_fraction"]) > 0)
    assert attention_crossover(64) == 384
    at = attention_cost(attention_crossover(64), 64, 2, 4)
    assert at["attention_fraction"] == pytest.approx(0.5)
    with_head = attention_cost(attention_crossover(64, n_layer=2, vocab_size=256), 64, 2, 4, vocab_size=256)
    assert with_head["attention_fraction"] == pytest.approx(0.5)


@pytest.mark.parametrize("args", [(0, 64, 2, 4), (10, 64, 2, 5), (10, 0, 2, 4), (10, 64, 2.0, 4)])
def test_cost_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        attention_cost(*args)


def test_plot_saturation_is_the_slider_callback():
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    fig, axes = plt.subplots(1, 2)
    raw, scaled = plot_saturation(256, axes=axes)
    assert not raw.scaled and scaled.scaled and raw.d_k == scaled.d_k == 256
    heights = [p.get_height() for p in axes[0].patches]
    assert np.allclose(heights, raw.example_row)
    assert "256" in axes[1].get_title()
    plt.close(fig)
