"""Evaluation tasks for a base language model, and how sure a score on them is.

A language model that was only trained to predict the next token can still be tested on
tasks, by comparing the probabilities it gives to the possible answers (the way
LAMBADA, HellaSwag, MMLU and the lm-evaluation-harness score base models):

* ``make_cloze_task(text, tokenizer, ...)``: fill-in-the-next-word questions cut from a
  held-out text (LAMBADA-style), with distractor words drawn from the same text. Every
  candidate is a single token, so no candidate wins by being short, and chance is
  exactly ``1 / n_candidates``. Score it with ``course_lib.metrics.cloze_accuracy``;
  ``frequency_baseline`` and ``ngram_cloze_baseline`` are what shallow methods get.
* ``label_logprobs`` and ``zero_shot_predict``: zero-shot classification by asking
  which label word the model finds most likely after a prompt, optionally *calibrated*
  by the same prompt with a content-free input (Zhao et al. 2021, "Calibrate before use").
* ``summary_pairs``: (body, summary line) pairs from docstrings, whose first line is by
  convention a one-line summary of the rest (PEP 257), a free summarization test set;
  ``sentences`` and ``lead_sentence`` give the extractive baselines.
* ``line_completion_task`` and ``complete_line``: code completion as it is measured
  (e.g. CodeXGLUE's line completion): give the code before a line and the line's first
  half, let the model finish the line greedily, count exact matches.
* ``accuracy_interval``: an exact (Clopper-Pearson) confidence interval for an accuracy
  and the p-value of doing better than chance: on 40 questions, 60% is not evidence of
  anything. ``proportion_interval`` is the interval alone, for a rate with no chance level
  (exact-match code completion).
* ``cohen_kappa``: agreement between two annotators beyond chance (Cohen 1960), the
  first statistic to report for a human evaluation.

The course model's validation documents come from ``course_lib.text.held_out_documents``,
the split its build uses, so a task made from them never scores text the model trained on.
"""
from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .adapter import check_fits_context, inference, is_hf_model
from .generation import greedy_decode
from .metrics import sequence_logprob
from .ngram import NGramModel
from .validation import check_fraction, check_int

__all__ = [
    "ClozeTask",
    "make_cloze_task",
    "frequency_baseline",
    "ngram_cloze_baseline",
    "summary_pairs",
    "sentences",
    "lead_sentence",
    "line_completion_task",
    "complete_line",
    "label_logprobs",
    "zero_shot_predict",
    "AccuracyInterval",
    "accuracy_interval",
    "proportion_interval",
    "cohen_kappa",
]


# ----------------------------------------------------------------------------- cloze


@dataclass(frozen=True)
class ClozeTask:
    """Multiple-choice next-word questions.

    Attributes:
        contexts: the text before the gap, one str per question.
        candidates: per question, ``n_candidates`` completions (each with its leading
            space, each one token of the tokenizer), in random order.
        answers: per question, the index of the word that really followed.
    """

    contexts: tuple[str, ...]
    candidates: tuple[tuple[str, ...], ...]
    answers: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.contexts)

    @property
    def chance(self) -> float:
        """Accuracy of guessing at random: 1 / number of candidates."""
        return 1.0 / len(self.candidates[0])


_WORD = re.compile(r"(?<=[a-z,;] )([a-z]{4,12})\b")  # a lower-case word after a word or comma and one space


