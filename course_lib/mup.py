"""The maximal-update parametrisation (muP) of the course GPT, and the coordinate check that verifies it.

Yang et al. 2022 ("Tensor Programs V", arXiv 2203.03466) choose, for each kind of weight, how its
init and its learning rate scale with the width multiplier m = d_model / base_width (their
Table 3, for Adam): hidden matrices init variance ~ 1/fan_in and Adam lr / m, the readout a 1/m
output multiplier (microsoft/mup's ``MuReadout``), attention logits q.k / d_head instead of
/ sqrt(d_head); embeddings, LayerNorms and biases keep their init and lr. Then both the activations
and their change per update stay the same size, coordinate by coordinate, as the model widens, so
the best learning rate (and init scale) found on a small model transfers to wide ones. Dividing
the lr by the width in the standard parametrisation (SP) is not muP: updates of some layers then
vanish with width while initial logits still grow, and the optimum drifts.

``GPTConfig(mup_base_width=b)`` builds a muP GPT (``course_lib.model``), ``GPT.lr_scales`` gives
``train_loop`` its per-parameter lr multipliers, and ``coordinate_check`` (Yang et al. 2022,
Fig. 5; microsoft/mup's ``get_coord_data``) trains a few Adam steps at several widths and records
the mean |activation|: flat in width under muP, growing under SP.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .model import GPT, GPTConfig
from .text import python_docs, random_windows
from .tokenizer import CharTokenizer, encode_to_tensor
from .train import train_loop
from .validation import check_int, check_positive

__all__ = ["coordinate_check", "coordinate_slopes", "plot_coordinate_check", "PARAMETRIZATIONS"]

PARAMETRIZATIONS = ("mup", "standard")


def _lm_loss(model, batch):
    return model(*batch)[1]


def _sizes(model: GPT, batch) -> dict[str, float]:
    """Mean |x| (l1 per coordinate) of each watched activation on ``batch``, from forward hooks."""
    watched = {"embedding": model.drop}  # wte(idx) + wpe(pos), (B, T, C)
    for i, block in enumerate(model.blocks):
        watched[f"block{i}.attn"] = block.attn  # the attention's output, after c_proj, (B, T, C)
        watched[f"block{i}"] = block  # the block's output, the residual stream, (B, T, C)
    watched["logits"] = model.lm_head  # (B, T, V), with muP's 1/m multiplier
    sizes, hooks = {}, []
    for name, module in watched.items():
        hooks.append(module.register_forward_hook(
            lambda _m, _inp, out, name=name: sizes.__setitem__(name, out.detach().abs().mean().item())))
    try:
        with torch.no_grad():
            model(batch[0])
    finally:
        for h in hooks:
            h.remove()
    return {name: sizes[name] for name in watched}  # in data order


def coordinate_check(widths=(32, 64, 128, 256), *, parametrization: str = "mup", base_width: int | None = None,
                     n_layer: int = 2, n_head: int = 4, steps: int = 4, lr: float = 1e-2, seed: int = 0,
                     vocab_size: int | None = None, context_length: int = 32, batch_size: int = 8,
                     num_threads: int | None = 1) -> dict:
    """Train a GPT of each width for ``steps`` Adam steps and record its activations' sizes at every step.

    The coordinate check of Yang et al. 2022 (Fig. 5) and microsoft/mup (``get_coord_data``): for
    each ``d_model`` in ``widths`` (n_head fixed, so d_head = d_model / n_head grows), build the
    model (``parametrization`` "mup": ``GPTConfig(mup_base_width=base_width)``, default the
    smallest width; "standard": SP) with ``torch.manual_seed(seed)``, train it with
    ``course_lib.train.train_loop`` (the real param groups; AdamW, constant ``lr``, no warmup,
    weight decay or clipping) on char-level text (the first 20,000 characters of
    ``python_docs``; ``vocab_size`` an int: uniform random tokens instead), and after every step
    (and at init) run one fixed batch through it and record the mean absolute value per
    coordinate of the embedding output, each block's attention output and output, and the logits.

    Returns a JSON-able dict: ``widths``, ``steps`` (0 = init, ..., ``steps``), ``sizes`` (name ->
    one list per width of the size at each step, in the units of the activations), ``loss``
    (per width, each step's training loss in nats/token) and the settings.
    """
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}, got {parametrization!r}.")
    widths = [check_int(w, "each width", minimum=1) for w in widths]
    if not widths:
        raise ValueError("widths is empty; give d_model values, e.g. (32, 64, 128, 256).")
    n_head = check_int(n_head, "n_head", minimum=1)
    if any(w % n_head for w in widths):
        raise ValueError(f"every width must be a multiple of n_head={n_head}, got {widths}.")
    base_width = min(widths) if base_width is None else check_int(base_width, "base_width", minimum=1)
    steps, lr = check_int(steps, "steps", minimum=1), check_positive(lr, "lr")
    if vocab_size is None:
        text = python_docs(20_000).text
        tok = CharTokenizer(text)
        data, vocab_size = encode_to_tensor(tok, text), tok.vocab_size
    else:
        vocab_size = check_int(vocab_size, "vocab_size", minimum=2)
        data = torch.randint(vocab_size, (20_000,), generator=torch.Generator().manual_seed(seed))
    probe = random_windows(data, batch_size, context_length, torch.Generator().manual_seed(seed + 1))
    result = {"parametrization": parametrization, "base_width": base_width, "n_layer": n_layer, "n_head": n_head,
              "lr": lr, "seed": seed, "vocab_size": vocab_size, "context_length": context_length,
              "batch_size": batch_size, "widths": widths, "steps": list(range(steps + 1)), "sizes": {}, "loss": []}
    for width in widths:
        torch.manual_seed(seed)
        model = GPT(GPTConfig(vocab_size=vocab_size, context_length=context_length, n_layer=n_layer, n_head=n_head,
                              d_model=width, mup_base_width=base_width if parametrization == "mup" else None))
        trace = [_sizes(model, probe)]
        history = train_loop(model, lambda step, g: random_windows(data, batch_size, context_length, g), _lm_loss,
                             steps, lr=lr, min_lr=lr, warmup_steps=0, weight_decay=0.0, grad_clip=None, seed=seed,
                             device="cpu", num_threads=num_threads,
                             on_eval=lambda m: trace.append(_sizes(m, probe)) or {})
        for name in trace[0]:
            result["sizes"].setdefault(name, []).append([t[name] for t in trace])
        result["loss"].append(list(history.train_loss))
    return result


def coordinate_slopes(result: dict, step: int = -1) -> dict[str, float]:
    """Log-log slope of each activation's size against width at ``step`` (default the last): name -> slope.

    The least-squares slope of log(size) on log(d_model): 0 when the size does not depend on
    width (muP), about 1 when it grows like the width (SP's logits after an Adam step).
    Needs at least two widths; an activation of size 0 (muP's zero readout at init) gives NaN.
    """
    widths = np.asarray(result["widths"], dtype=float)
    if len(widths) < 2:
        raise ValueError("coordinate_slopes needs a coordinate check over at least two widths.")
    slopes = {}
    for name, per_width in result["sizes"].items():
        sizes = np.array([trace[step] for trace in per_width], dtype=float)
        slopes[name] = float(np.polyfit(np.log(widths), np.log(sizes), 1)[0]) if (sizes > 0).all() else math.nan
    return slopes


def plot_coordinate_check(result: dict, ax=None, step: int = -1):
    """Plot each activation's size against width (log-log) at ``step`` (default the last); returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    t = result["steps"][step]
    for name, per_width in result["sizes"].items():
        ax.plot(result["widths"], [trace[step] for trace in per_width], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width (d_model)")
    ax.set_ylabel("mean |activation| per coordinate")
    label = "muP" if result["parametrization"] == "mup" else "SP"
    ax.set_title(f"coordinate check, {label}, after {t} Adam steps (lr {result['lr']:g})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return ax
