"""Hidden test of set 06's key-value cache task, ``kv_cache`` (its own module: ``set06`` is long enough).

The learner writes ``attend_with_cache(q_new, k_new, v_new, cache)``, one step of causal
self-attention that appends the new keys and values to a cache, and
``kv_cache_bytes(n_layer, n_kv_head, head_dim, tokens, bytes_per_value, batch_size=1)``.

| check | cases | reference | tolerance |
|---|---|---|---|
| one position at a time | q, k, v (B, h, T, hd) drawn here, fed one position per call, the learner's own cache passed back each time; (2, 3, 9, 8) float32 and (1, 2, 7, 4) float64 | full causal softmax attention over the whole sequence, written out here in float64 | float32 atol 1e-5, rtol 1e-4; float64 atol 1e-10, rtol 1e-8 |
| the cache | after every call a tuple (K, V), each (B, h, t, hd) for t positions so far, equal to the keys and values given | concatenation | exact |
| chunks | a prompt of 5 positions at once (causal inside the chunk), then single positions; chunks of 3 + 1 + 2; a cache of 0 positions (tensors with T = 0); a cache built here and passed in | the same full attention | as above |
| bad input | ``ValueError`` for a cache whose head_dim or batch differs from the new positions' | | |
| bytes | a small random ``LlamaConfig`` with grouped-query attention (query heads a multiple of the key/value heads, explicit head_dim), float32 and bfloat16, a batch of 1-3 sequences of 3-12 tokens; Llama 2 7B, Llama 3 8B and SmolLM2-135M; 0 tokens; an int; ``ValueError`` for negative tokens | the bytes of transformers' ``DynamicCache`` after ``model(ids, use_cache=True)`` (``course_lib.kv_cache.cache_nbytes``); ``2 L n_kv hd T B bytes`` for the published sizes | exact |

Forbidden: ``F.scaled_dot_product_attention`` (and every torch operator of that name),
``nn.MultiheadAttention``, ``course_lib.kv_cache``, ``course_lib.attention``,
``course_lib.model``, ``course_lib.llm_choice``, ``course_lib.llama_layers`` and transformers' ``cache_utils``.
"""
from __future__ import annotations

import math

import torch

from course_grader.hidden_tests import expect_tuple, integer, randn
from course_grader.testkit import (
    Forbid, TaskFailed, call, expect_close, expect_raises, expect_tensor, graded, learner_function, pyrandom)

__all__ = ["test_kv_cache", "ref_causal_attention"]

TOL = {torch.float32: dict(atol=1e-5, rtol=1e-4), torch.float64: dict(atol=1e-10, rtol=1e-8)}


def ref_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd)) v with position t seeing 0..t, in float64: (B, h, T, hd) -> (B, h, T, hd)."""
    q64, k64, v64 = q.double(), k.double(), v.double()
    T, hd = q.shape[-2], q.shape[-1]
    scores = q64 @ k64.transpose(-2, -1) / math.sqrt(hd)  # (B, h, T, T)
    scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return (scores.softmax(dim=-1) @ v64).to(q.dtype)


def _cache(got, B: int, h: int, t: int, hd: int, k: torch.Tensor, v: torch.Tensor, what: str):
    """The learner's returned cache: a pair (K, V) of (B, h, t, hd), equal to the keys and values so far."""
    pair = expect_tuple(got, ("K", "V"), f"{what}: the cache")
    for name, have, want in (("K", pair[0], k[:, :, :t]), ("V", pair[1], v[:, :, :t])):
        have = expect_tensor(have, f"{what}: cache {name}")
        if tuple(have.shape) != (B, h, t, hd):
            raise TaskFailed(f"{what}: after {t} positions the cache's {name} should have shape (B, h, T, hd) = "
                             f"{(B, h, t, hd)}, got {tuple(have.shape)}")
        if not torch.equal(have, want):
            raise TaskFailed(f"{what}: the cache's {name} should hold the {'keys' if name == 'K' else 'values'} given "
                             "so far, in order (append the new ones along dimension 2)")
    return tuple(pair)


