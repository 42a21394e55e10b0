"""Attention, written out with plain tensor operations for teaching.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V          (Vaswani et al. 2017, eq. 1)
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,  head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

Masks in this module are boolean with **True = may attend**, the convention of
``torch.nn.functional.scaled_dot_product_attention``. Beware: ``nn.MultiheadAttention``
uses the opposite (True = blocked) for ``attn_mask`` and ``key_padding_mask``.

Everything here is checked in the tests against ``F.scaled_dot_product_attention`` and
``nn.MultiheadAttention``. The course's GPT (``course_lib.model``) calls torch's fused
kernel instead, for speed; the arithmetic is the same.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "split_heads",
    "merge_heads",
    "MultiHeadAttention",
]


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T * scale, masked) v, returning the output and the attention weights.

    Args:
        q: (..., T_q, d_k) queries.
        k: (..., T_k, d_k) keys.
        v: (..., T_k, d_v) values.
        mask: optional bool tensor broadcastable to (..., T_q, T_k); True = may attend.
            A query row with no allowed key gets all-zero weights (and a zero output),
            as torch's fused kernel does.
        scale: multiplies the scores; default 1 / sqrt(d_k).

    Returns:
        output: (..., T_q, d_v).
        weights: (..., T_q, T_k), each allowed row sums to 1.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same last dimension d_k, got {q.shape[-1]} and {k.shape[-1]}.")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length T_k, got {k.shape[-2]} and {v.shape[-2]}.")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., T_q, T_k)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor (True = may attend), got {mask.dtype}.")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., T_q, T_k)
    if mask is not None:
        weights = weights.nan_to_num(0.0)  # rows with every key masked: softmax of all -inf
    return weights @ v, weights


def causal_mask(T: int, device=None) -> torch.Tensor:
    """(T, T) bool lower-triangular mask: position i may attend to positions j <= i."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(lengths: torch.Tensor | list[int], T: int) -> torch.Tensor:
    """(B, 1, 1, T) bool mask, True for the first ``lengths[b]`` (real) positions of each row.

    Broadcasts against scores of shape (B, n_head, T_q, T) so padded keys get no weight.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (one length per sequence), got shape {tuple(lengths.shape)}.")
    if (lengths < 0).any() or (lengths > T).any():
        raise ValueError(f"lengths must be in [0, {T}], got {lengths.tolist()}.")
    keep = torch.arange(T)[None, :] < lengths[:, None]  # (B, T)
    return keep[:, None, None, :]


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, d_model) -> (B, n_head, T, d_head), with d_head = d_model / n_head."""
    B, T, d_model = x.shape
    if d_model % n_head:
        raise ValueError(f"n_head={n_head} must divide d_model={d_model}.")
    return x.view(B, T, n_head, d_model // n_head).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, n_head, T, d_head) -> (B, T, n_head * d_head): the Concat(head_1, ..., head_h)."""
    B, n_head, T, d_head = x.shape
    return x.transpose(1, 2).reshape(B, T, n_head * d_head)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate W^Q, W^K, W^V, W^O projections (batch first).

    ``forward(query, key, value, mask=None)`` takes (B, T_q, d_model), (B, T_k, d_model),
    (B, T_k, d_model) and a bool mask broadcastable to (B, n_head, T_q, T_k)
    (True = may attend). It returns the output (B, T_q, d_model) and the per-head
    weights (B, n_head, T_q, T_k).
    """

    def __init__(self, d_model: int, n_head: int, bias: bool = True):
        super().__init__()
        if n_head < 1 or d_model % n_head:
            raise ValueError(f"n_head={n_head} must be >= 1 and divide d_model={d_model}.")
        self.d_model, self.n_head = d_model, n_head
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        if query.dim() != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"query must be (B, T, {self.d_model}), got {tuple(query.shape)}.")
        q = split_heads(self.w_q(query), self.n_head)  # (B, h, T_q, d_head)
        k = split_heads(self.w_k(key), self.n_head)  # (B, h, T_k, d_head)
        v = split_heads(self.w_v(value), self.n_head)  # (B, h, T_k, d_head)
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        return self.w_o(merge_heads(out)), weights

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> "MultiHeadAttention":
        """Copy the weights of a ``nn.MultiheadAttention`` (same d_model and heads) into this module."""
        if mha.embed_dim != self.d_model or mha.num_heads != self.n_head:
            raise ValueError(
                f"nn.MultiheadAttention has d_model={mha.embed_dim}, heads={mha.num_heads}; "
                f"this module has {self.d_model}, {self.n_head}."
            )
        if mha.in_proj_weight is None:
            raise ValueError("nn.MultiheadAttention with different key/value sizes (kdim/vdim) is not supported.")
        for lin, w in zip((self.w_q, self.w_k, self.w_v), mha.in_proj_weight.chunk(3)):
            lin.weight.copy_(w)
        self.w_o.weight.copy_(mha.out_proj.weight)
        if self.w_q.bias is not None:
            for lin, b in zip((self.w_q, self.w_k, self.w_v), mha.in_proj_bias.chunk(3)):
                lin.bias.copy_(b)
            self.w_o.bias.copy_(mha.out_proj.bias)
        return self
