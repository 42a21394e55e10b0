"""Hidden tests for the chapter 06 exercises (``solutions/06_generation_exercises.ipynb``).

They decide the grade; the learner's notebook never contains them. Each test calls the
learner's function on several inputs, other than those of the notebook's check cells,
including edge cases, and compares with transformers' logits processors or with
``course_lib.generation`` (itself tested equal to transformers' ``generate``):

| task | points | cases | reference |
|---|---:|---|---|
| ``apply_temperature`` | 1 | (V,) and (B, V); T = 0.5, 1, 2.5, 1e-3; float64; T = 0 (every logit but the maximum becomes -inf; ties all kept); -inf entries; ValueError for T < 0 | ``TemperatureLogitsWarper``; ``course_lib.generation.apply_temperature`` for T = 0 |
| ``top_k_filter`` | 2 | k = 1, 3, V, > V; (V,) and (B, V); exact ties at the k-th value (all kept); ``min_tokens_to_keep`` > k; -inf entries; ValueError for k < 1 | ``TopKLogitsWarper(top_k, min_tokens_to_keep=...)`` |
| ``top_p_filter`` | 3 | p = 0.9, 0.5, 0.01, 1.0; (V,) and (B, V); ``min_tokens_to_keep`` = 1, 3; -inf entries (after top-k); float64; tied tokens straddling the cut (any choice among the tied tokens is accepted: the kept count and "kept >= removed" are checked); ValueError for p outside (0, 1] | ``TopPLogitsWarper(top_p, min_tokens_to_keep=...)`` |
| ``apply_repetition_penalty`` | 2 | penalty 1.3, 0.7 (rewards repetition), 1.0; positive, negative and zero logits; repeated ids counted once; rows with different histories; does not change its input; ValueError for penalty <= 0 | ``RepetitionPenaltyLogitsProcessor(penalty)`` |
| ``greedy_decode`` | 2 | a model that reads the whole prefix; 0 new tokens; EOS as the first new token, EOS later, EOS never produced; an exact tie (lowest id wins) | ``ref_greedy_decode``, the loop of ``course_lib.generation.greedy_decode`` (*) |
| ``beam_search`` | 3 | num_beams = 1 (greedy), 2, 3, 8 (> V at the first step); 0 new tokens; a model where beam search beats greedy; one-token prompt | ``ref_beam_search``, the search of ``course_lib.generation.beam_search`` without EOS (*) |
| ``kv_cache`` | 3 | attention with a key-value cache fed one position (or a chunk) at a time; the cache's shapes and contents; the bytes of a grouped-query cache (module ``set06_cache``) | full causal softmax attention written out; transformers' ``DynamicCache`` |
| ``temperature_study`` | 2 | an experiment: samples of a bigram model at several temperatures, distinct-2 and entropy re-derived from them, the temperature chosen for a target (module ``set06_experiment``) | chi-square of the learner's transitions; the grader's own runs of the design |

(*) Written out here rather than called: ``course_lib.generation``'s decoding loops check
whether the model is a transformers ``PreTrainedModel``, and that first lookup imports
transformers' modelling code (about 5 s), too slow for a hidden test. The course_lib
functions themselves pass every test in this module (checked when the tests were written),
and the notebook's check cells compare the learner's functions with them.

Tolerances: kept/removed sets and token ids exact; logit values ``atol=1e-6, rtol=1e-6``
(float32) and ``atol=1e-12, rtol=1e-12`` (float64); a beam's log-probability
``atol=1e-4`` nats. The top-p cases without ties keep every cumulative probability at
least 1e-4 away from ``top_p``, so summing from the most or from the least likely end
gives the same set.

Models: ``model(ids)`` with ids ``(B, T)`` int64 returns logits ``(B, T, V)`` (greedy
decoding calls it with B = 1, beam search with one row per beam). The tests
use ``PrefixLM``, a fixed-weight model (no training) whose logits depend on the last
token and on the mean embedding of the whole prefix, so code that feeds the model only
the last token gives other tokens.

Only ``temperature_study`` builds on another task: it runs with ``course_lib.generation``'s
``apply_temperature`` in place of the learner's. Every task is tested with
``course_lib.generation``'s functions and transformers' processors forbidden (they are
imported in the notebook for the check cells): calling one fails the task with a message;
``kv_cache`` forbids torch's fused attention and the course's cache instead.
"""
from __future__ import annotations