def make_cloze_task(text: str, tokenizer, n_questions: int = 100, n_candidates: int = 4, context_chars: int = 300,
                    seed: int = 0) -> ClozeTask:
    """Cut ``n_questions`` next-word questions out of ``text``.

    A question is: the ``context_chars`` characters before a lower-case word of 4-12
    letters in running prose (preceded by a word and a space), and as candidates that
    word plus ``n_candidates - 1`` other words that occur as answers elsewhere in the
    text about as often (drawn from the ``5 * n_candidates`` words nearest to it in a
    ranking by frequency), so knowing which words are common helps little. Only words that ``tokenizer`` encodes (with their leading space) as one token
    are used, so the candidates are scored on equal terms.

    Args:
        text: held-out text the model was not trained on.
        tokenizer: anything with ``encode(str) -> list[int]`` (a BPE tokenizer).
        n_questions: how many questions (fewer raise a ValueError).
        n_candidates: candidates per question, at least 2.
        context_chars: characters of context before the gap (cut at a space).
        seed: seeds the choice of gaps and of distractors.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("make_cloze_task needs a non-empty held-out text (str).")
    n_questions = check_int(n_questions, "n_questions", minimum=1)
    n_candidates = check_int(n_candidates, "n_candidates", minimum=2)
    context_chars = check_int(context_chars, "context_chars", minimum=20)
    single = {}

    def one_token(word: str) -> bool:
        if word not in single:
            single[word] = len(tokenizer.encode(" " + word)) == 1
        return single[word]

    spots = [(m.start(1), m.group(1)) for m in _WORD.finditer(text) if m.start(1) >= context_chars]
    spots = [(pos, w) for pos, w in spots if one_token(w)]
    pool = sorted({w for _, w in spots})
    if len(pool) < 5 * n_candidates or len(spots) < n_questions:
        raise ValueError(f"the text has {len(spots)} usable gaps and {len(pool)} distinct one-token words; "
                         f"give a longer text or ask for fewer questions / candidates.")
    # distractors of about the answer's frequency: the neighbours of its rank in the pool
    frequency = Counter(w for _, w in spots)
    by_rank = sorted(pool, key=lambda w: (-frequency[w], w))
    rank = {w: i for i, w in enumerate(by_rank)}
    width = 5 * n_candidates
    rng = random.Random(seed)
    chosen = sorted(rng.sample(spots, n_questions))
    contexts, candidates, answers = [], [], []
    for pos, word in chosen:
        context = text[pos - context_chars: pos - 1]  # without the space before the gap
        context = context[context.find(" ") + 1:]  # start at a word boundary
        lo = min(max(rank[word] - width // 2, 0), max(len(by_rank) - width, 0))
        neighbours = [w for w in by_rank[lo: lo + width] if w != word]
        options = [word] + rng.sample(neighbours, n_candidates - 1)
        rng.shuffle(options)
        contexts.append(context)
        candidates.append(tuple(" " + w for w in options))
        answers.append(options.index(word))
    return ClozeTask(tuple(contexts), tuple(candidates), tuple(answers))


def frequency_baseline(task: ClozeTask, counts: Counter) -> float:
    """Accuracy of always picking the candidate word seen most often in training (``counts``).

    A model that beats chance may only have learned which words are common; this is the
    accuracy that knowledge alone buys. ``counts`` maps a word (no space) to its count.
    """
    correct = 0
    for options, answer in zip(task.candidates, task.answers):
        freq = [counts.get(o.strip(), 0) for o in options]
        correct += max(range(len(options)), key=lambda j: (freq[j], -j)) == answer
    return correct / len(task)


def ngram_cloze_baseline(task: ClozeTask, model: NGramModel) -> float:
    """Accuracy of a fitted byte n-gram ``model`` (chapter 01) on ``task``.

    Each candidate is scored as the language model scores it: the sum of ln P of its
    UTF-8 bytes, each given the bytes before it (the end of the context, then the
    candidate's own earlier bytes); the highest total wins (ties go to the first).
    Unlike word frequency, this reads the context, though only its last ``n - 1`` bytes.
    """
    if not isinstance(model, NGramModel) or model.tables is None:
        raise ValueError("ngram_cloze_baseline needs a fitted NGramModel: NGramModel(5, smoothing='witten-bell')"
                         ".fit(training_text).")
    correct = 0
    for context, options, answer in zip(task.contexts, task.candidates, task.answers):
        head = context.encode("utf-8")
        if len(head) < model.n - 1:
            head = b" " * (model.n - 1 - len(head)) + head
        scores = [float(model.log_prob(head + o.encode("utf-8"), skip=len(head)).sum()) for o in options]
        correct += max(range(len(options)), key=lambda j: (scores[j], -j)) == answer
    return correct / len(task)


# ----------------------------------------------------------------------------- summarization


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def sentences(text: str) -> list[str]:
    """Split prose into sentences at ., ! or ? followed by white space and a capital letter.

    Line breaks inside a sentence become spaces. Crude (abbreviations such as "e.g. The"
    split), but enough for extractive baselines.
    """
    if not isinstance(text, str):
        raise ValueError(f"sentences takes a str, got {type(text).__name__}.")
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if s]


def lead_sentence(text: str) -> str:
    """The first sentence of ``text`` (the "lead" baseline of summarization); "" for empty text."""
    found = sentences(text)
    return found[0] if found else ""


def summary_pairs(documents: Sequence[str], n: int, min_body_chars: int = 200, seed: int = 0) -> list[tuple[str, str]]:
    """(body, summary) pairs from docstrings written as "One-line summary.\n\nBody ...".

    A document qualifies when its first paragraph is a single line of 20-120 characters
    ending in a full stop and the rest is prose of at least ``min_body_chars`` characters
    with at least two sentences (documents containing code examples, ``>>>``, are skipped).
    ``n`` of them are drawn at random with ``seed``, in corpus order.
    """
    if isinstance(documents, str):
        raise ValueError("documents must be a list of str (e.g. Corpus.documents), not one str.")
    n = check_int(n, "n", minimum=1)
    pairs = []
    for doc in documents:
        head, sep, body = doc.strip().partition("\n\n")
        if (sep and "\n" not in head and 20 <= len(head) <= 120 and head.endswith(".")
                and len(body) >= min_body_chars and ">>>" not in body and len(sentences(body)) >= 2):
            pairs.append((body, head))
    if len(pairs) < n:
        raise ValueError(f"only {len(pairs)} documents have a summary line and a long enough body; ask for fewer.")
    keep = sorted(random.Random(seed).sample(range(len(pairs)), n))
    return [pairs[i] for i in keep]


# ----------------------------------------------------------------------------- code completion


def line_completion_task(documents: Sequence[str], n: int, context_chars: int = 600, min_line_chars: int = 24,
                         seed: int = 0) -> list[tuple[str, str]]:
    """(prompt, target) pairs: finish a line of code given what comes before it.

    A line qualifies when it has at least ``min_line_chars`` characters after its
    indentation, is not a comment, and starts at least ``context_chars`` characters into
    its file. The prompt is those ``context_chars`` characters plus the line up to the
    last space before its middle; the target is the rest of the line (no newline).
    ``n`` lines are drawn at random with ``seed``.
    """
    if isinstance(documents, str):
        raise ValueError("documents must be a list of source files (str), not one str.")
    n = check_int(n, "n", minimum=1)
    spots = []
    for d, doc in enumerate(documents):
        start = 0
        for line in doc.split("\n"):
            body = line.strip()
            if start >= context_chars and len(body) >= min_line_chars and not body.startswith("#"):
                spots.append((d, start, line))
            start += len(line) + 1
    if len(spots) < n:
        raise ValueError(f"only {len(spots)} lines qualify; give more code or ask for fewer.")
    pairs = []
    for d, start, line in sorted(random.Random(seed).sample(spots, n)):
        indent = len(line) - len(line.lstrip())
        cut = line.rfind(" ", indent + 1, indent + (len(line) - indent) // 2 + 1)
        cut = cut if cut > indent else indent + (len(line) - indent) // 2
        pairs.append((documents[d][start - context_chars: start] + line[:cut], line[cut:]))
    return pairs


def complete_line(model, tokenizer, prompt: str, max_new_tokens: int = 24) -> str:
    """Greedy continuation of ``prompt`` up to the end of the line (the newline is not returned).

    A transformers model decodes with ``generate(do_sample=False)`` (its key-value cache makes
    it faster), any other model with ``greedy_decode``; both give the same greedy tokens.
    """
    ids = torch.tensor(tokenizer.encode(prompt))  # (T,)
    if is_hf_model(model):
        check_fits_context(model, len(ids))
        with inference(model):
            out = model.generate(ids[None], attention_mask=torch.ones_like(ids[None]), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=tokenizer.eos_token_id)[0]
        text = tokenizer.decode(out[len(ids):].tolist(), skip_special_tokens=True)
    else:
        out = greedy_decode(model, ids, max_new_tokens)  # (T + n,)
        text = tokenizer.decode(out[len(ids):].tolist())
    return text.split("\n", 1)[0]


# ----------------------------------------------------------------------------- zero-shot classification


def _bos(tokenizer) -> list[int]:
    bos = getattr(tokenizer, "bos_token_id", None)
    return [bos] if bos is not None else []


def label_logprobs(model, tokenizer, texts: Sequence[str], template: str, label_words: Sequence[str],
                   add_bos: bool = True) -> np.ndarray:
    """log P(label word | prompt) for every text and label: an (n_texts, n_labels) array in nats.

    The prompt is ``template.format(text=text)``, preceded by the tokenizer's BOS token if
    it has one and ``add_bos`` (turn it off for a template that brings its own special
    tokens, such as a chat prompt). A label word may be several tokens (their
    log-probabilities add up); start it with a space, as it would appear after the prompt:
    ``" good"``.
    """
    if isinstance(texts, str) or isinstance(label_words, str):
        raise ValueError("texts and label_words must be lists of str.")
    if "{text}" not in template:
        raise ValueError("template must contain '{text}' where the input goes, e.g. '{text} Overall, it was'.")
    if len(label_words) < 2:
        raise ValueError("give at least two label words.")
    labels = [tokenizer.encode(w) for w in label_words]
    out = np.empty((len(texts), len(labels)))
    for i, text in enumerate(texts):
        prompt = (_bos(tokenizer) if add_bos else []) + tokenizer.encode(template.format(text=text))
        for j, label in enumerate(labels):
            out[i, j] = sequence_logprob(model, prompt, label)
    return out


def zero_shot_predict(model, tokenizer, texts: Sequence[str], template: str, label_words: Sequence[str],
                      content_free: str | None = None, add_bos: bool = True) -> np.ndarray:
    """Predicted label index per text: the label word with the highest log-probability.

    With ``content_free`` (e.g. ``"N/A"``), each label's log-probability on
    ``template.format(text=content_free)`` is subtracted first. That removes the model's
    prior preference for one label word whatever the input (Zhao et al. 2021 divide the
    probabilities by the content-free ones, which is the same thing in log space).
    ``add_bos``: as in ``label_logprobs``.

    Returns:
        (n_texts,) int array of label indices.
    """
    scores = label_logprobs(model, tokenizer, texts, template, label_words, add_bos)  # (n, k)
    if content_free is not None:
        scores = scores - label_logprobs(model, tokenizer, [content_free], template, label_words, add_bos)  # (1, k)
    return scores.argmax(axis=1)


# ----------------------------------------------------------------------------- uncertainty


@dataclass(frozen=True)
class AccuracyInterval:
    """An accuracy, its exact confidence interval and the evidence against chance.

    Attributes:
        correct, n: right answers out of n.
        accuracy: correct / n.
        low, high: Clopper-Pearson interval (exact, conservative).
        chance: the accuracy of guessing.
        p_value: one-sided binomial test of "no better than chance": the probability of
            at least ``correct`` right answers by guessing.
    """

    correct: int
    n: int
    low: float
    high: float
    chance: float
    p_value: float

    def __str__(self) -> str:
        return (f"{self.correct}/{self.n} = {self.accuracy:.0%} (95% interval {self.low:.0%}-{self.high:.0%}; "
                f"chance {self.chance:.0%}, p = {self.p_value:.2g})")

    @property
    def accuracy(self) -> float:
        """correct / n, in [0, 1]."""
        return self.correct / self.n


def proportion_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a proportion ``successes / n``: ``(low, high)``."""
    from scipy.stats import binomtest

    successes, n = check_int(successes, "successes", minimum=0), check_int(n, "n", minimum=1)
    if successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}.")
    ci = binomtest(successes, n, 0.5).proportion_ci(check_fraction(confidence, "confidence"), method="exact")
    return float(ci.low), float(ci.high)


