"""course_lib.objectives: BERT masking, the masked-LM encoder, number words -> digits."""
import pytest
import torch

from course_lib.objectives import (
    IGNORE_INDEX,
    MaskedLMEncoder,
    decode_digits,
    encode_words,
    fill_masks,
    mask_tokens,
    number_to_words,
    number_words_batch,
    source_vocab_size,
    split_numbers,
    target_vocab_size,
    translate,
)
from course_lib.train import train_masked_lm, train_translation
from course_lib.transformer import BOS, EOS, FIRST_DIGIT, PAD, Seq2SeqTransformer


def test_mask_tokens_follows_berts_recipe():
    ids = torch.randint(100, (200, 500), generator=torch.Generator().manual_seed(0))
    inputs, labels = mask_tokens(ids, mask_id=100, n_random=100, generator=torch.Generator().manual_seed(1))
    chosen = labels != IGNORE_INDEX
    assert abs(chosen.float().mean().item() - 0.15) < 0.005
    assert torch.equal(labels[chosen], ids[chosen]), "labels are the original tokens"
    assert torch.equal(inputs[~chosen], ids[~chosen]), "unchosen positions are untouched"
    masked = (inputs == 100) & chosen
    assert abs(masked.sum().item() / chosen.sum().item() - 0.8) < 0.02
    kept = (inputs == ids) & chosen  # 10% kept, plus random draws that hit the same id (1%)
    assert abs(kept.sum().item() / chosen.sum().item() - 0.1 - 0.009) < 0.02
    assert not bool((inputs[~masked] == 100).any()), "random replacements never draw the mask id"
    again = mask_tokens(ids, 100, 100, torch.Generator().manual_seed(1))
    assert torch.equal(again[0], inputs) and torch.equal(again[1], labels)
    with pytest.raises(ValueError, match="mask_prob"):
        mask_tokens(ids, 100, 100, torch.Generator(), mask_prob=1.5)


def test_encoder_is_bidirectional():
    torch.manual_seed(0)
    model = MaskedLMEncoder(vocab_size=11, context_length=8, d_model=16, n_layer=1, n_head=2).eval()
    x = torch.randint(10, (1, 8))
    y = x.clone()
    y[0, -1] = (x[0, -1] + 1) % 10
    logits_x, _ = model(x)
    logits_y, _ = model(y)
    assert logits_x.shape == (1, 8, 11)
    assert not torch.allclose(logits_x[0, 0], logits_y[0, 0]), "position 0 sees the last token (no causal mask)"
    with pytest.raises(ValueError, match="context_length"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_masked_lm_loss_scores_only_labelled_positions():
    torch.manual_seed(0)
    model = MaskedLMEncoder(vocab_size=11, context_length=8, d_model=16, n_layer=1, n_head=2).eval()
    x = torch.randint(10, (2, 8))
    labels = torch.full_like(x, IGNORE_INDEX)
    labels[0, 3] = 7
    logits, loss = model(x, labels)
    expected = -torch.log_softmax(logits[0, 3], dim=-1)[7]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_masked_lm_learns_a_periodic_sequence():
    data = (torch.arange(5000) % 5) * 3  # the masked token is fixed by its neighbours
    torch.manual_seed(0)
    model = MaskedLMEncoder(vocab_size=16, context_length=8, d_model=32, n_layer=1, n_head=2)
    losses = train_masked_lm(model, data, steps=100, batch_size=32, lr=5e-3).train_loss
    assert losses[0] > 2.0
    assert sum(losses[-10:]) / 10 < 0.3
    inputs = data[:8].clone()[None]
    inputs[0, [2, 5]] = model.mask_id
    assert torch.equal(fill_masks(model, inputs), data[:8][None])
    with pytest.raises(ValueError, match="mask token"):
        train_masked_lm(model, torch.tensor([0, 15, 1] * 20), steps=1)


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (42, "forty-two"), (100, "one hundred"),
    (312, "three hundred twelve"), (1000, "one thousand"), (2019, "two thousand nineteen"),
    (9999, "nine thousand nine hundred ninety-nine"), (100042, "one hundred thousand forty-two"),
    (999999, "nine hundred ninety-nine thousand nine hundred ninety-nine"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_words_bad_input():
    for bad in (-1, 1_000_000, 3.0, True):
        with pytest.raises(ValueError):
            number_to_words(bad)
    with pytest.raises(ValueError, match="unknown"):
        encode_words("three hundred and twelve")


def test_batches_and_codes():
    src, tgt = number_words_batch([312, 7])
    assert src.shape == (2, 4) and tgt.shape == (2, 5)
    assert src[1].tolist()[1:] == [EOS, PAD, PAD]
    assert tgt[0].tolist() == [BOS, FIRST_DIGIT + 3, FIRST_DIGIT + 1, FIRST_DIGIT + 2, EOS]
    assert tgt[1].tolist() == [BOS, FIRST_DIGIT + 7, EOS, PAD, PAD]
    assert decode_digits(tgt[0, 1:]) == "312" and decode_digits(tgt[1]) == "7"
    assert int(src.max()) < source_vocab_size() and int(tgt.max()) < target_vocab_size()
    train, test = split_numbers(999, n_test=100, seed=0)
    assert len(train) == 900 and len(test) == 100
    assert sorted(train.tolist() + test.tolist()) == list(range(1000))


def test_translation_loss_falls():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(source_vocab_size(), target_vocab_size(), d_model=32, nhead=2, num_encoder_layers=1,
                               num_decoder_layers=1, dim_feedforward=64, dropout=0.0, max_len=16, pad_idx=PAD)
    losses = train_translation(model, torch.arange(100), steps=60, batch_size=32, lr=3e-3).train_loss
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0]
    out = translate(model, ["forty-two", "seven"])
    assert len(out) == 2 and all(s.isdigit() or s == "" for s in out)