import math

import torch
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from course_lib import generation as ref
from course_grader.hidden_tests import randn
from course_grader.testkit import (
    Forbid, derive_seed, TaskFailed, call, collect_tasks, expect_close, expect_raises, expect_tensor, graded, kind_of,
    learner_function)
from course_grader.worker.fixtures import PrefixLM as _PrefixLM
from course_grader.worker.fixtures import TableLM

EXERCISE_SET = "06_generation"

# the versions the check cells compare with; a task must not hand its work to them
FORBID = Forbid(modules=("course_lib.generation", "transformers.generation"),
                names=("*LogitsWarper", "*LogitsProcessor", "generate"),
                reason="write it yourself: course_lib.generation and transformers' processors are for the check cells")
_call = call


TOL = {torch.float32: dict(atol=1e-6, rtol=1e-6), torch.float64: dict(atol=1e-12, rtol=1e-12)}
LOGPROB_ATOL = 1e-4



def _shape(x: torch.Tensor) -> str:
    return f"{tuple(x.shape)} {str(x.dtype).replace('torch.', '')}"


def PrefixLM(vocab: int = 7, d: int = 6, scale: float = 2.0, seed: int = 0) -> _PrefixLM:
    """A fixed-weight causal LM (``course_grader.worker.fixtures.PrefixLM``), (B, T) int64 -> (B, T, V):
    logits[t] = scale * (bigram[ids[t]] + mean(embed[ids[:t+1]]) @ out), weights drawn from ``seed``."""
    return _PrefixLM.random(vocab, d, derive_seed(seed), scale=scale).eval()


def _remote(ns, model) -> object:
    """The same model built in the worker: a handle to pass to the learner's function."""
    return ns.make(type(model).__name__, model.spec())


# ----------------------------------------------------------------------------- references


def ref_top_k(logits: torch.Tensor, top_k: int, min_tokens_to_keep: int = 1) -> torch.Tensor:
    rows = logits if logits.dim() == 2 else logits[None]
    out = TopKLogitsWarper(top_k, min_tokens_to_keep=min_tokens_to_keep)(None, rows.clone())
    return out if logits.dim() == 2 else out[0]


def ref_top_p(logits: torch.Tensor, top_p: float, min_tokens_to_keep: int = 1) -> torch.Tensor:
    rows = logits if logits.dim() == 2 else logits[None]
    out = TopPLogitsWarper(top_p, min_tokens_to_keep=min_tokens_to_keep)(None, rows.clone())
    return out if logits.dim() == 2 else out[0]


def _kept(x: torch.Tensor) -> torch.Tensor:
    return ~torch.isneginf(x)


def _expect_same_kept(got: torch.Tensor, expected: torch.Tensor, logits: torch.Tensor, what: str) -> None:
    """Same kept set (exactly), kept logits unchanged, removed ones -inf."""
    expect_tensor(got, what, shape=expected.shape, dtype=expected.dtype)
    g, e = _kept(got), _kept(expected)
    if not torch.equal(g, e):
        rows_g, rows_e = g.reshape(-1, g.shape[-1]), e.reshape(-1, e.shape[-1])
        r = int((rows_g != rows_e).any(dim=-1).nonzero()[0])
        row = f" in row {r}" if got.dim() == 2 else ""
        raise TaskFailed(f"{what}: expected {int(rows_e[r].sum())} tokens kept{row}, got {int(rows_g[r].sum())} "
                         f"(they differ at {int((rows_g[r] != rows_e[r]).sum())} of {rows_g.shape[-1]} positions)")
    expect_close(got, expected, f"{what}: the kept logits must be unchanged, the others -inf", **TOL[logits.dtype])


def ref_greedy_decode(model, ids: torch.Tensor, max_new_tokens: int, eos_token_id: int | None = None) -> torch.Tensor:
    """Greedy decoding of one (T,) prompt, as ``course_lib.generation.greedy_decode`` does it."""
    out = ids.clone()
    with torch.no_grad():
        for _ in range(max_new_tokens):
            nxt = model(out[None])[0, -1].argmax()  # ties: the lowest id
            out = torch.cat([out, nxt.view(1)])
            if eos_token_id is not None and int(nxt) == eos_token_id:
                break
    return out


