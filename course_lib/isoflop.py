"""IsoFLOP experiments: at a fixed compute budget, which model size gives the lowest loss?

Hoffmann et al. (2022, approach 2) fixed a set of training budgets C (FLOPs), trained
models of several sizes N at each budget for ``D = C / (6 N)`` tokens, and read the best
size off the bottom of each U-shaped curve of loss against N. This module does the same
with tiny character-level GPTs (``course_lib.model.GPT``) so that chapter 05 can run it on
a laptop, and also trains a list of widths on any token stream (``train_width``), which the
chapter uses for the synthetic language of ``course_lib.synthetic``.

Units: N in non-embedding parameters (``GPT.num_params()``), D in tokens, C in FLOPs with
C = 6 N D, losses in nats per token on held-out data.

Reference:
    Hoffmann, Borgeaud, Mensch, et al. (2022), "Training Compute-Optimal Large Language
    Models", arXiv:2203.15556, section 3.2.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .scaling import IsoFLOPFit, fit_isoflop_minimum

__all__ = ["RunConfig", "char_data", "n_params", "train_width", "plan_isoflop", "run_isoflop", "fit_budgets"]


@dataclass(frozen=True)
class RunConfig:
    """Shape and optimiser settings shared by every model of an experiment.

    Attributes:
        n_layer: depth of every model (width varies).
        head_dim: target width of one attention head (``d_model // head_dim`` heads, at least 1).
        context_length: T, tokens per training window.
        batch_size: B, windows per optimiser step (``B * T`` tokens per step).
        lr: peak learning rate at ``lr_base_width``; a model of width w uses
            ``lr * lr_base_width / w`` (the muP-style rule of ``course_lib.scaling``).
        lr_base_width: the width whose peak learning rate is ``lr``.
        warmup_fraction: fraction of steps of linear warm-up (then cosine decay to lr / 10).
        weight_decay: AdamW weight decay on matrices.
        eval_batches: validation batches of B windows (the same for every model).
        seed: seeds initialisation and batch order.
    """

    n_layer: int = 2
    head_dim: int = 16
    context_length: int = 64
    batch_size: int = 16
    lr: float = 3e-3
    lr_base_width: int = 32
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    eval_batches: int = 16
    seed: int = 0

    def __post_init__(self):
        for name in ("n_layer", "head_dim", "context_length", "batch_size", "lr_base_width", "eval_batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RunConfig.{name} must be a positive int, got {value!r}.")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"RunConfig.lr must be a positive number, got {self.lr!r}.")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"RunConfig.warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")

    @property
    def tokens_per_step(self) -> int:
        """B * T, training tokens per optimiser step."""
        return self.batch_size * self.context_length

    def n_head(self, width: int) -> int:
        """Heads for a model of this width: the most heads <= width // head_dim that divide width."""
        h = max(1, width // self.head_dim)
        while width % h:
            h -= 1
        return h

    def lr_for(self, width: int) -> float:
        """Peak learning rate of a model of this width, ``lr * lr_base_width / width``."""
        return self.lr * self.lr_base_width / width


def _check_width(width) -> int:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"a width (d_model) must be a positive int, got {width!r}.")
    return width


def _model(width: int, vocab_size: int, config: RunConfig):
    from .model import GPT, GPTConfig

    return GPT(GPTConfig(vocab_size=vocab_size, context_length=config.context_length, n_layer=config.n_layer,
                         n_head=config.n_head(width), d_model=width))


def n_params(width: int, vocab_size: int, config: RunConfig | None = None) -> int:
    """Non-embedding parameters N of the GPT of this width (about 12 n_layer width**2)."""
    config = RunConfig() if config is None else config
    return _model(_check_width(width), vocab_size, config).num_params(non_embedding=True)


def char_data(max_chars: int | None = 1_000_000, val_fraction: float = 0.1):
    """Character-level token ids of ``course_lib.text.python_docs(max_chars)``.

    Returns:
        (train, val, vocab_size): two 1-D int64 tensors (the validation part is the end of
        the text) and the number of distinct characters.
    """
    from .text import python_docs, train_val_split
    from .tokenizer import CharTokenizer, encode_to_tensor

    text = python_docs(max_chars).text
    tok = CharTokenizer(text)  # vocabulary of the whole text: no unknown characters in validation
    train_ids, val_ids = train_val_split(encode_to_tensor(tok, text), val_fraction)
    return train_ids, val_ids, tok.vocab_size


def train_width(width: int, tokens: int, train_ids, val_ids, vocab_size: int, config: RunConfig | None = None,
                progress: bool = False) -> dict:
    """Train one GPT of width ``width`` on about ``tokens`` tokens; return what was measured.

    ``steps = max(1, round(tokens / (B T)))``, so D is ``tokens`` rounded to whole steps.

    Returns:
        A dict with ``width``, ``N`` (non-embedding parameters), ``N_total``, ``D``
        (tokens actually trained on), ``steps``, ``lr``, ``flops`` (6 N D), ``tokens_per_param``
        and ``val_loss`` (nats per token on ``config.eval_batches`` fixed batches of ``val_ids``).
    """
    from .train import train

    config = RunConfig() if config is None else config
    width = _check_width(width)
    if isinstance(tokens, bool) or not isinstance(tokens, (int, float)) or not tokens >= 1:
        raise ValueError(f"tokens must be a positive number of training tokens, got {tokens!r}.")
    torch.manual_seed(config.seed)
    model = _model(width, vocab_size, config)
    steps = max(1, round(tokens / config.tokens_per_step))
    lr = config.lr_for(width)
    history = train(model, train_ids, val_ids, steps=steps, batch_size=config.batch_size, lr=lr,
                    warmup_steps=max(1, int(config.warmup_fraction * steps)), weight_decay=config.weight_decay,
                    eval_every=steps, eval_batches=config.eval_batches, seed=config.seed, device="cpu",
                    progress=progress, desc=f"width {width}")
    n = model.num_params(non_embedding=True)
    d = steps * config.tokens_per_step
    return {"width": width, "N": n, "N_total": model.num_params(non_embedding=False), "D": d, "steps": steps,
            "lr": lr, "flops": 6.0 * n * d, "tokens_per_param": d / n, "val_loss": history.final_val_loss}


def plan_isoflop(budgets: dict, vocab_size: int, config: RunConfig | None = None) -> list[dict]:
    """The runs of an IsoFLOP experiment without training them: for each budget and width, N, D and steps.

    Args:
        budgets: ``{C: widths}``: compute budgets in FLOPs, each with the widths to train
            at that budget (at least 3, so that a parabola can be fitted).
        vocab_size: size of the vocabulary (it does not enter N, which leaves out embeddings).

    Returns:
        A list of dicts ``{"C", "width", "N", "D", "steps"}`` with ``D = C / (6 N)`` rounded to
        whole steps (at least one).
    """
    config = RunConfig() if config is None else config
    if not isinstance(budgets, dict) or not budgets:
        raise ValueError("budgets must be a non-empty dict {C in FLOPs: [widths]}, e.g. {1e10: [8, 16, 32]}.")
    plan = []
    for C, widths in budgets.items():
        if isinstance(C, bool) or not isinstance(C, (int, float)) or not math.isfinite(C) or C <= 0:
            raise ValueError(f"a compute budget must be a positive number of FLOPs, got {C!r}.")
        widths = list(widths)
        if len(set(widths)) < 3:
            raise ValueError(f"budget {C:.3g} has widths {widths}; give at least 3 different widths for a U shape.")
        for w in widths:
            n = n_params(_check_width(w), vocab_size, config)
            steps = max(1, round(C / (6.0 * n) / config.tokens_per_step))
            plan.append({"C": float(C), "width": w, "N": n, "D": steps * config.tokens_per_step, "steps": steps})
    return plan


def run_isoflop(budgets: dict, config: RunConfig | None = None, data=None, progress: bool = False) -> dict:
    """Train every run of ``plan_isoflop(budgets)`` and fit each budget's minimum.

    Args:
        budgets: ``{C: widths}`` as for ``plan_isoflop``.
        config: a ``RunConfig`` (default ``RunConfig()``).
        data: ``(train_ids, val_ids, vocab_size)``; default ``char_data()``.
        progress: show a tqdm bar over the runs.

    Returns:
        ``{"config": dict, "runs": [...], "fits": {C: IsoFLOPFit}}``: each run as returned
        by ``train_width`` plus its budget ``C``; each fit from
        ``course_lib.scaling.fit_isoflop_minimum`` on that budget's (N, val_loss), or None
        where they form no U (see ``fit_budgets``).
    """
    from tqdm.auto import tqdm

    config = RunConfig() if config is None else config
    train_ids, val_ids, vocab_size = char_data() if data is None else data
    plan = plan_isoflop(budgets, vocab_size, config)
    runs = []
    for item in tqdm(plan, desc="IsoFLOP runs", disable=not progress):
        run = train_width(item["width"], item["D"], train_ids, val_ids, vocab_size, config)
        runs.append({"C": item["C"], **run})
    return {"config": asdict(config), "runs": runs, "fits": fit_budgets(runs)}


def fit_budgets(runs: list[dict]) -> dict:
    """``{C: IsoFLOPFit or None}``: the parabola minimum of each budget's (N, val_loss) runs.

    None where the points of a budget do not form a U (``fit_isoflop_minimum`` raised):
    the sizes do not straddle the best one, so add sizes on the missing side.
    """
    fits: dict[float, IsoFLOPFit | None] = {}
    for C in sorted({r["C"] for r in runs}):
        mine = [r for r in runs if r["C"] == C]
        try:
            fits[C] = fit_isoflop_minimum([r["N"] for r in mine], [r["val_loss"] for r in mine])
        except ValueError:
            fits[C] = None
    return fits
