"""The key-value (KV) cache: generating one token at a time without recomputing the prefix.

In a causal Transformer the key and the value of position t depend only on tokens 0..t, so
once computed they never change. Decoding without a cache recomputes them for the whole
prefix at every step (``course_lib.generation`` does, on purpose, to show the idea): the
n-th new token costs a forward pass over T + n positions. With a cache, every layer keeps
the keys and values it has computed, and a step runs the model on the one new position:
its query attends to the cached keys, and its own key and value are appended.

    cache = KVCache.empty(gpt.config)           # per layer: keys, values (B, n_head, 0, head_dim)
    logits = forward_with_cache(gpt, prompt, cache)   # prefill: (B, T, V); the cache holds T positions
    logits = forward_with_cache(gpt, nxt, cache)      # one step: (B, 1, V); the cache holds T + 1
    out = cached_greedy_decode(gpt, prompt, 100)      # the loop: prefill, then one token at a time

Written out for the course GPT (``course_lib.model.GPT``) from its own parameters, and equal
to its full forward pass logit for logit: in float64 to 1e-10 over a 90-step generation
(tests/test_kv_cache.py), in float32 to rounding (about 1e-5 on logits of size 20: sums taken
in another order), with the same greedy tokens. Transformers models keep the same cache
(``model(ids, use_cache=True).past_key_values``, a ``DynamicCache``); ``cache_nbytes`` measures
either kind.

Memory: one key and one value vector per layer, per key-value head and per cached token,

    KV bytes = 2 x n_layer x n_kv_heads x head_dim x tokens x batch x bytes per value

which ``course_lib.llm_choice.kv_cache_bytes`` computes (grouped-query attention keeps fewer
key-value heads than query heads, and the cache shrinks by the same factor).

A course GPT has learned positions: it cannot read position ``context_length`` or later, so
``forward_with_cache`` refuses to go past it (``generation.greedy_decode`` instead crops the
prefix and recomputes, a sliding window the cache cannot do without recomputing).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .adapter import as_batch, inference
from .model import GPT, GPTConfig
from .validation import check_int

__all__ = ["KVCache", "attention_with_cache", "forward_with_cache", "CachedDecode", "cached_greedy_decode",
           "cache_nbytes", "positions_computed"]


# ----------------------------------------------------------------------------- the cache


@dataclass
class KVCache:
    """Keys and values of every layer for the positions seen so far.

    Attributes:
        keys, values: one tensor per layer, each (B, n_head, T, head_dim), T = positions cached.
        context_length: the most positions the model reads (the cache never holds more).
    """

    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    context_length: int | None = None

    @classmethod
    def empty(cls, config: GPTConfig) -> "KVCache":
        """An empty cache for a model with ``config`` (filled by the first ``forward_with_cache``)."""
        if not isinstance(config, GPTConfig):
            raise ValueError(f"KVCache.empty needs a GPTConfig (gpt.config), got {type(config).__name__}.")
        return cls([], [], config.context_length)

    @property
    def length(self) -> int:
        """Positions cached, T (0 for an empty cache)."""
        return self.keys[0].shape[2] if self.keys else 0

    @property
    def nbytes(self) -> int:
        """Bytes held by all the key and value tensors."""
        return cache_nbytes(self)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add (B, n_head, T_new, head_dim) keys and values to ``layer``; return all of them (T + T_new)."""
        if layer == len(self.keys):  # first call for this layer
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat([self.keys[layer], k], dim=2)  # (B, nh, T + T_new, hs)
            self.values[layer] = torch.cat([self.values[layer], v], dim=2)
        return self.keys[layer], self.values[layer]


def cache_nbytes(cache) -> int:
    """Bytes of the key and value tensors in a ``KVCache`` or a transformers cache.

    Accepts a ``KVCache``, a transformers ``Cache`` (``DynamicCache``: ``.layers[i].keys``
    and ``.values``) or the legacy tuple of (key, value) pairs per layer. The measured
    counterpart of ``llm_choice.kv_cache_bytes``.
    """
    if isinstance(cache, KVCache):
        tensors = cache.keys + cache.values
    elif hasattr(cache, "layers"):
        tensors = [t for layer in cache.layers for t in (layer.keys, layer.values) if t is not None]
    elif isinstance(cache, (tuple, list)):
        tensors = [t for pair in cache for t in pair]
    else:
        raise ValueError(f"cache must be a KVCache, a transformers Cache or a tuple of (key, value) pairs, "
                         f"got {type(cache).__name__}.")
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


