"""Spending compute at test time: many samples, a vote or a verifier, and what that costs in FLOPs.

A model that is right only sometimes can be asked N times. What to do with N answers:

* **majority voting** (self-consistency, Wang et al. 2023): answer with the most common one;
  no checker needed, but it only helps when the right answer is the model's most likely one.
* **best-of-N with a verifier**: keep an answer a checker accepts. With an exact checker
  (a unit test, a proof checker, arithmetic) the accuracy is the *coverage*, the chance
  that any of N samples is right, pass@N; Brown et al. (2024, "Large Language Monkeys")
  found coverage growing roughly log-linearly in N over four orders of magnitude. With
  an imperfect checker the gain stops where the checker's mistakes begin.

Snell et al. (2024) compare that spending with a bigger model at equal inference FLOPs:
on easy and medium problems, a smaller model sampling more can win; on hard ones, not.
FLOPs here are counted as 2 x parameters per token processed, prompt and generated tokens
alike, for every sample (``sampling_flops``; no key-value or prefix cache sharing counted).

The checkable task is fixed-width addition written as characters, ``"123+456=0579"``
(``addition_problems``, ``train_adder``, ``sample_sums``): small GPTs learn it partly in
seconds, and every answer can be checked exactly.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from .generation import sample
from .model import GPT, GPTConfig
from .train import History, train_loop
from .validation import check_int, check_positive

__all__ = ["ADDER_CHARS", "addition_problems", "encode_sum", "adder_config", "train_adder", "sample_sums",
           "majority_vote", "verified_vote", "pass_at_k", "selection_accuracy", "sampling_flops"]

ADDER_CHARS = "0123456789+="  # the adder's vocabulary: id = position in this string


# ----------------------------------------------------------------------------- the task


def addition_problems(n: int, digits: int = 3, seed: int = 0, exclude=()) -> list[tuple[int, int]]:
    """``n`` distinct random problems (a, b), 0 <= a, b < 10**digits, none of them in ``exclude``."""
    n, digits = check_int(n, "n", minimum=1), check_int(digits, "digits", minimum=1, maximum=9)
    if n > 10 ** (2 * digits) - len(set(exclude)):
        raise ValueError(f"there are not {n} distinct {digits}-digit problems left; ask for fewer or use more digits.")
    rng, seen, out = np.random.default_rng(seed), set(map(tuple, exclude)), []
    while len(out) < n:
        a, b = (int(x) for x in rng.integers(0, 10**digits, size=2))
        if (a, b) not in seen:
            seen.add((a, b))
            out.append((a, b))
    return out


def encode_sum(a: int, b: int, digits: int) -> list[int]:
    """The ids of ``"aaa+bbb=ssss"``: both terms zero-padded to ``digits``, the sum to ``digits + 1``."""
    text = f"{a:0{digits}d}+{b:0{digits}d}={a + b:0{digits + 1}d}"
    return [ADDER_CHARS.index(c) for c in text]


def adder_config(d_model: int, n_layer: int, digits: int = 3, n_head: int = 4) -> GPTConfig:
    """A course ``GPTConfig`` sized for the adder: 12 characters, context 3 * digits + 2."""
    return GPTConfig(vocab_size=len(ADDER_CHARS), context_length=3 * digits + 2, n_layer=n_layer, n_head=n_head,
                     d_model=d_model)


def _batch(problems: list[tuple[int, int]], digits: int) -> tuple[torch.Tensor, torch.Tensor]:
    seq = torch.tensor([encode_sum(a, b, digits) for a, b in problems])  # (B, 3 digits + 3)
    x, y = seq[:, :-1], seq[:, 1:].clone()  # (B, T): y is x shifted by one
    y[:, : 2 * digits + 1] = -100  # score only the sum's digits (the prompt is given)
    return x, y


def train_adder(config: GPTConfig, steps: int, digits: int = 3, batch_size: int = 64, lr: float = 3e-3,
                exclude=(), seed: int = 0, num_threads: int | None = 1) -> tuple[GPT, History]:
    """A GPT trained on fresh random additions (never one in ``exclude``) with the course's ``train_loop``.

    The loss covers the sum's digits only (nats per digit). Returns (model in eval mode,
    History).
    """
    steps, batch_size = check_int(steps, "steps", minimum=1), check_int(batch_size, "batch_size", minimum=1)
    if config.context_length < 3 * digits + 2 or config.vocab_size < len(ADDER_CHARS):
        raise ValueError(f"the adder needs context_length >= {3 * digits + 2} and vocab_size >= {len(ADDER_CHARS)}; "
                         "use adder_config(...).")
    excluded = set(map(tuple, exclude))
    torch.manual_seed(seed)
    model = GPT(config)

    def next_batch(step, g):
        problems = []
        while len(problems) < batch_size:
            a, b = torch.randint(0, 10**digits, (2,), generator=g).tolist()
            if (a, b) not in excluded:
                problems.append((a, b))
        return _batch(problems, digits)

    history = train_loop(model, next_batch, lambda m, batch: m(*batch)[1], steps, lr=lr, weight_decay=0.0,
                         eval_every=max(1, steps // 10), seed=seed, num_threads=num_threads)
    return model, history


@torch.no_grad()
def sample_sums(model: GPT, problems: list[tuple[int, int]], n_samples: int, digits: int = 3,
                temperature: float = 1.0, seed: int = 0, batch_size: int = 8192) -> np.ndarray:
    """``n_samples`` answers per problem, drawn at ``temperature`` (0: greedy): a (Q, n_samples) int array.

    Each answer is the ``digits + 1`` characters the model writes after ``"aaa+bbb="``, read
    as a number; -1 where they are not all digits.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    prompts = torch.tensor([encode_sum(a, b, digits)[: 2 * digits + 2] for a, b in problems])  # (Q, 2 digits + 2)
    rows = prompts.repeat_interleave(n_samples, dim=0)  # (Q * n, P)
    out = []
    generator = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    for i in range(0, len(rows), batch_size):
        ids = sample(model, rows[i : i + batch_size], digits + 1, temperature=temperature, generator=generator)
        out.append(ids[:, prompts.shape[1]:])  # (b, digits + 1)
    new = torch.cat(out)  # (Q * n, digits + 1)
    is_digit = (new < 10).all(dim=1)
    place = 10 ** torch.arange(digits, -1, -1)  # (digits + 1,)
    values = torch.where(is_digit, (new.clamp(max=9) * place).sum(dim=1), torch.full_like(is_digit, -1, dtype=torch.long))
    return values.view(len(problems), n_samples).numpy()


