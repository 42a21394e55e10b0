"""course_lib.generation: decoding from logits, checked against transformers' own processors and generate()."""
import itertools
import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from course_lib.adapter import context_length_of, model_logits, next_token_logits
from course_lib.generation import (
    apply_repetition_penalty,
    apply_temperature,
    beam_search,
    beam_search_beams,
    filter_logits,
    greedy_decode,
    greedy_margins,
    next_token_distribution,
    sample,
)
from course_lib.model import GPT, GPTConfig, to_hf

V = 97


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def hf_gpt2(seed=0, vocab_size=V):
    """A tiny random GPT-2. initializer_range=0.3 (not 0.02) makes the next-token distribution
    peaked, so the best tokens are separated by far more than rounding and comparisons are robust."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=4, initializer_range=0.3,
                        bos_token_id=None, eos_token_id=None, pad_token_id=None)
    return GPT2LMHeadModel(config).eval()


def course_gpt(seed=0, context_length=64):
    torch.manual_seed(seed)
    gpt = GPT(GPTConfig(vocab_size=V, context_length=context_length, n_layer=2, n_head=4, d_model=32))
    with torch.no_grad():
        for p in gpt.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)  # peaked distributions, as in hf_gpt2
    return gpt.eval()


def prompt(B=1, T=5, seed=0):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


def hf_generate(model, ids, **kwargs):
    kwargs.setdefault("pad_token_id", 0)
    return model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)


def random_logits(case: int) -> torch.Tensor:
    """Varied (B, V) logits: smooth, peaked, integer-valued (many exact ties), constant, with -inf."""
    g = torch.Generator().manual_seed(case)
    B = 1 + case % 3
    vocab = [1, 2, 3, 10, 17, 50, 97, 1000][case % 8]
    kind = case % 5
    if kind == 0:
        x = torch.randn(B, vocab, generator=g)
    elif kind == 1:
        x = torch.randn(B, vocab, generator=g) * 8.0
    elif kind == 2:
        x = torch.randint(0, 4, (B, vocab), generator=g).float()  # exact ties everywhere
    elif kind == 3:
        x = torch.full((B, vocab), 1.5)  # all equal
    else:
        x = torch.randn(B, vocab, generator=g) * 3.0
        x[torch.rand(B, vocab, generator=g) < 0.3] = float("-inf")
        x[:, 0] = 0.0  # at least one finite logit per row
    return x


# ----------------------------------------------------------------------------- logits processing


def test_filter_logits_keeps_exactly_what_transformers_keeps():
    top_ps = [1e-8, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999999]
    n_filtered = 0
    for case in range(240):
        logits = random_logits(case)
        vocab = logits.shape[-1]
        top_k = [1, 2, 3, 5, max(vocab - 1, 1), vocab, vocab + 3][case % 7]
        top_p = top_ps[case % len(top_ps)]
        keep = 1 + case % 3  # min_tokens_to_keep
        ref_k = TopKLogitsWarper(top_k, min_tokens_to_keep=keep)(None, logits.clone())
        ref_p = TopPLogitsWarper(top_p, min_tokens_to_keep=keep)(None, logits.clone())
        ref_kp = TopPLogitsWarper(top_p, min_tokens_to_keep=keep)(None, ref_k.clone())
        assert torch.equal(filter_logits(logits, top_k=top_k, min_tokens_to_keep=keep), ref_k), case
        assert torch.equal(filter_logits(logits, top_p=top_p, min_tokens_to_keep=keep), ref_p), case
        assert torch.equal(filter_logits(logits, top_k=top_k, top_p=top_p, min_tokens_to_keep=keep), ref_kp), case
        assert torch.equal(filter_logits(logits[0], top_k=top_k, top_p=top_p, min_tokens_to_keep=keep), ref_kp[0])
        n_filtered += int(torch.isneginf(ref_kp).sum() > torch.isneginf(logits).sum())
    assert n_filtered > 100, "the cases must exercise the filters, not only keep everything"


def test_filter_logits_by_hand():
    x = torch.tensor([3.0, 1.0, 3.0, 2.0])
    kept = lambda out: torch.isfinite(out).nonzero().flatten().tolist()  # noqa: E731
    assert kept(filter_logits(x, top_k=1)) == [0, 2], "a tie with the k-th best is kept"
    assert kept(filter_logits(x, top_k=3)) == [0, 2, 3]
    p = torch.log(torch.tensor([0.5, 0.3, 0.2]))
    assert kept(filter_logits(p, top_p=0.4)) == [0]
    assert kept(filter_logits(p, top_p=0.75)) == [0, 1], "0.5 + 0.3 >= 0.75: the smallest such set"
    assert kept(filter_logits(p, top_p=0.85)) == [0, 1, 2]
    assert kept(filter_logits(p, top_p=0.4, min_tokens_to_keep=2)) == [0, 1]
    # top_p = 1 keeps everything, even a token whose probability underflows to 0 (as generate, which skips the warper)
    far = torch.tensor([0.0, -1000.0, 5.0])
    assert torch.equal(filter_logits(far, top_p=1.0), far)
    assert torch.equal(filter_logits(far), far)


def test_temperature_and_repetition_penalty_match_transformers():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, V, generator=g) * 4
    for t in (0.1, 0.7, 1.0, 2.5):
        assert torch.equal(apply_temperature(logits, t), TemperatureLogitsWarper(t)(None, logits))
    ids = torch.randint(V, (3, 12), generator=g)
    ids[:, -1] = ids[:, 0]  # a repeated token is penalised once, not twice
    for penalty in (0.5, 1.0, 1.3, 3.0):
        ref = RepetitionPenaltyLogitsProcessor(penalty)(ids, logits.clone())
        out = apply_repetition_penalty(logits, ids, penalty)
        assert torch.equal(out, ref)
        if penalty > 1:
            seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, ids, True)
            assert bool((out[seen] < logits[seen]).all()) and torch.equal(out[~seen], logits[~seen])
    # temperature 0 is the greedy limit: everything but the best token(s) is masked
    zero = apply_temperature(torch.tensor([1.0, 4.0, 2.0, 4.0]), 0)
    assert torch.isfinite(zero).tolist() == [False, True, False, True]


def test_next_token_distribution_is_the_distribution_generate_samples_from():
    logits = torch.randn(V, generator=torch.Generator().manual_seed(1)) * 3
    for t, k, p in [(1.0, None, None), (0.7, 20, 0.9), (1.5, 5, None), (0.3, None, 0.5), (2.0, 50, 0.99)]:
        ref = TemperatureLogitsWarper(t)(None, logits[None])
        if k is not None:
            ref = TopKLogitsWarper(k)(None, ref)
        if p is not None:
            ref = TopPLogitsWarper(p)(None, ref)
        probs = next_token_distribution(logits, temperature=t, top_k=k, top_p=p)
        assert torch.allclose(probs, torch.softmax(ref[0], -1), atol=1e-7)
        assert abs(probs.sum().item() - 1) < 1e-5
        if k is not None:
            assert int((probs > 0).sum()) <= k
    entropy = lambda q: -(q[q > 0] * q[q > 0].log()).sum().item()  # noqa: E731
    entropies = [entropy(next_token_distribution(logits, temperature=t)) for t in (0.25, 0.5, 1.0, 2.0, 4.0)]
    assert entropies == sorted(entropies), "a higher temperature flattens the distribution"
    best = int(logits.argmax())
    for probs in (next_token_distribution(logits, temperature=0), next_token_distribution(logits, top_k=1),
                  next_token_distribution(logits, top_p=1e-6)):
        assert probs[best].item() == 1.0 and probs.sum().item() == 1.0


# ----------------------------------------------------------------------------- models and decoding


def test_model_adapter_gives_the_same_logits_for_both_kinds_of_model():
    gpt = course_gpt()
    hf = to_hf(gpt).eval()
    ids = prompt(B=2, T=10)
    assert (model_logits(gpt, ids) - model_logits(hf, ids)).abs().max().item() < 1e-4
    assert context_length_of(gpt) == context_length_of(hf) == 64
    # past the context length the prefix is cropped from the left ...
    short = course_gpt(context_length=8)
    long_ids = prompt(T=20)
    assert torch.equal(next_token_logits(short, long_ids), short(long_ids[:, -8:])[0][:, -1])
    assert greedy_decode(short, prompt(T=6), 10).shape == (1, 16), "generating past the context crops"
    # ... but a prompt that does not fit is refused before it reaches the model, the limit named
    for model in (short, to_hf(short).eval()):
        for decode in (lambda m: greedy_decode(m, long_ids, 5), lambda m: sample(m, long_ids, 5),
                       lambda m: beam_search(m, long_ids, 2, 5)):
            with pytest.raises(ValueError, match="20 tokens but this model reads at most 8"):
                decode(model)


def test_greedy_margins_say_how_clear_each_greedy_choice_was():
    gpt = course_gpt(seed=3)
    ids = prompt(T=5)
    out = greedy_decode(gpt, ids, 12)[0]  # (17,)
    margins = greedy_margins(gpt, out, 12)
    assert margins.shape == (12,) and bool((margins > 0).all())
    with torch.no_grad():
        logits = gpt(out[None, :-1])[0][0, 4:]  # (12, V)
    top2 = torch.topk(logits, 2).values
    assert torch.allclose(margins, top2[:, 0] - top2[:, 1], atol=1e-5)
    changed = out.clone()
    changed[-1] = int(torch.topk(logits[-1], 2).indices[1])  # the runner-up instead of the best
    assert greedy_margins(gpt, changed, 12)[-1] < 0
    with pytest.raises(ValueError, match="one sequence"):
        greedy_margins(gpt, torch.stack([out, out]), 12)
    with pytest.raises(ValueError, match="n_new"):
        greedy_margins(gpt, out, 17)


def test_greedy_decode_matches_generate():
    gpt = course_gpt(seed=1)
    hf_from_gpt = to_hf(gpt).eval()
    for model, seed in [(hf_from_gpt, 0), (hf_gpt2(seed=2), 1)]:
        ids = prompt(B=2, T=5, seed=seed)
        ref = hf_generate(model, ids, do_sample=False, max_new_tokens=12)
        assert torch.equal(greedy_decode(model, ids, 12), ref)
        if model is hf_from_gpt:
            assert torch.equal(greedy_decode(gpt, ids, 12), ref), "the course GPT decodes like its HF copy"
        assert torch.equal(greedy_decode(model, ids[0], 12), ref[0]), "a 1-D prompt gives a 1-D result"
        # repetition penalty: same tokens, and different from plain greedy decoding
        ref_rp = hf_generate(model, ids, do_sample=False, max_new_tokens=12, repetition_penalty=3.0)
        assert torch.equal(greedy_decode(model, ids, 12, repetition_penalty=3.0), ref_rp)
        assert not torch.equal(ref_rp, ref)
        # an EOS id that row 0 produces: it stops there, and row 1 goes on or is padded
        eos = int(ref[0, 8])
        ref_eos = hf_generate(model, ids, do_sample=False, max_new_tokens=12, eos_token_id=eos, pad_token_id=1)
        out = greedy_decode(model, ids, 12, eos_token_id=eos, pad_token_id=1)
        assert torch.equal(out, ref_eos)
        assert (out[0, 5:] == eos).any()


def test_sample_matches_generate_with_the_same_seed():
    model = hf_gpt2(seed=3)
    ids = prompt(B=2, T=4, seed=3)
    settings = [dict(temperature=1.0), dict(temperature=0.8, top_k=10, top_p=0.9), dict(temperature=1.7, top_p=0.6)]
    for i, s in enumerate(settings):
        torch.manual_seed(100 + i)
        ref = hf_generate(model, ids, do_sample=True, max_new_tokens=15, **{"top_k": 0, **s})  # generate's top_k is 50
        assert torch.equal(sample(model, ids, 15, seed=100 + i, **s), ref), s


def test_sampling_is_reproducible_and_the_settings_matter():
    gpt = course_gpt(seed=4)
    ids = prompt(T=4, seed=4)
    a = sample(gpt, ids, 20, temperature=1.5)
    assert torch.equal(a, sample(gpt, ids, 20, temperature=1.5)), "deterministic by default"
    assert not torch.equal(a, sample(gpt, ids, 20, temperature=1.5, seed=1))
    g = torch.Generator().manual_seed(0)
    b, c = sample(gpt, ids, 20, temperature=1.5, generator=g), sample(gpt, ids, 20, temperature=1.5, generator=g)
    assert torch.equal(b, a) and not torch.equal(b, c), "seed=0 and a generator seeded 0 agree; it advances"
    greedy = greedy_decode(gpt, ids, 20)
    assert torch.equal(sample(gpt, ids, 20, temperature=0), greedy)
    assert torch.equal(sample(gpt, ids, 20, temperature=1.5, top_k=1), greedy)
    assert not torch.equal(a, greedy)


def test_beam_search_matches_generate_without_eos():
    for seed, num_beams, length_penalty in [(0, 2, 1.0), (1, 3, 0.0), (2, 4, 2.0)]:
        model = hf_gpt2(seed=seed)
        ids = prompt(T=4, seed=seed)
        ref = hf_generate(model, ids, do_sample=False, num_beams=num_beams, max_new_tokens=8,
                          length_penalty=length_penalty, early_stopping=True)
        assert torch.equal(beam_search(model, ids, num_beams, 8, length_penalty=length_penalty), ref)
    gpt = course_gpt(seed=5)
    ids = prompt(T=4, seed=5)
    ref = hf_generate(to_hf(gpt).eval(), ids, do_sample=False, num_beams=3, max_new_tokens=8)
    assert torch.equal(beam_search(gpt, ids, 3, 8), ref)
    assert torch.equal(beam_search(gpt, ids[0], 3, 8), ref[0])


def test_beam_search_matches_generate_with_eos():
    model = hf_gpt2(seed=6)
    ids = prompt(T=4, seed=6)
    no_eos = beam_search(model, ids, 3, 10)
    stopped_early = 0
    for (early_stopping, length_penalty), eos in itertools.product(
        [(True, 1.0), (False, 1.0), ("never", 2.0), (False, 0.0)], [int(no_eos[0, 7]), [int(no_eos[0, 6]), 5]]
    ):
        ref = hf_generate(model, ids, do_sample=False, num_beams=3, max_new_tokens=10, eos_token_id=eos,
                          early_stopping=early_stopping, length_penalty=length_penalty)
        out = beam_search(model, ids, 3, 10, eos_token_id=eos, early_stopping=early_stopping,
                          length_penalty=length_penalty)
        assert torch.equal(out, ref), (early_stopping, length_penalty, eos)
        stopped_early += out.shape[1] < 14
    assert stopped_early >= 2, "EOS must end some hypotheses early for this test to mean something"
    # token 8 is among the 2k candidates of an early step but not among the best k: it must not
    # finish a hypothesis there (a beam search that lets it would return [..., 8] at once)
    ref = hf_generate(model, ids, do_sample=False, num_beams=3, max_new_tokens=8, eos_token_id=8, early_stopping=True)
    out = beam_search(model, ids, 3, 8, eos_token_id=8, early_stopping=True)
    assert torch.equal(out, ref) and out.shape[1] > 5


def test_wide_beam_search_finds_the_most_likely_sequence():
    model = hf_gpt2(seed=7, vocab_size=5)
    ids = torch.tensor([[1, 3]])
    beams = beam_search_beams(model, ids, num_beams=25, max_new_tokens=3)  # 25 >= 5 ** 2
    best = beam_search(model, ids, num_beams=25, max_new_tokens=3)
    assert torch.equal(best[0], beams[0].ids), "beam_search returns the best of beam_search_beams, shaped like ids"
    candidates = torch.tensor(list(itertools.product(range(5), repeat=3)))  # (125, 3): every continuation
    full = torch.cat([ids.expand(125, 2), candidates], dim=1)
    with torch.no_grad():
        logp = torch.log_softmax(model_logits(model, full), -1)[:, 1:-1]  # predicts tokens 2..4
    totals = logp.gather(2, full[:, 2:, None]).squeeze(2).sum(1)  # (125,)
    assert torch.equal(best[0], full[int(totals.argmax())])
    assert len(beams) == 25 and beams[0].score >= beams[1].score >= beams[-1].score
    assert math.isclose(beams[0].logprob, totals.max().item(), abs_tol=1e-4)
    assert math.isclose(beams[0].score, beams[0].logprob / 3, rel_tol=1e-6), "length_penalty=1: per-token score"
    # a narrow beam can miss it, but never beats it
    narrow = beam_search_beams(model, ids, num_beams=1, max_new_tokens=3)[0]
    assert narrow.logprob <= beams[0].logprob + 1e-6


def test_beam_search_of_zero_new_tokens_is_the_prompt():
    gpt = course_gpt()
    ids = prompt(T=4)
    assert torch.equal(beam_search(gpt, ids, 3, 0), ids) and torch.equal(beam_search(gpt, ids[0], 3, 0), ids[0])
    (beam,) = beam_search_beams(gpt, ids, 3, 0)
    assert torch.equal(beam.ids, ids[0]) and beam.logprob == 0.0 and beam.score == 0.0


def test_bad_input_says_what_to_do():
    logits = torch.randn(10)
    gpt = course_gpt()
    ids = prompt(T=3)
    cases = [
        (lambda: apply_temperature(logits, -0.5), "temperature"),
        (lambda: next_token_distribution(logits, temperature=-1), "temperature"),
        (lambda: filter_logits(logits, top_p=0.0), "top_p"),
        (lambda: filter_logits(logits, top_p=1.5), "top_p"),
        (lambda: filter_logits(logits, top_k=0), "top_k"),
        (lambda: filter_logits(logits, top_k=2.5), "top_k"),
        (lambda: filter_logits(torch.tensor([1.0, float("nan")]), top_k=1), "NaN"),
        (lambda: apply_repetition_penalty(logits, torch.tensor([1, 2]), 0.0), "penalty"),
        (lambda: apply_repetition_penalty(logits, torch.tensor([1, 20]), 1.2), "vocabulary"),
        (lambda: next_token_distribution(torch.full((4,), float("-inf"))), "-inf"),
        (lambda: greedy_decode(gpt, ids.float(), 3), "long"),
        (lambda: greedy_decode(gpt, torch.zeros(1, 0, dtype=torch.long), 3), "empty"),
        (lambda: greedy_decode(gpt, ids, -1), "max_new_tokens"),
        (lambda: sample(gpt, ids, 3, top_p=2.0), "top_p"),
        (lambda: beam_search(gpt, ids, 0, 3), "num_beams"),
        (lambda: beam_search(gpt, prompt(B=2), 2, 3), "once per prompt"),
        (lambda: beam_search_beams(gpt, prompt(B=2), 2, 3), "once per prompt"),
        (lambda: beam_search(gpt, ids, 2, 3, early_stopping="sometimes"), "early_stopping"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=words):
            call()
