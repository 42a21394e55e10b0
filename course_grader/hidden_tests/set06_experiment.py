"""Hidden test of set 06's experiment task, ``temperature_study`` (its own module: ``set06`` is long enough).

The learner writes ``sample_continuations(table, start, temperature, n_samples, length, seed)``,
continuations of a token drawn from a bigram model (a ``(V, V)`` table of next-token logits)
at a temperature, and ``temperature_study(...)``, which samples at several temperatures,
reports the distinct-2 of each set of samples and the entropy of its first tokens, and
chooses the lowest temperature whose distinct-2 reaches a target. The grader gives the table
(drawn from the secret) and checks the report against what the learner's own samples must
satisfy:

| check | how | tolerance |
|---|---|---|
| the samples' design | (n_samples, length) integer ids in [0, V); the same seed gives the same samples, another seed other samples; the study's samples at temperature i are ``sample_continuations(..., seed + i)`` | exact |
| the samples are draws at that temperature | every transition (the start token to the first, each token to the next) against ``softmax(table / T)``: Pearson's chi-square of the transition counts (Anderson & Goodman 1957; cells of expected count below 5 pooled, states seen fewer than 10 times skipped), and no transition of probability below 1e-9 | p-value above 1e-6 (an honest sampler fails about once in a million) |
| distinct-2 is of the right size | the learner's distinct-2 at each temperature against the grader's own 300 runs of the same design | within 6 standard deviations + 0.005 |
| the report comes from the samples | distinct-2 (distinct bigrams / bigrams, pooled over the continuations) and the first tokens' plug-in entropy (nats) recomputed from the learner's returned samples | atol 1e-9 |
| the choice | the lowest temperature whose reported distinct-2 is at least the target, re-derived from the learner's own numbers (None when none is); temperatures given out of order; a target no temperature reaches | exact |
| bad input | ``ValueError`` for a temperature of 0 or below | |

The learner's ``apply_temperature`` (task 1) is replaced by ``course_lib.generation``'s while
this task is tested, so a mistake there is not counted twice.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import chi2

from course_grader.hidden_tests import number, randn
from course_grader.testkit import (
    Forbid, TaskFailed, call, expect_raises, expect_tensor, generator, graded, kind_of, learner_function, library,
    pyrandom, substitute)
from course_lib.metrics import distinct_n

__all__ = ["test_temperature_study", "transition_pvalue", "ref_distinct_2", "ref_first_entropy"]

FORBID = Forbid(modules=("course_lib.generation", "course_lib.metrics", "transformers.generation"),
                names=("*LogitsWarper", "*LogitsProcessor", "generate", "distinct_n"),
                reason="write the sampling and the measures yourself (torch.multinomial is yours to use)")
P_MIN = 1e-6


def ref_distinct_2(samples: torch.Tensor) -> float:
    """Distinct bigrams over all bigrams, pooled over the rows of (n, length) samples (Li et al. 2016)."""
    return distinct_n(samples.tolist(), 2)


def ref_first_entropy(samples: torch.Tensor) -> float:
    """Plug-in entropy (nats) of the first sampled tokens: -sum p ln p over their frequencies."""
    counts = np.bincount(samples[:, 0].numpy().astype(np.int64))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def transition_pvalue(samples: torch.Tensor, start: int, probs: torch.Tensor) -> tuple[float, str]:
    """Chi-square p-value of the transitions start -> x_1 -> ... -> x_L under ``probs`` (V, V); and a reason
    when a transition is all but impossible (p-value 0 then)."""
    V = probs.shape[0]
    n = samples.shape[0]
    prev = torch.cat([torch.full((n, 1), start, dtype=torch.int64), samples[:, :-1]], dim=1).reshape(-1)
    nxt = samples.reshape(-1)
    rare = probs[prev, nxt] < 1e-9
    if bool(rare.any()):
        i = int(rare.nonzero()[0])
        return 0.0, (f"the transition {int(prev[i])} -> {int(nxt[i])} has probability {float(probs[prev[i], nxt[i]]):.2g} "
                     "at this temperature, yet it was drawn")
    counts = torch.zeros(V, V, dtype=torch.float64).index_put_((prev, nxt), torch.ones(len(nxt), dtype=torch.float64),
                                                               accumulate=True)
    stat, df = 0.0, 0
    for a in range(V):
        n_a = float(counts[a].sum())
        if n_a < 10:
            continue
        expected = n_a * probs[a]
        order = torch.argsort(expected)
        bins, o, e = [], 0.0, 0.0  # cells pooled, from the least expected up, until each bin expects >= 5
        for j in order.tolist():
            o, e = o + float(counts[a, j]), e + float(expected[j])
            if e >= 5:
                bins.append((o, e))
                o, e = 0.0, 0.0
        if e > 0 and bins:
            bins[-1] = (bins[-1][0] + o, bins[-1][1] + e)
        if len(bins) >= 2:
            stat += sum((ob - ex) ** 2 / ex for ob, ex in bins)
            df += len(bins) - 1
    return (float(chi2.sf(stat, df)) if df else 1.0), ""


def _probs(table: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(table.double() / temperature, dim=-1)  # (V, V)


def _expect_samples(got, n: int, length: int, V: int, what: str) -> torch.Tensor:
    got = expect_tensor(got, what, shape=(n, length))
    if got.is_floating_point() or got.is_complex() or got.dtype == torch.bool:
        raise TaskFailed(f"{what}: expected integer token ids, got dtype {got.dtype}")
    got = got.long()
    if int(got.min()) < 0 or int(got.max()) >= V:
        raise TaskFailed(f"{what}: token ids must lie in [0, {V}), got {int(got.min())} to {int(got.max())}")
    return got


def _plausible(samples, table, start, temperature, what: str) -> None:
    p, why = transition_pvalue(samples, start, _probs(table, temperature))
    if p < P_MIN:
        raise TaskFailed(f"{what}: these are not draws from softmax(table / {temperature:g}): "
                         + (why or f"the transition counts have a chi-square p-value of {p:.2g} (below {P_MIN:g}); "
                                  "does every step draw from the row of the previous token, at this temperature?"))


def _reference_spread(table, start, temperature, n: int, length: int, seed: int, runs: int = 300):
    """Mean and standard deviation of distinct-2 over ``runs`` of the design, sampled here."""
    probs = _probs(table, temperature)
    g = generator(seed)
    current = torch.full((runs * n,), start, dtype=torch.int64)
    steps = []
    for _ in range(length):
        current = torch.multinomial(probs[current], 1, generator=g)[:, 0]
        steps.append(current)
    ids = torch.stack(steps, dim=1).reshape(runs, n * length).reshape(runs, n, length)  # (runs, n, length)
    V = table.shape[0]
    codes = (ids[:, :, :-1] * V + ids[:, :, 1:]).reshape(runs, -1).sort(dim=1).values
    distinct = 1 + (codes[:, 1:] != codes[:, :-1]).sum(dim=1)
    values = distinct.double() / codes.shape[1]
    return float(values.mean()), float(values.std())


@graded(2, "an experiment: continuations sampled at several temperatures, their distinct-2 and entropy, "
           "and the temperature chosen for a diversity target", functions=("temperature_study", "sample_continuations"),
        forbid=FORBID)
def test_temperature_study(ns) -> None:
    sample = learner_function(ns, "sample_continuations")
    study = learner_function(ns, "temperature_study")
    V = 24
    table = randn(V, V, seed=100, scale=2.5)  # a bigram model's next-token logits
    draw = pyrandom(101)
    start = draw.randrange(V)
    seed = draw.randrange(10_000)
    with substitute(ns, apply_temperature=library("course_lib.generation:apply_temperature")):
        for temperature in (0.5, 1.0, 2.0):
            what = f"sample_continuations(table (24, 24), start={start}, temperature={temperature}, 400, 5, seed={seed})"
            got = _expect_samples(call(sample, table, start, temperature, 400, 5, seed), 400, 5, V, what)
            _plausible(got, table, start, temperature, what)
            if temperature == 1.0:
                again = _expect_samples(call(sample, table, start, temperature, 400, 5, seed), 400, 5, V, what)
                if not torch.equal(again, got):
                    raise TaskFailed(f"{what}: called twice with the same seed it gave other samples; draw from "
                                     "torch.Generator().manual_seed(seed)")
                other = _expect_samples(call(sample, table, start, temperature, 400, 5, seed + 1), 400, 5, V, what)
                if torch.equal(other, got):
                    raise TaskFailed(f"{what}: seed {seed + 1} gave the same samples as seed {seed}; use the seed")
        for bad in (0.0, -1.0):
            expect_raises(ValueError, sample, table, start, bad, 10, 3, seed,
                          what=f"sample_continuations(..., temperature={bad})")

        n, length = 120, 6
        temperatures = [0.4, 0.7, 1.0, 1.5]
        spread = {t: _reference_spread(table, start, t, n, length, 102 + i) for i, t in enumerate(temperatures)}
        target = round((spread[0.7][0] + spread[1.0][0]) / 2, 3)
        for temps, goal in ((temperatures, target), ([1.5, 0.4, 1.0, 0.7], target), (temperatures, 0.999)):
            what = f"temperature_study(table, start={start}, temperatures={temps}, {n}, {length}, target={goal}, seed={seed})"
            got = call(study, table, start, temps, n, length, goal, seed)
            _check_study(sample, got, table, start, temps, n, length, goal, seed, spread, what)


def _check_study(sample, got, table, start, temps, n, length, target, seed, spread, what: str) -> None:
    V = table.shape[0]
    if not isinstance(got, dict) or not {"samples", "distinct_2", "entropy", "chosen"} <= set(got):
        keys = sorted(got) if isinstance(got, dict) else kind_of(got)
        raise TaskFailed(f"{what}: expected a dict with 'samples', 'distinct_2', 'entropy' and 'chosen', got {keys}")
    lists = {}
    for key in ("samples", "distinct_2", "entropy"):
        value = got[key]
        if not isinstance(value, (list, tuple)) or len(value) != len(temps):
            raise TaskFailed(f"{what}: '{key}' should be a list with one entry per temperature ({len(temps)}), got "
                             f"{kind_of(value)}")
        lists[key] = list(value)
    for i, t in enumerate(temps):
        at = f"{what}: at temperature {t}"
        samples = _expect_samples(lists["samples"][i], n, length, V, f"{at}: samples")
        mine = _expect_samples(call(sample, table, start, t, n, length, seed + i), n, length, V,
                               f"sample_continuations(table, {start}, {t}, {n}, {length}, seed={seed + i})")
        if not torch.equal(samples, mine):
            raise TaskFailed(f"{at}: the samples should be sample_continuations(table, start, {t}, n_samples, length, "
                             f"seed + {i}) (seed + i for the i-th temperature)")
        _plausible(samples, table, start, t, f"{at}: samples")
        d2 = number(lists["distinct_2"][i], f"{at}: distinct_2", finite=True)
        expected = ref_distinct_2(samples)
        if abs(d2 - expected) > 1e-9:
            raise TaskFailed(f"{at}: distinct_2 should be {expected:.6f}, the distinct bigrams of your "
                             f"samples over their {n * (length - 1)} bigrams, got {d2:.6f}")
        h = number(lists["entropy"][i], f"{at}: entropy", finite=True)
        if abs(h - ref_first_entropy(samples)) > 1e-9:
            raise TaskFailed(f"{at}: entropy should be {ref_first_entropy(samples):.6f} nats, the plug-in entropy of "
                             f"your samples' first tokens, got {h:.6f}")
        mean, sd = spread[t]
        if abs(d2 - mean) > 6 * sd + 0.005:
            raise TaskFailed(f"{at}: distinct_2 = {d2:.4f}, but runs of this design give {mean:.4f} with a standard "
                             f"deviation of {sd:.4f}")
    reported = [float(v) for v in lists["distinct_2"]]
    reached = [t for t, d in zip(temps, reported) if d >= target]
    expected = min(reached) if reached else None
    chosen = got["chosen"]
    if expected is None:
        if chosen is not None:
            raise TaskFailed(f"{what}: no distinct_2 of yours reaches {target}, so 'chosen' should be None, got {chosen!r}")
        return
    if chosen is None or isinstance(chosen, bool) or not math.isclose(number(chosen, f"{what}: chosen"), expected):
        raise TaskFailed(f"{what}: 'chosen' should be {expected}, the lowest temperature whose distinct_2 (yours: "
                         f"{[round(d, 4) for d in reported]}) is at least {target}, got {chosen!r}")
