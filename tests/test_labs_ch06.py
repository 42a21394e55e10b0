"""course_lib.labs.ch06_decoding: the logic behind chapter 06's temperature / top-k / top-p sliders."""
import math

import pytest
import torch
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from course_lib.labs.ch06_decoding import (
    continuation,
    decoding_widget,
    distinct_interval,
    next_token_state,
    plot_next_token,
    prompt_logits,
    token_label,
)
from course_lib.generation import sample
from course_lib.model import GPT, GPTConfig
from course_lib.tokenizer import train_bpe

TEXT = ("The quick brown fox jumps over the lazy dog. " * 20 + "def read(path):\n    return open(path).read()\n" * 10)


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXT, vocab_size=300)


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=len(tok), context_length=32, n_layer=1, n_head=2, d_model=32))
    with torch.no_grad():
        for p in gpt.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)  # a peaked, uneven distribution, as a trained model gives
    return gpt.eval()


@pytest.fixture(scope="module")
def logits(model, tok):
    return prompt_logits(model, tok, "The quick brown")


def test_prompt_logits_are_the_models_last_position(model, tok, logits):
    ids = tok("The quick brown", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = model(ids)[0][0, -1]
    assert logits.shape == (len(tok),)
    assert torch.allclose(logits, expected)
    model.train()
    try:
        prompt_logits(model, tok, "The quick brown")
        assert model.training, "prompt_logits restores the training mode it found"
    finally:
        model.eval()


def test_token_label_makes_whitespace_visible(tok):
    space_the = tok.encode(" the")
    assert len(space_the) == 1 and token_label(tok, space_the[0]) == "\u2423the"
    newline = tok.encode("\n")
    assert "\u21b5" in token_label(tok, newline[0])
    assert token_label(tok, tok.eos_token_id) == "<|endoftext|>"


def test_state_without_filters_is_the_model_distribution(tok, logits):
    state = next_token_state(logits, tok)
    assert torch.allclose(state.probs, torch.softmax(logits, -1), atol=1e-6)
    assert state.n_kept == len(tok) and state.top_k is None and state.top_p is None
    expected_h = -(state.probs * state.probs.log2()).sum().item()
    assert math.isclose(state.entropy_bits, expected_h, rel_tol=1e-4)
    probs = [p for _, p, _ in state.top]
    assert probs == sorted(probs, reverse=True) and math.isclose(probs[0], state.base_probs.max().item())


@pytest.mark.parametrize("top_k,top_p", [(1, None), (5, None), (0, 0.5), (None, 0.9), (20, 0.8), (50, 0.99)])
def test_kept_tokens_are_transformers_warpers(tok, logits, top_k, top_p):
    state = next_token_state(logits, tok, temperature=0.7, top_k=top_k, top_p=top_p)
    ref = logits[None] / 0.7
    if top_k:
        ref = TopKLogitsWarper(top_k)(None, ref)
    if top_p is not None:
        ref = TopPLogitsWarper(top_p)(None, ref)
    assert torch.equal(state.probs > 0, torch.isfinite(ref[0]))
    assert math.isclose(state.probs.sum().item(), 1.0, rel_tol=1e-5)


def test_slider_conventions(tok, logits):
    """top-k 0 and top-p 1.0 are 'off' (as in generate); temperature 0 is greedy."""
    off = next_token_state(logits, tok, 1.0, 0, 1.0)
    assert off.top_k is None and off.top_p is None and off.n_kept == len(tok)
    greedy = next_token_state(logits, tok, 0.0)
    assert greedy.n_kept == 1 and greedy.entropy_bits == 0.0
    assert int(greedy.probs.argmax()) == int(logits.argmax())


def test_temperature_orders_the_entropy(tok, logits):
    hs = [next_token_state(logits, tok, t).entropy_bits for t in (0.25, 0.5, 1.0, 1.5, 3.0)]
    assert all(a < b for a, b in zip(hs, hs[1:])), hs
    assert hs[-1] < math.log2(len(tok))


def test_bad_input_says_what_to_do(tok, logits, model):
    with pytest.raises(ValueError, match="temperature"):
        next_token_state(logits, tok, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        next_token_state(logits, tok, top_k=-3)
    with pytest.raises(ValueError, match="top_p"):
        next_token_state(logits, tok, top_p=1.5)
    with pytest.raises(ValueError, match=r"\(V,\)"):
        next_token_state(logits[None], tok)
    with pytest.raises(ValueError, match="non-empty"):
        prompt_logits(model, tok, "")


def test_continuation_is_course_sample(model, tok):
    text = continuation(model, tok, "The quick", 0.8, 10, 0.9, n_tokens=6, seed=3)
    ids = tok("The quick", return_tensors="pt")["input_ids"]
    ref = sample(model, ids, 6, temperature=0.8, top_k=10, top_p=0.9, eos_token_id=tok.eos_token_id, seed=3)
    assert text == tok.decode(ref[0, ids.shape[1]:], skip_special_tokens=True)
    assert continuation(model, tok, "The quick", 0.8, 10, 0.9, n_tokens=6, seed=3) == text, "same seed, same text"
    greedy = continuation(model, tok, "The quick", 0.0, n_tokens=6)
    assert greedy == continuation(model, tok, "The quick", 1.0, top_k=1, n_tokens=6, seed=5)


def test_plot_shows_both_distributions(tok, logits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    state = next_token_state(logits, tok, 1.0, top_k=3, n_show=8)
    ax = plot_next_token(state)
    assert len(ax.patches) == 16 and len(ax.get_yticklabels()) == 8
    plt.close(ax.figure)


def test_widget_updates_follow_the_sliders(model, tok):
    box = decoding_widget(model, tok, "The quick brown", n_tokens=5, plot=False)
    first = box.update()
    assert first.n_kept == len(tok) and "entropy" in box.text.value
    box.top_k.value = 3
    assert box.update().n_kept == 3 and "top-k 3" in box.text.value
    box.temperature.value = 0.0
    assert box.update().n_kept == 1
    assert box.resample() == continuation(model, tok, "The quick brown", 0.0, 3, 1.0, 5, box.seed.value)
    box.prompt_box.value = "def read"
    assert torch.equal(box.update().base_probs, torch.softmax(prompt_logits(model, tok, "def read"), -1))


def test_widget_draws_its_figure_as_png(model, tok):
    import matplotlib

    matplotlib.use("Agg")
    box = decoding_widget(model, tok, "The quick brown", n_tokens=2)
    assert box.figure.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert box.temperature.description == "temperature"


def test_partial_characters_show_their_bytes(tok):
    """A byte-level token inside a multi-byte character cannot be decoded alone: show its bytes."""
    ids = tok.encode("\u2192")  # the arrow is 3 UTF-8 bytes, E2 86 92, unseen in training: 3 byte tokens
    assert [token_label(tok, i) for i in ids] == ["<0xE2>", "<0x86>", "<0x92>"]
    assert token_label(tok, tok.encode("\u00e9")[0]) == "<0xC3>"


def test_compare_strategies_measures_each_strategy_on_its_own_texts(tok):
    from transformers import GPT2Config, GPT2LMHeadModel

    from course_lib.labs.ch06_decoding import STRATEGIES, compare_strategies
    from course_lib.metrics import distinct_n, repetition_rate

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                                    initializer_range=0.3, bos_token_id=None, eos_token_id=None)).eval()
    prompts = ["The quick brown", "def read(path):", "The lazy"]
    side = tok.padding_side
    wanted = {k: STRATEGIES[k] for k in ("greedy", "sampling, T = 1", "top-p 0.9")}
    table = compare_strategies(hf, tok, prompts, new_tokens=8, samples=2, seed=0, strategies=wanted)
    assert tok.padding_side == side, "the tokenizer is left as it was"
    assert list(table.rows) == list(wanted)
    assert len(table.texts["greedy"]) == 3 and len(table.texts["sampling, T = 1"]) == 6
    # greedy texts: each equals generate on its prompt alone (left padding and the mask work)
    per_text = []
    for prompt, text in zip(prompts, table.texts["greedy"]):
        ids = tok(prompt, return_tensors="pt")
        out = hf.generate(**ids, max_new_tokens=8, min_new_tokens=8, do_sample=False, pad_token_id=tok.eos_token_id)
        assert tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True) == text
        # and its log-probability per token is the model's own, scored on the prompt alone
        with torch.no_grad():
            lp = torch.log_softmax(hf(out).logits[0, ids["input_ids"].shape[1] - 1:-1], -1)
        new = out[0, ids["input_ids"].shape[1]:]
        per_text.append(lp.gather(1, new[:, None]).mean().item())
    row = table.rows["greedy"]
    assert row.logprob.estimate == pytest.approx(sum(per_text) / 3, abs=1e-4)
    assert row.logprob.estimate > table.rows["sampling, T = 1"].logprob.estimate  # greedy: the likely tokens
    assert 0 <= row.repetition.low <= row.repetition.estimate <= row.repetition.high <= 1
    greedy_ids = table.token_ids["greedy"]
    assert [len(t) for t in greedy_ids] == [8, 8, 8]
    assert row.repetition.estimate == pytest.approx(sum(repetition_rate(t, 4) for t in greedy_ids) / 3)
    assert row.distinct.estimate == pytest.approx(sum(distinct_n([t], 2) for t in greedy_ids) / 3)
    assert 0 <= row.distinct.low <= row.distinct.estimate <= row.distinct.high <= 1
    assert "greedy" in table.summary("title") and table.summary().count("\n") == 3
    with pytest.raises(ValueError, match="at least two prompts"):
        compare_strategies(hf, tok, "one prompt")