# ----------------------------------------------------------------------------- one forward pass, cached


def attention_with_cache(attn, x: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
    """Causal self-attention of the new positions ``x`` against the cached ones, cache updated.

    Args:
        attn: a ``CausalSelfAttention`` of a course GPT (its ``c_attn`` makes q, k and v).
        x: (B, T_new, C) the new positions' inputs (after ``ln_1``).
        cache: keys and values of the P positions before them; ``layer``'s entry grows by T_new.

    Returns:
        (B, T_new, C): the heads' outputs side by side, before the output projection ``c_proj``.

    New position i (absolute position P + i) attends to positions 0 .. P + i: all the cached
    ones and the new ones up to itself. With P = 0 that is the usual causal mask.
    """
    B, T_new, C = x.shape
    nh = attn.n_head
    hs = C // nh
    past = cache.keys[layer].shape[2] if layer < len(cache.keys) else 0  # P
    q, k, v = attn.c_attn(x).split(C, dim=2)  # 3 x (B, T_new, C)
    q = q.view(B, T_new, nh, hs).transpose(1, 2)  # (B, nh, T_new, hs)
    k = k.view(B, T_new, nh, hs).transpose(1, 2)  # (B, nh, T_new, hs)
    v = v.view(B, T_new, nh, hs).transpose(1, 2)  # (B, nh, T_new, hs)
    k_all, v_all = cache.append(layer, k, v)  # (B, nh, P + T_new, hs) each
    query_pos = torch.arange(past, past + T_new, device=x.device)[:, None]  # (T_new, 1): absolute positions
    key_pos = torch.arange(past + T_new, device=x.device)[None, :]  # (1, P + T_new)
    may_attend = key_pos <= query_pos  # (T_new, P + T_new), True = may attend (torch's convention too)
    y = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=may_attend, scale=attn.scale)  # (B, nh, T_new, hs)
    return y.transpose(1, 2).reshape(B, T_new, C)  # (B, T_new, C)


def forward_with_cache(gpt: GPT, idx, cache: KVCache) -> torch.Tensor:
    """Logits of the new tokens ``idx`` given the cached prefix; the cache grows by their length.

    The course GPT's forward pass (``GPT.forward``) block by block, with attention replaced
    by ``attention_with_cache`` and the positions counted from the cache's length.

    Args:
        gpt: a course GPT in evaluation mode (dropout off).
        idx: (B, T_new) int64 token ids: the prompt (prefill) or the last generated token.
        cache: the ``KVCache`` of the positions before ``idx`` (``KVCache.empty`` at first).

    Returns:
        (B, T_new, V) logits, equal to ``gpt(all_ids)[0][:, -T_new:]`` to float rounding.
        ValueError, naming the limit, if the cache and ``idx`` together pass the context length.
    """
    if not isinstance(gpt, GPT):
        raise ValueError(f"forward_with_cache runs a course GPT (course_lib.model.GPT), got {type(gpt).__name__}; "
                         "for a transformers model call model(input_ids, past_key_values=cache, use_cache=True).")
    if not isinstance(cache, KVCache):
        raise ValueError(f"cache must be a KVCache (KVCache.empty(gpt.config)), got {type(cache).__name__}.")
    gpt.check_ids(idx, "idx")
    B, T_new = idx.shape
    past = cache.length
    if cache.keys and cache.keys[0].shape[0] != B:
        raise ValueError(f"idx has {B} rows but the cache holds {cache.keys[0].shape[0]}; one row per cached sequence.")
    limit = gpt.config.context_length
    if past + T_new > limit:
        raise ValueError(f"the cache holds {past} positions and idx adds {T_new}: {past + T_new} positions, but this "
                         f"model reads at most {limit} (its context_length, learned positions 0..{limit - 1}). "
                         f"Generate at most {limit} tokens in all, or recompute a cropped prefix "
                         f"(course_lib.generation.greedy_decode does).")
    pos = torch.arange(past, past + T_new, device=idx.device)  # (T_new,) absolute positions
    x = gpt.drop(gpt.wte(idx) + gpt.wpe(pos))  # (B, T_new, C)
    for layer, block in enumerate(gpt.blocks):
        x = x + block.attn.c_proj(attention_with_cache(block.attn, block.ln_1(x), cache, layer))
        x = x + block.mlp(block.ln_2(x))
    return gpt.lm_head(gpt.ln_f(x))  # (B, T_new, V)


