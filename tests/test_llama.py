"""course_lib.llama_layers and course_lib.llama: RMSNorm, RoPE, SwiGLU, grouped-query attention, ModernGPT.

Unit checks in the manner of Stanford CS336's assignment 1: fixed inputs, reference outputs
from an independent computation (NumPy formulas in float64, or transformers' own Llama
modules with the same weights), stated tolerances. Tolerances: 1e-6 against transformers
(the same float32 operations), 1e-5 against the float64 formulas (float32 rounding), 1e-12
where both sides are float64.
"""
import math

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
from transformers.models.llama import modeling_llama as hf

from course_lib.llama import LlamaBlock, ModernGPT, ModernGPTConfig, check_hf_llama_config, from_hf, to_hf
from course_lib.llama_layers import (
    GroupedQueryAttention,
    RMSNorm,
    SwiGLU,
    apply_rope,
    repeat_kv,
    rope_cos_sin,
    rope_frequencies,
    swiglu_hidden_size,
)
from course_lib.params import llama_param_count

pytestmark = pytest.mark.usefixtures("one_thread")

AGAINST_HF = 1e-6  # same float32 arithmetic
AGAINST_FORMULA = 1e-5  # float32 against a float64 formula


def hf_config(**overrides) -> LlamaConfig:
    """A tiny Llama config: 6 query heads sharing 2 key/value heads, head_dim 8."""
    kw = dict(vocab_size=97, hidden_size=48, intermediate_size=128, num_hidden_layers=2, num_attention_heads=6,
              num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
              rope_parameters={"rope_type": "default", "rope_theta": 500.0}, tie_word_embeddings=True,
              bos_token_id=None, eos_token_id=None)
    kw.update(overrides)
    return LlamaConfig(**kw)


def randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random norm gains too (they start at 1, which would hide a missing gain)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
    return model.eval()


# ----------------------------------------------------------------------------- RMSNorm


def test_rmsnorm_matches_the_formula_on_fixed_numbers():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-2.0, 0.5, 0.0, 1.5]])
    gain = torch.tensor([1.0, 0.5, 2.0, -1.0])
    norm = RMSNorm(4, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(gain)
    xn = x.double().numpy()
    expected = xn / np.sqrt((xn ** 2).mean(axis=-1, keepdims=True) + 1e-6) * gain.double().numpy()
    # row 0: rms = sqrt(30 / 4) = 2.7386..., so y = [0.3651, 0.3651, 2.1909, -1.4606]
    assert expected[0] == pytest.approx([0.36515, 0.36515, 2.19089, -1.46059], abs=1e-5)
    assert np.allclose(norm(x).detach().numpy(), expected, atol=AGAINST_FORMULA)


def test_rmsnorm_equals_transformers_and_torch():
    torch.manual_seed(0)
    x = 3 * torch.randn(2, 5, 16) + 1
    ours, theirs, torchs = RMSNorm(16, eps=1e-5), hf.LlamaRMSNorm(16, eps=1e-5), torch.nn.RMSNorm(16, eps=1e-5)
    randomised(ours)
    with torch.no_grad():
        theirs.weight.copy_(ours.weight)
        torchs.weight.copy_(ours.weight)
        torch.testing.assert_close(ours(x), theirs(x), atol=AGAINST_HF, rtol=0)
        torch.testing.assert_close(ours(x), torchs(x), atol=1e-5, rtol=0)


def test_rmsnorm_is_layernorm_without_centring():
    torch.manual_seed(1)
    x = torch.randn(4, 32)
    x = x - x.mean(-1, keepdim=True)  # zero mean: then the two agree
    ln = torch.nn.LayerNorm(32, eps=1e-6, elementwise_affine=False)
    torch.testing.assert_close(RMSNorm(32, eps=1e-6)(x), ln(x), atol=1e-5, rtol=0)
    assert not torch.allclose(RMSNorm(32)(x + 1), ln(x + 1), atol=1e-2)  # and with a mean they do not


# ----------------------------------------------------------------------------- RoPE


def rope_by_complex_numbers(x: np.ndarray, positions: np.ndarray, base: float) -> np.ndarray:
    """RoPE as Su et al. write it: pair i of each head is a complex number, multiplied by e^{j p theta_i}.

    Pairs follow Hugging Face's layout, (x_i, x_{i + hd/2}). x: (..., T, hd) float64.
    """
    hd = x.shape[-1]
    theta = base ** (-np.arange(0, hd, 2) / hd)  # (hd/2,)
    z = x[..., : hd // 2] + 1j * x[..., hd // 2 :]
    z = z * np.exp(1j * positions[:, None] * theta[None, :])  # (T, hd/2) broadcast
    return np.concatenate([z.real, z.imag], axis=-1)


def test_rope_on_fixed_numbers():
    # head_dim 4: pairs (0, 2) and (1, 3) turn at 1 and 10000^(-1/2) = 0.01 radians per position
    x = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 1, 4).expand(1, 1, 3, 4).contiguous()
    cos, sin = rope_cos_sin(torch.arange(3), 4)
    out = apply_rope(x, cos, sin)[0, 0]
    expected = torch.tensor([[1.0, 0.0, 0.0, 1.0],
                             [math.cos(1), -math.sin(0.01), math.sin(1), math.cos(0.01)],
                             [math.cos(2), -math.sin(0.02), math.sin(2), math.cos(0.02)]])
    torch.testing.assert_close(out, expected, atol=AGAINST_FORMULA, rtol=0)


@pytest.mark.parametrize("base", [10000.0, 100000.0])
def test_rope_equals_complex_multiplication(base):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 40, 16))  # (B, H, T, hd)
    positions = np.arange(40)
    cos, sin = rope_cos_sin(torch.arange(40), 16, base)
    ours = apply_rope(torch.tensor(x, dtype=torch.float32), cos, sin).double().numpy()
    assert np.allclose(ours, rope_by_complex_numbers(x, positions, base), atol=AGAINST_FORMULA)


