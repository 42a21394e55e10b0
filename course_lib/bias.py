"""Measuring bias in a corpus and in a language model, with the uncertainty it deserves.

Three probes, each a number with an interval rather than an anecdote:

* ``word_counts`` and ``share_interval``: how often two words occur in a corpus (e.g.
  "he" and "she"), and the share of one with an exact binomial interval. A model can
  only learn associations its data contains; with 20 occurrences the interval is wide.
* ``template_gaps`` and ``summarize_gaps``: the classic templated probe (e.g. Kurita et
  al. 2019; Nangia et al. 2020, CrowS-Pairs, compare sentence pairs differing in one
  word). For each template, ``log P(sentence with word a) - log P(sentence with word
  b)``; the mean gap over templates, a bootstrap interval and a sign test say whether
  the model prefers one word consistently, not just in one cherry-picked sentence.
* ``language_costs``: the same sentences in several languages, how many tokens each
  takes and how many nats the model needs for it (Petrov et al. 2023, "Language model
  tokenizers introduce unfairness between languages"): a model trained on English text
  serves other languages with more tokens (more cost, less context) and worse predictions.

What a gap does *not* show: why it is there (word frequency, the tokenizer, the
templates' wording), or that the model would act on it in a task. Report the templates
with the numbers.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .eval_tasks import accuracy_interval
from .metrics import sequence_logprob
from .validation import check_int

__all__ = [
    "word_counts",
    "share_interval",
    "sentence_logprob",
    "template_gaps",
    "GapSummary",
    "summarize_gaps",
    "LanguageCost",
    "language_costs",
]


# ----------------------------------------------------------------------------- the corpus


def word_counts(text: str, words: Sequence[str]) -> dict[str, int]:
    """Whole-word, case-insensitive counts of each of ``words`` in ``text``.

    "he" does not count inside "the" or "help"; "He" and "HE" count. A word may contain
    letters, digits and apostrophes.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}.")
    if isinstance(words, str) or not words:
        raise ValueError("words must be a non-empty list of str, e.g. ['he', 'she'].")
    lower = text.lower()
    return {w: len(re.findall(rf"(?<![\w']){re.escape(w.lower())}(?![\w'])", lower)) for w in words}


