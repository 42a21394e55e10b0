"""Chapter 02 lab: experiments on attention: saturation, attention maps, cost.

Three questions, each answered by a plain function that a slider (or a test) calls:

* ``softmax_saturation(d_k, scaled)``: why ``QK^T`` is divided by ``sqrt(d_k)``. For
  queries and keys with unit-variance entries, ``q . k`` has variance ``d_k``; without the
  scale, softmax rows become nearly one-hot as ``d_k`` grows and their gradient vanishes.
* ``attention_maps(model, ids)``: the attention weights of every layer and head of a
  ``course_lib.model.GPT``, recomputed from the model's own ``c_attn`` weights with
  ``course_lib.attention`` (the model itself calls torch's fused kernel, which does not
  return weights). ``recomputed_block_outputs(model, ids)`` gives the residual stream of
  that recomputation and ``block_outputs(model, ids)`` captures what the model's own
  blocks compute, so the two can be checked against each other.
* ``attention_cost(T, ...)``: forward FLOPs and memory of the ``T x T`` score matrix,
  which grow as ``T**2``, against the linear layers' ``2 N`` FLOPs per token.

Widget callbacks built on these stay well under 100 ms (the plotting aside).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..adapter import inference
from ..attention import causal_mask, merge_heads, scaled_dot_product_attention, split_heads
from ..validation import check_int

__all__ = [
    "SaturationStats",
    "softmax_saturation",
    "softmax_jacobian_norm",
    "plot_saturation",
    "attention_maps",
    "recomputed_block_outputs",
    "block_outputs",
    "byte_labels",
    "plot_attention",
    "attention_cost",
    "attention_crossover",
]


# ----------------------------------------------------------------------------- saturation


@dataclass(frozen=True)
class SaturationStats:
    """What softmax does to one batch of random scores.

    Attributes:
        d_k: width of the query and key vectors.
        scaled: whether the scores were divided by sqrt(d_k).
        n_keys: number of keys per query (the length of a softmax row).
        score_std: standard deviation of the scores fed to softmax (measured).
        expected_std: what theory says: sqrt(d_k) unscaled, 1 scaled.
        max_weight: mean over queries of the largest weight in a row (1/n_keys .. 1).
        entropy: mean entropy of a row, in nats (0 = one-hot .. ln n_keys = uniform).
        max_entropy: ln(n_keys), the entropy of uniform weights, in nats.
        jacobian_norm: mean Frobenius norm of the softmax Jacobian d weights / d scores;
            it goes to 0 as rows become one-hot, and so does the gradient through them.
        example_query: index of the query shown in ``example_row``: the one whose largest
            *unscaled* weight is the median over queries, the same for both ``scaled``
            settings, so the two can be compared and the row is typical rather than extreme.
        example_row: the weights of that query, shape (n_keys,), float64 numpy.
    """

    d_k: int
    scaled: bool
    n_keys: int
    score_std: float
    expected_std: float
    max_weight: float
    entropy: float
    max_entropy: float
    jacobian_norm: float
    example_query: int
    example_row: np.ndarray


def softmax_jacobian_norm(weights: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of the softmax Jacobian for each row of ``weights``.

    For p = softmax(s), dp_i/ds_j = p_i (delta_ij - p_j), so
    ||J||_F^2 = sum p^2 - 2 sum p^3 + (sum p^2)^2.

    Args:
        weights: (..., n) rows of softmax outputs (non-negative, summing to 1).

    Returns:
        (...,) the norm of each row's Jacobian (dimensionless).
    """
    p2 = (weights**2).sum(-1)
    p3 = (weights**3).sum(-1)
    return (p2 - 2 * p3 + p2**2).clamp_min(0).sqrt()