def test_rope_equals_transformers():
    config = hf_config(rope_parameters={"rope_type": "default", "rope_theta": 100000.0}, hidden_size=64,
                       num_attention_heads=4, num_key_value_heads=4)
    torch.manual_seed(0)
    q, k = torch.randn(2, 4, 50, 16), torch.randn(2, 4, 50, 16)
    position_ids = torch.arange(50)[None].expand(2, 50)
    hf_cos, hf_sin = hf.LlamaRotaryEmbedding(config)(q, position_ids)  # (B, T, hd)
    hf_q, hf_k = hf.apply_rotary_pos_emb(q, k, hf_cos, hf_sin)
    cos, sin = rope_cos_sin(torch.arange(50), 16, 100000.0)
    torch.testing.assert_close(cos, hf_cos[0], atol=AGAINST_HF, rtol=0)
    torch.testing.assert_close(apply_rope(q, cos, sin), hf_q, atol=AGAINST_HF, rtol=0)
    torch.testing.assert_close(apply_rope(k, cos, sin), hf_k, atol=AGAINST_HF, rtol=0)
    per_row = rope_cos_sin(position_ids, 16, 100000.0)  # (B, T, hd) positions also work
    torch.testing.assert_close(apply_rope(q, *per_row), hf_q, atol=AGAINST_HF, rtol=0)


def test_rope_at_later_positions_and_one_offset_per_row():
    # a later chunk of a long sequence (positions 1000..1029) in row 0, positions 7..36 in row 1
    config = hf_config(rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, hidden_size=64,
                       num_attention_heads=4, num_key_value_heads=4)
    torch.manual_seed(0)
    q, k = torch.randn(2, 4, 30, 16), torch.randn(2, 4, 30, 16)
    position_ids = torch.stack([torch.arange(1000, 1030), torch.arange(7, 37)])  # (B, T)
    hf_q, hf_k = hf.apply_rotary_pos_emb(q, k, *hf.LlamaRotaryEmbedding(config)(q, position_ids))
    cos, sin = rope_cos_sin(position_ids, 16, 10000.0)  # (B, T, hd)
    torch.testing.assert_close(apply_rope(q, cos, sin), hf_q, atol=AGAINST_HF, rtol=0)
    torch.testing.assert_close(apply_rope(k, cos, sin), hf_k, atol=AGAINST_HF, rtol=0)
    # the same rows one at a time with (T, hd) tables: row 1 is not rotated by row 0's positions
    for b in range(2):
        torch.testing.assert_close(apply_rope(q[b:b + 1], *rope_cos_sin(position_ids[b], 16)), hf_q[b:b + 1],
                                   atol=AGAINST_HF, rtol=0)
    # against complex multiplication: in float64 to rounding; in float32 the angle p * theta of a
    # position near 1000 is rounded to about 1000 * 2^-24 = 6e-5 radians, hence the looser bound
    x = q.double().numpy()
    expected = np.stack([rope_by_complex_numbers(x[b], position_ids[b].numpy(), 10000.0) for b in range(2)])
    cos64, sin64 = rope_cos_sin(position_ids, 16, 10000.0, dtype=torch.float64)
    assert np.allclose(apply_rope(q.double(), cos64, sin64).numpy(), expected, atol=1e-12)
    assert np.allclose(apply_rope(q, cos, sin).double().numpy(), expected, atol=1e-3)
    assert not np.allclose(apply_rope(q, cos, sin)[0].double().numpy(), expected[0], atol=1e-6)


