"""Hidden tests for the chapter 01 exercises (``solutions/01_background_exercises.ipynb``).

They decide the grade; the learner's notebook never contains them. Each test calls the
learner's function on several inputs, other than those of the notebook's check cells,
including edge cases, and compares with a reference: ``course_lib.ngram.NGramModel`` (the
chapter's n-gram model), ``course_lib.units``, torch or numpy:

| task | points | cases | reference |
|---|---:|---|---|
| ``bigram_counts`` | 2 | random ids (V = 7); the bytes of a text (V = 256); the largest id V - 1; one id and no id at all (all-zero counts); ValueError for an id >= V and for a negative id | ``torch.bincount`` of ``ids[:-1] * V + ids[1:]`` |
| ``add_k_probs`` | 2 | k = 1, 0.5, 0.1, 0.01; contexts never seen (uniform rows); k = 0 where every context is seen (the MLE); float64 counts; V = 256; ValueError for k < 0 and for k = 0 with an unseen context | ``NGramModel(2, k).fit(ids).prob(c)`` for every context c |
| ``cross_entropy`` | 2 | random and text data, Laplace and add-0.01 models; a single predicted token; a zero probability (must give inf, not nan or an error); ValueError for fewer than 2 ids | ``NGramModel(2, k).fit(train).cross_entropy(held_out)`` |
| ``loss_units`` | 1 | zero loss; ln 256 nats per byte (8 bits); BPE-like 4 and 3.7 bytes per token; ValueError for 0 and negative bytes per token | ``course_lib.units`` |
| ``witten_bell_bigram`` | 3 | random ids with a context never seen and a symbol never seen; the bytes of a text (V = 256); two ids; one repeated symbol; ValueError for fewer than 2 ids; must not call ``NGramModel`` | ``NGramModel(2, smoothing="witten-bell").fit(ids).prob(c)`` |
| ``fit_power_law`` | 2 | an exact power law; noisy data (12 sizes, as in the chapter); two points; a rising curve (negative exponent); lists as well as tensors; ValueError for a size or loss <= 0, lengths that differ, fewer than 2 points | ``numpy.polyfit`` of ln L on ln D |

Tolerances, ``|got - expected| <= atol + rtol * |expected|``:

- counts: exact (int64);
- probabilities (float64): atol 1e-12, rtol 1e-10;
- cross-entropy and units: atol 1e-12, rtol 1e-9; infinities must match exactly;
- power-law fit: rtol 1e-6 on A and on alpha (atol 1e-9 on alpha).

A task that builds on earlier ones is tested with the references substituted into the
notebook (``testkit.substitute``): ``witten_bell_bigram`` may call ``bigram_counts``, and a
wrong ``bigram_counts`` costs the ``bigram_counts`` task only.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from course_grader.hidden_tests import expect_sweep
from course_lib import units
from course_lib.ngram import NGramModel
from course_grader.testkit import (
    Forbid, TaskFailed, call, collect_tasks, expect_close, expect_raises, expect_tensor, generator, graded, kind_of,
    learner_function, rng, substitute)

EXERCISE_SET = "01_background"

PROB_TOL = dict(atol=1e-12, rtol=1e-10)
VALUE_TOL = dict(atol=1e-12, rtol=1e-9)
FIT_RTOL = 1e-6

TEXT = ("It was the best of times, it was the worst of times, it was the age of wisdom, "
        "it was the age of foolishness, it was the epoch of belief.")
HELD_OUT = "It was the season of Light, it was the season of Darkness; we had everything before us."


def _ids(text: str) -> torch.Tensor:
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def _random_ids(n: int, vocab: int, seed: int, high: int | None = None) -> torch.Tensor:
    g = generator(seed)
    return torch.randint(0, vocab if high is None else high, (n,), generator=g)


# ----------------------------------------------------------------------------- references


def ref_bigram_counts(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(V, V) int64: counts[a, b] = number of t with ids[t] = a and ids[t + 1] = b."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    pairs = ids[:-1] * vocab_size + ids[1:]  # (N - 1,)
    return torch.bincount(pairs, minlength=vocab_size * vocab_size).reshape(vocab_size, vocab_size)


def _model_probs(model: NGramModel) -> torch.Tensor:
    """(V, V) float64: row c is the model's next-symbol distribution after the one-symbol context c."""
    return torch.tensor(np.stack([model.prob(np.array([c])) for c in range(model.vocab_size)]))