def _run(fn, q, k, v, chunks, what: str, start=None) -> None:
    """Feed q, k, v chunk by chunk (sizes ``chunks``), passing the learner's cache back; compare every output."""
    B, h, T, hd = q.shape
    cache, t, outs = start, 0, []
    if start is not None:
        t = start[0].shape[2]
        outs.append(ref_causal_attention(q, k, v)[:, :, :t])  # the positions cached before the first call
    for n in chunks:
        step = f"{what}, positions {t}..{t + n - 1}" if n > 1 else f"{what}, position {t}"
        got = call(fn, q[:, :, t:t + n], k[:, :, t:t + n], v[:, :, t:t + n], cache)
        out, new_cache = expect_tuple(got, ("out", "cache"), step)
        expect_tensor(out, f"{step}: out", shape=(B, h, n, hd), dtype=q.dtype)
        t += n
        cache = _cache(new_cache, B, h, t, hd, k, v, step)
        expected = ref_causal_attention(q[:, :, :t], k[:, :, :t], v[:, :, :t])[:, :, t - n:]
        tol = TOL[q.dtype]
        if not torch.allclose(out.double(), expected.double(), **tol):
            if torch.allclose(out.double(), v[:, :, t - n:t].double(), **tol) and t > 1:
                raise TaskFailed(f"{step}: each new position returned its own value: its query must attend to every "
                                 "cached key as well as the new ones")
            unscaled = ref_causal_attention(q[:, :, :t] * math.sqrt(hd), k[:, :, :t], v[:, :, :t])[:, :, t - n:]
            if torch.allclose(out.double(), unscaled.double(), **tol):
                raise TaskFailed(f"{step}: the scores are not divided by sqrt(head_dim) = {math.sqrt(hd):g}")
            if n > 1 and torch.allclose(out[:, :, -1].double(), expected[:, :, -1].double(), **tol):
                raise TaskFailed(f"{step}: the last new position is right but the earlier ones are not: inside a chunk "
                                 "of new positions, position P + i may attend only to positions 0 .. P + i (causal)")
        expect_close(out, expected, f"{step}: out, against full causal attention", **tol)
        outs.append(out)
    whole = torch.cat(outs, dim=2)
    expect_close(whole, ref_causal_attention(q, k, v), f"{what}: every output together, against full causal attention",
                 **TOL[q.dtype])


def ref_kv_cache_bytes(n_layer, n_kv_head, head_dim, tokens, bytes_per_value, batch_size=1) -> int:
    return 2 * n_layer * n_kv_head * head_dim * tokens * batch_size * bytes_per_value


