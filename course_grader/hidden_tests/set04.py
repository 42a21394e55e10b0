"""Hidden tests for the chapter 04 exercises (``solutions/04_training_exercises.ipynb``).

They decide the grade; the learner's notebook never contains them. Each test calls the
learner's function on several inputs, other than those of the notebook's check cells,
including edge cases, and compares with torch or with the course's own implementation:

| task | points | cases | reference |
|---|---:|---|---|
| ``deduplicate`` | 1 | no copies; copies far apart; every document equal; an empty list; the empty string as a document; copies that differ only in case, a trailing space or Unicode form (NFC "é" vs NFD "e" + accent) are *different* documents; a tuple as input; must not call ``course_lib.preprocess.deduplicate`` | ``course_lib.preprocess.deduplicate`` (``kept``, ``removed``) |
| ``cross_entropy`` | 3 | (N, V) and (B, T, V) logits; float32 and float64; logits of +-1e4 (float32) and 1e3 (float64), where a naive ``exp`` overflows; V = 1; targets 0 and V - 1; ``ignore_index`` -100 and a custom one (0) with most positions ignored; one position; the gradient with respect to the logits; must not call torch's cross-entropy, NLL, (log-)softmax or logsumexp | ``F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=...)`` |
| ``adamw_update`` | 3 | 5 to 12 successive steps with changing gradients; (3, 4) float32 with torch's defaults; float64 with betas (0.9, 0.95) and weight decay 0.1; no weight decay; a zero gradient; a 0-dim parameter; gradients of 1e4 and of 1e-9 (where eps matters); parameter and both moments compared after every step; inputs left unchanged; must not call ``torch.optim.Adam``/``AdamW`` or their functional and fused kernels | ``torch.optim.AdamW`` and its ``exp_avg``, ``exp_avg_sq`` state |
| ``lr_at`` | 2 | every step from 0 to ``total_steps + 5`` for: warm-up 10 of 100 with ``min_lr = max_lr / 10``; no warm-up with ``min_lr = 0``; 1 warm-up step of 2; warm-up as long as training; ``min_lr = max_lr`` (flat after warm-up); a Python number must come back | ``course_lib.train.lr_at`` |
| ``training_step`` | 2 | three steps on a tiny ``course_lib.model.GPT``: AdamW with two parameter groups (the ``lr`` must reach both) and stale gradients left in ``.grad`` before the first step; SGD with a clip of 0.05 (clipping is visible) and without clipping (``grad_clip=None``); the returned loss and every parameter after every step | the same step written with ``torch.nn.utils.clip_grad_norm_`` on a copy of the model |
| ``flops_and_mfu`` | 2 | ``training_flops_per_token`` for five GPT shapes (1 to 4 layers, widths 8 to 128, contexts 8 to 256, vocabularies 65 to 1024) and GPT-3 175B; ``mfu`` on four cases; ``ValueError`` for a peak of 0 or below | ``GPT(config).flops_per_token()`` with ``n_matmul = num_params() + d_model * vocab_size``; ``course_lib.compute.mfu`` |

Tolerances, per element, ``|got - expected| <= atol + rtol * |expected|``:

- deduplication: exact (the same documents in the same order, the same indices);
- cross-entropy: float32 atol 1e-5, rtol 1e-5 (atol 2e-3 for the logits of +-1e4, which float32 resolves
  only to about 1e-3); float64 atol 1e-12, rtol 1e-10 (the loss and its gradient);
- AdamW: float32 atol 1e-6, rtol 1e-5; float64 atol 1e-12, rtol 1e-10, after every step;
- learning rate: rtol 1e-9, atol 1e-15;
- training step: loss rtol 1e-5; parameters float32 atol 1e-6, rtol 1e-5 after every step;
- FLOPs and MFU: rtol 1e-9.

No task builds on another, so no reference has to be substituted (``testkit.substitute``);
each test names the first case that failed.
"""
from __future__ import annotations

import functools
import math
import numbers

import torch
import torch.nn.functional as F

