"""What a training run costs: FLOPs, GPU-days, dollars and memory, and an LSTM's FLOPs.

``training_cost(N, D, gpu, n_gpus, utilisation, price_per_hour)`` turns a model size N
(parameters) and a data size D (tokens) into the numbers a budget needs, with
``C = 6 N D`` FLOPs (Kaplan et al. 2020, section 2.1) and the data-sheet peaks in
``course_lib.compute.GPU_PEAK_FLOPS``:

    FLOPs        C = 6 N D
    GPU-days     C / (peak x utilisation) / 86400        (on one GPU)
    days         GPU-days / n_gpus                       (perfect scaling: a lower bound)
    dollars      GPU-days x 24 x price_per_hour
    memory       16 bytes per parameter for AdamW training (course_lib.compute.memory_bytes)

The utilisation (MFU) and the price per GPU-hour are assumptions the caller states;
activations, communication and failed runs come on top. ``cost_widget()`` puts sliders
on ``training_cost`` (ipywidgets are imported only there); an update is pure arithmetic,
well under 100 ms.

``lstm_flops_per_token(config)`` counts an LSTM's training FLOPs per token by formula,
because the fused LSTM kernel is invisible to torch's FLOP counter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .compute import GPU_PEAK_FLOPS, memory_bytes, training_days, training_flops

__all__ = ["GPU_MEMORY_BYTES", "TrainingCost", "training_cost", "lstm_flops_per_token", "format_flops",
           "cost_widget"]

# Memory of one GPU in bytes (the 80 GB versions of both).
GPU_MEMORY_BYTES = {"A100": 80e9, "H100 SXM": 80e9}


def _gpu_memory(gpu: str) -> float:
    return GPU_MEMORY_BYTES[gpu.split(" (")[0]]


@dataclass(frozen=True)
class TrainingCost:
    """The cost of training N parameters on D tokens on ``n_gpus`` GPUs of one kind.

    Attributes:
        n_params: N, parameters.
        n_tokens: D, training tokens.
        gpu: a key of ``course_lib.compute.GPU_PEAK_FLOPS``, e.g. ``"H100 SXM (bf16)"``.
        n_gpus: GPUs working in parallel.
        utilisation: fraction of the peak reached (model FLOPs utilisation), in (0, 1].
        price_per_hour: dollars per GPU-hour (an assumption: rental prices vary widely).
        flops: training FLOPs, 6 N D.
        gpu_days: days one GPU would need.
        days: wall-clock days on ``n_gpus`` GPUs, assuming perfect scaling.
        dollars: GPU-hours times ``price_per_hour``.
        memory_bytes: weights, gradients and AdamW state in mixed precision (16 bytes per
            parameter); activations not included.
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
            f"{self.gpu} at {self.utilisation:.0%} utilisation: {_duration(self.gpu_days)} on 1 GPU, "
            f"{_duration(self.days)} on {self.n_gpus:,} GPUs\n"
            f"cost at ${self.price_per_hour:.2f} per GPU-hour: ${self.dollars:,.0f}\n"
            f"training memory (AdamW, mixed precision, 16 bytes/param): {self.memory_bytes / 1e9:,.1f} GB, "
            f"at least {self.min_gpus_for_memory:,} GPU(s) of {_gpu_memory(self.gpu) / 1e9:.0f} GB"
        )


def training_cost(n_params: float, n_tokens: float, gpu: str = "H100 SXM (bf16)", n_gpus: int = 1,
                  utilisation: float = 0.4, price_per_hour: float = 2.0) -> TrainingCost:
    """Cost of training ``n_params`` parameters on ``n_tokens`` tokens; see ``TrainingCost``.

    Raises ``ValueError`` for a GPU name not in ``GPU_PEAK_FLOPS``, fewer than one GPU, a
    utilisation outside (0, 1], a negative price, or non-positive N or D.
    """
    if gpu not in GPU_PEAK_FLOPS:
        raise ValueError(f"gpu must be one of {sorted(GPU_PEAK_FLOPS)}, got {gpu!r}.")
    if isinstance(n_gpus, bool) or not isinstance(n_gpus, int) or n_gpus < 1:
        raise ValueError(f"n_gpus must be a positive int, got {n_gpus!r}.")
    if not price_per_hour >= 0:
        raise ValueError(f"price_per_hour must be >= 0 dollars, got {price_per_hour!r}.")
    flops = training_flops(n_params, n_tokens)  # checks N, D > 0
    gpu_days = training_days(flops, GPU_PEAK_FLOPS[gpu], 1, utilisation)  # checks utilisation
    memory = memory_bytes(n_params, "bfloat16", training=True)
    return TrainingCost(
        n_params=float(n_params), n_tokens=float(n_tokens), gpu=gpu, n_gpus=n_gpus, utilisation=utilisation,
        price_per_hour=float(price_per_hour), flops=flops, gpu_days=gpu_days, days=gpu_days / n_gpus,
        dollars=gpu_days * 24.0 * price_per_hour, memory_bytes=memory,
        min_gpus_for_memory=max(1, math.ceil(memory / _gpu_memory(gpu))),
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


def cost_widget(n_params: float = 1e9, n_tokens: float = 2e10, utilisation: float = 0.4,
                price_per_hour: float = 2.0):
    """Sliders for N and D (log scale) and a GPU menu, showing ``training_cost`` on 1 and 1024 GPUs.

    Returns an ``ipywidgets.VBox``; its ``update()`` callback (pure arithmetic) returns the
    ``TrainingCost`` it shows.
    """
    import ipywidgets as widgets

    n_slider = widgets.FloatLogSlider(value=n_params, base=10, min=5, max=12, step=0.1, description="N params",
                                      readout_format=".3g", continuous_update=True)
    d_slider = widgets.FloatLogSlider(value=n_tokens, base=10, min=6, max=14, step=0.1, description="D tokens",
                                      readout_format=".3g", continuous_update=True)
    gpu_menu = widgets.Dropdown(options=[g for g in GPU_PEAK_FLOPS if "bf16" in g], value="H100 SXM (bf16)",
                                description="GPU")
    text = widgets.HTML()

    def update(*_):
        cost = training_cost(n_slider.value, d_slider.value, gpu_menu.value, 1024, utilisation, price_per_hour)
        text.value = "<pre>" + cost.summary() + "</pre>"
        return cost

    for w in (n_slider, d_slider, gpu_menu):
        w.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([n_slider, d_slider, gpu_menu]), text])
    box.update, box.n_slider, box.d_slider, box.gpu_menu, box.text = update, n_slider, d_slider, gpu_menu, text
    return box
