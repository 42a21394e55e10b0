"""Comparing answers: a win rate with its interval, and a language model as the judge.

Two systems answer the same questions; which is better? Three ways, from most to least
trustworthy:

* **a checkable rule** (the sum is right, the tests pass, the answer matches the reference
  better): ``win_rate(scores_new, scores_old)`` counts wins, ties and losses question by
  question, with a bootstrap interval and a sign test;
* **people**, whose agreement with each other is measured with Cohen's kappa
  (``course_lib.eval_tasks.cohen_kappa``);
* **an LLM as the judge** (Zheng et al. 2023, "Judging LLM-as-a-judge"): show it the
  question and two answers and ask which is better. ``judge_scores`` reads its preference
  from the logits of the two reply tokens ("1" or "2") at its first answer position.
  Judges prefer a position whatever the content (position bias), so every pair is judged
  in both orders (``judge_both_orders``): ``position_bias`` measures how often the first
  slot wins and how often the verdict survives the swap; the sum of the two orders'
  scores cancels a constant preference for a slot. Where the right answer is known, the
  judge's agreement with it is Cohen's kappa (``kappa_interval``, with a bootstrap interval).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .adapter import inference, model_device
from .bootstrap import Interval, bootstrap_interval
from .eval_tasks import cohen_kappa
from .instruct import chat_messages, render_chat
from .validation import check_int

__all__ = ["WinRate", "win_rate", "JUDGE_TEMPLATE", "judge_prompt", "judge_scores", "judge_both_orders",
           "PositionBias", "position_bias", "kappa_interval"]


# ----------------------------------------------------------------------------- win rate by a checkable rule


@dataclass(frozen=True)
class WinRate:
    """Head-to-head result of system A against system B on the same questions.

    Attributes:
        wins, ties, losses: questions where A scored higher, the same, lower.
        rate: (wins + ties / 2) / n, the usual win rate (0.5 = no difference).
        low, high: bootstrap interval of the rate (questions resampled).
        p_value: two-sided sign test of wins against losses (ties left out).
    """

    wins: int
    ties: int
    losses: int
    rate: float
    low: float
    high: float
    p_value: float

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    def __str__(self) -> str:
        return (f"{self.wins} wins, {self.ties} ties, {self.losses} losses: win rate {self.rate:.2f} "
                f"(95% interval {self.low:.2f} to {self.high:.2f}; sign test p = {self.p_value:.2g})")


def win_rate(scores_a, scores_b, tolerance: float = 0.0, n_boot: int = 2000, seed: int = 0) -> WinRate:
    """Win rate of A over B from per-question scores (higher is better); |difference| <= ``tolerance`` is a tie."""
    from scipy.stats import binomtest

    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise ValueError(f"give one score per question for each system, at least 2; got shapes {a.shape} and {b.shape}.")
    diff = a - b
    outcome = np.where(diff > tolerance, 1.0, np.where(diff < -tolerance, 0.0, 0.5))  # (n,)
    wins, losses = int((outcome == 1).sum()), int((outcome == 0).sum())
    interval = bootstrap_interval(np.mean, outcome, n_boot=n_boot, seed=seed)
    p = binomtest(wins, wins + losses, 0.5).pvalue if wins + losses else 1.0
    return WinRate(wins, int((outcome == 0.5).sum()), losses, interval.estimate, interval.low, interval.high, float(p))


# ----------------------------------------------------------------------------- an LLM as the judge


JUDGE_TEMPLATE = ("Question: {question}\n\nAnswer 1: {first}\n\nAnswer 2: {second}\n\n"
                  "Which answer is correct? Reply with the number of the correct answer, 1 or 2.")


def judge_prompt(question: str, first: str, second: str) -> str:
    """The judge's user message: the question, the two answers numbered 1 and 2, and the request."""
    for name, value in (("question", question), ("first", first), ("second", second)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty str, got {value!r:.60}.")
    return JUDGE_TEMPLATE.format(question=question, first=first, second=second)


@torch.no_grad()
def judge_scores(model, tokenizer, questions, firsts, seconds, system: str | None = None, batch_size: int = 8,
                 choices: tuple[str, str] = ("1", "2")) -> np.ndarray:
    """The judge's preference for the first answer: logit("1") - logit("2") at its first reply token, (n,) nats.

    Each prompt is the chat template around ``judge_prompt(q, first, second)`` with the
    generation prompt; batches are left-padded with an attention mask and positions counted
    from each row's first real token. Positive: the judge prefers answer 1.
    """
    if not (len(questions) == len(firsts) == len(seconds)) or not questions:
        raise ValueError(f"give as many questions as first and second answers (at least one); got {len(questions)}, "
                         f"{len(firsts)} and {len(seconds)}.")
    encoded_choices = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in choices]
    if len(encoded_choices) != 2 or any(len(e) != 1 for e in encoded_choices) or encoded_choices[0] == encoded_choices[1]:
        raise ValueError(f"choices must be two different strings of one token each in the judge's vocabulary (such as "
                         f"'1' and '2'); got {choices}.")
    ids = [e[0] for e in encoded_choices]
    texts = [render_chat(tokenizer, chat_messages(judge_prompt(q, a, b), system=system), add_generation_prompt=True)
             for q, a, b in zip(questions, firsts, seconds)]
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ids[0]
    out = []
    with inference(model):
        for i in range(0, len(encoded), check_int(batch_size, "batch_size", minimum=1)):
            chunk = encoded[i : i + batch_size]
            T = max(len(x) for x in chunk)
            x = torch.tensor([[pad] * (T - len(r)) + r for r in chunk], device=model_device(model))  # (B, T) left-padded
            mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in chunk], device=x.device)  # (B, T)
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)  # (B, T): 0 at each row's first real token
            logits = model(input_ids=x, attention_mask=mask, position_ids=positions, use_cache=False,
                           logits_to_keep=1).logits[:, -1]  # (B, V): only the last position's logits are computed
            out.append((logits[:, ids[0]] - logits[:, ids[1]]).float().cpu())
    return torch.cat(out).numpy().astype(float)


