"""course_lib.ngram: counted n-gram models, smoothing, perplexity, the data-scale curve."""
import math
from collections import Counter

import numpy as np
import pytest

from course_lib import ngram, units
from course_lib.ngram import NGramModel

TOY = "the cat sat on the mat. the cat ate the rat."


# -- a slow, obvious reference written with dicts ----------------------------------------
def reference_counts(ids, n):
    grams = Counter(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))
    contexts = Counter()
    types = Counter()
    for gram, count in grams.items():
        contexts[gram[:-1]] += count
        types[gram[:-1]] += 1
    return grams, contexts, types


def reference_add_k(ids, n, k, V, context, w):
    grams, contexts, _ = reference_counts(ids, n)
    ctx = tuple(context[len(context) - (n - 1):]) if n > 1 else ()
    return (grams[ctx + (w,)] + k) / (contexts[ctx] + k * V)


def reference_witten_bell(ids, n, V, context, w):
    p = 1.0 / V
    for m in range(1, n + 1):
        grams, contexts, types = reference_counts(ids, m)
        ctx = tuple(context[len(context) - (m - 1):]) if m > 1 else ()
        if contexts[ctx] > 0:
            p = (grams[ctx + (w,)] + types[ctx] * p) / (contexts[ctx] + types[ctx])
    return p


