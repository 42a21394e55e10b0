"""Hidden tests for the chapter 08 exercises (``solutions/08_alignment_exercises.ipynb``).

They decide the grade; the learner's notebook never contains them. Each test calls the
learner's function on several inputs, other than those of the notebook's check cells,
including edge cases, and compares with a reference:

| task | points | cases | reference |
|---|---:|---|---|
| ``answer_loss`` | 2 | (B, T, V) random logits with prompt, answer and padding labels; one answer token; no -100 at all; float64; large logits (1e4: a naive softmax overflows); ValueError when every label is -100; must not call ``F.cross_entropy``/``nll_loss`` or ``course_lib.instruct`` | ``F.cross_entropy(..., ignore_index=-100)`` on the shifted logits, float64 |
| ``lora_forward`` | 2 | (N, in), (B, T, in) and (in,) inputs; r = 1, 4, min(out, in); bias None; alpha = r (scaling 1); B = 0 (the frozen layer); must not call ``peft`` or ``course_lib.lora`` | ``x W^T + b + (alpha / r) x A^T B^T`` in float64 |
| ``lora_parameter_count`` | 1 | SmolLM2-135M's q, k, v, o projections (r = 16); GPT-2 small's c_attn and c_fc (r = 8); r = min(out, in); an empty list (0); ValueError for r = 0 and for r > min(out, in) | ``sum r (in + out)`` |
| ``dpo_loss`` | 2 | random batches of 1 and 64 pairs, beta = 0.1, 1, 3; policy = reference (log 2); margins of +-1e4 (no overflow); float64; gradients with respect to the policy's chosen and rejected log-probabilities; ValueError for beta = 0 and beta < 0; must not call ``course_lib.preference`` | ``softplus(-margin).mean()`` and its gradient ``-beta sigmoid(-margin) / B`` |
| ``optimal_policy`` | 1 | K = 2, 5, 50; beta = 0.05, 1, 20; rewards of +-30 with beta = 0.01 (exp(r / beta) overflows in float64); a uniform reference | ``softmax(log pi_ref + r / beta)`` in float64 |
| ``pass_at_k`` | 2 | small n against counting every k-subset; c = 0, c = n, n - c < k; n = 200, k = 100 (float factorials overflow); ValueError for c > n, k > n, k = 0, c < 0 | ``1 - comb(n - c, k) / comb(n, k)`` |
| ``majority_vote`` | 1 | ints, strings, tuples; a single answer; two-way and three-way ties (the earliest wins); ValueError for an empty list | ``Counter`` and the first index of the top count |
| ``position_bias`` | 1 | random scores of 40 pairs; a judge that always prefers slot 1 (1, 0); a judge that never looks at the slot (0.5, 1) | the two shares written out |
| ``compare_at_equal_flops`` | 2 | the grader's own (Q, n) draws; budgets below one big sample (k = 0), between, and above n samples (k capped at n); the learner's verdict must follow its own accuracies | k = min(n, floor(budget / (2 N tokens))); accuracy = mean pass@k |

Tolerances: losses and probabilities ``atol=1e-6, rtol=1e-5`` (float32 inputs) and ``atol=1e-10``
(float64); gradients ``atol=1e-6``; pass@k and accuracies ``atol=1e-9``; counts exact.

``compare_at_equal_flops`` uses the learner's own ``pass_at_k`` only through its result; the
test substitutes the reference ``pass_at_k`` so that a mistake there costs task 6 alone.
"""
from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F

from course_grader.hidden_tests import expect_number, expect_tuple, number, randn
from course_grader.testkit import (
    Forbid, TaskFailed, call, call_with_grad, collect_tasks, expect_close, expect_raises, graded, kind_of,
    learner_function, pyrandom, rng, substitute)

EXERCISE_SET = "08_alignment"

F32 = dict(atol=1e-6, rtol=1e-5)
F64 = dict(atol=1e-10, rtol=1e-10)


# ----------------------------------------------------------------------------- references


def ref_answer_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].double().reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)


def ref_pass_at_k(n: int, c: int, k: int) -> float:
    return 1.0 if n - c < k else 1.0 - math.comb(n - c, k) / math.comb(n, k)


def ref_majority(answers):
    counts = Counter(answers)
    top = max(counts.values())
    return next(a for a in answers if counts[a] == top)


