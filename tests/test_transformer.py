"""course_lib.transformer: positions, the encoder-decoder model, decoding, the toy task, parameter formulas."""
import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from course_lib.model import GPT, GPTConfig, from_hf, to_hf
from course_lib.transformer import (
    BOS,
    EOS,
    FIRST_DIGIT,
    PAD,
    Seq2SeqTransformer,
    SinusoidalPositionalEncoding,
    gpt_param_breakdown,
    gpt_param_count,
    greedy_decode,
    param_share_report,
    reversal_batch,
    seq2seq_param_breakdown,
    seq2seq_param_count,
    sequence_accuracy,
    sinusoidal_encoding,
    teacher_forcing_loss,
    toy_to_text,
    toy_vocab_size,
    train_toy_task,
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


# ----------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("cfg", [
    dict(src_vocab=13, tgt_vocab=11, d_model=32, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=64),
    dict(src_vocab=100, tgt_vocab=100, d_model=48, num_encoder_layers=1, num_decoder_layers=3, dim_feedforward=200),
    dict(src_vocab=7, tgt_vocab=50, d_model=16, num_encoder_layers=3, num_decoder_layers=2, dim_feedforward=16),
])
def test_seq2seq_formula_equals_numel(cfg):
    model = Seq2SeqTransformer(**cfg, nhead=4)
    numel = sum(p.numel() for p in model.parameters())
    assert seq2seq_param_count(**cfg) == numel == model.num_params()
    assert sum(seq2seq_param_breakdown(**cfg).values()) == numel


def test_seq2seq_core_is_torch_transformer():
    """Without embeddings and output projection, the formula counts torch.nn.Transformer exactly."""
    for cfg in [dict(d_model=32, num_encoder_layers=2, num_decoder_layers=3, dim_feedforward=48),
                dict(d_model=512, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048)]:  # the seeds' size
        parts = seq2seq_param_breakdown(src_vocab=5, tgt_vocab=5, **cfg)
        core = sum(parts.values()) - parts["embeddings"] - parts["output projection"]
        ref = torch.nn.Transformer(nhead=4, batch_first=True, **cfg)
        assert core == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("n_layer, d_model, vocab, ctx", [(1, 16, 50, 8), (2, 32, 97, 32), (3, 48, 10, 64), (4, 64, 300, 16)])
@pytest.mark.parametrize("bias", [False, True])
def test_gpt_formula_equals_num_params(n_layer, d_model, vocab, ctx, bias):
    model = GPT(GPTConfig(vocab_size=vocab, context_length=ctx, n_layer=n_layer, n_head=4, d_model=d_model, bias=bias))
    assert gpt_param_count(n_layer, d_model, vocab, ctx, bias) == model.num_params()
    total = gpt_param_count(n_layer, d_model, vocab, ctx, bias, non_embedding=False)
    assert total == model.num_params(non_embedding=False) == sum(p.numel() for p in model.parameters())
    assert sum(gpt_param_breakdown(n_layer, d_model, vocab, ctx, bias).values()) == total


def test_gpt_formula_against_huggingface_gpt2():
    # a tiny GPT-2 built by transformers; its layers always have biases
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=61, n_positions=20, n_embd=24, n_layer=2, n_head=3, bos_token_id=0,
                                    eos_token_id=0))
    numel = sum(p.numel() for p in hf.parameters())
    assert gpt_param_count(2, 24, 61, 20, bias=True, non_embedding=False) == numel
    assert from_hf(hf).num_params(non_embedding=False) == numel
    ours = GPT(GPTConfig(vocab_size=61, context_length=20, n_layer=2, n_head=3, d_model=24, bias=True))
    assert sum(p.numel() for p in to_hf(ours).parameters()) == numel
    # the released GPT-2 sizes (vocab 50257, context 1024), known as 124M, 355M, 774M and 1.5B
    sizes = [gpt_param_count(L, d, 50257, 1024, bias=True, non_embedding=False)
             for L, d in [(12, 768), (24, 1024), (36, 1280), (48, 1600)]]
    assert [round(n / 1e6) for n in sizes[:3]] == [124, 355, 774] and round(sizes[3] / 1e8) == 16


def test_twelve_l_d_squared_is_the_large_width_limit():
    for L, d in [(12, 768), (48, 1600)]:
        exact = gpt_param_count(L, d, 50257, 1024, bias=True)
        assert 1.0 < exact / (12 * L * d * d) < 1.0 + 2 / d


def test_param_share_report_adds_up():
    text = param_share_report(12, 768)
    assert "124,439,808" in text
    shares = [float(line.split()[-1].rstrip("%")) for line in text.splitlines()[3:]]
    assert len(shares) == 4 and abs(sum(shares) - 100) < 0.3
    # widening the model moves the parameters out of the embeddings
    emb = lambda t: float(t.splitlines()[3].split()[-1].rstrip("%"))  # noqa: E731
    assert emb(param_share_report(12, 1536)) < emb(text)
    with pytest.raises(ValueError, match="d_model"):
        param_share_report(12, 0)


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
    losses = train_toy_task(model, 150, batch_size=64, lr=3e-3, seed=0, min_len=3, max_len=4, n_digits=4)
    after = sequence_accuracy(model, src, tgt)
    assert before < 0.2
    assert sum(losses[-10:]) / 10 < 0.3 * sum(losses[:10]) / 10
    assert after >= 0.95


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
    with pytest.raises(ValueError, match="n_layer"):
        gpt_param_count(0, 64, 100, 16)
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