# ----------------------------------------------------------------------------- the decoding loop


@dataclass
class CachedDecode:
    """What ``cached_greedy_decode`` returns.

    Attributes:
        ids: (B, T + n) the prompt and the n new tokens.
        logits: (B, n, V), the logits each new token was chosen from (in the model's dtype).
        cache: the ``KVCache`` after the last step (T + n - 1 positions: the last token is
            chosen, not yet read).
    """

    ids: torch.Tensor
    logits: torch.Tensor
    cache: KVCache


def cached_greedy_decode(gpt: GPT, ids, max_new_tokens: int) -> CachedDecode:
    """Greedy decoding with a KV cache: prefill the prompt once, then one position per step.

    Args:
        gpt: a course GPT.
        ids: (T,) or (B, T) prompt ids (rows of equal length).
        max_new_tokens: n >= 0; T + n - 1 positions are read, at most the context length.

    Returns:
        ``CachedDecode(ids, logits, cache)``; ``ids`` equals
        ``course_lib.generation.greedy_decode(gpt, ids, n)`` (which recomputes) whenever no
        two tokens tie to within rounding. A 1-D prompt gives (T + n,) ids and (n, V) logits.
    """
    prompt, one = as_batch(ids)
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", minimum=0)
    if not isinstance(gpt, GPT):
        raise ValueError(f"cached_greedy_decode runs a course GPT, got {type(gpt).__name__}; for a transformers "
                         "model use model.generate(ids, do_sample=False, use_cache=True).")
    limit = gpt.config.context_length
    if prompt.shape[1] + max_new_tokens - 1 > limit:
        raise ValueError(f"a {prompt.shape[1]}-token prompt and {max_new_tokens} new tokens need "
                         f"{prompt.shape[1] + max_new_tokens - 1} positions, but this model reads at most {limit} "
                         f"(its context_length); ask for at most {limit - prompt.shape[1] + 1} new tokens.")
    prompt = prompt.to(gpt.wte.weight.device)
    cache = KVCache.empty(gpt.config)
    out, steps = prompt, []
    with inference(gpt):
        if max_new_tokens:
            logits = forward_with_cache(gpt, prompt, cache)[:, -1]  # prefill: (B, V) for the first new token
            for step in range(max_new_tokens):
                nxt = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
                steps.append(logits)
                out = torch.cat([out, nxt], dim=1)  # (B, T + step + 1)
                if step + 1 < max_new_tokens:
                    logits = forward_with_cache(gpt, nxt, cache)[:, -1]  # one position: (B, V)
    vocab = gpt.config.vocab_size
    dtype = gpt.wte.weight.dtype
    logits = torch.stack(steps, dim=1) if steps else torch.zeros(prompt.shape[0], 0, vocab, dtype=dtype)  # (B, n, V)
    if one:
        return CachedDecode(out[0], logits[0], cache)
    return CachedDecode(out, logits, cache)


def positions_computed(prompt_tokens: int, new_tokens: int, cached: bool) -> int:
    """How many (token, layer) positions a forward pass computes to generate ``new_tokens``.

    Without a cache, new token i (i = 1..n) needs a pass over the T + i - 1 positions before
    it: n T + n (n - 1) / 2 in all, quadratic in n. With a cache the prompt is read once and
    each later token once: T + n - 1. (Attention itself still reads all cached keys, so the
    work per step grows with the context in both cases; the cache removes the recomputation.)
    """
    T = check_int(prompt_tokens, "prompt_tokens", minimum=1)
    n = check_int(new_tokens, "new_tokens", minimum=0)
    if n == 0:
        return 0
    return T + n - 1 if cached else n * T + n * (n - 1) // 2
