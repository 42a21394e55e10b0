"""course_lib.cost: the cost of a training run, an LSTM's FLOPs per token."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from course_lib import cost
from course_lib.lstm import LSTMConfig, LSTMLanguageModel


def test_training_cost_by_hand():
    # 1e9 params x 1e10 tokens = 6e19 FLOPs; at 1e15 FLOP/s x 50%: 1.2e5 s = 33.3 GPU-hours
    c = cost.training_cost(1e9, 1e10, "H100 SXM", n_gpus=4, utilisation=0.5, price_per_hour=3.0)
    assert c.flops == 6e19
    gpu_seconds = 6e19 / (989e12 * 0.5)
    assert c.gpu_days == pytest.approx(gpu_seconds / 86400)
    assert c.days == pytest.approx(c.gpu_days / 4)
    assert c.dollars == pytest.approx(gpu_seconds / 3600 * 3.0)
    assert c.memory_bytes == 16e9
    assert c.min_gpus_for_memory == 1
    assert c.tokens_per_param == 10


def test_gpt3_on_a100s_matches_the_published_order_of_magnitude():
    # GPT-3 175B: 3.14e23 FLOPs (Brown et al. 2020, table D.1); 6ND with 300B tokens gives 3.15e23
    c = cost.training_cost(175e9, 300e9, "A100", n_gpus=1024, utilisation=0.4)
    assert c.flops == pytest.approx(3.15e23)
    assert 25_000 < c.gpu_days < 35_000  # 3.15e23 / (312e12 * 0.4) / 86400 = 29,200
    assert 25 < c.days < 35
    # 175e9 * 16 bytes = 2.8 TB of training state: 35 GPUs of 80 GB just to hold it
    assert c.min_gpus_for_memory == 35


def test_float32_uses_the_float32_peak_and_the_same_memory():
    bf16 = cost.training_cost(1e9, 1e10)
    fp32 = cost.training_cost(1e9, 1e10, dtype="float32")
    assert fp32.gpu_days == pytest.approx(bf16.gpu_days * 989e12 / 67e12)
    assert fp32.memory_bytes == bf16.memory_bytes == 16e9  # AdamW: 16 bytes per parameter either way
    assert "H100 SXM (bf16) at 40% utilisation" in bf16.summary() and "H100 SXM (fp32)" in fp32.summary()
    assert "(AdamW, mixed precision, 16 bytes/param)" in bf16.summary()


def test_more_gpus_are_faster_not_cheaper():
    one = cost.training_cost(1e8, 2e9, n_gpus=1)
    many = cost.training_cost(1e8, 2e9, n_gpus=1024)
    assert many.days == pytest.approx(one.days / 1024)
    assert many.dollars == pytest.approx(one.dollars)
    assert cost.training_cost(1e8, 2e9, "A100").gpu_days > one.gpu_days  # the H100 is faster


@pytest.mark.parametrize("kwargs, match", [
    (dict(gpu="TPU"), "gpu must be one of"),
    (dict(gpu="H100 SXM (bf16)"), "number format is a separate argument"),
    (dict(dtype="int8"), "gives a peak for"),
    (dict(n_gpus=1.5), "n_gpus must be an int"),
    (dict(n_gpus=0), "n_gpus"),
    (dict(utilisation=1.5), "utilisation"),
    (dict(price_per_hour=-1), "price_per_hour"),
])
def test_bad_input_says_what_to_do(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cost.training_cost(1e9, 1e10, **kwargs)
    with pytest.raises(ValueError):
        cost.training_cost(0, 1e10)


@pytest.mark.parametrize("d_embed, d_hidden, n_layer", [(16, 24, 1), (8, 12, 2)])
def test_lstm_flops_match_torch_counter_on_unfused_cells(d_embed, d_hidden, n_layer):
    """The fused nn.LSTM is invisible to FlopCounterMode, so count an unfused LSTMCell step."""
    config = LSTMConfig(vocab_size=32, context_length=8, d_embed=d_embed, d_hidden=d_hidden, n_layer=n_layer)
    cells = [torch.nn.LSTMCell(d_embed if i == 0 else d_hidden, d_hidden) for i in range(n_layer)]
    head = torch.nn.Linear(d_hidden, 32)
    B = 5
    x = torch.randn(B, d_embed)
    states = [(torch.zeros(B, d_hidden), torch.zeros(B, d_hidden)) for _ in cells]
    with FlopCounterMode(display=False) as counter:
        inp = x
        for cell, (h, c) in zip(cells, states):
            inp, _ = cell(inp, (h, c))
        head(inp)
    assert counter.get_total_flops() / B == cost.lstm_flops_per_token(config, training=False)
    assert cost.lstm_flops_per_token(config) == 3 * cost.lstm_flops_per_token(config, training=False)
    with pytest.raises(ValueError, match="LSTMConfig"):
        cost.lstm_flops_per_token(object())


def test_lstm_flops_grow_with_the_square_of_the_width():
    small = LSTMLanguageModel(LSTMConfig(vocab_size=1, context_length=4, d_embed=64, d_hidden=64))
    big = LSTMLanguageModel(LSTMConfig(vocab_size=1, context_length=4, d_embed=128, d_hidden=128))
    ratio = cost.lstm_flops_per_token(big.config) / cost.lstm_flops_per_token(small.config)
    assert ratio == pytest.approx(4, rel=0.01)
    # about 6 FLOPs per recurrent parameter, like 6N for a Transformer
    n_recurrent = sum(p.numel() for n, p in big.lstm.named_parameters() if "weight" in n)
    assert cost.lstm_flops_per_token(big.config) == pytest.approx(6 * n_recurrent, rel=0.01)


def test_format_flops():
    assert cost.format_flops(3.15e23) == "3.15e+23 FLOPs (315 ZFLOP)"
    assert cost.format_flops(5e6) == "5e+06 FLOPs (5 MFLOP)"
    assert cost.format_flops(12) == "12 FLOPs"