# ----------------------------------------------------------------------------- choosing among N answers


def majority_vote(answers):
    """The most common answer; a tie goes to the one that appeared first. ValueError if empty."""
    answers = list(answers)
    if not answers:
        raise ValueError("no answers to vote on: give at least one.")
    counts = Counter(answers)
    top = max(counts.values())
    return next(a for a in answers if counts[a] == top)


def verified_vote(answers, accepted):
    """Majority vote among the answers a verifier accepted (``accepted[i]`` True); among all if it accepted none.

    With an exact verifier this is right whenever any answer is right (best-of-N equals
    coverage); with a partial one (it accepts some wrong answers) the vote decides among them.
    """
    answers, accepted = list(answers), list(accepted)
    if len(answers) != len(accepted):
        raise ValueError(f"got {len(answers)} answers and {len(accepted)} verdicts; give one verdict per answer.")
    kept = [a for a, ok in zip(answers, accepted) if ok]
    return majority_vote(kept or answers)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of P(at least one of k samples is right) from c right of n (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    n, c, k = check_int(n, "n", minimum=1), check_int(c, "c", minimum=0), check_int(k, "k", minimum=1)
    if c > n or k > n:
        raise ValueError(f"need c <= n and k <= n, got n={n}, c={c}, k={k}.")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def selection_accuracy(samples, truth, k: int, method: str = "majority", accepted=None, n_subsets: int = 64,
                       seed: int = 0) -> np.ndarray:
    """Per-problem accuracy of choosing among k samples: a (Q,) array of probabilities in [0, 1].

    ``samples`` (Q, n) answers, ``truth`` (Q,). ``method``: ``"coverage"`` (any of k right:
    exact pass@k), ``"majority"`` (``majority_vote``) or ``"verified"`` (``verified_vote``
    with the (Q, n) booleans ``accepted``). Majority and verified votes are averaged over
    ``n_subsets`` random k-subsets of the n samples (all of them when k = n).
    """
    samples, truth = np.asarray(samples), np.asarray(truth)
    if samples.ndim != 2 or truth.shape != (samples.shape[0],):
        raise ValueError(f"samples must be (Q, n) and truth (Q,); got {samples.shape} and {truth.shape}.")
    n = samples.shape[1]
    k = check_int(k, "k", minimum=1, maximum=n)
    right = samples == truth[:, None]  # (Q, n)
    if method == "coverage":
        return np.array([pass_at_k(n, int(c), k) for c in right.sum(axis=1)])
    if method not in ("majority", "verified"):
        raise ValueError(f"method must be 'coverage', 'majority' or 'verified', got {method!r}.")
    if method == "verified":
        if accepted is None or np.shape(accepted) != samples.shape:
            raise ValueError("method='verified' needs accepted, a (Q, n) boolean array of the verifier's verdicts.")
        accepted = np.asarray(accepted, dtype=bool)
    rng = np.random.default_rng(seed)
    draws = 1 if k == n else check_int(n_subsets, "n_subsets", minimum=1)
    out = np.zeros(len(truth))
    for q in range(len(truth)):
        for _ in range(draws):
            pick = np.arange(n) if k == n else rng.choice(n, size=k, replace=False)
            vote = (majority_vote(samples[q, pick].tolist()) if method == "majority"
                    else verified_vote(samples[q, pick].tolist(), accepted[q, pick].tolist()))
            out[q] += vote == truth[q]
    return out / draws


def sampling_flops(n_params: float, prompt_tokens: int, new_tokens: int, n_samples: int = 1) -> float:
    """Inference FLOPs of ``n_samples`` samples: 2 x n_params per token, prompt and new tokens, each sample."""
    check_positive(n_params, "n_params")
    prompt_tokens = check_int(prompt_tokens, "prompt_tokens", minimum=0)
    new_tokens = check_int(new_tokens, "new_tokens", minimum=1)
    return 2.0 * n_params * (prompt_tokens + new_tokens) * check_int(n_samples, "n_samples", minimum=1)
