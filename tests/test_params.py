"""course_lib.params: the parameter formulas against the models' real parameter counts."""
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from course_lib.model import GPT, GPTConfig, from_hf, to_hf
from course_lib.params import (
    gpt_param_breakdown,
    gpt_param_count,
    llama_param_breakdown,
    llama_param_count,
    param_share_report,
    seq2seq_param_breakdown,
    seq2seq_param_count,
)
from course_lib.transformer import Seq2SeqTransformer


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


def test_bad_sizes_raise_value_errors():
    with pytest.raises(ValueError, match="n_layer"):
        gpt_param_count(0, 64, 100, 16)
    with pytest.raises(ValueError, match="d_model must be an int"):
        seq2seq_param_count(10, 10, d_model=64.0)
    with pytest.raises(ValueError, match="bias"):
        gpt_param_breakdown(1, 8, 10, 4, bias="yes")


@pytest.mark.parametrize("n_head, n_kv_head, tied", [(4, 4, True), (6, 2, False), (8, 1, True)])
def test_llama_formula_against_huggingface(n_head, n_kv_head, tied):
    config = LlamaConfig(vocab_size=101, hidden_size=48, intermediate_size=72, num_hidden_layers=3,
                         num_attention_heads=n_head, num_key_value_heads=n_kv_head, tie_word_embeddings=tied,
                         bos_token_id=None, eos_token_id=None)
    numel = sum(p.numel() for p in LlamaForCausalLM(config).parameters())  # a tied head is counted once
    assert llama_param_count(3, 48, 101, n_head, n_kv_head, 72, tied, non_embedding=False) == numel
    parts = llama_param_breakdown(3, 48, 101, n_head, n_kv_head, 72, tied)
    assert parts["output head"] == (0 if tied else 101 * 48) and sum(parts.values()) == numel


def test_llama_block_with_mha_and_eight_thirds_width_is_a_gpt_block():
    for d in (96, 576, 1536):  # 8d/3 an integer
        llama_block = llama_param_count(1, d, 10, 8, 8, 8 * d // 3) - d  # minus the final norm
        gpt_block = gpt_param_count(1, d, 10, 4, bias=False) - d
        assert llama_block == gpt_block == 12 * d * d + 2 * d


def test_llama_formula_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_kv_head=4 must divide n_head"):
        llama_param_count(2, 48, 10, 6, 4, 128)
    with pytest.raises(ValueError, match="d_hidden"):
        llama_param_count(2, 48, 10, 6, 2, 0)
    with pytest.raises(ValueError, match="tied"):
        llama_param_breakdown(2, 48, 10, 6, 2, 128, tied=1)
