"""Repeated data (course_lib.scaling.repetition): the chunks, the exact passes, Muennighoff et al.'s formula."""
import math

import numpy as np
import pytest
import torch

from course_lib.scaling.repetition import (R_STAR, distinct_chunks, effective_data, fit_r_star, fresh_equivalent,
                                           pass_batches, worth_of_repeats)


def test_effective_data_matches_the_paper():
    # Muennighoff et al. (2023): R* = 15.4; 4 epochs (R = 3 repetitions) are worth about 93% of fresh data
    assert R_STAR == 15.4
    U = 1e9
    assert effective_data(U, 4 * U) / (4 * U) == pytest.approx((1 + 15.4 * (1 - math.exp(-3 / 15.4))) / 4)
    assert 0.93 < effective_data(U, 4 * U) / (4 * U) < 0.935
    assert effective_data(U, 0.5 * U) == 0.5 * U  # no repetition: D' = D
    assert effective_data(U, 1e6 * U) == pytest.approx(U * (1 + 15.4), rel=1e-9)  # the limit U (1 + R*)
    got = effective_data(np.array([U, U]), np.array([2 * U, 16 * U]))
    assert isinstance(got, np.ndarray) and np.all(np.diff(got / np.array([2 * U, 16 * U])) < 0)
    with pytest.raises(ValueError, match="positive"):
        effective_data(0, 10)


def test_chunks_are_spread_nested_and_within_the_text():
    n, chunk = 100_000, 1_000
    big, small = distinct_chunks(n, 40_000, chunk, seed=3), distinct_chunks(n, 10_000, chunk, seed=3)
    assert len(big) == 40 and len(small) == 10 and set(small) <= set(big)
    assert np.all(np.diff(big) > 0) and big.max() + chunk < n
    assert big.min() < n / 4 and big.max() > 3 * n / 4  # from all over the text, not a prefix
    assert not np.array_equal(distinct_chunks(n, 10_000, chunk, seed=4), small)
    with pytest.raises(ValueError, match="more than"):
        distinct_chunks(n, 200_000, chunk)


def test_pass_batches_read_every_window_once_per_pass():
    data = torch.arange(20_000)
    starts = distinct_chunks(len(data), 4_096, 1_024, seed=0)
    next_batch = pass_batches(data, starts, 1_024, batch_size=6, context_length=64)  # 64 windows a pass
    g = torch.Generator().manual_seed(0)
    xs = []
    for step in range(32):  # 192 windows: three passes
        x, y = next_batch(step, g)
        assert x.shape == y.shape == (6, 64) and torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
        xs.append(x[:, 0])
    firsts = torch.cat(xs)
    allowed = {int(s) + 64 * j for s in starts for j in range(16)}
    for k in range(3):
        one_pass = firsts[64 * k: 64 * (k + 1)].tolist()
        assert sorted(one_pass) == sorted(allowed), f"pass {k}"
    assert firsts[:64].tolist() != firsts[64:128].tolist()  # a new order every pass
    with pytest.raises(ValueError, match="multiple of context_length"):
        pass_batches(data, starts, 1_000, 6, 64)


def test_fresh_equivalent_interpolates_in_log_tokens_and_refuses_to_extrapolate():
    D, L = [1e5, 2e5, 4e5], [3.0, 2.5, 2.2]
    assert fresh_equivalent(D, L, 2.5) == pytest.approx(2e5)
    assert fresh_equivalent(D, L, 2.75) == pytest.approx(math.sqrt(1e5 * 2e5))  # halfway in ln D
    assert math.isnan(fresh_equivalent(D, L, 3.5)) and math.isnan(fresh_equivalent(D, L, 2.0))
    with pytest.raises(ValueError, match="must fall"):
        fresh_equivalent(D, [3.0, 3.1, 2.2], 2.5)


def test_fit_r_star_recovers_a_known_constant():
    U = np.array([5e5, 2.5e5, 1.25e5, 6.25e4])
    D = np.full(4, 1e6)
    assert fit_r_star(U, D, effective_data(U, D, 4.0)) == pytest.approx(4.0, rel=1e-5)
    assert fit_r_star(U, D, effective_data(U, D, 15.4)) == pytest.approx(15.4, rel=1e-5)
    with pytest.raises(ValueError, match="undetermined"):
        fit_r_star([1e6], [1e6], [1e6])


def _runs(losses_by_seed):
    D = 1_600
    out = []
    for seed, (fresh, repeated) in losses_by_seed.items():
        for k, loss in enumerate(fresh):  # D/8, D/4, D/2, D
            out.append({"D": D // 2 ** (3 - k), "repeats": 1, "unique_tokens": D // 2 ** (3 - k), "seed": seed,
                        "val_loss": loss})
        for R, loss in zip((2, 4, 8), repeated):
            out.append({"D": D, "repeats": R, "unique_tokens": D // R, "seed": seed, "val_loss": loss})
    return out


def test_worth_of_repeats_reads_each_repeated_run_off_the_fresh_curve():
    runs = _runs({0: ([3.0, 2.8, 2.6, 2.4], [2.6, 2.7, 2.9]), 1: ([3.2, 3.0, 2.8, 2.6], [2.8, 2.9, 3.1])})
    got = worth_of_repeats(runs)
    assert list(got["repeats"]) == [1, 2, 4, 8] and list(got["unique"]) == [1600, 800, 400, 200]
    # mean losses: fresh 3.1, 2.9, 2.7, 2.5 at D/8..D; repeated 2.7 (= fresh at D/2), 2.8 (halfway in ln D), 3.0
    assert got["worth"] == pytest.approx([1.0, 0.5, math.sqrt(0.25 * 0.5), math.sqrt(0.125 * 0.25)])
    assert got["formula"] == pytest.approx([effective_data(1600 / R, 1600) / 1600 for R in (1, 2, 4, 8)])
    again = worth_of_repeats(runs, seeds=[0, 0])  # a seed listed twice: the same as seed 0 alone
    assert again["loss"] == pytest.approx(worth_of_repeats(runs, seeds=[0])["loss"])
    with pytest.raises(ValueError, match="no run has seed"):
        worth_of_repeats(runs, seeds=[7])


def test_worth_read_off_a_law_recovers_the_tokens_that_made_each_loss():
    from course_lib.scaling import ChinchillaLaw, law_equivalent

    law = ChinchillaLaw(E=1.0, A=10.0, B=50.0, alpha=0.3, beta=0.4)
    N, D = 5_000, 1_600
    assert law_equivalent(law, N, float(law.loss(N, 1234.0))) == pytest.approx(1234.0)
    assert math.isnan(law_equivalent(law, N, 1.0))  # below what infinite data reaches
    worth = {2: 0.9, 4: 0.7, 8: 0.5}  # each repeated run made to lose what fresh text of worth * D would
    runs = [{"D": D // k, "repeats": 1, "unique_tokens": D // k, "seed": 0, "N": N, "val_loss": float(law.loss(N, D // k))}
            for k in (1, 2)]
    runs += [{"D": D, "repeats": R, "unique_tokens": D // R, "seed": 0, "N": N, "val_loss": float(law.loss(N, w * D))}
             for R, w in worth.items()]
    got = worth_of_repeats(runs, law=law)
    assert got["worth"] == pytest.approx([1.0, 0.9, 0.7, 0.5], rel=1e-9)
