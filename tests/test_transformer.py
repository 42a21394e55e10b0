"""course_lib.transformer: positions, the encoder-decoder model, its masks, decoding, the toy task."""
import math

import pytest
import torch

from course_lib.attention import causal_mask
from course_lib.train import sequence_accuracy, train_toy_task
from course_lib.transformer import (
    BOS,
    EOS,
    FIRST_DIGIT,
    PAD,
    Seq2SeqTransformer,
    SinusoidalPositionalEncoding,
    greedy_decode,
    reversal_batch,
    seq2seq_attention_maps,
    sinusoidal_encoding,
    teacher_forcing_loss,
    toy_to_text,
    toy_vocab_size,
)

TINY = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=64, dropout=0.0,
            max_len=24, pad_idx=PAD)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return Seq2SeqTransformer(13, 11, **TINY).eval()


# ----------------------------------------------------------------------------- positions


def test_sinusoidal_values_match_the_closed_form():
    d = 16
    pe = sinusoidal_encoding(50, d)
    assert pe.shape == (50, d)
    for p in (0, 1, 7, 49):
        for i in range(d // 2):
            angle = p / 10000 ** (2 * i / d)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    # position 0 is (0, 1, 0, 1, ...)
    assert torch.equal(pe[0, 0::2], torch.zeros(d // 2)) and torch.equal(pe[0, 1::2], torch.ones(d // 2))


def test_sinusoidal_dot_products_depend_only_on_the_offset():
    pe = sinusoidal_encoding(64, 32).double()
    gram = pe @ pe.T  # (64, 64)
    for k in (0, 1, 5, 20):
        diag = torch.diagonal(gram, offset=k)
        assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-5)
    # and the dot product is not the same for every offset
    assert abs(gram[0, 1] - gram[0, 20]) > 0.5


def test_positional_module_adds_the_table_and_checks_length():
    mod = SinusoidalPositionalEncoding(8, max_len=10)
    x = torch.zeros(2, 6, 8)
    assert torch.equal(mod(x), sinusoidal_encoding(10, 8)[:6].expand(2, 6, 8))
    assert sum(p.numel() for p in mod.parameters()) == 0  # a buffer, not a parameter
    with pytest.raises(ValueError, match="max_len"):
        mod(torch.zeros(1, 11, 8))


# ----------------------------------------------------------------------------- the model


def test_forward_shapes_and_initial_loss(tiny):
    src, tgt = reversal_batch(5, 0, min_len=3, max_len=6, n_digits=8)
    logits = tiny(src, tgt[:, :-1])
    assert logits.shape == (5, tgt.shape[1] - 1, 11)
    loss = teacher_forcing_loss(tiny, src, tgt).item()
    assert abs(loss - math.log(11)) < 0.7  # near-uniform predictions at initialisation


def test_causal_mask_future_targets_do_not_change_earlier_outputs(tiny):
    src = torch.tensor([[3, 4, 5, 6, EOS]])
    tgt = torch.tensor([[BOS, 7, 8, 9, 10, 4]])
    changed = tgt.clone()
    changed[0, 3:] = torch.tensor([3, 3, 3])
    a, b = tiny(src, tgt), tiny(src, changed)
    assert torch.allclose(a[0, :3], b[0, :3], atol=1e-5)
    assert not torch.allclose(a[0, 3:], b[0, 3:], atol=1e-3)
    # without the mask the decoder sees the future, and earlier outputs do change
    no_mask = torch.zeros(6, 6, dtype=torch.bool)
    a2, b2 = tiny(src, tgt, tgt_mask=no_mask), tiny(src, changed, tgt_mask=no_mask)
    assert not torch.allclose(a2[0, :3], b2[0, :3], atol=1e-3)


def test_mask_helpers_use_torchs_polarity(tiny):
    """future_mask / pad_positions: True = blocked (torch); attention.causal_mask: True = may attend."""
    assert torch.equal(Seq2SeqTransformer.future_mask(4), ~causal_mask(4))
    assert tiny.future_mask(3).tolist() == [[False, True, True], [False, False, True], [False, False, False]]
    ids = torch.tensor([[3, 4, PAD, PAD]])
    assert tiny.pad_positions(ids).tolist() == [[False, False, True, True]]
    assert Seq2SeqTransformer(5, 5, d_model=8, nhead=2).pad_positions(ids) is None  # no pad_idx
    assert not hasattr(tiny, "causal_mask") and not hasattr(tiny, "padding_mask"), "one meaning per name"
    # the default tgt_mask is future_mask: passing it explicitly changes nothing
    src, tgt = torch.tensor([[3, 4, EOS]]), torch.tensor([[BOS, 4, 3]])
    assert torch.equal(tiny(src, tgt), tiny(src, tgt, tgt_mask=tiny.future_mask(3)))


def test_source_padding_is_ignored(tiny):
    src = torch.tensor([[3, 4, 5, EOS]])
    padded = torch.tensor([[3, 4, 5, EOS, PAD, PAD]])
    tgt = torch.tensor([[BOS, 5, 4]])
    assert torch.allclose(tiny(src, tgt), tiny(padded, tgt), atol=1e-5)


def test_greedy_decode_matches_step_by_step_argmax(tiny):
    src, _ = reversal_batch(3, 1, min_len=2, max_len=4, n_digits=8)
    out = greedy_decode(tiny, src, 5, BOS, EOS)
    assert out.shape[0] == 3 and 2 <= out.shape[1] <= 6 and bool((out[:, 0] == BOS).all())
    # the first generated token is the arg-max of the full forward pass on BOS alone
    first = tiny(src, torch.full((3, 1), BOS)).argmax(-1)[:, 0]
    assert torch.equal(out[:, 1], first)
    assert torch.equal(tiny.greedy_decode(src, 5, BOS, EOS), out)


def test_reversal_batch_is_seeded_and_correct():
    src, tgt = reversal_batch(4, 7)
    src2, tgt2 = reversal_batch(4, torch.Generator().manual_seed(7))
    assert torch.equal(src, src2) and torch.equal(tgt, tgt2)
    assert not torch.equal(src, reversal_batch(4, 8)[0])
    for s, t in zip(src, tgt):
        digits = toy_to_text(s).split()[:-1]
        assert toy_to_text(t).split() == ["<bos>"] + digits[::-1] + ["<eos>"]
        assert 8 <= len(digits) <= 10
    _, copy = reversal_batch(4, 7, reverse=False)
    assert toy_to_text(copy[0]).split()[1:-1] == toy_to_text(src[0]).split()[:-1]
    assert int(src.max()) < toy_vocab_size() and FIRST_DIGIT == 3


def test_tiny_training_run_learns_to_reverse():
    """A small task (length 3-4, 4 digits): 150 steps reach >= 95% exact sequences on held-out data."""
    torch.manual_seed(0)
    model = Seq2SeqTransformer(7, 7, d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=64, dropout=0.0, max_len=8, pad_idx=PAD)
    src, tgt = reversal_batch(200, 999, min_len=3, max_len=4, n_digits=4)
    before = sequence_accuracy(model, src, tgt)
    history = train_toy_task(model, 150, batch_size=64, lr=3e-3, seed=0, min_len=3, max_len=4, n_digits=4)
    losses = history.train_loss  # the toy trainer records every step
    after = sequence_accuracy(model, src, tgt)
    assert before < 0.2 and history.step == list(range(1, 151))
    assert sum(losses[-10:]) / 10 < 0.3 * sum(losses[:10]) / 10
    assert after >= 0.95


def test_attention_maps_are_the_models_own_weights(tiny):
    src, tgt = reversal_batch(3, 5, min_len=3, max_len=6, n_digits=8)
    tiny.train()
    before = tiny(src, tgt[:, :-1]).detach()
    maps = seq2seq_attention_maps(tiny, src, tgt[:, :-1])
    assert tiny.training, "the training flag is restored"
    S, T = src.shape[1], tgt.shape[1] - 1
    assert maps["encoder self-attention"].shape == (2, 3, 4, S, S)
    assert maps["decoder self-attention"].shape == (1, 3, 4, T, T)
    assert maps["decoder cross-attention"].shape == (1, 3, 4, T, S)
    for w in maps.values():
        assert torch.allclose(w.sum(-1), torch.ones(w.shape[:-1]), atol=1e-5)  # rows are distributions
    assert float(maps["decoder self-attention"].triu(1).abs().max()) == 0.0  # causal: nothing above the diagonal
    pads = src == PAD  # padded source positions get no weight
    assert float(maps["decoder cross-attention"].masked_select(pads[None, :, None, None, :]).abs().max()) == 0.0
    # the hooks are gone and the model computes what it did before
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in tiny.modules())
    assert torch.equal(tiny(src, tgt[:, :-1]), before)
    # recomputed by hand from the first encoder layer's own projections (post-LN: attention reads the input)
    tiny.eval()
    layer = tiny.transformer.encoder.layers[0]
    x = tiny.pos(tiny.src_embed(src) * math.sqrt(tiny.d_model))
    q, k, _ = torch.nn.functional.linear(x, layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias).chunk(3, -1)
    q, k = (t.view(3, S, 4, 8).transpose(1, 2) for t in (q, k))
    scores = (q @ k.transpose(-1, -2) / math.sqrt(8)).masked_fill(pads[:, None, None, :], float("-inf"))
    assert torch.allclose(maps["encoder self-attention"][0], scores.softmax(-1), atol=1e-5)
    with pytest.raises(ValueError, match="Seq2SeqTransformer"):
        seq2seq_attention_maps(torch.nn.Linear(2, 2), src, tgt)


def test_without_positions_the_encoder_reads_a_set():
    torch.manual_seed(0)
    kw = dict(TINY, dropout=0.0)
    blind, sighted = Seq2SeqTransformer(13, 11, positions=False, **kw).eval(), Seq2SeqTransformer(13, 11, **kw).eval()
    src = torch.tensor([[3, 9, 5, 12, 4, EOS]])
    perm = torch.tensor([3, 0, 4, 2, 1, 5])
    with torch.no_grad():
        assert torch.allclose(blind.encode(src)[:, perm], blind.encode(src[:, perm]), atol=1e-5)
        assert not torch.allclose(sighted.encode(src)[:, perm], sighted.encode(src[:, perm]), atol=1e-3)
    # the same parameters either way: the sinusoids are a buffer
    assert sum(p.numel() for p in blind.parameters()) == sum(p.numel() for p in sighted.parameters())
    with pytest.raises(ValueError, match="positions must be True"):
        Seq2SeqTransformer(13, 11, positions="none", **kw)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_value_errors(tiny):
    with pytest.raises(ValueError, match="nhead=3 must divide d_model=32"):
        Seq2SeqTransformer(10, 10, d_model=32, nhead=3)
    with pytest.raises(ValueError, match="dropout"):
        Seq2SeqTransformer(10, 10, d_model=32, nhead=4, dropout=1.5)
    with pytest.raises(ValueError, match="pad_idx"):
        Seq2SeqTransformer(10, 10, d_model=32, nhead=4, pad_idx=10)
    src = torch.tensor([[3, 4, EOS]])
    with pytest.raises(ValueError, match="max_len is 24"):
        tiny(torch.full((1, 25), 3), torch.tensor([[BOS]]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tiny(torch.tensor([[3, 13]]), torch.tensor([[BOS]]))  # src_vocab is 13
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tiny(src, torch.tensor([[BOS, 11]]))  # tgt_vocab is 11
    with pytest.raises(ValueError, match="integer token ids"):
        tiny(src.float(), torch.tensor([[BOS]]))
    with pytest.raises(ValueError, match="unsqueeze"):
        tiny(src[0], torch.tensor([[BOS]]))
    with pytest.raises(ValueError, match="same batch size"):
        tiny(src, torch.tensor([[BOS], [BOS]]))
    with pytest.raises(ValueError, match="src_padding_mask"):
        tiny(src, torch.tensor([[BOS]]), src_padding_mask=torch.zeros(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="tgt_mask"):
        tiny(src, torch.tensor([[BOS, 3]]), tgt_mask=torch.zeros(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(tiny, src, 30, BOS, EOS)
    with pytest.raises(ValueError, match="eos_idx"):
        greedy_decode(tiny, src, 5, BOS, 11)
    with pytest.raises(ValueError, match="min_len"):
        reversal_batch(2, 0, min_len=5, max_len=4)
    with pytest.raises(ValueError, match="generator"):
        reversal_batch(2, None)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_encoding(10, 7)
    with pytest.raises(ValueError, match="needs vocabularies"):
        train_toy_task(tiny, 1, n_digits=20)


def test_training_restores_the_thread_setting():
    before = torch.get_num_threads()
    model = Seq2SeqTransformer(7, 7, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=16, dropout=0.0, max_len=8, pad_idx=PAD)
    train_toy_task(model, 2, batch_size=4, seed=0, min_len=2, max_len=3, n_digits=4, num_threads=1)
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads"):
        train_toy_task(model, 1, batch_size=4, min_len=2, max_len=3, n_digits=4, num_threads=0)