def ref_add_k_probs(counts: torch.Tensor, k: float) -> torch.Tensor:
    counts = counts.double()
    return (counts + k) / (counts.sum(dim=1, keepdim=True) + k * counts.shape[1])


def _as_float(got, what: str) -> float:
    """A Python number, or a 0-d tensor, as a float; anything else fails."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        return float(got.item())
    if isinstance(got, numbers.Real) and not isinstance(got, bool):
        return float(got)
    kind = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else kind_of(got)
    extra = " (did the function forget to `return`?)" if got is None else ""
    raise TaskFailed(f"{what}: expected a number (a float), got {kind}{extra}")


def _expect_number(got: float, expected: float, what: str, atol: float, rtol: float) -> None:
    if math.isnan(got):
        raise TaskFailed(f"{what}: expected {expected:.10g}, got nan")
    if math.isinf(expected) or math.isinf(got):
        if got != expected:
            raise TaskFailed(f"{what}: expected {expected:.10g}, got {got:.10g}")
        return
    if abs(got - expected) > atol + rtol * abs(expected):
        raise TaskFailed(f"{what}: expected {expected:.10g}, got {got:.10g} (tolerance atol={atol:g}, rtol={rtol:g})")


def _expect_probs(got: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """float64 probabilities at PROB_TOL; a float32-sized error gets a hint about where precision was lost."""
    try:
        expect_close(got, expected, what, **PROB_TOL)
    except TaskFailed as e:
        if torch.allclose(got.detach().double(), expected, atol=1e-6, rtol=1e-5):
            raise TaskFailed(f"{e} -- the values agree only to about float32 precision: compute in float64 "
                             "throughout (an int tensor divided by a number, or int / int, gives float32)") from None
        raise


NGRAM_FORBID = Forbid(names=("NGramModel",), modules=("course_lib.ngram",),
                      reason="write Witten-Bell from the counts yourself, not with course_lib's NGramModel")


# ----------------------------------------------------------------------------- tests


@graded(2, "(V, V) table of adjacent-pair counts")
def test_bigram_counts(ns: dict) -> None:
    bigram_counts = learner_function(ns, "bigram_counts")
    cases = [
        ("60 random ids, V=7", _random_ids(60, 7, seed=1), 7),
        ("the bytes of a sentence, V=256", _ids(TEXT), 256),
        ("ids [2, 2, 2, 0] (the largest id, V - 1 = 2)", torch.tensor([2, 2, 2, 0]), 3),
        ("a single id (no pair at all)", torch.tensor([3]), 4),
        ("an empty sequence", torch.zeros(0, dtype=torch.long), 3),
    ]
    for label, ids, V in cases:
        what = f"bigram_counts on {label}"
        got = call(bigram_counts, ids, V)
        expect_tensor(got, what, shape=(V, V), dtype=torch.int64)
        expect_close(got, ref_bigram_counts(ids, V), what)
    expect_raises(ValueError, bigram_counts, torch.tensor([0, 1, 5, 2]), 5,
                  what="bigram_counts(ids=[0, 1, 5, 2], vocab_size=5), where id 5 is outside [0, 5)")
    expect_raises(ValueError, bigram_counts, torch.tensor([0, -1, 2]), 5,
                  what="bigram_counts(ids=[0, -1, 2], vocab_size=5), where id -1 is negative")


@graded(2, "add-k smoothed bigram probabilities from counts")
def test_add_k_probs(ns: dict) -> None:
    add_k_probs = learner_function(ns, "add_k_probs")
    every_context = torch.cat([torch.arange(6), _random_ids(40, 6, seed=12), torch.tensor([0])])  # all 6 seen
    cases = [
        ("80 random ids, V=6, k=1 (Laplace)", _random_ids(80, 6, seed=11), 6, 1.0, False),
        ("ids using 4 of V=8 symbols (unseen contexts), k=0.01", _random_ids(50, 8, seed=13, high=4), 8, 0.01, False),
        ("every context seen, k=0 (the maximum-likelihood estimate)", every_context, 6, 0.0, False),
        ("float64 counts, k=0.5", _random_ids(30, 5, seed=14), 5, 0.5, True),
        ("the bytes of a paragraph, V=256, k=0.1", _ids(TEXT), 256, 0.1, False),
    ]
    for label, ids, V, k, as_float in cases:
        counts = ref_bigram_counts(ids, V)
        if as_float:
            counts = counts.double()
        what = f"add_k_probs on the counts of {label}"
        got = call(add_k_probs, counts, k)
        expect_tensor(got, what, shape=(V, V), dtype=torch.float64)
        expected = _model_probs(NGramModel(2, k=k, vocab_size=V).fit(ids.numpy()))
        _expect_probs(got, expected, what)
    unseen = ref_bigram_counts(torch.tensor([0, 1, 0, 1]), 3)  # context 2 never seen
    expect_raises(ValueError, add_k_probs, unseen, 0.0,
                  what="add_k_probs(counts, k=0) where context 2 was never seen (0/0: no distribution)")
    expect_raises(ValueError, add_k_probs, ref_bigram_counts(_random_ids(20, 4, seed=15), 4), -0.5,
                  what="add_k_probs(counts, k=-0.5), a negative pseudo-count")


@graded(2, "mean -ln P of a held-out sequence under a bigram model, nats per token")
def test_cross_entropy(ns: dict) -> None:
    cross_entropy = learner_function(ns, "cross_entropy")
    rand_train, rand_val = _random_ids(200, 6, seed=21), _random_ids(57, 6, seed=22)
    text_train, text_val = _ids(TEXT), _ids(HELD_OUT)
    cases = [
        ("a Laplace (k=1) bigram, V=6, 57 held-out ids", rand_train, rand_val, 6, 1.0),
        ("an add-0.01 bigram of bytes, a held-out sentence", text_train, text_val, 256, 0.01),
        ("a Laplace bigram of bytes, two held-out ids (one prediction)", text_train, _ids("it"), 256, 1.0),
    ]
    for label, train, val, V, k in cases:
        model = NGramModel(2, k=k, vocab_size=V).fit(train.numpy())
        probs = _model_probs(model)
        what = f"cross_entropy with {label}"
        got = _as_float(call(cross_entropy, probs, val), what)
        _expect_number(got, model.cross_entropy(val.numpy()), what, **VALUE_TOL)
    # a zero probability: the maximum-likelihood bigram of 0 1 2 0 1 2 never saw "0 -> 2"
    mle = ref_add_k_probs(ref_bigram_counts(torch.tensor([0, 1, 2, 0, 1, 2, 0]), 3), 0.0)
    what = "cross_entropy with an MLE bigram that gives the pair (0, 2) probability 0"
    got = _as_float(call(cross_entropy, mle, torch.tensor([0, 1, 2, 0, 2])), what)
    if math.isnan(got):
        raise TaskFailed(f"{what}: expected inf (-ln 0 = inf), got nan; did 0 * inf or inf - inf happen?")
    if math.isfinite(got):
        raise TaskFailed(f"{what}: expected inf, got {got:.6g}: a probability of 0 costs -ln 0 = inf; "
                         "do not clamp or skip it")
    _expect_number(got, math.inf, what, **VALUE_TOL)
    probs = ref_add_k_probs(ref_bigram_counts(_random_ids(20, 4, seed=23), 4), 1.0)
    expect_raises(ValueError, cross_entropy, probs, torch.tensor([2]),
                  what="cross_entropy(probs, ids=[2]): one id, so nothing to predict")
    expect_raises(ValueError, cross_entropy, probs, torch.zeros(0, dtype=torch.long),
                  what="cross_entropy(probs, ids=[]): no id at all")


@graded(1, "nats -> bits per token, bits per byte, perplexity")
def test_loss_units(ns: dict) -> None:
    loss_units = learner_function(ns, "loss_units")
    names = ("bits_per_token", "bits_per_byte", "perplexity")
    for loss, bpt in [(0.0, 1.0), (math.log(256), 1.0), (2.5, 4.0), (1.234, 3.7), (4.2, 1.0)]:
        what = f"loss_units({loss:.6g}, bytes_per_token={bpt:g})"
        got = call(loss_units, loss, bpt)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            kind = f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else kind_of(got)
            raise TaskFailed(f"{what}: expected a tuple (bits_per_token, bits_per_byte, perplexity), got {kind}")
        expected = (units.nats_to_bits(loss), units.bits_per_byte(loss, bpt), units.perplexity(loss))
        for name, g, e in zip(names, got, expected):
            _expect_number(_as_float(g, f"{what}: {name}"), e, f"{what}: {name}", **VALUE_TOL)
    expect_raises(ValueError, loss_units, 2.0, 0.0, what="loss_units(2.0, bytes_per_token=0)")
    expect_raises(ValueError, loss_units, 2.0, -4.0, what="loss_units(2.0, bytes_per_token=-4)")


@graded(3, "Witten-Bell interpolation of the bigram with the unigram", forbid=NGRAM_FORBID)
def test_witten_bell_bigram(ns: dict) -> None:
    witten_bell_bigram = learner_function(ns, "witten_bell_bigram")
    unseen = torch.cat([_random_ids(40, 6, seed=31, high=4), torch.tensor([4])])  # 4 only last, 5 never
    cases = [
        ("41 ids over V=6: symbol 4 only at the end (an unseen context), 5 never", unseen, 6),
        ("the bytes of a paragraph, V=256", _ids(TEXT), 256),
        ("two ids [1, 3], V=4", torch.tensor([1, 3]), 4),
        ("one symbol repeated, [2, 2, 2, 2, 2], V=3", torch.full((5,), 2), 3),
    ]
    with substitute(ns, bigram_counts=ref_bigram_counts):
        for label, ids, V in cases:
            what = f"witten_bell_bigram on {label}"
            got = call(witten_bell_bigram, ids, V)
            expect_tensor(got, what, shape=(V, V), dtype=torch.float64)
            expected = _model_probs(NGramModel(2, vocab_size=V, smoothing="witten-bell").fit(ids.numpy()))
            _expect_probs(got, expected, what)
        expect_raises(ValueError, witten_bell_bigram, torch.tensor([1]), 3,
                      what="witten_bell_bigram(ids=[1], vocab_size=3): one id is not a single pair")


def _polyfit(sizes, losses) -> tuple[float, float]:
    slope, intercept = np.polyfit(np.log(np.asarray(sizes, dtype=float)), np.log(np.asarray(losses, dtype=float)), 1)
    return math.exp(intercept), -slope


@graded(2, "L(D) = A D^-alpha fitted in log-log space")
def test_fit_power_law(ns: dict) -> None:
    fit_power_law = learner_function(ns, "fit_power_law")
    noise = rng(41)
    d12 = np.unique(np.round(np.geomspace(10_000, 2_000_000, 12), -3))
    cases = [
        ("an exact power law 5 D^-0.1 at D = 1e4, 1e5, 1e6", torch.tensor([1e4, 1e5, 1e6], dtype=torch.float64),
         torch.tensor([5 * 1e4 ** -0.1, 5 * 1e5 ** -0.1, 5 * 1e6 ** -0.1], dtype=torch.float64)),
        ("12 noisy points, D from 1e4 to 2e6", torch.tensor(d12),
         torch.tensor(3.2 * d12 ** -0.07 * np.exp(noise.normal(0, 0.02, len(d12))))),
        ("two points (the line through them)", torch.tensor([100.0, 400.0], dtype=torch.float64),
         torch.tensor([2.0, 1.5], dtype=torch.float64)),
        ("a loss that rises with D (alpha < 0)", torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64),
         torch.tensor([1.0, 2.0, 4.1], dtype=torch.float64)),
        ("Python lists [2e3, 2e4, 2e5] and [3.1, 2.6, 2.2]", [2e3, 2e4, 2e5], [3.1, 2.6, 2.2]),
    ]
    for label, sizes, losses in cases:
        what = f"fit_power_law on {label}"
        got = call(fit_power_law, sizes, losses)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            kind = f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else kind_of(got)
            raise TaskFailed(f"{what}: expected a tuple (A, alpha), got {kind}")
        A, alpha = _as_float(got[0], f"{what}: A"), _as_float(got[1], f"{what}: alpha")
        A_ref, alpha_ref = _polyfit(sizes, losses)
        if abs(alpha + alpha_ref) <= 1e-9 + FIT_RTOL * abs(alpha_ref) and abs(alpha_ref) > 1e-6:
            raise TaskFailed(f"{what}: expected alpha = {alpha_ref:.6g}, got {alpha:.6g}: the sign is flipped; "
                             "with L = A * D**(-alpha), a falling loss has alpha > 0")
        _expect_number(alpha, alpha_ref, f"{what}: alpha", atol=1e-9, rtol=FIT_RTOL)
        _expect_number(A, A_ref, f"{what}: A", atol=0.0, rtol=FIT_RTOL)
    bad = [
        ("a size of 0", [0.0, 10.0, 100.0], [3.0, 2.0, 1.0]),
        ("a loss of -1", [1.0, 10.0, 100.0], [3.0, -1.0, 1.0]),
        ("3 sizes but 2 losses", [1.0, 10.0, 100.0], [3.0, 2.0]),
        ("a single point", [10.0], [3.0]),
    ]
    for label, sizes, losses in bad:
        expect_raises(ValueError, fit_power_law, sizes, losses, what=f"fit_power_law with {label}")



def _ref_cross_entropy(probs: torch.Tensor, ids: torch.Tensor) -> float:
    """Task 3's cross-entropy, written out: it stands in for the learner's in ``choose_k``'s test."""
    return float(-torch.log(probs.double()[ids[:-1], ids[1:]]).mean())


