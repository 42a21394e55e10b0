"""Preference tuning with DPO (Rafailov et al. 2023), written out and checked against its closed form.

RLHF (Ouyang et al. 2022) fits a reward model r(x, y) to human comparisons "y_w is better
than y_l" (Bradley-Terry: P(y_w > y_l) = sigmoid(r_w - r_l)), then maximises, with the SFT
model as the reference pi_ref,

    E_{y ~ pi}[ r(x, y) ] - beta * KL( pi(. | x) || pi_ref(. | x) ).

That objective has a closed-form optimum, pi*(y | x) = pi_ref(y | x) exp(r(x, y) / beta) / Z(x)
(``optimal_policy``). DPO turns it around: r = beta log(pi* / pi_ref) + beta log Z, and the
Z cancels in a difference, so the reward model's Bradley-Terry loss becomes a loss on the
policy itself,

    L_DPO = -log sigmoid( beta [ (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)) ] ),

with no reward model and no sampling during training. beta > 0: small beta lets the policy
move far from the reference, large beta keeps it close.

* ``dpo_loss``: the loss from four log-probabilities per pair (as TRL's ``DPOTrainer``,
  sigmoid loss, no label smoothing).
* ``toy_preference_loss`` and ``fit_toy_policy``: a one-prompt, K-answer softmax policy
  trained on the expected DPO loss under Bradley-Terry preferences; it converges to
  ``optimal_policy`` (the tests check it, and that no other policy scores higher on the
  KL-regularised objective, ``regularised_reward``).
* ``sequence_logprobs``, ``preference_rows``, ``train_dpo``: DPO on a language model with
  the course's training loop; the reference's log-probabilities are computed once, before
  training, as in practice.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .adapter import inference, model_logits
from .instruct import IGNORE_INDEX, check_examples, pad_batch, sft_tokens
from .train import History, train_loop
from .validation import check_int, check_positive

__all__ = ["check_beta", "dpo_loss", "optimal_policy", "regularised_reward", "toy_preference_loss",
           "fit_toy_policy", "sequence_logprobs", "preference_rows", "train_dpo", "logprob_change", "RUN_COMMAND", "docstring_dpo_run",
           "main"]


def check_beta(beta) -> float:
    """``beta`` as a float; ValueError, saying what beta does, unless it is a finite number > 0."""
    try:
        return check_positive(beta, "beta")
    except ValueError:
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}: it is the weight of the KL penalty that keeps "
                         "the policy near the reference (beta -> 0 lets it collapse onto the preferred answers, large "
                         "beta keeps it at the reference). DPO papers use 0.01 to 0.5; try 0.1.") from None


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DPO loss of a batch of pairs, and the implicit rewards.

    Args:
        policy_chosen, policy_rejected: (B,) log pi(y_w | x) and log pi(y_l | x), summed over
            each answer's tokens, in nats.
        ref_chosen, ref_rejected: (B,) the same under the frozen reference model.
        beta: the KL weight, > 0.

    Returns:
        loss: 0-d, the mean of -log sigmoid(beta (Delta_w - Delta_l)), Delta = log pi - log pi_ref.
        chosen_reward, rejected_reward: (B,) beta * Delta_w and beta * Delta_l, the implicit
            rewards (what TRL logs as rewards/chosen and rewards/rejected).
    """
    beta = check_beta(beta)
    tensors = (policy_chosen, policy_rejected, ref_chosen, ref_rejected)
    if any(not isinstance(t, torch.Tensor) or t.shape != policy_chosen.shape for t in tensors):
        raise ValueError("give four log-probability tensors of the same shape (B,): policy and reference, chosen "
                         "and rejected.")
    chosen_reward = beta * (policy_chosen - ref_chosen)  # (B,)
    rejected_reward = beta * (policy_rejected - ref_rejected)  # (B,)
    loss = -F.logsigmoid(chosen_reward - rejected_reward).mean()
    return loss, chosen_reward.detach(), rejected_reward.detach()


# ----------------------------------------------------------------------------- the toy policy


def _as_distribution(p, name: str) -> torch.Tensor:
    p = torch.as_tensor(p, dtype=torch.float64)
    if p.dim() != 1 or p.numel() < 2 or bool((p <= 0).any()) or not torch.isclose(p.sum(), p.new_tensor(1.0)):
        raise ValueError(f"{name} must be a 1-D probability vector over at least 2 answers, every entry > 0, summing to 1.")
    return p


