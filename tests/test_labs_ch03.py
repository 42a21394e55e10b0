"""course_lib.labs.ch03_transformer: the reversal model's measures and the block variants of chapter 03."""
import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn as nn

from course_lib.labs.ch03_transformer import (
    VariantBlock,
    layer_norm_by_hand,
    order_blind_accuracy,
    order_blind_loss,
    reversal_alignment,
    stack_signals,
    teacher_forced_accuracy,
)
from course_lib.model import Block, GPTConfig
from course_lib.transformer import BOS, EOS, PAD, Seq2SeqTransformer, reversal_batch

pytestmark = pytest.mark.usefixtures("one_thread")

# ----------------------------------------------------------------------------- the reversal model


def ids(digits):
    return [3 + d for d in digits]


def test_order_blind_ceiling_by_hand():
    # source 1 1 2: the answer is 2 1 1 EOS. Step 1: digits left {1: 2, 2: 1}: guess 1 (wrong), p(2) = 1/3.
    # step 2: left {1: 2}: right, p = 1. step 3: {1: 1}: right. EOS: right.
    src = torch.tensor([ids([1, 1, 2]) + [EOS, PAD]])
    tgt = torch.tensor([[BOS] + ids([2, 1, 1]) + [EOS, PAD]])
    assert order_blind_accuracy(src, tgt).tolist() == [pytest.approx(3 / 4)]
    assert order_blind_loss(src, tgt) == pytest.approx(math.log(3) / 4)
    # a tie: source 1 2, answer 2 1: the first guess is right half the time
    src, tgt = torch.tensor([ids([1, 2]) + [EOS]]), torch.tensor([[BOS] + ids([2, 1]) + [EOS]])
    assert order_blind_accuracy(src, tgt).tolist() == [pytest.approx((0.5 + 1 + 1) / 3)]


def test_order_blind_ceiling_against_a_monte_carlo_guesser():
    src, tgt = reversal_batch(300, 3)
    rng = np.random.default_rng(0)
    hits = []
    for s, t in zip(src.tolist(), tgt.tolist()):  # an independent guesser: random choice among the modes
        left, right, n = Counter(i for i in s if i > EOS), 0, 0
        for y in t[1:]:
            if y == PAD:
                break
            if left:
                top = max(left.values())
                guess = rng.choice(sorted(d for d, c in left.items() if c == top))
                left[y] -= 1
                left = +left
            else:
                guess = EOS
            right, n = right + (guess == y), n + 1
        hits.append(right / n)
    assert abs(np.mean(hits) - order_blind_accuracy(src, tgt).mean()) < 0.02


def test_teacher_forced_accuracy_and_alignment():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(13, 13, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=16, dropout=0.0, max_len=16, pad_idx=PAD)
    src, tgt = reversal_batch(20, 1)
    acc = teacher_forced_accuracy(model, src, tgt)
    assert acc.shape == (20,) and ((acc >= 0) & (acc <= 1)).all() and model.training
    # a perfect anti-diagonal scores 1, the main diagonal (almost) 0
    lengths = (src == EOS).int().argmax(1)
    T, S = tgt.shape[1] - 1, src.shape[1]
    anti = torch.zeros(20, T, S)
    diag = torch.zeros(20, T, S)
    for b, n in enumerate(lengths.tolist()):
        for t in range(T):
            anti[b, t, max(n - 1 - t, 0)] = 1
            diag[b, t, min(t, S - 1)] = 1
    # a model that always predicts the true answer scores 1; one that always says EOS scores 1/(n + 1)
    class Constant(nn.Module):
        def __init__(self, answer):
            super().__init__()
            self.answer = answer  # (B, T-1) ids

        def forward(self, src, tgt_in):
            return nn.functional.one_hot(self.answer, 13).float()  # (B, T-1, V) logits

    assert (teacher_forced_accuracy(Constant(tgt[:, 1:]), src, tgt) == 1.0).all()
    eos_only = teacher_forced_accuracy(Constant(torch.full_like(tgt[:, 1:], EOS)), src, tgt)
    assert np.allclose(eos_only, 1 / (lengths.numpy() + 1))
    assert reversal_alignment(anti, src) == 1.0
    assert reversal_alignment(diag, src) < 0.15  # only the middle digit of odd lengths
    with pytest.raises(ValueError, match="B=20"):
        reversal_alignment(anti[:3], src)


