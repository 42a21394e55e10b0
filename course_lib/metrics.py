"""Evaluation metrics, written out: sliding-window perplexity, cloze accuracy, BLEU and ROUGE.

Each one is small enough to read in a minute, and each is checked in
``tests/test_metrics.py`` against the implementation the field uses:

* ``sliding_window_perplexity(model, ids, context_length, stride)``: exp(mean negative log-likelihood)
  of a long text, scored with a sliding window (the Hugging Face "perplexity of
  fixed-length models" method); checked against transformers' own loss.
* ``sequence_logprob`` and ``cloze_accuracy``: multiple-choice evaluation by comparing
  the log-probabilities a model gives to candidate completions (the way benchmarks
  such as LAMBADA, HellaSwag or the lm-evaluation-harness score a base model).
* ``bleu(hypotheses, references)``: corpus BLEU (Papineni et al. 2002) equal to
  ``sacrebleu.corpus_bleu(hypotheses, [references])``, its 13a tokenizer included.
* ``rouge(hypothesis, reference)``: ROUGE-1, ROUGE-2 and ROUGE-L (Lin 2004) equal to
  ``rouge_score.rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])``.
* ``repetition_rate`` and ``distinct_n``: how repetitive generated text is, within one text
  (Welleck et al. 2020's seq-rep-n) and across texts (Li et al. 2016's distinct-n).

BLEU and ROUGE need no model and no torch; the perplexity and cloze functions take a
course GPT or a transformers causal LM (see ``course_lib.adapter``).
(``course_lib.units.perplexity(loss)`` is the one-line conversion exp(loss);
``sliding_window_perplexity`` measures the loss first.)
"""
from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .adapter import as_batch, context_length_of, inference, model_device, model_logits
from .validation import check_int

__all__ = [
    "PerplexityResult",
    "sliding_window_perplexity",
    "sequence_logprob",
    "cloze_accuracy",
    "candidate_logprobs",
    "tokenize_13a",
    "BleuResult",
    "bleu",
    "rouge_tokenize",
    "lcs_length",
    "RougeScore",
    "rouge",
    "repetition_rate",
    "distinct_n",
]


# ----------------------------------------------------------------------------- perplexity


class PerplexityResult(NamedTuple):
    """Perplexity of a text under a model.

    Attributes:
        perplexity: exp(loss), per token.
        loss: mean negative log-likelihood, nats per token.
        n_tokens: how many tokens were scored.
    """

    perplexity: float
    loss: float
    n_tokens: int


def _one_sequence(ids, name: str = "ids") -> torch.Tensor:
    ids, _ = as_batch(ids, name)
    if ids.shape[0] != 1:
        raise ValueError(f"{name} must be one sequence, (N,) or (1, N); got {ids.shape[0]} rows. Concatenate them first.")
    return ids[0]  # (N,)


