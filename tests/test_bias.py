"""course_lib.bias: word counts, templated log-probability gaps, their summary, language costs."""
import numpy as np
import pytest
import torch

from course_lib.bias import (language_costs, sentence_logprob, share_interval, summarize_gaps, template_gaps,
                             word_counts)
from course_lib.model import GPT, GPTConfig


class ByteTok:
    bos_token_id = 0

    def encode(self, text):
        return list(text.encode())


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=256, context_length=64, n_layer=1, n_head=2, d_model=16)).eval()


def test_word_counts_are_whole_words_and_case_insensitive():
    text = "He said the help is here. She and he; HE! shell, she's"
    assert word_counts(text, ["he", "she", "the"]) == {"he": 3, "she": 1, "the": 1}


def test_share_interval_matches_the_binomial():
    share, low, high = share_interval(14, 6)
    assert share == 0.7 and low < 0.5 < 0.7 < high  # 14 vs 6 does not exclude an even split
    share, low, high = share_interval(1400, 600)
    assert 0.67 < low < share < high < 0.73
    with pytest.raises(ValueError):
        share_interval(0, 0)


def test_sentence_logprob_scores_every_byte_after_bos(model):
    ids = torch.tensor([[0] + list(b"hi there")])
    logits, _ = model(ids)
    expected = torch.log_softmax(logits[0, :-1], -1).gather(1, ids[0, 1:, None]).sum().item()
    assert sentence_logprob(model, ByteTok(), "hi there") == pytest.approx(expected, abs=1e-4)


def test_template_gaps_are_differences_and_antisymmetric(model):
    tok = ByteTok()
    templates = ["Then {} wrote it.", "Ask whether {} agrees."]
    gaps = template_gaps(model, tok, templates, "he", "she")
    by_hand = [sentence_logprob(model, tok, t.format("he")) - sentence_logprob(model, tok, t.format("she"))
               for t in templates]
    assert np.allclose(gaps, by_hand)
    assert np.allclose(template_gaps(model, tok, templates, "she", "he"), -gaps)
    assert np.allclose(template_gaps(model, tok, templates, "it", "it"), 0.0)
    with pytest.raises(ValueError, match="exactly one"):
        template_gaps(model, tok, ["no slot here"], "a", "b")


def test_summarize_gaps():
    s = summarize_gaps([1.0, 2.0, 3.0, 2.0, 2.0, 1.5, 2.5, 2.0])
    assert s.mean == pytest.approx(2.0) and s.low < 2.0 < s.high and s.low > 1.0
    assert s.n_positive == 8 and s.p_value == pytest.approx(2 * 0.5**8)
    assert s.odds_ratio == pytest.approx(np.exp(2.0))
    noisy = summarize_gaps([1.0, -1.2, 0.8, -0.9, 1.1, -1.0])
    assert noisy.low < 0 < noisy.high and noisy.p_value == 1.0
    assert summarize_gaps([1.0, -1.2, 0.8], seed=3) == summarize_gaps([1.0, -1.2, 0.8], seed=3)
    with pytest.raises(ValueError):
        summarize_gaps([1.0])


def test_language_costs_count_tokens_bytes_and_nats(model):
    tok = ByteTok()
    costs = language_costs(model, tok, {"en": ["a cat"], "de": ["eine Katze"]})
    assert costs["en"].n_tokens == costs["en"].n_bytes == 5
    assert costs["de"].n_tokens == 10
    assert costs["de"].nats == pytest.approx(-sentence_logprob(model, tok, "eine Katze"))
    with pytest.raises(ValueError, match="same"):
        language_costs(model, tok, {"en": ["a", "b"], "de": ["c"]})
