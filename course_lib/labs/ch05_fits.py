"""Chapters 05b and 05c's lab: widgets on the learner's own runs (which sizes to fit, which approach).

* ``sweep_fit_state`` / ``sweep_fit_widget``: fit a power law (with or without a floor) to the
  chosen sizes of a sweep, predict the held-out largest with a bootstrap interval (runs
  resampled, seed noise added: ``course_lib.scaling.bootstrap_prediction``) and show the error
  beside the naive guess "no better than the second largest".
* ``approach_state`` / ``approach_widget``: one of Hoffmann et al.'s three approaches on the
  chosen budgets of a grid, with bootstrap intervals on the exponents a and b
  (``course_lib.scaling.bootstrap_exponents``) and the compute-optimal tokens per parameter.
* ``best_learning_rates`` / ``plot_lr_bracket``: a learning-rate bracket (chapter 05f) width by
  width: the mean loss of each rate over seeds, the best rate and the vertex of a local parabola.

A widget's ``update()`` returns the state it shows (a test changes a control and checks it);
``redraw()`` also draws the figure. Units: N non-embedding parameters, losses in nats per token.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scaling import (APPROACHES, PredictionInterval, bootstrap_exponents, bootstrap_prediction, fit_power_law,
                       fit_power_law_with_floor)
from ..validation import check_int, check_nonnegative
from .figures import wire_widget

__all__ = ["SweepFitState", "sweep_fit_state", "plot_sweep_fit", "sweep_fit_widget",
           "ApproachState", "approach_state", "plot_approach", "approach_widget", "best_learning_rates",
           "plot_lr_bracket"]


def _shown_in(text, compute):
    """A widget's ``update``: ``compute()``'s state, its ``summary()`` shown in ``text``; a choice
    that cannot be computed shows the ValueError's advice and returns the last good state."""
    last = {}

    def update(*_):
        try:
            state = compute()
        except ValueError as err:
            text.value = f"<pre>{err}</pre>"
            return last.get("state")
        last["state"] = state
        text.value = f"<pre>{state.summary()}</pre>"
        return state

    return update


@dataclass(frozen=True)
class SweepFitState:
    """A fit to some sizes of a sweep and its prediction for the largest.

    Attributes:
        N, L: every run's size and loss (sorted by N); ``fitted`` marks the runs in the fit.
        floor: whether the fitted law has a floor, L = E + A N^-alpha.
        fit: the ``PowerLawFit`` or ``FloorPowerLawFit``.
        interval: the ``PredictionInterval`` for the largest model.
        measured: the largest model's measured loss; ``error`` the prediction's relative error.
        naive_error: the relative error of predicting the second-largest model's loss.
    """

    N: np.ndarray
    L: np.ndarray
    fitted: np.ndarray
    floor: bool
    fit: object
    interval: PredictionInterval
    measured: float
    error: float
    naive_error: float

    def summary(self) -> str:
        iv = self.interval
        return (f"fit on widths of N = {', '.join(f'{n:,.0f}' for n in self.N[self.fitted])}: {self.fit}\n"
                f"largest (N = {self.N[-1]:,.0f}): predicted {iv.predicted:.4f}, {100 * iv.level:.0f}% interval "
                f"[{iv.low:.4f}, {iv.high:.4f}], measured {self.measured:.4f} (inside: {iv.contains(self.measured)})\n"
                f"error {100 * self.error:.2f}%, naive guess (second largest) {100 * self.naive_error:.2f}%")