from course_lib import compute as ref_compute
from course_lib import preprocess as ref_preprocess
from course_lib import train as ref_train
from course_lib.model import GPT, GPTConfig
from course_grader.hidden_tests import expect_sweep, randn
from course_grader.testkit import (
    Forbid, TaskFailed, call, call_with_grad, collect_tasks, derive_seed, expect_close, expect_raises, expect_tensor,
    generator, graded, kind_of, learner_function, substitute)

EXERCISE_SET = "04_training"

CE_TOL = {torch.float32: dict(atol=1e-5, rtol=1e-5), torch.float64: dict(atol=1e-12, rtol=1e-10)}
ADAM_TOL = {torch.float32: dict(atol=1e-6, rtol=1e-5), torch.float64: dict(atol=1e-12, rtol=1e-10)}
LR_TOL = dict(rel_tol=1e-9, abs_tol=1e-15)
FLOP_TOL = dict(rel_tol=1e-9, abs_tol=0.0)



def _on_one_thread(test):
    """Run ``test`` on one torch thread (restored afterwards). Its tensors are tiny, and on a busy
    machine two threads spin-waiting for each other made the training-step test 30 times slower."""

    @functools.wraps(test)
    def wrapper(ns: dict) -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            test(ns)
        finally:
            torch.set_num_threads(before)

    return wrapper



def _number(got, what: str) -> float:
    """``got`` as a float; it must be a real number (a Python or numpy scalar, or a 0-dim tensor)."""
    if isinstance(got, torch.Tensor) and got.dim() == 0 and got.is_floating_point():
        return float(got)
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        extra = " (did the function forget to `return`?)" if got is None else ""
        raise TaskFailed(f"{what}: expected a number, got {kind_of(got)}{extra}")
    return float(got)


def _expect_number(got, expected: float, what: str, rel_tol: float, abs_tol: float) -> None:
    value = _number(got, what)
    if math.isnan(value) or not math.isclose(value, expected, rel_tol=rel_tol, abs_tol=abs_tol):
        raise TaskFailed(f"{what}: expected {expected:.10g}, got {value:.10g} (tolerance rtol={rel_tol:g})")


# ----------------------------------------------------------------------------- deduplicate


@graded(1, "exact deduplication, first occurrences kept", forbid=Forbid(
    names=("deduplicate",), modules=("course_lib.preprocess",), reason="write the deduplication yourself"))
def test_deduplicate(ns: dict) -> None:
    dedup = learner_function(ns, "deduplicate")
    nfc, nfd = "caf\u00e9 au lait", "cafe\u0301 au lait"
    cases = [
        ("no copies", ["a", "b", "c"]),
        ("copies far apart", ["Internal function.", "x", "y", "Return x.", "z", "Internal function.", "Return x.",
                              "w", "Internal function."]),
        ("every document equal", ["same"] * 5),
        ("an empty list", []),
        ("the empty string as a document, twice", ["", "a", "", "b"]),
        ("case, a trailing space and the Unicode form make documents different",
         ["Return x.", "return x.", "Return x. ", nfc, nfd, "Return x.", nfc]),
        ("a tuple of documents", ("p", "q", "p")),
    ]
    for label, docs in cases:
        what = f"deduplicate with {label}"
        got = call(dedup, docs)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            kind = (f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list))
                    else kind_of(got))
            raise TaskFailed(f"{what}: expected a tuple (kept, removed), got {kind}")
        kept, removed = got
        expected = ref_preprocess.deduplicate(list(docs))
        if not isinstance(kept, (list, tuple)) or not isinstance(removed, (list, tuple)):
            raise TaskFailed(f"{what}: kept and removed should be lists, got {type(kept).__name__} and "
                             f"{type(removed).__name__}")
        if list(kept) != list(expected.kept):
            n, m = len(kept), len(expected.kept)
            hint = (" (too few: documents that differ in case, spaces or Unicode form are not exact copies)"
                    if n < m else " (too many: some copies were kept)" if n > m else
                    " (same number, but not the first occurrences in their original order)")
            raise TaskFailed(f"{what}: expected {m} kept documents, got {n}{hint}")
        if [int(i) for i in removed] != list(expected.removed):
            raise TaskFailed(f"{what}: expected removed indices {list(expected.removed)}, got {list(removed)} "
                             "(indices into the input, in increasing order)")