def test_rope_scores_depend_only_on_the_offset_and_keep_lengths():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 32), torch.randn(1, 1, 1, 32)
    scores = []
    for start in (0, 7, 100):
        cq, sq = rope_cos_sin(torch.tensor([start + 5]), 32)
        ck, sk = rope_cos_sin(torch.tensor([start]), 32)
        rq, rk = apply_rope(q, cq, sq), apply_rope(k, ck, sk)
        torch.testing.assert_close(rq.norm(), q.norm(), atol=1e-5, rtol=0)  # a rotation
        scores.append((rq * rk).sum().item())
    assert scores == pytest.approx([scores[0]] * 3, abs=1e-4)
    cq, sq = rope_cos_sin(torch.tensor([9]), 32)
    assert abs((apply_rope(q, cq, sq) * k).sum().item() - scores[0]) > 1e-2  # another offset, another score


def test_rope_frequencies_ladder():
    f = rope_frequencies(8, 10000.0)
    assert f.tolist() == pytest.approx([1.0, 0.1, 0.01, 0.001], rel=1e-6)


def test_float64_stays_float64():
    # LlamaRMSNorm and LlamaRotaryEmbedding round a float64 model to float32; these parts do not,
    # so float64 checks (gradcheck, incremental decoding against the full pass) reach 1e-12
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    norm = RMSNorm(6, eps=1e-6).double()
    xn = x.numpy()
    expected = xn / np.sqrt((xn ** 2).mean(axis=-1, keepdims=True) + 1e-6)
    assert norm(x).dtype == torch.float64 and np.allclose(norm(x).detach().numpy(), expected, atol=1e-12, rtol=0)
    cos, sin = rope_cos_sin(torch.arange(5), 2, dtype=torch.float64)  # head_dim 2: d_model 6, 3 heads
    assert cos.dtype == sin.dtype == torch.float64
    torch.manual_seed(0)
    attn, mlp = GroupedQueryAttention(6, 3, 1).double(), SwiGLU(6, 10).double()
    randomised(norm)
    for f in (norm, mlp, lambda t: attn(t, cos, sin)):
        assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(),))
    model = ModernGPT(ModernGPTConfig(vocab_size=30, context_length=16, n_layer=2, n_head=2, n_kv_head=1,
                                      d_model=8)).double().eval()
    ids = torch.randint(30, (2, 9))
    with torch.no_grad():
        logits64 = model(ids)[0]
        assert logits64.dtype == torch.float64
        torch.testing.assert_close(model.float()(ids)[0], logits64.float(), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- SwiGLU


def test_swiglu_on_fixed_numbers():
    mlp = SwiGLU(2, 2)
    with torch.no_grad():
        mlp.gate_proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        mlp.up_proj.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, -1.0]]))
        mlp.down_proj.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
        y = mlp(torch.tensor([[1.0, -2.0]]))
    # gate (1, -2) -> silu (sigmoid(1), -2 sigmoid(-2)) = (0.731059, -0.238406); up (2, 2);
    # product (1.462117, -0.476812); down: (1.462117 - 0.476812, -0.476812)
    assert y[0].tolist() == pytest.approx([0.985305, -0.476812], abs=1e-5)


def test_swiglu_equals_the_formula_and_transformers():
    torch.manual_seed(0)
    mlp = SwiGLU(16, 40)
    x = torch.randn(3, 7, 16)
    W_g, W_u, W_d = (m.weight.detach().double().numpy() for m in (mlp.gate_proj, mlp.up_proj, mlp.down_proj))
    xn = x.double().numpy()
    a = xn @ W_g.T
    expected = ((a / (1 + np.exp(-a))) * (xn @ W_u.T)) @ W_d.T  # silu(a) = a * sigmoid(a)
    assert np.allclose(mlp(x).detach().numpy(), expected, atol=AGAINST_FORMULA)
    theirs = hf.LlamaMLP(hf_config(hidden_size=16, intermediate_size=40, num_attention_heads=2,
                                   num_key_value_heads=2))
    theirs.load_state_dict(mlp.state_dict())  # same parameter names
    torch.testing.assert_close(mlp(x), theirs(x), atol=AGAINST_HF, rtol=0)


