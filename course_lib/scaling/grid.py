"""The N x D grid: many models, each trained to the end of its own schedule, for fitting laws in N and D.

A sweep (``sweep.py``) varies the model size at one data size. Hoffmann et al. (2022) needed
models of many sizes trained on many token counts; this module trains such a grid with the
sweep's ``train_one``, so every run is a GPT of the same family on the same text:

* ``GridConfig``: the family (a ``SweepConfig``), the widths, and either compute budgets
  (FLOPs; each width trains for D = C / (6 N) tokens: an IsoFLOP design, so each budget
  is one profile of Hoffmann's approach 2) or a rectangle of token counts; optional
  learning-rate multipliers (a learning-rate bracket) and extra seeds at some budgets
  (the run-to-run spread).
* ``GridConfig.points()``: the runs it asks for, after dropping any that would see fewer
  than ``min_tokens`` tokens or repeat the training text more than ``max_epochs`` times
  (Muennighoff et al. 2023: up to about 4 passes cost little; more is a different experiment).
  With ``exact_passes`` a run reads U = D / R distinct characters in exactly R passes
  (``repetition.distinct_chunks``, ``repetition.pass_batches``): the data-constrained runs of
  chapter 05e.
* ``run_grid(config, out)``: train them (here, ``jobs`` processes, or submitit jobs), writing
  every finished run to JSON at once; rerunning the same command resumes
  (``python -m course_lib.scaling grid``). ``load_grid(path)`` reads the file.

Units as in the sweep: N non-embedding parameters, D training tokens (characters), C = 6 N D
FLOPs, losses in nats per token on the held-out text.
"""
from __future__ import annotations

import pathlib
import time
from dataclasses import asdict, dataclass, field, replace

from ..validation import check_int, check_positive
from .parallel import run_tasks
from .records import check_writable, load_sweep, machine, utc_now, write_json
from .repetition import distinct_chunks, pass_batches
from .sweep import SweepConfig, cached_char_data, n_params, train_one

__all__ = ["GridConfig", "GRID_PRESETS", "grid_config", "run_grid", "load_grid", "point_key"]