# ----------------------------------------------------------------------------- cross-entropy

CE_FORBID = Forbid(names=("*softmax*", "*logsumexp*", "*crossentropy*", "*nllloss*", "softmin"),
                   reason="cross_entropy must be written by hand (max, exp, sum, log, gather or indexing)")


def _ce_reference(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = logits.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(x.reshape(-1, x.shape[-1]), targets.reshape(-1), ignore_index=ignore_index)
    loss.backward()
    return loss.detach(), x.grad


@graded(3, "mean cross-entropy from logits, stable, with ignore_index, by hand", forbid=CE_FORBID)
@_on_one_thread
def test_cross_entropy(ns: dict) -> None:
    ce = learner_function(ns, "cross_entropy")

    def targets(shape, V, seed):
        return torch.randint(V, shape, generator=generator(seed))

    ignored = targets((3, 6), 7, 5)
    ignored[:, 1:] = -100  # only the first position of each row is scored
    padded = targets((4, 5), 9, 6)
    padded[padded < 4] = 0  # token 0 = padding, ignored with ignore_index=0
    padded[0, 0] = 3
    cases = [
        ("(N=6, V=5) logits", randn(6, 5, seed=1, scale=2.0), targets((6,), 5, 1), -100),
        ("(B=2, T=4, V=11) logits, float64", randn(2, 4, 11, seed=2, dtype=torch.float64), targets((2, 4), 11, 2),
         -100),
        ("logits of +-1e4 (float32)", torch.tensor([[1e4, 1e4 - 2, -1e4], [-1e4, -1e4 + 1, -1e4 + 5],
                                                   [0.0, 1e4, 0.0]]), torch.tensor([1, 0, 1]), -100),
        ("logits of 1e3 (float64)", torch.tensor([[1e3, 999.0, 1e3 - 30]], dtype=torch.float64), torch.tensor([2]),
         -100),
        ("V = 1 (the loss is 0)", randn(2, 3, 1, seed=3), torch.zeros(2, 3, dtype=torch.long), -100),
        ("targets 0 and V - 1", randn(4, 6, seed=4), torch.tensor([0, 5, 5, 0]), -100),
        ("ignore_index=-100 on 15 of 18 positions", randn(3, 6, 7, seed=5, scale=3.0), ignored, -100),
        ("ignore_index=0 (padding token 0)", randn(4, 5, 9, seed=6), padded, 0),
        ("one position", randn(1, 1, 4, seed=7), torch.tensor([[2]]), -100),
    ]
    for label, logits, tgt, ignore_index in cases:
        what = f"cross_entropy with {label}"
        got, has_grad, (grad,) = call_with_grad(ce, (logits, tgt), {"ignore_index": ignore_index}, grad_args=(0,))
        expected, expected_grad = _ce_reference(logits, tgt, ignore_index)
        tol = CE_TOL[logits.dtype]
        if logits.dtype == torch.float32 and logits.abs().max() > 1e3:
            tol = dict(atol=2e-3, rtol=1e-5)  # float32 resolves 1e4 only to about 1e-3
        expect_tensor(got, what, shape=(), dtype=logits.dtype)
        expect_close(got, expected, what, **tol)
        if not has_grad:
            raise TaskFailed(f"{what}: the loss carries no gradient (was it computed with .item(), numpy or "
                             "under torch.no_grad()?); training needs loss.backward()")
        if grad is None:
            raise TaskFailed(f"{what}: loss.backward() gave no gradient for the logits")
        expect_close(grad, expected_grad, f"{what}: gradient with respect to the logits", **tol)


# ----------------------------------------------------------------------------- AdamW

ADAM_FORBID = Forbid(names=("adam", "adamw", "*fusedadam*"), modules=("torch.optim.adam", "torch.optim.adamw"),
                     reason="adamw_update must be written by hand, from the formulas")


@graded(3, "one AdamW update, checked against torch.optim.AdamW", forbid=ADAM_FORBID)
@_on_one_thread
def test_adamw_update(ns: dict) -> None:
    update = learner_function(ns, "adamw_update")
    cases = [
        # label, parameter, gradients for each step, keyword arguments ({}: torch's defaults)
        ("(3, 4) float32, torch's defaults", randn(3, 4, seed=10), [randn(3, 4, seed=11 + i) for i in range(6)], {}),
        ("gradients of about 1e-9 (eps matters)", randn(3, seed=60, dtype=torch.float64),
         [randn(3, seed=61 + i, dtype=torch.float64, scale=1e-9) for i in range(5)], dict(lr=1e-3, eps=1e-8)),
        ("(5,) float64, betas (0.9, 0.95), weight_decay 0.1, lr 1e-2", randn(5, seed=20, dtype=torch.float64),
         [randn(5, seed=21 + i, dtype=torch.float64) for i in range(12)],
         dict(lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)),
        ("no weight decay", randn(2, 3, seed=30), [randn(2, 3, seed=31 + i) for i in range(5)],
         dict(lr=3e-3, weight_decay=0.0)),
        ("a zero gradient (only the weight decay moves the parameter)", randn(4, seed=40),
         [torch.zeros(4)] * 3, dict(lr=0.1, weight_decay=0.5)),
        ("a 0-dim parameter", torch.tensor(1.5), [torch.tensor(g) for g in (0.3, -0.2, 0.5, 0.1, -1.0)],
         dict(lr=0.05)),
        ("gradients of about 1e4", randn(3, seed=50), [randn(3, seed=51 + i, scale=1e4) for i in range(5)],
         dict(lr=1e-3)),
    ]
    for label, p0, grads, kwargs in cases:
        reference = p0.clone().requires_grad_(True)
        opt = torch.optim.AdamW([reference], **kwargs)
        p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
        tol = ADAM_TOL[p0.dtype]
        for t, g in enumerate(grads, start=1):
            what = f"adamw_update with {label}, step {t}"
            lr = kwargs.get("lr", 1e-3)
            extra = {k: val for k, val in kwargs.items() if k != "lr"}
            got = call(update, p, g, m, v, t, lr, **extra)
            if not isinstance(got, (tuple, list)) or len(got) != 3:
                kind = (f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list))
                        else kind_of(got))
                raise TaskFailed(f"{what}: expected a tuple (param, m, v), got {kind}")
            reference.grad = g.clone()
            opt.step()
            state = opt.state[reference]
            for name, value, expected in zip(("param", "m", "v"), got,
                                             (reference.detach(), state["exp_avg"], state["exp_avg_sq"])):
                expect_tensor(value, f"{what}: {name}", shape=p0.shape, dtype=p0.dtype)
                expect_close(value, expected, f"{what}: {name}", **tol)
            p, m, v = (x.detach().clone() for x in got)


