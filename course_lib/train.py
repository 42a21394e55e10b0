"""The training loop: AdamW, warmup then cosine decay, gradient clipping, evaluation.

One loop, ``train_loop``, trains every model of the course; what differs between tasks
is only how a batch is made and how a loss is computed, which the caller passes in:

    train_loop(model, next_batch, loss_fn, steps, lr=...)    -> History
        next_batch(step, generator) -> batch (a tensor or a tuple of tensors)
        loss_fn(model, batch)       -> 0-d loss tensor (nats per predicted token)

The trainers fix those two functions and the optimiser settings, and all return a
``History`` (it plots in one call): ``train`` (language models such as GPT and the LSTM,
on random windows of a token stream, evaluated on held-out windows; a ``tqdm.auto``
progress bar), ``train_toy_task`` (chapter 03's reversal task), ``train_masked_lm``
(BERT-style masking) and ``train_translation`` (number words -> digits). The same seed
gives bit-identical losses on one machine. Stopping a run (Ctrl-C, or the stop button in
Jupyter) returns the history so far and saves the checkpoint if one was asked for; a run
resumed from it (``resume=True``) continues with the losses it would have had.
Checkpoints live in ``course_lib.checkpoint``, data-parallel training under ``torchrun``
in ``course_lib.distributed``.
"""
from __future__ import annotations

import math
import pathlib
import time
import warnings
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from .checkpoint import check_signature, load_checkpoint, load_training_state, save_checkpoint
from .device import pick_device
from .distributed import context, mean_across_ranks, shard
from .evaluation import estimate_loss, loss_by_position
from .objectives import mask_tokens, number_words_batch, source_vocab_size, target_vocab_size
from .text import random_windows
from .transformer import BOS, EOS, PAD, greedy_decode, reversal_batch, teacher_forcing_loss, toy_vocab_size
from .units import bits_per_byte
from .validation import check_int, check_nonnegative, check_positive

__all__ = ["lr_at", "History", "train_loop", "train", "train_toy_task", "train_masked_lm", "train_translation",
           "estimate_loss", "loss_by_position", "sequence_accuracy", "torch_threads", "save_checkpoint",
           "load_checkpoint"]


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

    Lists are aligned: ``step[i]`` optimizer steps and ``tokens[i]`` input tokens (the
    ids of ``batch[0]``, padding included; B * T per step for a language model) had
    been processed when ``train_loss[i]`` (mean over the steps since the previous
    evaluation) and ``val_loss[i]`` (NaN without validation) were recorded. Losses are
    in nats per token; ``*_bpb`` are bits per byte, ``loss / ln 2 / bytes_per_token``;
    ``wall_time`` is in seconds since the start (machine-dependent: never compare it
    across machines). ``metrics[name][i]`` holds what ``train_loop``'s ``on_eval``
    returned at evaluation i (e.g. an accuracy). The task trainers evaluate after every
    step, so their ``train_loss`` is the loss of each step.
    """

    bytes_per_token: float = 1.0
    step: list = field(default_factory=list)
    tokens: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    wall_time: list = field(default_factory=list)
    interrupted: bool = False
    metrics: dict = field(default_factory=dict)

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
def sequence_accuracy(model, src: torch.Tensor, tgt: torch.Tensor, bos_idx: int = BOS, eos_idx: int = EOS,
                      pad_idx: int = PAD, num_threads: int | None = 1) -> float:
    """Share of rows of ``src`` (B, S) that ``greedy_decode`` translates exactly right, every token through EOS.

    ``model`` is a ``course_lib.transformer.Seq2SeqTransformer``; ``tgt`` (B, T) is the
    reference, BOS first and right-padded with ``pad_idx``. ``num_threads``: as in
    ``train_toy_task``. Returns a fraction in [0, 1].
    """
    with torch_threads(num_threads):
        pred = greedy_decode(model, src, tgt.shape[1] - 1, bos_idx, eos_idx, pad_idx)  # (B, <= T)
    if pred.shape[1] < tgt.shape[1]:
        pred = F.pad(pred, (0, tgt.shape[1] - pred.shape[1]), value=pad_idx)
    return (pred == tgt).all(dim=1).float().mean().item()


class torch_threads:
    """Run a block with ``torch.set_num_threads(n)``, then restore the old value (n = None: leave it)."""

    def __init__(self, n: int | None):
        self.n, self.old = (None if n is None else check_int(n, "num_threads", minimum=1)), torch.get_num_threads()

    def __enter__(self):
        if self.n is not None:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.n is not None:
            torch.set_num_threads(self.old)


def _to_device(batch, device) -> tuple:
    batch = (batch,) if isinstance(batch, torch.Tensor) else batch
    if not isinstance(batch, (tuple, list)) or not batch or not all(isinstance(t, torch.Tensor) for t in batch):
        raise ValueError(f"next_batch must return a tensor or a tuple of tensors, got {type(batch).__name__}.")
    return tuple(t.to(device) for t in batch)


def _lm_loss(model, batch):
    return model(*batch)[1]  # a model whose forward(inputs, targets) returns (logits, loss)


def _seq2seq_loss(model, batch):
    return teacher_forcing_loss(model, *batch)  # batch = (src, tgt); PAD targets are not scored


PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}
"""``train_loop``'s ``precision`` settings and the dtype autocast computes in."""


