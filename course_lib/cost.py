"""What a training run costs: FLOPs, GPU-days, dollars and memory, and an LSTM's FLOPs.

``training_cost(N, D, gpu, n_gpus, utilisation, price_per_hour)`` turns a model size N
(parameters) and a data size D (tokens) into the numbers a budget needs, with
``C = 6 N D`` FLOPs (Kaplan et al. 2020, section 2.1) and the data-sheet peaks and
memory sizes of ``course_lib.compute.GPUS``:

    FLOPs        C = 6 N D
    GPU-days     C / (peak x utilisation) / 86400        (on one GPU)
    days         GPU-days / n_gpus                       (perfect scaling: a lower bound)
    dollars      GPU-days x 24 x price_per_hour
    memory       16 bytes per parameter for AdamW training (course_lib.compute.memory_bytes)

The utilisation (MFU) and the price per GPU-hour are assumptions the caller states;
activations, communication and failed runs come on top. Chapter 04c's sliders on
``training_cost`` are ``course_lib.labs.ch04_training.cost_widget``.

``lstm_flops_per_token(config)`` counts an LSTM's training FLOPs per token by formula,
because the fused LSTM kernel is invisible to torch's FLOP counter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .compute import gpu_spec, memory_bytes, training_days, training_flops
from .validation import check_int, check_nonnegative

__all__ = ["TrainingCost", "training_cost", "lstm_flops_per_token", "format_flops"]

# How ``summary`` names a number format and the training memory recipe, in the data sheets' words.
_SHORT_DTYPE = {"bfloat16": "bf16", "float32": "fp32"}
_RECIPE = {"bfloat16": "mixed precision", "float32": "float32"}


@dataclass(frozen=True)
class TrainingCost:
    """The cost of training N parameters on D tokens on ``n_gpus`` GPUs of one kind.

    Attributes:
        n_params: N, parameters.
        n_tokens: D, training tokens.
        gpu: a key of ``course_lib.compute.GPUS``, e.g. ``"H100 SXM"``.
        dtype: the number format of the matrix multiplies, ``"bfloat16"`` (mixed precision)
            or ``"float32"``: it picks the data-sheet peak.
        n_gpus: GPUs working in parallel.
        utilisation: fraction of the peak reached (model FLOPs utilisation), in (0, 1].
        price_per_hour: dollars per GPU-hour (an assumption: rental prices vary widely).
        flops: training FLOPs, 6 N D.
        gpu_days: days one GPU would need.
        days: wall-clock days on ``n_gpus`` GPUs, assuming perfect scaling.
        dollars: GPU-hours times ``price_per_hour``.
        memory_bytes: weights, gradients and AdamW state (16 bytes per parameter in
            bf16 mixed precision and in float32); activations not included.
        min_gpus_for_memory: GPUs needed just to hold ``memory_bytes`` (at least 1).
    """

    n_params: float
    n_tokens: float
    gpu: str
    n_gpus: int
    utilisation: float
    price_per_hour: float
    flops: float
    gpu_days: float
    days: float
    dollars: float
    memory_bytes: float
    min_gpus_for_memory: int
    dtype: str = "bfloat16"

    @property
    def tokens_per_param(self) -> float:
        """D / N; Hoffmann et al. 2022 find about 20 compute-optimal."""
        return self.n_tokens / self.n_params

    def summary(self) -> str:
        """A few lines of text for a widget or a print."""
        return (
            f"N = {self.n_params:.3g} parameters, D = {self.n_tokens:.3g} tokens "
            f"({self.tokens_per_param:.3g} tokens per parameter)\n"
            f"compute: {format_flops(self.flops)} = 6 N D\n"
            f"{self.gpu} ({_SHORT_DTYPE.get(self.dtype, self.dtype)}) at {self.utilisation:.0%} utilisation: "
            f"{_duration(self.gpu_days)} on 1 GPU, {_duration(self.days)} on {self.n_gpus:,} GPUs\n"
            f"cost at ${self.price_per_hour:.2f} per GPU-hour: ${self.dollars:,.0f}\n"
            f"training memory (AdamW, {_RECIPE.get(self.dtype, self.dtype)}, 16 bytes/param): "
            f"{self.memory_bytes / 1e9:,.1f} GB, "
            f"at least {self.min_gpus_for_memory:,} GPU(s) of {gpu_spec(self.gpu).memory_bytes / 1e9:.0f} GB"
        )


def training_cost(n_params: float, n_tokens: float, gpu: str = "H100 SXM", n_gpus: int = 1,
                  utilisation: float = 0.4, price_per_hour: float = 2.0, dtype: str = "bfloat16") -> TrainingCost:
    """Cost of training ``n_params`` parameters on ``n_tokens`` tokens; see ``TrainingCost``.

    ``gpu`` is a key of ``course_lib.compute.GPUS`` (``"A100"``, ``"H100 SXM"``) and
    ``dtype`` the number format whose data-sheet peak is used (``"bfloat16"`` or
    ``"float32"``). Raises ``ValueError`` for an unknown GPU or format, fewer than one
    GPU, a utilisation outside (0, 1], a negative price, or non-positive N or D.
    """
    spec = gpu_spec(gpu)
    peak = spec.peak(dtype)
    n_gpus = check_int(n_gpus, "n_gpus", minimum=1)
    price_per_hour = check_nonnegative(price_per_hour, "price_per_hour")
    flops = training_flops(n_params, n_tokens)  # checks N, D > 0
    gpu_days = training_days(flops, peak, 1, utilisation)  # checks utilisation
    memory = memory_bytes(n_params, dtype, training=True)
    return TrainingCost(
        n_params=float(n_params), n_tokens=float(n_tokens), gpu=spec.name, n_gpus=n_gpus, utilisation=utilisation,
        price_per_hour=price_per_hour, flops=flops, gpu_days=gpu_days, days=gpu_days / n_gpus,
        dollars=gpu_days * 24.0 * price_per_hour, memory_bytes=memory,
        min_gpus_for_memory=max(1, math.ceil(memory / spec.memory_bytes)), dtype=dtype,
    )


def lstm_flops_per_token(config, training: bool = True) -> float:
    """FLOPs per token of ``course_lib.lstm.LSTMLanguageModel`` (multiply-adds count 2).

    Each layer computes four gates, each a matrix product of the concatenated
    ``[x_t, h_{t-1}]`` (``d_in + d_hidden`` wide) with a ``(d_in + d_hidden, d_hidden)``
    matrix: ``2 * 4 * (d_in + d_hidden) * d_hidden`` forward, where ``d_in`` is
    ``d_embed`` for the first layer and ``d_hidden`` above it. The output layer adds
    ``2 * d_hidden * vocab_size``. Training (forward + backward) is 3 times the forward.
    Element-wise gate arithmetic (sigmoids, tanh, products) is left out, as for a GPT.
    """
    for name in ("vocab_size", "d_embed", "d_hidden", "n_layer"):
        if not hasattr(config, name):
            raise ValueError(f"config must be an LSTMConfig (it has no {name}).")
    h = config.d_hidden
    forward = sum(2 * 4 * ((config.d_embed if i == 0 else h) + h) * h for i in range(config.n_layer))
    forward += 2 * h * config.vocab_size
    return float(3 * forward if training else forward)


def format_flops(flops: float) -> str:
    """FLOPs as text with an SI prefix, e.g. ``3.15e+23 FLOPs (315 ZFLOP)``."""
    prefixes = [(1e24, "YFLOP"), (1e21, "ZFLOP"), (1e18, "EFLOP"), (1e15, "PFLOP"), (1e12, "TFLOP"),
                (1e9, "GFLOP"), (1e6, "MFLOP"), (1e3, "kFLOP")]
    for scale, name in prefixes:
        if flops >= scale:
            return f"{flops:.3g} FLOPs ({flops / scale:.3g} {name})"
    return f"{flops:.3g} FLOPs"


def _duration(days: float) -> str:
    seconds = days * 86400.0
    if seconds < 120:
        return f"{seconds:.3g} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.3g} minutes"
    if days < 2:
        return f"{seconds / 3600:.3g} hours"
    if days < 2 * 365:
        return f"{days:.3g} days"
    return f"{days / 365.25:.3g} years"