def accuracy_interval(correct: int, n: int, chance: float, confidence: float = 0.95) -> AccuracyInterval:
    """Exact binomial interval for ``correct / n`` and the one-sided p-value against ``chance``."""
    from scipy.stats import binomtest

    correct, n = check_int(correct, "correct", minimum=0), check_int(n, "n", minimum=1)
    if correct > n:
        raise ValueError(f"need 0 <= correct <= n and n >= 1, got correct={correct}, n={n}.")
    chance = check_fraction(chance, "chance (e.g. 1 / n_candidates)")
    confidence = check_fraction(confidence, "confidence")
    ci = binomtest(correct, n, 0.5).proportion_ci(confidence, method="exact")
    p = binomtest(correct, n, chance, alternative="greater").pvalue
    return AccuracyInterval(correct, n, float(ci.low), float(ci.high), chance, float(p))


# ----------------------------------------------------------------------------- agreement


def cohen_kappa(labels_a: Sequence, labels_b: Sequence) -> float:
    """Cohen's kappa between two annotators who labelled the same items.

    kappa = (p_o - p_e) / (1 - p_e), where p_o is the fraction of items they agree on
    and p_e the agreement expected if each labelled at random with their own label
    frequencies: sum over labels of (share of a) x (share of b). 1 is perfect agreement,
    0 is what chance gives, below 0 is worse than chance. Common reading (Landis & Koch
    1977, a convention, not a law): 0.41-0.60 moderate, 0.61-0.80 substantial.

    Returns NaN when p_e = 1 (both annotators always gave the same single label).
    """
    if isinstance(labels_a, str) or isinstance(labels_b, str):
        raise ValueError("give two lists of labels, one per item, e.g. ['A', 'B', 'tie', ...].")
    labels_a, labels_b = list(labels_a), list(labels_b)
    if len(labels_a) != len(labels_b) or not labels_a:
        raise ValueError(f"both annotators must label the same non-empty list of items; got {len(labels_a)} "
                         f"and {len(labels_b)} labels.")
    n = len(labels_a)
    p_o = sum(a == b for a, b in zip(labels_a, labels_b)) / n
    count_a, count_b = Counter(labels_a), Counter(labels_b)
    p_e = sum(count_a[k] * count_b[k] for k in count_a) / n**2
    if math.isclose(p_e, 1.0):
        return float("nan")
    return (p_o - p_e) / (1.0 - p_e)
