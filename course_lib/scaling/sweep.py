"""The one runner that trains character-level GPTs of several widths, for chapters 05b and 05c.

* ``SweepConfig``: everything that defines an experiment (shape, optimiser, data, evaluation).
* ``width_lr(config, width)``: the learning-rate rule (lr ∝ 1 / width, or one lr for all).
* ``char_data(max_chars, val_fraction)``: the character-level ``python_docs()`` corpus.
* ``train_one(config, width, data)``: train one model and measure its validation loss.
* ``run_sweep(config, out)``: one model per width on ``config.tokens`` tokens each, fit
  ln L against ln N on all but the largest, predict the largest; every finished run is
  written to JSON at once, so an interrupted sweep resumes where it stopped
  (``python -m course_lib.scaling sweep``). ``load_sweep(path)`` reads such a file.

The IsoFLOP experiments of ``course_lib.scaling.isoflop`` train with ``train_one`` too.
Units: N in non-embedding parameters (``GPT.num_params()``), D in training tokens
(characters), compute in FLOPs with C = 6 N D, losses in nats per token on held-out text.
"""
from __future__ import annotations

import functools
import inspect
import pathlib
import time
from dataclasses import asdict, dataclass, fields, replace

from ..compute import training_flops
from ..validation import check_fraction, check_int, check_positive
from .fits import fit_power_law, fit_power_law_with_floor
from .parallel import run_tasks
from .records import check_writable, load_sweep, machine, utc_now, write_json

__all__ = [
    "SweepConfig",
    "PRESETS",
    "sweep_config",
    "width_lr",
    "n_params",
    "char_data",
    "train_one",
    "run_sweep",
    "load_sweep",
]