def test_swiglu_hidden_size_reproduces_published_widths():
    # Llama 7B (d 4096 -> 11008), TinyLlama 1.1B (2048 -> 5632), SmolLM2-135M (576 -> 1536)
    assert [swiglu_hidden_size(d) for d in (4096, 2048, 576)] == [11008, 5632, 1536]
    # at 8d/3 the three matrices hold GPT-2's 8 d^2
    assert 3 * 576 * swiglu_hidden_size(576) == 8 * 576 ** 2


# ----------------------------------------------------------------------------- grouped-query attention


def test_repeat_kv_is_repeat_interleave():
    x = torch.randn(2, 3, 5, 4)
    assert torch.equal(repeat_kv(x, 4), torch.repeat_interleave(x, 4, dim=1))


@pytest.mark.parametrize("n_kv_head", [1, 2, 6])
def test_gqa_equals_transformers_llama_attention(n_kv_head):
    config = hf_config(num_key_value_heads=n_kv_head)
    config._attn_implementation = "eager"  # the written-out path, with an explicit causal mask
    theirs = hf.LlamaAttention(config, layer_idx=0).eval()
    ours = GroupedQueryAttention(48, 6, n_kv_head)
    torch.manual_seed(n_kv_head)
    for p in ours.parameters():
        torch.nn.init.normal_(p, std=0.2)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 20, 48)
    cos, sin = rope_cos_sin(torch.arange(20), 8, 500.0)
    mask = torch.full((20, 20), float("-inf")).triu(1)[None, None]  # additive causal mask
    with torch.no_grad():
        expected, _ = theirs(x, position_embeddings=(cos[None], sin[None]), attention_mask=mask)
        torch.testing.assert_close(ours(x, cos, sin), expected, atol=AGAINST_HF, rtol=0)


def test_gqa_is_multi_head_attention_with_shared_key_value_heads():
    torch.manual_seed(0)
    gqa, mha = GroupedQueryAttention(32, 4, 2), GroupedQueryAttention(32, 4, 4)
    with torch.no_grad():
        mha.q_proj.weight.copy_(gqa.q_proj.weight)
        mha.o_proj.weight.copy_(gqa.o_proj.weight)
        for name in ("k_proj", "v_proj"):  # kv head j serves query heads 2j and 2j + 1
            w = getattr(gqa, name).weight.view(2, 8, 32)
            getattr(mha, name).weight.copy_(torch.repeat_interleave(w, 2, dim=0).reshape(32, 32))
    x = torch.randn(1, 9, 32)
    cos, sin = rope_cos_sin(torch.arange(9), 8)
    torch.testing.assert_close(gqa(x, cos, sin), mha(x, cos, sin), atol=1e-6, rtol=0)
    assert sum(p.numel() for p in gqa.parameters()) == 4 * 32 * 32 - 2 * 32 * 16  # W_k, W_v at half width


