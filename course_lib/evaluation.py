"""Held-out loss of a language model: on fixed random windows, overall or position by position.

``estimate_loss`` is the number the training loop records; ``loss_by_position`` shows how
much a model gains from longer context. Both draw their windows from a generator with a
fixed seed, so every call (every model, every evaluation) sees the same windows.
``course_lib.train`` re-exports both.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .text import random_windows

__all__ = ["estimate_loss", "loss_by_position"]


def estimate_loss(model, data: torch.Tensor, batch_size: int, context_length: int, n_batches: int = 8,
                  seed: int = 1234, device=None) -> float:
    """Mean loss (nats/token) of ``model`` on ``n_batches`` random windows of ``data``.

    The windows come from a generator seeded with ``seed``, so every call sees the same
    windows: successive evaluations are comparable and the curve is smooth.
    """
    return _mean_over_windows(model, data, batch_size, context_length, n_batches, seed, device,
                              lambda x, y: model(x, y)[1].item())


def loss_by_position(model, data: torch.Tensor, batch_size: int, context_length: int, n_batches: int = 8,
                     seed: int = 1234) -> torch.Tensor:
    """Mean loss (nats) at each position of the context, a (context_length,) tensor.

    Position t predicts token t + 1 from the t + 1 tokens before it, so the curve shows
    how much a model gains from longer context (Kaplan et al. 2020, section 3.2.1, figure 20).
    """
    def per_position(x, y):
        loss = F.cross_entropy(model(x)[0].transpose(1, 2), y, reduction="none")  # (B, T)
        return loss.mean(dim=0).cpu()

    return _mean_over_windows(model, data, batch_size, context_length, n_batches, seed, None, per_position)


@torch.no_grad()
def _mean_over_windows(model, data, batch_size, context_length, n_batches, seed, device, measure):
    device = next(model.parameters()).device if device is None else device
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(n_batches):
        x, y = random_windows(data, batch_size, context_length, g)
        total = total + measure(x.to(device), y.to(device))
    model.train(was_training)
    return total / n_batches