def ref_beam_search(model, ids: torch.Tensor, num_beams: int, max_new_tokens: int) -> tuple[torch.Tensor, float]:
    """Beam search without EOS, as ``course_lib.generation.beam_search`` does it: (best ids, its log-probability)."""
    beams, scores = ids[None].clone(), torch.zeros(1)  # one beam to start with
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logprobs = torch.log_softmax(model(beams)[:, -1], dim=-1)  # (n_beams, V)
            vocab = logprobs.shape[-1]
            scores, flat = (scores[:, None] + logprobs).reshape(-1).topk(min(num_beams, beams.shape[0] * vocab))
            beams = torch.cat([beams[flat // vocab], (flat % vocab)[:, None]], dim=1)
    return beams[0], float(scores[0])


# ----------------------------------------------------------------------------- tests


@graded(1, "logits / T; T = 0 keeps only the maximum", forbid=FORBID)
def test_apply_temperature(ns: dict) -> None:
    fn = learner_function(ns, "apply_temperature")
    with_inf = randn(2, 9, seed=3, scale=2.0)
    with_inf[0, 4] = with_inf[1, 0] = float("-inf")
    cases = [
        ("(9,) logits, T=0.5", randn(9, seed=1, scale=3.0), 0.5),
        ("(3, 11) logits, T=2.5", randn(3, 11, seed=2), 2.5),
        ("(2, 9) logits with -inf entries, T=1.7", with_inf, 1.7),
        ("(4, 6) float64 logits, T=1e-3", randn(4, 6, seed=4, dtype=torch.float64), 1e-3),
        ("(5,) logits, T=1", randn(5, seed=5), 1.0),
    ]
    for label, logits, t in cases:
        got = _call(fn, logits, t)
        what = f"apply_temperature on {label}"
        expect_tensor(got, what, shape=logits.shape, dtype=logits.dtype)
        rows = logits if logits.dim() == 2 else logits[None]
        expected = TemperatureLogitsWarper(t)(None, rows.clone()).reshape(logits.shape)
        expect_close(got, expected, what, **TOL[logits.dtype])
    tied = torch.tensor([[1.0, 3.0, -2.0, 3.0, 0.5], [0.0, -1.0, 2.0, 1.0, 1.5]])
    for label, logits in (("(2, 5) logits with a tie for the maximum in row 0", tied),
                          ("(8,) logits", randn(8, seed=6))):
        what = f"apply_temperature on {label}, T=0"
        got = _call(fn, logits, 0.0)
        expect_tensor(got, what, shape=logits.shape, dtype=logits.dtype)
        expected = ref.apply_temperature(logits, 0.0)
        if not torch.equal(_kept(got), _kept(expected)):
            raise TaskFailed(f"{what}: expected -inf everywhere except at the maximum (every tied maximum kept), "
                             f"got finite values at {int(_kept(got).sum())} positions instead of "
                             f"{int(_kept(expected).sum())}")
        if not bool(torch.isfinite(got[_kept(expected)]).all()):
            raise TaskFailed(f"{what}: the maximum must keep a finite logit (e.g. its own value), not inf or NaN")
    expect_raises(ValueError, fn, randn(5, seed=7), -0.5, what="apply_temperature(logits, -0.5)")


@graded(2, "keep the k highest logits (ties kept), -inf elsewhere", forbid=FORBID)
def test_top_k_filter(ns: dict) -> None:
    fn = learner_function(ns, "top_k_filter")
    ties = torch.tensor([[2.0, 1.0, 1.0, 1.0, -1.0, 0.0], [0.5, 0.5, 0.5, -3.0, 0.5, 4.0]])
    with_inf = randn(2, 8, seed=13)
    with_inf[0, :5] = float("-inf")
    cases = [
        ("(10,) logits, k=3", randn(10, seed=10), 3, 1),
        ("(4, 12) logits, k=1", randn(4, 12, seed=11, scale=2.0), 1, 1),
        ("(3, 7) float64 logits, k=5", randn(3, 7, seed=12, dtype=torch.float64), 5, 1),
        ("(2, 6) logits tied at the k-th value, k=2", ties, 2, 1),
        ("(2, 8) logits, row 0 has only 3 finite entries, k=4", with_inf, 4, 1),
        ("(6,) logits, k=6 = V", randn(6, seed=14), 6, 1),
        ("(6,) logits, k=50 > V", randn(6, seed=15), 50, 1),
        ("(2, 9) logits, k=2, min_tokens_to_keep=4", randn(2, 9, seed=16), 2, 4),
    ]
    for label, logits, k, keep in cases:
        what = f"top_k_filter on {label}"
        got = _call(fn, logits, k) if keep == 1 else _call(fn, logits, k, min_tokens_to_keep=keep)
        _expect_same_kept(got, ref_top_k(logits, k, keep), logits, what)
    expect_raises(ValueError, fn, randn(5, seed=17), 0, what="top_k_filter(logits, 0)")


def _ok_margin(logits: torch.Tensor, top_p: float) -> bool:
    probs = logits.double().softmax(-1).sort(descending=True).values.cumsum(-1)
    return bool(((probs - top_p).abs() > 1e-4).all())


def _with_inf(seed: int) -> torch.Tensor:
    x = randn(2, 10, seed=seed, scale=2.0)
    x[0, [1, 4, 7]] = float("-inf")
    x[1, 2:] = float("-inf")
    return x


def _away_from_cut(make, seed: int, top_p: float) -> torch.Tensor:
    """``make(seed)``, or with the next seeds, until no cumulative probability lies within 1e-4 of ``top_p``."""
    for k in range(100):
        logits = make(seed + 1000 * k)
        if top_p >= 1.0 or _ok_margin(logits, top_p):
            return logits
    raise RuntimeError("hidden test: no case away from the cut")  # a bug in the test, not the learner


@graded(3, "nucleus: the smallest set of likeliest tokens with mass >= p", forbid=FORBID)
def test_top_p_filter(ns: dict) -> None:
    fn = learner_function(ns, "top_p_filter")
    cases = [
        ("(12,) logits, p=0.9", lambda s: randn(12, seed=s, scale=2.0), 20, 0.9, 1),
        ("(4, 10) logits, p=0.5", lambda s: randn(4, 10, seed=s, scale=2.0), 21, 0.5, 1),
        ("(3, 8) float64 logits, p=0.75", lambda s: randn(3, 8, seed=s, dtype=torch.float64, scale=1.5), 22, 0.75, 1),
        ("(2, 10) logits with -inf entries, p=0.8", _with_inf, 23, 0.8, 1),
        ("(2, 9) logits, p=0.01 (only the most likely token)", lambda s: randn(2, 9, seed=s, scale=2.0), 24, 0.01, 1),
        ("(2, 9) logits, p=0.01, min_tokens_to_keep=3", lambda s: randn(2, 9, seed=s, scale=2.0), 25, 0.01, 3),
        ("(2, 9) logits, p=1.0 (keep everything)", lambda s: randn(2, 9, seed=s, scale=2.0), 26, 1.0, 1),
    ]
    for label, make, seed, p, keep in cases:
        logits = _away_from_cut(make, seed, p)
        what = f"top_p_filter on {label}"
        got = _call(fn, logits, p) if keep == 1 else _call(fn, logits, p, min_tokens_to_keep=keep)
        _expect_same_kept(got, ref_top_p(logits, p, keep), logits, what)

    # ties straddling the cut: any of the tied tokens may go; the count and the order are what matter
    probs = torch.tensor([[0.4, 0.15, 0.3, 0.15], [0.1, 0.3, 0.3, 0.3]])
    logits = probs.log()
    for p, label in ((0.5, "p=0.5"), (0.35, "p=0.35")):
        what = f"top_p_filter on probabilities {probs.tolist()} (tied tokens at the cut), {label}"
        got = _call(fn, logits, p)
        expect_tensor(got, what, shape=logits.shape, dtype=logits.dtype)
        expected = ref_top_p(logits, p)
        for r in range(2):
            kept, want = _kept(got[r]), _kept(expected[r])
            if int(kept.sum()) != int(want.sum()):
                raise TaskFailed(f"{what}: expected {int(want.sum())} tokens kept in row {r}, got {int(kept.sum())}")
            if not kept.all() and probs[r][kept].min() < probs[r][~kept].max():
                raise TaskFailed(f"{what}: row {r} keeps a less likely token and removes a more likely one")
            expect_close(got[r][kept], logits[r][kept], f"{what}: kept logits must be unchanged")
    for bad in (0.0, 1.5):
        expect_raises(ValueError, fn, randn(5, seed=27), bad, what=f"top_p_filter(logits, {bad})")


@graded(2, "divide positive / multiply negative logits of tokens already seen", forbid=FORBID)
def test_apply_repetition_penalty(ns: dict) -> None:
    fn = learner_function(ns, "apply_repetition_penalty")
    zeros = randn(2, 8, seed=33)
    zeros[:, 2] = 0.0
    cases = [
        ("(3, 10) logits, ids (3, 6) with repeats, penalty=1.3", randn(3, 10, seed=30, scale=2.0),
         torch.tensor([[1, 1, 1, 4, 9, 1], [0, 2, 2, 3, 3, 3], [7, 8, 9, 7, 8, 9]]), 1.3),
        ("(2, 10) logits, ids (2, 4), penalty=0.7 (< 1 rewards repetition)", randn(2, 10, seed=31, scale=2.0),
         torch.tensor([[5, 6, 5, 0], [9, 9, 9, 9]]), 0.7),
        ("(1, 6) logits, ids (1, 3), penalty=1.0", randn(1, 6, seed=32), torch.tensor([[0, 3, 5]]), 1.0),
        ("(2, 8) logits with zeros at the repeated id 2, penalty=2.0", zeros,
         torch.tensor([[2, 2, 7], [2, 1, 1]]), 2.0),
        ("(2, 5) float64 logits, ids (2, 1), penalty=1.5", randn(2, 5, seed=34, dtype=torch.float64),
         torch.tensor([[4], [0]]), 1.5),
    ]
    for label, logits, ids, penalty in cases:
        what = f"apply_repetition_penalty on {label}"
        got = _call(fn, logits, ids, penalty)
        expect_tensor(got, what, shape=logits.shape, dtype=logits.dtype)
        expected = RepetitionPenaltyLogitsProcessor(float(penalty))(ids, logits.clone())
        expect_close(got, expected, what, **TOL[logits.dtype])
    for bad in (0.0, -1.2):
        expect_raises(ValueError, fn, randn(1, 5, seed=35), torch.tensor([[1]]), bad,
                      what=f"apply_repetition_penalty(logits, ids, penalty={bad})")


def _expect_ids(got, expected: torch.Tensor, what: str) -> None:
    expect_tensor(got, what)
    if got.dim() != 1:
        raise TaskFailed(f"{what}: expected a 1-D tensor of ids (T + n,), got shape {tuple(got.shape)}")
    if got.is_floating_point() or got.dtype == torch.bool:
        raise TaskFailed(f"{what}: expected integer token ids (int64), got dtype {got.dtype}")
    if got.shape != expected.shape:
        raise TaskFailed(f"{what}: expected {expected.numel()} ids (prompt + new tokens), got {got.numel()}")
    bad = (got.long() != expected).nonzero()
    if len(bad):
        i = int(bad[0])
        raise TaskFailed(f"{what}: at position {i} expected token {int(expected[i])}, got {int(got[i])}")


@graded(2, "append the argmax token, stop at EOS", forbid=FORBID)
def test_greedy_decode(ns: dict) -> None:
    fn = learner_function(ns, "greedy_decode")
    prompt = torch.tensor([3, 1, 4])
    for k in range(100):  # a model whose free run has a token first seen at the 5th new token, and one never seen
        model = PrefixLM(vocab=7, d=6, scale=2.0, seed=2 + 1000 * k)
        free = ref_greedy_decode(model, prompt, 8)  # where it goes without EOS
        first_new, later = int(free[3]), int(free[7])
        unseen = [t for t in range(7) if t not in free[3:].tolist()]
        if unseen and later not in free[3:7].tolist():
            never = unseen[0]
            break
    else:
        raise RuntimeError("hidden test: no model for the EOS cases")  # a bug in the test
    remote = _remote(ns, model)
    cases = [
        ("8 new tokens, no EOS", prompt, 8, None),
        ("0 new tokens", prompt, 0, None),
        (f"eos_token_id={first_new}, the first new token", prompt, 8, first_new),
        (f"eos_token_id={later}, produced at the 5th new token", prompt, 8, later),
        (f"eos_token_id={never}, never produced", prompt, 8, never),
        ("a one-token prompt, 6 new tokens", torch.tensor([0]), 6, None),
    ]
    for label, ids, n, eos in cases:
        what = f"greedy_decode with PrefixLM (a model that reads the whole prefix), prompt {ids.tolist()}, {label}"
        got = _call(fn, remote, ids, n) if eos is None else _call(fn, remote, ids, n, eos_token_id=eos)
        _expect_ids(got, ref_greedy_decode(model, ids, n, eos_token_id=eos), what)
    # an exact tie: after token 0 the table gives tokens 1 and 3 the same logit; argmax picks the lower id
    table = torch.full((4, 4), -2.0)
    table[0, 1] = table[0, 3] = 1.0
    table[1, 2] = table[3, 2] = table[2, 0] = 1.0
    tied = TableLM(table)
    what = "greedy_decode on a bigram model where tokens 1 and 3 tie after token 0"
    _expect_ids(_call(fn, _remote(ns, tied), torch.tensor([2]), 4), ref_greedy_decode(tied, torch.tensor([2]), 4), what)


@graded(3, "keep the num_beams most probable prefixes", forbid=FORBID)
def test_beam_search(ns: dict) -> None:
    fn = learner_function(ns, "beam_search")
    model = PrefixLM(vocab=6, d=5, scale=0.7, seed=6)
    # the classic case where greedy loses: token 0 looks best now, but everything after it is flat
    table = torch.tensor([[0.1, 0.0, -0.1, 0.2],  # after 0: almost flat, every continuation is unlikely
                          [-9.0, -9.0, 5.0, -9.0],  # after 1: token 2, almost surely
                          [2.0, 1.5, -5.0, -5.0],  # after 2: 0 looks better than 1
                          [0.3, -0.2, 0.0, 0.1]])
    trap = TableLM(table)
    cases = [
        ("PrefixLM, num_beams=1 (greedy), 5 new tokens", model, torch.tensor([1, 4]), 1, 5),
        ("PrefixLM, num_beams=2, 6 new tokens", model, torch.tensor([1, 4]), 2, 6),
        ("PrefixLM, num_beams=3, 5 new tokens", model, torch.tensor([5, 0, 2]), 3, 5),
        ("PrefixLM, num_beams=8 (> V=6 at the first step), 4 new tokens", model, torch.tensor([3]), 8, 4),
        ("PrefixLM, num_beams=3, 0 new tokens", model, torch.tensor([1, 4]), 3, 0),
        ("a bigram model where greedy's first choice leads nowhere, num_beams=2, 3 new tokens", trap,
         torch.tensor([2]), 2, 3),
    ]
    for label, m, ids, k, n in cases:
        what = f"beam_search with {label}, prompt {ids.tolist()}"
        got = _call(fn, _remote(ns, m), ids, k, n)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            kind = f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else kind_of(got)
            raise TaskFailed(f"{what}: expected a tuple (ids, logprob), got {kind}")
        got_ids, got_lp = got
        best, best_logprob = ref_beam_search(m, ids, k, n)
        _expect_ids(got_ids, best, f"{what}: ids")
        try:
            lp = float(got_lp)
        except (TypeError, ValueError, RuntimeError):
            raise TaskFailed(f"{what}: the log-probability should be a number, got {type(got_lp).__name__}") from None
        if not math.isfinite(lp) or abs(lp - best_logprob) > LOGPROB_ATOL:
            raise TaskFailed(f"{what}: expected log-probability {best_logprob:.5f} nats (sum over the new tokens), "
                             f"got {lp:.5f}")


from course_grader.hidden_tests.set06_cache import test_kv_cache  # noqa: E402, F401, I001 - task 7
from course_grader.hidden_tests.set06_experiment import test_temperature_study  # noqa: E402, F401, I001 - task 8, last

TASKS = collect_tasks(globals())