# ----------------------------------------------------------------------------- learning-rate schedule


@graded(2, "linear warm-up, then cosine decay to min_lr", forbid=Forbid(
    names=("lr_at",), modules=("course_lib.train",), reason="write the schedule yourself"))
def test_lr_at(ns: dict) -> None:
    lr_at = learner_function(ns, "lr_at")
    configs = [
        ("warm-up 10 of 100 steps, min_lr = max_lr / 10", 3e-3, 10, 100, 3e-4),
        ("no warm-up (warmup_steps=0), min_lr = 0", 1e-2, 0, 50, 0.0),
        ("1 warm-up step of 2", 0.5, 1, 2, 0.05),
        ("warm-up as long as training", 1e-3, 20, 20, 1e-4),
        ("min_lr = max_lr (flat after warm-up)", 6e-4, 5, 30, 6e-4),
    ]
    for label, max_lr, warmup, total, min_lr in configs:
        for step in range(total + 6):
            what = (f"lr_at(step={step}, max_lr={max_lr:g}, warmup_steps={warmup}, total_steps={total}, "
                    f"min_lr={min_lr:g}) [{label}]")
            got = call(lr_at, step, max_lr, warmup, total, min_lr)
            _expect_number(got, ref_train.lr_at(step, max_lr, warmup, total, min_lr), what, **LR_TOL)