def softmax_saturation(
    d_k: int,
    scaled: bool = True,
    n_keys: int = 16,
    n_queries: int = 256,
    seed: int = 0,
) -> SaturationStats:
    """Statistics of softmax(q . k [/ sqrt(d_k)]) for random unit-variance q and k.

    The same seed gives the same q and k for every ``scaled``, so the two settings can be
    compared row for row. Entries of q and k are i.i.d. N(0, 1) in float64.

    Args:
        d_k: key and query width, a positive int.
        scaled: divide the scores by sqrt(d_k), as in Attention(Q, K, V).
        n_keys: keys per query (softmax row length), at least 2.
        n_queries: queries averaged over, at least 1.
        seed: seeds the random q and k.

    Returns:
        A ``SaturationStats``.
    """
    d_k = check_int(d_k, "d_k", minimum=1)
    n_keys = check_int(n_keys, "n_keys", minimum=2)
    n_queries = check_int(n_queries, "n_queries", minimum=1)
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n_queries, d_k, generator=g, dtype=torch.float64)  # (n_q, d_k)
    k = torch.randn(n_keys, d_k, generator=g, dtype=torch.float64)  # (n_k, d_k)
    raw = q @ k.T  # (n_q, n_k), variance d_k
    raw_max = torch.softmax(raw, dim=-1).max(-1).values  # (n_q,)
    example = int(raw_max.argsort()[n_queries // 2])  # a typical query, whatever ``scaled`` is
    scores = raw / math.sqrt(d_k) if scaled else raw  # scaled: variance 1
    weights = torch.softmax(scores, dim=-1)  # (n_q, n_k)
    entropy = -(weights * weights.clamp_min(1e-300).log()).sum(-1)  # (n_q,) nats
    return SaturationStats(
        d_k=int(d_k),
        scaled=bool(scaled),
        n_keys=int(n_keys),
        score_std=scores.std().item(),
        expected_std=1.0 if scaled else math.sqrt(d_k),
        max_weight=weights.max(-1).values.mean().item(),
        entropy=entropy.mean().item(),
        max_entropy=math.log(n_keys),
        jacobian_norm=softmax_jacobian_norm(weights).mean().item(),
        example_query=example,
        example_row=weights[example].numpy().copy(),
    )


# ----------------------------------------------------------------------------- attention maps


def _ids_2d(model, ids) -> torch.Tensor:
    ids = torch.as_tensor(ids)
    if ids.dim() == 1:
        ids = ids[None, :]  # (1, T)
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"ids must be one sequence, shape (T,) or (1, T), got {tuple(ids.shape)}.")
    if ids.is_floating_point() or ids.dtype == torch.bool:
        raise ValueError(f"ids must hold integer token ids, got {ids.dtype}; use ids.long().")
    model.check_ids(ids.long(), "ids")  # same checks (and messages) as GPT.forward
    return ids.long().to(model.wte.weight.device)


def _recompute(model, ids) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a course GPT block by block from its own weights: (attention weights, block outputs).

    Each block: ``ln_1``, the fused ``c_attn`` projection split into Q, K, V,
    ``course_lib.attention.scaled_dot_product_attention`` with a causal mask, ``c_proj``,
    then the MLP. Dropout is off (evaluation mode). Returns (n_layer, n_head, T, T) and
    (n_layer, T, d_model).
    """
    with inference(model):  # evaluation mode (no dropout), no gradients; training mode restored after
        return _recompute_blocks(model, _ids_2d(model, ids))


def _recompute_blocks(model, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    T = ids.shape[1]
    n_head = model.config.n_head
    mask = causal_mask(T, device=ids.device)  # (T, T), True = may attend
    x = model.wte(ids) + model.wpe(torch.arange(T, device=ids.device))  # (1, T, C)
    maps, outs = [], []
    for block in model.blocks:
        h = block.ln_1(x)  # (1, T, C)
        q, k, v = block.attn.c_attn(h).split(model.config.d_model, dim=2)  # 3 x (1, T, C)
        q, k, v = (split_heads(t, n_head) for t in (q, k, v))  # (1, nh, T, hs)
        y, w = scaled_dot_product_attention(q, k, v, mask)  # (1, nh, T, hs), (1, nh, T, T)
        x = x + block.attn.c_proj(merge_heads(y))  # (1, T, C)
        x = x + block.mlp(block.ln_2(x))
        maps.append(w[0])
        outs.append(x[0])
    return torch.stack(maps), torch.stack(outs)  # (n_layer, nh, T, T), (n_layer, T, C)


def attention_maps(model, ids) -> torch.Tensor:
    """Attention weights of every layer and head of a course GPT on one sequence.

    Recomputes each block from the model's own weights (the model itself calls torch's
    fused kernel, which does not return weights): ``ln_1``, the fused ``c_attn``
    projection split into Q, K, V, ``course_lib.attention.scaled_dot_product_attention``
    with a causal mask, ``c_proj``, then the MLP. Dropout is off (evaluation mode).

    Args:
        model: a ``course_lib.model.GPT``.
        ids: (T,) or (1, T) int64 token ids, T <= context_length.

    Returns:
        (n_layer, n_head, T, T) float tensor; row i holds how much position i attends to
        each position j <= i (rows sum to 1, zeros above the diagonal).
    """
    return _recompute(model, ids)[0]


def recomputed_block_outputs(model, ids) -> torch.Tensor:
    """(n_layer, T, d_model): the residual stream after each block, from ``attention_maps``'s recomputation.

    Compare with ``block_outputs(model, ids)`` (the model's own forward pass): equal
    within float32 rounding when the recomputation is right.
    """
    return _recompute(model, ids)[1]


@torch.no_grad()
def block_outputs(model, ids) -> torch.Tensor:
    """(n_layer, T, d_model): each block's output as the model's own forward computes it.

    Captured with forward hooks during ``model(ids)``, so it uses torch's fused attention.
    """
    ids = _ids_2d(model, ids)
    captured = []
    hooks = [b.register_forward_hook(lambda _m, _i, out: captured.append(out[0])) for b in model.blocks]
    was_training = model.training
    model.eval()
    try:
        model(ids)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return torch.stack(captured)


def byte_labels(ids) -> list[str]:
    """Readable labels for byte-level token ids: printable ASCII as itself, space as '␣',
    newline as '⏎', other bytes as hex (``'x0a'``)."""
    labels = []
    for i in torch.as_tensor(ids).flatten().tolist():
        if i == 32:
            labels.append("␣")
        elif i == 10:
            labels.append("⏎")
        elif 33 <= i < 127:
            labels.append(chr(i))
        else:
            labels.append(f"x{i:02x}")
    return labels


def plot_attention(weights, labels=None, ax=None, title: str | None = None):
    """Heatmap of one (T_q, T_k) attention matrix: rows are queries, columns keys. Returns the Axes."""
    import matplotlib.pyplot as plt

    w = torch.as_tensor(weights).detach().cpu().numpy()
    if w.ndim != 2:
        raise ValueError(f"weights must be one (T_q, T_k) matrix, got shape {w.shape}; pick a layer and head.")
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 8.0))
    image = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.figure.colorbar(image, ax=ax, fraction=0.04, label="attention weight")
    if labels is not None:
        size = 9 if max(w.shape) <= 64 else 6
        ax.set_xticks(range(w.shape[1]), labels[: w.shape[1]], fontsize=size, family="monospace")
        ax.set_yticks(range(w.shape[0]), labels[: w.shape[0]], fontsize=size, family="monospace")
    ax.set_xlabel("key position (attended to)")
    ax.set_ylabel("query position")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


# ----------------------------------------------------------------------------- cost


def attention_cost(T, d_model: int, n_layer: int, n_head: int, vocab_size: int = 0, bytes_per_element: int = 4) -> dict:
    """Forward-pass cost of one sequence of length T in a GPT, split into its two kinds.

    * Linear layers: 2 FLOPs per weight per token, ``2 * N * T`` with
      ``N = 12 * n_layer * d_model**2`` (Q, K, V, output projection and the 4x MLP)
      plus ``d_model * vocab_size`` for the output head when ``vocab_size`` is given.
    * Attention scores: ``Q K^T`` and ``weights @ V`` are each ``2 * T**2 * d_model``
      FLOPs per layer (all heads together), so ``4 * T**2 * d_model * n_layer``. Dense
      kernels compute the whole square even with a causal mask; counting only the
      lower triangle (as Kaplan et al. 2020 do) halves it.
    * Score memory: the (n_head, T, T) weights of one layer, ``n_head * T**2 *
      bytes_per_element`` bytes (float32: 4); training keeps them for every layer.

    Matches ``GPT.flops_per_token()``: 3 * (linear + attention) / T, with the
    backward pass costing twice the forward.

    Args:
        T: sequence length, an int or an array of them.
        d_model, n_layer, n_head: model shape; vocab_size: 0 to leave the head out.
        bytes_per_element: 4 for float32, 2 for bfloat16.

    Returns:
        dict of float or numpy arrays: ``linear_flops``, ``attention_flops``,
        ``total_flops`` (FLOPs per sequence, forward), ``attention_fraction``,
        ``scores_bytes_per_layer``, ``scores_bytes`` (all layers), ``activation_bytes_per_layer``
        (one (T, d_model) hidden state) and ``weight_bytes_per_layer``.
    """
    d_model = check_int(d_model, "d_model", minimum=1)
    n_layer = check_int(n_layer, "n_layer", minimum=1)
    n_head = check_int(n_head, "n_head", minimum=1)
    if d_model % n_head:
        raise ValueError(f"n_head={n_head} must divide d_model={d_model}.")
    if vocab_size < 0 or bytes_per_element <= 0:
        raise ValueError("vocab_size must be >= 0 and bytes_per_element > 0.")
    T_arr = np.asarray(T, dtype=np.float64)
    if np.any(T_arr < 1):
        raise ValueError(f"T must be >= 1, got {T!r}.")
    n_linear = 12 * n_layer * d_model**2 + d_model * vocab_size
    linear = 2.0 * n_linear * T_arr
    attention = 4.0 * n_layer * d_model * T_arr**2
    total = linear + attention
    out = {
        "linear_flops": linear,
        "attention_flops": attention,
        "total_flops": total,
        "attention_fraction": attention / total,
        "scores_bytes_per_layer": float(bytes_per_element) * n_head * T_arr**2,
        "scores_bytes": float(bytes_per_element) * n_head * n_layer * T_arr**2,
        "activation_bytes_per_layer": float(bytes_per_element) * d_model * T_arr,
        "weight_bytes_per_layer": np.full_like(T_arr, float(bytes_per_element) * 12 * d_model**2),
    }
    if T_arr.ndim == 0:
        out = {key: float(val) for key, val in out.items()}
    return out


def attention_crossover(d_model: int, n_layer: int = 1, vocab_size: int = 0) -> float:
    """Sequence length at which attention FLOPs equal linear-layer FLOPs (forward).

    ``4 n_layer d T**2 = 2 (12 n_layer d**2 + d V) T`` gives
    ``T = 6 d_model + vocab_size / (2 n_layer)``; without the head, just ``6 d_model``.
    """
    if d_model < 1 or n_layer < 1 or vocab_size < 0:
        raise ValueError("d_model and n_layer must be >= 1 and vocab_size >= 0.")
    return 6.0 * d_model + vocab_size / (2.0 * n_layer)


# ----------------------------------------------------------------------------- widget callbacks


def plot_saturation(d_k: int, n_keys: int = 16, seed: int = 0, axes=None):
    """Bar charts of one softmax row with and without the 1/sqrt(d_k) scale (the d_k slider).

    The same queries and keys feed both panels, which show the same (typical) query.
    Titles give the mean largest weight and the mean entropy over all queries.

    Returns:
        (unscaled, scaled): the two ``SaturationStats``.
    """
    import matplotlib.pyplot as plt

    raw = softmax_saturation(d_k, scaled=False, n_keys=n_keys, seed=seed)
    scaled = softmax_saturation(d_k, scaled=True, n_keys=n_keys, seed=seed)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, s, name in zip(axes, (raw, scaled), ("q.k, no scale", "q.k / sqrt(d_k)")):
        ax.bar(range(n_keys), s.example_row, color="tab:red" if not s.scaled else "tab:blue")
        ax.axhline(1.0 / n_keys, ls=":", color="gray", label="uniform")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("key")
        ax.set_title(f"{name}, d_k={d_k}\nmean max weight {s.max_weight:.2f}, "
                     f"entropy {s.entropy:.2f} of {s.max_entropy:.2f} nats", fontsize=9)
    axes[0].set_ylabel("attention weight (one query)")
    axes[0].legend(loc="upper right", fontsize=8)
    return raw, scaled
