"""Units of language-model loss: nats, bits, bits per byte and perplexity.

A language model's loss is the average negative log-probability of the true next token.
With natural logarithms it is in *nats* per token; divided by ln 2 it is in *bits* per
token; divided further by the bytes a token covers it is in *bits per byte* (bpb), which
does not depend on the tokenizer. Perplexity is exp(loss in nats): the size of a uniform
choice that would be as surprising.
"""
from __future__ import annotations

import math

__all__ = ["LN2", "nats_to_bits", "bits_per_byte", "perplexity"]

LN2 = math.log(2.0)


def nats_to_bits(loss_nats: float) -> float:
    """Loss in nats per token -> bits per token (divide by ln 2)."""
    return loss_nats / LN2


def bits_per_byte(loss_nats: float, bytes_per_token: float = 1.0) -> float:
    """Loss in nats per token -> bits per UTF-8 byte, for tokens covering ``bytes_per_token`` bytes."""
    if bytes_per_token <= 0:
        raise ValueError(f"bytes_per_token must be positive, got {bytes_per_token}.")
    return loss_nats / LN2 / bytes_per_token


def perplexity(loss_nats: float) -> float:
    """exp(loss): perplexity per token from a loss in nats per token."""
    return math.exp(loss_nats)