def sliding_window_perplexity(model, ids, context_length: int | None = None,
                              stride: int | None = None) -> PerplexityResult:
    """Perplexity of a long token sequence, scored with a sliding window.

    A model reads at most ``context_length`` tokens, so a long text is scored in windows
    of that length. Cutting it into disjoint chunks (``stride = context_length``) leaves
    the first tokens of every chunk with little context; sliding the window by a smaller
    ``stride`` gives every token at least ``context_length - stride`` tokens of context,
    at the price of about ``context_length / stride`` times more computation. Window i
    covers tokens ``[i * stride, i * stride + context_length)`` and scores only those no
    earlier window scored, so each token is scored at most once.

    Args:
        model: a course GPT or a transformers causal LM (evaluation mode is used).
        ids: (N,) or (1, N) token ids, N >= 2. The first token is context only.
        context_length: window length in tokens, at most the model's; None: the model's.
        stride: how far the window moves, in [1, context_length]; None: context_length
            (disjoint chunks).

    Returns:
        ``PerplexityResult(perplexity, loss, n_tokens)`` with the loss in nats per token.
        With ``stride < context_length`` every token but the first is scored
        (``n_tokens = N - 1``); with ``stride = context_length`` the first token of each
        chunk has no context and is not scored, so the loss is the token-weighted mean of
        the disjoint chunks' losses, exactly what ``model(chunk[:-1], chunk[1:])`` gives.
    """
    ids = _one_sequence(ids)
    n = ids.shape[0]
    if n < 2:
        raise ValueError("perplexity needs at least 2 tokens: the first one is only context, the rest are scored.")
    limit = context_length_of(model)
    if context_length is None:
        if limit is None:
            raise ValueError("pass context_length=...: the model does not say how many tokens it reads.")
        context_length = limit
    context_length = check_int(context_length, "context_length", minimum=2)
    if limit is not None and context_length > limit:
        raise ValueError(f"context_length={context_length} is longer than the model's {limit}; use at most {limit}.")
    stride = context_length if stride is None else check_int(stride, "stride", minimum=1)
    if stride > context_length:
        raise ValueError(f"stride={stride} must be at most context_length={context_length}, or tokens would be skipped.")

    ids = ids.to(model_device(model))
    total_nll, n_scored = 0.0, 0
    scored_up_to = 1  # tokens [1, scored_up_to) have been scored; token 0 has no context
    with inference(model):
        for begin in range(0, n, stride):
            end = min(begin + context_length, n)
            window = ids[begin:end]  # (L,)
            logprobs = F.log_softmax(model_logits(model, window[None])[0, :-1], dim=-1)  # (L-1, V): predicts window[1:]
            # index into window[1:] of the first token not scored yet; with stride = context_length the
            # window's own first token has no context in it and is skipped, as in the disjoint-chunk loss
            first_new = max(scored_up_to - begin - 1, 0)
            targets = window[1:][first_new:]  # (n_new,)
            nll = -logprobs[first_new:].gather(1, targets[:, None])  # (n_new, 1), nats
            total_nll += nll.double().sum().item()
            n_scored += targets.numel()
            scored_up_to = end
            if end == n:
                break
    loss = total_nll / n_scored
    return PerplexityResult(perplexity=math.exp(loss), loss=loss, n_tokens=n_scored)


# ----------------------------------------------------------------------------- cloze


def sequence_logprob(model, context_ids, continuation_ids) -> float:
    """log P(continuation | context) under ``model``: the sum of per-token log-probabilities, in nats.

    Args:
        model: a course GPT or a transformers causal LM.
        context_ids: (T_c,) token ids of the context, at least one token (start a text
            with a BOS / ``<|endoftext|>`` id to score it from nothing).
        continuation_ids: (T_x,) token ids to score, at least one.

    Returns:
        A float <= 0. If context + continuation is longer than the model's context
        length, the context is cut from the left.
    """
    context = _one_sequence(context_ids, "context_ids")
    continuation = _one_sequence(continuation_ids, "continuation_ids")
    limit = context_length_of(model)
    if limit is not None and continuation.numel() > limit - 1:
        raise ValueError(
            f"the continuation has {continuation.numel()} tokens but the model reads {limit}; "
            f"score at most {limit - 1} tokens at a time."
        )
    full = torch.cat([context, continuation]).to(model_device(model))  # (T_c + T_x,)
    if limit is not None:
        full = full[-limit:]
    n_x = continuation.numel()
    with inference(model):
        logprobs = F.log_softmax(model_logits(model, full[None])[0, :-1], dim=-1)  # (T-1, V): predicts full[1:]
    picked = logprobs[-n_x:].gather(1, full[-n_x:, None])  # (T_x, 1): log P(token | everything before it)
    return picked.double().sum().item()


def _encode(item, tokenizer, name: str):
    if isinstance(item, str):
        if tokenizer is None:
            raise ValueError(f"{name} holds text ({item[:30]!r}); pass tokenizer=... to encode it, or give token ids.")
        return tokenizer.encode(item)
    return item