def train_loop(model, next_batch, loss_fn, steps: int, *, lr: float, min_lr: float | None = None,
               warmup_steps: int | None = None, weight_decay: float = 0.0, decay_all: bool = False,
               betas: tuple[float, float] = (0.9, 0.999), fused: bool | None = None, grad_clip: float | None = 1.0,
               eval_every: int = 1, val_loss_fn=None, on_eval=None, bytes_per_token: float = 1.0, seed: int = 0,
               device=None, num_threads: int | None = None, checkpoint_dir: str | pathlib.Path | None = None,
               resume: bool = False, run_info: dict | None = None, precision: str = "float32",
               compile: bool = False, progress: bool = False, desc: str = "training") -> History:
    """The one training loop: AdamW, warmup + cosine schedule, clipping, evaluation; returns a ``History``.

    Step i: lr = ``lr_at(i, lr, warmup_steps, steps, min_lr)``; ``batch = next_batch(i,
    generator)``, a tensor or tuple of tensors, moved to ``device`` (None: the model's);
    ``loss = loss_fn(model, batch)``, a 0-d tensor in nats (FloatingPointError if not
    finite); backward; clip the gradient norm to ``grad_clip`` (None: no clipping); one
    AdamW step (``betas``, ``fused``; ``weight_decay`` on matrices only, or on every
    parameter if ``decay_all``, as torch's default). Every ``eval_every`` steps and at the
    end it records the mean training loss since the last record, ``val_loss_fn(model)``
    (NaN if None) and the dict ``on_eval(model)`` returns (into ``History.metrics``), and
    saves a checkpoint to ``checkpoint_dir`` if given. ``seed`` seeds the batch generator
    and torch's (dropout); ``min_lr`` defaults to lr / 10, ``warmup_steps`` to 10% of the
    steps; ``num_threads`` sets torch's threads during the run (None: unchanged);
    ``progress`` shows a ``tqdm.auto`` bar, redrawn at most about 25 times. Bad arguments
    raise ValueError; the model is left in eval mode.

    Checkpoints are resumable: with ``resume=True`` and a ``checkpoint_dir`` that holds one,
    the weights, the optimizer, the step, the schedule and the random-number states are
    restored and the run continues with the losses it would have had uninterrupted; a
    checkpoint of a different run (other settings, or other ``run_info``, which the
    trainers fill with their data settings) raises ValueError before any training.
    Under ``torchrun`` the loop is data-parallel (``course_lib.distributed``): each rank
    trains on its share of the same global batch, rank 0 writes the checkpoints.
    ``precision="bfloat16"`` runs the forward pass under ``torch.autocast`` (bfloat16
    matrix multiplies, float32 weights and optimizer; it pays on GPUs with bfloat16 units);
    ``compile=True`` trains ``torch.compile(model)`` (minutes of compiling first; it pays
    for long runs on a GPU). Both default off, and neither changes the checkpoint format.
    A model with ``lr_scales()`` (parameter name -> multiplier; muP's ``GPT.lr_scales``) trains
    each parameter at lr * scale, a decayed one with weight_decay / scale (lr * weight_decay per
    step unchanged, as microsoft/mup's MuAdamW); ``History.lr`` stays the unscaled schedule.
    """
    from tqdm.auto import tqdm

    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    for name, fn in (("next_batch", next_batch), ("loss_fn", loss_fn)):
        if not callable(fn):
            raise ValueError(f"{name} must be a function, got {type(fn).__name__}.")
    steps = check_int(steps, "steps", minimum=1)
    lr = check_positive(lr, "lr")
    min_lr = lr / 10 if min_lr is None else check_nonnegative(min_lr, "min_lr")
    warmup_steps = max(1, steps // 10) if warmup_steps is None else check_int(warmup_steps, "warmup_steps", minimum=0)
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    if grad_clip is not None:
        grad_clip = check_positive(grad_clip, "grad_clip")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}.")
    threads = torch_threads(num_threads)
    device = next(model.parameters()).device if device is None else torch.device(device)
    ctx = context(device)
    if ctx.active and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
    scales = model.lr_scales() if callable(getattr(model, "lr_scales", None)) else {}
    signature = {"steps": steps, "lr": lr, "min_lr": min_lr, "warmup_steps": warmup_steps,
                 "weight_decay": weight_decay, "decay_all": decay_all, "betas": tuple(betas), "grad_clip": grad_clip,
                 "eval_every": eval_every, "seed": seed, "world_size": ctx.world_size,
                 "parameters": {name: list(p.shape) for name, p in model.named_parameters()}, **(run_info or {}),
                 **({"lr_scales": scales} if any(v != 1.0 for v in scales.values()) else {})}

    torch.manual_seed(seed)  # dropout masks
    gen = torch.Generator().manual_seed(seed)  # batch order
    model.to(device).train()
    groups = {}  # (decayed, lr scale) -> param group: decayed matrices (or all, if decay_all) first, then vectors
    for name, p in sorted(((n, p) for n, p in model.named_parameters() if p.requires_grad),
                          key=lambda named: not (decay_all or named[1].dim() >= 2)):
        decayed, scale = decay_all or p.dim() >= 2, float(scales.get(name, 1.0))
        groups.setdefault((decayed, scale), {"params": [], "lr_scale": scale,
                                             "weight_decay": weight_decay / scale if decayed else 0.0})["params"].append(p)
    opt = torch.optim.AdamW(list(groups.values()), lr=lr, betas=betas, fused=fused)

    history = History(bytes_per_token=bytes_per_token)
    running, n_running, done, tokens = 0.0, 0, 0, 0
    state = load_training_state(checkpoint_dir) if resume and checkpoint_dir is not None else None
    if state is not None:  # continue exactly where the checkpoint stopped
        from safetensors.torch import load_model

        check_signature(state["signature"], signature, checkpoint_dir)
        load_model(model, str(pathlib.Path(checkpoint_dir) / "model.safetensors"), device=str(device))
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["rng"]["batches"])
        torch.set_rng_state(state["rng"]["torch"])
        history = History(**state["history"])
        running, n_running, done, tokens = state["running"], state["n_running"], state["step"], state["tokens"]
    net = torch.nn.parallel.DistributedDataParallel(model) if ctx.active else model
    net = torch.compile(net) if compile else net
    autocast = torch.autocast(device.type, dtype=PRECISIONS[precision], enabled=precision != "float32")

    def checkpoint():
        if checkpoint_dir is not None and ctx.is_main:
            save_checkpoint(model, checkpoint_dir, history, training_state={
                "step": done, "optimizer": opt.state_dict(), "signature": signature, "history": asdict(history),
                "rng": {"batches": gen.get_state(), "torch": torch.get_rng_state()},
                "running": running, "n_running": n_running, "tokens": tokens})

    record = dict(history=history, model=model, val_loss_fn=val_loss_fn, on_eval=on_eval, start=time.perf_counter())
    # At most ~25 redraws per bar, whatever the machine's speed: a notebook widget bar sends comm
    # messages on every redraw, and thousands of them can overflow the kernel's output queue.
    bar = tqdm(total=steps, initial=done, desc=desc, disable=not progress or not ctx.is_main, leave=False,
               miniters=max(1, steps // 25), mininterval=0.5)
    updating = False  # True while the weights and the optimizer are being changed
    base_lr = lr_at(done - 1, lr, warmup_steps, steps, min_lr) if done else lr  # the schedule's value, unscaled
    try:
        with threads:
            for step in range(done, steps):
                base_lr = lr_at(step, lr, warmup_steps, steps, min_lr)
                for group in opt.param_groups:
                    group["lr"] = base_lr * group.get("lr_scale", 1.0)  # old checkpoints' groups have no lr_scale
                batch = _to_device(next_batch(step, gen), device)
                n_tokens = batch[0].numel()
                with autocast:
                    loss = loss_fn(net, shard(batch, ctx))
                if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                    raise ValueError(f"loss_fn must return a 0-d tensor (the mean loss), got {loss!r:.80}.")
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"the loss became {loss.item()} at step {step}: training diverged. Lower lr (now {lr}) "
                        "or keep grad_clip on."
                    )
                updating = True
                opt.zero_grad(set_to_none=True)
                loss.backward()  # under DDP the gradients are averaged over the ranks here
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                opt.step()
                updating = False
                running, n_running, done = running + mean_across_ranks(loss.item(), ctx), n_running + 1, step + 1
                tokens += n_tokens
                bar.update(1)
                if done % eval_every == 0 or done == steps:
                    _record(**record, step=done, tokens=tokens, train_loss=running / n_running,
                            lr=base_lr)
                    running, n_running = 0.0, 0
                    bar.set_postfix(train=f"{history.train_loss[-1]:.3f}", val=f"{history.val_loss[-1]:.3f}",
                                    refresh=False)
                    checkpoint()
    except KeyboardInterrupt:
        history.interrupted = True
        if updating:
            warnings.warn("interrupted while the weights were being updated: the checkpoint on disk is the last "
                          "complete one.", stacklevel=3)
        else:
            checkpoint()  # resumable from exactly this step
        warnings.warn(f"training interrupted after {done} steps; returning the history so far.", stacklevel=3)
        if n_running:
            _record(**record, step=done, tokens=tokens, train_loss=running / n_running, lr=base_lr)
    finally:
        bar.close()
    model.eval()
    return history


def _record(history, model, val_loss_fn, on_eval, start, step, tokens, train_loss, lr):
    val = float(val_loss_fn(model)) if val_loss_fn is not None else float("nan")
    extra = dict(on_eval(model)) if on_eval is not None else {}
    model.train()
    history.step.append(step)
    history.tokens.append(tokens)
    history.train_loss.append(train_loss)
    history.val_loss.append(val)
    history.lr.append(lr)
    history.wall_time.append(time.perf_counter() - start)
    for name, value in extra.items():
        history.metrics.setdefault(name, []).append(value)


def _check_data(name, data, context_length):
    if not isinstance(data, torch.Tensor) or data.dim() != 1 or data.is_floating_point():
        raise ValueError(f"{name} must be a 1-D integer tensor of token ids (see course_lib.tokenizer.encode_to_tensor).")
    if len(data) < context_length + 1:
        raise ValueError(f"{name} has {len(data)} tokens, fewer than context_length + 1 = {context_length + 1}. "
                         "Use more text or a shorter context_length.")


def train(model, train_data: torch.Tensor, val_data: torch.Tensor | None = None, *, steps: int, batch_size: int = 32,
          context_length: int | None = None, lr: float = 1e-3, min_lr: float | None = None,
          warmup_steps: int | None = None, weight_decay: float = 0.1, betas: tuple[float, float] = (0.9, 0.95),
          grad_clip: float | None = 1.0, eval_every: int | None = None, eval_batches: int = 8,
          bytes_per_token: float = 1.0, seed: int = 0, device=None, checkpoint_dir: str | pathlib.Path | None = None,
          resume: bool = False, precision: str = "float32", compile: bool = False, progress: bool = True,
          desc: str = "training") -> History:
    """Train a language model on random windows of ``train_data``; return a ``History``.

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
        checkpoint_dir: if given, ``model.safetensors``, ``config.json``, ``history.json``
            and the training state (optimizer, step, random states) are written there at
            every evaluation and when the run is interrupted.
        resume: continue from the checkpoint in ``checkpoint_dir`` if there is one (same
            settings and data sizes required; ValueError otherwise), with the same losses
            the uninterrupted run would have had.
        progress: show a tqdm progress bar.

    Under ``torchrun --nproc_per_node P`` it trains data-parallel: ``batch_size`` is the
    global batch (a multiple of P), each process takes ``batch_size / P`` of its windows.
    """
    if not hasattr(model, "parameters") or not callable(model):
        raise ValueError(f"model must be a torch.nn.Module returning (logits, loss), got {type(model).__name__}.")
    if context_length is None:
        if not hasattr(model, "config") or not hasattr(model.config, "context_length"):
            raise ValueError("pass context_length=..., the model has no config.context_length.")
        context_length = model.config.context_length
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    check_int(steps, "steps", minimum=1)
    check_positive(lr, "lr")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is not None:
            _check_data(name, data, context_length)
    device = pick_device(device)
    eval_every = max(1, steps // 10) if eval_every is None else eval_every
    val_loss_fn = None if val_data is None else (
        lambda m: estimate_loss(m, val_data, batch_size, context_length, eval_batches, device=device))
    return train_loop(model, lambda step, g: random_windows(train_data, batch_size, context_length, g), _lm_loss,
                      steps, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps, weight_decay=weight_decay, betas=betas,
                      fused=device.type in ("cpu", "cuda"), grad_clip=grad_clip, eval_every=eval_every,
                      val_loss_fn=val_loss_fn, bytes_per_token=bytes_per_token, seed=seed, device=device,
                      checkpoint_dir=checkpoint_dir, resume=resume, precision=precision, compile=compile,
                      progress=progress, desc=desc,
                      run_info={"batch_size": batch_size, "context_length": context_length,
                                "train_tokens": len(train_data), "eval_batches": eval_batches})


def train_toy_task(model, steps: int, batch_size: int = 64, lr: float = 1e-3, warmup_steps: int | None = None,
                   seed: int = 0, min_len: int = 8, max_len: int = 10, n_digits: int = 10, reverse: bool = True,
                   grad_clip: float = 1.0, num_threads: int | None = 1) -> History:
    """Train a ``Seq2SeqTransformer`` on fresh ``reversal_batch`` batches; ``History.train_loss`` is every step's loss.

    AdamW with betas (0.9, 0.98) as in Vaswani et al., no weight decay, a linear warmup
    over ``warmup_steps`` (default 10% of steps) then cosine decay to lr / 10, gradient
    clipping at ``grad_clip``. Losses are in nats per target token (``teacher_forcing_loss``).

    ``num_threads`` defaults to 1: a toy model's matrix products are too small to gain from
    several cores, and on a busy machine torch's threads wait for each other (10-100x slower).
    """
    check_int(batch_size, "batch_size", minimum=1)
    vocab = toy_vocab_size(n_digits)
    if model.src_vocab < vocab or model.tgt_vocab < vocab:
        raise ValueError(f"the toy task with {n_digits} digits needs vocabularies of at least {vocab} ids; the model has "
                         f"src_vocab={model.src_vocab}, tgt_vocab={model.tgt_vocab}.")
    if max_len + 2 > model.max_len:
        raise ValueError(f"targets have max_len + 2 = {max_len + 2} positions but the model's max_len is {model.max_len}.")
    return train_loop(model, lambda step, g: reversal_batch(batch_size, g, min_len, max_len, n_digits, reverse),
                      _seq2seq_loss, steps, lr=lr, warmup_steps=warmup_steps, betas=(0.9, 0.98), decay_all=True,
                      grad_clip=grad_clip, seed=seed, num_threads=num_threads)


def train_masked_lm(model, data: torch.Tensor, steps: int, batch_size: int = 32, lr: float = 1e-3,
                    mask_prob: float = 0.15, seed: int = 0, grad_clip: float = 1.0) -> History:
    """Train a ``MaskedLMEncoder`` on windows of ``data`` with BERT masking; ``History.train_loss`` per step.

    Each step draws ``batch_size`` windows of ``model.context_length`` tokens from the
    (N,) token stream ``data`` (ids below ``model.mask_id``), masks them with
    ``course_lib.objectives.mask_tokens`` and takes one AdamW step (weight decay 0.01 on
    every parameter, warmup over 10% of the steps, cosine decay to lr / 10). Losses are
    nats per masked token.
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not isinstance(data, torch.Tensor) or data.dim() != 1 or data.is_floating_point():
        raise ValueError("data must be a 1-D integer tensor of token ids.")
    if int(data.max()) >= model.mask_id or int(data.min()) < 0:
        raise ValueError(f"data ids must be in [0, {model.mask_id}): id {model.mask_id} is the mask token.")

    def next_batch(step, g):
        x, _ = random_windows(data, batch_size, model.context_length, g)  # (B, T); the shifted y is not needed
        return mask_tokens(x, model.mask_id, model.mask_id, g, mask_prob)  # inputs, labels

    return train_loop(model, next_batch, _lm_loss, steps, lr=lr, weight_decay=0.01, decay_all=True,
                      grad_clip=grad_clip, seed=seed)


def train_translation(model, train_numbers: torch.Tensor, steps: int, batch_size: int = 64, lr: float = 1e-3,
                      seed: int = 0, grad_clip: float = 1.0) -> History:
    """Train a ``Seq2SeqTransformer`` to turn number words into digits; ``History.train_loss`` per step.

    Each step draws ``batch_size`` numbers from ``train_numbers``, builds the pairs with
    ``course_lib.objectives.number_words_batch`` and takes one AdamW step on
    ``teacher_forcing_loss`` (betas 0.9, 0.98 as Vaswani et al., no weight decay; warmup
    over 10% of the steps, cosine decay to lr / 10). Losses are nats per target token.
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if model.src_vocab < source_vocab_size() or model.tgt_vocab < target_vocab_size():
        raise ValueError(f"the model needs src_vocab >= {source_vocab_size()} and tgt_vocab >= {target_vocab_size()}, "
                         f"got {model.src_vocab} and {model.tgt_vocab}.")
    train_numbers = torch.as_tensor(train_numbers)
    if train_numbers.dim() != 1 or len(train_numbers) == 0:
        raise ValueError("train_numbers must be a non-empty 1-D tensor of integers (see split_numbers).")

    def next_batch(step, g):
        return number_words_batch(train_numbers[torch.randint(len(train_numbers), (batch_size,), generator=g)])

    return train_loop(model, next_batch, _seq2seq_loss, steps, lr=lr, betas=(0.9, 0.98), decay_all=True,
                      grad_clip=grad_clip, seed=seed)
