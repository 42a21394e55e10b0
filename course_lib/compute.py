"""Compute: FLOPs, measured throughput, model FLOPs utilisation, memory and cost.

Training a Transformer costs about ``C = 6 N D`` FLOPs for N parameters and D tokens
(2 N per token forward, 4 N backward; Kaplan et al. 2020, section 2.1). This module
turns that into numbers a learner can check on their own machine: the machine's
measured matrix-multiply peak, a model's measured tokens per second, the fraction of
the peak it reaches (MFU, Chowdhery et al. 2022, appendix B), and what the same run
would need in memory, time and money on a GPU.

``GPUS`` is the package's one table of accelerators (one key per GPU; the number format
is a separate argument, ``GPUS["H100 SXM"].peak("bfloat16")``): ``course_lib.cost``,
``course_lib.llm_choice`` and the chapter labs all read it, so the chapters agree.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from .validation import check_fraction, check_int, check_positive, check_positive_array

__all__ = [
    "GPUSpec",
    "GPUS",
    "gpu_spec",
    "tokens_for_flops",
    "BYTES_PER_PARAM",
    "matmul_peak_flops",
    "measure_training_throughput",
    "mfu",
    "training_flops",
    "training_days",
    "memory_bytes",
]

@dataclass(frozen=True)
class GPUSpec:
    """One accelerator, from its vendor's data sheet.

    Attributes:
        name: the key in ``GPUS``, e.g. ``"H100 SXM"``.
        peak_flops: dense peak throughput (no sparsity) in FLOP/s for each number format,
            keyed like ``BYTES_PER_PARAM`` (``"bfloat16"``, ``"float32"``); read it with
            ``peak(dtype)``.
        memory_bytes: memory of one GPU, bytes.
        bandwidth: memory bandwidth, bytes per second.
        watts: maximum board power (TDP), watts.
    """

    name: str
    peak_flops: Mapping[str, float]
    memory_bytes: float
    bandwidth: float
    watts: float

    def peak(self, dtype: str = "bfloat16") -> float:
        """Dense peak FLOP/s of matrix multiplies in ``dtype`` (a key of ``peak_flops``)."""
        if dtype not in self.peak_flops:
            raise ValueError(f"the data sheet of {self.name} gives a peak for {sorted(self.peak_flops)}, "
                             f"not for {dtype!r}; pass one of those as dtype.")
        return self.peak_flops[dtype]


# NVIDIA data sheets, 80 GB versions: A100 SXM (312 TFLOP/s bf16 dense, 19.5 TFLOP/s fp32,
# 2,039 GB/s, 400 W); H100 SXM (989 TFLOP/s bf16 dense, 67 TFLOP/s fp32, 3.35 TB/s, up to 700 W).
GPUS = {
    "A100": GPUSpec("A100", {"bfloat16": 312e12, "float32": 19.5e12}, 80e9, 2.039e12, 400.0),
    "H100 SXM": GPUSpec("H100 SXM", {"bfloat16": 989e12, "float32": 67e12}, 80e9, 3.35e12, 700.0),
}


def gpu_spec(gpu) -> GPUSpec:
    """The ``GPUSpec`` for ``gpu``: a key of ``GPUS`` (e.g. ``"H100 SXM"``) or a ``GPUSpec`` itself."""
    if isinstance(gpu, GPUSpec):
        return gpu
    if gpu not in GPUS:
        hint = ""
        if isinstance(gpu, str) and " (" in gpu:
            hint = (f" The number format is a separate argument: gpu={gpu.split(' (')[0]!r} "
                    "with dtype='bfloat16' or 'float32'.")
        raise ValueError(f"gpu must be one of {sorted(GPUS)} or a course_lib.compute.GPUSpec, got {gpu!r}.{hint}")
    return GPUS[gpu]


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
    steps = check_int(steps, "steps", minimum=1)
    warmup = check_int(warmup, "warmup", minimum=0)
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
    check_positive(peak_flops, "peak_flops")
    return tokens_per_second * flops_per_token / peak_flops


def training_flops(n_params, n_tokens):
    """Training compute ``C = 6 N D`` in FLOPs for N parameters and D tokens.

    2 N FLOPs per token for the forward pass (a multiply and an add per weight) and 4 N
    for the backward pass (Kaplan et al. 2020, section 2.1; attention's context-dependent
    term is left out, as in the papers' C = 6 N D). The one training-FLOPs function of
    the package.

    Args:
        n_params: N, parameters: a number or an array of them, each > 0.
        n_tokens: D, training tokens: a number or an array (broadcast against N), each > 0.

    Returns:
        A ``float`` when both are scalars, otherwise a float64 ``numpy.ndarray`` of the
        broadcast shape of N and D.
    """
    flops = 6.0 * check_positive_array(n_params, "n_params") * check_positive_array(n_tokens, "n_tokens")
    return float(flops) if np.ndim(flops) == 0 else flops


def tokens_for_flops(flops, n_params):
    """The inverse of ``training_flops``: D = C / (6 N) tokens for a budget of C FLOPs and N parameters.

    Floats or arrays (broadcast), each > 0; a ``float`` when both are scalars.
    """
    tokens = check_positive_array(flops, "flops") / (6.0 * check_positive_array(n_params, "n_params"))
    return float(tokens) if np.ndim(tokens) == 0 else tokens


def training_days(flops: float, peak_flops: float, n_devices: int = 1, utilisation: float = 0.4) -> float:
    """Days to spend ``flops`` on ``n_devices`` each at ``peak_flops`` (FLOP/s) x ``utilisation``."""
    check_fraction(utilisation, "utilisation", allow_one=True)
    check_positive(peak_flops, "peak_flops")
    check_int(n_devices, "n_devices", minimum=1)
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
    check_positive(n_params, "n_params")
    b = BYTES_PER_PARAM[dtype]
    if not training:
        return n_params * b
    if dtype == "float32":
        return n_params * 16.0
    if dtype in ("int8", "int4"):
        raise ValueError("training in int8/int4 is not a standard recipe; use float32 or bfloat16.")
    return n_params * (2 * b + 12)
