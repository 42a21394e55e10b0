"""Hidden tests for the chapter 07 exercises (``solutions/07_evaluation_exercises.ipynb``).

They decide the grade; the learner's notebook never contains them. Each test calls the
learner's function on several inputs, other than those of the notebook's check cells,
including edge cases, and compares with a reference:

| task | points | cases | reference |
|---|---:|---|---|
| ``perplexity_from_logprobs`` | 1 | (N,) and (B, T); float32 and float64; all zeros (perplexity 1); a uniform model over 50 tokens (50); one token; ValueError for an empty tensor and for a positive log-probability | ``exp(-mean)`` in float64 |
| ``sliding_window_loss`` | 3 | disjoint windows (stride = context_length); stride 4 of 8; stride 1; a text shorter than one window; N = 2; N not a multiple of the stride; ValueError for stride > context_length | ``course_lib.metrics.sliding_window_perplexity`` (its ``loss`` and ``n_tokens``), itself tested against transformers' loss |
| ``modified_precision`` | 2 | Papineni's "the the the ..." example; n = 1..4; a hypothesis shorter than n (0, 0); an empty hypothesis; two references whose clips come from different references; word order | clipped n-gram counts written out in this module |
| ``corpus_bleu`` | 3 | one and several references (the closest length, which may be the longer one; the shorter on a tie); a perfect match (100); no match (0); brevity penalty; no matching 4-gram (exp smoothing); a corpus without 4-grams (0); an empty hypothesis; numbers and punctuation (13a tokenizer); must not call sacrebleu's BLEU or ``course_lib.metrics.bleu`` | ``sacrebleu.corpus_bleu(hypotheses, reference_streams).score`` |
| ``lcs_length`` | 2 | strings and word lists; empty; identical; nothing in common; repeated symbols; two random sequences of 200 (a recursion without memory would never finish); must not call ``course_lib.metrics.lcs_length`` | ``course_lib.metrics.lcs_length`` |
| ``rouge_l`` | 1 | punctuation and case; identical texts; nothing in common; an empty hypothesis or reference; hypothesis longer than the reference; must not call rouge-score or ``course_lib.metrics.rouge`` | ``rouge_score.rouge_scorer.RougeScorer(["rougeL"]).score(reference, hypothesis)`` |
| ``cohens_kappa`` | 2 | the 50-item yes/no example of the Wikipedia article (kappa = 0.4); string and integer labels; three categories; a label only one rater uses; perfect agreement (1); systematic disagreement (-1); both raters constant and equal (nan); ValueError for different lengths and for no items | ``(p_o - p_e) / (1 - p_e)`` written out here |
| ``inference_memory_bytes`` | 1 | GPT-2 small (124M, 12 layers, width 768, 1024 tokens) in float32, bfloat16 and int8; float64; batch 8; context 0 (weights only); ValueError for a negative count | ``n_params * b + 2 * n_layer * batch * context * d_model * b``, b = bytes per element |

Tolerances: perplexity ``rtol=1e-5``; sliding-window loss ``rtol=1e-5, atol=1e-6``
nats, token counts exact; n-gram counts and LCS lengths exact; BLEU ``atol=1e-6`` (on
the 0-100 scale); ROUGE-L and kappa ``atol=1e-9``; bytes exact.

Dependent tasks are tested with references substituted into the notebook
(``testkit.substitute``): ``corpus_bleu`` with the reference ``modified_precision``,
``rouge_l`` with the reference ``lcs_length``, so one mistake costs one task.

The sliding-window tests use ``PrefixLM``, a fixed-weight model (no training) whose
logits depend on the mean embedding of all the tokens in its input: a token's loss
changes with the window it is scored in, so the window bookkeeping must be exact.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

import sacrebleu
import torch
from rouge_score import rouge_scorer

from course_lib import metrics
from course_grader.testkit import (
    Forbid, TaskFailed, call, collect_tasks, derive_seed, expect_raises, generator, graded, kind_of, learner_function,
    library, pyrandom, substitute)
from course_grader.worker.fixtures import PrefixLM as _PrefixLM

EXERCISE_SET = "07_evaluation"



def _number(got, what: str) -> float:
    """A real number from what the learner returned (a float, an int or a one-element tensor)."""
    if isinstance(got, bool) or got is None:
        extra = " (did the function forget to `return`?)" if got is None else ""
        raise TaskFailed(f"{what}: expected a number, got {kind_of(got)}{extra}")
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise TaskFailed(f"{what}: expected one number, got a tensor of shape {tuple(got.shape)}")
        got = got.item()
    try:
        return float(got)
    except (TypeError, ValueError):
        raise TaskFailed(f"{what}: expected a number, got {kind_of(got)}") from None


def _expect_number(got, expected: float, what: str, atol: float = 0.0, rtol: float = 0.0) -> None:
    value = _number(got, what)
    if math.isnan(expected):
        if not math.isnan(value):
            raise TaskFailed(f"{what}: expected nan (the quantity is 0/0 here), got {value:.6g}")
        return
    if math.isnan(value) or abs(value - expected) > atol + rtol * abs(expected):
        raise TaskFailed(f"{what}: expected {expected:.8g}, got {value:.8g} (tolerance atol={atol:g}, rtol={rtol:g})")


def _expect_int(got, expected: int, what: str) -> None:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)) or got != int(got):
        raise TaskFailed(f"{what}: expected a whole number, got {got!r}")
    if int(got) != expected:
        raise TaskFailed(f"{what}: expected {expected}, got {int(got)}")


def PrefixLM(vocab: int = 11, d: int = 6, seed: int = 0) -> _PrefixLM:
    """A fixed-weight causal LM (``course_grader.worker.fixtures.PrefixLM``), (B, T) int64 -> (B, T, V):
    bigram + mean embedding (scaled by 2) of the prefix, weights drawn from ``seed``."""
    return _PrefixLM.random(vocab, d, derive_seed(seed), scale=1.0, embed_scale=2.0).eval()


# ----------------------------------------------------------------------------- references


def ref_modified_precision(hypothesis, references, n):
    """(clipped matching n-grams, hypothesis n-grams); no library."""
    def grams(tokens):
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))

    hyp = grams(list(hypothesis))
    most = Counter()
    for ref in references:
        for g, c in grams(list(ref)).items():
            most[g] = max(most[g], c)
    return sum(min(c, most[g]) for g, c in hyp.items()), max(len(hypothesis) - n + 1, 0)


def ref_corpus_bleu(hypotheses, references) -> float:
    width = max(len(r) for r in references)
    streams = [[r[j] if j < len(r) else None for r in references] for j in range(width)]  # sacrebleu's layout
    return sacrebleu.corpus_bleu(list(hypotheses), streams).score


def ref_kappa(a, b) -> float:
    n = len(a)
    p_o = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb[k] for k in ca) / n**2
    return float("nan") if p_e == 1 else (p_o - p_e) / (1 - p_e)


def ref_memory(n_params, dtype, n_layer, d_model, context_length, batch_size=1) -> int:
    b = torch.empty((), dtype=dtype).element_size()
    return n_params * b + 2 * n_layer * batch_size * context_length * d_model * b


# ----------------------------------------------------------------------------- tests


@graded(1, "exp(-mean log-probability)")
def test_perplexity_from_logprobs(ns: dict) -> None:
    fn = learner_function(ns, "perplexity_from_logprobs")
    g = generator(1)
    cases = [
        ("(20,) log-probabilities", -torch.rand(20, generator=g) * 6),
        ("(3, 7) log-probabilities (the mean is over all 21)", -torch.rand(3, 7, generator=g) * 3),
        ("(1000,) float64 log-probabilities", -torch.rand(1000, generator=g, dtype=torch.float64) * 10),
        ("all zeros (the model was sure and right)", torch.zeros(8)),
        ("a uniform model over 50 tokens, log(1/50) each", torch.full((12,), -math.log(50))),
        ("a single token", torch.tensor([-2.5])),
    ]
    for label, lp in cases:
        expected = math.exp(-lp.double().mean().item())
        _expect_number(call(fn, lp), expected, f"perplexity_from_logprobs on {label}", rtol=1e-5)
    expect_raises(ValueError, fn, torch.zeros(0), what="perplexity_from_logprobs(an empty tensor)")
    expect_raises(ValueError, fn, torch.tensor([-1.0, 0.5, -2.0]),
                  what="perplexity_from_logprobs([-1.0, 0.5, -2.0]): 0.5 is not a log-probability")


@graded(3, "mean NLL of a long text, scored with a sliding window", forbid=Forbid(
    names=("sliding_window_perplexity",), modules=("course_lib.metrics.sliding_window_perplexity",),
    reason="the sliding window must be written here"))
def test_sliding_window_loss(ns: dict) -> None:
    fn = learner_function(ns, "sliding_window_loss")
    model = PrefixLM(vocab=11, d=6, seed=3)
    remote = ns.make("PrefixLM", model.spec())
    g = generator(7)
    text = torch.randint(0, 11, (40,), generator=g)
    cases = [
        ("N=40, context_length=8, stride=8 (disjoint windows)", text, 8, 8),
        ("N=40, context_length=8, stride=4", text, 8, 4),
        ("N=23, context_length=6, stride=5", text[:23], 6, 5),
        ("N=17, context_length=5, stride=1", text[:17], 5, 1),
        ("N=5, context_length=8, stride=3 (shorter than one window)", text[:5], 8, 3),
        ("N=2, context_length=2, stride=1", text[:2], 2, 1),
        ("N=21, context_length=7, stride=7", text[10:31], 7, 7),
    ]
    for label, ids, L, s in cases:
        what = f"sliding_window_loss on {label}"
        got = call(fn, remote, ids, L, s)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            kind = f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else kind_of(got)
            raise TaskFailed(f"{what}: expected a tuple (loss, n_tokens), got {kind}")
        expected = metrics.sliding_window_perplexity(model, ids, context_length=L, stride=s)
        _expect_int(got[1], expected.n_tokens, f"{what}: number of tokens scored")
        _expect_number(got[0], expected.loss, f"{what}: loss (nats per token)", atol=1e-6, rtol=1e-5)
    expect_raises(ValueError, fn, remote, text, 4, 6, what="sliding_window_loss(model, ids, context_length=4, stride=6)")


_PAPINENI_REFS = ["the cat is on the mat".split(), "there is a cat on the mat".split()]


@graded(2, "clipped n-gram matches", forbid=Forbid(
    names=("_ngrams",), modules=("course_lib.metrics._ngrams", "course_lib.metrics.bleu"), reason="count the n-grams here"))
def test_modified_precision(ns: dict) -> None:
    fn = learner_function(ns, "modified_precision")
    refs2 = [["a", "b", "a", "c", "x", "x"], ["a", "a", "a", "b", "c"]]
    cases = [
        ("'the the the the the the the' against Papineni's two references, n=1", ["the"] * 7, _PAPINENI_REFS, 1),
        ("'the the the the the the the', n=2", ["the"] * 7, _PAPINENI_REFS, 2),
        ("'the cat the cat on the mat', n=2", "the cat the cat on the mat".split(), _PAPINENI_REFS, 2),
        ("'there is a cat on the mat', n=4 (equal to a reference)", "there is a cat on the mat".split(),
         _PAPINENI_REFS, 4),
        ("'mat the on cat the' (the words, out of order), n=2", "mat the on cat the".split(), _PAPINENI_REFS, 2),
        ("'a a a x x x b', clips from two different references, n=1", ["a", "a", "a", "x", "x", "x", "b"], refs2, 1),
        ("a 2-token hypothesis, n=3", ["the", "cat"], _PAPINENI_REFS, 3),
        ("an empty hypothesis, n=1", [], _PAPINENI_REFS, 1),
    ]
    for label, hyp, refs, n in cases:
        what = f"modified_precision of {label}"
        got = call(fn, hyp, refs, n)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise TaskFailed(f"{what}: expected a tuple (matches, total), got {kind_of(got)}")
        m, t = ref_modified_precision(hyp, refs, n)
        _expect_int(got[1], t, f"{what}: total hypothesis n-grams")
        _expect_int(got[0], m, f"{what}: clipped matches")


@graded(3, "corpus BLEU equal to sacrebleu", forbid=Forbid(
    names=("corpus_bleu", "sentence_bleu", "BLEU", "corpus_score", "sentence_score", "compute_bleu", "_ngrams"),
    modules=("sacrebleu", "course_lib.metrics.bleu", "course_lib.metrics._ngrams"),
    reason="corpus BLEU must be computed here, from modified_precision and tokenize_13a"))
def test_corpus_bleu(ns: dict) -> None:
    fn = learner_function(ns, "corpus_bleu")
    docs_h = ["The list is sorted in place and the method returns None.",
              "Use a dictionary to map keys to values quickly.",
              "The function returns 3.14, rounded to two places."]
    docs_r = [["The list is sorted in place; the method returns None."],
              ["A dictionary maps keys to values."],
              ["The function returns 3.14 after rounding to two decimal places."]]
    cases = [
        ("three sentences with one reference each", docs_h, docs_r),
        ("two references per sentence, the same three sentences", docs_h,
         [docs_r[0] + ["Sorting happens in place, and None is returned."],
          docs_r[1] + ["Dictionaries map keys to values quickly."],
          docs_r[2] + ["It returns 3.14, rounded to two places."]]),
        ("a perfect match", ["the cat sat on the mat today", "well-known results, again"],
         [["the cat sat on the mat today"], ["well-known results, again"]]),
        ("nothing in common", ["alpha beta gamma delta epsilon"], [["one two three four five"]]),
        ("a short hypothesis (brevity penalty)", ["the cat sat on the"], [["the cat sat on the mat in the sun"]]),
        ("references of 5 and 7 tokens for a 6-token hypothesis (the shorter is closer on a tie)",
         ["the cat sat on a mat"], [["the cat sat on the", "the cat sat on the red mat"]]),
        ("references of 2 and 7 tokens for a 6-token hypothesis (the longer is closer)",
         ["the cat sat on a mat"], [["a cat", "the cat sat on the red mat"]]),
        ("no 4-gram in common (smoothing)", ["the cat sat down on a mat", "a dog ran off"],
         [["the cat sat upon a mat"], ["a dog ran far"]]),
        ("no 3-gram and no 4-gram in common (smoothing twice)", ["the cat ran a mat on"], [["the cat sat on a mat"]]),
        ("only hypotheses shorter than 4 tokens", ["the cat", "a dog ran"], [["the cat"], ["a dog ran"]]),
        ("an empty hypothesis among others", ["", "the cat sat on the mat", "x"],
         [["nothing here"], ["the cat sat on the mat"], ["x y z"]]),
    ]
    with substitute(ns, modified_precision=ref_modified_precision):
        for label, hyps, refs in cases:
            got = call(fn, hyps, refs)
            _expect_number(got, ref_corpus_bleu(hyps, refs), f"corpus_bleu on {label} (0-100 scale)", atol=1e-6)


@graded(2, "longest common subsequence by dynamic programming", forbid=Forbid(
    names=("lcs_length", "rouge"), modules=("course_lib.metrics.lcs_length", "course_lib.metrics.rouge"),
    reason="lcs_length must be written here"))
def test_lcs_length(ns: dict) -> None:
    fn = learner_function(ns, "lcs_length")
    rng = pyrandom(5)
    long_a = [rng.choice("abcd") for _ in range(200)]
    long_b = [rng.choice("abcd") for _ in range(200)]
    cases = [
        ("'ABCBDAB' and 'BDCABA'", "ABCBDAB", "BDCABA"),
        ("two word lists", "the cat sat on the mat".split(), "on the mat the cat sat".split()),
        ("an empty sequence", [], ["a", "b"]),
        ("two empty sequences", [], []),
        ("identical sequences", list("identical"), list("identical")),
        ("nothing in common", list("abc"), list("xyz")),
        ("repeated symbols", list("aaaa"), list("aa")),
        ("two random sequences of 200 symbols", long_a, long_b),
    ]
    for label, a, b in cases:
        got = call(fn, a, b)
        _expect_int(got, metrics.lcs_length(list(a), list(b)), f"lcs_length of {label}")


@graded(1, "ROUGE-L precision, recall, F1 equal to rouge-score", forbid=Forbid(
    names=("lcs_length", "rouge", "RougeScorer", "rouge_scorer"),
    modules=("rouge_score", "course_lib.metrics.lcs_length", "course_lib.metrics.rouge"),
    reason="ROUGE-L must be computed here"))
def test_rouge_l(ns: dict) -> None:
    fn = learner_function(ns, "rouge_l")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    cases = [
        ("The Quick brown fox, jumped!", "the fox jumped over the quick dog"),
        ("a b c d e f g h", "a c e g"),
        ("The same sentence.", "the same sentence"),
        ("nothing alike here", "completely different words"),
        ("", "an empty hypothesis"),
        ("an empty reference", ""),
        ("Don't stop-gap; it's 2024.", "don t stop the gap it s 2024"),
    ]
    with substitute(ns, lcs_length=library("course_lib.metrics:lcs_length")):
        for hyp, ref in cases:
            what = f"rouge_l({hyp!r}, {ref!r})"
            got = call(fn, hyp, ref)
            if not isinstance(got, (tuple, list)) or len(got) != 3:
                raise TaskFailed(f"{what}: expected a tuple (precision, recall, f1), got {kind_of(got)}")
            expected = scorer.score(ref, hyp)["rougeL"]
            for name, value, e in zip(("precision", "recall", "f1"), got, expected):
                _expect_number(value, e, f"{what}: {name}", atol=1e-9)


@graded(2, "agreement beyond chance between two raters")
def test_cohens_kappa(ns: dict) -> None:
    fn = learner_function(ns, "cohens_kappa")
    # Wikipedia's example: 20 yes/yes, 15 no/no, 5 A-yes/B-no, 10 A-no/B-yes (kappa = 0.4)
    wiki_a = ["yes"] * 20 + ["no"] * 15 + ["yes"] * 5 + ["no"] * 10
    wiki_b = ["yes"] * 20 + ["no"] * 15 + ["no"] * 5 + ["yes"] * 10
    rng = pyrandom(3)
    three_a = [rng.choice("gbm") for _ in range(40)]
    three_b = [x if rng.random() < 0.6 else rng.choice("gbm") for x in three_a]
    cases = [
        ("Wikipedia's 50-item yes/no example", wiki_a, wiki_b),
        ("40 items, three categories", three_a, three_b),
        ("integer labels, a label (3) only rater B uses", [1, 1, 2, 2, 1, 2, 1, 1], [1, 3, 2, 2, 1, 1, 1, 3]),
        ("perfect agreement", ["a", "b", "b", "a", "c"], ["a", "b", "b", "a", "c"]),
        ("systematic disagreement", [0, 1, 0, 1], [1, 0, 1, 0]),
        ("both raters always say 'good' (p_e = 1: kappa is 0/0)", ["good"] * 6, ["good"] * 6),
    ]
    for label, a, b in cases:
        _expect_number(call(fn, a, b), ref_kappa(a, b), f"cohens_kappa on {label}", atol=1e-9)
    expect_raises(ValueError, fn, [1, 2, 3], [1, 2], what="cohens_kappa of 3 and 2 labels")
    expect_raises(ValueError, fn, [], [], what="cohens_kappa of no items")


@graded(1, "weights plus KV cache, in bytes")
def test_inference_memory_bytes(ns: dict) -> None:
    fn = learner_function(ns, "inference_memory_bytes")
    gpt2 = dict(n_params=124_439_808, n_layer=12, d_model=768, context_length=1024)
    cases = [
        ("GPT-2 small in float32", dict(gpt2, dtype=torch.float32)),
        ("GPT-2 small in bfloat16", dict(gpt2, dtype=torch.bfloat16)),
        ("GPT-2 small in int8", dict(gpt2, dtype=torch.int8)),
        ("GPT-2 small in float16, batch 8", dict(gpt2, dtype=torch.float16, batch_size=8)),
        ("a 7B model (32 layers, width 4096, 4096 tokens) in float64",
         dict(n_params=7_000_000_000, dtype=torch.float64, n_layer=32, d_model=4096, context_length=4096)),
        ("context_length 0 (weights only)", dict(gpt2, dtype=torch.float32, context_length=0)),
    ]
    for label, kw in cases:
        _expect_int(call(fn, **kw), ref_memory(**kw), f"inference_memory_bytes for {label}")
    expect_raises(ValueError, fn, n_params=-5, dtype=torch.float32, n_layer=1, d_model=8, context_length=4,
                  what="inference_memory_bytes(n_params=-5, ...)")



@graded(2, "a judgement: perplexities, a paired bootstrap interval of the NLL difference, and the verdict it supports")
def test_compare_models(ns: dict) -> None:
    fn = learner_function(ns, "compare_models")
    from course_grader.testkit import rng

    draw = rng(90)
    base = -draw.exponential(2.0, 600)
    cases = [("a clearly better", base + 0.4 + draw.normal(0, 0.3, 600), base),
             ("b clearly better", base, base + 0.4 + draw.normal(0, 0.3, 600)),
             ("a tie (the same tokens, shuffled noise)", base + draw.normal(0, 0.5, 600), base + draw.normal(0, 0.5, 600))]
    for label, lp_a, lp_b in cases:
        lp_a, lp_b = np.minimum(lp_a, 0.0), np.minimum(lp_b, 0.0)
        seed = int(draw.integers(0, 2**31))
        what = f"compare_models on {label} (600 tokens, n_boot=2000, seed={seed})"
        got = call(fn, lp_a, lp_b, 2000, seed)
        if not isinstance(got, dict) or not {"ppl_a", "ppl_b", "low", "high", "better"} <= set(got):
            raise TaskFailed(f"{what}: expected a dict with ppl_a, ppl_b, low, high and better, got {kind_of(got)}")
        _expect_number(got["ppl_a"], math.exp(-lp_a.mean()), f"{what}: ppl_a", rtol=1e-9)
        _expect_number(got["ppl_b"], math.exp(-lp_b.mean()), f"{what}: ppl_b", rtol=1e-9)
        low, high = _number(got["low"], f"{what}: low"), _number(got["high"], f"{what}: high")
        diff = (-lp_a) - (-lp_b)
        idx = np.random.default_rng(seed + 1).integers(0, 600, size=(4000, 600))  # the grader's own resamples
        ref_low, ref_high = np.quantile(diff[idx].mean(axis=1), [0.025, 0.975])
        if not low <= diff.mean() <= high:
            raise TaskFailed(f"{what}: the interval ({low:.4f}, {high:.4f}) should hold the observed difference "
                             f"{diff.mean():.4f}")
        if not 0.7 <= (high - low) / (ref_high - ref_low) <= 1.4:
            raise TaskFailed(f"{what}: the interval is {high - low:.4f} wide; a 95% bootstrap interval of these tokens "
                             f"is about {ref_high - ref_low:.4f} wide (resample token positions, paired)")
        verdict = "a" if high < 0 else "b" if low > 0 else "tie"
        if got["better"] != verdict:
            raise TaskFailed(f"{what}: 'better' should be {verdict!r}, the verdict of your interval "
                             f"({low:.4f}, {high:.4f}), got {got['better']!r}")


TASKS = collect_tasks(globals())
