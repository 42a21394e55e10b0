"""The four parts that turn a GPT-2 block into a Llama block, written out for teaching.

    RMSNorm     y = g * x / sqrt(mean_j x_j^2 + eps)                         (Zhang & Sennrich 2019)
    RoPE        rotate coordinate pair i of every query and key by the angle p * theta_i,
                theta_i = base^(-2i / head_dim), p the token's position      (Su et al. 2021)
    SwiGLU      down( silu(gate(x)) * up(x) ), hidden width about 8/3 d       (Shazeer 2020)
    GQA         n_head query heads share n_kv_head key/value heads            (Ainslie et al. 2023)

Llama (Touvron et al. 2023) uses all four; GPT-2 uses LayerNorm, a learned position table,
a GELU MLP of width 4d and one key/value head per query head. The layouts follow Hugging
Face's ``transformers.models.llama.modeling_llama`` (``LlamaRMSNorm``, ``LlamaRotaryEmbedding``
with ``apply_rotary_pos_emb``, ``LlamaMLP``, ``LlamaAttention``), down to parameter names, so
real checkpoints load by copying tensors; tests/test_llama.py checks each part against those
modules and against an independent formula (RoPE as complex multiplication in NumPy).

RoPE's pairing. The paper rotates adjacent coordinates (0, 1), (2, 3), ...; Hugging Face
pairs coordinate i with i + head_dim/2 ("rotate_half"). The two are the same rotation up to
a fixed reordering of each head's coordinates, which the conversion of Meta's checkpoints
folds into W_q and W_k; this module uses Hugging Face's pairing, as the checkpoints it
reads do. Angles are computed in float32 exactly as ``LlamaRotaryEmbedding`` computes them
(or in float64 on request, for a float64 model), and RMSNorm in at least float32.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .validation import check_int, check_positive

__all__ = ["RMSNorm", "rope_frequencies", "rope_cos_sin", "rotate_half", "apply_rope", "swiglu_hidden_size",
           "SwiGLU", "repeat_kv", "GroupedQueryAttention"]


def _check_last_dim(x, size: int, what: str) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{what} expects a floating-point torch.Tensor, got {type(x).__name__}"
                         + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else "") + ".")
    if x.dim() < 1 or x.shape[-1] != size:
        raise ValueError(f"{what} expects inputs whose last dimension is {size}, got shape {tuple(x.shape)}.")


# ----------------------------------------------------------------------------- RMSNorm


class RMSNorm(nn.Module):
    """Root-mean-square normalisation: (..., d) -> (..., d), ``weight * x / sqrt(mean(x**2) + eps)``.

    LayerNorm without the mean subtraction and without the bias: it rescales each vector to
    unit root-mean-square and multiplies by a learned gain (``weight``, d parameters, ones at
    init). Half-precision inputs are normalised in float32 and cast back, as ``LlamaRMSNorm``
    does; float64 inputs stay float64 (``LlamaRMSNorm`` would round them to float32).
    """

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.d_model = check_int(d_model, "d_model", minimum=1)
        self.eps = check_positive(eps, "eps")
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_last_dim(x, self.d_model, "RMSNorm")
        dtype = x.dtype
        x = x.to(torch.promote_types(dtype, torch.float32))
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)  # unit root-mean-square
        return self.weight * x.to(dtype)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}"


# ----------------------------------------------------------------------------- rotary positions


def rope_frequencies(head_dim: int, base: float = 10000.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(head_dim/2,) angular frequencies theta_i = base^(-2i / head_dim), radians per position.

    Pair 0 turns by one radian per position, the last pair by base^(-(head_dim - 2)/head_dim),
    a little more than 1/base: the same ladder of frequencies as the sinusoidal encoding of
    Vaswani et al. (chapter 03). ``head_dim`` must be even, since coordinates are rotated in
    pairs. ``dtype`` float32 (the arithmetic of ``LlamaRotaryEmbedding``) or float64.
    """
    check_int(head_dim, "head_dim", minimum=2)
    if head_dim % 2:
        raise ValueError(f"RoPE rotates coordinates in pairs, so head_dim must be even, got {head_dim}; "
                         f"choose d_model and n_head so that d_model / n_head is even.")
    if check_positive(base, "base") <= 1:
        raise ValueError(f"the RoPE base (rope_theta) must be a number > 1 (10000 in Llama 2), got {base!r}.")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"RoPE angles are computed in torch.float32 (as transformers does) or torch.float64, got {dtype}.")
    return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(dtype) / head_dim))


