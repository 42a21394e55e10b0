"""course_lib.preference: the DPO loss, its closed-form optimum on a toy policy, DPO on a small model."""
import copy
import math

import pytest
import torch

from course_lib.instruct import IGNORE_INDEX, pad_batch
from course_lib.model import GPT, GPTConfig
from course_lib.preference import (check_beta, dpo_loss, fit_toy_policy, logprob_change, optimal_policy,
                                   preference_rows, regularised_reward, sequence_logprobs, toy_preference_loss,
                                   train_dpo)

pytestmark = pytest.mark.usefixtures("one_thread")
PI_REF = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
REWARD = torch.tensor([0.0, 1.0, 2.0, -1.0], dtype=torch.float64)


def test_beta_must_be_positive():
    for bad in (0, -0.1, float("nan"), float("inf"), "0.1", None):
        with pytest.raises(ValueError, match="beta must be a finite number > 0.*KL penalty"):
            check_beta(bad)
    z = torch.zeros(2)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(z, z, z, z, beta=0)
    with pytest.raises(ValueError, match="beta"):
        optimal_policy(PI_REF, REWARD, -1.0)


def test_dpo_loss_is_the_formula():
    pc, pr = torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -2.0])
    rc, rr = torch.tensor([-3.5, -4.0]), torch.tensor([-3.0, -3.0])
    loss, rw_c, rw_r = dpo_loss(pc, pr, rc, rr, beta=0.5)
    by_hand = [-math.log(1 / (1 + math.exp(-0.5 * ((a - c) - (b - d))))) for a, b, c, d in zip(pc, pr, rc, rr)]
    assert loss.item() == pytest.approx(sum(by_hand) / 2, abs=1e-6)
    assert torch.allclose(rw_c, 0.5 * (pc - rc)) and torch.allclose(rw_r, 0.5 * (pr - rr))
    same, _, _ = dpo_loss(rc, rr, rc, rr, beta=0.1)  # the policy is the reference: log 2
    assert same.item() == pytest.approx(math.log(2), abs=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        dpo_loss(pc, pr[:1], rc, rr, beta=0.1)


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_dpo_on_a_toy_policy_reaches_the_closed_form(beta):
    learned = fit_toy_policy(PI_REF, REWARD, beta)
    target = optimal_policy(PI_REF, REWARD, beta)
    assert torch.allclose(target, PI_REF * torch.exp(REWARD / beta) / (PI_REF * torch.exp(REWARD / beta)).sum())
    assert torch.allclose(learned, target, atol=1e-4)
    # the closed form maximises the KL-regularised reward, and its value is beta log Z
    best = regularised_reward(target, PI_REF, REWARD, beta)
    assert best == pytest.approx(beta * math.log((PI_REF * torch.exp(REWARD / beta)).sum().item()), abs=1e-9)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        other = torch.softmax(torch.randn(4, generator=g, dtype=torch.float64), 0)
        assert regularised_reward(other, PI_REF, REWARD, beta) < best
    # and it minimises the expected DPO loss: a nudge in any direction raises it
    at = toy_preference_loss(target.log(), PI_REF, REWARD, beta)
    for i in range(4):
        nudged = target.log().clone()
        nudged[i] += 0.05
        assert toy_preference_loss(nudged, PI_REF, REWARD, beta) > at


def test_small_beta_moves_further_from_the_reference():
    kl = [float((p * (p / PI_REF).log()).sum()) for p in (optimal_policy(PI_REF, REWARD, b) for b in (0.2, 1.0, 5.0))]
    assert kl[0] > kl[1] > kl[2] > 0


def test_sequence_logprobs_sum_the_answer_tokens():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=30, context_length=16, n_layer=1, n_head=2, d_model=16))
    ids, labels = pad_batch([([1, 2, 3, 4], [IGNORE_INDEX, IGNORE_INDEX, 3, 4]), ([5, 6, 7], [IGNORE_INDEX, 6, 7])])
    got = sequence_logprobs(model, ids, labels)
    logp = torch.log_softmax(model(ids)[0], -1)
    assert got[0].item() == pytest.approx((logp[0, 1, 3] + logp[0, 2, 4]).item(), abs=1e-5)
    assert got[1].item() == pytest.approx((logp[1, 0, 6] + logp[1, 1, 7]).item(), abs=1e-5)


