"""course_lib.compute (FLOPs, MFU, memory) and course_lib.lstm (the seeds' LSTM as a language model)."""
import pytest
import torch

from course_lib import compute
from course_lib.lstm import LSTMConfig, LSTMLanguageModel
from course_lib.model import GPT, GPTConfig
from course_lib.train import loss_by_position, train


def test_training_flops_and_days():
    assert compute.training_flops(1e9, 2e10) == 1.2e20
    # 1.2e20 FLOPs on one device at 1e15 FLOP/s and 50% utilisation: 2.4e5 s = 2.78 days
    assert compute.training_days(1.2e20, 1e15, 1, 0.5) == pytest.approx(2.4e5 / 86400)
    with pytest.raises(ValueError):
        compute.training_flops(0, 1)


def test_tokens_for_flops_inverts_training_flops():
    import numpy as np

    assert compute.tokens_for_flops(1.2e20, 1e9) == 2e10
    N = np.array([1e6, 1e7, 1e8])
    assert np.allclose(compute.training_flops(N, compute.tokens_for_flops(1e21, N)), 1e21, rtol=1e-12)
    with pytest.raises(ValueError, match="n_params"):
        compute.tokens_for_flops(1e21, -1)


def test_memory_bytes():
    assert compute.memory_bytes(1e9, "bfloat16") == 2e9
    assert compute.memory_bytes(1e9, "int8") == 1e9
    assert compute.memory_bytes(1e9, "float32", training=True) == 16e9
    assert compute.memory_bytes(1e9, "bfloat16", training=True) == 16e9
    with pytest.raises(ValueError, match="dtype"):
        compute.memory_bytes(1e9, "float8")


def test_mfu_and_measured_throughput():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, context_length=32, n_layer=1, n_head=2, d_model=32))
    t = compute.measure_training_throughput(model, batch_size=4, context_length=32, steps=2, warmup=1)
    assert t.tokens_per_second > 0 and t.flops_per_token == model.flops_per_token()
    peak = compute.matmul_peak_flops(n=256, repeats=3)
    assert peak > 1e8
    assert compute.mfu(t.tokens_per_second, t.flops_per_token, peak) == pytest.approx(
        t.tokens_per_second * t.flops_per_token / peak)


def test_lstm_is_a_language_model_that_trains():
    torch.manual_seed(0)
    cfg = LSTMConfig(vocab_size=8, context_length=16, d_embed=16, d_hidden=32)
    model = LSTMLanguageModel(cfg)
    x = torch.randint(8, (3, 16))
    logits, loss = model(x, x)
    assert logits.shape == (3, 16, 8), "a language model predicts at every position"
    data = torch.arange(3000) % 4
    h = train(model, data, data, steps=60, batch_size=8, lr=1e-2, progress=False)
    assert h.final_val_loss < 0.1
    assert model.num_params() == model.num_params(False) - 8 * 16
    with pytest.raises(ValueError, match="token ids"):
        model(torch.tensor([[9]]))
    with pytest.raises(ValueError, match="positive int"):
        LSTMConfig(vocab_size=8, context_length=16, d_embed=0, d_hidden=4)


def test_loss_by_position_shows_context_helps():
    torch.manual_seed(0)
    # one block repeated: a token alone is ambiguous (0, 1 and 2 occur twice), a few
    # tokens of context fix the phase and make the next token certain
    data = torch.tensor([0, 1, 0, 2, 3, 1, 1, 2]).repeat(500)
    model = GPT(GPTConfig(vocab_size=4, context_length=16, n_layer=1, n_head=2, d_model=32))
    train(model, data, steps=80, batch_size=16, lr=1e-2, progress=False)
    curve = loss_by_position(model, data, batch_size=16, context_length=16)
    assert curve.shape == (16,)
    assert curve[0] > 0.3, "from one token the next is uncertain"
    assert curve[4:].max() < 0.1, "with a few tokens of context it is nearly certain"


def test_training_flops_takes_numbers_and_arrays():
    import numpy as np

    assert isinstance(compute.training_flops(1e9, 2e10), float)
    assert isinstance(compute.training_flops(10, 20), float) and compute.training_flops(10, 20) == 1200.0
    flops = compute.training_flops(np.array([1e6, 1e7]), 2e9)
    assert isinstance(flops, np.ndarray) and flops.tolist() == [1.2e16, 1.2e17]
    grid = compute.training_flops(np.array([[1e6], [1e7]]), np.array([1e9, 1e10]))  # broadcast: (2, 1) x (2,)
    assert grid.shape == (2, 2) and grid[1, 0] == 6.0 * 1e7 * 1e9
    with pytest.raises(ValueError, match="n_tokens must be positive"):
        compute.training_flops(np.array([1e6, 1e7]), [1e9, -1])


def test_one_gpu_table_with_the_number_format_as_an_argument():
    h100, a100 = compute.GPUS["H100 SXM"], compute.GPUS["A100"]
    assert (h100.peak("bfloat16"), h100.peak("float32"), h100.memory_bytes) == (989e12, 67e12, 80e9)
    assert (a100.peak("bfloat16"), a100.peak("float32"), a100.memory_bytes) == (312e12, 19.5e12, 80e9)
    assert h100.peak() == h100.peak("bfloat16")
    assert compute.gpu_spec("A100") is a100 and compute.gpu_spec(a100) is a100
    with pytest.raises(ValueError, match="gives a peak for"):
        h100.peak("int8")
    with pytest.raises(ValueError, match="gpu='A100' with dtype"):
        compute.gpu_spec("A100 (bf16)")
    with pytest.raises(ValueError, match="gpu must be one of"):
        compute.gpu_spec("TPU v4")