# -- counting and probabilities -------------------------------------------------------
def test_ngram_keys_encode_windows_exactly():
    ids = np.array([3, 1, 4, 1, 5], dtype=np.int64)
    keys = ngram.ngram_keys(ids, 3, vocab_size=10)
    assert keys.tolist() == [314, 141, 415]
    assert (keys // 10).tolist() == [31, 14, 41]  # the contexts
    assert (keys % 10).tolist() == [4, 1, 5]  # the next symbols


@pytest.mark.parametrize("smoothing", ["add-k", "witten-bell"])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_probabilities_sum_to_one_for_seen_and_unseen_contexts(n, smoothing):
    model = NGramModel(n, k=0.5, smoothing=smoothing).fit(TOY)
    for context in ["the cat ", "zzzzzz", "the r"]:
        p = model.prob(context)
        assert p.shape == (256,)
        assert np.all(p > 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_add_k_matches_the_dict_reference(n):
    ids = list(TOY.encode())
    model = NGramModel(n, k=0.3).fit(TOY)
    context = list(b"the c")
    p = model.prob(bytes(context))
    for w in set(ids) | {ord("Q")}:
        assert p[w] == pytest.approx(reference_add_k(ids, n, 0.3, 256, context, w), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_witten_bell_matches_the_dict_reference(n):
    ids = list(TOY.encode())
    model = NGramModel(n, smoothing="witten-bell").fit(TOY)
    for context in (b"the c", b"at on", b"xyzzy"):
        p = model.prob(context)
        for w in set(ids) | {ord("Q")}:
            assert p[w] == pytest.approx(reference_witten_bell(ids, n, 256, list(context), w), rel=1e-12)


def test_witten_bell_scores_every_lower_order_in_one_pass():
    text = "the bat sat on a hat; the cat ate."
    model = NGramModel(4, smoothing="witten-bell").fit(TOY * 3)
    by_order = model.cross_entropy_by_order(text, skip=3)
    separate = [NGramModel(m, smoothing="witten-bell").fit(TOY * 3).cross_entropy(text, skip=3) for m in (1, 2, 3, 4)]
    assert by_order == pytest.approx(separate, rel=1e-12)
    with pytest.raises(ValueError, match="witten-bell"):
        NGramModel(2).fit(TOY).cross_entropy_by_order(text)


def test_add_k_approaches_the_maximum_likelihood_estimate_as_k_goes_to_zero():
    ids = list(TOY.encode())
    grams, contexts, _ = reference_counts(ids, 2)
    mle = np.zeros(256)
    for (c, w), count in grams.items():
        if c == ord("t"):
            mle[w] = count / contexts[(ord("t"),)]
    gaps = [np.abs(NGramModel(2, k=k).fit(TOY).prob("t") - mle).max() for k in (1.0, 1e-2, 1e-4, 1e-8)]
    assert gaps == sorted(gaps, reverse=True), "the distance to the MLE should shrink with k"
    assert gaps[-1] < 1e-6
    assert np.array_equal(NGramModel(2, k=0).fit(TOY).prob("t"), mle)


def test_mle_gives_unseen_symbols_infinite_loss_and_unseen_contexts_an_error():
    model = NGramModel(2, k=0).fit(TOY)
    assert model.cross_entropy("the cat") < math.inf
    assert model.cross_entropy("the cot") == math.inf  # "co" never occurs in training
    with pytest.raises(ValueError, match="k > 0"):
        model.cross_entropy("qq")


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    # every symbol equally frequent: the unigram MLE is uniform
    ids = np.tile(np.arange(7), 50)
    model = NGramModel(1, k=0, vocab_size=7).fit(ids)
    assert units.perplexity(model.cross_entropy(ids[::-1].copy())) == pytest.approx(7.0, rel=1e-12)
    # an enormous pseudo-count drowns the counts: uniform over 256 bytes
    huge_k = NGramModel(3, k=1e12).fit(TOY)
    assert units.perplexity(huge_k.cross_entropy("anything at all")) == pytest.approx(256.0, rel=1e-6)
    assert ngram.uniform_guess(256) == pytest.approx({"nats": math.log(256), "bits": 8.0, "perplexity": 256.0})


def test_units_agree():
    model = NGramModel(3, k=0.1).fit(TOY)
    nats = model.cross_entropy(TOY)
    assert model.bits_per_symbol(TOY) == pytest.approx(nats / math.log(2))
    assert units.perplexity(nats) == pytest.approx(math.exp(nats))
    assert not hasattr(model, "perplexity"), "perplexity is units.perplexity(loss), one meaning"
    assert nats == pytest.approx(-model.log_prob(TOY).mean())


def test_skip_scores_the_same_symbols_for_every_order():
    text = TOY * 3
    lengths = {n: len(NGramModel(n).fit(TOY).log_prob(text, skip=5)) for n in (1, 3, 6)}
    assert set(lengths.values()) == {len(text) - 5}
    assert len(NGramModel(3).fit(TOY).log_prob(text)) == len(text) - 2


def test_training_loss_falls_with_n_but_held_out_loss_does_not_on_tiny_data():
    from course_lib.text import python_docs

    ids = ngram.as_ids(python_docs().text[:60_000])
    train, val = ids[:30_000], ids[30_000:]
    train_loss = [NGramModel(n, k=0.01).fit(train).cross_entropy(train, skip=5) for n in (1, 3, 6)]
    val_loss = [NGramModel(n, k=0.01).fit(train).cross_entropy(val, skip=5) for n in (1, 3, 6)]
    assert train_loss[0] > train_loss[1] > train_loss[2], "higher orders fit their own training text better"
    assert val_loss[2] > val_loss[1], "a 6-gram on 30k bytes should overfit: worse held-out than a 3-gram"


def test_seen_context_fraction_falls_with_n():
    model = {n: NGramModel(n).fit(TOY) for n in (1, 3, 6)}
    fractions = [model[n].seen_context_fraction("the bat sat on the hat", skip=5) for n in (1, 3, 6)]
    assert fractions[0] == 1.0
    assert fractions[0] > fractions[1] > fractions[2]


def test_sample_is_deterministic_and_has_the_requested_length():
    model = NGramModel(3, k=0).fit(TOY * 5)  # k = 0: only n-grams seen in TOY, so plain ASCII
    a = model.sample(40, prompt="the", seed=1)
    assert a == model.sample(40, prompt="the", seed=1)
    assert a.startswith("the") and len(a.encode()) == 43
    assert a != model.sample(40, prompt="the", seed=2)


# -- the data-scale curve and the sliders --------------------------------------------
@pytest.fixture(scope="module")
def docs_ids():
    from course_lib.text import python_docs

    return ngram.as_ids(python_docs().text[:400_000])


@pytest.fixture(scope="module")
def curve(docs_ids):
    return ngram.data_scale_curve(docs_ids[:300_000], docs_ids[-50_000:], [3_000, 30_000, 300_000], [1, 3, 5],
                                  k=0.01)


def test_held_out_loss_decreases_with_more_real_text(curve):
    assert curve.loss.shape == (3, 3)
    for n, row in zip(curve.orders, curve.loss):
        assert np.all(np.diff(row) < 0), f"n={n}: held-out loss should fall as data grows, got {row}"
    # diminishing returns for the trigram: the second tenfold step buys less than the first...
    assert curve.loss[1, 0] - curve.loss[1, 1] > curve.loss[1, 1] - curve.loss[1, 2] > 0
    # ...and the best order grows with the data
    best = curve.orders[np.argmin(curve.loss, axis=0)]
    assert best[0] < best[-1]
    assert np.allclose(curve.bits, curve.loss / math.log(2)) and np.allclose(curve.perplexity, np.exp(curve.loss))


def test_data_scale_curve_matches_a_model_fitted_by_hand(docs_ids, curve):
    model = NGramModel(3, k=0.01).fit(docs_ids[:30_000])
    assert curve.loss[1, 1] == pytest.approx(model.cross_entropy(docs_ids[-50_000:], skip=4), rel=1e-12)
    wb = ngram.data_scale_curve(docs_ids[:30_000], docs_ids[-50_000:], [30_000], [2, 4], smoothing="witten-bell")
    by_hand = NGramModel(2, smoothing="witten-bell").fit(docs_ids[:30_000]).cross_entropy(docs_ids[-50_000:], skip=3)
    assert wb.loss[0, 0] == pytest.approx(by_hand, rel=1e-12) and wb.label == "witten-bell"


# -- data quality helpers, compute ----------------------------------------------------
def test_repeat_and_noise():
    ids = ngram.as_ids("abc")
    assert ngram.repeat_to_length(ids, 7).tolist() == list(b"abcabca")
    clean = ngram.as_ids("a" * 20_000)
    noisy = ngram.inject_noise(clean, 0.1, "xyz", seed=0)
    assert len(noisy) == len(clean)
    changed = np.mean(noisy != clean)
    assert 0.08 < changed < 0.12
    assert set(noisy[noisy != clean].tolist()) <= set(b"xyz")
    assert np.array_equal(noisy, ngram.inject_noise(clean, 0.1, "xyz", seed=0))
    assert np.array_equal(ngram.inject_noise(clean, 0.0, "xyz"), clean)


def test_count_ops():
    assert ngram.count_ops(1024, 3) == 2 * 3 * 1024 + 1024 * 10  # keys, then sorting: log2(1024) = 10
    with pytest.raises(ValueError):
        ngram.count_ops(0, 3)


# -- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_bad_order_is_rejected(n):
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        NGramModel(n)


def test_order_too_large_for_64_bit_keys():
    with pytest.raises(ValueError, match="use n <= 7"):
        NGramModel(8)
    NGramModel(12, vocab_size=16)  # 48 bits: fine


@pytest.mark.parametrize("k", [-0.1, float("nan"), float("inf"), "1"])
def test_bad_k_is_rejected(k):
    with pytest.raises(ValueError, match="k is a pseudo-count"):
        NGramModel(2, k=k)


def test_other_bad_input():
    with pytest.raises(ValueError, match="smoothing must be one of"):
        NGramModel(2, smoothing="kneser")
    with pytest.raises(ValueError, match="empty text cannot be fitted"):
        NGramModel(2).fit("")
    with pytest.raises(ValueError, match="needs at least 3"):
        NGramModel(3).fit("ab")
    with pytest.raises(ValueError, match="not been fitted"):
        NGramModel(2).cross_entropy("abc")
    model = NGramModel(3).fit(TOY)
    with pytest.raises(ValueError, match="nothing is left to score"):
        model.cross_entropy("")
    with pytest.raises(ValueError, match="context of at least 2"):
        model.prob("a")
    with pytest.raises(ValueError, match="skip must be at least"):
        model.log_prob(TOY, skip=1)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 256\)"):
        model.fit([1, 2, 300])
    with pytest.raises(ValueError, match="1-D sequence of integers"):
        model.fit([0.5, 1.5])
    with pytest.raises(ValueError, match="vocab_size >= 256"):
        NGramModel(2, vocab_size=16).fit("text")
    with pytest.raises(ValueError, match="sizes must lie between"):
        ngram.data_scale_curve(TOY, TOY, [10, 10_000], [1, 2])
    with pytest.raises(ValueError, match=r"rate \(a probability\) must be a number in \[0, 1\]"):
        ngram.inject_noise(TOY, 1.5, "x")
    with pytest.raises(ValueError, match="vocab_size must be at least 1"):
        ngram.uniform_guess(0)
    with pytest.raises(ValueError, match="length must be at least 1"):
        ngram.repeat_to_length("abc", 0)
