"""The training loop: AdamW, warmup then cosine decay, gradient clipping, evaluation.

One step, as chapter 04 writes it out by hand:

    x, y   = random_windows(train_data, B, T, generator)   # (B, T) inputs and next tokens
    logits, loss = model(x, y)                              # forward; cross-entropy in nats/token
    loss.backward()                                         # gradients
    clip_grad_norm_(params, grad_clip)                      # bound the update size
    set lr = lr_at(step, ...); optimizer.step()             # AdamW update with the schedule
    optimizer.zero_grad()

``train`` runs that loop, evaluates on held-out windows every ``eval_every`` steps, shows
a ``tqdm.auto`` progress bar (a widget in JupyterLab, text in a terminal) and returns a
``History`` that plots in one call. The same seed gives bit-identical losses on one
machine. Stopping it (Ctrl-C, or the stop button in Jupyter) returns the history so far
and saves the checkpoint: no work is lost.
"""
from __future__ import annotations

import json
import math
import pathlib
import time
import warnings
from dataclasses import asdict, dataclass, field

import torch

from .device import pick_device
from .text import random_windows
from .units import bits_per_byte

__all__ = ["lr_at", "History", "train", "estimate_loss", "loss_by_position", "save_checkpoint", "load_checkpoint"]

def lr_at(step: int, max_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based): linear warmup to ``max_lr``, then cosine decay to ``min_lr``.

    During warmup the rate rises as ``max_lr * (step + 1) / warmup_steps``; from
    ``warmup_steps`` to ``total_steps`` it follows half a cosine down to ``min_lr``, and
    stays there after ``total_steps``.
    """
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)  # 0 -> 1
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


@dataclass
class History:
    """What happened during training, one entry per evaluation.

    Lists are aligned: ``step[i]`` optimizer steps and ``tokens[i]`` training tokens had
    been processed when ``train_loss[i]`` (mean over the steps since the previous
    evaluation) and ``val_loss[i]`` were recorded. Losses are in nats per token;
    ``*_bpb`` are bits per byte, ``loss / ln 2 / bytes_per_token``; ``wall_time`` is in
    seconds since the start (machine-dependent: never compare it across machines).
    """

    bytes_per_token: float = 1.0
    step: list = field(default_factory=list)
    tokens: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    wall_time: list = field(default_factory=list)
    interrupted: bool = False

    @property
    def train_bpb(self) -> list:
        """Training loss in bits per byte."""
        return [bits_per_byte(loss, self.bytes_per_token) for loss in self.train_loss]

    @property
    def val_bpb(self) -> list:
        """Validation loss in bits per byte (NaN where there was no validation data)."""
        return [bits_per_byte(loss, self.bytes_per_token) for loss in self.val_loss]

    @property
    def final_val_loss(self) -> float:
        """The last validation loss in nats per token."""
        if not self.val_loss:
            raise ValueError("no evaluation was recorded; train for at least one step.")
        return self.val_loss[-1]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["train_bpb"], d["val_bpb"] = self.train_bpb, self.val_bpb
        return d

    def plot(self, ax=None, unit: str = "nats", x: str = "tokens", title: str | None = None):
        """Plot training and validation loss against ``x`` ("tokens" or "step"); returns the Axes.

        ``unit`` is "nats" (per token) or "bpb" (bits per byte).
        """
        import matplotlib.pyplot as plt

        if unit not in ("nats", "bpb"):
            raise ValueError(f"unit must be 'nats' or 'bpb', got {unit!r}.")
        if x not in ("tokens", "step"):
            raise ValueError(f"x must be 'tokens' or 'step', got {x!r}.")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        xs = getattr(self, x)
        tr, va = (self.train_loss, self.val_loss) if unit == "nats" else (self.train_bpb, self.val_bpb)
        ax.plot(xs, tr, label="train", marker=".")
        if any(not math.isnan(v) for v in va):
            ax.plot(xs, va, label="validation", marker=".")
        ax.set_xlabel("training tokens" if x == "tokens" else "step")
        ax.set_ylabel("loss (nats/token)" if unit == "nats" else "bits per byte")
        ax.grid(alpha=0.3)
        ax.legend()
        if title:
            ax.set_title(title)
        return ax


@torch.no_grad()
def estimate_loss(model, data: torch.Tensor, batch_size: int, context_length: int, n_batches: int = 8,
                  seed: int = 1234, device=None) -> float:
    """Mean loss (nats/token) of ``model`` on ``n_batches`` random windows of ``data``.

    The windows come from a generator seeded with ``seed``, so every call sees the same
    windows: successive evaluations are comparable and the curve is smooth.
    """
    device = next(model.parameters()).device if device is None else device
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(n_batches):
        x, y = random_windows(data, batch_size, context_length, g)
        total += model(x.to(device), y.to(device))[1].item()
    model.train(was_training)
    return total / n_batches


@torch.no_grad()
def loss_by_position(model, data: torch.Tensor, batch_size: int, context_length: int, n_batches: int = 8,
                     seed: int = 1234) -> torch.Tensor:
    """Mean loss (nats) at each position of the context, a (context_length,) tensor.

    Position t predicts token t + 1 from the t + 1 tokens before it, so the curve shows
    how much a model gains from longer context (Kaplan et al. 2020, section 3.2.1, figure 20).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(context_length)
    for _ in range(n_batches):
        x, y = random_windows(data, batch_size, context_length, g)
        logits, _ = model(x.to(device))
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y.to(device), reduction="none")  # (B, T)
        total += loss.mean(dim=0).cpu()
    model.train(was_training)
    return total / n_batches


