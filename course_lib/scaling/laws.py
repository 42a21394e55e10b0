"""Published scaling laws: Chinchilla's ``L(N, D)`` and Kaplan et al.'s power laws, with the papers' constants.

Units: loss ``L`` in nats per token, ``N`` in parameters (Kaplan et al. count only the
non-embedding ones), ``D`` in training tokens, compute ``C`` in FLOPs with ``C = 6 N D``
(``course_lib.compute.training_flops``). The constants are the papers'; their L is on their
own data and tokenizer, so only the *shapes* carry over to a character-level model.

* ``ChinchillaLaw``: ``L(N, D) = E + A / N**alpha + B / D**beta`` (Hoffmann et al. 2022,
  eq. 2), with ``HOFFMANN_2022`` (their approach 3 as printed, rounded),
  ``HOFFMANN_2022_UNROUNDED`` (the same fit unrounded) and ``BESIROGLU_2024`` (the
  replication of that fit by Besiroglu et al. 2024).
* ``KaplanLaw``: ``L(N) = (N_c/N)**alpha_N``, ``L(D) = (D_c/D)**alpha_D``,
  ``L(N, D) = [(N_c/N)**(alpha_N/alpha_D) + D_c/D]**alpha_D`` and the compute-efficient
  frontier ``L(C_min) = (C_c/C_min)**alpha_C`` (Kaplan et al. 2020), with ``KAPLAN_2020``
  and ``KAPLAN_2020_JOINT``.

References:
    Kaplan, McCandlish, Henighan, Brown, Chess, Child, Gray, Radford, Wu, Amodei (2020),
    "Scaling Laws for Neural Language Models", arXiv:2001.08361.
    Hoffmann, Borgeaud, Mensch, et al. (2022), "Training Compute-Optimal Large Language
    Models", arXiv:2203.15556 (NeurIPS 2022).
    Besiroglu, Erdil, Barnett, You (2024), "Chinchilla Scaling: A replication attempt",
    arXiv:2404.10102.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..compute import tokens_for_flops
from ..validation import check_nonnegative, check_positive, check_positive_array

__all__ = [
    "PF_DAY",
    "ChinchillaLaw",
    "HOFFMANN_2022",
    "HOFFMANN_2022_UNROUNDED",
    "BESIROGLU_2024",
    "KaplanLaw",
    "KAPLAN_2020",
    "KAPLAN_2020_JOINT",
    "as_float_or_array",
]

PF_DAY = 1e15 * 24 * 3600  # FLOPs in one petaflop/s-day: 8.64e19 (Kaplan et al.'s compute unit)


def as_float_or_array(values: np.ndarray):
    """A 0-d array as a Python float, any other array unchanged (what the laws return)."""
    return float(values) if values.ndim == 0 else values


def _allocation(C: np.ndarray, n_opt: np.ndarray):
    """(N_opt, D_opt = C / (6 N_opt)): floats for a scalar budget, arrays for an array of budgets."""
    d_opt = np.asarray(tokens_for_flops(C, n_opt))
    return as_float_or_array(n_opt), as_float_or_array(d_opt)


# ----------------------------------------------------------------------------- Chinchilla


@dataclass(frozen=True)
class ChinchillaLaw:
    """``L(N, D) = E + A / N**alpha + B / D**beta`` in nats per token (Hoffmann et al. 2022, eq. 2).

    Attributes:
        E: the irreducible loss (nats per token), the entropy of the text that no model
            removes.
        A, alpha: the loss a model of N parameters adds, ``A / N**alpha`` (N counts
            parameters; Hoffmann et al. count all of them, Kaplan et al. only the
            non-embedding ones: a source of the two papers' disagreement).
        B, beta: the loss of training on only D tokens, ``B / D**beta``.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def __post_init__(self):
        check_nonnegative(self.E, "ChinchillaLaw.E")
        for name in ("A", "B", "alpha", "beta"):
            check_positive(getattr(self, name), f"ChinchillaLaw.{name}")

    def loss(self, N, D):
        """Predicted loss in nats per token for N parameters trained on D tokens (numpy broadcasting)."""
        N = check_positive_array(N, "N")
        D = check_positive_array(D, "D")
        return as_float_or_array(self.E + self.A / N**self.alpha + self.B / D**self.beta)

    @property
    def G(self) -> float:
        """``(alpha A / (beta B)) ** (1 / (alpha + beta))``, the constant in the compute-optimal N."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    @property
    def a(self) -> float:
        """The exponent of the compute-optimal N: ``N_opt ∝ C**a``, ``a = beta / (alpha + beta)``."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """The exponent of the compute-optimal D: ``D_opt ∝ C**b``, ``b = alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)

    def compute_optimal(self, C):
        """The (N_opt, D_opt) that minimise ``loss`` for a budget of C FLOPs with C = 6 N D.

        Closed form (Hoffmann et al. 2022, eq. 4): ``N_opt = G (C/6)**a`` and
        ``D_opt = G**-1 (C/6)**b`` with ``G = (alpha A / (beta B))**(1/(alpha+beta))``,
        ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``; ``D_opt = C / (6 N_opt)``.
        Returns floats for a scalar C, arrays for an array of budgets (parameters, tokens).
        """
        C = check_positive_array(C, "C (a compute budget in FLOPs)")
        return _allocation(C, self.G * (C / 6.0) ** self.a)

    def tokens_per_parameter(self, C):
        """D_opt / N_opt at a budget of C FLOPs (about 20 in Hoffmann et al.'s approach 1)."""
        n_opt, d_opt = self.compute_optimal(C)
        return d_opt / n_opt

    def optimal_loss(self, C):
        """The lowest loss (nats per token) reachable with C FLOPs: ``loss(*compute_optimal(C))``."""
        return self.loss(*self.compute_optimal(C))


