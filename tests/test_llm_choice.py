"""course_lib.llm_choice: memory, KV cache, decoding speed, cost and energy, checked against known cases."""
import math

import pytest

from course_lib import llm_choice as lc
from course_lib.compute import GPUS, memory_bytes

LLAMA7 = lc.KNOWN_MODELS["Llama 2 7B"]
LLAMA70 = lc.KNOWN_MODELS["Llama 2 70B"]


def test_a_7b_model_in_bf16_needs_about_14_gb_of_weights():
    plan = lc.memory_plan(LLAMA7, "bfloat16", training=False, context_tokens=0)
    assert plan.weights == 2 * 6_738_415_616
    assert 13e9 < plan.weights < 14e9
    assert plan.total == plan.weights  # no context: no cache
    assert lc.memory_plan(LLAMA7, "float32", context_tokens=0).weights == 2 * plan.weights
    assert lc.memory_plan(LLAMA7, "int8", context_tokens=0).weights == plan.weights / 2
    assert lc.memory_plan(LLAMA7, "int4", context_tokens=0).weights == plan.weights / 4


def test_kv_cache_of_llama2_is_half_a_mebibyte_per_token():
    # 2 (K and V) x 32 layers x 32 heads x 128 dims x 2 bytes = 524,288 bytes = 0.5 MiB
    assert LLAMA7.kv_bytes_per_token() == 2 * 32 * 32 * 128 * 2 == 0.5 * 2**20
    # a 4,096-token conversation: 2 GiB; eight of them: 16 GiB
    assert lc.kv_cache_bytes(LLAMA7, 4096) == 2 * 2**30
    assert lc.kv_cache_bytes(LLAMA7, 4096, batch_size=8) == 16 * 2**30
    assert lc.kv_cache_bytes(LLAMA7, 4096, dtype="float32") == 4 * 2**30


def test_grouped_query_attention_shrinks_the_cache():
    # 70B, 8 KV heads: 2 x 80 x 8 x 128 x 2 = 327,680 bytes per token, less than the 7B model's
    assert LLAMA70.kv_bytes_per_token() == 2 * 80 * 8 * 128 * 2
    as_mha = lc.ModelShape(LLAMA70.n_params, 80, 8192, 64, 64)
    assert as_mha.kv_bytes_per_token() / LLAMA70.kv_bytes_per_token() == 8


def test_training_memory_equals_compute_memory_bytes():
    for dtype in ("float32", "bfloat16"):
        plan = lc.memory_plan(LLAMA7, dtype, training=True)
        assert plan.total == memory_bytes(LLAMA7.n_params, dtype, training=True) == 16 * LLAMA7.n_params
        assert plan.kv_cache == 0
    mixed = lc.memory_plan(LLAMA7, "bfloat16", training=True)
    assert (mixed.weights, mixed.gradients, mixed.optimizer) == tuple(x * LLAMA7.n_params for x in (2, 2, 12))
    with pytest.raises(ValueError, match="int8"):
        lc.memory_plan(LLAMA7, "int8", training=True)


def test_shape_from_params_is_close_to_real_models():
    guess = lc.shape_from_params(LLAMA7.n_params)
    assert abs(guess.d_model - 4096) <= 256 and abs(guess.n_layer - 32) <= 3
    gpt3 = lc.shape_from_params(175e9)
    assert gpt3.d_model == 12288 and abs(gpt3.n_layer - 96) <= 2
    # about 12 n_layer d_model^2 parameters
    assert 12 * guess.n_layer * guess.d_model**2 == pytest.approx(guess.n_params, rel=0.1)


def test_decoding_one_sequence_is_memory_bound_and_reads_the_weights_once_per_token():
    gpu = GPUS["H100 SXM"]
    s = lc.decode_speed(LLAMA7, gpu, "bfloat16", batch_size=1, context_tokens=0, bandwidth_utilisation=1.0)
    assert s.bound == "memory"
    assert s.memory_seconds == pytest.approx(2 * LLAMA7.n_params / 3.35e12)
    assert s.tokens_per_second == pytest.approx(3.35e12 / (2 * LLAMA7.n_params))  # about 250 tokens/s
    assert s.compute_seconds == pytest.approx(2 * LLAMA7.n_params / (989e12 * 0.5))
    # int8 weights: half the bytes, twice the speed while memory-bound
    s8 = lc.decode_speed(LLAMA7, gpu, "int8", batch_size=1, context_tokens=0, bandwidth_utilisation=1.0)
    assert s8.tokens_per_second == pytest.approx(2 * s.tokens_per_second)