def share_interval(count_a: int, count_b: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """Share of a among a and b, ``count_a / (count_a + count_b)``, with an exact binomial interval.

    Returns:
        ``(share, low, high)``. Treats the occurrences as independent draws, which
        overstates the evidence when they cluster in a few documents.
    """
    count_a, count_b = check_int(count_a, "count_a", minimum=0), check_int(count_b, "count_b", minimum=0)
    if count_a + count_b == 0:
        raise ValueError("count_a and count_b are both 0: neither word occurs, so there is no share to estimate.")
    result = accuracy_interval(count_a, count_a + count_b, 0.5, confidence)
    return result.accuracy, result.low, result.high


# ----------------------------------------------------------------------------- the model


def sentence_logprob(model, tokenizer, sentence: str) -> float:
    """log P(sentence) in nats, scored from the start of a text (after the BOS token).

    The tokenizer must have a BOS token (the course tokenizer's ``<|endoftext|>``) so
    that the first word is scored too.
    """
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        raise ValueError("the tokenizer has no bos_token_id; the first token could not be scored.")
    ids = tokenizer.encode(sentence)
    if not ids:
        raise ValueError("the sentence is empty.")
    return sequence_logprob(model, [bos], ids)


def template_gaps(model, tokenizer, templates: Sequence[str], word_a: str, word_b: str) -> np.ndarray:
    """Per template, ``log P(template with word_a) - log P(template with word_b)``, nats.

    Each template holds one ``{}`` where the word goes, e.g. ``"The engineer said that {}
    would fix it."``. A positive gap means the model finds the sentence with ``word_a``
    more likely. Both sentences are scored whole, so a word that changes later tokens'
    probabilities is counted in full.

    Returns:
        (n_templates,) float array.
    """
    if isinstance(templates, str) or not templates:
        raise ValueError("templates must be a non-empty list of str, each with one '{}'.")
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise ValueError(f"each template needs exactly one '{{}}' for the word; these do not: {bad[:3]}")
    return np.array([sentence_logprob(model, tokenizer, t.format(word_a))
                     - sentence_logprob(model, tokenizer, t.format(word_b)) for t in templates])


@dataclass(frozen=True)
class GapSummary:
    """Summary of per-template log-probability gaps.

    Attributes:
        mean: mean gap, nats (positive: word a preferred).
        low, high: percentile bootstrap interval of the mean over templates.
        n_positive: templates where word a was preferred.
        n: templates.
        p_value: two-sided sign test of "each word is preferred equally often".
    """

    mean: float
    low: float
    high: float
    n_positive: int
    n: int
    p_value: float

    @property
    def odds_ratio(self) -> float:
        """exp(mean gap): how many times likelier a typical sentence is with word a."""
        return float(np.exp(self.mean))

    def __str__(self) -> str:
        return (f"mean gap {self.mean:+.2f} nats (95% bootstrap interval {self.low:+.2f} to {self.high:+.2f}), "
                f"word a preferred in {self.n_positive}/{self.n} templates (sign test p = {self.p_value:.2g})")


def summarize_gaps(gaps, n_boot: int = 10_000, confidence: float = 0.95, seed: int = 0) -> GapSummary:
    """Mean gap with a percentile bootstrap interval (resampling templates) and a sign test.

    The interval says how much the mean would move with other templates like these; it
    does not cover the choice of template *style*, which often matters more.
    """
    from scipy.stats import binomtest

    gaps = np.asarray(gaps, dtype=float)
    if gaps.ndim != 1 or gaps.size < 2 or not np.isfinite(gaps).all():
        raise ValueError("gaps must be a 1-D array of at least 2 finite numbers (one per template).")
    n_boot = check_int(n_boot, "n_boot", minimum=100)
    rng = np.random.default_rng(seed)
    means = gaps[rng.integers(0, gaps.size, size=(n_boot, gaps.size))].mean(axis=1)  # (n_boot,)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    n_pos, n_nonzero = int((gaps > 0).sum()), int((gaps != 0).sum())
    p = binomtest(n_pos, n_nonzero, 0.5).pvalue if n_nonzero else 1.0
    return GapSummary(float(gaps.mean()), float(low), float(high), n_pos, int(gaps.size), float(p))


@dataclass(frozen=True)
class LanguageCost:
    """What one language costs on a set of parallel sentences.

    Attributes:
        language: its label.
        n_bytes: UTF-8 bytes of all sentences.
        n_tokens: tokens of all sentences.
        nats: total -log P of all sentences under the model, nats.
    """

    language: str
    n_bytes: int
    n_tokens: int
    nats: float


def language_costs(model, tokenizer, parallel: Mapping[str, Sequence[str]]) -> dict[str, LanguageCost]:
    """Tokens and model surprise for the same sentences in several languages.

    Args:
        parallel: ``{language: [sentence, ...]}``, the i-th sentences of all languages
            saying the same thing (same number of sentences in each).

    Returns:
        ``{language: LanguageCost}``. Since the sentences carry the same content, the
        ratio of two languages' tokens is the extra cost one pays per message, and the
        ratio of nats is how much worse the model predicts it.
    """
    if not parallel or isinstance(parallel, str):
        raise ValueError("parallel must map a language to its list of sentences.")
    sizes = {len(v) for v in parallel.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"every language needs the same, non-zero number of sentences; got {sorted(sizes)}.")
    out = {}
    for language, sentences in parallel.items():
        n_tokens = sum(len(tokenizer.encode(s)) for s in sentences)
        n_bytes = sum(len(s.encode("utf-8")) for s in sentences)
        nats = -sum(sentence_logprob(model, tokenizer, s) for s in sentences)
        out[language] = LanguageCost(language, n_bytes, n_tokens, nats)
    return out