# Eight texts of token ids: varied ones, loops, a single repeated token.
TEXTS = [[1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 1, 2, 1, 2, 1, 2], [5, 5, 5, 5, 5, 5], [3, 1, 4, 1, 5, 9, 2, 6],
         [9, 8, 7, 9, 8, 7, 9, 8], [2, 7, 1, 8, 2, 8, 1, 8], [10, 11, 12, 13, 14, 15], [4, 4, 4, 6, 6, 6, 4, 4]]


def test_distinct_interval_is_the_mean_of_each_texts_distinct_2_and_lies_around_it():
    """Each text's distinct token pairs over its pairs, averaged; the interval contains the estimate.

    distinct-2 of the pooled texts, bootstrapped by resampling texts, fails the second check: a
    resample that repeats a text repeats its pairs (here 0.654 with an "interval" of 0.250 to 0.611).
    """
    by_hand = [len(set(zip(t, t[1:]))) / (len(t) - 1) for t in TEXTS]  # [1, 2/7, 1/5, 1, 3/7, 6/7, 1, 4/7]
    interval = distinct_interval(TEXTS, seed=0)
    assert interval.estimate == pytest.approx(sum(by_hand) / len(TEXTS))
    assert interval.n == len(TEXTS)
    assert min(by_hand) <= interval.low < interval.estimate < interval.high <= max(by_hand)
    for seed in range(5):  # not a lucky seed
        i = distinct_interval(TEXTS, seed=seed)
        assert i.low <= i.estimate <= i.high
    loops = [[7, 7, 7, 7]] * 3  # three texts, each one repeated token: one distinct pair of three
    same = distinct_interval(loops)
    assert same.low == same.estimate == same.high == pytest.approx(1 / 3)
    assert distinct_interval(TEXTS, n=1).estimate == pytest.approx(sum(len(set(t)) / len(t) for t in TEXTS) / 8)


@pytest.mark.parametrize("bad, match", [("one text", "at least two token lists"), ([[1, 2, 3]], "at least two"),
                                        ([[1, 2, 3], [4]], "fewer than n = 2 tokens")])
def test_distinct_interval_refuses_what_it_cannot_measure(bad, match):
    with pytest.raises(ValueError, match=match):
        distinct_interval(bad)