def sweep_fit_state(runs: list[dict], fit_widths=None, *, floor: bool = True, seed_rel_sd: float = 0.0,
                    resample_seed: int = 0, n_boot: int = 1000) -> SweepFitState:
    """Fit the runs of ``fit_widths`` (default: all but the largest) and predict the largest run.

    ``runs``: a sweep's runs (dicts with ``width``, ``N``, ``val_loss``). The largest is never
    fitted. ValueError if fewer than 3 sizes (4 with a floor) are chosen.
    """
    runs = sorted(runs, key=lambda r: r["N"])
    if len(runs) < 4:
        raise ValueError(f"a sweep of {len(runs)} runs is too small: fit at least 3 and hold out the largest.")
    check_nonnegative(seed_rel_sd, "seed_rel_sd")
    resample_seed = check_int(resample_seed, "resample_seed", minimum=0)
    widths = [r["width"] for r in runs[:-1]] if fit_widths is None else list(fit_widths)
    fitted = np.array([r["width"] in widths and i < len(runs) - 1 for i, r in enumerate(runs)])
    need = 4 if floor else 3
    if fitted.sum() < need:
        raise ValueError(f"choose at least {need} sizes to fit {'with' if floor else 'without'} a floor "
                         f"(got {int(fitted.sum())}); the largest is held out.")
    N = np.array([r["N"] for r in runs], dtype=float)
    L = np.array([r["val_loss"] for r in runs], dtype=float)
    fit = (fit_power_law_with_floor if floor else fit_power_law)(N[fitted], L[fitted])
    interval = bootstrap_prediction(N[fitted], L[fitted], N[-1], floor=floor, seed_rel_sd=seed_rel_sd,
                                    n_boot=n_boot, seed=resample_seed)
    return SweepFitState(N=N, L=L, fitted=fitted, floor=floor, fit=fit, interval=interval, measured=float(L[-1]),
                         error=abs(interval.predicted - L[-1]) / L[-1], naive_error=abs(L[-2] - L[-1]) / L[-1])


