"""Hidden tests of set 03's Llama tasks (notebook 03c): ``rms_norm``, ``apply_rope``, ``swiglu``.

Their own module (``set03`` is long enough); ``set03`` imports the three tests in the
notebook's order. References: transformers' ``LlamaRMSNorm``, ``LlamaRotaryEmbedding`` with
``apply_rotary_pos_emb`` and ``LlamaMLP`` given the same weights, ``torch.nn.RMSNorm``,
``F.layer_norm``, ``course_lib.llama_layers.swiglu_hidden_size``, and RoPE as a complex
multiplication written out here in float64 (``ref_rope``).

| task | points | cases | reference |
|---|---:|---|---|
| ``rms_norm`` | 2 | x (4,), (2, 3, 8), (2, 6, 32) with eps = 1e-5, float64 (3, 5, 16); a non-unit gain (with 0 and negative entries) applied after normalising; centred input (= LayerNorm without bias, same gain); eps inside the square root (values of size 1e-3, eps = 1e-4); a row of zeros; ValueError for a gain of the wrong length | ``torch.nn.RMSNorm``, ``LlamaRMSNorm``, ``F.layer_norm``, the float64 formula |
| ``apply_rope`` | 3 | x (B, h, T, hd), (T, hd) and (h, T, hd); float32 and float64; positions 0..T-1, from 1000, not in order, up to 4096; base 10,000 and 500,000; position 0 is the identity; norms kept; q . k the same after shifting both positions by 1000; ValueError for an odd hd and for positions of the wrong length | ``ref_rope`` (complex numbers); transformers' ``LlamaRotaryEmbedding`` + ``apply_rotary_pos_emb`` |
| ``swiglu`` | 2 | x (2, 5, 16) and (7, 8) against ``LlamaMLP`` with the same weights; float64; gate inputs of size up to about 6 that tell silu from sigmoid, GELU and ReLU; hidden width 1; ``swiglu_hidden_size`` for d = 4096, 2048, 576 (11008, 5632, 1536), 5120, 768, other ``multiple_of``; an int; ValueError for d = 0 | ``LlamaMLP``; ``F.silu`` formula; ``course_lib.llama_layers.swiglu_hidden_size`` |

Tolerances, per element, ``|got - expected| <= atol + rtol * |expected|``: float32 atol 1e-5,
rtol 1e-4; float64 atol 1e-9, rtol 1e-7. RoPE in float32 adds ``2e-7 * max position * max |x|``
to atol (a float32 angle p * theta_i keeps about 7 digits of its value); against transformers,
whose angles are float32, the same. Hidden sizes: exact integers.

Each task forbids the library versions (torch's and transformers' norms, transformers' rotary
functions and MLP, ``course_lib.llama_layers`` and ``course_lib.llama``).
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from course_grader.hidden_tests import integer, randn
from course_grader.testkit import (
    Forbid, TaskFailed, call, expect_close, expect_raises, expect_tensor, generator, graded, learner_function)
from course_lib.llama_layers import swiglu_hidden_size as ref_swiglu_hidden_size

__all__ = ["test_rms_norm", "test_apply_rope", "test_swiglu", "ref_rms_norm", "ref_rope", "ref_swiglu"]

TOL = {torch.float32: dict(atol=1e-5, rtol=1e-4), torch.float64: dict(atol=1e-9, rtol=1e-7)}
LLAMA = ("course_lib.llama_layers", "course_lib.llama", "transformers.models.llama.modeling_llama")


def _hf():
    """transformers' Llama modules, imported on first use (a few seconds)."""
    from transformers import LlamaConfig
    from transformers.models.llama import modeling_llama

    return LlamaConfig, modeling_llama


def _close(got, expected: torch.Tensor, **tol) -> bool:
    return isinstance(got, torch.Tensor) and got.shape == expected.shape and bool(
        torch.allclose(got.double(), expected.double(), **tol))


# ----------------------------------------------------------------------------- RMSNorm