def _check_args(model, train_data, val_data, steps, batch_size, lr, context_length, grad_clip):
    if not hasattr(model, "parameters") or not callable(model):
        raise ValueError(f"model must be a torch.nn.Module returning (logits, loss), got {type(model).__name__}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}.")
    if grad_clip is not None and grad_clip <= 0:
        raise ValueError(f"grad_clip must be positive or None, got {grad_clip!r}.")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is None:
            continue
        if not isinstance(data, torch.Tensor) or data.dim() != 1 or data.is_floating_point():
            raise ValueError(f"{name} must be a 1-D integer tensor of token ids (see course_lib.tokenizer.encode_to_tensor).")
        if len(data) < context_length + 1:
            raise ValueError(
                f"{name} has {len(data)} tokens, fewer than context_length + 1 = {context_length + 1}. "
                "Use more text or a shorter context_length."
            )


def train(
    model,
    train_data: torch.Tensor,
    val_data: torch.Tensor | None = None,
    *,
    steps: int,
    batch_size: int = 32,
    context_length: int | None = None,
    lr: float = 1e-3,
    min_lr: float | None = None,
    warmup_steps: int | None = None,
    weight_decay: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.95),
    grad_clip: float | None = 1.0,
    eval_every: int | None = None,
    eval_batches: int = 8,
    bytes_per_token: float = 1.0,
    seed: int = 0,
    device=None,
    checkpoint_dir: str | pathlib.Path | None = None,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train ``model`` on random windows of ``train_data``; return a ``History``.

    Args:
        model: an ``nn.Module`` whose ``forward(x, y)`` returns ``(logits, loss)`` with the
            loss in nats per token, such as ``course_lib.model.GPT``.
        train_data, val_data: (N,) integer token ids; ``val_data`` may be None.
        steps: optimizer steps. Each step sees ``batch_size * context_length`` tokens.
        batch_size: B, windows per step.
        context_length: T, tokens per window; default ``model.config.context_length``.
        lr: peak learning rate. ``min_lr`` (default ``lr / 10``) is reached at the end of
            the cosine; ``warmup_steps`` defaults to 10% of ``steps``.
        weight_decay: AdamW decoupled weight decay, applied to matrices only (not to
            biases, LayerNorm gains or 1-D parameters).
        betas: AdamW's moment decay rates; (0.9, 0.95) as in GPT-3.
        grad_clip: maximum global gradient norm, or None for no clipping.
        eval_every: evaluate every this many steps (default: 10 evaluations) and at the end.
        eval_batches: batches of ``batch_size`` windows per evaluation.
        bytes_per_token: UTF-8 bytes per token of the data, for bits per byte.
        seed: seeds the batch order and dropout; the same seed gives the same losses.
        device: "auto" / None (CUDA, then MPS, then CPU), or "cpu", "cuda", "mps".
        checkpoint_dir: if given, ``model.safetensors``, ``config.json`` and
            ``history.json`` are written there at every evaluation.
        progress: show a tqdm progress bar.
    """
    from tqdm.auto import tqdm

    if context_length is None:
        if not hasattr(model, "config") or not hasattr(model.config, "context_length"):
            raise ValueError("pass context_length=..., the model has no config.context_length.")
        context_length = model.config.context_length
    _check_args(model, train_data, val_data, steps, batch_size, lr, context_length, grad_clip)
    device = pick_device(device)
    warmup_steps = max(1, steps // 10) if warmup_steps is None else warmup_steps
    min_lr = lr / 10 if min_lr is None else min_lr
    eval_every = max(1, steps // 10) if eval_every is None else eval_every
    if eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}.")

    torch.manual_seed(seed)  # dropout masks
    gen = torch.Generator().manual_seed(seed)  # batch order
    model.to(device).train()
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    opt = torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device.type in ("cpu", "cuda"))

    history = History(bytes_per_token=bytes_per_token)
    tokens_per_step = batch_size * context_length
    running, n_running = 0.0, 0
    start = time.perf_counter()
    # At most ~25 redraws per bar, whatever the machine's speed: a notebook widget bar sends comm
    # messages on every redraw, and thousands of them can overflow the kernel's output queue.
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False, miniters=max(1, steps // 25),
               mininterval=0.5)
    step = 0
    try:
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, lr, warmup_steps, steps, min_lr)
            x, y = random_windows(train_data, batch_size, context_length, gen)
            _, loss = model(x.to(device), y.to(device))
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss.item()} at step {step}: training diverged. Lower lr (now {lr}) "
                    "or keep grad_clip on."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            running += loss.item()
            n_running += 1
            bar.update(1)
            if (step + 1) % eval_every == 0 or step + 1 == steps:
                _record(history, model, step + 1, tokens_per_step, running / n_running, val_data, batch_size,
                        context_length, eval_batches, device, opt.param_groups[0]["lr"], start)
                running, n_running = 0.0, 0
                bar.set_postfix(train=f"{history.train_loss[-1]:.3f}", val=f"{history.val_loss[-1]:.3f}",
                                refresh=False)
                if checkpoint_dir is not None:
                    save_checkpoint(model, checkpoint_dir, history)
    except KeyboardInterrupt:
        history.interrupted = True
        warnings.warn(f"training interrupted after {step} steps; returning the history so far.", stacklevel=2)
        if n_running:
            _record(history, model, step, tokens_per_step, running / n_running, val_data, batch_size,
                    context_length, eval_batches, device, opt.param_groups[0]["lr"], start)
        if checkpoint_dir is not None:
            save_checkpoint(model, checkpoint_dir, history)
    finally:
        bar.close()
    model.eval()
    return history


def _record(history, model, step, tokens_per_step, train_loss, val_data, batch_size, context_length,
            eval_batches, device, lr, start):
    val = (estimate_loss(model, val_data, batch_size, context_length, eval_batches, device=device)
           if val_data is not None else float("nan"))
    model.train()
    history.step.append(step)
    history.tokens.append(step * tokens_per_step)
    history.train_loss.append(train_loss)
    history.val_loss.append(val)
    history.lr.append(lr)
    history.wall_time.append(time.perf_counter() - start)


def save_checkpoint(model, folder: str | pathlib.Path, history: History | None = None) -> pathlib.Path:
    """Write ``model.safetensors`` (+ ``config.json`` for a GPT, ``history.json`` if given) to ``folder``."""
    from safetensors.torch import save_model

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / "model.safetensors"))  # handles the tied embedding/head
    if hasattr(model, "config") and hasattr(model.config, "__dataclass_fields__"):
        (folder / "config.json").write_text(json.dumps(asdict(model.config), indent=2))
    if history is not None:
        (folder / "history.json").write_text(json.dumps(history.to_dict(), indent=2))
    return folder


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