def judge_both_orders(model, tokenizer, questions, answers_a, answers_b, **kw) -> tuple[np.ndarray, np.ndarray]:
    """``(score_ab, score_ba)``: the judge's preference for slot 1 with A first, then with B first; (n,) each.

    A is preferred in the first order when score_ab > 0, in the swapped order when
    score_ba < 0; score_ab - score_ba > 0 prefers A with any constant slot preference cancelled.
    """
    return (judge_scores(model, tokenizer, questions, answers_a, answers_b, **kw),
            judge_scores(model, tokenizer, questions, answers_b, answers_a, **kw))


@dataclass(frozen=True)
class PositionBias:
    """How much a judge's verdict depends on where the answers sit.

    Attributes:
        first_slot_rate: share of all 2n verdicts that chose slot 1 (0.5 = no preference
            for a slot, when each answer sits first once).
        consistent_rate: share of the n pairs whose verdict names the same answer in both orders.
        n: pairs.
    """

    first_slot_rate: float
    consistent_rate: float
    n: int

    def __str__(self) -> str:
        return (f"slot 1 chosen in {self.first_slot_rate:.0%} of {2 * self.n} verdicts; the same answer chosen in both "
                f"orders for {self.consistent_rate:.0%} of {self.n} pairs")


def position_bias(score_ab, score_ba) -> PositionBias:
    """``PositionBias`` from ``judge_both_orders``'s two score arrays."""
    ab, ba = np.asarray(score_ab, dtype=float), np.asarray(score_ba, dtype=float)
    if ab.ndim != 1 or ab.shape != ba.shape or ab.size == 0:
        raise ValueError(f"give the two orders' scores for the same pairs; got shapes {ab.shape} and {ba.shape}.")
    first = np.concatenate([ab > 0, ba > 0]).mean()
    consistent = ((ab > 0) != (ba > 0)).mean()  # A first chosen and B-first not chosen, or the reverse
    return PositionBias(float(first), float(consistent), int(ab.size))


def kappa_interval(labels_a, labels_b, n_boot: int = 2000, seed: int = 0) -> Interval:
    """Cohen's kappa between two labellings of the same items, with a bootstrap interval (items resampled)."""
    labels_a, labels_b = list(labels_a), list(labels_b)
    if len(labels_a) != len(labels_b) or len(labels_a) < 2:
        raise ValueError(f"both labellings must cover the same items, at least 2; got {len(labels_a)} and {len(labels_b)}.")
    a, b = np.asarray(labels_a, dtype=object), np.asarray(labels_b, dtype=object)
    return bootstrap_interval(lambda x, y: cohen_kappa(list(x), list(y)), a, b, n_boot=n_boot, seed=seed)