def cloze_accuracy(model, contexts: Sequence, candidates: Sequence[Sequence], answers: Sequence[int],
                   tokenizer=None) -> float:
    """Accuracy on a cloze (fill-in / multiple-choice) task.

    For each example the model picks the candidate completion with the highest total
    log-probability given the context (``sequence_logprob``); the accuracy is the
    fraction of examples where that is the right one. Total log-probability favours
    short candidates: compare candidates of similar length, or single tokens.

    Args:
        model: a course GPT or a transformers causal LM.
        contexts: one context per example, as token ids or (with ``tokenizer``) text.
        candidates: for each example, a list of at least two completions (ids or text).
            With a BPE tokenizer, text completions usually start with a space: " Paris".
        answers: for each example, the index of the correct candidate.
        tokenizer: anything with ``encode(str) -> list[int]``, needed for text.

    Returns:
        The accuracy, a float in [0, 1]. Ties go to the earlier candidate.
    """
    if not (len(contexts) == len(candidates) == len(answers)):
        raise ValueError(
            f"contexts, candidates and answers must have one entry per example; got "
            f"{len(contexts)}, {len(candidates)} and {len(answers)}."
        )
    if len(contexts) == 0:
        raise ValueError("cloze_accuracy needs at least one example.")
    correct = 0
    for i, (context, options, answer) in enumerate(zip(contexts, candidates, answers)):
        if isinstance(options, str) or len(options) < 2:
            raise ValueError(f"example {i}: give a list of at least two candidates, got {options!r}.")
        if isinstance(answer, bool) or not isinstance(answer, numbers.Integral) or not 0 <= answer < len(options):
            raise ValueError(f"example {i}: answers[{i}] must be an index in [0, {len(options) - 1}], got {answer!r}.")
        context_ids = _encode(context, tokenizer, "contexts")
        scores = candidate_logprobs(model, context_ids, [_encode(option, tokenizer, "candidates") for option in options])
        correct += max(range(len(scores)), key=lambda j: (scores[j], -j)) == answer
    return correct / len(contexts)


def candidate_logprobs(model, context_ids, candidates: Sequence) -> list[float]:
    """``sequence_logprob(model, context_ids, c)`` for every candidate ``c``, in one batched forward pass.

    The sequences context + candidate are padded on the right to one length: in a causal
    model a position never sees the ones after it, so the padding changes no scored logit
    (up to float rounding, about 1e-6, from batching). Falls back to one pass per candidate
    when a sequence would not fit in the model's context (``sequence_logprob`` crops it).
    """
    context = _one_sequence(context_ids, "context_ids").tolist()
    rows = [_one_sequence(c, "candidates").tolist() for c in candidates]
    limit = context_length_of(model)
    longest = len(context) + max(len(r) for r in rows)
    if limit is not None and longest > limit:
        return [sequence_logprob(model, context, r) for r in rows]
    batch = torch.zeros(len(rows), longest, dtype=torch.long)  # (n, L): right-padded with id 0
    for i, r in enumerate(rows):
        batch[i, :len(context) + len(r)] = torch.tensor(context + r)
    with inference(model):
        logprobs = F.log_softmax(model_logits(model, batch)[:, :-1], dim=-1)  # (n, L - 1, V): predicts batch[:, 1:]
    scores = []
    for i, r in enumerate(rows):
        start = len(context) - 1  # the position that predicts the candidate's first token
        targets = torch.tensor(r, device=logprobs.device)[:, None]  # (T_x, 1)
        scores.append(logprobs[i, start:start + len(r)].gather(1, targets).double().sum().item())
    return scores


# ----------------------------------------------------------------------------- BLEU