@dataclass(frozen=True)
class SweepConfig:
    """Everything that defines a run of models of several widths (equal configs: the same experiment).

    Attributes:
        widths: d_model of each model ``run_sweep`` trains; all models have ``n_layer``
            layers. (IsoFLOP experiments take their widths from their budgets instead.)
        n_layer: fixed depth.
        head_dim: target width of one attention head; ``n_head(width)`` heads per layer.
        context_length: T, characters per training window.
        batch_size: B, windows per optimizer step.
        tokens: D, training tokens (characters) per model in ``run_sweep`` and ``train_one``,
            the same for every width; ``steps = tokens // (batch_size * context_length)``.
        lr: peak learning rate at ``lr_base_width``.
        lr_base_width: the width at which the peak learning rate is ``lr``.
        lr_rule: ``"inverse_width"``: lr = lr * lr_base_width / width, a 1/width heuristic
            inspired by, but not, muP (Yang et al. 2022 also change the initialisation, give
            each layer its own rate and scale the output; here only the rate changes);
            ``"constant"``: the same ``lr`` for every width
            (``--single-lr``).
        warmup_fraction: fraction of steps of linear warmup; then cosine decay to lr/10.
        weight_decay: AdamW weight decay on matrices.
        eval_tokens: validation tokens for the final loss: random windows of the held-out
            text, drawn with a fixed seed so every model sees the same ones. 131,072 tokens
            put the standard error near 0.3% (a noisy estimate lowers R^2 on its own).
        eval_batch_size: windows per validation batch; ``eval_batches`` batches of them.
        val_fraction: the last fraction of the corpus held out for validation.
        max_chars: use only the first characters of the corpus (None: all of it).
        seed: seeds initialisation and batch order.
        device: "cpu", "cuda", "mps" (``run_sweep`` resolves "auto" before it starts).
        precision: "float32", or "bfloat16" autocast (for a GPU; ``train_loop``).
        parametrization: ``"standard"`` (GPT-2's initialisation; the lr follows ``lr_rule``)
            or ``"mup"``: the maximal-update parametrisation (``course_lib.mup``) with base
            width ``lr_base_width``; every width then takes ``lr`` and muP scales each layer's.
    """

    widths: tuple[int, ...] = (24, 32, 48, 64, 96, 128)
    n_layer: int = 2
    head_dim: int = 16
    context_length: int = 64
    batch_size: int = 8
    tokens: int = 2_000_000
    lr: float = 2e-3
    lr_base_width: int = 128
    lr_rule: str = "inverse_width"
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    eval_tokens: int = 131_072
    eval_batch_size: int = 64
    val_fraction: float = 0.1
    max_chars: int | None = None
    seed: int = 0
    device: str = "cpu"
    precision: str = "float32"
    parametrization: str = "standard"

    def __post_init__(self):
        widths = tuple(self.widths)
        object.__setattr__(self, "widths", widths)
        if not widths:
            raise ValueError("widths is empty; give at least one d_model, e.g. (24, 32, 40).")
        for w in widths:
            check_int(w, "every width (d_model)", minimum=1)
        if len(set(widths)) != len(widths):
            raise ValueError(f"widths must be distinct, got {widths}.")
        for name in ("n_layer", "head_dim", "context_length", "batch_size", "tokens", "lr_base_width",
                     "eval_tokens", "eval_batch_size", "seed"):
            check_int(getattr(self, name), name, minimum=0 if name == "seed" else 1)
        if self.tokens < self.tokens_per_step:
            raise ValueError(
                f"tokens={self.tokens} is less than one step (batch_size * context_length = "
                f"{self.tokens_per_step}); raise tokens."
            )
        check_positive(self.lr, "lr")
        if self.lr_rule not in ("inverse_width", "constant"):
            raise ValueError(f"lr_rule must be 'inverse_width' or 'constant', got {self.lr_rule!r}.")
        check_fraction(self.warmup_fraction, "warmup_fraction", allow_zero=True)
        check_fraction(self.val_fraction, "val_fraction")
        if self.parametrization not in ("standard", "mup"):
            raise ValueError(f"parametrization must be 'standard' or 'mup', got {self.parametrization!r}.")
        if self.precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be 'float32' or 'bfloat16', got {self.precision!r}.")
        if self.max_chars is not None:
            check_int(self.max_chars, "max_chars (or None for the whole corpus)", minimum=10_000)

    @property
    def tokens_per_step(self) -> int:
        """B * T, training tokens per optimizer step."""
        return self.batch_size * self.context_length

    @property
    def steps(self) -> int:
        """Optimizer steps per model: tokens // (batch_size * context_length)."""
        return self.tokens // self.tokens_per_step

    @property
    def eval_batches(self) -> int:
        """Validation batches of ``eval_batch_size`` windows: eval_tokens // (eval_batch_size * T), at least 1."""
        return max(1, self.eval_tokens // (self.eval_batch_size * self.context_length))

    def n_head(self, width: int) -> int:
        """Attention heads for a model of this width: the most heads, at most ``width // head_dim``,
        that divide ``width`` (at least 1)."""
        h = max(1, width // self.head_dim)
        while width % h:
            h -= 1
        return h

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d


PRESETS = {
    # The chapter's live experiment (05b): six widths (N from 14k to 394k non-embedding
    # parameters, 1.45 decades), 2 layers, 64 characters of context, 2M characters each, lr =
    # 2e-3 * 128 / width (the grid's family; data/lr_bracket.json). About 2.5 minutes on 2 cores
    # with jobs=2; its largest model beats gzip -9 on the same validation text.
    "default": SweepConfig(),
    # A few seconds: for tests and for checking that the command works.
    "tiny": SweepConfig(widths=(8, 12, 16), n_layer=1, context_length=32, batch_size=8, tokens=8 * 32 * 40,
                        eval_tokens=4096, lr=1e-2, lr_base_width=8, max_chars=200_000),
    # The same family over two decades of N (widths 16 to 256, up to 1.58M parameters) and twice
    # the data, 4M characters, about 2.2 passes over the training text: for a patient CPU (about an
    # hour on 2 cores with jobs=2) or a GPU.
    "large": SweepConfig(widths=(16, 24, 32, 48, 64, 96, 128, 192, 256), tokens=4_000_000),
    # For one GPU: 4 layers, bfloat16 autocast, 8M characters per model, about 4 passes over the
    # training text (the most repetition nearly as good as fresh data, Muennighoff et al. 2023).
    # The text, not the GPU, limits the size: width 128 (N = 0.79M) already has only 10 per parameter.
    "gpu": SweepConfig(widths=(24, 32, 48, 64, 96, 128), n_layer=4, head_dim=16, context_length=128,
                       batch_size=32, tokens=8_000_000, lr=3e-3, lr_base_width=64, eval_tokens=1_048_576,
                       device="cuda", precision="bfloat16"),
}


def sweep_config(preset: str = "default", **overrides) -> SweepConfig:
    """A preset's ``SweepConfig`` (``"default"``, ``"tiny"``, ``"large"`` or ``"gpu"``) with fields overridden."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(overrides) - {f.name for f in fields(SweepConfig)}
    if unknown:
        raise ValueError(f"unknown sweep settings {sorted(unknown)}; valid ones are {[f.name for f in fields(SweepConfig)]}.")
    if "widths" in overrides:
        overrides["widths"] = tuple(overrides["widths"])
    return replace(PRESETS[preset], **overrides)


def width_lr(config: SweepConfig, width: int) -> float:
    """Peak learning rate for a model of this width under ``config.lr_rule``.

    ``"inverse_width"``: ``lr * lr_base_width / width`` (a wider model takes smaller steps: a
    heuristic inspired by, but not, muP, which also changes the initialisation and per-layer
    rates); ``"constant"``: ``lr`` for every width. Under muP (``config.parametrization``)
    every width takes ``lr``: the model's own per-layer scales (``GPT.lr_scales``) do the rest.
    """
    if config.lr_rule == "constant" or config.parametrization == "mup":
        return config.lr
    return config.lr * config.lr_base_width / width


def _model(config: SweepConfig, width: int, vocab_size: int):
    from ..model import GPT, GPTConfig

    width = check_int(width, "width (d_model)", minimum=1)
    return GPT(GPTConfig(vocab_size=vocab_size, context_length=config.context_length, n_layer=config.n_layer,
                         n_head=config.n_head(width), d_model=width,
                         **({"mup_base_width": config.lr_base_width, "mup_base_head_dim": config.head_dim}
                            if config.parametrization == "mup" else {})))


def n_params(width: int, vocab_size: int, config: SweepConfig | None = None) -> int:
    """Non-embedding parameters N of the GPT of this width (``n_layer (12 width**2 + 2 width) + width``)."""
    return _model(SweepConfig() if config is None else config, width, vocab_size).num_params(non_embedding=True)


def char_data(max_chars: int | None = 1_000_000, val_fraction: float = 0.1):
    """Character-level token ids of ``course_lib.text.python_docs(max_chars)`` (None: the whole corpus).

    Returns:
        (train, val, vocab_size): two 1-D int64 tensors (the validation part is the last
        ``val_fraction`` of the text) and the number of distinct characters.
    """
    from ..text import python_docs, train_val_split
    from ..tokenizer import CharTokenizer, encode_to_tensor

    text = python_docs(max_chars).text
    tok = CharTokenizer(text)  # the vocabulary of the whole text, so validation never has unknown characters
    train_ids, val_ids = train_val_split(encode_to_tensor(tok, text), val_fraction)
    return train_ids, val_ids, tok.vocab_size


def train_one(config: SweepConfig, width: int, data, *, steps: int | None = None, progress: bool = False,
              batches=None) -> dict:
    """Train one GPT of width ``width`` (``config`` gives everything else); return what was measured.

    Args:
        config: a ``SweepConfig``; the model has ``config.n_layer`` layers and
            ``config.n_head(width)`` heads, its peak learning rate is ``width_lr(config, width)``.
        width: d_model.
        data: ``(train_ids, val_ids, vocab_size)``, e.g. ``char_data()``: 1-D token tensors.
        steps: optimizer steps (default ``config.steps``); D = steps * B * T tokens.
        progress: show a tqdm bar over the steps.
        batches: optional ``next_batch(step, generator) -> (x, y)`` (``train_loop``'s) that
            draws the training windows instead of random windows of ``train_ids``, e.g.
            ``repetition.pass_batches`` for exact passes over a few chunks; the optimiser,
            schedule and evaluation are the same.

    Returns:
        A dict with ``width``, ``n_layer``, ``n_head``, ``N`` (non-embedding parameters),
        ``N_total``, ``D`` (tokens trained on), ``tokens_per_param``, ``flops`` (6 N D),
        ``steps``, ``lr``, ``train_loss_mean``, ``val_loss`` (nats per token on
        ``config.eval_batches`` fixed batches of the validation ids), ``seconds``,
        ``cpu_seconds``, ``threads``, ``device`` and ``finished``. Ctrl-C raises
        KeyboardInterrupt (nothing of the unfinished model is kept).
    """
    import torch

    from ..train import estimate_loss, train, train_loop

    train_ids, val_ids, vocab_size = data
    steps = config.steps if steps is None else check_int(steps, "steps", minimum=1)
    if min(len(train_ids), len(val_ids)) <= config.context_length:
        raise ValueError(f"the corpus is too short for context_length={config.context_length}; raise max_chars.")
    torch.manual_seed(config.seed)
    model = _model(config, width, vocab_size)
    lr = width_lr(config, width)
    start, cpu_start = time.perf_counter(), time.process_time()
    settings = dict(lr=lr, warmup_steps=max(1, int(config.warmup_fraction * steps)), weight_decay=config.weight_decay,
                    eval_every=steps, seed=config.seed, device=config.device, precision=config.precision,
                    progress=progress, desc=f"width {width}")  # no validation during training: one careful evaluation at the end
    if batches is None:
        history = train(model, train_ids, None, steps=steps, batch_size=config.batch_size, **settings)
    else:  # the same optimiser as train's (its default betas and clipping), another order of windows
        defaults = inspect.signature(train).parameters
        history = train_loop(model, batches, lambda m, b: m(*b)[1], steps, betas=defaults["betas"].default,
                             grad_clip=defaults["grad_clip"].default, fused=config.device in ("cpu", "cuda"), **settings)
    if history.interrupted:
        raise KeyboardInterrupt
    val_loss = estimate_loss(model, val_ids, config.eval_batch_size, config.context_length,
                             n_batches=config.eval_batches)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    n = model.num_params(non_embedding=True)
    d = steps * config.tokens_per_step
    return {
        "width": width,
        "n_layer": config.n_layer,
        "n_head": config.n_head(width),
        "N": n,
        "N_total": model.num_params(non_embedding=False),
        "D": d,
        "tokens_per_param": d / n,
        "flops": float(training_flops(n, d)),
        "steps": steps,
        "lr": lr,
        "train_loss_mean": history.train_loss[-1],  # mean over all steps (one record at the end)
        "val_loss": val_loss,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "threads": torch.get_num_threads(),
        "device": str(next(model.parameters()).device),
        "finished": utc_now(),
    }


# ----------------------------------------------------------------------------- the resumable sweep


@functools.lru_cache(maxsize=2)
def cached_char_data(max_chars: int | None, val_fraction: float):
    """``char_data`` computed once per process (the runs of a sweep or grid share it; do not modify it)."""
    return char_data(max_chars, val_fraction)


def _train_in_worker(config: SweepConfig, width: int, threads: int | None, progress: bool = False) -> dict:
    """One ``train_one``, here or in a worker process (its own thread count; a bar only if ``progress``)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return train_one(config, width, cached_char_data(config.max_chars, config.val_fraction), progress=progress)


def _resume_key(config_dict: dict) -> dict:
    """The parts of a config that must match for finished runs to be reused (all but the widths).

    A field that a file lacks (written before the field existed) counts as its default.
    """
    full = {**SweepConfig().to_dict(), **config_dict}
    return {k: v for k, v in full.items() if k != "widths"}


def _summarise(runs: list[dict]) -> dict:
    """Fit ln L against ln N on all but the largest model and predict the largest."""
    import numpy as np

    out = {"exponent": None, "coefficient": None, "r2": None, "holdout_rel_error": None,
           "predicted_largest_loss": None, "fit_all": None, "floor_fit": None, "naive_rel_error": None}
    if len(runs) < 3:
        return out
    runs = sorted(runs, key=lambda r: r["N"])
    N = np.array([r["N"] for r in runs], dtype=float)
    L = np.array([r["val_loss"] for r in runs], dtype=float)
    fit = fit_power_law(N[:-1], L[:-1])
    pred = fit.predict(N[-1])
    fit_all = fit_power_law(N, L)
    out.update(exponent=fit.exponent, coefficient=fit.coefficient, r2=fit.r2,
               predicted_largest_loss=pred, holdout_rel_error=abs(pred - L[-1]) / L[-1],
               fit_all={"exponent": fit_all.exponent, "coefficient": fit_all.coefficient, "r2": fit_all.r2},
               naive_rel_error=abs(L[-2] - L[-1]) / L[-1])
    if len(runs) >= 5:  # L = E' + A N^-alpha: at one D for every size, Chinchilla's B / D^beta is a constant in E'
        floor = fit_power_law_with_floor(N[:-1], L[:-1])
        pred = float(floor.predict(N[-1]))
        out["floor_fit"] = {"floor": floor.floor, "coefficient": floor.coefficient, "exponent": floor.exponent,
                            "r2": floor.r2, "predicted_largest_loss": pred, "holdout_rel_error": abs(pred - L[-1]) / L[-1]}
    return out


def _finished_runs(config: SweepConfig, path: pathlib.Path | None, resume: bool) -> dict[int, dict]:
    """Every finished run of ``path`` (by width) when it holds this configuration; ValueError for another one.

    Runs of widths that this sweep does not ask for are returned too: they stay in the file
    (a resumed sweep never deletes a finished run), though the fit uses only ``config.widths``.
    """
    if path is None or not path.exists() or not resume:
        return {}
    old, cfg = load_sweep(path), config.to_dict()
    if _resume_key(old["config"]) != _resume_key(cfg):
        diff = sorted(k for k in set(old["config"]) | set(cfg) if k != "widths" and old["config"].get(k) != cfg.get(k))
        raise ValueError(
            f"{path} holds a sweep with a different configuration (differs in {diff}). "
            "Pass --fresh (resume=False) to overwrite it, or choose another --out."
        )
    return {r["width"]: r for r in old["runs"] + old.get("other_runs", [])}


def run_sweep(config: SweepConfig | None = None, out=None, *, resume: bool = True, progress: bool = True,
              threads: int | None = 1, jobs: int = 1, executor: str | None = None, executor_options: dict | None = None,
              command: str | None = None, on_run_end=None) -> dict:
    """Train one model per width, measure validation loss, fit the scaling law; return the results.

    Each model is a character-level GPT (``course_lib.model``) of ``config.n_layer`` layers,
    trained by ``train_one`` on ``config.tokens`` characters of ``python_docs()`` and
    evaluated on the held-out last ``val_fraction`` of the text. ln L is fitted against
    ln N on all but the largest model (``exponent``, ``coefficient``, ``r2``), which is then
    predicted: ``holdout_rel_error = |predicted - measured| / measured``.

    Args:
        config: a ``SweepConfig`` (default: ``PRESETS["default"]``).
        out: path of the JSON file, rewritten after every finished run. If it already holds
            runs of the same configuration (widths aside) and ``resume`` is true, those runs
            are kept and not trained again; a file with a different configuration raises
            ValueError unless ``resume=False`` (start over and overwrite).
        progress: show a ``tqdm.auto`` bar over the runs and one per run.
        threads: torch CPU threads during the sweep (restored afterwards), per worker when
            ``jobs > 1``; None keeps torch's setting. The default is 1: these models are too small for two threads to help
            much, and on a busy 2-core machine two threads that wait for each other were
            measured 10-30 times slower than one (about 1k against 33k tokens/s).
        jobs: models trained at the same time, each in its own process (``spawn``); 1 (the
            default) trains them one after the other in this process. Each run is seeded
            and single-threaded by default, so its numbers do not depend on ``jobs``; the
            sweep's wall time does (on 2 cores, ``jobs=2`` about halves it). Finished runs are
            saved as they come in, in the order they finish.
        executor: None (this process, or ``jobs`` processes), or ``"local"`` / ``"slurm"``:
            every run a submitit job (``course_lib.scaling.parallel.make_executor``;
            ``executor_options`` are its keyword arguments, e.g. ``slurm_partition``), logs
            in a ``submitit`` folder beside ``out``. Finished runs are saved as they come
            back, so a sweep whose jobs were cut off resumes by running the command again.
        command: the command line to record (the CLI fills it in).
        on_run_end: optional callable ``f(run_dict)`` called after each run is saved.

    Returns:
        The dict written to ``out``: ``runs`` (the widths asked for, sorted by N; each as
        ``train_one`` returns it), ``other_runs`` (finished runs of other widths found in
        ``out``, kept but not fitted), the fit (``exponent``, ``r2``, ``holdout_rel_error``, ...), ``seconds``
        (training seconds summed over runs), ``cpu_seconds`` (CPU time of this process, a
        better measure than wall time on a shared machine), ``command``, ``config``,
        ``machine`` and ``date``. An interrupted sweep (Ctrl-C) has saved every finished
        run and re-raises KeyboardInterrupt.
    """
    import torch
    from tqdm.auto import tqdm

    from ..device import pick_device
    from ..train import torch_threads

    config = PRESETS["default"] if config is None else config
    if not isinstance(config, SweepConfig):
        raise ValueError(f"config must be a SweepConfig (see sweep_config()), got {type(config).__name__}.")
    if threads is not None:
        check_int(threads, "threads (or None for torch's own setting)", minimum=1)
    jobs = check_int(jobs, "jobs (models trained at once)", minimum=1)
    if executor not in (None, "local", "slurm"):
        raise ValueError(f"executor must be 'local' or 'slurm' (or None: this machine), got {executor!r}.")
    config = replace(config, device=pick_device(config.device).type)
    path = pathlib.Path(out) if out is not None else None
    if path is not None:
        check_writable(path)
    found = _finished_runs(config, path, resume)
    done = {w: r for w, r in found.items() if w in config.widths}
    kept = [r for w, r in found.items() if w not in config.widths]  # other widths: kept in the file, not fitted

    started = time.perf_counter()
    result = {
        "command": command or "course_lib.scaling.run_sweep",
        "config": config.to_dict(),
        "machine": machine(),
        "date": utc_now(),
        "units": {"N": "non-embedding parameters", "D": "training tokens (characters)", "val_loss": "nats per token",
                  "flops": "FLOPs, 6 N D", "seconds": "wall-clock seconds on this machine"},
        "complete": False,
        "runs": sorted(done.values(), key=lambda r: r["N"]),
        "other_runs": sorted(kept, key=lambda r: r["N"]),
        "resumed_runs": len(done),
        "trained_runs": 0,
    }

    def save():
        result["runs"] = sorted(result["runs"], key=lambda r: r["N"])
        result["complete"] = len(result["runs"]) == len(config.widths)
        result.update(_summarise(result["runs"]) if result["complete"] else _summarise([]))
        result["min_tokens_per_param"] = min((r["tokens_per_param"] for r in result["runs"]), default=None)
        result["seconds"] = sum(r["seconds"] for r in result["runs"])
        result["cpu_seconds"] = sum(r.get("cpu_seconds", 0.0) for r in result["runs"])
        result["wall_seconds"] = time.perf_counter() - started
        result["date"] = utc_now()
        if path is not None:
            write_json(path, result)

    todo = [w for w in config.widths if w not in done]

    def finished(run):
        result["runs"].append(run)
        result["trained_runs"] += 1
        save()
        bar.update(1)
        bar.set_postfix(width=run["width"], val_loss=f"{run['val_loss']:.3f}")
        if on_run_end is not None:
            on_run_end(run)

    with torch_threads(threads):
        result["machine"]["threads"] = torch.get_num_threads()
        result["machine"]["jobs"] = jobs
        bar = tqdm(total=len(config.widths), initial=len(done), desc="scaling sweep", unit="run",
                   disable=not progress)
        try:
            folder = (path.parent if path is not None else pathlib.Path.cwd()) / "submitit"
            here = jobs == 1 and executor is None  # in this process, in the order given; else the largest first,
            order = todo if here else sorted(todo, reverse=True)  # so that the slowest run starts at once
            tasks = [(config, w, threads, progress and here) for w in order]
            run_tasks(_train_in_worker, tasks, finished, jobs=jobs, executor=executor, folder=folder,
                      executor_options=executor_options)
        finally:
            bar.close()
    save()
    return result
