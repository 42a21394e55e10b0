"""Hidden tests for the chapter 02 exercises (``solutions/02_attention_exercises.ipynb``).

They decide the grade; the learner's notebook never contains them. Each test calls the
learner's function on several inputs, other than those of the notebook's check cells,
including edge cases, and compares with torch:

| task | points | cases | reference |
|---|---:|---|---|
| ``softmax`` | 2 | 2-D and 3-D, ``dim`` = -1, 0, 1; float32 and float64; entries of +-1e4 (float32) and 800 (float64), where a naive ``exp`` overflows; ``-inf`` entries; a dimension of size 1; must not call torch's softmax | ``torch.softmax`` |
| ``scaled_dot_product_attention`` | 3 | batch and head dimensions; T_q != T_k; d_v != d_k; d_k = 1; a causal mask broadcast over batch and heads; a padding mask with a fully masked sequence (zero weights, zero output, no NaN); large scores; float64 | ``F.scaled_dot_product_attention`` for the output, ``torch.softmax`` of the masked scores for the weights |
| ``causal_mask`` | 1 | T = 4, 1, 33: shape, dtype bool, values | ``torch.ones(T, T, dtype=torch.bool).tril()`` |
| ``split_heads`` | 2 | n_head = 1, 3, d_model; float64; ValueError when n_head does not divide d_model | ``course_lib.attention.split_heads`` |
| ``merge_heads`` | 1 | the (non-contiguous) output of split_heads; n_head = 1 and d_head = 1; a contiguous input | ``course_lib.attention.merge_heads`` |
| ``multi_head_attention`` | 3 | n_head = 2, 1, d_model (d_head = 1); with a causal mask; float64 | ``nn.MultiheadAttention(bias=False, batch_first=True)`` |

Tolerances, per element, ``|got - expected| <= atol + rtol * |expected|``:

- softmax: float32 atol 1e-6, rtol 1e-5; float64 atol 1e-12, rtol 1e-10;
- attention and multi-head attention: float32 atol 1e-5, rtol 1e-4; float64 atol 1e-10, rtol 1e-8;
- masks and head reshapes: exact.

A task that builds on earlier ones is tested with references substituted into the notebook
(``testkit.substitute``): torch's softmax, and ``course_lib.attention``'s attention, masks and
head reshapes, so a wrong softmax costs the softmax task only.

"Write it yourself": ``softmax`` must not use any function whose name contains ``softmax``
(torch's, ``F.softmax``, ``Tensor.softmax``, ``torch._softmax``, ``nn.Softmax``, under any
alias), nor ``softmin``; checked in the notebook's source and, at run time, on torch's
operators.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import attention as ref
from course_grader.hidden_tests import randn
from course_grader.testkit import (
    Forbid, TaskFailed, call, collect_tasks, expect_close, expect_raises, expect_tensor, graded, kind_of, learner_function,
    library, substitute)

EXERCISE_SET = "02_attention"

TOL = {torch.float32: dict(atol=1e-5, rtol=1e-4), torch.float64: dict(atol=1e-10, rtol=1e-8)}
SOFTMAX_TOL = {torch.float32: dict(atol=1e-6, rtol=1e-5), torch.float64: dict(atol=1e-12, rtol=1e-10)}



def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


# ----------------------------------------------------------------------------- references


def ref_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return torch.softmax(x, dim=dim)


def ref_weights(q, k, mask=None) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1).nan_to_num(0.0)


def ref_multi_head(x, w_q, w_k, w_v, w_o, n_head, mask=None) -> torch.Tensor:
    d_model = x.shape[-1]
    mha = nn.MultiheadAttention(d_model, n_head, bias=False, batch_first=True).to(x.dtype).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([w_q.T, w_k.T, w_v.T]))  # nn.Linear stores W^T
        mha.out_proj.weight.copy_(w_o.T)
        out, _ = mha(x, x, x, attn_mask=None if mask is None else ~mask, need_weights=False)  # True = blocked there
    return out


SOFTMAX_FORBID = Forbid(names=("*softmax*", "softmin"),
                        reason="softmax must be written by hand, with exp, max and sum")


# ----------------------------------------------------------------------------- tests


@graded(2, "numerically stable softmax, by hand", forbid=SOFTMAX_FORBID)
def test_softmax(ns: dict) -> None:
    softmax = learner_function(ns, "softmax")
    cases = [
        ("random (4, 7), dim=-1", randn(4, 7, seed=1, scale=3.0), -1),
        ("random (2, 3, 5) float64, dim=1", randn(2, 3, 5, seed=2, dtype=torch.float64), 1),
        ("random (3, 4), dim=0", randn(3, 4, seed=3), 0),
        ("random (2, 6, 3), dim=-2", randn(2, 6, 3, seed=4, scale=2.0), -2),
        ("large entries (+-1e4, float32)", torch.tensor([[1e4, 1e4 - 1, 1e4 - 2], [-1e4, -1e4 + 3, -1e4 + 1],
                                                        [1e4, 0.0, -1e4]]), -1),
        ("large entries (800, float64)", torch.tensor([[800.0, 799.0, 797.0]], dtype=torch.float64), -1),
        ("entries of -inf", torch.tensor([[0.0, float("-inf"), 1.0], [float("-inf"), 2.0, 2.0]]), -1),
        ("a dimension of size 1", randn(3, 1, seed=5), -1),
    ]
    for label, x, dim in cases:
        got = call(softmax, x, dim=dim)
        what = f"softmax on {label}"
        expect_tensor(got, what, shape=x.shape, dtype=x.dtype)
        expect_close(got, ref_softmax(x, dim), what, **SOFTMAX_TOL[x.dtype])


@graded(3, "softmax(q k^T / sqrt(d_k), masked) v, returning (output, weights)")
def test_scaled_dot_product_attention(ns: dict) -> None:
    attention = learner_function(ns, "scaled_dot_product_attention")
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    padding = ref.padding_mask([3, 0], 6)  # (2, 1, 1, 6); the second sequence has no key at all
    cases = [
        ("q, k, v of shape (2, 3, 4, 8)", randn(2, 3, 4, 8, seed=10), randn(2, 3, 4, 8, seed=11),
         randn(2, 3, 4, 8, seed=12), None),
        ("no batch dims, T_q=5, T_k=7, d_k=6, d_v=3", randn(5, 6, seed=13), randn(7, 6, seed=14),
         randn(7, 3, seed=15), None),
        ("d_k = 1", randn(2, 4, 1, seed=16), randn(2, 6, 1, seed=17), randn(2, 6, 2, seed=18), None),
        ("a (5, 5) causal mask broadcast over (2, 2, 5, 8)", randn(2, 2, 5, 8, seed=19), randn(2, 2, 5, 8, seed=20),
         randn(2, 2, 5, 8, seed=21), causal),
        ("a padding mask (2, 1, 1, 6) with a fully masked sequence", randn(2, 2, 4, 8, seed=22),
         randn(2, 2, 6, 8, seed=23), randn(2, 2, 6, 5, seed=24), padding),
        ("large scores (q and k scaled by 30)", randn(1, 4, 16, seed=25, scale=30.0), randn(1, 4, 16, seed=26, scale=30.0),
         randn(1, 4, 16, seed=27), None),
        ("float64, with a causal mask", randn(3, 5, 4, seed=28, dtype=torch.float64),
         randn(3, 5, 4, seed=29, dtype=torch.float64), randn(3, 5, 4, seed=30, dtype=torch.float64), causal),
    ]
    with substitute(ns, softmax=ref_softmax):
        for label, q, k, v, mask in cases:
            got = call(attention, q, k, v) if mask is None else call(attention, q, k, v, mask)
            what = f"scaled_dot_product_attention with {label}"
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                kind = f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else kind_of(got)
                raise TaskFailed(f"{what}: expected a tuple (output, weights), got {kind}")
            out, weights = got
            batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
            w_expected = ref_weights(q, k, mask)
            o_expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            tol = TOL[q.dtype]
            expect_tensor(weights, f"{what}: weights", shape=(*batch, q.shape[-2], k.shape[-2]), dtype=q.dtype)
            if mask is not None and torch.isnan(weights).any():
                raise TaskFailed(f"{what}: weights contain NaN; a query that may attend to no key must get "
                                 "all-zero weights (and a zero output)")
            expect_close(weights, w_expected, f"{what}: weights", **tol)
            expect_tensor(out, f"{what}: output", shape=(*batch, q.shape[-2], v.shape[-1]), dtype=q.dtype)
            expect_close(out, o_expected, f"{what}: output", **tol)


@graded(1, "lower-triangular bool mask, True = may attend")
def test_causal_mask(ns: dict) -> None:
    causal_mask = learner_function(ns, "causal_mask")
    for T in (4, 1, 33):
        got = call(causal_mask, T)
        what = f"causal_mask({T})"
        expected = torch.ones(T, T, dtype=torch.bool).tril()
        expect_tensor(got, what, shape=(T, T))
        if got.dtype != torch.bool:
            raise TaskFailed(f"{what}: expected dtype torch.bool (True = may attend), got {got.dtype}")
        if T > 1 and torch.equal(got, ~expected):
            raise TaskFailed(f"{what}: True marks the blocked positions; in this course True means *may attend*")
        expect_close(got, expected, what)


@graded(2, "(B, T, d_model) -> (B, n_head, T, d_head)")
def test_split_heads(ns: dict) -> None:
    split_heads = learner_function(ns, "split_heads")
    cases = [
        (randn(2, 5, 12, seed=40), 3),
        (randn(2, 5, 12, seed=41), 1),
        (randn(2, 5, 12, seed=42), 12),
        (randn(1, 1, 8, seed=43, dtype=torch.float64), 2),
    ]
    for x, n_head in cases:
        B, T, d_model = x.shape
        what = f"split_heads(x of shape {tuple(x.shape)} {_dtype_name(x.dtype)}, n_head={n_head})"
        got = call(split_heads, x, n_head)
        expect_tensor(got, what, shape=(B, n_head, T, d_model // n_head), dtype=x.dtype)
        expect_close(got, ref.split_heads(x, n_head), what, atol=0.0, rtol=0.0)
    expect_raises(ValueError, split_heads, randn(2, 5, 12, seed=44), 5,
                  what="split_heads(x of shape (2, 5, 12), n_head=5), where 5 does not divide 12")


@graded(1, "(B, n_head, T, d_head) -> (B, T, d_model)")
def test_merge_heads(ns: dict) -> None:
    merge_heads = learner_function(ns, "merge_heads")
    cases = [
        ("split_heads(x, 3) of x (2, 5, 12), not contiguous", ref.split_heads(randn(2, 5, 12, seed=50), 3)),
        ("split_heads(x, 1) of x (2, 5, 12)", ref.split_heads(randn(2, 5, 12, seed=51), 1)),
        ("split_heads(x, 12) of x (2, 5, 12), d_head = 1", ref.split_heads(randn(2, 5, 12, seed=52), 12)),
        ("a contiguous (2, 4, 3, 5) float64 tensor", randn(2, 4, 3, 5, seed=53, dtype=torch.float64)),
    ]
    for label, x in cases:
        B, h, T, d = x.shape
        what = f"merge_heads of {label}"
        got = call(merge_heads, x)
        expect_tensor(got, what, shape=(B, T, h * d), dtype=x.dtype)
        expect_close(got, ref.merge_heads(x), what, atol=0.0, rtol=0.0)


@graded(3, "multi-head self-attention, checked against nn.MultiheadAttention")
def test_multi_head_attention(ns: dict) -> None:
    mha = learner_function(ns, "multi_head_attention")
    causal = torch.ones(5, 5, dtype=torch.bool).tril()

    def weights(d, seed, dtype=torch.float32):
        return [randn(d, d, seed=seed + i, dtype=dtype, scale=1 / math.sqrt(d)) for i in range(4)]

    cases = [
        ("x (2, 5, 8), n_head=2", randn(2, 5, 8, seed=60), weights(8, 61), 2, None),
        ("x (2, 5, 8), n_head=1", randn(2, 5, 8, seed=70), weights(8, 71), 1, None),
        ("x (2, 5, 8), n_head=8 (d_head = 1)", randn(2, 5, 8, seed=80), weights(8, 81), 8, None),
        ("x (3, 5, 12), n_head=3, causal mask", randn(3, 5, 12, seed=90), weights(12, 91), 3, causal),
        ("x (1, 5, 6) float64, n_head=2, causal mask", randn(1, 5, 6, seed=100, dtype=torch.float64),
         weights(6, 101, torch.float64), 2, causal),
    ]
    with substitute(ns, softmax=ref_softmax,
                    scaled_dot_product_attention=library("course_lib.attention:scaled_dot_product_attention"),
                    split_heads=library("course_lib.attention:split_heads"),
                    merge_heads=library("course_lib.attention:merge_heads"),
                    causal_mask=library("course_lib.attention:causal_mask")):
        for label, x, (w_q, w_k, w_v, w_o), n_head, mask in cases:
            what = f"multi_head_attention with {label}"
            if mask is None:
                got = call(mha, x, w_q, w_k, w_v, w_o, n_head)
            else:
                got = call(mha, x, w_q, w_k, w_v, w_o, n_head, mask)
            if isinstance(got, (tuple, list)):
                raise TaskFailed(f"{what}: expected the output tensor only, got a {type(got).__name__} "
                                 f"of length {len(got)}")
            expect_tensor(got, what, shape=x.shape, dtype=x.dtype)
            expect_close(got, ref_multi_head(x, w_q, w_k, w_v, w_o, n_head, mask), what, **TOL[x.dtype])



def ref_attention_entropy(dims, n: int, seed: int) -> dict:
    """The experiment, as its docstring prescribes: per d, q then k from a generator seeded ``seed``."""
    out = {"scaled": [], "unscaled": []}
    for d in dims:
        g = torch.Generator().manual_seed(seed)
        q, k = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
        for name, s in (("scaled", math.sqrt(d)), ("unscaled", 1.0)):
            w = torch.softmax(q @ k.T / s, dim=-1)
            out[name].append(float(torch.special.entr(w).sum(-1).mean()))  # entr(0) = 0
    return out


@graded(2, "an experiment: mean attention entropy against the width, with and without 1/sqrt(d)")
def test_attention_entropy(ns: dict) -> None:
    fn = learner_function(ns, "attention_entropy")
    from course_grader.testkit import derive_seed

    for dims, n, seed in (([3, 12, 48, 192], 40, 5), ([1, 16, 256, 1024], 24, 11), ([2, 4, 8], 16, 2)):
        seed = derive_seed(seed) % 100_000
        what = f"attention_entropy({dims}, n={n}, seed={seed})"
        got = call(fn, dims, n, seed)
        if not isinstance(got, dict) or not {"scaled", "unscaled", "flat"} <= set(got):
            raise TaskFailed(f"{what}: expected a dict with 'scaled', 'unscaled' and 'flat', got {kind_of(got)}")
        expected = ref_attention_entropy(dims, n, seed)
        for name in ("scaled", "unscaled"):
            values = got[name]
            if not isinstance(values, (list, tuple)) or len(values) != len(dims):
                raise TaskFailed(f"{what}: '{name}' should hold {len(dims)} numbers, one per d")
            expect_close(torch.tensor([float(v) for v in values], dtype=torch.float64),
                         torch.tensor(expected[name], dtype=torch.float64), f"{what}: {name} entropies",
                         atol=1e-4, rtol=1e-4)
        spread = {name: max(got[name]) - min(got[name]) for name in ("scaled", "unscaled")}
        if got["flat"] != min(spread, key=spread.get):
            raise TaskFailed(f"{what}: 'flat' should be {min(spread, key=spread.get)!r}, the version whose entropies "
                             f"span the smaller range by your own numbers ({spread['scaled']:.3f} scaled, "
                             f"{spread['unscaled']:.3f} unscaled), got {got['flat']!r}")


TASKS = collect_tasks(globals())