def _dynamic_cache_bytes(seed: int, dtype: torch.dtype) -> tuple[dict, int]:
    """A random small Llama with grouped-query attention, run once with use_cache=True: its sizes and cache bytes."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from course_lib.kv_cache import cache_nbytes

    draw = pyrandom(seed)
    n_kv = draw.choice([1, 2, 3])
    n_head, head_dim = n_kv * draw.choice([2, 3, 4]), draw.choice([4, 6, 8])
    sizes = dict(n_layer=draw.choice([1, 2, 3]), n_kv_head=n_kv, head_dim=head_dim, tokens=draw.randint(3, 12),
                 bytes_per_value=torch.empty(0, dtype=dtype).element_size(), batch_size=draw.randint(1, 3))
    config = LlamaConfig(vocab_size=32, hidden_size=8 * n_head, intermediate_size=16,
                         num_hidden_layers=sizes["n_layer"], num_attention_heads=n_head, num_key_value_heads=n_kv,
                         head_dim=head_dim, max_position_embeddings=64, bos_token_id=None, eos_token_id=None,
                         pad_token_id=None)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).to(dtype).eval()
    ids = torch.randint(0, 32, (sizes["batch_size"], sizes["tokens"]), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out = model(ids, use_cache=True)
    past = out["cache"] if "cache" in out else out["past_key_values"]
    return dict(sizes, n_head=n_head), cache_nbytes(past)


def _expect_int(got, expected: int, what: str) -> None:
    got = integer(got, what, "a number of bytes")
    if got != expected:
        hint = "; one key AND one value vector per layer, head and token: the factor 2" if 2 * got == expected else ""
        raise TaskFailed(f"{what}: expected {expected:,d} bytes, got {got:,d}{hint}")


@graded(3, "attention with a key-value cache, equal to full causal attention; the cache's size in bytes",
        functions=("attend_with_cache", "kv_cache_bytes"), forbid=Forbid(
            names=("*scaleddotproduct*", "*multiheadattention*"),
            modules=("course_lib.kv_cache", "course_lib.attention", "course_lib.model", "course_lib.llm_choice",
                     "course_lib.llama_layers", "transformers.cache_utils"),
            reason="write the cached attention and the byte count yourself (softmax, matmul and cat are yours to use)"))
def test_kv_cache(ns) -> None:
    fn = learner_function(ns, "attend_with_cache")
    f64 = torch.float64
    q, k, v = (randn(2, 3, 9, 8, seed=s, scale=1.5) for s in (60, 61, 62))
    _run(fn, q, k, v, [1] * 9, "attend_with_cache one position at a time, (B, h, T, hd) = (2, 3, 9, 8)")
    q, k, v = (randn(1, 2, 7, 4, seed=s, dtype=f64) for s in (63, 64, 65))
    _run(fn, q, k, v, [1] * 7, "attend_with_cache one position at a time, float64, (1, 2, 7, 4)")
    q, k, v = (randn(2, 2, 8, 6, seed=s) for s in (66, 67, 68))
    _run(fn, q, k, v, [5, 1, 1, 1], "attend_with_cache on a prompt of 5 positions, then one at a time")
    q, k, v = (randn(3, 1, 6, 4, seed=s, dtype=f64) for s in (69, 70, 71))
    _run(fn, q, k, v, [3, 1, 2], "attend_with_cache in chunks of 3, 1 and 2 positions, float64")
    q, k, v = (randn(1, 2, 4, 8, seed=s) for s in (72, 73, 74))
    empty = (torch.zeros(1, 2, 0, 8), torch.zeros(1, 2, 0, 8))
    _run(fn, q, k, v, [1, 1, 1, 1], "attend_with_cache starting from a cache of 0 positions", start=empty)
    q, k, v = (randn(2, 4, 6, 8, seed=s) for s in (75, 76, 77))
    _run(fn, q, k, v, [1, 1], "attend_with_cache given a cache of 4 positions built by the grader",
         start=(k[:, :, :4].clone(), v[:, :, :4].clone()))
    cache = (randn(2, 3, 4, 8, seed=78), randn(2, 3, 4, 8, seed=79))
    new = [randn(2, 3, 1, 6, seed=s) for s in (80, 81, 82)]
    expect_raises(ValueError, fn, *new, cache, what="attend_with_cache with a cache of head_dim 8 and new positions of 6")
    new = [randn(1, 3, 1, 8, seed=s) for s in (83, 84, 85)]
    expect_raises(ValueError, fn, *new, cache, what="attend_with_cache with a cache of batch 2 and new positions of 1")

    size = learner_function(ns, "kv_cache_bytes")
    for seed, dtype in ((90, torch.float32), (91, torch.bfloat16), (92, torch.float32)):
        sizes, measured = _dynamic_cache_bytes(seed, dtype)
        args = {key: sizes[key] for key in ("n_layer", "n_kv_head", "head_dim", "tokens", "bytes_per_value")}
        what = (f"kv_cache_bytes({', '.join(f'{k}={v}' for k, v in args.items())}, batch_size={sizes['batch_size']}) "
                f"for a LlamaForCausalLM with {sizes['n_head']} query heads in {dtype}")
        _expect_int(call(size, *args.values(), batch_size=sizes["batch_size"]), measured,
                    f"{what}, against its DynamicCache")
    for label, args in (("Llama 2 7B, 4,096 tokens in float16", (32, 32, 128, 4096, 2)),
                        ("Llama 3 8B (8 key/value heads), 8,192 tokens in bfloat16", (32, 8, 128, 8192, 2)),
                        ("SmolLM2-135M, one token in bfloat16 (23,040 bytes)", (30, 3, 64, 1, 2)),
                        ("0 tokens", (12, 12, 64, 0, 4))):
        _expect_int(call(size, *args), ref_kv_cache_bytes(*args), f"kv_cache_bytes{args}, {label}")
    _expect_int(call(size, 2, 4, 16, 10, 4, batch_size=8), ref_kv_cache_bytes(2, 4, 16, 10, 4, 8),
                "kv_cache_bytes(2, 4, 16, 10, 4, batch_size=8)")
    expect_raises(ValueError, size, 2, 4, 16, -1, 4, what="kv_cache_bytes with tokens=-1")
