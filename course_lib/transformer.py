"""The encoder-decoder Transformer (Vaswani et al. 2017), its positions, decoding and a toy task.

    source ids (B, S)                                target ids (B, T), starting with BOS
      -> embedding * sqrt(d_model) + sinusoidal PE     -> embedding * sqrt(d_model) + sinusoidal PE
      -> encoder: N x [self-attention, FFN]  ------->  decoder: N x [causal self-attention,
         memory (B, S, d_model)                               cross-attention to memory, FFN]
                                                        -> linear output projection (B, T, tgt_vocab)

``Seq2SeqTransformer`` is the seeds' skeleton ``Transformer(d_model=512, nhead=8,
num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, dropout=0.1)`` completed:
token embeddings, positions and an output head around ``torch.nn.Transformer``
(post-LayerNorm, ReLU feed-forward, as in the paper). ``greedy_decode`` generates with it,
``reversal_batch`` makes a toy task and ``teacher_forcing_loss`` scores it;
``course_lib.train.train_toy_task`` trains it and ``course_lib.train.sequence_accuracy``
measures it. Its exact parameter count, by formula, is ``course_lib.params.seq2seq_param_count``.

Mask conventions. ``Seq2SeqTransformer`` hands its masks to ``torch.nn.Transformer``, whose
boolean masks mean **True = blocked** (the opposite of ``course_lib.attention``, where True
means "may attend"); float masks are added to the attention scores (0 or -inf). So that
no name means both, the model's own mask helpers are named for what is True:
``future_mask(T)`` is True at the future positions a query may not see, and
``pad_positions(ids)`` is True at padding. ``course_lib.attention.causal_mask(T)`` is
``~future_mask(T)``. The ``*_padding_mask`` arguments of ``forward`` (the seeds' names)
also follow torch: True = padding, ignored.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import check_token_ids
from .validation import check_int

__all__ = [
    "PAD",
    "BOS",
    "EOS",
    "FIRST_DIGIT",
    "toy_vocab_size",
    "sinusoidal_encoding",
    "SinusoidalPositionalEncoding",
    "Seq2SeqTransformer",
    "greedy_decode",
    "seq2seq_attention_maps",
    "reversal_batch",
    "toy_to_text",
    "teacher_forcing_loss",
]

# Special ids of the toy task; digit k is the id FIRST_DIGIT + k.
PAD, BOS, EOS = 0, 1, 2
FIRST_DIGIT = 3


# ----------------------------------------------------------------------------- positions


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """The sinusoidal position encodings of Vaswani et al. (2017, section 3.5): (max_len, d_model).

        PE[p, 2i]   = sin(p / 10000^(2i / d_model))
        PE[p, 2i+1] = cos(p / 10000^(2i / d_model))

    Each pair of columns (2i, 2i+1) is a point on the unit circle turning at angular
    frequency w_i = 10000^(-2i / d_model) radians per position, so moving k positions
    rotates it by w_i * k and PE[p] . PE[p + k] = sum_i cos(w_i * k) depends on k only.
    ``d_model`` must be even.
    """
    check_int(max_len, "max_len", minimum=1)
    check_int(d_model, "d_model", minimum=1)
    if d_model % 2:
        raise ValueError(f"d_model must be even for sin/cos pairs, got {d_model}; use {d_model + 1}.")
    position = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq)
    return pe.float()  # computed in float64 so large positions stay accurate


class SinusoidalPositionalEncoding(nn.Module):
    """Adds ``sinusoidal_encoding(max_len, d_model)`` to a (B, T, d_model) input.

    The table is a buffer, not a parameter: it is fixed, takes no gradient and is not
    counted by ``num_params``. Inputs longer than ``max_len`` raise a ValueError.
    """

    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)  # (max_len, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"expected input of shape (B, T, {self.d_model}), got {tuple(x.shape)}.")
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(f"sequence has {T} positions but max_len is {self.max_len}; build the model with a larger max_len.")
        return x + self.pe[:T]  # (B, T, d) + (T, d)


# ----------------------------------------------------------------------------- the model


class Seq2SeqTransformer(nn.Module):
    """An encoder-decoder Transformer: ``forward(src, tgt, ...) -> logits (B, T, tgt_vocab)``.

    Args:
        src_vocab, tgt_vocab: number of source and target token ids.
        d_model: width of every token vector (512 in the paper's base model).
        nhead: attention heads; must divide d_model.
        num_encoder_layers, num_decoder_layers: stacked layers (6 and 6 in the paper).
        dim_feedforward: hidden width of the feed-forward network (2048 = 4 * d_model).
        dropout: dropout probability in [0, 1) (0.1 in the paper; 0 for the toy task).
        max_len: longest source or target sequence, the size of the position table.
        pad_idx: the padding id. If given, padding masks that are not passed to
            ``forward`` are built from it, and ``greedy_decode`` pads finished rows with it.
        norm_first: False (default) is the paper's post-LayerNorm, x = LN(x + f(x));
            True is the pre-LayerNorm of GPT-2 and most LLMs, x = x + f(LN(x)).
        positions: True (default) adds the sinusoidal encodings to both embeddings; False
            leaves them out (chapter 03's ablation: the encoder then reads an unordered set).

    Parameters: embeddings (src_vocab + tgt_vocab) * d_model, ``torch.nn.Transformer``
    and the output projection d_model * tgt_vocab + tgt_vocab;
    ``course_lib.params.seq2seq_param_count`` gives the total. The embeddings and the
    output projection are not tied.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        max_len: int = 512,
        pad_idx: int | None = None,
        norm_first: bool = False,
        positions: bool = True,
    ):
        super().__init__()
        for name, value in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab), ("d_model", d_model), ("nhead", nhead),
                            ("num_encoder_layers", num_encoder_layers), ("num_decoder_layers", num_decoder_layers),
                            ("dim_feedforward", dim_feedforward), ("max_len", max_len)):
            check_int(value, name, minimum=1)
        if d_model % nhead:
            divisors = [h for h in range(1, min(d_model, 64) + 1) if d_model % h == 0]
            raise ValueError(
                f"nhead={nhead} must divide d_model={d_model} (each head gets d_model / nhead dimensions). "
                f"Choose nhead from {divisors} or change d_model."
            )
        if d_model % 2:
            raise ValueError(f"d_model must be even (sinusoidal positions come in sin/cos pairs), got {d_model}.")
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        if not isinstance(positions, bool):
            raise ValueError(f"positions must be True (sinusoidal encodings) or False (none), got {positions!r}.")
        if pad_idx is not None:
            check_int(pad_idx, "pad_idx", minimum=0)
            if pad_idx >= min(src_vocab, tgt_vocab):
                raise ValueError(f"pad_idx={pad_idx} must be a valid id in both vocabularies (< {min(src_vocab, tgt_vocab)}).")
        self.src_vocab, self.tgt_vocab, self.d_model, self.nhead = src_vocab, tgt_vocab, d_model, nhead
        self.max_len, self.pad_idx, self.positions = max_len, pad_idx, positions

        self.src_embed = nn.Embedding(src_vocab, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model)
        self.pos = SinusoidalPositionalEncoding(d_model, max_len)
        self.dropout = nn.Dropout(dropout)
        # The encoder is built here only to switch off torch's "nested tensor" fast path,
        # which warns and zeroes padded outputs in eval mode; the layers are torch's own.
        encoder_layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True,
                                                   norm_first=norm_first)
        encoder = nn.TransformerEncoder(encoder_layer, num_encoder_layers, norm=nn.LayerNorm(d_model),
                                        enable_nested_tensor=False)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                          dropout, custom_encoder=encoder, batch_first=True, norm_first=norm_first)
        self.out_proj = nn.Linear(d_model, tgt_vocab)
        # nn.Transformer initialises its matrices with Xavier-uniform. The embeddings get
        # std d_model^-0.5 so that after the sqrt(d_model) scale tokens have unit-size
        # entries, comparable to the position encodings (which lie in [-1, 1]). The output
        # projection starts small (std 0.02, as GPT-2's head), so the first predictions are
        # close to uniform and the initial loss close to ln(tgt_vocab).
        nn.init.normal_(self.src_embed.weight, std=d_model ** -0.5)
        nn.init.normal_(self.tgt_embed.weight, std=d_model ** -0.5)
        nn.init.normal_(self.out_proj.weight, std=0.02)
        nn.init.zeros_(self.out_proj.bias)

    # ------------------------------------------------------------------------- masks

    @staticmethod
    def future_mask(T: int, device=None) -> torch.Tensor:
        """(T, T) bool, True above the diagonal: True where query t would see a future position > t.

        This is torch's convention (True = blocked), what ``tgt_mask`` expects;
        ``course_lib.attention.causal_mask(T)`` (True = may attend) is its complement.
        """
        return torch.ones(T, T, dtype=torch.bool, device=device).triu(1)

    def pad_positions(self, ids: torch.Tensor) -> torch.Tensor | None:
        """(B, L) bool, True where ``ids == pad_idx`` (keys to ignore); None if there is no pad_idx.

        torch's convention, what the ``*_padding_mask`` arguments expect;
        ``course_lib.attention.padding_mask`` (True = real token) is the opposite.
        """
        return None if self.pad_idx is None else ids == self.pad_idx

    # ------------------------------------------------------------------------- checks

    def _check_ids(self, ids, name: str, vocab: int) -> None:
        check_token_ids(ids, name, "length")
        if ids.shape[1] == 0:
            raise ValueError(f"{name} is empty (0 positions); give at least one token.")
        if ids.shape[1] > self.max_len:
            raise ValueError(f"{name} has {ids.shape[1]} positions but max_len is {self.max_len}; "
                             f"shorten it or build the model with max_len >= {ids.shape[1]}.")
        if ids.device != self.src_embed.weight.device:
            raise ValueError(f"{name} is on {ids.device} but the model is on {self.src_embed.weight.device}; use {name}.to(device).")
        bad = (ids < 0) | (ids >= vocab)
        if bool(bad.any()):
            raise ValueError(f"{name} holds ids outside the vocabulary (e.g. {ids[bad][:3].tolist()}); "
                             f"its vocabulary has {vocab} ids, so they must be in [0, {vocab - 1}].")

    @staticmethod
    def _check_padding(mask, name: str, ids: torch.Tensor, ids_name: str) -> None:
        if mask is None:
            return
        if not isinstance(mask, torch.Tensor) or mask.shape != ids.shape:
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"{name} must be a (batch, length) tensor shaped like {ids_name} {tuple(ids.shape)}, got {shape}.")
        if mask.dtype != torch.bool:
            raise ValueError(f"{name} must be bool (True = padding, ignored), got {mask.dtype}; e.g. {ids_name} == pad_idx.")

    @staticmethod
    def _check_attn_mask(mask, name: str, T_q: int, T_k: int) -> None:
        if mask is None:
            return
        if not isinstance(mask, torch.Tensor) or mask.shape[-2:] != (T_q, T_k):
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"{name} must be a ({T_q}, {T_k}) mask (True or -inf = blocked), got {shape}.")

    # ------------------------------------------------------------------------- forward

    def encode(self, src: torch.Tensor, src_mask=None, src_padding_mask=None) -> torch.Tensor:
        """(B, S) source ids -> memory (B, S, d_model)."""
        self._check_ids(src, "src", self.src_vocab)
        if src_padding_mask is None:
            src_padding_mask = self.pad_positions(src)
        self._check_padding(src_padding_mask, "src_padding_mask", src, "src")
        self._check_attn_mask(src_mask, "src_mask", src.shape[1], src.shape[1])
        x = self.src_embed(src) * math.sqrt(self.d_model)  # (B, S, d)
        x = self.dropout(self.pos(x) if self.positions else x)
        return self.transformer.encoder(x, mask=src_mask, src_key_padding_mask=src_padding_mask)  # (B, S, d)

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, tgt_mask=None, tgt_padding_mask=None,
               memory_key_padding_mask=None) -> torch.Tensor:
        """(B, T) target ids and memory (B, S, d_model) -> decoder output (B, T, d_model).

        ``tgt_mask`` defaults to ``future_mask(T)``. ``memory_key_padding_mask`` (B, S) marks
        padded source positions (True = ignore); pass the source's padding mask.
        """
        self._check_ids(tgt, "tgt", self.tgt_vocab)
        if memory.dim() != 3 or memory.shape[0] != tgt.shape[0] or memory.shape[2] != self.d_model:
            raise ValueError(f"memory must be (B={tgt.shape[0]}, S, {self.d_model}), got {tuple(memory.shape)}.")
        T = tgt.shape[1]
        if tgt_mask is None:
            tgt_mask = self.future_mask(T, device=tgt.device)
        if tgt_padding_mask is None:
            tgt_padding_mask = self.pad_positions(tgt)
        self._check_attn_mask(tgt_mask, "tgt_mask", T, T)
        self._check_padding(tgt_padding_mask, "tgt_padding_mask", tgt, "tgt")
        if memory_key_padding_mask is not None and memory_key_padding_mask.shape != memory.shape[:2]:
            raise ValueError(f"memory_key_padding_mask must be (B, S) = {tuple(memory.shape[:2])}, "
                             f"got {tuple(memory_key_padding_mask.shape)}.")
        y = self.tgt_embed(tgt) * math.sqrt(self.d_model)  # (B, T, d)
        y = self.dropout(self.pos(y) if self.positions else y)
        return self.transformer.decoder(y, memory, tgt_mask=tgt_mask, tgt_key_padding_mask=tgt_padding_mask,
                                        memory_key_padding_mask=memory_key_padding_mask)  # (B, T, d)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor, src_mask=None, tgt_mask=None, src_padding_mask=None,
                tgt_padding_mask=None, memory_key_padding_mask=None) -> torch.Tensor:
        """Logits for every target position: (B, S) src, (B, T) tgt -> (B, T, tgt_vocab).

        The signature is the seeds'. Masks use torch's convention (bool True = blocked):
        ``src_mask`` (S, S), default none; ``tgt_mask`` (T, T), default ``future_mask(T)``;
        ``src_padding_mask`` (B, S), ``tgt_padding_mask`` (B, T) and
        ``memory_key_padding_mask`` (B, S), True at padding. Padding masks left as None
        are built from ``pad_idx`` when the model has one; the memory mask then defaults
        to the source padding mask.
        """
        self._check_ids(src, "src", self.src_vocab)
        self._check_ids(tgt, "tgt", self.tgt_vocab)
        if tgt.shape[0] != src.shape[0]:
            raise ValueError(f"src and tgt must have the same batch size, got {src.shape[0]} and {tgt.shape[0]}.")
        if src_padding_mask is None:
            src_padding_mask = self.pad_positions(src)
        if memory_key_padding_mask is None:
            memory_key_padding_mask = src_padding_mask
        memory = self.encode(src, src_mask, src_padding_mask)  # (B, S, d)
        out = self.decode(tgt, memory, tgt_mask, tgt_padding_mask, memory_key_padding_mask)  # (B, T, d)
        return self.out_proj(out)  # (B, T, tgt_vocab)

    # ------------------------------------------------------------------------- helpers

    def num_params(self) -> int:
        """Number of parameters, ``sum(p.numel() for p in self.parameters())``."""
        return sum(p.numel() for p in self.parameters())

    def greedy_decode(self, src: torch.Tensor, max_new_tokens: int, bos_idx: int, eos_idx: int,
                      pad_idx: int | None = None) -> torch.Tensor:
        """``greedy_decode(self, ...)``: see the module-level function."""
        return greedy_decode(self, src, max_new_tokens, bos_idx, eos_idx, pad_idx)