# ----------------------------------------------------------------------------- one training step


_TINY = dict(vocab_size=17, context_length=8, n_layer=1, n_head=2, d_model=8)


def _tiny_gpt(seed: int) -> GPT:
    with torch.random.fork_rng():
        torch.manual_seed(derive_seed(seed))
        return GPT(GPTConfig(**_TINY))


def _reference_step(model, optimizer, x, y, lr, grad_clip) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


# optimizers as specs for the worker's fixtures (course_grader.worker.fixtures) and built here the same way
_ADAMW = {"class": "AdamW", "groups": [{"params": "matrices", "weight_decay": 0.1}, {"params": "vectors", "weight_decay": 0.0}],
          "options": {"lr": 1.0, "betas": (0.9, 0.95)}}  # lr=1.0 is a placeholder: the step must set it
_SGD = {"class": "SGD", "groups": [{"params": "all"}], "options": {"lr": 1.0}}


def _optimizer(model, spec: dict):
    from course_grader.worker.fixtures import build

    return build("optimizer", {**spec, "model": 0}, {0: model})


@graded(2, "forward, zero_grad, backward, clip, set lr, optimizer step", forbid=Forbid(
    modules=("course_lib.train",), reason="write the step yourself"))
@_on_one_thread
def test_training_step(ns: dict) -> None:
    step_fn = learner_function(ns, "training_step")
    cases = [
        ("AdamW with two parameter groups and stale gradients in .grad", 0, _ADAMW, [3e-3, 2e-3, 1e-3], 1.0, True),
        ("SGD, grad_clip=0.05", 1, _SGD, [0.5, 0.5, 0.2], 0.05, False),
        ("SGD, grad_clip=None (no clipping)", 2, _SGD, [0.5, 0.3, 0.1], None, False),
    ]
    for label, seed, opt_spec, lrs, clip, stale in cases:
        ref = _tiny_gpt(seed).train()
        spec = {"config": _TINY, "state": ref.state_dict(), "train": True}
        if stale:  # gradients left over from an earlier backward pass: the step must not add to them
            grads = {name: randn(*p.shape, seed=100 + i, scale=5.0) for i, (name, p) in enumerate(ref.named_parameters())}
            for name, p in ref.named_parameters():
                p.grad = grads[name].clone()
            spec["grads"] = grads
        model = ns.make("GPT", spec)
        optimizer = ns.make("optimizer", {**opt_spec, "model": model})
        opt_ref = _optimizer(ref, opt_spec)
        gen = generator(seed)
        for k, lr in enumerate(lrs, start=1):
            x = torch.randint(17, (4, 8), generator=gen)
            y = torch.randint(17, (4, 8), generator=gen)
            what = f"training_step with {label}, step {k} (lr={lr:g})"
            got = call(step_fn, model, optimizer, x, y, lr, clip)
            expected = _reference_step(ref, opt_ref, x, y, lr, clip)
            value = _number(got, f"{what}: the returned loss")
            if not math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-6):
                raise TaskFailed(f"{what}: expected the loss {expected:.6f} (before the update), got {value:.6f}")
            for group_lr in ns.state(optimizer)["lr"]:
                if not math.isclose(group_lr, lr, rel_tol=1e-12):
                    raise TaskFailed(f"{what}: a parameter group of the optimizer has lr {group_lr}, expected "
                                     f"{lr}; set the learning rate of every group")
            params = ns.state(model)["params"]
            for name, b in ref.named_parameters():
                expect_close(params[name], b.detach(), f"{what}: parameter {name} after the step", atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------- FLOPs and MFU


@graded(2, "training FLOPs per token (6N + attention) and model FLOPs utilisation",
        functions=("training_flops_per_token", "mfu"),
        forbid=Forbid(names=("mfu", "flops_per_token"), modules=("course_lib.compute",),
                      reason="write the formulas yourself"))
def test_flops_and_mfu(ns: dict) -> None:
    flops_fn = learner_function(ns, "training_flops_per_token")
    mfu_fn = learner_function(ns, "mfu")
    shapes = [
        dict(vocab_size=65, context_length=64, n_layer=2, n_head=1, d_model=16),
        dict(vocab_size=256, context_length=128, n_layer=4, n_head=4, d_model=128),
        dict(vocab_size=1024, context_length=8, n_layer=1, n_head=2, d_model=8),
        dict(vocab_size=100, context_length=256, n_layer=3, n_head=4, d_model=32),
        dict(vocab_size=257, context_length=32, n_layer=2, n_head=2, d_model=48, bias=True),
    ]
    for shape in shapes:
        with torch.random.fork_rng():
            model = GPT(GPTConfig(**shape))
        n_matmul = model.num_params() + shape["d_model"] * shape["vocab_size"]
        args = (n_matmul, shape["n_layer"], shape["d_model"], shape["context_length"])
        what = (f"training_flops_per_token(n_matmul={n_matmul}, n_layer={args[1]}, d_model={args[2]}, "
                f"context_length={args[3]})")
        _expect_number(call(flops_fn, *args), model.flops_per_token(), what, **FLOP_TOL)
    gpt3 = (175e9, 96, 12288, 2048)
    _expect_number(call(flops_fn, *gpt3), 6 * 175e9 + 12 * 96 * 12288 * 2048,
                   "training_flops_per_token for GPT-3 (n_matmul=175e9, 96 layers, d_model 12288, context 2048)",
                   **FLOP_TOL)
    for tps, fpt, peak in [(25_947, 5.71e6, 218e9), (1.0, 1.0, 1.0), (3.2e5, 6 * 1.3e9, 989e12 * 8), (0.0, 1e6, 1e12)]:
        what = f"mfu(tokens_per_second={tps:g}, flops_per_token={fpt:g}, peak_flops={peak:g})"
        _expect_number(call(mfu_fn, tps, fpt, peak),
                       ref_compute.mfu(tps, fpt, peak), what, **FLOP_TOL)
    for peak in (0.0, -1e12):
        expect_raises(ValueError, mfu_fn, 1000.0, 1e6, peak,
                      what=f"mfu(1000, 1e6, peak_flops={peak:g}): a peak of 0 or below is not a machine")



def ref_adamw_update(param, grad, m, v, step, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    """Task 3's update, written out: it stands in for the learner's in ``lr_sweep``'s test."""
    b1, b2 = betas
    param = param * (1 - lr * weight_decay)
    m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad * grad
    m_hat, v_hat = m / (1 - b1**step), v / (1 - b2**step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), m, v


def _torch_sweep_loss(lr: float, steps: int) -> float:
    h = torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64)
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.AdamW([w], lr=lr, weight_decay=0.0)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (h * w * w).sum()).backward()
        opt.step()
    return float(0.5 * (h * w * w).sum().detach())


@graded(2, "an experiment: a learning-rate sweep with AdamW, and the learning rate it chooses")
def test_lr_sweep(ns: dict) -> None:
    fn = learner_function(ns, "lr_sweep")
    draw = torch.rand(8, generator=generator(60), dtype=torch.float64)
    cases = [([float(10 ** (-3 + 3.5 * draw[0])), 0.05, 1.0], 25),
             ([0.3, float(10 ** (-2 + 2 * draw[1])), 3e-3, 1.5], 40),
             ([float(10 ** (-1 + draw[2]))], 10)]
    with substitute(ns, adamw_update=ref_adamw_update):
        for lrs, steps in cases:
            what = f"lr_sweep({[round(x, 6) for x in lrs]}, steps={steps})"
            mine, _ = expect_sweep(call(fn, lrs, steps), lrs, what, ("final_losses", "best_lr"))
            for lr, value in zip(lrs, mine):
                expected = _torch_sweep_loss(lr, steps)
                if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):
                    raise TaskFailed(f"{what}: the final loss for lr={lr:g} should be {expected:.8g} (torch.optim.AdamW "
                                     f"on the same problem), got {value:.8g}")


TASKS = collect_tasks(globals())
