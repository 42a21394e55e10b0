"""Scaling laws: published laws, fits, IsoFLOP curves, and a live sweep you run yourself.

Units throughout: loss ``L`` in **nats per token**, model size ``N`` in **non-embedding
parameters** (as Kaplan et al. count it; ``GPT.num_params()``), data ``D`` in **training
tokens**, compute ``C`` in **FLOPs** with the usual estimate ``C = 6 N D`` (forward and
backward pass; Kaplan et al. 2020, section 2.1; ``training_flops``, from ``course_lib.compute``).

The package, in the order the chapters use it:

    laws     -> ChinchillaLaw (HOFFMANN_2022, HOFFMANN_2022_UNROUNDED, BESIROGLU_2024), KaplanLaw (KAPLAN_2020, ...), PF_DAY
    fits     -> fit_power_law, fit_power_law_with_floor, fit_chinchilla (Huber loss, L-BFGS),
                fit_product_form (why L = a N^b D^c C^d has no unique answer)
    sweep    -> SweepConfig, PRESETS, width_lr, char_data, train_one: THE runner that trains
                GPTs of several widths; run_sweep (resumable, JSON, jobs=N processes) and load_sweep
    records  -> load_sweep, write_json, machine: a sweep's JSON on disk
    parallel -> run_in_processes: independent runs side by side, one process each;
                make_executor, run_with_submitit: the same runs as submitit jobs (SLURM or local)
    isoflop  -> isoflop_curve, fit_isoflop_minimum, plan_isoflop, run_isoflop (Hoffmann approach 2)
    grid     -> GridConfig, GRID_PRESETS, grid_config, run_grid, load_grid: the N x D grid (budgets
                or token counts, learning-rate brackets, seeds, repeated data), resumable
    uncertainty -> seed_spread, bootstrap_prediction (PredictionInterval), case_resamples
    approaches  -> approach1 (envelope), approach2 (IsoFLOP parabolas), approach3 (parametric fit),
                bootstrap_exponents, loss_interval, mean_over_seeds: Hoffmann's three approaches on a grid
    repetition  -> effective_data (Muennighoff et al.'s D', R_STAR), distinct_chunks, pass_batches,
                fresh_equivalent, law_equivalent, fit_r_star, worth_of_repeats: repeated data, read in exact passes
    __main__ -> python -m course_lib.scaling sweep --preset tiny --out results.json
                python -m course_lib.scaling grid --preset tiny --out grid.json

Every public name of the submodules is importable from ``course_lib.scaling`` itself.

References: Kaplan et al. (2020), Hoffmann et al. (2022) and Besiroglu et al. (2024), cited in full in
``laws``.
"""
from ..compute import training_flops
from .fits import (ChinchillaFit, FloorPowerLawFit, PowerLawFit, ProductFormFit, fit_chinchilla,
                   fit_chinchilla_details, fit_power_law, fit_power_law_with_floor, fit_product_form)
from .isoflop import IsoFLOPFit, fit_budgets, fit_isoflop_minimum, isoflop_curve, plan_isoflop, run_isoflop
from .laws import (BESIROGLU_2024, HOFFMANN_2022, HOFFMANN_2022_UNROUNDED, KAPLAN_2020, KAPLAN_2020_JOINT, PF_DAY,
                   ChinchillaLaw, KaplanLaw)
from .approaches import (APPROACHES, approach1, approach2, approach3, bootstrap_exponents, loss_interval,
                         mean_over_seeds)
from .grid import GRID_PRESETS, GridConfig, grid_config, load_grid, point_key, run_grid
from .parallel import make_executor, run_in_processes, run_tasks, run_with_submitit
from .records import machine, write_json
from .sweep import PRESETS, SweepConfig, char_data, load_sweep, n_params, run_sweep, sweep_config, train_one, width_lr
from .uncertainty import PredictionInterval, bootstrap_prediction, case_resamples, seed_spread
from .repetition import (R_STAR, distinct_chunks, effective_data, fit_r_star, fresh_equivalent, law_equivalent,
                         pass_batches, worth_of_repeats)

__all__ = [
    # laws
    "PF_DAY", "ChinchillaLaw", "HOFFMANN_2022", "HOFFMANN_2022_UNROUNDED", "BESIROGLU_2024", "KaplanLaw", "KAPLAN_2020", "KAPLAN_2020_JOINT",
    "training_flops",
    # fits
    "PowerLawFit", "fit_power_law", "FloorPowerLawFit", "fit_power_law_with_floor", "ChinchillaFit",
    "fit_chinchilla", "fit_chinchilla_details", "ProductFormFit", "fit_product_form",
    # IsoFLOP
    "isoflop_curve", "IsoFLOPFit", "fit_isoflop_minimum", "plan_isoflop", "run_isoflop", "fit_budgets",
    # the runner
    "SweepConfig", "PRESETS", "sweep_config", "width_lr", "n_params", "char_data", "train_one", "run_sweep",
    "load_sweep", "run_in_processes", "run_tasks", "make_executor", "run_with_submitit",
    # the grid, its uncertainty, Hoffmann's approaches
    "GridConfig", "GRID_PRESETS", "grid_config", "run_grid", "load_grid", "point_key",
    "seed_spread", "PredictionInterval", "bootstrap_prediction", "case_resamples",
    "APPROACHES", "approach1", "approach2", "approach3", "bootstrap_exponents", "loss_interval", "mean_over_seeds",
    # repeated data
    "R_STAR", "effective_data", "distinct_chunks", "pass_batches", "fresh_equivalent", "law_equivalent", "fit_r_star",
    "worth_of_repeats",
]