@torch.no_grad()
def greedy_decode(model: Seq2SeqTransformer, src: torch.Tensor, max_new_tokens: int, bos_idx: int, eos_idx: int,
                  pad_idx: int | None = None) -> torch.Tensor:
    """Translate ``src`` (B, S) by always taking the most likely next token.

    The source is encoded once; the decoder then re-reads the growing target (BOS first)
    and appends the arg-max token, up to ``max_new_tokens`` tokens or until every row has
    produced ``eos_idx``. Rows that finished early are filled with ``pad_idx`` (default:
    the model's pad_idx, else ``eos_idx``).

    Returns:
        (B, 1 + n) int64 ids starting with ``bos_idx``, n <= max_new_tokens.
    """
    if not isinstance(model, Seq2SeqTransformer):
        raise ValueError(f"greedy_decode needs a Seq2SeqTransformer, got {type(model).__name__}.")
    check_int(max_new_tokens, "max_new_tokens", minimum=1)
    if 1 + max_new_tokens > model.max_len:
        raise ValueError(f"1 + max_new_tokens = {1 + max_new_tokens} exceeds the model's max_len {model.max_len}.")
    for name, idx in (("bos_idx", bos_idx), ("eos_idx", eos_idx)):
        check_int(idx, name, minimum=0)
        if idx >= model.tgt_vocab:
            raise ValueError(f"{name}={idx} is outside the target vocabulary of {model.tgt_vocab} ids.")
    fill = pad_idx if pad_idx is not None else (model.pad_idx if model.pad_idx is not None else eos_idx)
    was_training = model.training
    model.eval()
    try:
        src_padding_mask = model.pad_positions(src) if isinstance(src, torch.Tensor) else None
        memory = model.encode(src, src_padding_mask=src_padding_mask)  # (B, S, d)
        B = src.shape[0]
        ys = torch.full((B, 1), bos_idx, dtype=torch.long, device=src.device)  # (B, 1)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_new_tokens):
            out = model.decode(ys, memory, memory_key_padding_mask=src_padding_mask)  # (B, t, d)
            nxt = model.out_proj(out[:, -1]).argmax(dim=-1)  # (B,)
            nxt = torch.where(done, torch.full_like(nxt, fill), nxt)
            ys = torch.cat([ys, nxt[:, None]], dim=1)  # (B, t + 1)
            done |= nxt == eos_idx
            if bool(done.all()):
                break
    finally:
        model.train(was_training)
    return ys