def optimal_policy(pi_ref, rewards, beta: float) -> torch.Tensor:
    """The maximiser of E_pi[r] - beta KL(pi || pi_ref): pi_ref * exp(r / beta), normalised. (K,) float64."""
    pi_ref, beta = _as_distribution(pi_ref, "pi_ref"), check_beta(beta)
    r = torch.as_tensor(rewards, dtype=torch.float64)
    if r.shape != pi_ref.shape:
        raise ValueError(f"rewards must have one entry per answer, shape {tuple(pi_ref.shape)}, got {tuple(r.shape)}.")
    return torch.softmax(pi_ref.log() + r / beta, dim=0)


def regularised_reward(pi, pi_ref, rewards, beta: float) -> float:
    """E_{y ~ pi}[r(y)] - beta KL(pi || pi_ref): what RLHF maximises (nats-scaled reward units)."""
    pi, pi_ref, beta = _as_distribution(pi, "pi"), _as_distribution(pi_ref, "pi_ref"), check_beta(beta)
    r = torch.as_tensor(rewards, dtype=torch.float64)
    return float((pi * r).sum() - beta * (pi * (pi / pi_ref).log()).sum())


def toy_preference_loss(logits: torch.Tensor, pi_ref, rewards, beta: float) -> torch.Tensor:
    """Expected DPO loss of the softmax policy ``softmax(logits)`` (K,) over every ordered pair of answers.

    Each pair (i, j), i != j, is labelled "i preferred" with the Bradley-Terry probability
    sigmoid(r_i - r_j), and contributes that probability times the DPO loss of (y_w = i,
    y_l = j). The mean over pairs; minimised exactly at ``optimal_policy(pi_ref, rewards, beta)``.
    """
    beta, pi_ref = check_beta(beta), _as_distribution(pi_ref, "pi_ref")
    r = torch.as_tensor(rewards, dtype=torch.float64)
    log_ratio = torch.log_softmax(logits.double(), dim=0) - pi_ref.log()  # (K,) log pi - log pi_ref
    margin = beta * (log_ratio[:, None] - log_ratio[None, :])  # (K, K): i preferred over j
    p_prefer = torch.sigmoid(r[:, None] - r[None, :])  # (K, K) Bradley-Terry
    off_diagonal = ~torch.eye(len(r), dtype=torch.bool)
    return -(p_prefer * F.logsigmoid(margin))[off_diagonal].mean()


def fit_toy_policy(pi_ref, rewards, beta: float, steps: int = 500, lr: float = 0.1) -> torch.Tensor:
    """Train a softmax policy, started at ``pi_ref``, on ``toy_preference_loss`` with Adam; returns pi (K,) float64."""
    pi_ref = _as_distribution(pi_ref, "pi_ref")
    logits = pi_ref.log().clone().requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=check_positive(lr, "lr"))
    for _ in range(check_int(steps, "steps", minimum=1)):
        opt.zero_grad()
        toy_preference_loss(logits, pi_ref, rewards, beta).backward()
        opt.step()
    return torch.softmax(logits.detach(), dim=0)


# ----------------------------------------------------------------------------- DPO on a language model


