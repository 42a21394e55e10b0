"""course_lib.test_time: voting, verifiers, pass@k, FLOPs, and the addition task."""
import itertools

import numpy as np
import pytest
import torch

from course_lib.test_time import (ADDER_CHARS, addition_problems, adder_config, encode_sum, majority_vote, pass_at_k,
                                  sample_sums, sampling_flops, selection_accuracy, train_adder, verified_vote)

pytestmark = pytest.mark.usefixtures("one_thread")


class OracleAdder(torch.nn.Module):
    """Logits that put (nearly) all mass on the right next character of "aaa+bbb=ssss" (or on '+' if ``broken``)."""

    def __init__(self, digits=3, broken=False):
        super().__init__()
        self.digits, self.broken = digits, broken

    def forward(self, ids):
        B, T = ids.shape
        logits = torch.zeros(B, T, len(ADDER_CHARS))
        for b in range(B):
            text = "".join(ADDER_CHARS[i] for i in ids[b, : 2 * self.digits + 2].tolist())
            a, rest = text.split("+")
            full = encode_sum(int(a), int(rest[:-1]), self.digits)
            for t in range(T):
                nxt = ADDER_CHARS.index("+") if self.broken else full[min(t + 1, len(full) - 1)]
                logits[b, t, nxt] = 50.0
        return logits


def test_problems_are_distinct_and_respect_the_exclusions():
    test = addition_problems(50, 2, seed=1)
    train = addition_problems(500, 2, seed=2, exclude=test)
    assert len(set(test)) == 50 and not set(test) & set(train)
    assert all(0 <= a < 100 and 0 <= b < 100 for a, b in test + train)
    assert "".join(ADDER_CHARS[i] for i in encode_sum(7, 45, 3)) == "007+045=0052"
    with pytest.raises(ValueError, match="not 10001 distinct"):
        addition_problems(10001, 2)


def test_sample_sums_reads_the_models_digits():
    problems = [(123, 456), (999, 999), (0, 7)]
    got = sample_sums(OracleAdder(), problems, n_samples=4, temperature=1.0, seed=0)
    assert got.shape == (3, 4) and (got == np.array([[579], [1998], [7]])).all()
    assert (sample_sums(OracleAdder(broken=True), problems, 2) == -1).all()  # not digits: -1


def test_majority_and_verified_votes():
    assert majority_vote([3, 5, 5, 3, 1]) == 3  # a tie goes to the first seen
    assert majority_vote([7]) == 7
    assert verified_vote([1, 1, 2, 3], [False, False, True, True]) == 2
    assert verified_vote([1, 1, 2], [False] * 3) == 1  # nothing accepted: vote among all
    with pytest.raises(ValueError, match="at least one"):
        majority_vote([])
    with pytest.raises(ValueError, match="one verdict per answer"):
        verified_vote([1, 2], [True])


def test_pass_at_k_equals_counting_subsets():
    for n, c, k in [(5, 2, 1), (5, 2, 3), (6, 0, 2), (6, 6, 1), (8, 3, 5)]:
        right = [True] * c + [False] * (n - c)
        subsets = list(itertools.combinations(right, k))
        assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
    with pytest.raises(ValueError, match="c <= n"):
        pass_at_k(3, 4, 1)


def test_selection_accuracy():
    samples = np.array([[1, 2, 2, 9], [5, 5, 6, 6], [0, 0, 0, 0]])
    truth = np.array([9, 6, 1])
    assert selection_accuracy(samples, truth, 4, "coverage").tolist() == [1.0, 1.0, 0.0]
    assert selection_accuracy(samples, truth, 4, "majority").tolist() == [0.0, 0.0, 0.0]  # ties go to the first
    cov1 = selection_accuracy(samples, truth, 1, "coverage")
    assert cov1.tolist() == [0.25, 0.5, 0.0]
    maj1 = selection_accuracy(samples, truth, 1, "majority", n_subsets=4000, seed=0)
    assert np.allclose(maj1, cov1, atol=0.03)  # one sample: the vote is that sample
    accepted = samples % 3 == truth[:, None] % 3  # a partial verifier
    assert selection_accuracy(samples, truth, 4, "verified", accepted=accepted).tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="accepted"):
        selection_accuracy(samples, truth, 2, "verified")
    with pytest.raises(ValueError, match="method"):
        selection_accuracy(samples, truth, 2, "best")


def test_sampling_flops():
    assert sampling_flops(1e6, 8, 4, 16) == 2 * 1e6 * 12 * 16
    with pytest.raises(ValueError, match="n_params"):
        sampling_flops(0, 8, 4)


def test_a_small_adder_learns_one_digit_sums():
    test = addition_problems(20, 1, seed=0)
    model, history = train_adder(adder_config(32, 1, digits=1), steps=300, digits=1, batch_size=32, lr=1e-2,
                                 exclude=test)
    truth = np.array([a + b for a, b in test])
    greedy = sample_sums(model, test, 1, digits=1, temperature=0.0)[:, 0]
    assert history.train_loss[-1] < history.train_loss[0] / 3
    assert (greedy == truth).mean() >= 0.5
    with pytest.raises(ValueError, match="adder_config"):
        train_adder(adder_config(16, 1, digits=1), steps=1, digits=3)