def plot_sweep_fit(state: SweepFitState, ax=None):
    """Loss against N on log axes: fitted runs, the others, the fit and the interval for the largest."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(6, 4)) if ax is None else (ax.figure, ax))
    ax.loglog(state.N[state.fitted], state.L[state.fitted], "o", label="fitted")
    ax.loglog(state.N[~state.fitted], state.L[~state.fitted], "o", mfc="none", ms=9, label="not fitted")
    grid = np.geomspace(state.N[0] / 1.2, state.N[-1] * 1.2, 100)
    ax.loglog(grid, state.fit.predict(grid), "-", lw=1, color="C2", label="fit")
    iv = state.interval
    ax.errorbar([state.N[-1]], [iv.predicted], yerr=[[iv.predicted - iv.low], [iv.high - iv.predicted]], fmt="s",
                color="C3", mfc="none", capsize=4, label=f"prediction, {100 * iv.level:.0f}% interval")
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("validation loss (nats/char)")
    ax.legend(fontsize=8)
    return fig


def sweep_fit_widget(runs: list[dict], *, seed_rel_sd: float = 0.0, plot: bool = True):
    """Controls for ``sweep_fit_state``: the sizes to fit, floor or none, the bootstrap's seed.

    Returns an ``ipywidgets.VBox`` with ``sizes`` (SelectMultiple of widths), ``floor_toggle``,
    ``seed_slider``, ``text``, ``figure``, ``update()`` (returns the ``SweepFitState``) and ``redraw()``.
    A choice that cannot be fitted shows what to do instead of a fit.
    """
    import ipywidgets as widgets

    runs = sorted(runs, key=lambda r: r["N"])
    sweep_fit_state(runs, seed_rel_sd=seed_rel_sd, n_boot=200)  # validates the runs
    options = [r["width"] for r in runs[:-1]]
    sizes = widgets.SelectMultiple(options=options, value=tuple(options), description="fit widths", rows=len(options))
    floor_toggle = widgets.ToggleButtons(options=["with floor", "pure power law"], value="with floor")
    seed_slider = widgets.IntSlider(value=0, min=0, max=20, description="resample", continuous_update=False)
    text, figure = widgets.HTML(), widgets.Image(format="png")
    update = _shown_in(text, lambda: sweep_fit_state(runs, sizes.value, floor=floor_toggle.value == "with floor",
                                                     seed_rel_sd=seed_rel_sd, resample_seed=seed_slider.value,
                                                     n_boot=300))

    def draw(state):
        return plot_sweep_fit(state if state is not None else sweep_fit_state(runs, n_boot=200))

    box = widgets.VBox([widgets.HBox([sizes, widgets.VBox([floor_toggle, seed_slider])]), text, figure])
    return wire_widget(box, (sizes, floor_toggle, seed_slider), update, draw, figure, plot, sizes=sizes,
                       floor_toggle=floor_toggle, seed_slider=seed_slider, text=text)


@dataclass(frozen=True)
class ApproachState:
    """One approach on some budgets of a grid: exponents, their intervals, tokens per parameter.

    Attributes:
        approach: 1, 2 or 3; budgets: the budgets used (FLOPs).
        a, b: the exponents of N_opt ~ C^a and D_opt ~ C^b on all the chosen runs.
        a_interval, b_interval: 90% bootstrap intervals.
        tokens_per_param: D_opt / N_opt at the largest chosen budget (characters per parameter).
        estimate: what the approach returned.
    """

    approach: int
    budgets: tuple
    a: float
    b: float
    a_interval: tuple
    b_interval: tuple
    tokens_per_param: float
    estimate: dict

    def summary(self) -> str:
        return (f"approach {self.approach} on {len(self.budgets)} budgets: a = {self.a:.3f} "
                f"[{self.a_interval[0]:.3f}, {self.a_interval[1]:.3f}], b = {self.b:.3f} "
                f"[{self.b_interval[0]:.3f}, {self.b_interval[1]:.3f}] (90% bootstrap)\n"
                f"compute-optimal characters per parameter at {max(self.budgets):.1e} FLOPs: "
                f"{self.tokens_per_param:.1f}")


def approach_state(runs: list[dict], approach: int = 2, budgets=None, *, resample_seed: int = 0,
                   n_boot: int = 100) -> ApproachState:
    """Hoffmann et al.'s ``approach`` on the runs of ``budgets`` (default: all), with bootstrap intervals."""
    if approach not in APPROACHES:
        raise ValueError(f"approach must be 1, 2 or 3, got {approach!r}.")
    chosen = sorted({r["budget"] for r in runs}) if budgets is None else sorted(budgets)
    mine = [r for r in runs if r["budget"] in chosen]
    if len(chosen) < 2:
        raise ValueError("choose at least 2 budgets: an exponent needs two points.")
    boot = bootstrap_exponents(mine, approach, n_boot=n_boot, seed=check_int(resample_seed, "resample_seed", minimum=0))
    est = boot["estimate"]
    C = max(chosen)
    if approach == 3:
        tpp = float(est["law"].tokens_per_parameter(C))
    else:
        tpp = float(est["D_fit"].predict(C) / est["N_fit"].predict(C))
    return ApproachState(approach=approach, budgets=tuple(chosen), a=est["a"], b=est["b"], a_interval=boot["a"],
                         b_interval=boot["b"], tokens_per_param=tpp, estimate=est)


