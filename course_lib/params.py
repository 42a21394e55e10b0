"""Parameter counts by formula: the course GPT and the encoder-decoder Transformer, from their sizes alone.

Counting parameters needs no model: every weight matrix and vector has a size fixed by a
few numbers (layers L, width d, vocabulary V, context T, feed-forward width f). The
functions here write those sums out, so a count for GPT-2 XL takes microseconds and no
memory. The tests check every formula against ``sum(p.numel() for p in model.parameters())``
of ``course_lib.model.GPT``, ``course_lib.llama.ModernGPT``, ``course_lib.transformer.Seq2SeqTransformer``,
``torch.nn.Transformer`` and Hugging Face's ``GPT2LMHeadModel`` and ``LlamaForCausalLM``.

    gpt_param_count(12, 768, 50257, 1024, bias=True, non_embedding=False)   -> 124,439,808 (GPT-2 small)
    gpt_param_count(L, d, V, T)                                             -> L (12 d^2 + 2d) + d, about 12 L d^2
    seq2seq_param_count(V_src, V_tgt, 512, 6, 6, 2048)                      -> the seeds' nn.Transformer + embeddings + head
    llama_param_count(30, 576, 49152, 9, 3, 1536, non_embedding=False)      -> 134,515,008 (SmolLM2-135M)

``param_share_report`` is the text behind chapter 03's parameter-count sliders. All
counts are plain ``int``; bad sizes raise ValueError.
"""
from __future__ import annotations

from .validation import check_int

__all__ = ["gpt_param_breakdown", "gpt_param_count", "llama_param_breakdown", "llama_param_count",
           "seq2seq_param_breakdown", "seq2seq_param_count", "param_share_report"]


def _check_sizes(**sizes) -> None:
    for name, value in sizes.items():
        check_int(value, name, minimum=1)


def gpt_param_breakdown(n_layer: int, d_model: int, vocab_size: int, context_length: int, bias: bool = False) -> dict:
    """Parameters of ``course_lib.model.GPT`` by part, from its sizes alone.

    Per block: attention W_qkv (3 d^2) and W_o (d^2); MLP d -> 4d -> d (8 d^2); two
    LayerNorm gains (2d). With ``bias=True`` add 3d + d (attention), 4d + d (MLP) and two
    LayerNorm biases (2d). Then a final LayerNorm (d, or 2d with bias), the token
    embedding (vocab_size * d) and the learned positions (context_length * d). The output
    head is tied to the token embedding, so it adds nothing.

    Returns:
        dict with keys "token embedding", "position embedding", "attention", "mlp",
        "layer norms"; the values add up to the model's total.
    """
    _check_sizes(n_layer=n_layer, d_model=d_model, vocab_size=vocab_size, context_length=context_length)
    if not isinstance(bias, bool):
        raise ValueError(f"bias must be True or False, got {bias!r}.")
    L, d, b = n_layer, d_model, int(bias)
    return {
        "token embedding": vocab_size * d,
        "position embedding": context_length * d,
        "attention": L * (4 * d * d + b * 4 * d),
        "mlp": L * (8 * d * d + b * 5 * d),
        "layer norms": (2 * L + 1) * d * (1 + b),
    }


def gpt_param_count(n_layer: int, d_model: int, vocab_size: int, context_length: int, bias: bool = False,
                    non_embedding: bool = True) -> int:
    """Exact parameter count of ``course_lib.model.GPT``; equals ``GPT(config).num_params(non_embedding)``.

    ``non_embedding=True`` (as in ``num_params`` and Kaplan et al. 2020) leaves out the
    token and position embeddings: ``n_layer * (12 d^2 + 2d) + d`` without biases,
    ``n_layer * (12 d^2 + 13 d) + 2d`` with them; about 12 * n_layer * d_model^2.
    """
    parts = gpt_param_breakdown(n_layer, d_model, vocab_size, context_length, bias)
    total = sum(parts.values())
    if non_embedding:
        total -= parts["token embedding"] + parts["position embedding"]
    return total