@dataclass(frozen=True)
class GridConfig:
    """The runs of an N x D grid (equal configs: the same experiment).

    Attributes:
        model: the model family, optimiser, data and evaluation (a ``SweepConfig``; its
            ``widths``, ``tokens`` and ``seed`` are set per run, its ``lr`` and
            ``lr_rule`` give each width's learning rate before ``lr_scales``).
        widths: d_model of the models.
        budgets: training budgets in FLOPs; each width trains for D = C / (6 N) tokens
            (rounded down to whole steps). Empty: use ``token_counts``.
        token_counts: D for every width (a rectangle), used when ``budgets`` is empty.
        lr_scales: multipliers of each width's learning rate (1.0: the rule's rate); several
            make a learning-rate bracket.
        seeds: seeds of every point.
        extra_seeds: more seeds, run only at the budgets (or token counts) in ``extra_seeds_at``.
        extra_seeds_at: the budgets (or token counts) that are repeated with ``extra_seeds``.
        repeats: passes R over the distinct text; R > 1 needs ``exact_passes``. Muennighoff et
            al. (2023) measured what repeating costs.
        repeat_at: the budgets (or token counts) at which the repeats > 1 are trained (empty: all).
        exact_passes: False (the default): every run samples random windows of the whole
            training text (D / len(text) passes on average). True: a run reads U = D / R
            distinct characters (rounded down to whole ``chunk``s), chunks drawn from all
            over the text with the run's seed (``repetition.distinct_chunks``; nested in U),
            in exactly R passes of shuffled windows (``repetition.pass_batches``); R = 1 then
            reads D distinct characters once.
        chunk: characters per chunk of distinct text under ``exact_passes``.
        min_tokens: drop a point with fewer training tokens than this (too few steps to mean much).
        max_epochs: drop a point that would pass over the training text more than this many times.
    """

    model: SweepConfig = field(default_factory=SweepConfig)
    widths: tuple[int, ...] = (16, 24, 32)
    budgets: tuple[float, ...] = ()
    token_counts: tuple[int, ...] = ()
    lr_scales: tuple[float, ...] = (1.0,)
    seeds: tuple[int, ...] = (0,)
    extra_seeds: tuple[int, ...] = ()
    extra_seeds_at: tuple[float, ...] = ()
    repeats: tuple[int, ...] = (1,)
    repeat_at: tuple[float, ...] = ()
    exact_passes: bool = False
    chunk: int = 2048
    min_tokens: int = 100_000
    max_epochs: float = 4.0

    def __post_init__(self):
        for name in ("widths", "budgets", "token_counts", "lr_scales", "seeds", "extra_seeds", "extra_seeds_at",
                     "repeats", "repeat_at"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not isinstance(self.model, SweepConfig):
            raise ValueError(f"model must be a SweepConfig, got {type(self.model).__name__}.")
        if not self.widths:
            raise ValueError("widths is empty; give at least one d_model, e.g. (16, 24, 32).")
        if bool(self.budgets) == bool(self.token_counts):
            raise ValueError("give either budgets (FLOPs; D = C / 6N per width) or token_counts (a rectangle), not both "
                             "and not neither.")
        for w in self.widths:
            check_int(w, "every width (d_model)", minimum=1)
        for c in self.budgets:
            check_positive(c, "every budget (FLOPs)")
        for d in self.token_counts:
            check_int(d, "every token count", minimum=1)
        for s in self.lr_scales:
            check_positive(s, "every lr scale")
        for s in self.seeds + self.extra_seeds:
            check_int(s, "every seed", minimum=0)
        for r in self.repeats:
            check_int(r, "every repeat count", minimum=1)
        if not self.repeats:
            raise ValueError("repeats is empty; (1,) trains on fresh text.")
        if max(self.repeats) > 1 and not self.exact_passes:
            raise ValueError("repeats above 1 need exact_passes=True (U = D / R distinct characters read in R "
                             "exact passes).")
        check_int(self.chunk, "chunk", minimum=self.model.context_length)
        if self.chunk % self.model.context_length:
            raise ValueError(f"chunk={self.chunk} must be a multiple of context_length={self.model.context_length}.")
        if not self.seeds:
            raise ValueError("seeds is empty; give at least one, e.g. (0,).")
        levels = self.budgets or self.token_counts
        for name in ("extra_seeds_at", "repeat_at"):
            missing = [x for x in getattr(self, name) if x not in levels]
            if missing:
                raise ValueError(f"{name} {missing} are not among the grid's budgets or token counts {levels}.")
        check_int(self.min_tokens, "min_tokens", minimum=1)
        check_positive(self.max_epochs, "max_epochs")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def points(self, vocab_size: int, train_tokens: int) -> list[dict]:
        """The runs: dicts with ``width``, ``N``, ``tokens`` (D, whole steps), ``budget`` (None in a
        rectangle), ``lr_scale``, ``seed``, ``repeats``, ``unique_tokens`` (the distinct training
        characters the run reads: U under ``exact_passes``, else the whole text) and ``key``,
        smallest compute first.

        ``vocab_size`` and ``train_tokens`` (the training text's length) come from the data.
        """
        step = self.model.tokens_per_step
        out = []
        for level in self.budgets or self.token_counts:
            seeds = self.seeds + (self.extra_seeds if level in self.extra_seeds_at else ())
            for width in self.widths:
                n = n_params(width, vocab_size, self.model)
                tokens = int(level / (6 * n)) // step * step if self.budgets else level // step * step
                if tokens < max(self.min_tokens, step):
                    continue
                for repeats in self.repeats:
                    if repeats > 1 and self.repeat_at and level not in self.repeat_at:
                        continue
                    if self.exact_passes:  # U = D / R in whole chunks, at most what the text holds
                        unique = tokens // repeats // self.chunk * self.chunk
                        if not self.chunk <= unique <= (train_tokens - 1) // self.chunk * self.chunk:
                            continue
                    else:
                        unique = train_tokens
                    if tokens > self.max_epochs * unique:
                        continue
                    for lr_scale in self.lr_scales:
                        for seed in seeds:
                            out.append({"width": width, "N": n, "tokens": tokens,
                                        "budget": float(level) if self.budgets else None, "lr_scale": lr_scale,
                                        "seed": seed, "repeats": repeats, "unique_tokens": unique,
                                        "chunk": self.chunk if self.exact_passes else None,
                                        "key": point_key(width, tokens, lr_scale, seed, repeats)})
        return sorted(out, key=lambda p: (p["N"] * p["tokens"], p["width"], p["lr_scale"], p["seed"], p["repeats"]))


def point_key(width: int, tokens: int, lr_scale: float, seed: int, repeats: int = 1) -> str:
    """The identity of one run in a grid file: ``"w<width>-D<tokens>-lr<scale>-s<seed>"`` (``-R<repeats>``
    appended for a data-constrained run)."""
    return f"w{width}-D{tokens}-lr{lr_scale:g}-s{seed}" + (f"-R{repeats}" if repeats != 1 else "")


# The CPU family: 2 layers, 64 characters of context, 8 windows a step. The bracket ("lr") centres
# on lr = 4e-3 * 128 / width; its best rate is half that at widths 64 and 128 (data/lr_bracket.json),
# so the grid trains at lr = 2e-3 * 128 / width.
_BRACKET = SweepConfig(n_layer=2, context_length=64, batch_size=8, lr=4e-3, lr_base_width=128, eval_tokens=65_536)
_CPU = replace(_BRACKET, lr=2e-3, eval_tokens=131_072)

GRID_PRESETS = {
    # The stored grid of chapter 05c: 9 widths, 6 budgets a factor 2 apart, D = C / 6N, at most 4 passes
    # over the text; three seeds at 4e11 FLOPs. About 30 minutes of one core (15 with --jobs 2).
    "default": GridConfig(model=_CPU, widths=(16, 24, 32, 48, 64, 96, 128, 192, 256),
                          budgets=tuple(1e11 * 2 ** k for k in range(6)), extra_seeds=(1, 2), extra_seeds_at=(4e11,)),
    # A learning-rate bracket: five rates around the 1/width rule at each width, 0.5M tokens each, one seed
    # (add seeds with --seeds 0,1,2: the stored files hold seed 0).
    "lr": GridConfig(model=_BRACKET, widths=(16, 32, 64, 128, 256), token_counts=(524_288,),
                     lr_scales=(0.25, 0.5, 1.0, 2.0, 4.0)),
    # The same bracket under muP (course_lib.mup), base width 64: one lr for every width, 1e-3 to 1.6e-2.
    "lr-mup": GridConfig(model=replace(_BRACKET, parametrization="mup", lr=4e-3, lr_base_width=64),
                         widths=(16, 32, 64, 128, 256), token_counts=(524_288,), lr_scales=(0.25, 0.5, 1.0, 2.0, 4.0)),
    # Repeated data (chapter 05e): width 48 reads D = 1,245,184 characters made of U = D / R distinct ones,
    # R = 1, 2, 4, 8, 16 exact passes; and the fresh curve, one pass over D / 2, ..., D / 16 distinct characters
    # (the same chunks as the run with R = 2, ..., 16). Seeds 0 to 4; the chapter trains seed 0 live.
    "repeat": GridConfig(model=_CPU, widths=(48,), token_counts=tuple(1_245_184 // 2 ** k for k in range(4, -1, -1)),
                         repeats=(1, 2, 4, 8, 16), repeat_at=(1_245_184,), exact_passes=True, min_tokens=2048,
                         max_epochs=16.0, seeds=(0, 1, 2, 3, 4)),
    # Seconds: for tests and for trying the command.
    "tiny": GridConfig(model=SweepConfig(n_layer=1, context_length=32, batch_size=8, tokens=2560, eval_tokens=4096,
                                         lr=1e-2, lr_base_width=8, max_chars=200_000),
                       widths=(8, 12, 16), budgets=(2e8, 4e8), min_tokens=2560, extra_seeds=(1,),
                       extra_seeds_at=(2e8,)),
    # One GPU: the gpu sweep's family (4 layers, context 128, bfloat16), budgets up to 3e14 FLOPs.
    "gpu": GridConfig(model=SweepConfig(n_layer=4, context_length=128, batch_size=32, lr=3e-3, lr_base_width=64,
                                        eval_tokens=1_048_576, device="cuda", precision="bfloat16"),
                      widths=(32, 48, 64, 96, 128, 192, 256, 384), budgets=tuple(2.5e12 * 2 ** k for k in range(7)),
                      extra_seeds=(1, 2), extra_seeds_at=(2e13,), min_tokens=500_000),
}


def grid_config(preset: str = "default", **overrides) -> GridConfig:
    """A preset's ``GridConfig`` with fields overridden (``model=`` a ``SweepConfig``)."""
    if preset not in GRID_PRESETS:
        raise ValueError(f"unknown grid preset {preset!r}; choose one of {sorted(GRID_PRESETS)}.")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(GRID_PRESETS[preset], **overrides)


def load_grid(path) -> dict:
    """Read a grid's JSON (as written by ``run_grid``); ValueError, saying what to do, if it is not one."""
    data = load_sweep(path)
    if data.get("kind") != "grid":
        raise ValueError(f"{path} is not an N x D grid (no \"kind\": \"grid\"); it may be a sweep: use load_sweep.")
    return data


def _train_point(model: SweepConfig, point: dict, threads: int | None) -> dict:
    """One point of the grid, here or in a worker: ``train_one`` plus the point's own fields."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    train_ids, val_ids, vocab_size = cached_char_data(model.max_chars, model.val_fraction)
    config = replace(model, tokens=point["tokens"], seed=point["seed"], lr=model.lr * point["lr_scale"])
    chunk = point.get("chunk")
    if chunk is None:  # random windows of the whole training text
        unique, batches = len(train_ids), None
    else:  # U distinct characters in chunks from all over the text, read in exact passes
        unique = point["unique_tokens"]
        starts = distinct_chunks(len(train_ids), unique, chunk, seed=point["seed"])
        batches = pass_batches(train_ids, starts, chunk, config.batch_size, config.context_length)
    run = train_one(config, point["width"], (train_ids, val_ids, vocab_size), batches=batches)
    run.update(key=point["key"], budget=point["budget"], lr_scale=point["lr_scale"], seed=point["seed"],
               repeats=point.get("repeats", 1), unique_tokens=unique, epochs=run["D"] / unique, chunk=chunk)
    return run


def _same_experiment(old: dict, new: dict) -> list[str]:
    """The model-family and data settings in which two grid configs differ (the widths and levels may differ).

    A file written before ``exact_passes`` existed read the whole text (``exact_passes`` False).
    """
    a, b = {**SweepConfig().to_dict(), **old["model"]}, {**SweepConfig().to_dict(), **new["model"]}
    diff = [k for k in set(a) | set(b) if k not in ("widths", "tokens", "seed") and a.get(k) != b.get(k)]
    data = {"exact_passes": False, "chunk": None}
    for k, default in data.items():
        mine, theirs = old.get(k, default), new.get(k, default)
        if k == "chunk" and not (old.get("exact_passes") or new.get("exact_passes")):
            continue  # the chunk size matters only for exact passes
        if mine != theirs:
            diff.append(k)
    return sorted(diff)


def run_grid(config: GridConfig, out=None, *, resume: bool = True, progress: bool = True, threads: int | None = 1,
             jobs: int = 1, executor: str | None = None, executor_options: dict | None = None,
             command: str | None = None) -> dict:
    """Train every point of ``config`` not already in ``out``; return (and write) the grid's record.

    Args:
        config: a ``GridConfig`` (``GRID_PRESETS``, ``grid_config``).
        out: JSON path, rewritten atomically after every finished run. Finished runs of the
            same model family found there are kept and not trained again (also runs of points
            this config does not ask for: a resumed grid never deletes a run); a file of another
            family raises ValueError unless ``resume=False``.
        progress: a tqdm bar over the runs.
        threads: torch threads per run (1: see ``run_sweep``); None keeps torch's setting.
        jobs, executor, executor_options: where the runs train (``parallel.run_tasks``): here,
            ``jobs`` processes, or submitit jobs (``"local"``, ``"slurm"``), logs beside ``out``.
        command: the command line to record.

    Returns:
        ``{"kind": "grid", "command", "config", "machine", "date", "units", "complete",
        "runs": [...], "planned": number of points, "trained_runs", "resumed_runs",
        "seconds", "cpu_seconds", "wall_seconds"}``; each run is ``train_one``'s dict plus
        ``key``, ``budget``, ``lr_scale``, ``seed`` and ``epochs`` (passes over the training text).
    """
    from tqdm.auto import tqdm

    from ..device import pick_device

    if not isinstance(config, GridConfig):
        raise ValueError(f"config must be a GridConfig (see grid_config()), got {type(config).__name__}.")
    if threads is not None:
        check_int(threads, "threads (or None for torch's own setting)", minimum=1)
    config = replace(config, model=replace(config.model, device=pick_device(config.model.device).type))
    path = pathlib.Path(out) if out is not None else None
    if path is not None:
        check_writable(path)
    found = {}
    if path is not None and path.exists() and resume:
        old = load_grid(path)
        diff = _same_experiment(old["config"], config.to_dict())
        if diff:
            raise ValueError(f"{path} holds a grid of another model family (differs in {diff}). Pass --fresh "
                             "(resume=False) to overwrite it, or choose another --out.")
        found = {r["key"]: r for r in old["runs"]}
    train_ids, _, vocab_size = cached_char_data(config.model.max_chars, config.model.val_fraction)
    points = config.points(vocab_size, len(train_ids))
    if not points:
        raise ValueError("no point of this grid is trainable: every one has fewer than min_tokens tokens or more "
                         "than max_epochs passes over the text; change the budgets or the widths.")
    todo = [p for p in points if p["key"] not in found]
    started = time.perf_counter()
    result = {"kind": "grid", "command": command or "course_lib.scaling.run_grid", "config": config.to_dict(),
              "machine": {**machine(), "jobs": jobs}, "date": utc_now(), "planned": len(points),
              "units": {"N": "non-embedding parameters", "D": "training tokens (characters)",
                        "val_loss": "nats per token", "flops": "FLOPs, 6 N D", "budget": "FLOPs asked for, C",
                        "seconds": "wall-clock seconds on this machine"},
              "runs": list(found.values()), "resumed_runs": len(found), "trained_runs": 0}
    wanted = {p["key"] for p in points}

    def save():
        result["runs"] = sorted(result["runs"], key=lambda r: (r["flops"], r["width"], r["lr_scale"], r["seed"],
                                                               r.get("repeats", 1)))
        result["complete"] = wanted <= {r["key"] for r in result["runs"]}
        result["seconds"] = sum(r["seconds"] for r in result["runs"])
        result["cpu_seconds"] = sum(r.get("cpu_seconds", 0.0) for r in result["runs"])
        result["wall_seconds"] = time.perf_counter() - started
        result["date"] = utc_now()
        if path is not None and (result["trained_runs"] or not path.exists()):  # nothing new: the file keeps its record
            write_json(path, result)

    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc="N x D grid", unit="run", disable=not progress)

    def finished(run):
        result["runs"].append(run)
        result["trained_runs"] += 1
        save()
        bar.update(1)
        bar.set_postfix(width=run["width"], D=run["D"], val_loss=f"{run['val_loss']:.3f}")

    # the most expensive first when runs go side by side, so the slowest starts at once
    order = todo if jobs == 1 and executor is None else sorted(todo, key=lambda p: -p["N"] * p["tokens"])
    try:
        folder = (path.parent if path is not None else pathlib.Path.cwd()) / "submitit"
        run_tasks(_train_point, [(config.model, p, threads) for p in order], finished, jobs=jobs, executor=executor,
                  folder=folder, executor_options=executor_options)
    finally:
        bar.close()
    save()
    return result
