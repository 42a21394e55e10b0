"""Chapter 05a's lab: the compute-budget explorer and the small demonstrations.

Closed-form arithmetic on the published laws of ``course_lib.scaling`` (no training): one
update takes well under a millisecond, the widgets only add drawing. Units: N in
parameters, D in training tokens, C in FLOPs with ``C = 6 N D``, loss in nats per token.

    explorer_state / plot_explorer / explorer_widget       -> a run (N, D) and a budget C under a law:
                                                              its loss, the compute-optimal N and D
                                                              (Hoffmann et al. 2022, eq. 4), Kaplan's allocation
    power_law_state / plot_power_law / power_law_widget   -> a power law above a floor, and what a
                                                              straight line on log-log axes makes of it
    isoflop_table, allocation_table                        -> IsoFLOP curves and allocations, law by law
    product_form_demo                                      -> runs with C = 6 N D given to fit_product_form:
                                                              the seeds' a N^b D^c C^d has no unique fit

A widget's ``update()`` returns what it shows (a test moves a slider and checks it);
``redraw()``, called when a slider is released, also draws the figure.

References:
    Kaplan et al. (2020), "Scaling Laws for Neural Language Models", arXiv:2001.08361.
    Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models", arXiv:2203.15556.
    Besiroglu, Erdil, Barnett, You (2024), "Chinchilla Scaling: A replication attempt",
    arXiv:2404.10102.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..scaling import (BESIROGLU_2024, HOFFMANN_2022, HOFFMANN_2022_UNROUNDED, KAPLAN_2020, ChinchillaLaw, PowerLawFit,
                       ProductFormFit, fit_power_law, fit_product_form, isoflop_curve, training_flops)
from ..compute import tokens_for_flops
from ..validation import check_int, check_nonnegative, check_positive, check_positive_array
from .figures import wire_widget

__all__ = [
    "LAWS", "get_law", "ExplorerState", "explorer_state", "plot_explorer", "explorer_widget",
    "PowerLawState", "power_law_state", "plot_power_law", "power_law_widget",
    "IsoFLOPCurve", "isoflop_table", "AllocationRow", "allocation_table", "product_form_demo",
]

LAWS: dict[str, ChinchillaLaw] = {
    "Hoffmann et al. 2022 (printed)": HOFFMANN_2022,
    "Hoffmann et al. 2022 (unrounded)": HOFFMANN_2022_UNROUNDED,
    "Besiroglu et al. 2024": BESIROGLU_2024,
}
"""The Chinchilla-form laws the explorer offers, by the name it shows."""


def get_law(law) -> tuple[str, ChinchillaLaw]:
    """``(name, ChinchillaLaw)`` for a name in ``LAWS`` or a ``ChinchillaLaw``; ValueError otherwise."""
    if isinstance(law, ChinchillaLaw):
        for name, known in LAWS.items():
            if known == law:
                return name, law
        return "custom law", law
    if isinstance(law, str) and law in LAWS:
        return law, LAWS[law]
    raise ValueError(f"law must be a ChinchillaLaw or one of {sorted(LAWS)}, got {law!r}.")


def _budgets(budgets) -> np.ndarray:
    return check_positive_array(budgets, "budgets (FLOPs, such as [1e19, 1e21])").ravel()


# ----------------------------------------------------------------------------- the explorer's numbers


@dataclass(frozen=True)
class ExplorerState:
    """What the compute-budget explorer shows for sliders N, D, C and a law.

    Attributes:
        law_name: the law's name (a key of ``LAWS`` or "custom law").
        N, D: the run on the sliders: parameters and training tokens.
        C: the compute budget on the slider, FLOPs.
        loss: predicted loss of the run (N, D), nats per token.
        run_flops: the run's compute, 6 N D FLOPs (not necessarily C).
        loss_N_at_budget: loss of a model of N parameters that spends all of C, i.e. is
            trained on C / (6 N) tokens.
        N_opt, D_opt: the compute-optimal parameters and tokens for C under the law
            (6 N_opt D_opt = C).
        tokens_per_param: D_opt / N_opt.
        loss_opt: the lowest loss reachable with C FLOPs, nats per token.
        kaplan_N, kaplan_D: Kaplan et al.'s (2020) allocation of C, N ∝ C**0.73
            (their N excludes embeddings; the comparison is of shapes).
        kaplan_tokens_per_param: kaplan_D / kaplan_N.
        loss_kaplan_allocation: the chosen law's loss at (kaplan_N, kaplan_D): what the
            law says Kaplan's allocation of the same budget would reach.
    """

    law_name: str
    N: float
    D: float
    C: float
    loss: float
    run_flops: float
    loss_N_at_budget: float
    N_opt: float
    D_opt: float
    tokens_per_param: float
    loss_opt: float
    kaplan_N: float
    kaplan_D: float
    kaplan_tokens_per_param: float
    loss_kaplan_allocation: float

    @property
    def budget_fraction(self) -> float:
        """The run's compute as a fraction of the budget, 6 N D / C."""
        return self.run_flops / self.C

    def summary(self) -> str:
        """A few lines of text (rounded to 3 significant digits) for a widget or a print."""
        return (
            f"law: {self.law_name}\n"
            f"your run: N = {self.N:.3g} params, D = {self.D:.3g} tokens ({self.D / self.N:.3g} tokens/param), "
            f"6ND = {self.run_flops:.3g} FLOPs ({self.budget_fraction:.3g} x the budget)\n"
            f"  predicted loss {self.loss:.3f} nats/token\n"
            f"budget C = {self.C:.3g} FLOPs:\n"
            f"  compute-optimal N = {self.N_opt:.3g}, D = {self.D_opt:.3g} ({self.tokens_per_param:.3g} tokens/param), "
            f"loss {self.loss_opt:.3f}\n"
            f"  your N spending all of C: D = {tokens_for_flops(self.C, self.N):.3g}, loss {self.loss_N_at_budget:.3f}\n"
            f"  Kaplan's allocation: N = {self.kaplan_N:.3g}, D = {self.kaplan_D:.3g} "
            f"({self.kaplan_tokens_per_param:.3g} tokens/param), loss by this law {self.loss_kaplan_allocation:.3f}"
        )


def explorer_state(N, D, C, law="Hoffmann et al. 2022 (printed)") -> ExplorerState:
    """The explorer's numbers for a run of N parameters on D tokens and a budget of C FLOPs.

    N: parameters, D: training tokens, C: compute budget in FLOPs (need not equal 6 N D), each
    finite and > 0; law: a ``ChinchillaLaw`` or a name in ``LAWS``. ValueError otherwise.
    """
    N, D, C = check_positive(N, "N"), check_positive(D, "D"), check_positive(C, "C")
    name, chinchilla = get_law(law)
    n_opt, d_opt = chinchilla.compute_optimal(C)
    k_n, k_d = KAPLAN_2020.compute_optimal(C)
    return ExplorerState(
        law_name=name, N=N, D=D, C=C,
        loss=chinchilla.loss(N, D),
        run_flops=float(training_flops(N, D)),
        loss_N_at_budget=chinchilla.loss(N, tokens_for_flops(C, N)),
        N_opt=n_opt, D_opt=d_opt, tokens_per_param=d_opt / n_opt,
        loss_opt=chinchilla.loss(n_opt, d_opt),
        kaplan_N=k_n, kaplan_D=k_d, kaplan_tokens_per_param=k_d / k_n,
        loss_kaplan_allocation=chinchilla.loss(k_n, k_d),
    )


# ----------------------------------------------------------------------------- IsoFLOP curves and allocations