@torch.no_grad()
def seq2seq_attention_maps(model: Seq2SeqTransformer, src: torch.Tensor, tgt: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every layer's and head's attention weights in one teacher-forced pass of ``model(src, tgt)``.

    Returns ``{"encoder self-attention": (L_enc, B, nhead, S, S), "decoder self-attention":
    (L_dec, B, nhead, T, T), "decoder cross-attention": (L_dec, B, nhead, T, S)}``; each row
    (a query) sums to 1 over the keys it may read. Read with forward hooks on the
    ``nn.MultiheadAttention`` modules (a pre-hook asks them for per-head weights, which torch's
    layers do not request); the hooks are removed afterwards and the model is unchanged.
    """
    if not isinstance(model, Seq2SeqTransformer):
        raise ValueError(f"seq2seq_attention_maps needs a Seq2SeqTransformer, got {type(model).__name__}.")
    found: dict[str, list[torch.Tensor]] = {}

    def ask_for_weights(module, args, kwargs):
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

    def keep(name):
        return lambda module, args, output: found.setdefault(name, []).append(output[1])  # (B, nhead, T_q, T_k)

    modules = [("encoder self-attention", layer.self_attn) for layer in model.transformer.encoder.layers]
    for layer in model.transformer.decoder.layers:
        modules += [("decoder self-attention", layer.self_attn), ("decoder cross-attention", layer.multihead_attn)]
    handles = []
    for name, mha in modules:
        handles += [mha.register_forward_pre_hook(ask_for_weights, with_kwargs=True), mha.register_forward_hook(keep(name))]
    was_training = model.training
    try:
        model.eval()
        model(src, tgt)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: torch.stack(weights) for name, weights in found.items()}


# ----------------------------------------------------------------------------- the toy task


def toy_vocab_size(n_digits: int = 10) -> int:
    """Vocabulary of the toy task: PAD, BOS, EOS and ``n_digits`` digits."""
    return FIRST_DIGIT + n_digits


def reversal_batch(batch_size: int, generator: torch.Generator | int, min_len: int = 8, max_len: int = 10,
                   n_digits: int = 10, reverse: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of the toy task: random digit strings and their reversal (or copy).

    Each row has a length drawn uniformly from [min_len, max_len] and digits drawn
    uniformly from 0..n_digits-1 (ids FIRST_DIGIT..FIRST_DIGIT+n_digits-1). The source is
    the digits then EOS; the target is BOS, the digits reversed (``reverse=False``:
    copied), then EOS. Both are right-padded with PAD.

    Args:
        generator: a ``torch.Generator`` or an int seed; the same seed gives the same batch.

    Returns:
        src: (B, max_len + 1) int64.
        tgt: (B, max_len + 2) int64.
    """
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = torch.Generator().manual_seed(generator)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}.")
    check_int(batch_size, "batch_size", minimum=1)
    check_int(min_len, "min_len", minimum=1)
    check_int(max_len, "max_len", minimum=1)
    check_int(n_digits, "n_digits", minimum=1)
    if min_len > max_len:
        raise ValueError(f"min_len ({min_len}) must not exceed max_len ({max_len}).")
    lengths = torch.randint(min_len, max_len + 1, (batch_size,), generator=generator)  # (B,)
    digits = torch.randint(n_digits, (batch_size, max_len), generator=generator) + FIRST_DIGIT  # (B, L)
    pos = torch.arange(max_len)[None, :]  # (1, L)
    real = pos < lengths[:, None]  # (B, L)
    src = torch.full((batch_size, max_len + 1), PAD, dtype=torch.long)
    src[:, :max_len] = torch.where(real, digits, PAD)
    src[torch.arange(batch_size), lengths] = EOS
    if reverse:  # position p of the output reads position length - 1 - p of the input
        read = (lengths[:, None] - 1 - pos).clamp(min=0)  # (B, L)
        out = torch.where(real, digits.gather(1, read), PAD)
    else:
        out = torch.where(real, digits, PAD)
    tgt = torch.full((batch_size, max_len + 2), PAD, dtype=torch.long)
    tgt[:, 0] = BOS
    tgt[:, 1 : max_len + 1] = out
    tgt[torch.arange(batch_size), lengths + 1] = EOS
    return src, tgt