HOFFMANN_2022 = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
"""Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models", approach 3
as printed in the paper's appendix D.2 (the form is their eq. 2, section 3.3), rounded to
two decimals: the parametric fit to their ~400 runs, loss in nats per token on
MassiveText with a 32k SentencePiece tokenizer, N counting all parameters.

Rounding matters here: these constants give N_opt = 32.2B parameters and 93 tokens per
parameter at Chinchilla's 5.76e23 FLOPs, while the unrounded ones of the paper's TeX
source (``HOFFMANN_2022_UNROUNDED``) give 40.4B and 59, as the paper's own figure 4
(about 40B) says. Both are far from the "about 20" of approaches 1 and 2; Besiroglu et
al. (2024) traced that to the fit itself (``BESIROGLU_2024``)."""

HOFFMANN_2022_UNROUNDED = ChinchillaLaw(E=math.exp(0.5267228), A=math.exp(6.0073404), B=math.exp(6.0179186),
                                        alpha=0.33917084, beta=0.2849083)
"""Hoffmann et al.'s approach-3 constants unrounded, as they stand in the paper's TeX source
(ln A = 6.0073404, ln B = 6.0179186, ln E = 0.5267228, alpha = 0.33917084, beta =
0.2849083; reported by Besiroglu et al. 2024 and used in their code,
github.com/epoch-research/analyzing-chinchilla): E = 1.6934, A = 406.40, B = 410.72.
The exponents move by less than 0.005, yet N_opt at 5.76e23 FLOPs moves from 32.2B to 40.4B:
N_opt depends on the exponents through powers of about (C/6)**0.45."""

