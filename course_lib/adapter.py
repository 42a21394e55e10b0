"""One adapter for "a model that gives next-token logits".

Decoding (``course_lib.generation``), evaluation (``course_lib.metrics``) and chapter 06's
lab take any of three kinds of model, and this module is the only place that tells them
apart:

* a course GPT (``course_lib.model.GPT``): ``model(idx) -> (logits, loss)``;
* a Hugging Face causal LM such as ``GPT2LMHeadModel``: ``model(input_ids=...).logits``;
* anything callable that maps (B, T) int64 ids to a (B, T, V) tensor of logits.

    ids, one = as_batch([5, 7, 9])            # (1, 3) int64, and True: it came as one (T,) row
    with inference(model):                    # evaluation mode, no gradients
        logits = model_logits(model, ids)     # (1, 3, V) float32, every position
        nxt = next_token_logits(model, ids)   # (1, V) float32, cropped to the context length
"""
from __future__ import annotations

import contextlib
import sys

import torch

__all__ = [
    "is_hf_model",
    "model_device",
    "context_length_of",
    "check_fits_context",
    "as_batch",
    "inference",
    "model_logits",
    "next_token_logits",
]


def is_hf_model(model) -> bool:
    """True for a transformers ``PreTrainedModel`` (checked without importing transformers)."""
    transformers = sys.modules.get("transformers")
    return transformers is not None and isinstance(model, transformers.PreTrainedModel)


def model_device(model) -> torch.device:
    """The device of the model's first parameter; the CPU for a model without parameters."""
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def context_length_of(model) -> int | None:
    """The longest prefix ``model`` reads, in tokens, or None if it has no known limit.

    ``config.context_length`` for a course GPT; ``config.n_positions`` (GPT-2) or
    ``config.max_position_embeddings`` for a transformers model.
    """
    config = getattr(model, "config", None)
    for name in ("context_length", "n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_fits_context(model, n_tokens: int, what: str = "the prompt") -> None:
    """ValueError, naming the limit, if ``n_tokens`` tokens are more than ``model`` reads at once.

    Called before a prompt reaches the model: past its context a GPT-2-style model (learned
    positions) fails deep inside torch with an index error, and a model with rotary
    positions (Llama) silently reads positions it was never trained on. A model without a
    known limit (``context_length_of`` is None) accepts anything.
    """
    limit = context_length_of(model)
    if limit is not None and n_tokens > limit:
        raise ValueError(
            f"{what} has {n_tokens:,} tokens but this model reads at most {limit:,} (its context length); "
            f"shorten it, or keep its last {limit:,} tokens (ids[:, -{limit}:]) if the start can go."
        )


def as_batch(ids, name: str = "ids") -> tuple[torch.Tensor, bool]:
    """Token ids as a (B, T) int64 tensor, and whether they came as one (T,) sequence.

    Accepts a list of ints, a list of equal-length lists, or an integer tensor of shape
    (T,) or (B, T). Raises ValueError, naming ``name``, for floats, an empty sequence or
    negative ids.
    """
    if isinstance(ids, (list, tuple)):
        try:
            ids = torch.tensor(ids, dtype=torch.long)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a list of ints or an integer tensor.") from None
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of token ids, got {type(ids).__name__}; use torch.tensor(...).")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer token ids, got dtype {ids.dtype}; use {name}.long().")
    if ids.dim() not in (1, 2):
        raise ValueError(f"{name} must have shape (T,) or (B, T), got {tuple(ids.shape)}.")
    one = ids.dim() == 1
    ids = ids.long().unsqueeze(0) if one else ids.long()
    if ids.shape[1] == 0 or ids.shape[0] == 0:
        raise ValueError(f"{name} is empty; give at least one token to condition on (e.g. a BOS or <|endoftext|> id).")
    if bool((ids < 0).any()):
        raise ValueError(f"{name} holds negative ids (e.g. {ids[ids < 0][:3].tolist()}); token ids are >= 0.")
    return ids, one


@contextlib.contextmanager
def inference(model):
    """Context manager: evaluation mode (no dropout) and no gradients; restores training mode after.

    A model without ``eval`` (a plain function) is only run under ``torch.no_grad``.
    """
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            model.train()


def model_logits(model, ids: torch.Tensor) -> torch.Tensor:
    """Logits of a causal LM for every position: (B, T) int64 ids -> (B, T, V) float32.

    A course GPT returns ``(logits, loss)``, a transformers model an output with
    ``.logits`` (called with ``use_cache=False``), any other module a (B, T, V) tensor.
    ``ids`` are moved to the model's device. It neither crops nor switches off gradients;
    ``next_token_logits`` does both.
    """
    ids = ids.to(model_device(model))
    if is_hf_model(model):
        out = model(input_ids=ids, use_cache=False)
    else:
        out = model(ids)
    if isinstance(out, (tuple, list)):
        logits = out[0]
    elif hasattr(out, "logits"):
        logits = out.logits
    else:
        logits = out
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[:2] != ids.shape:
        raise ValueError(
            f"the model must return (B, T, V) logits for (B, T) ids {tuple(ids.shape)}: a course GPT, "
            f"a transformers causal LM, or a module returning a tensor; got {type(out).__name__}."
        )
    return logits.float()


def next_token_logits(model, ids: torch.Tensor) -> torch.Tensor:
    """Logits of the token that follows each row of ``ids``: (B, T) int64 -> (B, V) float32.

    Keeps only the last ``context_length_of(model)`` tokens (what the model can read)
    and runs without gradients (it does not change the model's training mode).
    """
    limit = context_length_of(model)
    if limit is not None and ids.shape[1] > limit:
        ids = ids[:, -limit:]  # (B, limit)
    with torch.no_grad():
        return model_logits(model, ids)[:, -1, :]  # (B, V)
