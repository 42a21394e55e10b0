"""course_lib.kv_cache: incremental decoding equals full attention, and the cache's size equals the formula."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from course_lib import llm_choice as lc
from course_lib.generation import greedy_decode
from course_lib.kv_cache import (
    KVCache,
    cache_nbytes,
    cached_greedy_decode,
    forward_with_cache,
    positions_computed,
)
from course_lib.model import GPT, GPTConfig, to_hf

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

V = 61


def course_gpt(seed=0, context_length=96, mup=None, dtype=torch.float32):
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=V, context_length=context_length, n_layer=3, n_head=4, d_model=32,
                       mup_base_width=mup)
    gpt = GPT(config)
    with torch.no_grad():
        for p in gpt.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)  # peaked distributions: greedy choices far from ties
    return gpt.to(dtype).eval()


def ids(B=2, T=7, seed=0):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


def full_logits(gpt, out_ids, prompt_len):
    """The reference: one full forward pass over the generated text, the logits that chose each new token."""
    with torch.no_grad():
        return gpt(out_ids[:, :-1])[0][:, prompt_len - 1:]  # (B, n, V)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_cached_decoding_equals_full_attention_logit_for_logit(dtype, tol):
    gpt = course_gpt(dtype=dtype)
    prompt = ids()
    out = cached_greedy_decode(gpt, prompt, 90)  # 7 + 90 - 1 = 96 positions: the whole context
    assert out.ids.shape == (2, 97) and out.logits.shape == (2, 90, V)
    diff = (out.logits.double() - full_logits(gpt, out.ids, 7).double()).abs().max().item()
    assert diff < tol, diff  # float64: the same function; float32: rounding only (about 1e-6)
    assert diff < 1e-5 or dtype == torch.float32
    assert torch.equal(out.ids, greedy_decode(gpt, prompt, 90)), "the same tokens as recomputing the prefix"


def test_float32_differences_are_rounding_only():
    gpt = course_gpt()
    out = cached_greedy_decode(gpt, ids(B=1), 80)
    diff = (out.logits - full_logits(gpt, out.ids, 7)).abs().max().item()
    scale = out.logits.abs().max().item()
    assert diff < 1e-5 * max(scale, 1.0), (diff, scale)  # relative to the logits' size


def test_mup_model_and_one_dimensional_prompt():
    gpt = course_gpt(mup=16)
    prompt = ids(B=1)[0]  # (T,)
    out = cached_greedy_decode(gpt, prompt, 30)
    assert out.ids.shape == (37,) and out.logits.shape == (30, V)
    assert (out.logits - full_logits(gpt, out.ids[None], 7)[0]).abs().max().item() < 1e-4
    assert torch.equal(out.ids, greedy_decode(gpt, prompt, 30))


def test_prefill_in_chunks_equals_prefill_at_once():
    gpt = course_gpt(dtype=torch.float64)
    text = ids(B=2, T=40)
    whole = KVCache.empty(gpt.config)
    chunked = KVCache.empty(gpt.config)
    with torch.no_grad():
        a = forward_with_cache(gpt, text, whole)
        b = torch.cat([forward_with_cache(gpt, text[:, i:i + 13], chunked) for i in range(0, 40, 13)], dim=1)
        ref = gpt(text)[0]
    assert (a - ref).abs().max().item() < 1e-10 and (b - ref).abs().max().item() < 1e-10
    for k1, k2 in zip(whole.keys + whole.values, chunked.keys + chunked.values):
        assert torch.allclose(k1, k2, atol=1e-12)


def test_cache_shapes_and_bytes_equal_the_formula():
    gpt = course_gpt(context_length=64)
    out = cached_greedy_decode(gpt, ids(B=3, T=5), 20)
    cache = out.cache
    assert cache.length == 5 + 20 - 1 and len(cache.keys) == len(cache.values) == gpt.config.n_layer
    for t in cache.keys + cache.values:
        assert t.shape == (3, 4, 24, 8)  # (B, n_head, T, head_dim)
    formula = lc.kv_cache_bytes(lc.shape_of(gpt), cache.length, batch_size=3, dtype="float32")
    assert cache.nbytes == cache_nbytes(cache) == formula == 2 * 3 * 4 * 8 * 24 * 3 * 4


def test_transformers_caches_are_measured_the_same_way():
    gpt = course_gpt(context_length=64)
    hf = to_hf(gpt).eval()
    with torch.no_grad():
        past = hf(ids(B=2, T=9), use_cache=True).past_key_values
    assert cache_nbytes(past) == lc.kv_cache_bytes(lc.shape_of(hf), 9, batch_size=2, dtype="float32")
    # grouped-query attention: 8 query heads share 2 key-value heads, a 4x smaller cache
    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                         num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=128))
    with torch.no_grad():
        past = llama.eval()(ids(B=1, T=11), use_cache=True).past_key_values
    shape = lc.shape_of(llama)
    assert (shape.n_head, shape.n_kv_heads, shape.head_dim) == (8, 2, 8)
    assert cache_nbytes(past) == lc.kv_cache_bytes(shape, 11, dtype="float32") == 2 * 2 * 2 * 8 * 11 * 4
    as_mha = lc.ModelShape(shape.n_params, 2, 64, 8, 8)
    assert lc.kv_cache_bytes(as_mha, 11, dtype="float32") == 4 * cache_nbytes(past)
    assert cache_nbytes(tuple((layer.keys, layer.values) for layer in past.layers)) == cache_nbytes(past)


def test_going_past_the_context_is_refused_with_the_limit_named():
    gpt = course_gpt(context_length=16)
    with pytest.raises(ValueError, match="at most 16"):
        cached_greedy_decode(gpt, ids(T=10), 8)  # 10 + 8 - 1 = 17 positions
    assert cached_greedy_decode(gpt, ids(T=10), 7).ids.shape == (2, 17)  # 16 positions: fits
    cache = KVCache.empty(gpt.config)
    with torch.no_grad():
        forward_with_cache(gpt, ids(T=12), cache)
        with pytest.raises(ValueError, match="at most 16"):
            forward_with_cache(gpt, ids(T=5), cache)


@pytest.mark.parametrize("call, words", [
    (lambda g, c: forward_with_cache(to_hf(g), ids(), c), "course GPT"),
    (lambda g, c: forward_with_cache(g, ids(), {}), "KVCache"),
    (lambda g, c: forward_with_cache(g, ids(B=3), c), "rows"),
    (lambda g, c: forward_with_cache(g, ids().float(), c), "integer"),
    (lambda g, c: cached_greedy_decode(g, ids(), -1), "max_new_tokens"),
    (lambda g, c: KVCache.empty(object()), "GPTConfig"),
    (lambda g, c: cache_nbytes("cache"), "KVCache"),
])
def test_bad_input_is_named(call, words):
    gpt = course_gpt()
    cache = KVCache.empty(gpt.config)
    with torch.no_grad():
        forward_with_cache(gpt, ids(B=2), cache)
    with pytest.raises(ValueError, match=words):
        call(gpt, cache)


def test_zero_new_tokens_and_positions_computed():
    gpt = course_gpt()
    out = cached_greedy_decode(gpt, ids(), 0)
    assert torch.equal(out.ids, ids()) and out.logits.shape == (2, 0, V) and out.cache.length == 0
    # n new tokens after T: T + n - 1 positions with a cache, n T + n(n-1)/2 without
    assert positions_computed(10, 1, cached=True) == positions_computed(10, 1, cached=False) == 10
    assert positions_computed(10, 100, cached=True) == 109
    assert positions_computed(10, 100, cached=False) == sum(10 + i for i in range(100)) == 5950


def test_the_real_model_cache_equals_the_formula_with_grouped_query_attention(smollm2):
    model, tokenizer = smollm2
    prompt = tokenizer("The key-value cache keeps the keys and values of earlier tokens.", return_tensors="pt")
    with torch.no_grad():
        past = model(**prompt, use_cache=True).past_key_values
    T = prompt["input_ids"].shape[1]
    shape = lc.shape_of(model)
    assert shape == lc.KNOWN_MODELS["SmolLM2-135M"]
    assert cache_nbytes(past) == lc.kv_cache_bytes(shape, T, dtype="float32") == 2 * 30 * 3 * 64 * T * 4
    for layer in past.layers:
        assert layer.keys.shape == layer.values.shape == (1, 3, T, 64)  # 3 key-value heads, not 9
