"""Repeated data: what a training token is worth the second, fourth or sixteenth time.

Muennighoff et al. (2023) trained models on U unique tokens for D tokens in all (R = D/U - 1
repetitions after the first pass) and fitted how much fresh data that is worth:

    D' = U + U R* (1 - exp(-R / R*)),   R* = 15.4   (their equation 5 and Table 1; D' = D when D <= U)

so a few passes are worth nearly as much as fresh text and no amount of repetition is worth
more than U (1 + R*). The experiment needs a data-constrained run whose only difference from a
fresh one is the repetition:

* ``distinct_chunks(n, unique, chunk, seed)``: which U characters a run may read: whole chunks
  drawn at random from all over the training text (the same mix of topics for every U, never
  the first U characters, which would be fewer topics), nested (a smaller U is a subset of a
  larger one with the same seed), in text order;
* ``pass_batches(data, starts, chunk, batch_size, context_length)``: a ``train_loop`` batch
  function that reads those chunks' windows in exact passes (each window once per pass, in a
  new random order every pass), so that D = R U tokens are R passes exactly;
* ``effective_data(U, D)``: the formula above;
* ``fresh_equivalent(D_fresh, L_fresh, L)``: the fresh tokens that give loss L, read off runs
  on fresh text (interpolating L linearly in ln D), the measured counterpart of D';
* ``law_equivalent(law, N, L)``: the same read off a law L(N, D) fitted to fresh runs;
* ``fit_r_star(U, D, D_eq)``: the R* that best fits measured equivalents;
* ``worth_of_repeats(runs, seeds)``: both steps on the runs of a ``repeat`` grid.

Units: tokens (here characters), losses in nats per token.

Reference: Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf, Raffel (2023),
"Scaling Data-Constrained Language Models", NeurIPS 2023, arXiv:2305.16264, section 3.1.
"""
from __future__ import annotations

import numpy as np

from ..validation import check_int, check_positive, check_positive_array

__all__ = ["R_STAR", "effective_data", "distinct_chunks", "pass_batches", "fresh_equivalent", "law_equivalent",
           "fit_r_star", "worth_of_repeats"]

R_STAR = 15.4  # Muennighoff et al. (2023), R*_D: the decay constant of repeated data, in repetitions (15.39 fitted)


def effective_data(unique_tokens, total_tokens, r_star: float = R_STAR):
    """Muennighoff et al.'s effective data D' of U unique tokens read D tokens in all.

    ``D' = U + U R* (1 - exp(-R / R*))`` with R = D / U - 1 repetitions; D' = D when D <= U.
    Numbers or arrays (broadcast); a float for numbers. Tokens in, tokens out.
    """
    U = check_positive_array(unique_tokens, "unique_tokens")
    D = check_positive_array(total_tokens, "total_tokens")
    check_positive(r_star, "r_star")
    R = D / U - 1.0
    out = np.where(R <= 0, D, U + U * r_star * -np.expm1(-np.maximum(R, 0.0) / r_star))
    return float(out) if out.ndim == 0 else out


