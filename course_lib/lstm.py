"""The seeds' Keras LSTM, ported to PyTorch as a real language model.

Seed 004 (section 5.2) builds ``Sequential([Embedding, LSTM(units), Dense(vocab_size)])``.
With Keras' default ``return_sequences=False`` that model reads a whole sequence and
predicts *one* token: a classifier, not a language model. A language model predicts the
next token at every position, so here the LSTM returns its hidden state at every step
and the output layer is applied to each: ``forward(idx, targets) -> (logits, loss)``, the
same interface as ``course_lib.model.GPT``, so ``course_lib.train.train`` trains both.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .validation import check_fraction, check_int

__all__ = ["LSTMConfig", "LSTMLanguageModel"]


@dataclass
class LSTMConfig:
    """Size of an LSTM language model; every size is a positive int, ``dropout`` in [0, 1).

    ``context_length`` is the window length it is trained on: an LSTM has no hard limit,
    but the trainer and the evaluations treat it like a GPT. ``dropout`` acts between
    stacked layers (none with one layer).
    """

    vocab_size: int  # number of token ids
    context_length: int  # tokens per training window
    d_embed: int  # embedding width (Keras' embedding_dim)
    d_hidden: int  # LSTM state width (Keras' units)
    n_layer: int = 1  # stacked LSTM layers
    dropout: float = 0.0  # between stacked layers

    def __post_init__(self):
        for name in ("vocab_size", "context_length", "d_embed", "d_hidden", "n_layer"):
            check_int(getattr(self, name), f"LSTMConfig.{name} (a positive int)", minimum=1)
        check_fraction(self.dropout, "LSTMConfig.dropout", allow_zero=True)


class LSTMLanguageModel(nn.Module):
    """Embedding -> LSTM (every time step) -> Linear to the vocabulary."""

    def __init__(self, config: LSTMConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_embed)
        self.lstm = nn.LSTM(config.d_embed, config.d_hidden, num_layers=config.n_layer, batch_first=True,
                            dropout=config.dropout if config.n_layer > 1 else 0.0)
        self.head = nn.Linear(config.d_hidden, config.vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """idx (B, T) int64 -> logits (B, T, V) and the mean cross-entropy in nats, or None."""
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.is_floating_point():
            raise ValueError("idx must be a (batch, time) tensor of integer token ids.")
        if int(idx.min()) < 0 or int(idx.max()) >= self.config.vocab_size:
            raise ValueError(f"token ids must be in [0, {self.config.vocab_size - 1}].")
        h, _ = self.lstm(self.embed(idx))  # (B, T, d_hidden)
        logits = self.head(h)  # (B, T, V)
        if targets is None:
            return logits, None
        B, T = idx.shape
        return logits, F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T))

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, without the input embedding if ``non_embedding`` (as for GPT)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if non_embedding else n