# ----------------------------------------------------------------------------- the block


def test_layer_norm_by_hand_equals_torch():
    torch.manual_seed(0)
    x = 5 * torch.randn(3, 4, 10) - 2
    ln = nn.LayerNorm(10)
    with torch.no_grad():
        ln.weight.normal_(1, 0.5)
        ln.bias.normal_(0, 0.5)
        torch.testing.assert_close(layer_norm_by_hand(x, ln.weight, ln.bias), ln(x), atol=1e-5, rtol=0)
        torch.testing.assert_close(layer_norm_by_hand(x), nn.functional.layer_norm(x, (10,)), atol=1e-5, rtol=0)


def test_variant_blocks_are_gpt_and_torch_blocks():
    config = GPTConfig(vocab_size=10, context_length=16, n_layer=1, n_head=2, d_model=16, bias=True)
    torch.manual_seed(0)
    x = torch.randn(2, 6, 16)
    pre = VariantBlock(config, "pre")
    block = Block(config)
    block.load_state_dict(pre.state_dict())
    torch.testing.assert_close(pre(x), block(x))
    post = VariantBlock(config, "post")
    with torch.no_grad():
        ln = post.ln_1
        expected_first = ln(x + post.attn(x))
        expected = post.ln_2(expected_first + post.mlp(expected_first))
        torch.testing.assert_close(post(x), expected)
        bare = VariantBlock(config, "pre", residual=False)
        h = bare.attn(bare.ln_1(x))
        torch.testing.assert_close(bare(x), bare.mlp(bare.ln_2(h)))
        bare_post = VariantBlock(config, "post", residual=False)
        h = bare_post.ln_1(bare_post.attn(x))
        torch.testing.assert_close(bare_post(x), bare_post.ln_2(bare_post.mlp(h)))
    with pytest.raises(ValueError, match="norm must be"):
        VariantBlock(config, "middle")
    with pytest.raises(ValueError, match="residual"):
        VariantBlock(config, "pre", residual="yes")


def test_without_residuals_the_gradient_vanishes_and_positions_collapse():
    torch.manual_seed(123)
    threads, before = torch.get_num_threads(), torch.rand(3)
    torch.manual_seed(123)
    with_res, without = stack_signals("pre", True, 48, seed=1), stack_signals("pre", False, 48, seed=1)
    assert torch.equal(torch.rand(3), before) and torch.get_num_threads() == threads  # global state left alone
    assert len(with_res.param_grad) == len(with_res.input_grad) == len(with_res.token_cosine) == 48
    assert without.input_grad[0] < 1e-6 * with_res.input_grad[0]
    assert without.token_cosine[-1] > 0.99 and with_res.token_cosine[-1] < 0.2
    assert 0.5 < with_res.input_grad[0] / with_res.input_grad[-1] < 2  # the identity path


def test_post_ln_gradients_near_the_output_do_not_shrink_with_depth():
    def last(norm, L):
        return np.mean([stack_signals(norm, True, L, init="xavier", seed=s).mlp_out_grad[-1] for s in range(2)])
    assert last("pre", 24) < 0.7 * last("pre", 3)  # pre-LN: shrinks with depth (Xiong et al. 2020)
    assert last("post", 24) > 0.9 * last("post", 3)  # post-LN: does not
    assert last("post", 24) > 2 * last("pre", 24)
    with pytest.raises(ValueError, match="init"):
        stack_signals("pre", True, 2, init="orthogonal")