def plot_approach(state: ApproachState, runs: list[dict], ax=None):
    """The chosen budgets' runs (loss against N, one colour per budget) and each budget's optimum."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(6, 4)) if ax is None else (ax.figure, ax))
    est = state.estimate
    for i, C in enumerate(state.budgets):
        mine = sorted((r for r in runs if r["budget"] == C), key=lambda r: r["N"])
        ax.semilogx([r["N"] for r in mine], [r["val_loss"] for r in mine], "o-", lw=0.5, color=f"C{i}",
                    label=f"C = {C:.1e}")
        if state.approach == 3:
            n_opt = float(est["law"].compute_optimal(C)[0])
        else:
            n_opt = float(est["N_fit"].predict(C))
        ax.axvline(n_opt, color=f"C{i}", lw=0.8, ls=":")
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_title(f"approach {state.approach}: dotted lines, the fitted N_opt(C)")
    ax.legend(fontsize=7)
    return fig


def approach_widget(runs: list[dict], *, plot: bool = True):
    """Controls for ``approach_state``: the approach, the budgets, the bootstrap's seed.

    Returns an ``ipywidgets.VBox`` with ``approach_buttons``, ``budgets`` (SelectMultiple),
    ``seed_slider``, ``text``, ``figure``, ``update()`` (returns the ``ApproachState``) and ``redraw()``.
    """
    import ipywidgets as widgets

    all_budgets = sorted({r["budget"] for r in runs})
    approach_buttons = widgets.ToggleButtons(options=[("1: envelope", 1), ("2: IsoFLOP", 2), ("3: parametric", 3)],
                                             value=2)
    budgets = widgets.SelectMultiple(options=[(f"{c:.1e}", c) for c in all_budgets], value=tuple(all_budgets),
                                     description="budgets", rows=len(all_budgets))
    seed_slider = widgets.IntSlider(value=0, min=0, max=20, description="resample", continuous_update=False)
    text, figure = widgets.HTML(), widgets.Image(format="png")
    update = _shown_in(text, lambda: approach_state(runs, approach_buttons.value, budgets.value,
                                                    resample_seed=seed_slider.value))

    def draw(state):
        return plot_approach(state if state is not None else approach_state(runs), runs)

    box = widgets.VBox([approach_buttons, widgets.HBox([budgets, seed_slider]), text, figure])
    return wire_widget(box, (approach_buttons, budgets, seed_slider), update, draw, figure, plot,
                       approach_buttons=approach_buttons, budgets=budgets, seed_slider=seed_slider, text=text)


def best_learning_rates(runs: list[dict]) -> dict[int, dict]:
    """A learning-rate bracket, width by width (runs: dicts with ``width``, ``lr``, ``seed``, ``val_loss``).

    Returns ``{width: {"lr": (k,) rates, increasing, "mean": (k,) mean loss over seeds, "sd": (k,)
    their standard deviation (NaN with one seed), "seeds": seeds per rate, "best_lr": the rate of
    lowest mean loss, "bracketed": whether it has a rate on each side, "vertex_lr": the minimum of
    a parabola in ln lr through the best rate and its two neighbours (None when not bracketed or
    the three points do not open upwards)}}``. Losses in nats per token.
    """
    table: dict[int, dict[float, list[float]]] = {}
    for r in runs:
        table.setdefault(int(r["width"]), {}).setdefault(round(float(r["lr"]), 12), []).append(float(r["val_loss"]))
    if not table:
        raise ValueError("no runs given; load a bracket with load_grid('data/lr_bracket.json')['runs'].")
    out = {}
    for width, by_lr in sorted(table.items()):
        lrs = np.array(sorted(by_lr))
        losses = [np.array(by_lr[lr]) for lr in lrs]
        mean = np.array([v.mean() for v in losses])
        sd = np.array([v.std(ddof=1) if len(v) > 1 else np.nan for v in losses])
        i = int(np.argmin(mean))
        bracketed = 0 < i < len(lrs) - 1
        vertex = None
        if bracketed:
            c2, c1, _ = np.polyfit(np.log(lrs[i - 1:i + 2]), mean[i - 1:i + 2], 2)
            vertex = float(np.exp(-c1 / (2 * c2))) if c2 > 0 else None
        out[width] = {"lr": lrs, "mean": mean, "sd": sd, "seeds": [len(v) for v in losses], "best_lr": float(lrs[i]),
                      "bracketed": bracketed, "vertex_lr": vertex}
    return out


def plot_lr_bracket(table: dict[int, dict], ax=None, title: str = ""):
    """Mean loss against learning rate, one line per width (error bars: sd over seeds), best rates starred."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(6, 4)) if ax is None else (ax.figure, ax))
    for i, (width, t) in enumerate(table.items()):
        ax.errorbar(t["lr"], t["mean"], yerr=np.nan_to_num(t["sd"]), fmt="o-", ms=3, lw=1, capsize=2, color=f"C{i}",
                    label=f"width {width}")
        ax.plot([t["best_lr"]], [t["mean"].min()], "*", ms=12, color=f"C{i}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig
