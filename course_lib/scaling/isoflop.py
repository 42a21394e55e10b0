"""IsoFLOP profiles: at a fixed compute budget, which model size gives the lowest loss?

Hoffmann et al. (2022, approach 2) fixed a set of training budgets C (FLOPs), trained
models of several sizes N at each budget for ``D = C / (6 N)`` tokens, and read the best
size off the bottom of each U-shaped curve of loss against N.

* ``isoflop_curve(law, C, N)``: the profile a law predicts.
* ``fit_isoflop_minimum(N, L)``: a parabola in ln N through measured points, and its minimum.
* ``plan_isoflop`` and ``run_isoflop``: the experiment itself with tiny character-level
  GPTs, trained by ``course_lib.scaling.sweep.train_one`` so that chapter 05c runs it on a
  laptop; ``fit_budgets`` fits each budget's minimum.

Units: N in non-embedding parameters (``GPT.num_params()``), D in tokens, C in FLOPs with
C = 6 N D, losses in nats per token on held-out data.

Reference:
    Hoffmann, Borgeaud, Mensch, et al. (2022), "Training Compute-Optimal Large Language
    Models", arXiv:2203.15556, section 3.2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..compute import tokens_for_flops
from ..validation import check_positive, check_positive_array
from .fits import check_paired, r_squared
from .laws import as_float_or_array
from .sweep import SweepConfig, char_data, n_params, train_one

__all__ = ["isoflop_curve", "IsoFLOPFit", "fit_isoflop_minimum", "plan_isoflop", "run_isoflop", "fit_budgets"]


def isoflop_curve(law, C, N):
    """The IsoFLOP profile of ``law`` at a budget of C FLOPs: for each N, D = C / (6 N) and L(N, D).

    Args:
        law: anything with ``loss(N, D)`` (a ``ChinchillaLaw`` or ``KaplanLaw``).
        C: one compute budget in FLOPs.
        N: parameter counts to evaluate (array).

    Returns:
        (D, L): tokens for each N, and the predicted loss in nats per token.
    """
    C = check_positive_array(C, "C (a compute budget in FLOPs)")
    if C.size != 1:
        raise ValueError("isoflop_curve takes one budget C; loop over budgets for several curves.")
    N = check_positive_array(N, "N")
    D = tokens_for_flops(float(C), N)
    return D, law.loss(N, D)


@dataclass(frozen=True)
class IsoFLOPFit:
    """A parabola in ln N through IsoFLOP measurements: ``L = c2 (ln N)**2 + c1 ln N + c0``.

    ``N_opt = exp(-c1 / (2 c2))`` is the loss-minimising size (parameters) at that budget and
    ``loss_min`` the parabola's minimum (nats per token); ``inside`` says whether N_opt lies
    within the measured range (outside it, the minimum is an extrapolation).
    """

    N_opt: float
    loss_min: float
    coefficients: tuple[float, float, float]
    r2: float
    inside: bool

    def predict(self, N):
        """The parabola's loss (nats per token) at N parameters."""
        lx = np.log(check_positive_array(N, "N"))
        c2, c1, c0 = self.coefficients
        return as_float_or_array(c2 * lx**2 + c1 * lx + c0)


def fit_isoflop_minimum(N, L) -> IsoFLOPFit:
    """Fit a parabola in ln N to (N, loss) points measured at one compute budget; return its minimum.

    This is Hoffmann et al.'s approach 2: for each budget, the size with the lowest loss.
    Needs at least 3 points and a U shape (positive curvature); otherwise a ValueError
    says to widen the range of N.
    """
    N, L = check_paired(N, L, "N", "L", min_points=3)
    lx = np.log(N)
    if len(np.unique(lx)) < 3:
        raise ValueError("need at least 3 different N to fit a parabola.")
    c2, c1, c0 = np.polyfit(lx, L, 2)
    # a straight line fitted as a parabola gets c2 = +-1e-17 from rounding: no U either
    if c2 <= 1e-9 * max(abs(c1), abs(c0), 1e-300) / max(np.ptp(lx), 1.0):
        raise ValueError(
            "these points do not form a U (the fitted parabola opens downwards), so there is no minimum. "
            "Add sizes on both sides of the best one."
        )
    x_opt = -c1 / (2 * c2)
    return IsoFLOPFit(
        N_opt=float(math.exp(x_opt)),
        loss_min=float(c0 - c1 * c1 / (4 * c2)),
        coefficients=(float(c2), float(c1), float(c0)),
        r2=r_squared(L, c2 * lx**2 + c1 * lx + c0),
        inside=bool(lx.min() <= x_opt <= lx.max()),
    )


# ----------------------------------------------------------------------------- the experiment


def plan_isoflop(budgets: dict, vocab_size: int, config: SweepConfig | None = None) -> list[dict]:
    """The runs of an IsoFLOP experiment without training them: for each budget and width, N, D and steps.

    Args:
        budgets: ``{C: widths}``: compute budgets in FLOPs, each with the widths to train
            at that budget (at least 3, so that a parabola can be fitted).
        vocab_size: size of the vocabulary (it does not enter N, which leaves out embeddings).
        config: the models' shape and optimiser (default ``SweepConfig()``); its ``widths``
            and ``tokens`` are not used.

    Returns:
        A list of dicts ``{"C", "width", "N", "D", "steps"}`` with ``D = C / (6 N)`` rounded to
        whole steps of ``config.tokens_per_step`` tokens (at least one).
    """
    config = SweepConfig() if config is None else config
    if not isinstance(budgets, dict) or not budgets:
        raise ValueError("budgets must be a non-empty dict {C in FLOPs: [widths]}, e.g. {1e10: [8, 16, 32]}.")
    plan = []
    for C, widths in budgets.items():
        check_positive(C, "a compute budget (FLOPs)")
        widths = list(widths)
        if len(set(widths)) < 3:
            raise ValueError(f"budget {C:.3g} has widths {widths}; give at least 3 different widths for a U shape.")
        for w in widths:
            n = n_params(w, vocab_size, config)
            steps = max(1, round(tokens_for_flops(C, n) / config.tokens_per_step))
            plan.append({"C": float(C), "width": w, "N": n, "D": steps * config.tokens_per_step, "steps": steps})
    return plan


def run_isoflop(budgets: dict, config: SweepConfig | None = None, data=None, progress: bool = False) -> dict:
    """Train every run of ``plan_isoflop(budgets)`` and fit each budget's minimum.

    Args:
        budgets: ``{C: widths}`` as for ``plan_isoflop``.
        config: a ``SweepConfig`` (default ``SweepConfig()``); every model is trained by
            ``train_one(config, width, data, steps=...)``.
        data: ``(train_ids, val_ids, vocab_size)``; default ``char_data()``.
        progress: show a tqdm bar over the runs.

    Returns:
        ``{"config": dict, "runs": [...], "fits": {C: IsoFLOPFit}}``: each run as returned
        by ``train_one`` plus its budget ``C``; each fit from ``fit_isoflop_minimum`` on that
        budget's (N, val_loss), or None where they form no U (see ``fit_budgets``).
    """
    from tqdm.auto import tqdm

    config = SweepConfig() if config is None else config
    data = char_data() if data is None else data
    plan = plan_isoflop(budgets, data[2], config)
    runs = []
    for item in tqdm(plan, desc="IsoFLOP runs", disable=not progress):
        runs.append({"C": item["C"], **train_one(config, item["width"], data, steps=item["steps"])})
    return {"config": config.to_dict(), "runs": runs, "fits": fit_budgets(runs)}


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