@dataclass(frozen=True)
class IsoFLOPCurve:
    """Loss against N at one budget C (D = C / (6 N) at each point).

    Attributes:
        C: the budget, FLOPs.
        N: (n_points,) parameters, log-spaced around N_opt.
        D: (n_points,) tokens, C / (6 N).
        L: (n_points,) predicted loss, nats per token.
        N_opt, D_opt, L_opt: the analytic minimum (Hoffmann et al. 2022, eq. 4).
    """

    C: float
    N: np.ndarray
    D: np.ndarray
    L: np.ndarray
    N_opt: float
    D_opt: float
    L_opt: float

    @property
    def N_grid_min(self) -> float:
        """The N of the grid point with the lowest loss (close to N_opt on a fine grid)."""
        return float(self.N[int(np.argmin(self.L))])


def isoflop_table(law="Hoffmann et al. 2022 (printed)", budgets=(1e19, 1e21, 1e23, 1e25), decades: float = 1.5,
                  n_points: int = 61) -> list[IsoFLOPCurve]:
    """IsoFLOP curves of ``law``, one per budget, on N from N_opt / 10**decades to N_opt * 10**decades.

    Returns a list of ``IsoFLOPCurve`` in the order of ``budgets``. ValueError for bad
    budgets, ``decades <= 0`` or fewer than 3 points.
    """
    _, chinchilla = get_law(law)
    budgets = _budgets(budgets)
    decades = check_positive(decades, "decades (the half-width of the N range in decades)")
    n_points = check_int(n_points, "n_points", minimum=3)
    curves = []
    for C in budgets:
        n_opt, d_opt = chinchilla.compute_optimal(float(C))
        N = n_opt * np.logspace(-decades, decades, n_points)  # (n_points,)
        D, L = isoflop_curve(chinchilla, C, N)  # D = C / (6 N)
        curves.append(IsoFLOPCurve(C=float(C), N=N, D=D, L=L, N_opt=n_opt, D_opt=d_opt,
                                   L_opt=chinchilla.loss(n_opt, d_opt)))
    return curves


@dataclass(frozen=True)
class AllocationRow:
    """One law's compute-optimal allocation of one budget.

    ``loss`` is the law's own prediction (nats per token) for Chinchilla-form laws, and
    Kaplan et al.'s compute frontier ``L(C_min)`` for Kaplan (their own data and tokenizer:
    compare the allocations, not the losses across papers).
    """

    law_name: str
    C: float
    N_opt: float
    D_opt: float
    tokens_per_param: float
    loss: float


def allocation_table(budgets=(1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25), laws=None,
                     include_kaplan: bool = True) -> list[AllocationRow]:
    """Compute-optimal N, D, tokens per parameter and loss at each budget, for each law.

    Args:
        budgets: FLOPs.
        laws: names in ``LAWS`` or ``ChinchillaLaw`` objects (default: all of ``LAWS``).
        include_kaplan: add Kaplan et al.'s allocation (``KAPLAN_2020.compute_optimal``).

    Returns:
        ``AllocationRow``s, budget by budget, laws in the given order, Kaplan last.
    """
    budgets = _budgets(budgets)
    chosen = [get_law(law) for law in (LAWS if laws is None else laws)]
    rows = []
    for C in budgets:
        C = float(C)
        for name, chinchilla in chosen:
            n, d = chinchilla.compute_optimal(C)
            rows.append(AllocationRow(name, C, n, d, d / n, chinchilla.loss(n, d)))
        if include_kaplan:
            n, d = KAPLAN_2020.compute_optimal(C)
            rows.append(AllocationRow("Kaplan et al. 2020", C, n, d, d / n, KAPLAN_2020.loss_compute(C)))
    return rows


# ----------------------------------------------------------------------------- the seeds' product form