# The 13a tokenizer of mteval-v13a.pl (WMT), in the order sacrebleu applies it.
# 1. every ASCII symbol except ' , . - becomes a token of its own: the ranges are
#    {|}~  [\]^_`  space!"#$%&  ()*+  :;<=>?@  and /
_13A_SYMBOLS = re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])")
# 2. a period or comma is split off unless it sits between digits ("3.14", "1,000" stay)
_13A_PUNCT_AFTER_NON_DIGIT = re.compile(r"([^0-9])([\.,])")
_13A_PUNCT_BEFORE_NON_DIGIT = re.compile(r"([\.,])([^0-9])")
# 3. a dash after a digit is split off ("5-3" -> "5 - 3"; "well-known" stays)
_13A_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")


def tokenize_13a(text: str) -> list[str]:
    """Split text into BLEU tokens with the 13a rules (sacrebleu's default tokenizer).

    Removes ``<skipped>`` and hyphenated line breaks, turns newlines into spaces,
    decodes the four XML entities ``&quot; &amp; &lt; &gt;``, puts spaces around
    punctuation (except inside numbers, and except apostrophes and hyphens inside
    words), then splits on whitespace. Case is kept.
    """
    if not isinstance(text, str):
        raise ValueError(f"tokenize_13a takes a str, got {type(text).__name__}.")
    text = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in text:
        text = text.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    text = f" {text} "
    text = _13A_SYMBOLS.sub(r" \1 ", text)
    text = _13A_PUNCT_AFTER_NON_DIGIT.sub(r"\1 \2 ", text)
    text = _13A_PUNCT_BEFORE_NON_DIGIT.sub(r" \1 \2", text)
    text = _13A_DASH_AFTER_DIGIT.sub(r"\1 \2 ", text)
    return text.split()