def llama_param_breakdown(n_layer: int, d_model: int, vocab_size: int, n_head: int, n_kv_head: int, d_hidden: int,
                          tied: bool = True) -> dict:
    """Parameters of a Llama-style model (``course_lib.llama.ModernGPT``, ``LlamaForCausalLM``) by part.

    With head width h = d_model / n_head, per block: W_q and W_o (d x n_head h each, 2 d^2),
    W_k and W_v (d x n_kv_head h each), the SwiGLU's three matrices (3 d d_hidden) and two
    RMSNorm gains (2d); no biases. Then a final RMSNorm (d), the token embedding
    (vocab_size * d) and, if the head is not tied to it, an output head of the same size.
    There is no position table: RoPE has no parameters.

    Returns:
        dict with keys "token embedding", "output head", "attention", "mlp", "norms".
    """
    _check_sizes(n_layer=n_layer, d_model=d_model, vocab_size=vocab_size, n_head=n_head, n_kv_head=n_kv_head,
                 d_hidden=d_hidden)
    if d_model % n_head or n_head % n_kv_head:
        raise ValueError(f"n_head={n_head} must divide d_model={d_model} and n_kv_head={n_kv_head} must divide n_head.")
    if not isinstance(tied, bool):
        raise ValueError(f"tied must be True or False, got {tied!r}.")
    L, d, kv = n_layer, d_model, n_kv_head * (d_model // n_head)  # kv: width of all key (or value) heads
    return {
        "token embedding": vocab_size * d,
        "output head": 0 if tied else vocab_size * d,
        "attention": L * (2 * d * d + 2 * d * kv),
        "mlp": L * 3 * d * d_hidden,
        "norms": (2 * L + 1) * d,
    }


def llama_param_count(n_layer: int, d_model: int, vocab_size: int, n_head: int, n_kv_head: int, d_hidden: int,
                      tied: bool = True, non_embedding: bool = True) -> int:
    """Exact parameter count of a Llama-style model; equals ``ModernGPT(config).num_params(non_embedding)``.

    ``non_embedding=True`` leaves out the token embedding and an untied output head. With
    n_kv_head = n_head and d_hidden = 8d/3 a block has 12 d^2 + 2d parameters, GPT-2's count
    without biases.
    """
    parts = llama_param_breakdown(n_layer, d_model, vocab_size, n_head, n_kv_head, d_hidden, tied)
    total = sum(parts.values())
    if non_embedding:
        total -= parts["token embedding"] + parts["output head"]
    return total


def seq2seq_param_breakdown(src_vocab: int, tgt_vocab: int, d_model: int = 512, num_encoder_layers: int = 6,
                            num_decoder_layers: int = 6, dim_feedforward: int = 2048) -> dict:
    """Parameters of ``course_lib.transformer.Seq2SeqTransformer`` by part (the number of heads does not matter).

    One multi-head attention is 4 d^2 + 4d (W_q, W_k, W_v, W_o with biases); one
    feed-forward network 2 d f + f + d; one LayerNorm 2d. An encoder layer has one
    attention, one FFN and two LayerNorms; a decoder layer two attentions (causal self-
    and cross-attention), one FFN and three LayerNorms; each stack ends with a LayerNorm.
    """
    _check_sizes(src_vocab=src_vocab, tgt_vocab=tgt_vocab, d_model=d_model, num_encoder_layers=num_encoder_layers,
                 num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward)
    d, f, Le, Ld = d_model, dim_feedforward, num_encoder_layers, num_decoder_layers
    attn, ffn, ln = 4 * d * d + 4 * d, 2 * d * f + f + d, 2 * d
    return {
        "embeddings": (src_vocab + tgt_vocab) * d,
        "encoder self-attention": Le * attn,
        "encoder feed-forward": Le * ffn,
        "decoder self-attention": Ld * attn,
        "decoder cross-attention": Ld * attn,
        "decoder feed-forward": Ld * ffn,
        "layer norms": (2 * Le + 1 + 3 * Ld + 1) * ln,
        "output projection": d * tgt_vocab + tgt_vocab,
    }


def seq2seq_param_count(src_vocab: int, tgt_vocab: int, d_model: int = 512, num_encoder_layers: int = 6,
                        num_decoder_layers: int = 6, dim_feedforward: int = 2048) -> int:
    """Exact parameter count of ``course_lib.transformer.Seq2SeqTransformer`` with these sizes (sum of the breakdown)."""
    return sum(seq2seq_param_breakdown(src_vocab, tgt_vocab, d_model, num_encoder_layers, num_decoder_layers,
                                       dim_feedforward).values())


def param_share_report(n_layer: int, d_model: int, vocab_size: int = 50257, context_length: int = 1024,
                       bias: bool = True) -> str:
    """The text the chapter-03 slider shows: a GPT's parameter count and where it sits.

    Defaults are GPT-2's vocabulary, context length and biases. The shares are of the
    total and add up to 100% (up to rounding); "embeddings" counts token and position
    embeddings, and the tied output head adds nothing.
    """
    parts = gpt_param_breakdown(n_layer, d_model, vocab_size, context_length, bias)
    total = sum(parts.values())
    emb = parts["token embedding"] + parts["position embedding"]
    approx = 12 * n_layer * d_model ** 2
    non_emb = total - emb
    lines = [
        f"n_layer={n_layer}, d_model={d_model}, vocab={vocab_size}, context={context_length}",
        f"total parameters      {total:>15,d}  ({total / 1e6:,.1f}M)",
        f"non-embedding         {non_emb:>15,d}  (12*L*d^2 = {approx:,d}, ratio {non_emb / approx:.3f})",
        f"embeddings            {100 * emb / total:6.1f}%",
        f"attention             {100 * parts['attention'] / total:6.1f}%",
        f"MLP                   {100 * parts['mlp'] / total:6.1f}%",
        f"layer norms           {100 * parts['layer norms'] / total:6.1f}%",
    ]
    return "\n".join(lines)