def test_batching_shares_the_weight_reads_until_compute_binds():
    speeds = [lc.decode_speed(LLAMA7, "H100 SXM", batch_size=b, context_tokens=0) for b in (1, 8, 64, 512, 2048)]
    totals = [s.tokens_per_second for s in speeds]
    assert totals[0] < totals[1] < totals[2] < totals[3]
    assert totals[3] == pytest.approx(totals[4])  # both past the crossover (about 185 with these utilisations)
    assert speeds[0].bound == "memory" and speeds[-1].bound == "compute"
    # compute-bound: tokens/s = peak x utilisation / 2N, whatever the batch
    assert speeds[-1].tokens_per_second == pytest.approx(989e12 * 0.5 / (2 * LLAMA7.n_params))
    # a long context makes every sequence read its cache: per-sequence speed falls
    short = lc.decode_speed(LLAMA7, "H100 SXM", batch_size=8, context_tokens=512)
    long = lc.decode_speed(LLAMA7, "H100 SXM", batch_size=8, context_tokens=32768)
    assert long.per_sequence_tokens_per_second < short.per_sequence_tokens_per_second


def test_dollars_per_million_tokens():
    assert lc.dollars_per_million_tokens(1000, 3.6) == pytest.approx(1.0)  # 3.6 M tokens an hour for $3.60
    with pytest.raises(ValueError):
        lc.dollars_per_million_tokens(0, 2.0)
    with pytest.raises(ValueError):
        lc.dollars_per_million_tokens(100, -1)


def test_training_energy_reproduces_patterson_et_al_for_gpt3():
    # Patterson et al. 2021, table 4: 3.14e23 FLOPs, V100s at 24.6 TFLOP/s measured, 330 W, PUE 1.1,
    # 0.429 kg CO2e/kWh -> 1,287 MWh and 552 t CO2e
    e = lc.training_energy(3.14e23, 24.6e12, 330, pue=1.1, kg_co2_per_kwh=0.429)
    assert e.kwh / 1000 == pytest.approx(1287, rel=0.005)
    assert e.co2_kg / 1000 == pytest.approx(552, rel=0.005)
    assert e.device_hours == pytest.approx(3.14e23 / 24.6e12 / 3600)
    with pytest.raises(ValueError, match="pue"):
        lc.training_energy(1e20, 1e14, 700, pue=0.9)


def test_plan_counts_gpus_and_summary_mentions_the_numbers():
    p = lc.plan(LLAMA7, "bfloat16", "H100 SXM", context_tokens=4096, batch_size=8)
    assert p.inference.total == 2 * LLAMA7.n_params + 8 * 2 * 2**30
    assert p.gpus_for_inference == 1
    assert p.gpus_for_training == math.ceil(16 * LLAMA7.n_params / 80e9) == 2
    text = p.summary()
    assert "13.5 GB" in text and "memory-bound" in text
    assert lc.plan(LLAMA7, "int8").training is None
    assert lc.plan(175e9, "bfloat16").gpus_for_inference >= 5  # 350 GB of weights alone


@pytest.mark.parametrize("kwargs, match", [
    (dict(dtype="fp8"), "dtype must be one of"),
    (dict(gpu="TPU"), "gpu must be one of"),
    (dict(price_per_hour=-2), "price_per_hour"),
    (dict(batch_size=0), "batch_size"),
])
def test_bad_input_says_what_to_do(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lc.plan(7e9, **kwargs)


def test_bad_shapes_and_counts():
    with pytest.raises(ValueError, match="n_params"):
        lc.shape_from_params(-1)
    with pytest.raises(ValueError, match="ModelShape"):
        lc.kv_cache_bytes(7e9, 100)
    with pytest.raises(ValueError, match="utilisation"):
        lc.decode_speed(LLAMA7, utilisation=0)


def test_shape_of_reads_loaded_models():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from course_lib.model import GPT, GPTConfig, to_hf

    gpt = GPT(GPTConfig(vocab_size=50, context_length=32, n_layer=3, n_head=4, d_model=32))
    shape = lc.shape_of(gpt)
    assert (shape.n_layer, shape.d_model, shape.n_head, shape.n_kv_heads, shape.head_dim) == (3, 32, 4, 4, 8)
    assert shape.n_params == sum(p.numel() for p in gpt.parameters())
    hf_shape = lc.shape_of(to_hf(gpt))
    assert (hf_shape.n_layer, hf_shape.d_model, hf_shape.n_head, hf_shape.n_kv_heads) == (3, 32, 4, 4)
    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                         num_attention_heads=8, num_key_value_heads=2, head_dim=16))
    s = lc.shape_of(llama)
    assert (s.n_head, s.n_kv_heads, s.head_dim, s.head_size) == (8, 2, 16, 16)  # head_dim set apart from 64 / 8
    assert s.kv_bytes_per_token("float32") == 2 * 2 * 2 * 16 * 4
    with pytest.raises(ValueError, match="config"):
        lc.shape_of(object())


def test_smollm2_in_the_table_matches_the_loaded_model(smollm2):
    model, _ = smollm2
    assert lc.shape_of(model) == lc.KNOWN_MODELS["SmolLM2-135M"]
    # 2 x 30 layers x 3 KV heads x 64 x 4 bytes = 46,080 bytes per token in float32; 9 KV heads would be 3x
    assert lc.KNOWN_MODELS["SmolLM2-135M"].kv_bytes_per_token("float32") == 46_080
