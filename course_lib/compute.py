"""Compute: FLOPs, measured throughput, model FLOPs utilisation, memory and cost.

Training a Transformer costs about ``C = 6 N D`` FLOPs for N parameters and D tokens
(2 N per token forward, 4 N backward; Kaplan et al. 2020, section 2.1). This module
turns that into numbers a learner can check on their own machine: the machine's
measured matrix-multiply peak, a model's measured tokens per second, the fraction of
the peak it reaches (MFU, Chowdhery et al. 2022, appendix B), and what the same run
would need in memory, time and money on a GPU.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

__all__ = [
    "GPU_PEAK_FLOPS",
    "BYTES_PER_PARAM",
    "matmul_peak_flops",
    "measure_training_throughput",
    "mfu",
    "training_flops",
    "training_days",
    "memory_bytes",
]

# Dense peak throughput in FLOP/s from the vendors' data sheets (no sparsity).
GPU_PEAK_FLOPS = {
    "A100 (bf16)": 312e12,
    "H100 SXM (bf16)": 989e12,
    "A100 (fp32)": 19.5e12,
    "H100 SXM (fp32)": 67e12,
}

# Bytes per parameter for storing weights in each format.
BYTES_PER_PARAM = {"float32": 4, "bfloat16": 2, "float16": 2, "int8": 1, "int4": 0.5}


def matmul_peak_flops(n: int = 1024, repeats: int = 10, dtype=torch.float32) -> float:
    """Best observed FLOP/s of an (n x n) @ (n x n) matmul on the CPU (2 n^3 FLOPs each).

    A practical "peak" for this machine and thread count: the best a large, simple
    matrix multiply reaches. Varies between runs by a few percent.
    """
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


@dataclass
class Throughput:
    tokens_per_second: float
    seconds_per_step: float
    flops_per_token: float | None

    @property
    def flops_per_second(self) -> float | None:
        return None if self.flops_per_token is None else self.tokens_per_second * self.flops_per_token


def measure_training_throughput(model, batch_size: int, context_length: int, steps: int = 5,
                                warmup: int = 2, lr: float = 1e-3) -> Throughput:
    """Time ``steps`` AdamW training steps on random tokens (after ``warmup`` steps).

    The model must return ``(logits, loss)`` from ``model(x, y)`` and have
    ``config.vocab_size``. Its weights change: use a copy if they matter.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    vocab = model.config.vocab_size
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(0)
    x = torch.randint(vocab, (batch_size, context_length), generator=g).to(device)
    y = torch.randint(vocab, (batch_size, context_length), generator=g).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()

    def step():
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / steps
    fpt = model.flops_per_token() if hasattr(model, "flops_per_token") else None
    return Throughput(batch_size * context_length / seconds, seconds, fpt)


def mfu(tokens_per_second: float, flops_per_token: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: the fraction of ``peak_flops`` that useful model FLOPs reach."""
    if peak_flops <= 0:
        raise ValueError(f"peak_flops must be positive, got {peak_flops}.")
    return tokens_per_second * flops_per_token / peak_flops


def training_flops(n_params: float, n_tokens: float) -> float:
    """C = 6 N D: training FLOPs for N parameters and D tokens."""
    if n_params <= 0 or n_tokens <= 0:
        raise ValueError("n_params and n_tokens must be positive.")
    return 6.0 * n_params * n_tokens


def training_days(flops: float, peak_flops: float, n_devices: int = 1, utilisation: float = 0.4) -> float:
    """Days to spend ``flops`` on ``n_devices`` each at ``peak_flops`` x ``utilisation``."""
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {utilisation}.")
    return flops / (peak_flops * utilisation * n_devices) / 86400.0


def memory_bytes(n_params: float, dtype: str = "float32", training: bool = False) -> float:
    """Bytes to hold a model of ``n_params`` parameters.

    Inference: the weights only, ``n_params * bytes(dtype)`` (activations and the KV
    cache come on top). Training with AdamW: in float32, weights, gradients and two Adam
    moments (16 bytes per parameter); in mixed precision, weights and gradients in
    ``dtype`` plus a float32 master copy and two float32 moments, ``2 * bytes(dtype) + 12``
    (16 bytes per parameter for bf16; Rajbhandari et al. 2020, ZeRO, section 3.1).
    Activations are not included.
    """
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"dtype must be one of {sorted(BYTES_PER_PARAM)}, got {dtype!r}.")
    if n_params <= 0:
        raise ValueError(f"n_params must be positive, got {n_params}.")
    b = BYTES_PER_PARAM[dtype]
    if not training:
        return n_params * b
    if dtype == "float32":
        return n_params * 16.0
    if dtype in ("int8", "int4"):
        raise ValueError("training in int8/int4 is not a standard recipe; use float32 or bfloat16.")
    return n_params * (2 * b + 12)