def product_form_demo(n_runs: int = 12, seed: int = 0, law="Hoffmann et al. 2022 (printed)") -> ProductFormFit:
    """Fit the seeds' ``L = a N^b D^c C^d`` to runs of ``law`` with C = 6 N D, and show it is unidentifiable.

    N is drawn log-uniform in [1e7, 1e10] parameters and D in [1e9, 1e12] tokens (numpy
    generator ``seed``); L = law.loss(N, D). Returns ``fit_product_form(N, D, L)``: its
    design matrix (columns 1, ln N, ln D, ln C) has rank 3.
    """
    n_runs = check_int(n_runs, "n_runs (four coefficients and at least one more run)", minimum=5)
    _, chinchilla = get_law(law)
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(math.log(1e7), math.log(1e10), n_runs))  # (n,)
    D = np.exp(rng.uniform(math.log(1e9), math.log(1e12), n_runs))  # (n,)
    return fit_product_form(N, D, chinchilla.loss(N, D))


# ----------------------------------------------------------------------------- a floor under a power law


@dataclass(frozen=True)
class PowerLawState:
    """``y = floor + coefficient * x**(-exponent)`` on x in [x_min, x_max], and a pure power law fitted to it.

    Attributes:
        x, y: (n_points,) the curve.
        fit: ``fit_power_law(x, y)``: a straight line in log-log space.
        slope_start, slope_end: the local log-log slope d ln y / d ln x at x_min and
            x_max, ``-exponent * (y - floor) / y``: it flattens as y nears the floor.
        x_far: the point the fit is extrapolated to.
        y_far: the true y there; ``y_far_fit`` the pure power law's prediction.
    """

    exponent: float
    floor: float
    coefficient: float
    x: np.ndarray
    y: np.ndarray
    fit: PowerLawFit
    slope_start: float
    slope_end: float
    x_far: float
    y_far: float
    y_far_fit: float

    @property
    def far_error(self) -> float:
        """Relative error of the pure power law at x_far, (fit - truth) / truth."""
        return (self.y_far_fit - self.y_far) / self.y_far


def power_law_state(exponent: float = 0.3, floor: float = 1.7, coefficient: float = 100.0, x_min: float = 1e6,
                    x_max: float = 1e9, x_far: float = 1e12, n_points: int = 13) -> PowerLawState:
    """A power law above a floor, and what a straight-line fit on log-log axes makes of it.

    Args:
        exponent: > 0; y falls as x**(-exponent) above the floor.
        floor: >= 0, the irreducible part (Chinchilla's E, in nats per token).
        coefficient: > 0.
        x_min, x_max: the measured range (e.g. parameters), 0 < x_min < x_max.
        x_far: where to extrapolate the fit (> 0).
        n_points: measured points, log-spaced (>= 2).
    """
    exponent = check_positive(exponent, "exponent")
    coefficient = check_positive(coefficient, "coefficient")
    check_nonnegative(floor, "floor (the irreducible loss)")
    x_min, x_max, x_far = check_positive(x_min, "x_min"), check_positive(x_max, "x_max"), check_positive(x_far, "x_far")
    if x_min >= x_max:
        raise ValueError(f"x_min must be below x_max, got {x_min} and {x_max}.")
    n_points = check_int(n_points, "n_points", minimum=2)
    x = np.logspace(math.log10(x_min), math.log10(x_max), n_points)
    y = floor + coefficient * x ** (-exponent)
    fit = fit_power_law(x, y)

    def slope(at):
        reducible = coefficient * at ** (-exponent)
        return -exponent * reducible / (floor + reducible)

    y_far = floor + coefficient * x_far ** (-exponent)
    return PowerLawState(exponent=exponent, floor=float(floor), coefficient=coefficient, x=x, y=y, fit=fit,
                         slope_start=slope(x_min), slope_end=slope(x_max), x_far=x_far, y_far=y_far,
                         y_far_fit=fit.predict(x_far))


# ----------------------------------------------------------------------------- plots