def _markov_ids(n: int, vocab: int, seed: int) -> torch.Tensor:
    """n ids of a random bigram process over vocab symbols (a sparse transition table), from seed."""
    g = generator(seed)
    table = torch.rand(vocab, vocab, generator=g) ** 6  # a few likely successors per symbol
    ids = [int(torch.randint(vocab, (1,), generator=g))]
    for _ in range(n - 1):
        ids.append(int(torch.multinomial(table[ids[-1]], 1, generator=g)))
    return torch.tensor(ids)


@graded(2, "an experiment: held-out cross-entropy for each k, and the k it chooses")
def test_choose_k(ns: dict) -> None:
    choose_k = learner_function(ns, "choose_k")
    cases = [
        ("a random bigram process over 12 symbols, 400 training and 200 held-out ids", 12, 400, 200,
         [1.0, 0.3, 0.1, 0.03, 0.01]),
        ("another process over 12 symbols, only 40 training ids (little data)", 12, 40, 200, [2.0, 1.0, 0.1, 0.01]),
        ("30 symbols, 2000 training ids, ks in increasing order", 30, 2000, 300, [0.001, 0.01, 0.1, 1.0]),
    ]
    with substitute(ns, bigram_counts=ref_bigram_counts, add_k_probs=ref_add_k_probs, cross_entropy=_ref_cross_entropy):
        for i, (label, V, n_train, n_val, ks) in enumerate(cases):
            ids = _markov_ids(n_train + n_val, V, seed=70 + i)
            train, val = ids[:n_train], ids[n_train:]
            what = f"choose_k on {label}"
            mine, _ = expect_sweep(call(choose_k, train, val, ks, V), ks, what, ("losses", "best_k"))
            for k, value in zip(ks, mine):
                model = NGramModel(2, k=k, vocab_size=V).fit(train.numpy())
                _expect_number(value, model.cross_entropy(val.numpy()), f"{what}: held-out loss for k={k:g}",
                               **VALUE_TOL)


TASKS = collect_tasks(globals())