def test_llama_block_equals_transformers_decoder_layer():
    config = hf_config()
    config._attn_implementation = "eager"
    theirs = randomised(hf.LlamaDecoderLayer(config, layer_idx=0), seed=3)
    ours = LlamaBlock(ModernGPTConfig(vocab_size=97, context_length=64, n_layer=1, n_head=6, n_kv_head=2,
                                      d_model=48, d_hidden=128, rope_base=500.0))
    ours.load_state_dict({k.replace("input_layernorm", "norm_1").replace("post_attention_layernorm", "norm_2")
                         .replace("self_attn", "attn"): v for k, v in theirs.state_dict().items()})
    x = torch.randn(2, 12, 48)
    cos, sin = rope_cos_sin(torch.arange(12), 8, 500.0)
    with torch.no_grad():
        mask = torch.full((12, 12), float("-inf")).triu(1)[None, None]  # additive causal mask
        expected = theirs(x, attention_mask=mask, position_embeddings=(cos[None], sin[None]))
        torch.testing.assert_close(ours(x, cos, sin), expected, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- the whole model


@pytest.mark.parametrize("overrides", [
    {},
    {"tie_word_embeddings": False, "num_key_value_heads": 3},
    {"num_key_value_heads": 1, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}},
], ids=["tied-gqa", "untied-gqa3", "mqa"])
def test_from_hf_and_to_hf_give_the_same_logits(overrides, tmp_path):
    torch.manual_seed(0)
    theirs = randomised(LlamaForCausalLM(hf_config(**overrides)))
    ours = from_hf(theirs)
    tied = theirs.config.tie_word_embeddings
    assert (ours.lm_head.weight is ours.wte.weight) == tied  # one tensor when tied, two when not
    ids = torch.randint(97, (3, 40))
    with torch.no_grad():
        expected = theirs(ids).logits
        torch.testing.assert_close(ours(ids)[0], expected, atol=1e-5, rtol=0)
        assert ours.num_params(False) == sum(p.numel() for p in theirs.parameters())
        back = to_hf(ours)
        assert (back.lm_head.weight.data_ptr() == back.model.embed_tokens.weight.data_ptr()) == tied
        back.save_pretrained(tmp_path)
        reloaded = LlamaForCausalLM.from_pretrained(tmp_path).eval()
        torch.testing.assert_close(reloaded(ids).logits, expected, atol=1e-5, rtol=0)
    assert (reloaded.config.tie_word_embeddings, reloaded.config.num_key_value_heads) == (
        theirs.config.tie_word_embeddings, theirs.config.num_key_value_heads)


def test_real_smollm2_gives_the_same_logits(smollm2):
    model, tokenizer = smollm2
    ours = from_hf(model).eval()
    assert ours.config.n_kv_head == 3 and ours.config.tie_embeddings
    ids = tokenizer("The capital of France is Paris. The capital of Italy is", return_tensors="pt").input_ids
    with torch.no_grad():
        diff = (ours(ids)[0] - model(ids).logits).abs().max().item()
        assert diff < 1e-4
        hf_back = to_hf(ours).eval()
        assert (hf_back(ids).logits - model(ids).logits).abs().max().item() < 1e-4
    c = model.config
    n = llama_param_count(c.num_hidden_layers, c.hidden_size, c.vocab_size, c.num_attention_heads,
                          c.num_key_value_heads, c.intermediate_size, tied=True, non_embedding=False)
    assert n == ours.num_params(False) == sum(p.numel() for p in model.parameters())


