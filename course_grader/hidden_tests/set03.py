"""Hidden tests for the chapter 03 exercises (``solutions/03_transformer_exercises.ipynb``).

They decide the grade; the learner's notebook never contains them. Each test calls the
learner's function on several inputs, other than those of the notebook's check cells,
including edge cases, and compares with a reference: torch's layers, the course's
``course_lib.transformer``, ``course_lib.model`` and ``course_lib.params``, or the parameters
of a model built and counted with ``sum(p.numel())``:

| task | points | cases | reference |
|---|---:|---|---|
| ``sinusoidal_encoding`` | 2 | (max_len, d_model) = (10, 8), (1, 2), (3, 2), (64, 6), (200, 32), (1024, 128); dtype float32; ValueError for an odd d_model; must not call the course's version | ``course_lib.transformer.sinusoidal_encoding`` |
| ``layer_norm`` | 2 | 3-D and 2-D input; d = 1 and constant rows (output = beta); eps = 1e-2; a mean of 1e4 with spread 0.1 in float64 (a one-pass variance cancels); beta = None; float32 and float64; must not call torch's layer norm | ``torch.nn.functional.layer_norm`` |
| ``feed_forward`` | 2 | ReLU, exact GELU and tanh GELU; 3-D and 2-D input; hidden width != 4 d; no biases (None); float64; ValueError for an unknown activation | ``nn.Linear`` + ``nn.ReLU`` layers, ``course_lib.model.MLP`` |
| ``decoder_block`` | 3 | n_head = 1, 2, 3, 4, 8 (d_head = 2); T = 1; with and without biases; tanh GELU; float64; random LayerNorm gains and biases; must not call the block, its attention or its MLP | ``course_lib.model.Block`` |
| ``transformer_param_count`` | 2 | the seeds' nn.Transformer (512, 6 + 6, 2048); d = 1024; small and asymmetric stacks (3 + 1, 1 + 4 layers); d = 2 with a hidden width of 1; an int; must not build a model | ``sum(p.numel())`` of ``nn.Transformer``; ``course_lib.params`` formulas for the large ones |
| ``gpt_param_count`` | 2 | with and without biases, with and without embeddings; GPT-2 small (124,439,808) and GPT-2 XL's non-embedding count; an int; must not build a model | ``GPT(...).num_params()``; ``course_lib.params.gpt_param_count`` for GPT-2 sizes |
| ``rms_norm``, ``apply_rope``, ``swiglu`` | 2, 3, 2 | Llama's parts (notebook 03c), tested in ``set03_llama`` (its docstring has the table) | transformers' ``LlamaRMSNorm``, ``apply_rotary_pos_emb``, ``LlamaMLP``; ``torch.nn.RMSNorm``; RoPE as complex numbers |
| ``position_similarity`` | 2 | an experiment: the learner's similarity matrices of a sinusoidal and a random table, recomputed, and each judgement re-derived from the learner's own matrices; sizes and offsets of the grader's | ``course_lib.transformer.sinusoidal_encoding``; the random table from the given seed |

Tolerances, per element, ``|got - expected| <= atol + rtol * |expected|``:

- positional encodings (float32): atol 1e-5 + 2e-7 * max_len (a float32 angle p * w loses
  about 1e-7 of its value), rtol 0;
- layer norm, feed-forward and block: float32 atol 1e-5, rtol 1e-4; float64 atol 1e-9, rtol 1e-7;
- parameter counts: exact integers.

``decoder_block`` is tested with the references of ``layer_norm`` and ``feed_forward``
substituted into the notebook (``testkit.substitute``), so a mistake in those tasks is not
counted twice.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import params
from course_lib import transformer as tfm
from course_lib.model import GPT, MLP, Block, GPTConfig
from course_grader.hidden_tests import integer
from course_grader.testkit import (
    Forbid, TaskFailed, call, collect_tasks, expect_close, expect_raises, expect_tensor, generator, graded, kind_of,
    learner_function, substitute)

EXERCISE_SET = "03_transformer"

TOL = {torch.float32: dict(atol=1e-5, rtol=1e-4), torch.float64: dict(atol=1e-9, rtol=1e-7)}


def _randn(*shape, seed: int, dtype=torch.float32, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    g = generator(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).mul(scale).add(shift).to(dtype)


# ----------------------------------------------------------------------------- references


def ref_layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor | None = None,
                   eps: float = 1e-5) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)


_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda h: F.gelu(h, approximate="tanh")}


def ref_feed_forward(x, w1, b1, w2, b2, activation: str = "relu") -> torch.Tensor:
    h = _ACTIVATIONS[activation](F.linear(x, w1.T, b1))  # (..., f)
    return F.linear(h, w2.T, b2)  # (..., d)


def _torch_ffn(x, w1, b1, w2, b2, activation):
    """The same FFN from torch / course_lib modules with the given weights (nn.Linear stores W^T)."""
    d, f = w1.shape
    if activation == "relu":
        net = nn.Sequential(nn.Linear(d, f, bias=b1 is not None), nn.ReLU(), nn.Linear(f, d, bias=b2 is not None))
        first, second = net[0], net[2]
    else:
        if f != 4 * d or b1 is None:
            raise AssertionError("the MLP reference needs f = 4 d and biases")
        net = MLP(GPTConfig(vocab_size=2, context_length=2, n_layer=1, n_head=1, d_model=d, bias=True,
                            activation=activation))
        first, second = net.c_fc, net.c_proj
    net = net.to(x.dtype).eval()
    with torch.no_grad():
        first.weight.copy_(w1.T)
        second.weight.copy_(w2.T)
        if b1 is not None:
            first.bias.copy_(b1)
            second.bias.copy_(b2)
        return net(x)


def _block(d: int, n_head: int, bias: bool, seed: int, activation: str = "gelu",
           dtype=torch.float32) -> tuple[Block, dict]:
    """A course_lib Block with every parameter drawn at random (LayerNorm gains around 1), and its spec for the worker."""
    config = dict(vocab_size=2, context_length=64, n_layer=1, n_head=n_head, d_model=d, bias=bias, activation=activation)
    with torch.random.fork_rng():
        block = Block(GPTConfig(**config))
    g = generator(seed)
    with torch.no_grad():
        for name, p in block.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.startswith("ln_") and name.endswith("weight"):
                value = 1.0 + 0.2 * noise
            elif p.dim() == 1:
                value = 0.1 * noise
            else:
                value = noise / p.shape[1] ** 0.5  # (out, in): unit-size outputs
            p.copy_(value)
    block = block.to(dtype).eval()
    return block, {"config": config, "state": block.state_dict(), "dtype": dtype}


def ref_transformer_param_count(d_model, num_encoder_layers, num_decoder_layers, dim_feedforward) -> int:
    parts = params.seq2seq_param_breakdown(1, 1, d_model, num_encoder_layers, num_decoder_layers, dim_feedforward)
    return sum(v for k, v in parts.items() if k not in ("embeddings", "output projection"))


# ----------------------------------------------------------------------------- tests


@graded(2, "the sinusoidal position table of Vaswani et al. (2017)", forbid=Forbid(
    names=("sinusoidal_encoding", "SinusoidalPositionalEncoding"),
    modules=("course_lib.transformer.sinusoidal_encoding", "course_lib.transformer.SinusoidalPositionalEncoding"),
    reason="write the encoding from the formula, not with course_lib's version"))
def test_sinusoidal_encoding(ns: dict) -> None:
    sinusoidal_encoding = learner_function(ns, "sinusoidal_encoding")
    for max_len, d in [(10, 8), (1, 2), (3, 2), (64, 6), (200, 32), (1024, 128)]:
        what = f"sinusoidal_encoding(max_len={max_len}, d_model={d})"
        got = call(sinusoidal_encoding, max_len, d)
        expect_tensor(got, what, shape=(max_len, d), dtype=torch.float32)
        expected = tfm.sinusoidal_encoding(max_len, d)
        atol = 1e-5 + 2e-7 * max_len
        if max_len > 1 and d > 2 and not torch.allclose(got, expected, atol=atol, rtol=0):
            half = torch.cat([expected[:, 0::2], expected[:, 1::2]], dim=1)  # sin block, then cos block
            swapped = expected.reshape(max_len, d // 2, 2).flip(-1).reshape(max_len, d)
            if torch.allclose(got, half, atol=atol, rtol=0):
                raise TaskFailed(f"{what}: the columns are [all sines, all cosines]; the chapter's formula interleaves "
                                 "them: column 2i is sin, column 2i+1 is cos of the same angle")
            if torch.allclose(got, swapped, atol=atol, rtol=0):
                raise TaskFailed(f"{what}: sin and cos are swapped: even columns 2i are sin, odd columns 2i+1 are cos")
        expect_close(got, expected, what, atol=atol, rtol=0.0)
    expect_raises(ValueError, sinusoidal_encoding, 10, 7, what="sinusoidal_encoding(10, d_model=7), an odd width")


@graded(2, "layer normalisation by hand, checked against torch", forbid=Forbid(
    names=("*layernorm*", "*groupnorm*", "*batchnorm*", "*instancenorm*", "*rmsnorm*"),
    reason="layer norm must be written by hand"))
def test_layer_norm(ns: dict) -> None:
    layer_norm = learner_function(ns, "layer_norm")
    f64 = torch.float64
    cases = [
        ("x (2, 5, 8)", _randn(2, 5, 8, seed=1, scale=2.0, shift=0.5), _randn(8, seed=2, shift=1.0),
         _randn(8, seed=3), 1e-5),
        ("x (4, 16) float64", _randn(4, 16, seed=4, dtype=f64), _randn(16, seed=5, dtype=f64, shift=1.0),
         _randn(16, seed=6, dtype=f64), 1e-5),
        ("d = 1 (every output is beta)", _randn(3, 1, seed=7), _randn(1, seed=8), _randn(1, seed=9), 1e-5),
        ("constant rows (every output is beta)", torch.full((2, 6), 3.0), _randn(6, seed=10), _randn(6, seed=11), 1e-5),
        ("eps = 1e-2 and a spread of 0.1, float64", _randn(3, 10, seed=12, dtype=f64, scale=0.1),
         _randn(10, seed=13, dtype=f64, shift=1.0), _randn(10, seed=14, dtype=f64), 1e-2),
        ("mean 1e4 and spread 0.1, float64", _randn(4, 32, seed=15, dtype=f64, scale=0.1, shift=1e4),
         torch.ones(32, dtype=f64), torch.zeros(32, dtype=f64), 1e-5),
        ("beta = None", _randn(2, 3, 12, seed=16), _randn(12, seed=17, shift=1.0), None, 1e-5),
    ]
    for label, x, gamma, beta, eps in cases:
        what = f"layer_norm on {label}"
        args = (x, gamma, beta) if eps == 1e-5 else (x, gamma, beta, eps)
        got = call(layer_norm, *args)
        expect_tensor(got, what, shape=x.shape, dtype=x.dtype)
        expected = ref_layer_norm(x, gamma, beta, eps)
        tol = TOL[x.dtype]
        if x.shape[-1] > 1 and not torch.allclose(got, expected, **tol):
            m = x.mean(-1, keepdim=True)
            unbiased = (x - m) / torch.sqrt(x.var(-1, keepdim=True, correction=1) + eps) * gamma
            unbiased = unbiased + (0 if beta is None else beta)
            outside = (x - m) / (torch.sqrt(x.var(-1, keepdim=True, correction=0)) + eps) * gamma
            outside = outside + (0 if beta is None else beta)
            if torch.allclose(got, outside, **tol):
                raise TaskFailed(f"{what}: eps is added outside the square root; it belongs inside: "
                                 "(x - mean) / sqrt(var + eps)")
            if torch.allclose(got, unbiased, **tol):
                raise TaskFailed(f"{what}: this is the unbiased variance (divided by d - 1); layer norm divides by d: "
                                 "use x.var(dim=-1, correction=0) or the mean of (x - mean)**2")
            if label.startswith("mean 1e4"):
                raise TaskFailed(f"{what}: wrong by up to {float((got - expected).abs().max()):.2g}; compute the variance "
                                 "as the mean of (x - mean)**2, not mean(x**2) - mean**2, which loses every digit when "
                                 "the mean is large")
        expect_close(got, expected, what, **tol)


@graded(2, "the position-wise FFN with ReLU or GELU")
def test_feed_forward(ns: dict) -> None:
    feed_forward = learner_function(ns, "feed_forward")
    f64 = torch.float64

    def weights(d, f, seed, bias=True, dtype=torch.float32):
        w1, w2 = _randn(d, f, seed=seed, dtype=dtype, scale=d ** -0.5), _randn(f, d, seed=seed + 1, dtype=dtype, scale=f ** -0.5)
        b1 = _randn(f, seed=seed + 2, dtype=dtype, scale=0.5) if bias else None
        b2 = _randn(d, seed=seed + 3, dtype=dtype, scale=0.5) if bias else None
        return w1, b1, w2, b2

    cases = [
        ("ReLU, x (2, 5, 8), hidden 32", _randn(2, 5, 8, seed=20), weights(8, 32, 21), "relu"),
        ("ReLU, x (7, 6) without a batch dimension, hidden 10", _randn(7, 6, seed=30), weights(6, 10, 31), "relu"),
        ("ReLU without biases (None), x (2, 4, 6), hidden 12", _randn(2, 4, 6, seed=40), weights(6, 12, 41, bias=False),
         "relu"),
        ("exact GELU, x (2, 3, 8), hidden 32", _randn(2, 3, 8, seed=50), weights(8, 32, 51), "gelu"),
        ("tanh GELU, x (3, 2, 4), hidden 16", _randn(3, 2, 4, seed=60, scale=2.0), weights(4, 16, 61), "gelu_tanh"),
        ("exact GELU, float64, x (2, 3, 6), hidden 24", _randn(2, 3, 6, seed=70, dtype=f64),
         weights(6, 24, 71, dtype=f64), "gelu"),
    ]
    for label, x, (w1, b1, w2, b2), activation in cases:
        what = f"feed_forward with {label}"
        args = (x, w1, b1, w2, b2) if activation == "relu" else (x, w1, b1, w2, b2, activation)
        got = call(feed_forward, *args)
        expect_tensor(got, what, shape=x.shape, dtype=x.dtype)
        expect_close(got, _torch_ffn(x, w1, b1, w2, b2, activation), what, **TOL[x.dtype])
    x, (w1, b1, w2, b2) = _randn(2, 3, 4, seed=80), weights(4, 8, 81)
    expect_raises(ValueError, feed_forward, x, w1, b1, w2, b2, "swish",
                  what="feed_forward(..., activation='swish'), an activation it does not know")


@graded(3, "a pre-LayerNorm GPT block from its weights, checked against course_lib.model.Block", forbid=Forbid(
    modules=("course_lib.model.Block.forward", "course_lib.model.CausalSelfAttention.forward",
             "course_lib.model.MLP.forward", "course_lib.model.GPT"),
    reason="compute the block from its weights; do not call the block, its attention or its MLP"))
def test_decoder_block(ns: dict) -> None:
    decoder_block = learner_function(ns, "decoder_block")
    cases = [
        ("x (2, 5, 16), n_head=4, no biases", (2, 5, 16), dict(n_head=4, bias=False, seed=100)),
        ("x (2, 5, 16), n_head=4, with biases", (2, 5, 16), dict(n_head=4, bias=True, seed=101)),
        ("x (1, 7, 12), n_head=1", (1, 7, 12), dict(n_head=1, bias=False, seed=102)),
        ("x (3, 1, 8), one position, n_head=2", (3, 1, 8), dict(n_head=2, bias=True, seed=103)),
        ("x (2, 6, 16), n_head=8 (d_head = 2)", (2, 6, 16), dict(n_head=8, bias=False, seed=104)),
        ("x (2, 4, 8), tanh GELU, with biases", (2, 4, 8), dict(n_head=2, bias=True, seed=105, activation="gelu_tanh")),
        ("x (2, 5, 12) float64, n_head=3", (2, 5, 12), dict(n_head=3, bias=True, seed=106, dtype=torch.float64)),
    ]
    with substitute(ns, layer_norm=ref_layer_norm, feed_forward=ref_feed_forward):
        for i, (label, shape, kw) in enumerate(cases):
            dtype = kw.get("dtype", torch.float32)
            block, spec = _block(shape[-1], **kw)
            x = _randn(*shape, seed=200 + i, dtype=dtype)
            what = f"decoder_block with {label}"
            got = call(decoder_block, x, ns.make("Block", spec))
            expect_tensor(got, what, shape=x.shape, dtype=dtype)
            with torch.no_grad():
                expected = block(x)
            tol = TOL[dtype]
            right_at_0 = torch.allclose(got.detach()[:, 0], expected[:, 0], **tol)
            if x.shape[1] > 1 and right_at_0 and not torch.allclose(got.detach(), expected, **tol):
                raise TaskFailed(f"{what}: position 0 is right but later positions are not: is the attention "
                                 "causal (position t sees 0..t), and are the heads split and merged as in chapter 02?")
            expect_close(got, expected, what, **tol)


@graded(2, "parameters of nn.Transformer from its sizes", forbid=Forbid(
    names=("Transformer", "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerDecoder", "MultiheadAttention", "Seq2SeqTransformer"),
    modules=("course_lib.params", "course_lib.transformer.Seq2SeqTransformer"),
    reason="count the parameters from the sizes with a formula; do not build the model"))
def test_transformer_param_count(ns: dict) -> None:
    count = learner_function(ns, "transformer_param_count")
    cases = [  # (d_model, encoder layers, decoder layers, dim_feedforward, nhead to build it with, or None: by formula)
        (512, 6, 6, 2048, None),
        (1024, 6, 6, 4096, None),
        (32, 1, 1, 64, 4),
        (16, 3, 1, 40, 2),
        (8, 1, 4, 8, 1),
        (2, 1, 1, 1, 1),
    ]
    for d, le, ld, f, nhead in cases:
        what = f"transformer_param_count(d_model={d}, num_encoder_layers={le}, num_decoder_layers={ld}, dim_feedforward={f})"
        got = integer(call(count, d, le, ld, f), what, "an exact count", tensors=True)
        if nhead is None:
            expected, source = ref_transformer_param_count(d, le, ld, f), "the formula checked in chapter 03"
        else:
            with torch.random.fork_rng(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # nested-tensor advice for odd head counts
                model = nn.Transformer(d, nhead, le, ld, f, dropout=0.0, batch_first=True)
            expected, source = sum(p.numel() for p in model.parameters()), "sum(p.numel()) of nn.Transformer"
        if got == expected:
            continue
        hint = ""
        if got == expected - 4 * d:
            hint = "; each of the two stacks (encoder and decoder) ends with one more LayerNorm (2 d each)"
        elif got == expected - ld * (4 * d * d + 4 * d + 2 * d):
            hint = "; each decoder layer also has a cross-attention (4 d^2 + 4 d) and its LayerNorm (2 d)"
        elif got == expected - (le + ld) * 4 * d - ld * 4 * d:
            hint = "; every attention has biases: 3 d in the input projection and d in the output projection"
        raise TaskFailed(f"{what}: expected {expected:,d} ({source}), got {got:,d}{hint}")


@graded(2, "parameters of the course's GPT from its sizes, with and without embeddings", forbid=Forbid(
    names=("GPT", "Block"), modules=("course_lib.model.GPT", "course_lib.model.Block", "course_lib.params"),
    reason="count the parameters from the sizes with a formula; do not build the model"))
def test_gpt_param_count(ns: dict) -> None:
    count = learner_function(ns, "gpt_param_count")
    cases = [  # (n_layer, d_model, vocab_size, context_length, bias, non_embedding, build the GPT to count it?)
        (2, 64, 256, 64, False, False, True),
        (2, 64, 256, 64, True, False, True),
        (1, 8, 10, 4, True, True, True),
        (3, 48, 1000, 128, False, True, True),
        (4, 32, 97, 16, True, True, True),
        (12, 768, 50257, 1024, True, False, False),  # GPT-2 small: 124,439,808
        (48, 1600, 50257, 1024, True, True, False),  # GPT-2 XL without embeddings
    ]
    for L, d, V, T, bias, non_emb, build in cases:
        what = (f"gpt_param_count(n_layer={L}, d_model={d}, vocab_size={V}, context_length={T}, bias={bias}, "
                f"non_embedding={non_emb})")
        got = integer(call(count, L, d, V, T, bias, non_emb), what, "an exact count", tensors=True)
        if build:
            with torch.random.fork_rng():
                model = GPT(GPTConfig(vocab_size=V, context_length=T, n_layer=L, n_head=4 if d % 4 == 0 else 1,
                                      d_model=d, bias=bias))
            expected, source = model.num_params(non_embedding=non_emb), "GPT(config).num_params()"
        else:
            expected = params.gpt_param_count(L, d, V, T, bias=bias, non_embedding=non_emb)
            source = "the formula checked against GPT2LMHeadModel in chapter 03"
        if got == expected:
            continue
        hint = ""
        if got == expected + V * d and not non_emb:
            hint = "; the output head is tied to the token embedding (the same matrix), so it adds nothing"
        elif got == 12 * L * d * d:
            hint = "; 12 n_layer d_model^2 is the approximation: count LayerNorms (and biases) exactly"
        elif non_emb and got == expected + (V + T) * d:
            hint = "; non_embedding=True leaves out the token and position embeddings"
        elif not non_emb and got == expected - T * d:
            hint = "; the learned position embedding has context_length x d_model parameters"
        raise TaskFailed(f"{what}: expected {expected:,d} ({source}), got {got:,d}{hint}")


from course_grader.hidden_tests.set03_llama import test_rms_norm, test_apply_rope, test_swiglu  # noqa: E402, F401, I001 - tasks 7-9, in order


@graded(2, "an experiment: similarity of positions in a sinusoidal and a random table, and what it depends on")
def test_position_similarity(ns: dict) -> None:
    fn = learner_function(ns, "position_similarity")
    from course_grader.testkit import derive_seed, library

    with substitute(ns, sinusoidal_encoding=library("course_lib.transformer:sinusoidal_encoding")):
        for max_len, d, offsets, seed in ((60, 12, [0, 2, 7], 3), (300, 32, [1, 50, 100], 8), (20, 4, [3], 1)):
            seed = derive_seed(seed) % 100_000
            what = f"position_similarity({max_len}, {d}, {offsets}, seed={seed})"
            got = call(fn, max_len, d, offsets, seed)
            if not isinstance(got, dict) or not {"sinusoidal", "random", "offset_only"} <= set(got):
                raise TaskFailed(f"{what}: expected a dict with 'sinusoidal', 'random' and 'offset_only', got "
                                 f"{kind_of(got)}")
            P = max_len - max(offsets)
            tables = {"sinusoidal": tfm.sinusoidal_encoding(max_len, d).double(),
                      "random": torch.randn(max_len, d, generator=torch.Generator().manual_seed(seed)).double()}
            judgement = got["offset_only"]
            for name, pe in tables.items():
                expected = torch.stack([(pe[:P] * pe[k:k + P]).sum(-1) for k in offsets], dim=1)
                mine = expect_tensor(got[name], f"{what}: {name}", shape=(P, len(offsets)))
                expect_close(mine.double(), expected, f"{what}: {name} similarities", atol=1e-3, rtol=1e-4)
                own = bool((mine.double().amax(0) - mine.double().amin(0)).max() <= 1e-3 * d)
                if not isinstance(judgement, dict) or judgement.get(name) is not own:
                    raise TaskFailed(f"{what}: offset_only[{name!r}] should be {own}, the judgement your own "
                                     f"{name} matrix makes (every column's max - min <= 1e-3 d_model), got "
                                     f"{judgement.get(name) if isinstance(judgement, dict) else judgement!r}")


TASKS = collect_tasks(globals())