BESIROGLU_2024 = ChinchillaLaw(E=1.82, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
"""Besiroglu, Erdil, Barnett, You (2024), "Chinchilla Scaling: A replication attempt"
(arXiv:2404.10102): Hoffmann et al.'s approach-3 fit (Huber loss on log-loss residuals,
L-BFGS) redone on 245 runs read off the paper's figure 4. They found that Hoffmann et
al.'s optimiser had stopped early (a poor choice of loss scale) and that the printed
constants were rounded; their refit gives about 20 tokens per parameter near 1e23-1e24
FLOPs, consistent with Hoffmann et al.'s approaches 1 and 2."""


# ----------------------------------------------------------------------------- Kaplan


@dataclass(frozen=True)
class KaplanLaw:
    """Kaplan et al. (2020) power laws; loss in nats per token on WebText2 with GPT-2's BPE.

    ``N`` is **non-embedding** parameters, ``D`` tokens. Compute arguments are in FLOPs and
    converted to Kaplan et al.'s unit, the PF-day (``PF_DAY`` = 8.64e19 FLOPs), inside.

    Attributes:
        alpha_N, N_c: ``L(N) = (N_c / N)**alpha_N`` for models trained to convergence on
            enough data (eq. 1.1), N_c in non-embedding parameters.
        alpha_D, D_c: ``L(D) = (D_c / D)**alpha_D`` for large models with early stopping
            (eq. 1.2), D_c in tokens.
        alpha_C, C_c: ``L(C_min) = (C_c / C_min)**alpha_C`` on the compute-efficient frontier
            (eq. 1.3), C_c in PF-days.
        n_opt_coefficient, n_opt_exponent: the compute-efficient model size
            ``N_opt = n_opt_coefficient * (C_min / PF-day)**n_opt_exponent`` (figure 14 and
            eq. 1.7: N ∝ C_min**0.73, about 1.3e9 parameters at 1 PF-day).
    """

    alpha_N: float
    N_c: float
    alpha_D: float
    D_c: float
    alpha_C: float
    C_c: float
    n_opt_coefficient: float = 1.3e9
    n_opt_exponent: float = 0.73

    def __post_init__(self):
        for f in fields(self):
            check_positive(getattr(self, f.name), f"KaplanLaw.{f.name}")

    def loss_N(self, N):
        """``(N_c / N)**alpha_N``: nats per token of a converged model of N non-embedding parameters."""
        return as_float_or_array((self.N_c / check_positive_array(N, "N")) ** self.alpha_N)

    def loss_D(self, D):
        """``(D_c / D)**alpha_D``: nats per token of a large model early-stopped on D tokens."""
        return as_float_or_array((self.D_c / check_positive_array(D, "D")) ** self.alpha_D)

    def loss(self, N, D):
        """``[(N_c/N)**(alpha_N/alpha_D) + D_c/D]**alpha_D`` (eq. 1.5), nats per token."""
        N = check_positive_array(N, "N")
        D = check_positive_array(D, "D")
        return as_float_or_array(((self.N_c / N) ** (self.alpha_N / self.alpha_D) + self.D_c / D) ** self.alpha_D)

    def loss_compute(self, C):
        """``(C_c / C_min)**alpha_C`` with C in FLOPs (converted to PF-days): the compute frontier."""
        C = check_positive_array(C, "C (a compute budget in FLOPs)") / PF_DAY
        return as_float_or_array((self.C_c / C) ** self.alpha_C)

    def compute_optimal(self, C):
        """Kaplan et al.'s allocation of C FLOPs: ``N_opt = 1.3e9 (C/PF-day)**0.73``, ``D = C / (6 N_opt)``.

        Returns (non-embedding parameters, tokens). Most extra compute goes into the
        model (N ∝ C**0.73, D ∝ C**0.27), unlike Chinchilla's N ∝ D ∝ C**0.5.
        """
        C = check_positive_array(C, "C (a compute budget in FLOPs)")
        return _allocation(C, self.n_opt_coefficient * (C / PF_DAY) ** self.n_opt_exponent)

    def tokens_per_parameter(self, C):
        """D_opt / N_opt under Kaplan's allocation at C FLOPs (well below 1 at GPT-3 scale)."""
        n_opt, d_opt = self.compute_optimal(C)
        return d_opt / n_opt


KAPLAN_2020 = KaplanLaw(alpha_N=0.076, N_c=8.8e13, alpha_D=0.095, D_c=5.4e13, alpha_C=0.050, C_c=3.1e8)
"""Kaplan et al. (2020), "Scaling Laws for Neural Language Models", eqs. 1.1-1.3 and
figure 14: alpha_N = 0.076, N_c = 8.8e13 non-embedding parameters; alpha_D = 0.095,
D_c = 5.4e13 tokens; alpha_C^min = 0.050, C_c^min = 3.1e8 PF-days; N_opt = 1.3e9
(C_min / PF-day)**0.73. ``loss(N, D)`` here combines the one-variable constants (it then
reduces to L(N) and L(D) in the limits); the paper's joint fit is ``KAPLAN_2020_JOINT``."""

KAPLAN_2020_JOINT = KaplanLaw(alpha_N=0.076, N_c=6.4e13, alpha_D=0.103, D_c=1.8e13, alpha_C=0.050, C_c=3.1e8)
"""Kaplan et al. (2020), table 2: the joint fit of eq. 1.5, ``L(N, D)``, with alpha_N = 0.076,
alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13 (compute constants as in ``KAPLAN_2020``)."""