def distinct_chunks(n_tokens: int, unique: int, chunk: int, seed: int = 0) -> np.ndarray:
    """Start offsets of the ``unique // chunk`` chunks a data-constrained run reads, in text order.

    The training text (``n_tokens`` long) is cut into whole chunks of ``chunk`` tokens; a random
    permutation of them (``seed``) is fixed, and a run with ``unique`` distinct tokens takes its
    first ``unique // chunk`` chunks. The chunks are spread over the whole text, and with one
    seed a smaller ``unique`` gets a subset of a larger one's chunks. (n_chunks,) int64.
    """
    n_tokens = check_int(n_tokens, "n_tokens", minimum=1)
    chunk = check_int(chunk, "chunk", minimum=1)
    unique = check_int(unique, "unique", minimum=chunk)
    available = (n_tokens - 1) // chunk  # the last target of a chunk is the next token, so keep one spare
    if unique // chunk > available:
        raise ValueError(f"unique={unique:,} tokens is more than the {available * chunk:,} the text holds in whole "
                         f"chunks of {chunk}; use fewer unique tokens or a longer text.")
    order = np.random.default_rng(seed).permutation(available)[: unique // chunk]
    return np.sort(order).astype(np.int64) * chunk


def pass_batches(data, starts, chunk: int, batch_size: int, context_length: int):
    """A ``train_loop`` batch function ``next_batch(step, generator) -> (x, y)`` over whole passes.

    The windows are the ``chunk // context_length`` non-overlapping windows of every chunk
    (``data[s + j T : s + (j + 1) T]``, target shifted by one token, which may be the first token
    after the chunk). Each pass visits every window once, in a new order drawn from the
    generator; batches run across pass boundaries. x, y: (B, T) int64.
    """
    import torch

    context_length = check_int(context_length, "context_length", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    chunk = check_int(chunk, "chunk", minimum=context_length)
    if chunk % context_length:
        raise ValueError(f"chunk={chunk} must be a multiple of context_length={context_length}.")
    starts = np.asarray(starts, dtype=np.int64)
    if starts.ndim != 1 or not len(starts):
        raise ValueError("starts must be a non-empty 1-D array of chunk offsets (see distinct_chunks).")
    if int(starts.max()) + chunk >= len(data):
        raise ValueError("a chunk runs past the end of data; take starts from distinct_chunks(len(data) ...).")
    windows = torch.from_numpy((starts[:, None] + context_length * np.arange(chunk // context_length)).ravel())
    offsets = torch.arange(context_length + 1)
    order, pos = torch.empty(0, dtype=torch.int64), 0

    def next_batch(step, generator):
        nonlocal order, pos
        picked = []
        while sum(len(p) for p in picked) < batch_size:
            if pos == len(order):  # a new pass, in a new order
                order, pos = windows[torch.randperm(len(windows), generator=generator)], 0
            take = order[pos: pos + batch_size - sum(len(p) for p in picked)]
            picked.append(take)
            pos += len(take)
        rows = data[torch.cat(picked)[:, None] + offsets]  # (B, T + 1)
        return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()

    return next_batch


def fresh_equivalent(fresh_tokens, fresh_losses, losses):
    """The fresh tokens that reach each loss, read off runs on fresh text; NaN outside their range.

    ``fresh_tokens`` (k,) and ``fresh_losses`` (k,) are runs of one model on k amounts of fresh
    text (the loss must fall as the tokens grow); each loss in ``losses`` is placed between the
    two fresh runs around it, linearly in ln D. A loss above every fresh run's (worse than the
    least fresh data) or below every one gives NaN: the fresh runs do not bracket it.
    """
    D = check_positive_array(fresh_tokens, "fresh_tokens").ravel()
    L = check_positive_array(fresh_losses, "fresh_losses").ravel()
    if len(D) != len(L) or len(D) < 2:
        raise ValueError("give at least two fresh runs, as many tokens as losses.")
    order = np.argsort(D)
    D, L = D[order], L[order]
    if np.any(np.diff(L) >= 0):
        raise ValueError("the fresh runs' loss must fall as their tokens grow; with noise this large, average seeds.")
    x = np.asarray(losses, dtype=float)
    # np.interp needs increasing x: losses fall as D grows, so interpolate on reversed arrays
    lnD = np.interp(x, L[::-1], np.log(D)[::-1], left=np.nan, right=np.nan)
    out = np.exp(lnD)
    return float(out) if out.ndim == 0 else out


def fit_r_star(unique_tokens, total_tokens, equivalent_tokens) -> float:
    """The R* of ``effective_data`` that best fits measured fresh equivalents (least squares in ln D').

    Each (U, D, D_eq) is a run of D tokens on U unique ones and the fresh tokens that reach its
    loss; runs with D <= U carry no information and are skipped. Searched over 0.01 to 1000.
    """
    from scipy.optimize import minimize_scalar

    U = check_positive_array(unique_tokens, "unique_tokens").ravel()
    D = check_positive_array(total_tokens, "total_tokens").ravel()
    Q = check_positive_array(equivalent_tokens, "equivalent_tokens").ravel()
    keep = D > U
    if not keep.any():
        raise ValueError("no run repeats its data (every D <= U); R* is undetermined.")
    U, D, Q = U[keep], D[keep], Q[keep]

    def cost(log_r):
        return float(np.sum((np.log(effective_data(U, D, float(np.exp(log_r)))) - np.log(Q)) ** 2))

    return float(np.exp(minimize_scalar(cost, bounds=(np.log(0.01), np.log(1000.0)), method="bounded",
                                        options={"xatol": 1e-8}).x))


def law_equivalent(law, N: float, losses):
    """The fresh tokens at which ``law`` (a ``ChinchillaLaw``) reaches each loss for a model of N parameters.

    ``D = (B / (L - E - A / N**alpha)) ** (1 / beta)``; NaN where the loss is at or below what
    infinite data would give (E + A / N**alpha). Tokens; a float for a number.
    """
    L = check_positive_array(losses, "losses")
    excess = L - law.E - law.A / check_positive(N, "N") ** law.alpha
    out = np.where(excess > 0, (law.B / np.where(excess > 0, excess, 1.0)) ** (1.0 / law.beta), np.nan)
    return float(out) if out.ndim == 0 else out


def worth_of_repeats(runs: list[dict], seeds=None, *, law=None) -> dict:
    """What each repeated run of a ``repeat`` grid was worth, in fresh tokens.

    ``runs``: dicts with ``D``, ``repeats``, ``unique_tokens``, ``seed`` and ``val_loss``: fresh
    runs (``repeats`` 1) at several D, and runs of the largest D with repeats R > 1. The losses
    of each (D, R) are averaged over ``seeds`` (default: every seed in ``runs``; a seed listed
    twice counts twice, as in a bootstrap over seeds), the fresh runs form the fresh curve, and
    each run of the largest D is placed on it (``fresh_equivalent``). With ``law`` (a
    ``ChinchillaLaw`` fitted to fresh runs of the same family) the runs are placed on the law
    instead (``law_equivalent`` at the runs' N), scaled so that the fresh run of the largest D
    is worth exactly D: a smooth fresh curve, where the fresh runs' own curve has only a few points.

    Returns:
        ``{"D": the largest D, "repeats": (k,) R, "unique": (k,) U, "loss": (k,) mean losses,
        "equivalent": (k,) fresh tokens reaching them (NaN if outside the fresh curve),
        "worth": equivalent / D, "formula": effective_data(U, D) / D, "fresh_D", "fresh_loss"}``.
    """
    seeds = sorted({r["seed"] for r in runs}) if seeds is None else list(seeds)
    table: dict[tuple, list[float]] = {}
    for s in seeds:
        mine = [r for r in runs if r["seed"] == s]
        if not mine:
            raise ValueError(f"no run has seed {s}.")
        for r in mine:
            table.setdefault((r["D"], r["repeats"], r["unique_tokens"]), []).append(r["val_loss"])
    if any(len(v) != len(seeds) for v in table.values()):
        raise ValueError("every seed must have the same runs; finish the grid first (rerun its command).")
    mean = {k: float(np.mean(v)) for k, v in table.items()}
    D = max(k[0] for k in mean)
    fresh = sorted((k[0], v) for k, v in mean.items() if k[1] == 1)
    repeated = sorted((k[1], k[2], v) for k, v in mean.items() if k[0] == D)
    if len(fresh) < 2 or len(repeated) < 2:
        raise ValueError("need fresh runs at two or more D and runs of the largest D with repeats; see "
                         "GRID_PRESETS['repeat'].")
    R = np.array([x[0] for x in repeated], dtype=float)
    U = np.array([x[1] for x in repeated], dtype=float)
    loss = np.array([x[2] for x in repeated])
    if law is None:
        equivalent = np.asarray(fresh_equivalent([f[0] for f in fresh], [f[1] for f in fresh], loss), dtype=float)
    else:
        N = {r["N"] for r in runs}
        if len(N) != 1:
            raise ValueError(f"the runs have several model sizes {sorted(N)}; give the runs of one model.")
        on_law = np.asarray(law_equivalent(law, N.pop(), loss), dtype=float)
        equivalent = D * on_law / on_law[R == 1][0] if np.any(R == 1) else on_law
    return {"D": float(D), "repeats": R, "unique": U, "loss": loss, "equivalent": equivalent,
            "worth": equivalent / D, "formula": np.asarray(effective_data(U, np.full_like(U, D))) / D,
            "fresh_D": np.array([f[0] for f in fresh], dtype=float), "fresh_loss": np.array([f[1] for f in fresh])}