def toy_to_text(ids) -> str:
    """Toy-task ids -> a readable string: digits as digits, specials as <pad> <bos> <eos>."""
    names = {PAD: "<pad>", BOS: "<bos>", EOS: "<eos>"}
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    parts = [names.get(i, str(i - FIRST_DIGIT)) for i in ids]
    while parts and parts[-1] == "<pad>":
        parts.pop()
    return " ".join(parts)


def teacher_forcing_loss(model: Seq2SeqTransformer, src: torch.Tensor, tgt: torch.Tensor,
                         pad_idx: int | None = PAD) -> torch.Tensor:
    """Mean cross-entropy (nats per target token) of predicting ``tgt[:, 1:]`` from ``tgt[:, :-1]``.

    Teacher forcing: the decoder reads the true previous tokens (BOS, y1, ..., y_{T-1})
    and is scored on the next ones (y1, ..., y_T), all positions in one pass. Positions
    whose target is ``pad_idx`` are not scored.
    """
    if not isinstance(tgt, torch.Tensor) or tgt.dim() != 2 or tgt.shape[1] < 2:
        raise ValueError("tgt must be (B, T) with T >= 2: BOS, at least one token.")
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]  # (B, T-1) each
    logits = model(src, tgt_in)  # (B, T-1, V)
    ignore = -100 if pad_idx is None else pad_idx
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=ignore)