def sequence_logprobs(model, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log pi(answer | prompt) of each row: the sum of the answer tokens' log-probabilities, (B,) nats.

    ``ids`` and ``labels`` (B, T) as ``course_lib.instruct.pad_batch`` makes them: labels
    aligned with the inputs, -100 on the prompt and the padding. Keeps gradients.
    """
    logits = model_logits(model, ids)[:, :-1].float()  # (B, T-1, V): position t predicts token t + 1
    target = labels[:, 1:].to(logits.device)  # (B, T-1)
    scored = target != IGNORE_INDEX
    logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp(min=0)[..., None]).squeeze(-1)  # (B, T-1)
    return (logp * scored).sum(dim=1)


def preference_rows(tokenizer, prompts, chosen, rejected, system: str | None = None) -> list[tuple]:
    """Tokenized pairs: ``[(chosen_row, rejected_row), ...]``, each row ``(input_ids, labels)`` from ``sft_tokens``."""
    if not (len(prompts) == len(chosen) == len(rejected)) or not prompts:
        raise ValueError(f"need as many prompts as chosen and rejected answers, at least one; got {len(prompts)}, "
                         f"{len(chosen)} and {len(rejected)}.")
    check_examples(list(zip(prompts, chosen)), "(prompt, chosen) pairs")
    check_examples(list(zip(prompts, rejected)), "(prompt, rejected) pairs")
    return [(sft_tokens(tokenizer, p, c, system), sft_tokens(tokenizer, p, r, system))
            for p, c, r in zip(prompts, chosen, rejected)]


def _reference_logprobs(reference, pairs, batch_size: int = 32) -> torch.Tensor:
    out = []
    with inference(reference):
        for i in range(0, len(pairs), batch_size):
            chunk = pairs[i : i + batch_size]
            c, r = pad_batch([p[0] for p in chunk]), pad_batch([p[1] for p in chunk])
            out.append(torch.stack([sequence_logprobs(reference, *c), sequence_logprobs(reference, *r)], dim=1))
    return torch.cat(out)  # (n, 2): chosen, rejected


def train_dpo(policy, reference, pairs, steps: int, beta: float = 0.1, batch_size: int = 16, lr: float = 1e-4,
              nll_weight: float = 0.0, seed: int = 0, num_threads: int | None = None,
              progress: bool = False) -> History:
    """DPO with ``course_lib.train.train_loop``: each step, ``batch_size`` random pairs, one AdamW step on ``dpo_loss``.

    ``pairs`` comes from ``preference_rows``; ``reference`` is the frozen starting model (a
    copy of ``policy`` before training), whose log-probabilities are computed once here.
    ``nll_weight`` > 0 adds that multiple of the chosen answers' SFT loss (nats per token),
    which keeps their likelihood from falling (Pang et al. 2024's "RPO"). ``History.metrics``
    records, at each evaluation, the mean implicit reward margin and the share of the batch's
    pairs whose chosen answer has the larger implicit reward.
    """
    if not pairs:
        raise ValueError("pairs is empty: make some with preference_rows(tokenizer, prompts, chosen, rejected).")
    beta, batch_size = check_beta(beta), check_int(batch_size, "batch_size", minimum=1)
    if not isinstance(nll_weight, (int, float)) or nll_weight < 0:
        raise ValueError(f"nll_weight must be a number >= 0 (0: plain DPO), got {nll_weight!r}.")
    ref = _reference_logprobs(reference, pairs)  # (n, 2)
    last = {}

    def next_batch(step, g):
        pick = torch.randint(len(pairs), (batch_size,), generator=g).tolist()
        c_ids, c_labels = pad_batch([pairs[i][0] for i in pick])
        r_ids, r_labels = pad_batch([pairs[i][1] for i in pick])
        return c_ids, c_labels, r_ids, r_labels, ref[pick, 0], ref[pick, 1]

    def loss_fn(model, batch):
        c_ids, c_labels, r_ids, r_labels, ref_c, ref_r = batch
        chosen = sequence_logprobs(model, c_ids, c_labels)  # (B,)
        loss, rw_c, rw_r = dpo_loss(chosen, sequence_logprobs(model, r_ids, r_labels), ref_c, ref_r, beta)
        last.update(margin=float((rw_c - rw_r).mean()), accuracy=float((rw_c > rw_r).float().mean()))
        if nll_weight:
            loss = loss - nll_weight * chosen.sum() / (c_labels[:, 1:] != IGNORE_INDEX).sum()
        return loss

    return train_loop(policy, next_batch, loss_fn, steps, lr=check_positive(lr, "lr"), eval_every=max(1, steps // 10),
                      on_eval=lambda m: dict(last), seed=seed, num_threads=num_threads, progress=progress, desc="DPO")


def logprob_change(policy, reference, pairs) -> dict[str, float]:
    """Mean change of log pi(answer | prompt) from the reference to the policy, nats: ``{"chosen", "rejected"}``.

    DPO only asks chosen to rise *relative to* rejected; both can fall ("likelihood
    displacement"), which sends probability to answers in neither set.
    """
    now, before = _reference_logprobs(policy, pairs), _reference_logprobs(reference, pairs)  # (n, 2) each
    change = (now - before).mean(dim=0)
    return {"chosen": float(change[0]), "rejected": float(change[1])}


# ----------------------------------------------------------------------------- the stored run of chapter 08c

RUN_COMMAND = "python -m course_lib.preference run --out data/dpo_docstrings.json"


def docstring_dpo_run(n_prompts: int = 400, temperature: float = 0.7, steps: int = 100, beta: float = 0.1,
                      lr: float = 1e-4, batch_size: int = 16, nll_weight: float = 1.0, sft_steps: int = 200,
                      seed: int = 0) -> dict:
    """Chapter 08c's experiment: SFT the course model (08a's recipe), make preference pairs, run DPO twice.

    1. ``sft_course_model`` on ``course_model_split``'s training pairs (``sft_steps`` steps);
    2. for ``n_prompts`` random training questions, two answers sampled from the SFT model at
       ``temperature``; the one whose ROUGE-L F1 against the docstring is higher is "chosen"
       (pairs with equal scores are dropped): a checkable preference, as if a judge ranked them;
    3. from the SFT model (a frozen copy is the reference), ``train_dpo`` twice on the same
       pairs and batches: plain DPO (``"dpo"``) and DPO plus ``nll_weight`` x the chosen
       answers' SFT loss (``"dpo_nll"``);
    4. greedy answers of the SFT model and of both DPO models to the held-out questions, and
       each run's ``logprob_change`` on the training pairs.
    Returns a JSON-ready record: settings, timings (s), the machine, the pairs with their
    references and scores, the held-out prompts, references and answers, the histories.
    """
    import copy
    import datetime
    import platform
    import time

    import numpy as np

    from .instruct import course_model_split, generate_answers, rouge_l, sft_course_model
    from .model import to_hf

    start = time.perf_counter()
    train, held = course_model_split()
    sft, tokenizer, sft_history = sft_course_model(train, steps=sft_steps, seed=seed)
    seconds = {"sft": time.perf_counter() - start}
    picked = [train[i] for i in np.random.default_rng(seed).choice(len(train), n_prompts, replace=False)]
    prompts, references = [e.prompt for e in picked], [e.answer for e in picked]
    sampler = to_hf(sft).eval()
    first = generate_answers(sampler, tokenizer, prompts, temperature=temperature, seed=seed, batch_size=64)
    second = generate_answers(sampler, tokenizer, prompts, temperature=temperature, seed=seed + 100_000, batch_size=64)
    r1, r2 = rouge_l(first, references), rouge_l(second, references)
    pairs = [{"prompt": p, "reference": ref, "chosen": a if s > t else b, "rejected": b if s > t else a,
              "chosen_rouge": max(s, t), "rejected_rouge": min(s, t)}
             for p, ref, a, b, s, t in zip(prompts, references, first, second, r1, r2) if s != t and a and b]
    rows = preference_rows(tokenizer, [x["prompt"] for x in pairs], [x["chosen"] for x in pairs],
                           [x["rejected"] for x in pairs])
    held_prompts = [e.prompt for e in held]
    held_out = {"prompts": held_prompts, "references": [e.answer for e in held],
                "sft": generate_answers(to_hf(sft).eval(), tokenizer, held_prompts)}
    seconds["pairs"] = time.perf_counter() - start - seconds["sft"]
    runs = {}
    for name, weight in (("dpo", 0.0), ("dpo_nll", nll_weight)):
        policy, mark = copy.deepcopy(sft), time.perf_counter()
        history = train_dpo(policy, sft, rows, steps, beta=beta, batch_size=batch_size, lr=lr, nll_weight=weight,
                            seed=seed, num_threads=1)
        seconds[name] = time.perf_counter() - mark
        held_out[name] = generate_answers(to_hf(policy).eval(), tokenizer, held_prompts)
        runs[name] = {"nll_weight": weight, "logprob_change": logprob_change(policy, sft, rows),
                      "history": {"step": history.step, "train_loss": history.train_loss, **history.metrics}}
    seconds["total"] = time.perf_counter() - start
    return {
        "what": "DPO of the SFT course model on docstring questions, pairs ranked by ROUGE-L against the docstring",
        "command": RUN_COMMAND,
        "settings": {"n_prompts": n_prompts, "temperature": temperature, "steps": steps, "beta": beta, "lr": lr,
                     "batch_size": batch_size, "nll_weight": nll_weight, "sft_steps": sft_steps, "seed": seed},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "pairs": pairs,
        "held_out": held_out,
        "sft_history": {"step": sft_history.step, "train_loss": sft_history.train_loss},
        "runs": runs,
    }


def main(argv=None) -> int:
    """``python -m course_lib.preference run --out FILE [--steps N --beta B ...]``: chapter 08c's stored DPO run."""
    import argparse
    import json
    import pathlib

    parser = argparse.ArgumentParser(prog="python -m course_lib.preference",
                                     description=docstring_dpo_run.__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="SFT, preference pairs, DPO; write the record as JSON")
    run.add_argument("--out", required=True, type=pathlib.Path)
    for name, kind, default in (("n-prompts", int, 400), ("temperature", float, 0.7), ("steps", int, 100),
                                ("beta", float, 0.1), ("lr", float, 1e-4), ("batch-size", int, 16),
                                ("nll-weight", float, 1.0), ("sft-steps", int, 200), ("seed", int, 0)):
        run.add_argument(f"--{name}", type=kind, default=default)
    args = parser.parse_args(argv)
    try:
        record = docstring_dpo_run(args.n_prompts, args.temperature, args.steps, args.beta, args.lr, args.batch_size,
                                   args.nll_weight, args.sft_steps, args.seed)
    except ValueError as err:
        print(f"error: {err}")
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}: {len(record['pairs'])} pairs, {record['seconds']['total']:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