def test_the_model_is_causal_batches_rows_independently_and_learns():
    torch.manual_seed(0)
    model = ModernGPT(ModernGPTConfig(vocab_size=50, context_length=32, n_layer=2, n_head=4, n_kv_head=2, d_model=32))
    a = torch.randint(50, (2, 16))
    b = a.clone()
    b[:, 10:] = (b[:, 10:] + 1) % 50
    with torch.no_grad():
        torch.testing.assert_close(model(a)[0][:, :10], model(b)[0][:, :10], atol=1e-6, rtol=0)
        for row in range(2):  # a row's logits do not depend on the other rows of the batch
            torch.testing.assert_close(model(a[row:row + 1])[0], model(a)[0][row:row + 1], atol=1e-5, rtol=0)
        targets = a[:, 1:].clone()
        targets[0, :5] = -100  # ignored positions
        logits, loss = model(a[:, :-1], targets)
        log_p = torch.log_softmax(logits.double(), dim=-1)
        kept = targets != -100
        expected = -log_p[kept].gather(1, targets[kept][:, None]).mean()
        assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    _, loss0 = model(a[:, :-1], a[:, 1:])
    assert abs(loss0.item() - math.log(50)) < 0.2
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(30):
        _, loss = model(a[:, :-1], a[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * loss0.item()


def test_llama_param_count_matches_modules():
    for kw in (dict(n_head=4, n_kv_head=4, tie_embeddings=True), dict(n_head=8, n_kv_head=2, tie_embeddings=False)):
        cfg = ModernGPTConfig(vocab_size=101, context_length=16, n_layer=3, d_model=64, **kw)
        model = ModernGPT(cfg)
        for non_embedding in (True, False):
            assert llama_param_count(3, 64, 101, cfg.n_head, cfg.n_kv_head, cfg.d_hidden, cfg.tie_embeddings,
                                     non_embedding) == model.num_params(non_embedding)
    # multi-head attention and an MLP of 8d/3: GPT-2's 12 d^2 + 2d per block (no biases)
    assert llama_param_count(1, 576, 10, 9, 9, 1536) - 576 == 12 * 576 ** 2 + 2 * 576


# ----------------------------------------------------------------------------- bad input


def test_bad_shapes_and_sizes_say_what_to_do():
    with pytest.raises(ValueError, match="last dimension is 8"):
        RMSNorm(8)(torch.randn(2, 7))
    with pytest.raises(ValueError, match="head_dim must be even"):
        rope_frequencies(7)
    with pytest.raises(ValueError, match="head_dim .* is odd"):
        ModernGPTConfig(vocab_size=10, context_length=8, n_layer=1, n_head=4, n_kv_head=4, d_model=12)
    with pytest.raises(ValueError, match="n_kv_head=4 must divide n_head=6"):
        GroupedQueryAttention(48, 6, 4)
    with pytest.raises(ValueError, match="n_kv_head=4 must divide n_head=6"):
        ModernGPTConfig(vocab_size=10, context_length=8, n_layer=1, n_head=6, n_kv_head=4, d_model=48)
    with pytest.raises(ValueError, match="cos and sin must be"):
        cos, sin = rope_cos_sin(torch.arange(5), 8)
        apply_rope(torch.randn(1, 2, 6, 8), cos, sin)
    with pytest.raises(ValueError, match="batch, heads, time, head_dim"):
        apply_rope(torch.randn(6, 8), *rope_cos_sin(torch.arange(6), 8))
    with pytest.raises(ValueError, match="B = 2"):  # positions for 3 rows, queries for 2
        apply_rope(torch.randn(2, 1, 5, 8), *rope_cos_sin(torch.zeros(3, 5, dtype=torch.long), 8))
    with pytest.raises(ValueError, match="integer tensor"):
        rope_cos_sin(torch.arange(5.0), 8)
    with pytest.raises(ValueError, match=">= 0"):
        rope_cos_sin(torch.arange(-1, 4), 8)
    with pytest.raises(ValueError, match="float32 .* or torch.float64"):
        rope_cos_sin(torch.arange(5), 8, dtype=torch.float16)
    model = ModernGPT(ModernGPTConfig(vocab_size=10, context_length=8, n_layer=1, n_head=2, n_kv_head=1, d_model=8))
    with pytest.raises(ValueError, match="context_length is 8"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.full((1, 3), 10))
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("overrides, setting", [
    ({"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}}, "rope_type='linear'"),
    ({"rope_parameters": {"rope_type": "llama3", "factor": 8.0, "rope_theta": 500000.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, "rope_type='llama3'"),
    ({"attention_bias": True}, "attention_bias=True"),
    ({"mlp_bias": True}, "mlp_bias=True"),
    ({"hidden_act": "gelu"}, "hidden_act='gelu'"),
    ({"head_dim": 16}, "head_dim=16"),
    ({"attention_dropout": 0.1}, "attention_dropout=0.1"),
])
def test_from_hf_names_the_unsupported_setting(overrides, setting):
    model = LlamaForCausalLM(hf_config(**overrides))
    with pytest.raises(ValueError, match=setting.replace("(", r"\(")):
        from_hf(model)


def test_from_hf_refuses_other_families_and_sliding_windows():
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2))
    with pytest.raises(ValueError, match="LlamaForCausalLM, got GPT2LMHeadModel"):
        from_hf(gpt2)
    config = hf_config()
    config.sliding_window = 4096  # what Mistral-style configs carry
    with pytest.raises(ValueError, match="sliding_window=4096"):
        check_hf_llama_config(config)
    config = hf_config()
    config.model_type = "mistral"
    with pytest.raises(ValueError, match="'mistral'"):
        check_hf_llama_config(config)
    with pytest.raises(ValueError, match="expects a ModernGPT"):
        to_hf(gpt2)


def test_gqa_refuses_a_wrong_width_and_its_first_query_reads_only_the_first_key():
    attn = GroupedQueryAttention(16, 4, 2)
    with pytest.raises(ValueError, match="last dimension is 16"):
        attn(torch.randn(1, 3, 12), *rope_cos_sin(torch.arange(3), 4))
    # the causal mask: the first query reads only the first key, so its output is v_0's projection
    x = torch.randn(1, 5, 16)
    out = attn(x, *rope_cos_sin(torch.arange(5), 4))
    v0 = repeat_kv(attn.v_proj(x[:, :1]).view(1, 1, 2, 4).transpose(1, 2), 2)  # (1, 4, 1, 4)
    torch.testing.assert_close(out[:, 0], attn.o_proj(v0.transpose(1, 2).reshape(1, 16)), atol=1e-6, rtol=0)