def ref_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """weight * x / sqrt(mean(x**2) + eps) over the last dimension, in float64, returned in x's dtype."""
    x64 = x.double()
    return (weight.double() * x64 / torch.sqrt(x64.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _gain(d: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    return (1.0 + 0.5 * randn(d, seed=seed, dtype=torch.float64)).to(dtype)


def _rms_hint(got, x, weight, eps, tol) -> str:
    x64, w64 = x.double(), weight.double()
    ms = x64.pow(2).mean(-1, keepdim=True)
    wrong = {
        "eps is added outside the square root; it belongs inside: x / sqrt(mean(x**2) + eps)":
            w64 * x64 / (ms.sqrt() + eps),
        "the gain is applied before normalising; normalise x first, then multiply by weight":
            ref_rms_norm(x64 * w64, torch.ones_like(w64), eps),
        "this subtracts the mean (that is LayerNorm); RMSNorm only divides by the root mean square":
            F.layer_norm(x64, (x.shape[-1],), w64, None, eps),
        "this divides by the mean square, not by its square root": w64 * x64 / (ms + eps),
    }
    for hint, value in wrong.items():
        if _close(got, value.to(x.dtype), **tol):
            return "; " + hint
    return ""


@graded(2, "RMSNorm by hand, checked against transformers' LlamaRMSNorm and torch.nn.RMSNorm", forbid=Forbid(
    names=("*rmsnorm*", "*layernorm*"), modules=LLAMA,
    reason="RMSNorm must be written by hand, not with torch's, transformers' or course_lib's"))
def test_rms_norm(ns) -> None:
    fn = learner_function(ns, "rms_norm")
    _, hf = _hf()
    f64 = torch.float64

    def torch_norm(d, weight, eps, dtype=torch.float32):
        module = torch.nn.RMSNorm(d, eps=eps, dtype=dtype)
        with torch.no_grad():
            module.weight.copy_(weight)
            return module

    def llama_norm(d, weight, eps):
        module = hf.LlamaRMSNorm(d, eps=eps)
        with torch.no_grad():
            module.weight.copy_(weight)
            return module

    centred = randn(3, 4, 10, seed=7, scale=2.0)
    centred = centred - centred.mean(-1, keepdim=True)
    zero_row = randn(3, 6, seed=9)
    zero_row[1] = 0.0
    cases = [  # label, x, weight, eps (None: the default 1e-6), reference module or None (the formula)
        ("x (4,), torch.nn.RMSNorm", randn(4, seed=1, scale=2.0), _gain(4, 2), None, "torch"),
        ("x (2, 3, 8), LlamaRMSNorm", randn(2, 3, 8, seed=3, scale=3.0), _gain(8, 4), None, "llama"),
        ("x (2, 6, 32), eps=1e-5, LlamaRMSNorm", randn(2, 6, 32, seed=5), _gain(32, 6), 1e-5, "llama"),
        ("x (3, 5, 16) float64, torch.nn.RMSNorm in float64", randn(3, 5, 16, seed=8, dtype=f64),
         _gain(16, 10, dtype=f64), None, "torch"),
        ("a gain with zero and negative entries, linspace(-2, 3, 12)", randn(2, 4, 12, seed=11, scale=1.5),
         torch.linspace(-2.0, 3.0, 12), None, "torch"),
        ("values of size 1e-3 with eps=1e-4 (eps matters), float64", randn(4, 8, seed=12, dtype=f64, scale=1e-3),
         _gain(8, 13, dtype=f64), 1e-4, None),
        ("a row of zeros (its output is 0)", zero_row, _gain(6, 14), None, None),
    ]
    for label, x, weight, eps, module in cases:
        what = f"rms_norm on {label}"
        got = call(fn, x, weight) if eps is None else call(fn, x, weight, eps)
        eps = 1e-6 if eps is None else eps
        expect_tensor(got, what, shape=x.shape, dtype=x.dtype)
        tol = TOL[x.dtype]
        if module == "torch":
            with torch.no_grad():
                expected = torch_norm(x.shape[-1], weight, eps, x.dtype)(x)
        elif module == "llama":
            with torch.no_grad():
                expected = llama_norm(x.shape[-1], weight, eps)(x)
        else:
            expected = ref_rms_norm(x, weight, eps)
        if not _close(got, expected, **tol):
            hint = _rms_hint(got, x, weight, eps, tol)
            if hint:
                raise TaskFailed(f"{what}: wrong values{hint}")
        expect_close(got, expected, what, **tol)
        expect_close(got, ref_rms_norm(x, weight, eps), f"{what}, against the float64 formula", **tol)

    weight = _gain(10, 15)
    what = "rms_norm on centred input (mean 0 in every row), x (3, 4, 10)"
    got = call(fn, centred, weight)
    expect_close(got, F.layer_norm(centred, (10,), weight, None, 1e-6),
                 f"{what}: on centred input RMSNorm equals LayerNorm without bias and with the same gain", **TOL[torch.float32])
    expect_raises(ValueError, fn, randn(2, 8, seed=16), torch.ones(6),
                  what="rms_norm(x of shape (2, 8), weight of shape (6,)): a gain whose length is not x's last dimension")


# ----------------------------------------------------------------------------- RoPE


def ref_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0, sign: float = 1.0,
             adjacent: bool = False) -> torch.Tensor:
    """RoPE as complex multiplication, in float64: pair i = x_i + j x_{i + hd/2}, times exp(j p theta_i).

    ``adjacent`` pairs (x_{2i}, x_{2i+1}) instead (the paper's layout) and ``sign = -1`` turns the
    other way: two wrong versions, for the failure messages.
    """
    hd = x.shape[-1]
    x64 = x.double()
    if adjacent:
        real, imag = x64[..., 0::2], x64[..., 1::2]
    else:
        real, imag = x64[..., : hd // 2], x64[..., hd // 2:]
    theta = 1.0 / base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)  # (hd/2,)
    angle = sign * positions.double()[:, None] * theta  # (T, hd/2)
    z = torch.complex(real, imag) * torch.polar(torch.ones_like(angle), angle)
    if adjacent:
        out = torch.stack([z.real, z.imag], dim=-1).flatten(-2)
    else:
        out = torch.cat([z.real, z.imag], dim=-1)
    return out.to(x.dtype)


def _rope_tol(x: torch.Tensor, positions: torch.Tensor) -> dict:
    if x.dtype == torch.float64:
        return dict(TOL[torch.float64])
    top = float(positions.abs().max()) if positions.numel() else 0.0
    return dict(atol=1e-5 + 2e-7 * top * float(x.abs().max()), rtol=1e-4)


def _rope_case(fn, x, positions, base, what) -> torch.Tensor:
    got = call(fn, x, positions) if base is None else call(fn, x, positions, base)
    base = 10000.0 if base is None else base
    expect_tensor(got, what, shape=x.shape, dtype=x.dtype)
    expected, tol = ref_rope(x, positions, base), _rope_tol(x, positions)
    if not _close(got, expected, **tol):
        if _close(got, ref_rope(x, positions, base, adjacent=True), **tol):
            raise TaskFailed(f"{what}: these are the paper's adjacent pairs (x_0, x_1), (x_2, x_3), ...; Hugging Face "
                             "(and this task) pair coordinate i with i + hd/2 (rotate_half)")
        if _close(got, ref_rope(x, positions, base, sign=-1.0), **tol):
            raise TaskFailed(f"{what}: each pair turns the wrong way; (a, b) at angle t becomes "
                             "(a cos t - b sin t, a sin t + b cos t)")
        if x.dtype == torch.float64 and _close(got, expected, **_rope_tol(x.float(), positions)):
            raise TaskFailed(f"{what}: right to float32 precision only; compute the angles p * theta_i in float64 "
                             "(then cast cos and sin to x's dtype)")
    expect_close(got, expected, what, **tol)
    return got


@graded(3, "rotary position embedding, Hugging Face's pairing, against complex numbers and transformers", forbid=Forbid(
    names=("*rotary*", "rotate_half"), modules=LLAMA + ("transformers.modeling_rope_utils",),
    reason="RoPE must be written by hand, not with transformers' rotary functions or course_lib's"))
def test_apply_rope(ns) -> None:
    fn = learner_function(ns, "apply_rope")
    f64 = torch.float64
    scattered = torch.sort(torch.randperm(3000, generator=generator(29))[:6]).values + 1  # six positions in 1..3000
    cases = [  # label, x, positions, base (None: the default)
        ("x (2, 3, 10, 8) float64, positions 0..9", randn(2, 3, 10, 8, seed=20, dtype=f64), torch.arange(10), None),
        ("x (5, 16) float32 (no batch, no heads), positions 3..7", randn(5, 16, seed=21), torch.arange(3, 8), None),
        ("x (1, 2, 6, 32) float64, positions 1000..1005, base=500000", randn(1, 2, 6, 32, seed=22, dtype=f64),
         torch.arange(1000, 1006), 500000.0),
        ("x (4, 4, 64) float32, positions [7, 0, 3, 4096] (not in order)", randn(4, 4, 64, seed=23),
         torch.tensor([7, 0, 3, 4096]), None),
        (f"x (2, 2, 6, 12) float64, positions {scattered.tolist()}", randn(2, 2, 6, 12, seed=24, dtype=f64),
         scattered, 10000.0),
        ("x (1, 1, 3, 2) float64 (one pair), positions 0..2", randn(1, 1, 3, 2, seed=25, dtype=f64), torch.arange(3),
         None),
    ]
    for label, x, positions, base in cases:
        _rope_case(fn, x, positions, base, f"apply_rope on {label}")

    x = randn(3, 5, 12, seed=26)
    what = "apply_rope at position 0 (every angle 0: the identity)"
    expect_close(call(fn, x, torch.zeros(5, dtype=torch.int64)), x, what, atol=1e-6, rtol=0.0)
    x = randn(2, 7, 16, seed=27, dtype=f64)
    got = call(fn, x, torch.arange(500, 507))
    expect_close(expect_tensor(got, "apply_rope", shape=x.shape).norm(dim=-1), x.norm(dim=-1),
                 "apply_rope keeps every vector's length (a rotation), x (2, 7, 16) float64 at positions 500..506",
                 atol=1e-9, rtol=1e-9)

    qk = randn(2, 16, seed=28, dtype=f64)  # a query and a key
    for m, n in ((5, 2), (0, 9), (17, 17)):
        scores = []
        for shift in (0, 1000):
            q = expect_tensor(call(fn, qk[:1], torch.tensor([m + shift])), "apply_rope(q)", shape=(1, 16))
            k = expect_tensor(call(fn, qk[1:], torch.tensor([n + shift])), "apply_rope(k)", shape=(1, 16))
            scores.append(float((q.double() * k.double()).sum()))
        if abs(scores[0] - scores[1]) > 1e-8 * max(1.0, abs(scores[0])):
            raise TaskFailed(f"apply_rope: the score q . k with q at position {m} and k at {n} is {scores[0]:.10g}, "
                             f"but {scores[1]:.10g} with both moved by 1000; RoPE's score depends only on m - n")

    LlamaConfig, hf = _hf()
    for base, offset in ((10000.0, 0), (500000.0, 20)):
        config = LlamaConfig(vocab_size=8, hidden_size=64, intermediate_size=8, num_hidden_layers=1,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                             rope_parameters={"rope_type": "default", "rope_theta": base})
        q, k = randn(2, 4, 7, 16, seed=30 + offset), randn(2, 2, 7, 16, seed=31 + offset)
        positions = torch.arange(offset, offset + 7)
        cos, sin = hf.LlamaRotaryEmbedding(config)(q, positions[None].expand(2, -1))  # (B, T, hd) each, float32
        q_hf, k_hf = hf.apply_rotary_pos_emb(q, k, cos, sin)
        tol = _rope_tol(q, positions)
        for name, x, expected in (("q (2, 4, 7, 16)", q, q_hf), ("k (2, 2, 7, 16)", k, k_hf)):
            what = f"apply_rope on {name}, positions {offset}..{offset + 6}, base={base:g}"
            expect_close(call(fn, x, positions, base), expected,
                         f"{what}, against transformers' LlamaRotaryEmbedding + apply_rotary_pos_emb", **tol)

    expect_raises(ValueError, fn, randn(2, 5, 7, seed=32), torch.arange(5), what="apply_rope with an odd head_dim (7)")
    expect_raises(ValueError, fn, randn(2, 5, 8, seed=33), torch.arange(4),
                  what="apply_rope on x of 5 positions (2, 5, 8) with 4 positions")


# ----------------------------------------------------------------------------- SwiGLU


def ref_swiglu(x, w_gate, w_up, w_down, act=F.silu) -> torch.Tensor:
    return (act(x @ w_gate) * (x @ w_up)) @ w_down


def _llama_mlp(x, w_gate, w_up, w_down) -> torch.Tensor:
    LlamaConfig, hf = _hf()
    d, f = w_gate.shape
    config = LlamaConfig(vocab_size=8, hidden_size=d, intermediate_size=f, num_hidden_layers=1, num_attention_heads=1,
                         num_key_value_heads=1, hidden_act="silu", mlp_bias=False)
    with torch.random.fork_rng():
        mlp = hf.LlamaMLP(config).to(x.dtype).eval()
    with torch.no_grad():
        mlp.gate_proj.weight.copy_(w_gate.T)  # nn.Linear stores (out, in)
        mlp.up_proj.weight.copy_(w_up.T)
        mlp.down_proj.weight.copy_(w_down.T)
        return mlp(x)


@graded(2, "Llama's SwiGLU feed-forward from its weights, and its hidden width", functions=("swiglu", "swiglu_hidden_size"),
        forbid=Forbid(names=("*swiglu*", "*mlp"), modules=LLAMA,
                      reason="SwiGLU must be written from its formula, not with transformers' or course_lib's"))
def test_swiglu(ns) -> None:
    fn = learner_function(ns, "swiglu")
    f64 = torch.float64

    def weights(d, f, seed, dtype=torch.float32, gate_scale=1.0):
        return (randn(d, f, seed=seed, dtype=dtype, scale=gate_scale * d ** -0.5),
                randn(d, f, seed=seed + 1, dtype=dtype, scale=d ** -0.5),
                randn(f, d, seed=seed + 2, dtype=dtype, scale=f ** -0.5))

    cases = [  # label, x, weights, reference: "llama" or the formula
        ("x (2, 5, 16), hidden 44, against LlamaMLP", randn(2, 5, 16, seed=40), weights(16, 44, 41), "llama"),
        ("x (7, 8) without a batch dimension, hidden 20, against LlamaMLP", randn(7, 8, seed=44), weights(8, 20, 45),
         "llama"),
        ("x (2, 3, 12) float64, hidden 32", randn(2, 3, 12, seed=48, dtype=f64), weights(12, 32, 49, dtype=f64), None),
        ("gate inputs of size up to about 6 (silu, sigmoid and GELU differ), x (3, 4, 8), hidden 24",
         randn(3, 4, 8, seed=52, scale=2.0), weights(8, 24, 53, gate_scale=1.5), None),
        ("hidden width 1, x (2, 3, 6)", randn(2, 3, 6, seed=56), weights(6, 1, 57), "llama"),
    ]
    for label, x, (w_gate, w_up, w_down), reference in cases:
        what = f"swiglu on {label}"
        got = call(fn, x, w_gate, w_up, w_down)
        expect_tensor(got, what, shape=x.shape, dtype=x.dtype)
        expected = _llama_mlp(x, w_gate, w_up, w_down) if reference == "llama" else ref_swiglu(x, w_gate, w_up, w_down)
        tol = TOL[x.dtype]
        if not _close(got, expected, **tol):
            wrong = {"the gate uses sigmoid(z); silu(z) is z * sigmoid(z)": ref_swiglu(x, w_gate, w_up, w_down, torch.sigmoid),
                     "the gate uses GELU (that is GEGLU); SwiGLU's gate is silu(z) = z * sigmoid(z)":
                         ref_swiglu(x, w_gate, w_up, w_down, F.gelu),
                     "the gate uses ReLU; SwiGLU's gate is silu(z) = z * sigmoid(z)":
                         ref_swiglu(x, w_gate, w_up, w_down, torch.relu),
                     "silu is applied to x @ w_up; it belongs to the gate, x @ w_gate":
                         ref_swiglu(x, w_up, w_gate, w_down),
                     "the up projection is missing: multiply silu(x @ w_gate) by x @ w_up, element by element, "
                     "before w_down":
                         F.silu(x @ w_gate) @ w_down}
            for hint, value in wrong.items():
                if _close(got, value, **tol):
                    raise TaskFailed(f"{what}: wrong values; {hint}")
        expect_close(got, expected, what, **tol)

    size = learner_function(ns, "swiglu_hidden_size")
    for args, model in (((4096,), "Llama 7B"), ((2048,), "TinyLlama 1.1B"), ((576,), "SmolLM2-135M"),
                        ((5120,), "Llama 13B"), ((768,), "a GPT-2-small width"), ((4096, 1024), None),
                        ((100, 1), None), ((1, 1), None), ((3, 1), None), ((1000, 64), None)):
        shown = ", ".join(map(str, args))
        what = f"swiglu_hidden_size({shown})" + (f" ({model})" if model else "")
        got = integer(call(size, *args), what, "a number of features")
        expected = ref_swiglu_hidden_size(*args)
        if got != expected:
            multiple = args[1] if len(args) > 1 else 256
            hint = ""
            if got == expected - multiple:
                hint = "; round int(8 d / 3) up to the next multiple, not down"
            elif got == int(8 * args[0] / 3):
                hint = f"; then round up to a multiple of multiple_of = {multiple}"
            elif got == 4 * args[0]:
                hint = "; a gated MLP has three matrices, so its width is 2/3 of 4 d"
            raise TaskFailed(f"{what}: expected {expected:,d}, got {got:,d}{hint}")
    expect_raises(ValueError, size, 0, what="swiglu_hidden_size(0)")