def plot_explorer(state: ExplorerState, budgets=(1e19, 1e21, 1e23, 1e25), axes=None, law=None):
    """Draw the explorer's two panels for ``state``; returns the matplotlib figure.

    ``law`` is the ``ChinchillaLaw`` the state was computed with; it may be left out when
    ``state.law_name`` is a key of ``LAWS``.

    Left: IsoFLOP curves (loss against N at fixed C) for ``budgets`` and for the chosen C,
    each minimum marked, and the run (N, D) at its own compute. Right: compute-optimal N
    against C under the chosen law and under Kaplan's allocation (N ∝ C**0.73), the chosen
    C marked.
    """
    import matplotlib.pyplot as plt

    if law is not None:
        _, chinchilla = get_law(law)
    elif state.law_name in LAWS:
        chinchilla = LAWS[state.law_name]
    else:
        raise ValueError(f"state was computed with {state.law_name!r}; pass that ChinchillaLaw as law=.")
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    else:
        fig = axes[0].figure
    ax, bx = axes
    for curve in isoflop_table(chinchilla, budgets, n_points=41):
        line, = ax.plot(curve.N, curve.L, lw=1, alpha=0.6, label=f"C = {curve.C:.0e}")
        ax.plot(curve.N_opt, curve.L_opt, "o", color=line.get_color(), ms=4)
    chosen = isoflop_table(chinchilla, [state.C], n_points=41)[0]
    ax.plot(chosen.N, chosen.L, "k-", lw=2, label=f"your C = {state.C:.2g}")
    ax.plot(chosen.N_opt, chosen.L_opt, "k*", ms=12, label="its optimum")
    ax.plot(state.N, state.loss, "rX", ms=9, label=f"your run (6ND = {state.run_flops:.2g})")
    ax.set(xscale="log", xlabel="parameters N", ylabel="loss (nats/token)",
           title=f"IsoFLOP curves, {state.law_name}")
    ax.legend(fontsize=7)
    C = np.logspace(17, 26, 46)
    n_chin, _ = chinchilla.compute_optimal(C)
    n_kap, _ = KAPLAN_2020.compute_optimal(C)
    bx.plot(C, n_chin, label=f"Chinchilla form: N ∝ C^{chinchilla.a:.2f}")
    bx.plot(C, n_kap, "--", label=f"Kaplan: N ∝ C^{KAPLAN_2020.n_opt_exponent:.2f}")
    bx.plot(state.C, state.N_opt, "k*", ms=12)
    bx.plot(state.C, state.kaplan_N, "ks", ms=6, mfc="none")
    bx.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="compute-optimal N",
           title="How to spend more compute")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_power_law(demo: PowerLawState, ax=None):
    """Log-log plot of ``demo``'s curve, its pure power-law fit extrapolated to x_far, and the floor."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots()
    else:
        fig = ax.figure
    xs = np.logspace(math.log10(demo.x[0]), math.log10(demo.x_far), 60)
    ax.plot(xs, demo.floor + demo.coefficient * xs ** (-demo.exponent), "k-", label="truth: floor + c x^-k")
    ax.plot(demo.x, demo.y, "o", ms=4, label="measured range")
    ax.plot(xs, demo.fit.predict(xs), "--", label=f"pure power law fit: slope {demo.fit.exponent:.3f}")
    if demo.floor > 0:
        ax.axhline(demo.floor, color="gray", lw=1, ls=":", label=f"floor E = {demo.floor:g}")
    ax.set(xscale="log", yscale="log", xlabel="x (e.g. parameters)", ylabel="y (e.g. loss)",
           title=f"k = {demo.exponent:g}, E = {demo.floor:g}: extrapolation error {demo.far_error:+.1%}")
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- widgets


def explorer_widget(N: float = 1e9, D: float = 2e10, C: float = 1e21, law: str = "Hoffmann et al. 2022 (printed)",
                    plot: bool = True):
    """Sliders for N, D and C (log scale) and a law menu, showing ``explorer_state`` and ``plot_explorer``.

    Returns an ``ipywidgets.VBox`` with attributes ``n_slider``, ``d_slider``, ``c_slider``,
    ``law_menu``, ``text`` (HTML) and ``figure`` (an Image of PNG bytes), and ``update()``, the callback
    the sliders call, which returns the ``ExplorerState`` it shows (arithmetic, well under a
    millisecond). ``redraw()`` also draws the figure (a few tenths of a second), so the
    sliders act when released. ``plot=False`` leaves the figure out (tests).
    """
    import ipywidgets as widgets

    name, _ = get_law(law)
    if name not in LAWS:
        raise ValueError(f"law must be one of {sorted(LAWS)} for the widget, got {law!r}.")
    N, D, C = check_positive(N, "N"), check_positive(D, "D"), check_positive(C, "C")
    style = dict(base=10, step=0.05, readout_format=".3g", continuous_update=False,
                 layout=widgets.Layout(width="330px"))
    n_slider = widgets.FloatLogSlider(value=N, min=6, max=13, description="N params", **style)
    d_slider = widgets.FloatLogSlider(value=D, min=8, max=14, description="D tokens", **style)
    c_slider = widgets.FloatLogSlider(value=C, min=17, max=26, description="C FLOPs", **style)
    law_menu = widgets.Dropdown(options=list(LAWS), value=name, description="law")
    text = widgets.HTML()
    figure = widgets.Image(format="png")

    def update(*_):
        state = explorer_state(n_slider.value, d_slider.value, c_slider.value, law_menu.value)
        text.value = "<pre>" + state.summary() + "</pre>"
        return state

    box = widgets.VBox([widgets.HBox([n_slider, d_slider]), widgets.HBox([c_slider, law_menu]), text, figure])
    return wire_widget(box, (n_slider, d_slider, c_slider, law_menu), update, plot_explorer, figure, plot,
                 n_slider=n_slider, d_slider=d_slider, c_slider=c_slider, law_menu=law_menu, text=text)


def power_law_widget(exponent: float = 0.3, floor: float = 1.7, plot: bool = True):
    """Sliders for the exponent k and the floor E of ``y = E + 100 x**(-k)``, showing ``power_law_state``.

    Returns an ``ipywidgets.VBox`` with ``k_slider``, ``e_slider``, ``text`` (HTML),
    ``figure`` (an Image of PNG bytes), ``update()``, which refreshes the text and returns the
    ``PowerLawState`` it shows (arithmetic, well under a millisecond), and ``redraw()``, which also
    draws the figure (about a tenth of a second: the sliders act when released).
    """
    import ipywidgets as widgets

    first = power_law_state(exponent, floor)  # validates the starting values
    k_slider = widgets.FloatSlider(value=first.exponent, min=0.05, max=1.0, step=0.01, description="exponent k",
                                   continuous_update=False, readout_format=".2f")
    e_slider = widgets.FloatSlider(value=first.floor, min=0.0, max=3.0, step=0.05, description="floor E",
                                   continuous_update=False, readout_format=".2f")
    text = widgets.HTML()
    figure = widgets.Image(format="png")

    def update(*_):
        demo = power_law_state(k_slider.value, e_slider.value)
        text.value = (
            f"<pre>true exponent k = {demo.exponent:.2f}, floor E = {demo.floor:.2f}\n"
            f"local log-log slope: {demo.slope_start:.3f} at x = {demo.x[0]:.0e}, {demo.slope_end:.3f} at "
            f"x = {demo.x[-1]:.0e}\n"
            f"pure power-law fit on the measured range: slope {demo.fit.exponent:.3f}, R^2 {demo.fit.r2:.4f}\n"
            f"at x = {demo.x_far:.0e}: truth {demo.y_far:.3f}, fit {demo.y_far_fit:.3f} "
            f"({demo.far_error:+.1%})</pre>"
        )
        return demo

    box = widgets.VBox([widgets.HBox([k_slider, e_slider]), text, figure])
    return wire_widget(box, (k_slider, e_slider), update, plot_power_law, figure, plot, k_slider=k_slider,
                 e_slider=e_slider, text=text)