def rope_cos_sin(positions: torch.Tensor, head_dim: int, base: float = 10000.0,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of every rotation angle: positions (T,) or (B, T) int -> two (..., T, head_dim) of ``dtype``.

    The angle of pair i at position p is p * theta_i; each angle appears twice (columns i and
    i + head_dim/2, Hugging Face's pairing), so ``apply_rope`` is two element-wise products.
    Positions need not start at 0 (a later chunk of a sequence, or one offset per row).
    ``dtype``: float32, as ``LlamaRotaryEmbedding``, or float64 for a float64 model.
    """
    if not isinstance(positions, torch.Tensor) or positions.is_floating_point() or positions.dim() not in (1, 2):
        raise ValueError("positions must be a (T,) or (B, T) integer tensor, e.g. torch.arange(T).")
    if bool((positions < 0).any()):
        raise ValueError(f"positions must be >= 0, got {positions.min().item()}.")
    freqs = positions[..., None].to(dtype) * rope_frequencies(head_dim, base, dtype).to(positions.device)  # (..., T, hd/2)
    angles = torch.cat((freqs, freqs), dim=-1)  # (..., T, hd)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(..., hd) -> (..., hd): (x1, x2) -> (-x2, x1) on the two halves, a 90-degree turn of every pair (i, i + hd/2)."""
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys by their positions' angles: (B, n_head, T, hd) -> the same shape.

    ``cos``, ``sin`` from ``rope_cos_sin``: (T, hd), or (B, T, hd) for per-row positions. Pair
    (x_i, x_{i+hd/2}) at position p becomes (x_i cos a - x_{i+hd/2} sin a, x_i sin a + x_{i+hd/2} cos a),
    a = p * theta_i: the complex product (x_i + j x_{i+hd/2}) e^{j a}.
    """
    if x.dim() != 4:
        raise ValueError(f"apply_rope expects (batch, heads, time, head_dim) tensors, got shape {tuple(x.shape)}.")
    if (cos.shape != sin.shape or cos.dim() not in (2, 3) or cos.shape[-2:] != x.shape[-2:]
            or (cos.dim() == 3 and cos.shape[0] not in (1, x.shape[0]))):
        raise ValueError(f"cos and sin must be (T, head_dim) = {tuple(x.shape[-2:])} or (B, T, head_dim) with "
                         f"B = {x.shape[0]} (from rope_cos_sin), got {tuple(cos.shape)} and {tuple(sin.shape)}.")
    if cos.dim() == 3:  # (B, T, hd): one set of positions per row
        cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, hd)
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


# ----------------------------------------------------------------------------- SwiGLU


def swiglu_hidden_size(d_model: int, multiple_of: int = 256) -> int:
    """Llama's feed-forward width: 2/3 of 4 d_model, rounded up to a multiple of ``multiple_of``.

    A gated MLP has three matrices instead of two; at width 8d/3 it has the 8 d^2 parameters of
    GPT-2's d -> 4d -> d. Meta's rule (llama/model.py): int(2 * 4d / 3) rounded up, which gives
    11,008 for Llama's d = 4096 and 1,536 for SmolLM2's d = 576.
    """
    check_int(d_model, "d_model", minimum=1)
    check_int(multiple_of, "multiple_of", minimum=1)
    hidden = int(2 * 4 * d_model / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


class SwiGLU(nn.Module):
    """The gated feed-forward network of Llama: (..., d) -> (..., d).

        SwiGLU(x) = down_proj( silu(gate_proj(x)) * up_proj(x) ),   silu(z) = z * sigmoid(z)

    ``gate_proj`` and ``up_proj`` are d -> d_hidden, ``down_proj`` d_hidden -> d, no biases:
    3 d d_hidden parameters. The gate decides, feature by feature, how much of ``up_proj(x)``
    passes (Shazeer 2020, "GLU Variants Improve Transformer").
    """

    def __init__(self, d_model: int, d_hidden: int):
        super().__init__()
        self.d_model = check_int(d_model, "d_model", minimum=1)
        check_int(d_hidden, "d_hidden", minimum=1)
        self.gate_proj = nn.Linear(d_model, d_hidden, bias=False)
        self.up_proj = nn.Linear(d_model, d_hidden, bias=False)
        self.down_proj = nn.Linear(d_hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_last_dim(x, self.d_model, "SwiGLU")
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # (..., d)


# ----------------------------------------------------------------------------- grouped-query attention


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, n_kv_head, T, hd) -> (B, n_kv_head * n_rep, T, hd): each key/value head serves n_rep query heads.

    Query head h reads key/value head h // n_rep (the same as ``torch.repeat_interleave(x, n_rep, dim=1)``).
    """
    check_int(n_rep, "n_rep", minimum=1)
    if n_rep == 1:
        return x
    B, n_kv, T, hd = x.shape
    return x[:, :, None].expand(B, n_kv, n_rep, T, hd).reshape(B, n_kv * n_rep, T, hd)


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with rotary positions and ``n_kv_head`` key/value heads: (B, T, d) -> (B, T, d).

    ``n_head`` query heads of width ``head_dim`` (default d_model / n_head) are split into
    ``n_kv_head`` groups; each group shares one key and one value head. ``n_kv_head == n_head``
    is ordinary multi-head attention, ``n_kv_head == 1`` multi-query attention (Shazeer 2019).
    Keys and values are what a KV cache stores, so the cache shrinks by n_head / n_kv_head.
    Parameters: W_q and W_o d * n_head * hd each, W_k and W_v d * n_kv_head * hd each, no biases.
    """

    def __init__(self, d_model: int, n_head: int, n_kv_head: int, head_dim: int | None = None):
        super().__init__()
        for name, value in (("d_model", d_model), ("n_head", n_head), ("n_kv_head", n_kv_head)):
            check_int(value, name, minimum=1)
        if n_head % n_kv_head:
            raise ValueError(f"n_kv_head={n_kv_head} must divide n_head={n_head} (each key/value head serves "
                             f"n_head / n_kv_head query heads); choose n_kv_head from "
                             f"{[k for k in range(1, n_head + 1) if n_head % k == 0]}.")
        if head_dim is None:
            if d_model % n_head:
                raise ValueError(f"n_head={n_head} must divide d_model={d_model}, or give head_dim explicitly.")
            head_dim = d_model // n_head
        check_int(head_dim, "head_dim", minimum=1)
        self.d_model, self.n_head, self.n_kv_head, self.head_dim = d_model, n_head, n_kv_head, head_dim
        self.q_proj = nn.Linear(d_model, n_head * head_dim, bias=False)
        self.k_proj = nn.Linear(d_model, n_kv_head * head_dim, bias=False)
        self.v_proj = nn.Linear(d_model, n_kv_head * head_dim, bias=False)
        self.o_proj = nn.Linear(n_head * head_dim, d_model, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x (B, T, d); cos, sin (T, head_dim) from ``rope_cos_sin(torch.arange(T), head_dim, base)``."""
        _check_last_dim(x, self.d_model, "GroupedQueryAttention")
        if x.dim() != 3:
            raise ValueError(f"GroupedQueryAttention expects (batch, time, {self.d_model}), got {tuple(x.shape)}.")
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hd)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, nkv, T, hd)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, nkv, T, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)  # positions enter here, and only here
        n_rep = self.n_head // self.n_kv_head
        y = F.scaled_dot_product_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep), is_causal=True)  # (B, nh, T, hd)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim))  # (B, T, d)
