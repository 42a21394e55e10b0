"""Checkpoints: the weights in safetensors, and everything else a run needs to continue exactly.

``save_checkpoint(model, folder, history)`` writes ``model.safetensors`` (the tied
embedding and head once), ``config.json`` for a course GPT and ``history.json``;
``load_checkpoint(folder)`` rebuilds the GPT. A *resumable* checkpoint adds
``training_state.pt``: the step, the optimizer's state (AdamW's moments and step counts),
the random-number states (the batch generator's and torch's, for dropout), the running
training-loss sum since the last record and the run's *signature* (its settings), so
``train_loop(..., resume=True)`` continues with the losses the uninterrupted run would
have had, and refuses, before training, a checkpoint of another configuration.

Loading is safe: safetensors for the weights (no code runs), and
``torch.load(weights_only=True)`` for the training state (tensors, numbers, strings and
containers only).
"""
from __future__ import annotations

import json
import os
import pathlib
from dataclasses import asdict

import torch

from .device import pick_device

__all__ = ["save_checkpoint", "load_checkpoint", "load_training_state", "check_signature", "STATE_FILE"]

STATE_FILE = "training_state.pt"


def save_checkpoint(model, folder: str | pathlib.Path, history=None, training_state: dict | None = None) -> pathlib.Path:
    """Write ``model.safetensors`` (+ ``config.json`` for a GPT, ``history.json`` if given) to ``folder``.

    ``history`` is a ``train.History`` or its ``to_dict()``. ``training_state`` (a dict
    with at least ``"step"``) is written last to ``training_state.pt``; the weights carry
    the same step in their metadata, so weights and state from different steps are
    detected when the run resumes.
    """
    from safetensors.torch import save_model

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    step = None if training_state is None else int(training_state["step"])
    metadata = None if step is None else {"step": str(step)}
    _atomic(folder / "model.safetensors", lambda tmp: save_model(model, str(tmp), metadata=metadata))
    if hasattr(model, "config") and hasattr(model.config, "__dataclass_fields__"):
        (folder / "config.json").write_text(json.dumps(asdict(model.config), indent=2))
    if history is not None:
        data = history.to_dict() if hasattr(history, "to_dict") else history
        _atomic(folder / "history.json", lambda tmp: tmp.write_text(json.dumps(data, indent=2)))
    if training_state is not None:
        _atomic(folder / STATE_FILE, lambda tmp: torch.save(training_state, tmp))
    return folder


def _atomic(path: pathlib.Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def load_checkpoint(folder: str | pathlib.Path, device=None):
    """Load a GPT saved by ``save_checkpoint`` (safetensors: no code is executed while loading)."""
    from safetensors.torch import load_model

    from .model import GPT, GPTConfig

    folder = pathlib.Path(folder)
    if not (folder / "model.safetensors").exists() or not (folder / "config.json").exists():
        raise ValueError(f"{folder} has no model.safetensors and config.json; is it a course checkpoint?")
    model = GPT(GPTConfig(**json.loads((folder / "config.json").read_text())))
    load_model(model, str(folder / "model.safetensors"))
    return model.to(pick_device(device)).eval()


def load_training_state(folder: str | pathlib.Path) -> dict | None:
    """The training state of a resumable checkpoint in ``folder`` (None if it has none).

    ValueError if the state and the weights belong to different steps (a save that was
    cut off between the two files).
    """
    from safetensors import safe_open

    folder = pathlib.Path(folder)
    path = folder / STATE_FILE
    if not path.exists():
        return None
    state = torch.load(path, weights_only=True)
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        weights_step = (f.metadata() or {}).get("step")
    if weights_step != str(state["step"]):
        raise ValueError(f"{folder}: the weights are from step {weights_step} but {STATE_FILE} from step "
                         f"{state['step']} (a save was interrupted); delete the folder to start over.")
    return state


def check_signature(saved: dict, current: dict, folder) -> None:
    """ValueError naming every setting in which a checkpoint's run differs from this one."""
    keys = sorted(set(saved) | set(current))
    diff = [f"{k}: checkpoint {saved.get(k)!r}, now {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]
    if diff:
        raise ValueError(f"{folder} holds a checkpoint of a different run, so it cannot be resumed ("
                         + "; ".join(diff) + "). Use the same settings, another checkpoint_dir, or resume=False.")