def _ngrams(tokens: list[str], n: int) -> Counter:
    """Counts of the n-grams (tuples of n tokens) of a token list."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class BleuResult:
    """Corpus BLEU and the statistics it is computed from.

    Attributes:
        score: BLEU on a 0-100 scale (``float(result)`` gives it too).
        precisions: modified n-gram precisions p_1..p_4 in percent, after smoothing.
        brevity_penalty: exp(1 - ref_len / hyp_len) if the output is shorter than the
            references, else 1.
        hyp_len, ref_len: total hypothesis tokens; total closest-reference tokens.
        counts, totals: clipped matching n-grams and hypothesis n-grams, n = 1..4.
    """

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hyp_len: int
    ref_len: int
    counts: tuple[int, ...]
    totals: tuple[int, ...]

    def __float__(self) -> float:
        return self.score

    def __str__(self) -> str:
        p = "/".join(f"{x:.1f}" for x in self.precisions)
        return f"BLEU = {self.score:.2f} {p} (BP = {self.brevity_penalty:.3f}, hyp_len = {self.hyp_len}, ref_len = {self.ref_len})"


def _reference_lists(hypotheses, references) -> list[list[str]]:
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise ValueError("bleu takes lists: bleu([hypothesis, ...], [reference, ...]); wrap a single sentence in [ ].")
    if len(hypotheses) == 0:
        raise ValueError("bleu needs at least one hypothesis.")
    if len(references) != len(hypotheses):
        raise ValueError(
            f"got {len(hypotheses)} hypotheses but {len(references)} references; give one reference (or one "
            "list of references) per hypothesis. For sacrebleu-style reference streams [refs1, refs2], "
            "pass list(zip(refs1, refs2))."
        )
    out = []
    for i, (hyp, refs) in enumerate(zip(hypotheses, references)):
        if not isinstance(hyp, str):
            raise ValueError(f"hypotheses[{i}] must be a str, got {type(hyp).__name__}.")
        refs = [refs] if isinstance(refs, str) else [r for r in refs if r is not None]
        if not refs or not all(isinstance(r, str) for r in refs):
            raise ValueError(f"references[{i}] must be a str or a non-empty list of str, got {references[i]!r}.")
        out.append(refs)
    return out


def bleu(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]],
         max_order: int = 4) -> BleuResult:
    """Corpus BLEU, equal to sacrebleu's default ``corpus_bleu(hypotheses, [references])``.

    BLEU = BP * exp(mean over n = 1..4 of log p_n), on a 0-100 scale, where

    * p_n is the *modified* n-gram precision over the whole corpus: hypothesis n-grams
      that also occur in the reference, each counted at most as often as it occurs there
      (the most it occurs in any one reference), divided by all hypothesis n-grams;
    * a p_n with no match is smoothed (sacrebleu's "exp" smoothing, from mteval-v13a):
      the k-th such order gets 1 / (2^k * total_n) instead of 0; if nothing matches at
      all, BLEU is 0;
    * BP, the brevity penalty, is exp(1 - r / c) when the c hypothesis tokens are fewer
      than the r reference tokens (per sentence, the reference closest in length, the
      shorter on a tie), else 1. Precision alone would reward saying little.

    Args:
        hypotheses: system outputs, one string per segment (not tokenized).
        references: per hypothesis, one reference string or a list of references (the
            number may vary). This is the transpose of sacrebleu's argument, which is a
            list of reference *streams*: ``sacrebleu.corpus_bleu(hyps, [refs])``.
        max_order: the longest n-gram, 4 as in sacrebleu.

    Returns:
        A ``BleuResult``; ``.score`` (or ``float(...)``) is the BLEU score.
    """
    reference_lists = _reference_lists(hypotheses, references)
    max_order = check_int(max_order, "max_order", minimum=1)
    counts, totals = [0] * max_order, [0] * max_order
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, reference_lists):
        hyp_tokens = tokenize_13a(hyp.rstrip())
        ref_tokens = [tokenize_13a(r.rstrip()) for r in refs]
        hyp_len += len(hyp_tokens)
        ref_len += min((abs(len(r) - len(hyp_tokens)), len(r)) for r in ref_tokens)[1]  # closest, shorter on ties
        for n in range(1, max_order + 1):
            hyp_ngrams = _ngrams(hyp_tokens, n)
            max_ref = Counter()
            for r in ref_tokens:
                max_ref |= _ngrams(r, n)  # elementwise maximum over the references
            counts[n - 1] += sum(min(c, max_ref[g]) for g, c in hyp_ngrams.items())
            totals[n - 1] += max(len(hyp_tokens) - n + 1, 0)

    if hyp_len < ref_len:
        bp = math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0
    else:
        bp = 1.0
    precisions = [0.0] * max_order
    if not any(counts):
        return BleuResult(0.0, tuple(precisions), bp, hyp_len, ref_len, tuple(counts), tuple(totals))
    smooth = 1.0
    for n in range(max_order):
        if totals[n] == 0:
            break  # no n-grams this long at all: p_n stays 0, so BLEU is 0
        if counts[n] == 0:
            smooth *= 2
            precisions[n] = 100.0 / (smooth * totals[n])
        else:
            precisions[n] = 100.0 * counts[n] / totals[n]
    if any(p == 0.0 for p in precisions):
        score = 0.0
    else:
        score = bp * math.exp(sum(math.log(p) for p in precisions) / max_order)
    return BleuResult(score, tuple(precisions), bp, hyp_len, ref_len, tuple(counts), tuple(totals))


# ----------------------------------------------------------------------------- ROUGE


def rouge_tokenize(text: str) -> list[str]:
    """rouge-score's default tokenizer: lowercase, keep runs of a-z and 0-9, nothing else.

    Everything else (punctuation, accents, non-Latin letters) separates tokens and is
    dropped: ``"Don't stop-gap!" -> ["don", "t", "stop", "gap"]``. No stemming.
    """
    if not isinstance(text, str):
        raise ValueError(f"rouge takes str, got {type(text).__name__}.")
    return re.findall(r"[a-z0-9]+", text.lower())


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence of two sequences (not necessarily contiguous).

    Dynamic programming, row by row: ``row[j]`` is the LCS of ``a[:i]`` and ``b[:j]``.
    O(len(a) * len(b)) time, O(len(b)) memory.
    """
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0  # previous row's row[j - 1]
        for j, y in enumerate(b, start=1):
            above = row[j]
            row[j] = diagonal + 1 if x == y else max(above, row[j - 1])
            diagonal = above
    return row[-1]


class RougeScore(NamedTuple):
    """Precision, recall and F1 of one ROUGE variant, each in [0, 1]."""

    precision: float
    recall: float
    fmeasure: float


def _prf(overlap: int, n_hyp: int, n_ref: int) -> RougeScore:
    precision = overlap / max(n_hyp, 1)
    recall = overlap / max(n_ref, 1)
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return RougeScore(precision, recall, f)


def rouge(hypothesis: str, reference: str) -> dict[str, RougeScore]:
    """ROUGE-1, ROUGE-2 and ROUGE-L of one hypothesis against one reference.

    * ROUGE-N: overlap of n-gram counts (each n-gram counted at most as often as in
      either text); precision = overlap / hypothesis n-grams, recall = overlap /
      reference n-grams.
    * ROUGE-L: the longest common subsequence of the token lists, divided by the
      hypothesis length (precision) and by the reference length (recall).

    F1 is 2PR / (P + R). Tokens come from ``rouge_tokenize``. Equal to
    ``RougeScorer(["rouge1", "rouge2", "rougeL"]).score(reference, hypothesis)``; note
    that rouge-score takes the *reference first*.

    Returns:
        ``{"rouge1": RougeScore, "rouge2": RougeScore, "rougeL": RougeScore}``; an empty
        text (after tokenization) scores 0.
    """
    hyp, ref = rouge_tokenize(hypothesis), rouge_tokenize(reference)
    result = {}
    for n in (1, 2):
        hyp_ngrams, ref_ngrams = _ngrams(hyp, n), _ngrams(ref, n)
        overlap = sum((hyp_ngrams & ref_ngrams).values())  # elementwise minimum of the counts
        result[f"rouge{n}"] = _prf(overlap, sum(hyp_ngrams.values()), sum(ref_ngrams.values()))
    if hyp and ref:
        result["rougeL"] = _prf(lcs_length(hyp, ref), len(hyp), len(ref))
    else:
        result["rougeL"] = RougeScore(0.0, 0.0, 0.0)
    return result


# ----------------------------------------------------------------------------- repetition


def _token_list(tokens, name: str) -> list:
    if isinstance(tokens, str):
        raise ValueError(f"{name} must be a list of tokens (ids or strings), not one str; split or encode it first.")
    return tokens.tolist() if isinstance(tokens, torch.Tensor) else list(tokens)


def repetition_rate(tokens, n: int = 4) -> float:
    """Share of a text's n-grams that repeat one earlier in the text, 1 - distinct / total (seq-rep-n).

    Welleck et al. 2020. 0 without repeats, near 1 for a loop ("the value of the value of ...").
    ``tokens``: a list or 1-D tensor of ids or words; fewer than n tokens score 0.
    """
    grams = _ngrams(_token_list(tokens, "tokens"), check_int(n, "n", minimum=1))
    total = sum(grams.values())
    return 0.0 if total == 0 else 1.0 - len(grams) / total


def distinct_n(texts, n: int = 2) -> float:
    """Distinct n-grams over all n-grams, pooled across texts (Li et al. 2016); 0 when no text has n tokens."""
    if isinstance(texts, str):
        raise ValueError("distinct_n takes a list of token lists, one per generated text.")
    n = check_int(n, "n", minimum=1)
    pooled = Counter()
    for i, t in enumerate(texts):
        pooled.update(_ngrams(_token_list(t, f"texts[{i}]"), n))
    total = sum(pooled.values())
    return 0.0 if total == 0 else len(pooled) / total
