"""Choosing where tensors live: CUDA if present, then Apple's MPS, then the CPU."""
from __future__ import annotations

import torch

__all__ = ["pick_device"]

_KNOWN = ("cpu", "cuda", "mps")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Return a usable ``torch.device``.

    ``None`` or ``"auto"`` picks CUDA, then MPS, then CPU. An explicit ``"cpu"``,
    ``"cuda"``, ``"cuda:1"`` or ``"mps"`` is checked: asking for a device this machine
    does not have raises a ValueError that says what is available.
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'.") from None
    if dev.type not in _KNOWN:
        raise ValueError(f"unsupported device {device!r}; use one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'.")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but this machine has no CUDA GPU (or torch is the CPU build). Use 'cpu' or 'auto'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s).")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but Apple's Metal backend is not available here. Use 'cpu' or 'auto'.")
    return dev
