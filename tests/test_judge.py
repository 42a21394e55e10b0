"""course_lib.judge: win rates, position bias, kappa with an interval, and the real model as a judge."""
import numpy as np
import pytest

from course_lib.eval_tasks import cohen_kappa
from course_lib.judge import (judge_both_orders, judge_prompt, judge_scores, kappa_interval, position_bias,
                              win_rate)


def test_win_rate_counts_ties_as_halves():
    result = win_rate([0.9, 0.5, 0.2, 0.7], [0.1, 0.5, 0.4, 0.2])
    assert (result.wins, result.ties, result.losses) == (2, 1, 1)
    assert result.rate == pytest.approx(2.5 / 4) and result.low <= result.rate <= result.high
    assert win_rate([1.0, 1.0], [0.0, 0.0]).rate == 1.0
    many = win_rate(np.ones(200), np.zeros(200))
    assert many.p_value < 1e-10
    close = win_rate([0.50, 0.61], [0.49, 0.60], tolerance=0.02)
    assert close.ties == 2
    with pytest.raises(ValueError, match="one score per question"):
        win_rate([1.0, 2.0], [1.0])


def test_position_bias_and_consistency():
    always_first = position_bias([1.0, 2.0, 0.5], [1.5, 0.2, 3.0])
    assert always_first.first_slot_rate == 1.0 and always_first.consistent_rate == 0.0
    fair = position_bias([1.0, -2.0], [-1.0, 2.0])  # picks A, then B, whatever the order
    assert fair.first_slot_rate == 0.5 and fair.consistent_rate == 1.0
    with pytest.raises(ValueError, match="same pairs"):
        position_bias([1.0], [1.0, 2.0])


def test_kappa_interval():
    a = ["x", "y"] * 20
    perfect = kappa_interval(a, a)
    assert perfect.estimate == 1.0 and perfect.low == 1.0
    rng = np.random.default_rng(0)
    b = [x if rng.random() < 0.8 else ("y" if x == "x" else "x") for x in a]
    k = kappa_interval(a, b, seed=1)
    assert k.estimate == pytest.approx(cohen_kappa(a, b)) and k.low < k.estimate < k.high
    with pytest.raises(ValueError, match="same items"):
        kappa_interval(a, b[:-1])


def test_judge_prompt_and_bad_input():
    text = judge_prompt("What is 2 + 2?", "4", "5")
    assert text.index("Answer 1: 4") < text.index("Answer 2: 5") and text.endswith("1 or 2.")
    with pytest.raises(ValueError, match="first must be a non-empty str"):
        judge_prompt("q", "", "b")


def test_the_real_model_judges_in_batches_and_both_orders(smollm2):
    model, tok = smollm2
    qs = ["What is 12 + 30?", "What does `len(obj)` do?", "What is 7 + 8?"]
    right, wrong = ["42", "Return the number of items of obj.", "15"], ["52", "Open a file.", "16"]
    together = judge_scores(model, tok, qs, right, wrong, batch_size=3)
    alone = np.array([judge_scores(model, tok, [q], [r], [w])[0] for q, r, w in zip(qs, right, wrong)])
    assert np.allclose(together, alone, atol=2e-3)  # left padding with positions from the first real token
    ab, ba = judge_both_orders(model, tok, qs, right, wrong, batch_size=3)
    assert np.allclose(ab, together) and not np.allclose(ab, ba)
    with pytest.raises(ValueError, match="one token"):
        judge_scores(model, tok, qs, right, wrong, choices=("1 or 2", "1"))
    with pytest.raises(ValueError, match="as many questions"):
        judge_scores(model, tok, qs, right[:2], wrong)