def ref_compare(small, big, n_small, n_big, tokens, budget):
    def accuracy(right, n_params):
        n = right.shape[1]
        k = min(n, int(budget // (2 * n_params * tokens)))
        return (0, 0.0) if k == 0 else (k, float(np.mean([ref_pass_at_k(n, int(c), k) for c in right.sum(axis=1)])))

    return accuracy(small, n_small), accuracy(big, n_big)


# ----------------------------------------------------------------------------- tests


@graded(2, "the SFT loss on the answer tokens only, shifted by one", forbid=Forbid(
    names=("*crossentropy*", "*nllloss*"), modules=("course_lib.instruct",),
    reason="write the masked loss with log_softmax and indexing"))
def test_answer_loss(ns) -> None:
    fn = learner_function(ns, "answer_loss")
    g = rng(11)
    logits = randn(3, 9, 13, seed=12)
    labels = torch.tensor(g.integers(0, 13, size=(3, 9)))
    labels[0, :4] = -100  # prompt
    labels[1, :2] = -100
    labels[1, 7:] = -100  # padding
    labels[2, :8] = -100  # one answer token
    one = torch.full((1, 5), -100)
    one[0, 4] = 6
    cases = [
        ("a batch of 3 (prompt, answer and padding labels)", logits, labels, F32),
        ("one answer token in the whole batch", logits[:1, :5], one, F32),
        ("no -100 at all", logits[:2], torch.tensor(g.integers(0, 13, size=(2, 9))), F32),
        ("float64 logits", logits.double(), labels, F64),
        ("logits of order 1e4 (a softmax without the max trick overflows)", logits * 1e4, labels, dict(atol=1e-2, rtol=1e-5)),
    ]
    for label, lg, lb, tol in cases:
        got = call(fn, lg, lb)
        expect_close(got, ref_answer_loss(lg, lb).to(lg.dtype), f"answer_loss on {label}", **tol)
    expect_raises(ValueError, fn, logits, torch.full((3, 9), -100), what="answer_loss with every label -100")


@graded(2, "a LoRA layer: the frozen layer plus (alpha / r) B A x", forbid=Forbid(
    modules=("peft", "course_lib.lora"), reason="write the low-rank update yourself"))
def test_lora_forward(ns) -> None:
    fn = learner_function(ns, "lora_forward")
    cases = [("(7, 10) inputs, out 6, r = 4, alpha = 8", (7, 10), 6, 4, 8.0, True),
             ("(2, 5, 10) inputs, r = 1, alpha = 1", (2, 5, 10), 6, 1, 1.0, True),
             ("(10,) input, r = min(out, in) = 6, alpha = 6 (scaling 1), no bias", (10,), 6, 6, 6.0, False),
             ("(4, 3) inputs, out 9, r = 2, alpha = 16, no bias", (4, 3), 9, 2, 16.0, False)]
    for i, (label, shape, out_f, r, alpha, with_bias) in enumerate(cases):
        in_f = shape[-1]
        x, W = randn(*shape, seed=20 + i), randn(out_f, in_f, seed=30 + i)
        b = randn(out_f, seed=40 + i) if with_bias else None
        A, B = randn(r, in_f, seed=50 + i), randn(out_f, r, seed=60 + i)
        expected = x.double() @ W.double().T + (b.double() if b is not None else 0) \
            + (alpha / r) * (x.double() @ A.double().T) @ B.double().T
        expect_close(call(fn, x, W, b, A, B, alpha), expected.float(), f"lora_forward on {label}", **F32)
    x, W, A = randn(5, 8, seed=70), randn(3, 8, seed=71), randn(2, 8, seed=72)
    expect_close(call(fn, x, W, None, A, torch.zeros(3, 2), 4.0), x @ W.T, "lora_forward with B = 0 (the frozen layer)",
                 **F32)


@graded(1, "LoRA's trainable parameters, r (in + out) per matrix")
def test_lora_parameter_count(ns) -> None:
    fn = learner_function(ns, "lora_parameter_count")
    smollm2 = [(576, 576), (192, 576), (192, 576), (576, 576)] * 30
    gpt2 = [(2304, 768), (3072, 768)] * 12
    cases = [("SmolLM2-135M's q, k, v, o projections, r = 16", smollm2, 16, 16 * 30 * (1152 + 768 + 768 + 1152)),
             ("GPT-2 small's c_attn and c_fc, r = 8", gpt2, 8, 8 * 12 * (3072 + 3840)),
             ("r = min(out, in) = 3 on a 3 x 7 matrix", [(3, 7)], 3, 30),
             ("no matrices", [], 4, 0)]
    for label, shapes, r, expected in cases:
        got = number(call(fn, shapes, r), f"lora_parameter_count for {label}")
        if got != expected:
            raise TaskFailed(f"lora_parameter_count for {label}: expected {expected}, got {got:g}")
    expect_raises(ValueError, fn, [(8, 8)], 0, what="lora_parameter_count with r = 0")
    expect_raises(ValueError, fn, [(64, 64), (3, 7)], 4, what="lora_parameter_count with r = 4 on a 3 x 7 matrix")


@graded(2, "the DPO loss, stable, with its gradient", forbid=Forbid(
    modules=("course_lib.preference",), reason="write the DPO loss yourself"))
def test_dpo_loss(ns) -> None:
    fn = learner_function(ns, "dpo_loss")
    for i, (B, beta) in enumerate([(1, 0.1), (64, 1.0), (16, 3.0)]):
        pc, pr, rc, rr = (randn(B, seed=80 + 4 * i + j, scale=5.0) - 20 for j in range(4))
        margin = beta * ((pc - rc) - (pr - rr))
        expected = F.softplus(-margin.double()).mean()
        what = f"dpo_loss on {B} pair(s), beta = {beta}"
        value, has_grad, grads = call_with_grad(fn, (pc, pr, rc, rr, beta), {}, grad_args=(0, 1))
        expect_close(value, expected.float(), what, **F32)
        if not has_grad or grads[0] is None or grads[1] is None:
            raise TaskFailed(f"{what}: the loss must be differentiable in the policy's log-probabilities "
                             "(no .item(), no float(), no torch.no_grad())")
        d_chosen = (-beta * torch.sigmoid(-margin.double()) / B).float()
        expect_close(grads[0], d_chosen, f"{what}: gradient with respect to policy_chosen", atol=1e-6, rtol=1e-4)
        expect_close(grads[1], -d_chosen, f"{what}: gradient with respect to policy_rejected", atol=1e-6, rtol=1e-4)
    same = randn(5, seed=95) - 10
    expect_close(call(fn, same, same - 1, same, same - 1, 0.7), torch.tensor(math.log(2)),
                 "dpo_loss with the policy equal to the reference (log 2)", **F32)
    big = torch.tensor([1e4, -1e4], dtype=torch.float64)
    zero = torch.zeros(2, dtype=torch.float64)
    expect_close(call(fn, big, zero, zero, zero, 1.0), torch.tensor(5e3, dtype=torch.float64),
                 "dpo_loss with margins +1e4 and -1e4 (float64): softplus, not log(sigmoid)", **F64)
    for bad in (0.0, -0.5):
        expect_raises(ValueError, fn, same, same, same, same, bad, what=f"dpo_loss with beta = {bad}")


@graded(1, "the KL-regularised optimum pi_ref exp(r / beta) / Z, without overflow")
def test_optimal_policy(ns) -> None:
    fn = learner_function(ns, "optimal_policy")
    g = rng(100)
    for K, beta in [(2, 1.0), (5, 0.05), (50, 20.0)]:
        pi_ref = torch.tensor(g.dirichlet(np.ones(K)), dtype=torch.float64)
        r = torch.tensor(g.normal(0, 1, K), dtype=torch.float64)
        expected = torch.softmax(pi_ref.log() + r / beta, 0)
        expect_close(call(fn, pi_ref, r, beta), expected, f"optimal_policy with K = {K}, beta = {beta}", **F64)
    pi_ref = torch.full((4,), 0.25, dtype=torch.float64)
    r = torch.tensor([30.0, -30.0, 29.0, 0.0], dtype=torch.float64)
    expect_close(call(fn, pi_ref, r, 0.01), torch.softmax(r / 0.01, 0),
                 "optimal_policy with rewards +-30 and beta = 0.01 (exp(3000) overflows: work with logs)", **F64)


@graded(2, "unbiased pass@k (Chen et al. 2021)")
def test_pass_at_k(ns) -> None:
    fn = learner_function(ns, "pass_at_k")
    for n, c, k in [(4, 1, 2), (6, 2, 3), (7, 3, 1), (8, 5, 2)]:  # against counting every k-subset
        right = [True] * c + [False] * (n - c)
        subsets = list(itertools.combinations(right, k))
        expect_number(call(fn, n, c, k), sum(any(s) for s in subsets) / len(subsets), f"pass_at_k({n}, {c}, {k})",
                      atol=1e-9)
    g = pyrandom(110)
    for n, c, k in [(10, 0, 3), (10, 10, 1), (10, 8, 3), (200, 3, 100), (500, g.randint(1, 20), g.randint(1, 300))]:
        expect_number(call(fn, n, c, k), ref_pass_at_k(n, c, k), f"pass_at_k({n}, {c}, {k})", atol=1e-9)
    for bad in [(3, 4, 1), (3, 1, 4), (3, 1, 0), (3, -1, 1)]:
        expect_raises(ValueError, fn, *bad, what=f"pass_at_k{bad}")


@graded(1, "the most common answer, ties to the earliest")
def test_majority_vote(ns) -> None:
    fn = learner_function(ns, "majority_vote")
    g = pyrandom(120)
    drawn = [g.randint(0, 4) for _ in range(25)]
    cases = [("25 random ints", drawn), ("one answer", [1579]), ("strings", ["b", "a", "c", "a", "b", "a"]),
             ("a two-way tie, 9 first", [9, 2, 2, 9, 5]), ("a three-way tie", ["x", "y", "z"]),
             ("tuples", [(1, 2), (3, 4), (1, 2)])]
    for label, answers in cases:
        got = call(fn, answers)
        if isinstance(got, list):
            got = tuple(got)
        if got != ref_majority(answers):
            raise TaskFailed(f"majority_vote on {label} {answers}: expected {ref_majority(answers)!r}, got {got!r}")
    expect_raises(ValueError, fn, [], what="majority_vote([])")


@graded(1, "a judge's share of slot-1 verdicts and of swap-consistent pairs")
def test_position_bias(ns) -> None:
    fn = learner_function(ns, "position_bias")
    ab, ba = randn(40, seed=130), randn(40, seed=131) + 0.5
    cases = [("40 random pairs", ab, ba, ((ab > 0).sum() + (ba > 0).sum()).item() / 80, ((ab > 0) != (ba > 0)).float().mean().item()),
             ("a judge that always prefers slot 1", ab.abs() + 0.1, ba.abs() + 0.1, 1.0, 0.0),
             ("a judge that always prefers A, whatever the slot", ab.abs() + 0.1, -ba.abs() - 0.1, 0.5, 1.0)]
    for label, x, y, first, consistent in cases:
        got = expect_tuple(call(fn, x, y), ("first_slot_rate", "consistent_rate"), f"position_bias on {label}")
        expect_number(got[0], first, f"position_bias on {label}: first_slot_rate", atol=1e-6)
        expect_number(got[1], consistent, f"position_bias on {label}: consistent_rate", atol=1e-6)


@graded(2, "a judgement: a small model sampling more, or a bigger model, at equal FLOPs")
def test_compare_at_equal_flops(ns) -> None:
    fn = learner_function(ns, "compare_at_equal_flops")
    g = rng(140)
    p_small = g.beta(0.7, 2.5, 60)
    small = g.random((60, 32)) < p_small[:, None]
    big = g.random((60, 32)) < np.clip(p_small * 3, 0, 0.97)[:, None]
    n_small, n_big, tokens = 30_000, 120_000, 10
    one_big = 2 * n_big * tokens
    with substitute(ns, pass_at_k=ref_pass_at_k):
        for budget in (0.5 * one_big, 1.0 * one_big, 3.7 * one_big, 50.0 * one_big):
            what = f"compare_at_equal_flops at a budget of {budget:.3g} FLOPs (one big sample costs {one_big:,})"
            got = call(fn, small, big, n_small, n_big, tokens, budget)
            keys = {"k_small", "k_big", "accuracy_small", "accuracy_big", "better"}
            if not isinstance(got, dict) or not keys <= set(got):
                raise TaskFailed(f"{what}: expected a dict with {sorted(keys)}, got {kind_of(got)}")
            (k_s, a_s), (k_b, a_b) = ref_compare(small, big, n_small, n_big, tokens, budget)
            for key, expected in (("k_small", k_s), ("k_big", k_b)):
                if number(got[key], f"{what}: {key}") != expected:
                    raise TaskFailed(f"{what}: {key} should be {expected} (the most samples whose FLOPs fit, at most "
                                     f"n = 32), got {got[key]!r}")
            expect_number(got["accuracy_small"], a_s, f"{what}: accuracy_small", atol=1e-9)
            expect_number(got["accuracy_big"], a_b, f"{what}: accuracy_big", atol=1e-9)
            mine_s, mine_b = number(got["accuracy_small"], "accuracy_small"), number(got["accuracy_big"], "accuracy_big")
            verdict = "small" if mine_s > mine_b else "big" if mine_b > mine_s else "tie"
            if got["better"] != verdict:
                raise TaskFailed(f"{what}: 'better' should be {verdict!r}, the verdict of your own accuracies "
                                 f"({mine_s:.4f} small, {mine_b:.4f} big), got {got['better']!r}")


TASKS = collect_tasks(globals())
