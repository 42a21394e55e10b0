"""Choosing an LLM: what a model of N parameters needs in memory, speed, money and energy.

Four questions decide whether a model is usable for a job, and each has a formula:

* **Memory.** Weights take ``N x bytes per parameter`` (4 in float32, 2 in bfloat16, 1 in
  int8, 0.5 in int4; ``course_lib.compute.memory_bytes``). Inference adds the key-value
  cache, training adds gradients and AdamW's two moments (16 bytes per parameter in all
  for float32 or bf16 mixed precision). The KV cache holds, for every cached token, a key
  and a value vector per layer and per key-value head::

      KV bytes = 2 x n_layer x n_kv_heads x head_dim x tokens x batch x bytes per value

  (Pope et al. 2022, "Efficiently scaling Transformer inference", section 2; with
  grouped-query attention, Ainslie et al. 2023, ``n_kv_heads`` is smaller than
  ``n_head``). Llama 2 7B in bf16: 2 x 32 x 32 x 128 x 2 bytes = 0.5 MiB per token.
* **Speed of generation.** Each new token costs about ``2 N`` FLOPs per sequence
  (Kaplan et al. 2020, section 2.1), and each decoding step must read every weight and
  the whole KV cache from memory once. A step therefore takes at least
  ``max(FLOPs / (peak x utilisation), bytes / bandwidth)``. At batch 1 the memory term is
  hundreds of times larger: decoding is *memory-bandwidth-bound*, and the tokens/s of a
  single conversation is about ``bandwidth / weight bytes``. Batching many sequences
  shares one read of the weights and moves decoding towards the compute bound.
* **Money.** A GPU-hour at a stated price divided by the tokens it produces in an hour;
  training cost is ``course_lib.cost.training_cost`` (C = 6 N D).
* **Energy.** GPU-hours x power per GPU x the data centre's PUE; carbon is energy x the
  grid's carbon intensity. ``training_energy`` reproduces Patterson et al. (2021)'s
  1,287 MWh for GPT-3 from their own stated inputs.

Everything here is arithmetic on stated assumptions (data-sheet peaks, a utilisation,
a price); real systems add activations, fragmentation, communication and idle time.
The accelerators come from ``course_lib.compute.GPUS``, the package's one GPU table.
Chapter 07c's sliders on ``plan`` are ``course_lib.labs.ch07_deployment.choice_widget``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from .compute import BYTES_PER_PARAM, GPUSpec, gpu_spec, memory_bytes
from .validation import check_fraction, check_int, check_nonnegative, check_positive

__all__ = [
    "ModelShape",
    "KNOWN_MODELS",
    "shape_from_params",
    "shape_of",
    "kv_cache_bytes",
    "MemoryPlan",
    "memory_plan",
    "DecodeSpeed",
    "decode_speed",
    "dollars_per_million_tokens",
    "Energy",
    "training_energy",
    "Plan",
    "plan",
]


# ----------------------------------------------------------------------------- model shapes


@dataclass(frozen=True)
class ModelShape:
    """What the KV cache depends on, besides the parameter count.

    Attributes:
        n_params: parameters N (all of them, embeddings included: they all sit in memory).
        n_layer: Transformer blocks.
        d_model: width.
        n_head: query heads; ``head_dim = d_model // n_head``.
        n_kv_heads: key-value heads (= n_head for multi-head attention, fewer with
            grouped-query attention, 1 with multi-query attention).
        head_size: width of one head when a model sets it apart from d_model / n_head
            (None: d_model // n_head, true of GPT-2, Llama 2 and SmolLM2).
    """

    n_params: float
    n_layer: int
    d_model: int
    n_head: int
    n_kv_heads: int
    head_size: int | None = None

    @property
    def head_dim(self) -> int:
        return self.head_size if self.head_size is not None else self.d_model // self.n_head

    def kv_bytes_per_token(self, dtype: str = "bfloat16") -> float:
        """Bytes of KV cache per cached token of one sequence: 2 x n_layer x n_kv_heads x head_dim x bytes."""
        return kv_cache_bytes(self, 1, 1, dtype)


# Published configurations (the papers' and model cards' numbers).
KNOWN_MODELS = {
    # Radford et al. 2019; 124,439,808 parameters with the tied head counted once
    "GPT-2 small": ModelShape(124_439_808, 12, 768, 12, 12),
    # Touvron et al. 2023 (Llama 2), table 1 and the model card: 6,738,415,616 parameters
    "Llama 2 7B": ModelShape(6_738_415_616, 32, 4096, 32, 32),
    # Llama 2 70B uses grouped-query attention with 8 key-value heads
    "Llama 2 70B": ModelShape(68_976_648_192, 80, 8192, 64, 8),
    # Brown et al. 2020, table 2.1
    "GPT-3 175B": ModelShape(175e9, 96, 12288, 96, 96),
    # Allal et al. 2025 (SmolLM2), the model card's config: 30 layers, width 576, 9 query and 3
    # key-value heads; 134,515,008 parameters with the tied head counted once (course_lib.pretrained)
    "SmolLM2-135M": ModelShape(134_515_008, 30, 576, 9, 3),
}


def _dtype(dtype: str) -> float:
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"dtype must be one of {sorted(BYTES_PER_PARAM)}, got {dtype!r}.")
    return BYTES_PER_PARAM[dtype]


def shape_from_params(n_params: float, width_per_layer: int = 128, head_dim: int = 128) -> ModelShape:
    """A plausible shape for ``n_params`` parameters, when only the size is known.

    Uses N ~ 12 n_layer d_model^2 (Kaplan et al. 2020) and the ratio d_model / n_layer of
    about 128 that GPT-3 175B (12288 / 96) and Llama 2 7B (4096 / 32) share, so
    d_model = (N x 128 / 12)^(1/3), rounded to a multiple of ``head_dim``. Multi-head
    attention (n_kv_heads = n_head). An approximation for the sliders, not a real model.
    """
    n_params = check_positive(n_params, "n_params")
    width_per_layer = check_int(width_per_layer, "width_per_layer", minimum=1)
    head_dim = check_int(head_dim, "head_dim", minimum=1)
    d_model = (n_params * width_per_layer / 12.0) ** (1.0 / 3.0)
    n_head = max(1, round(d_model / head_dim))
    d_model = n_head * head_dim
    n_layer = max(1, round(n_params / (12.0 * d_model**2)))
    return ModelShape(n_params, n_layer, d_model, n_head, n_head)


def shape_of(model) -> ModelShape:
    """The ``ModelShape`` of a loaded model: a course GPT, a GPT-2 or a Llama-family transformers model.

    Reads the sizes from ``model.config`` (course ``GPTConfig``: n_layer, d_model, n_head;
    GPT-2: n_layer, n_embd, n_head; Llama and most others: num_hidden_layers, hidden_size,
    num_attention_heads, num_key_value_heads, head_dim) and counts the parameters (a tied
    head once). ValueError for a model without such a config.
    """
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "parameters"):
        raise ValueError(f"shape_of needs a loaded model with a .config (a course GPT or a transformers model), "
                         f"got {type(model).__name__}.")

    def first(*names):
        for name in names:
            value = getattr(config, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    n_layer, d_model = first("n_layer", "num_hidden_layers"), first("d_model", "n_embd", "hidden_size")
    n_head = first("n_head", "num_attention_heads")
    if None in (n_layer, d_model, n_head):
        raise ValueError(f"shape_of cannot read the layers, width and heads of a {type(config).__name__}.")
    n_kv = first("num_key_value_heads") or n_head
    head = first("head_dim")
    n_params = sum(p.numel() for p in model.parameters())  # tied weights counted once
    return ModelShape(n_params, n_layer, d_model, n_head, n_kv, head if head not in (None, d_model // n_head) else None)


# ----------------------------------------------------------------------------- memory


def kv_cache_bytes(shape: ModelShape, tokens: int, batch_size: int = 1, dtype: str = "bfloat16") -> float:
    """Bytes of the key-value cache: 2 x n_layer x n_kv_heads x head_dim x tokens x batch x bytes.

    The 2 is one key and one value vector per layer, per key-value head and per cached
    token. Args: ``tokens`` cached per sequence (prompt + generated), ``batch_size``
    sequences, ``dtype`` of the cache (usually that of the activations, bf16).
    """
    if not isinstance(shape, ModelShape):
        raise ValueError(f"shape must be a ModelShape (see KNOWN_MODELS, shape_from_params), got {type(shape).__name__}.")
    tokens = check_int(tokens, "tokens", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    return 2.0 * shape.n_layer * shape.n_kv_heads * shape.head_dim * tokens * batch_size * _dtype(dtype)


@dataclass(frozen=True)
class MemoryPlan:
    """Memory of a model for inference or training, in bytes.

    Attributes:
        weights: N x bytes(dtype).
        gradients: training only: N x bytes(dtype).
        optimizer: training only: AdamW's two moments, plus a float32 master copy of the
            weights in mixed precision (8 N or 12 N bytes).
        kv_cache: inference only: ``kv_cache_bytes`` for the context and batch.
        total: the sum (activations, framework overhead and fragmentation not included).
    """

    weights: float
    gradients: float
    optimizer: float
    kv_cache: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.kv_cache


def memory_plan(shape: ModelShape, dtype: str = "bfloat16", training: bool = False, context_tokens: int = 4096,
                batch_size: int = 1, kv_dtype: str = "bfloat16") -> MemoryPlan:
    """Memory for inference (weights + KV cache) or AdamW training (weights, gradients, optimizer).

    Training totals equal ``course_lib.compute.memory_bytes(N, dtype, training=True)``:
    16 bytes per parameter in float32 (4 + 4 + 8) and in bf16 mixed precision (2 + 2 + 12).
    int8 and int4 are inference formats (weights stored small, computed in bf16); training
    in them raises a ValueError. ``kv_dtype`` is the cache's format (inference only).
    """
    if not isinstance(shape, ModelShape):
        raise ValueError(f"shape must be a ModelShape (see KNOWN_MODELS, shape_from_params), got {type(shape).__name__}.")
    n, b = shape.n_params, _dtype(dtype)
    weights = memory_bytes(n, dtype)
    if training:
        total = memory_bytes(n, dtype, training=True)  # raises for int8 / int4
        return MemoryPlan(weights=weights, gradients=n * b, optimizer=total - weights - n * b, kv_cache=0.0)
    return MemoryPlan(weights=weights, gradients=0.0, optimizer=0.0,
                      kv_cache=kv_cache_bytes(shape, context_tokens, batch_size, kv_dtype))


# ----------------------------------------------------------------------------- speed


@dataclass(frozen=True)
class DecodeSpeed:
    """How fast a GPU generates tokens, from its two limits.

    Attributes:
        compute_seconds: FLOPs of one step / (peak x utilisation).
        memory_seconds: bytes read in one step / (bandwidth x bandwidth_utilisation).
        step_seconds: the larger of the two (perfect overlap: a lower bound on the time).
        batch_size: sequences advanced by one token per step.
        bound: ``"memory"`` or ``"compute"``, whichever limit sets the step time.
    """

    compute_seconds: float
    memory_seconds: float
    batch_size: int

    @property
    def step_seconds(self) -> float:
        return max(self.compute_seconds, self.memory_seconds)

    @property
    def bound(self) -> str:
        return "memory" if self.memory_seconds >= self.compute_seconds else "compute"

    @property
    def tokens_per_second(self) -> float:
        """Tokens per second over the whole batch (each sequence gets 1 / step_seconds)."""
        return self.batch_size / self.step_seconds

    @property
    def per_sequence_tokens_per_second(self) -> float:
        return 1.0 / self.step_seconds


def decode_speed(shape: ModelShape, gpu="H100 SXM", dtype: str = "bfloat16", batch_size: int = 1,
                 context_tokens: int = 1024, utilisation: float = 0.5, bandwidth_utilisation: float = 0.8,
                 kv_dtype: str = "bfloat16") -> DecodeSpeed:
    """Upper-bound decoding speed of one GPU holding the whole model.

    One step advances ``batch_size`` sequences by one token each:

    * FLOPs: ``2 N`` per token for the weights plus ``4 n_layer d_model context`` for
      attention over the cache (scores and weighted sum), times ``batch_size``;
    * bytes: every weight once (shared by the batch) plus every sequence's KV cache.

    ``utilisation`` is the fraction of the bf16 peak reached by the matrix multiplies
    and ``bandwidth_utilisation`` the fraction of the data-sheet bandwidth (about 0.8 is
    typical of a good kernel). int8 / int4 weights are read small and computed in bf16,
    so they speed up the memory-bound regime only.
    """
    if not isinstance(shape, ModelShape):
        raise ValueError(f"shape must be a ModelShape (see KNOWN_MODELS, shape_from_params), got {type(shape).__name__}.")
    g = gpu_spec(gpu)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    context_tokens = check_int(context_tokens, "context_tokens", minimum=0)
    check_fraction(utilisation, "utilisation", allow_one=True)
    check_fraction(bandwidth_utilisation, "bandwidth_utilisation", allow_one=True)
    flops_per_token = 2.0 * shape.n_params + 4.0 * shape.n_layer * shape.d_model * context_tokens
    step_bytes = memory_bytes(shape.n_params, dtype) + kv_cache_bytes(shape, context_tokens, batch_size, kv_dtype)
    return DecodeSpeed(compute_seconds=flops_per_token * batch_size / (g.peak("bfloat16") * utilisation),
                       memory_seconds=step_bytes / (g.bandwidth * bandwidth_utilisation), batch_size=batch_size)


def dollars_per_million_tokens(tokens_per_second: float, price_per_hour: float) -> float:
    """Dollars per 10^6 generated tokens for a GPU at ``price_per_hour`` producing ``tokens_per_second``."""
    tokens_per_second = check_positive(tokens_per_second, "tokens_per_second")
    price_per_hour = check_nonnegative(price_per_hour, "price_per_hour")
    return price_per_hour / (tokens_per_second * 3600.0) * 1e6


# ----------------------------------------------------------------------------- energy


@dataclass(frozen=True)
class Energy:
    """Energy and emissions of spending some FLOPs.

    Attributes:
        device_hours: hours of one device at the achieved FLOP/s.
        kwh: device_hours x watts / 1000 x PUE, kilowatt-hours at the wall.
        co2_kg: kwh x the grid's carbon intensity, kilograms of CO2-equivalent.
    """

    device_hours: float
    kwh: float
    co2_kg: float


def training_energy(flops: float, achieved_flops_per_device: float, watts: float, pue: float = 1.1,
                    kg_co2_per_kwh: float = 0.429) -> Energy:
    """Energy of a training run from its FLOPs and stated assumptions.

    Args:
        flops: FLOPs spent (6 N D for training).
        achieved_flops_per_device: FLOP/s one device really sustains (peak x MFU).
        watts: average power drawn per device (with its share of the server), watts.
        pue: power usage effectiveness of the data centre (total power / IT power), >= 1.
            Patterson et al. 2021 use 1.1 for a Microsoft data centre; 1.5-1.6 is typical
            of older ones.
        kg_co2_per_kwh: carbon intensity of the electricity, 0.429 in Patterson et al.'s
            GPT-3 estimate (the US average then); from ~0.02 (hydro) to ~0.8 (coal).

    Returns:
        ``Energy(device_hours, kwh, co2_kg)``.
    """
    flops = check_positive(flops, "flops")
    achieved = check_positive(achieved_flops_per_device, "achieved_flops_per_device")
    watts = check_positive(watts, "watts")
    if not (isinstance(pue, numbers.Real) and pue >= 1):
        raise ValueError(f"pue must be >= 1 (total facility power / IT power), got {pue!r}.")
    check_nonnegative(kg_co2_per_kwh, "kg_co2_per_kwh")
    hours = flops / achieved / 3600.0
    kwh = hours * watts / 1000.0 * pue
    return Energy(device_hours=hours, kwh=kwh, co2_kg=kwh * kg_co2_per_kwh)


# ----------------------------------------------------------------------------- the calculator


@dataclass(frozen=True)
class Plan:
    """Everything ``plan`` works out for one model, format and GPU."""

    shape: ModelShape
    dtype: str
    gpu: GPUSpec
    inference: MemoryPlan
    training: MemoryPlan | None
    speed_batch1: DecodeSpeed
    speed_batch: DecodeSpeed
    price_per_hour: float
    context_tokens: int

    @property
    def gpus_for_inference(self) -> int:
        """GPUs needed just to hold the weights and the KV cache (at least 1)."""
        return max(1, math.ceil(self.inference.total / self.gpu.memory_bytes))

    @property
    def gpus_for_training(self) -> int | None:
        """GPUs needed just to hold the training state (activations not counted); None for int8/int4."""
        if self.training is None:
            return None
        return max(1, math.ceil(self.training.total / self.gpu.memory_bytes))

    def summary(self) -> str:
        """A few lines of text for the widget or a print (rounded: no machine-dependent digits)."""
        s, inf = self.shape, self.inference
        gb = 1e9
        lines = [
            f"model: N = {s.n_params:.3g} parameters, {s.n_layer} layers, d_model {s.d_model}, "
            f"{s.n_head} heads ({s.n_kv_heads} key-value heads)",
            f"inference in {self.dtype}: weights {inf.weights / gb:,.1f} GB + KV cache {inf.kv_cache / gb:,.2f} GB "
            f"(batch {self.speed_batch.batch_size} x {self.context_tokens:,} tokens) "
            f"= {inf.total / gb:,.1f} GB -> {self.gpus_for_inference} x {self.gpu.name} "
            f"({self.gpu.memory_bytes / gb:.0f} GB)",
        ]
        if self.training is None:
            lines.append(f"training: not in {self.dtype} (train in bfloat16 or float32, then quantize)")
        else:
            t = self.training
            lines.append(
                f"training (AdamW): weights {t.weights / gb:,.1f} + gradients {t.gradients / gb:,.1f} + optimizer "
                f"{t.optimizer / gb:,.1f} = {t.total / gb:,.1f} GB -> at least {self.gpus_for_training} GPUs, "
                "activations not counted")
        for speed in (self.speed_batch1, self.speed_batch):
            lines.append(
                f"decoding, batch {speed.batch_size}: {speed.per_sequence_tokens_per_second:,.0f} tokens/s per sequence, "
                f"{speed.tokens_per_second:,.0f} in all ({speed.bound}-bound), "
                f"${dollars_per_million_tokens(speed.tokens_per_second, self.price_per_hour):,.2f} per million tokens "
                f"at ${self.price_per_hour:.2f}/GPU-hour")
        if self.gpus_for_inference > 1:
            lines.append("(speeds assume one GPU that holds everything; split over several GPUs, each reads its share)")
        return "\n".join(lines)


def plan(n_params: float | ModelShape, dtype: str = "bfloat16", gpu="H100 SXM", context_tokens: int = 4096,
         batch_size: int = 32, price_per_hour: float = 2.0) -> Plan:
    """Memory, decoding speed and cost of one model in one format on one kind of GPU.

    Args:
        n_params: a parameter count (the shape is guessed with ``shape_from_params``) or a
            ``ModelShape`` (e.g. ``KNOWN_MODELS["Llama 2 7B"]``).
        dtype: weight format for inference: float32, bfloat16, float16, int8, int4.
            Training is planned in the same format (bf16 mixed precision for 16-bit
            formats) and is None for int8 / int4.
        gpu: a key of ``course_lib.compute.GPUS`` (``"A100"``, ``"H100 SXM"``) or a ``GPUSpec``.
        context_tokens: tokens cached per sequence (prompt + output).
        batch_size: sequences decoded together, for the second speed (the first is batch 1).
        price_per_hour: dollars per GPU-hour (an assumption; rental prices vary).
    """
    shape = n_params if isinstance(n_params, ModelShape) else shape_from_params(n_params)
    g = gpu_spec(gpu)
    _dtype(dtype)
    check_nonnegative(price_per_hour, "price_per_hour")
    training = memory_plan(shape, dtype, training=True) if dtype not in ("int8", "int4") else None
    return Plan(
        shape=shape, dtype=dtype, gpu=g,
        inference=memory_plan(shape, dtype, training=False, context_tokens=context_tokens, batch_size=batch_size),
        training=training,
        speed_batch1=decode_speed(shape, g, dtype, 1, context_tokens),
        speed_batch=decode_speed(shape, g, dtype, batch_size, context_tokens),
        price_per_hour=float(price_per_hour), context_tokens=context_tokens,
    )