def test_dpo_raises_the_chosen_answers_over_the_rejected():
    from course_lib.course_model import load
    from course_lib.instruct import use_course_template

    tok = use_course_template(load()[1])
    torch.manual_seed(0)
    policy = GPT(GPTConfig(vocab_size=4096, context_length=64, n_layer=1, n_head=2, d_model=16))
    reference = copy.deepcopy(policy)
    prompts = [f"What does `f{i}(x)` do?" for i in range(6)]
    pairs = preference_rows(tok, prompts, ["Return x."] * 6, ["Nothing at all here."] * 6)
    history = train_dpo(policy, reference, pairs, steps=30, beta=0.5, batch_size=6, lr=1e-2)
    c, r = pad_batch([p[0] for p in pairs]), pad_batch([p[1] for p in pairs])
    with torch.no_grad():
        margin = (sequence_logprobs(policy, *c) - sequence_logprobs(reference, *c)) - \
                 (sequence_logprobs(policy, *r) - sequence_logprobs(reference, *r))
    assert (margin > 0).all()
    assert history.train_loss[-1] < math.log(2) and history.metrics["accuracy"][-1] == 1.0
    change = logprob_change(policy, reference, pairs)
    assert change["chosen"] - change["rejected"] == pytest.approx(margin.mean().item(), abs=1e-4)
    anchored = copy.deepcopy(reference)
    train_dpo(anchored, reference, pairs, steps=30, beta=0.5, batch_size=6, lr=1e-2, nll_weight=1.0)
    assert logprob_change(anchored, reference, pairs)["chosen"] > change["chosen"]  # the SFT term lifts the chosen
    with pytest.raises(ValueError, match="nll_weight"):
        train_dpo(policy, reference, pairs, steps=1, nll_weight=-1.0)
    with pytest.raises(ValueError, match="pairs is empty"):
        train_dpo(policy, reference, [], steps=1)
    with pytest.raises(ValueError, match="as many prompts"):
        preference_rows(tok, prompts, ["a"], ["b"])


def test_the_run_command_writes_a_consistent_record(tmp_path):
    import json

    from course_lib.preference import main

    out = tmp_path / "run.json"
    assert main(["run", "--out", str(out), "--n-prompts", "6", "--steps", "2", "--sft-steps", "2",
                 "--batch-size", "2"]) == 0
    record = json.loads(out.read_text())
    assert record["settings"]["steps"] == 2 and record["command"].startswith("python -m course_lib.preference run")
    for p in record["pairs"]:
        assert p["chosen_rouge"] > p["rejected_rouge"] and p["chosen"] and p["rejected"]
    held = record["held_out"]
    assert len(held["prompts"]) == len(held["references"]) == len(held["sft"]) == len(held["dpo"]) == 207
    assert len(held["dpo_nll"]) == 207 and record["runs"]["dpo_nll"]["nll_weight"] == 1.0
    history = record["runs"]["dpo"]["history"]
    assert len(history["train_loss"]) == len(history["accuracy"])
    assert set(record["runs"]["dpo"]["logprob_change"]) == {"chosen", "rejected"}


def test_the_stored_run_is_what_the_command_makes():
    """data/dpo_docstrings.json (chapter 08c): default settings, and its scores recompute from its answers."""
    import inspect
    import json
    import pathlib

    from course_lib.instruct import course_model_split, rouge_l
    from course_lib.preference import docstring_dpo_run

    record = json.loads((pathlib.Path(__file__).resolve().parents[1] / "data" / "dpo_docstrings.json").read_text())
    defaults = {k.replace("-", "_"): v.default for k, v in inspect.signature(docstring_dpo_run).parameters.items()}
    assert record["settings"] == defaults
    pairs = record["pairs"]
    assert len(pairs) > 100
    for side in ("chosen", "rejected"):
        recomputed = rouge_l([p[side] for p in pairs], [p["reference"] for p in pairs])
        assert recomputed == pytest.approx([p[f"{side}_rouge"] for p in pairs])
    _, held = course_model_split()
    assert record["held_out"]["prompts"] == [e.prompt for e in held]
    assert record["held_out"]["references"] == [e.answer for e in held]
