"""course_lib.attention against torch: F.scaled_dot_product_attention and nn.MultiheadAttention."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.attention import (
    MultiHeadAttention,
    causal_mask,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    split_heads,
)

ATOL = 1e-5


def qkv(B=2, h=3, T_q=5, T_k=7, d_k=8, d_v=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, h, T_q, d_k, generator=g)
    k = torch.randn(B, h, T_k, d_k, generator=g)
    v = torch.randn(B, h, T_k, d_v, generator=g)
    return q, k, v


# ----------------------------------------------------------------------------- masks


def test_causal_mask_is_lower_triangular_true_means_may_attend():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    expected = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(m, expected)


def test_padding_mask_marks_the_first_lengths_positions():
    m = padding_mask([3, 1, 0], 4)
    assert m.shape == (3, 1, 1, 4) and m.dtype == torch.bool
    assert m[:, 0, 0].int().tolist() == [[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("lengths", [[5, 2], [[3, 2]], [-1, 2]])
def test_padding_mask_rejects_bad_lengths(lengths):
    with pytest.raises(ValueError, match="lengths"):
        padding_mask(lengths, 4)


# ----------------------------------------------------------------------------- scaled dot-product


def test_formula_written_out():
    q, k, v = qkv()
    out, w = scaled_dot_product_attention(q, k, v)
    by_hand = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    assert torch.allclose(w, by_hand, atol=ATOL)
    assert torch.allclose(out, by_hand @ v, atol=ATOL)


def test_matches_torch_without_mask():
    q, k, v = qkv()
    out, w = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 5, 6) and w.shape == (2, 3, 5, 7)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=ATOL)
    assert torch.allclose(w.sum(-1), torch.ones(2, 3, 5), atol=ATOL)


def test_matches_torch_with_causal_mask():
    q, k, v = qkv(T_q=6, T_k=6)
    out, w = scaled_dot_product_attention(q, k, v, causal_mask(6))
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=ATOL)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(6)), atol=ATOL)
    assert torch.all(w.triu(diagonal=1) == 0), "a position attended to the future"
    assert torch.allclose(w.sum(-1), torch.ones(2, 3, 6), atol=ATOL)


def test_matches_torch_with_padding_mask():
    q, k, v = qkv(T_k=7)
    mask = padding_mask([7, 4], 7)  # (2, 1, 1, 7)
    out, w = scaled_dot_product_attention(q, k, v, mask)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=ATOL)
    assert torch.all(w[1, :, :, 4:] == 0), "padded keys got weight"
    assert torch.allclose(w.sum(-1), torch.ones(2, 3, 5), atol=ATOL)
    # padding a sequence must not change the result on its real keys
    out_short, _ = scaled_dot_product_attention(q[1:], k[1:, :, :4], v[1:, :, :4])
    assert torch.allclose(out[1:], out_short, atol=ATOL)


def test_fully_masked_row_gives_zeros_like_torch():
    q, k, v = qkv(T_q=4, T_k=5)
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[1] = False  # query 1 may attend to nothing
    out, w = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.isfinite(out).all() and torch.isfinite(w).all()
    assert torch.all(w[..., 1, :] == 0) and torch.all(out[..., 1, :] == 0)
    assert torch.allclose(out, ref, atol=ATOL)
    assert torch.allclose(w[..., [0, 2, 3], :].sum(-1), torch.ones(2, 3, 3), atol=ATOL)


def test_custom_scale_matches_torch():
    q, k, v = qkv()
    out, _ = scaled_dot_product_attention(q, k, v, scale=0.5)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, scale=0.5), atol=ATOL)
    assert not torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-3)


def test_sdpa_rejects_bad_inputs():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="d_k"):
        scaled_dot_product_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="T_k"):
        scaled_dot_product_attention(q, k, v[..., :3, :])
    with pytest.raises(ValueError, match="bool"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 7))  # float mask


# ----------------------------------------------------------------------------- heads


def test_split_merge_round_trip_and_shapes():
    x = torch.randn(2, 5, 12)
    h = split_heads(x, 3)
    assert h.shape == (2, 3, 5, 4)
    assert torch.equal(h[:, 1], x[..., 4:8])  # head 1 owns dimensions 4..7
    assert torch.equal(merge_heads(h), x)


def test_split_heads_rejects_non_divisor():
    with pytest.raises(ValueError, match="divide"):
        split_heads(torch.randn(2, 5, 12), 5)


# ----------------------------------------------------------------------------- multi-head vs nn.MultiheadAttention


def pair(d_model=16, n_head=4, bias=True, seed=0):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d_model, n_head, bias=bias, batch_first=True).eval()
    with torch.no_grad():  # non-zero biases, so a bias copied to the wrong place is caught
        if bias:
            ref.in_proj_bias.normal_()
            ref.out_proj.bias.normal_()
    ours = MultiHeadAttention(d_model, n_head, bias=bias).load_from_torch(ref).eval()
    return ours, ref


@pytest.mark.parametrize("bias", [True, False])
def test_mha_self_attention_matches_torch(bias):
    ours, ref = pair(bias=bias)
    x = torch.randn(2, 6, 16)
    out, w = ours(x, x, x)
    ref_out, ref_w = ref(x, x, x, need_weights=True, average_attn_weights=False)
    assert w.shape == (2, 4, 6, 6)
    assert torch.allclose(out, ref_out, atol=ATOL)
    assert torch.allclose(w, ref_w, atol=ATOL)
    _, ref_mean = ref(x, x, x, need_weights=True)  # default: averaged over heads
    assert torch.allclose(w.mean(1), ref_mean, atol=ATOL)


def test_mha_causal_mask_uses_the_opposite_convention_in_torch():
    ours, ref = pair()
    x = torch.randn(2, 6, 16)
    allowed = causal_mask(6)  # True = may attend (ours)
    out, w = ours(x, x, x, allowed)
    ref_out, ref_w = ref(x, x, x, attn_mask=~allowed, need_weights=True)  # True = blocked (torch)
    assert torch.allclose(out, ref_out, atol=ATOL)
    assert torch.allclose(w.mean(1), ref_w, atol=ATOL)
    # passing our mask unconverted blocks the past instead of the future: the results differ,
    # and the last query, which may see every key in our convention, sees none (NaN in torch)
    wrong_out, _ = ref(x, x, x, attn_mask=allowed)
    assert not torch.allclose(out[:, :-1], wrong_out[:, :-1], atol=1e-3)
    assert torch.isnan(wrong_out[:, -1]).all()


def test_mha_cross_attention_with_padding_matches_torch():
    ours, ref = pair()
    query, memory = torch.randn(2, 3, 16), torch.randn(2, 7, 16)
    lengths = [7, 4]
    keep = padding_mask(lengths, 7)  # (B, 1, 1, T_k), True = real key
    out, w = ours(query, memory, memory, keep)
    ref_out, ref_w = ref(query, memory, memory, key_padding_mask=~keep[:, 0, 0], need_weights=True)
    assert out.shape == (2, 3, 16) and w.shape == (2, 4, 3, 7)
    assert torch.allclose(out, ref_out, atol=ATOL)
    assert torch.allclose(w.mean(1), ref_w, atol=ATOL)
    assert torch.all(w[1, ..., 4:] == 0)


def test_mha_causal_plus_padding_matches_torch():
    ours, ref = pair()
    x = torch.randn(2, 6, 16)
    keep = causal_mask(6) & padding_mask([6, 3], 6)  # (B, 1, 6, 6)
    out, w = ours(x, x, x, keep)
    ref_out, ref_w = ref(x, x, x, attn_mask=~causal_mask(6), key_padding_mask=~padding_mask([6, 3], 6)[:, 0, 0])
    assert torch.allclose(out, ref_out, atol=ATOL)
    assert torch.allclose(w.mean(1), ref_w, atol=ATOL)


def test_load_from_torch_rejects_mismatch_and_kdim():
    with pytest.raises(ValueError, match="heads"):
        MultiHeadAttention(16, 4).load_from_torch(nn.MultiheadAttention(16, 2, batch_first=True))
    with pytest.raises(ValueError, match="kdim"):
        MultiHeadAttention(16, 4).load_from_torch(nn.MultiheadAttention(16, 4, kdim=8, vdim=8, batch_first=True))


def test_mha_rejects_bad_inputs():
    with pytest.raises(ValueError, match="divide"):
        MultiHeadAttention(16, 3)
    with pytest.raises(ValueError, match="divide"):
        MultiHeadAttention(16, 0)
    mha = MultiHeadAttention(16, 4)
    with pytest.raises(ValueError, match="query"):
        mha(torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="bool"):
        x = torch.randn(1, 3, 16)
        mha(x, x, x, torch.ones(3, 3))
