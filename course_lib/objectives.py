"""Training objectives besides next-token prediction: masked tokens, and translation.

* **Causal language modelling** (GPT): predict token t + 1 from tokens 1..t. It lives
  in ``course_lib.model.GPT`` and ``course_lib.train``.
* **Masked language modelling** (BERT, Devlin et al. 2019): hide 15% of the tokens and
  predict them from both sides. ``mask_tokens`` applies BERT's recipe (of the chosen
  positions 80% become a mask token, 10% a random token, 10% stay as they are; only
  the chosen positions are scored), ``MaskedLMEncoder`` is a small bidirectional
  Transformer encoder and ``course_lib.train.train_masked_lm`` trains it on windows of a
  token stream.
* **Translation** (the original Transformer, Vaswani et al. 2017): map a source
  sequence to a target sequence with an encoder-decoder. Real translation needs a
  parallel corpus, which the course cannot download; ``number_words_batch`` makes an
  honest stand-in, English number words to digits ("three hundred twelve" -> "312"),
  for ``course_lib.transformer.Seq2SeqTransformer``, trained by
  ``course_lib.train.train_translation``.

The first two are self-supervised (the labels come from the text itself); translation
is supervised: someone has to write the target side.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .transformer import BOS, EOS, FIRST_DIGIT, PAD, Seq2SeqTransformer, greedy_decode
from .validation import check_int

__all__ = [
    "IGNORE_INDEX",
    "mask_tokens",
    "MaskedLMEncoder",
    "fill_masks",
    "number_to_words",
    "SOURCE_WORDS",
    "source_vocab_size",
    "target_vocab_size",
    "encode_words",
    "decode_digits",
    "number_words_batch",
    "split_numbers",
    "translate",
]

IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index: positions that are not scored


# ----------------------------------------------------------------------------- masked LM


def mask_tokens(ids: torch.Tensor, mask_id: int, n_random: int, generator: torch.Generator,
                mask_prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: choose ``mask_prob`` of the positions and corrupt them.

    Each position is chosen independently with probability ``mask_prob``. A chosen
    position becomes ``mask_id`` with probability 0.8, a random id in ``[0, n_random)``
    with probability 0.1, and keeps its token with probability 0.1; the model must
    predict the original token there. Unchosen positions are not scored.

    Args:
        ids: (B, T) int64 token ids.
        mask_id: the id of the mask token (not a real token).
        n_random: random replacements are drawn from ids ``0 .. n_random - 1``.
        generator: a seeded ``torch.Generator``.

    Returns:
        inputs: (B, T) int64, the corrupted ids the encoder reads.
        labels: (B, T) int64, the original id at chosen positions, ``IGNORE_INDEX`` elsewhere.
    """
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.is_floating_point():
        raise ValueError("ids must be a (B, T) integer tensor of token ids.")
    if not 0.0 < mask_prob < 1.0:
        raise ValueError(f"mask_prob must be strictly between 0 and 1 (BERT used 0.15), got {mask_prob}.")
    check_int(n_random, "n_random", minimum=1)
    check_int(mask_id, "mask_id", minimum=0)
    chosen = torch.rand(ids.shape, generator=generator) < mask_prob  # (B, T)
    action = torch.rand(ids.shape, generator=generator)  # (B, T): < 0.8 mask, < 0.9 random, else keep
    random_ids = torch.randint(n_random, ids.shape, generator=generator)  # (B, T)
    inputs = ids.clone()
    inputs[chosen & (action < 0.8)] = mask_id
    swap = chosen & (action >= 0.8) & (action < 0.9)
    inputs[swap] = random_ids[swap]
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    return inputs, labels


class MaskedLMEncoder(nn.Module):
    """A small bidirectional Transformer encoder with a token-prediction head (a tiny BERT).

    token ids (B, T) -> token + learned position embedding -> ``n_layer`` encoder layers
    (pre-LayerNorm, GELU, every position attends to every other: no causal mask)
    -> LayerNorm -> linear head tied to the token embedding -> logits (B, T, vocab_size).

    Args:
        vocab_size: real tokens plus the mask token; by default the mask token is the
            last id, ``mask_id = vocab_size - 1`` (257 for bytes + mask).
        context_length: longest sequence (size of the position table).
        d_model, n_layer, n_head: width, depth and heads; ``dim_feedforward = 4 * d_model``.
    """

    def __init__(self, vocab_size: int = 257, context_length: int = 64, d_model: int = 128, n_layer: int = 2,
                 n_head: int = 4, dropout: float = 0.0):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("context_length", context_length), ("d_model", d_model),
                            ("n_layer", n_layer), ("n_head", n_head)):
            check_int(value, name, minimum=1)
        if vocab_size < 2:
            raise ValueError("vocab_size must be at least 2: one real token and the mask token.")
        if d_model % n_head:
            raise ValueError(f"n_head={n_head} must divide d_model={d_model}.")
        self.vocab_size, self.context_length, self.mask_id = vocab_size, context_length, vocab_size - 1
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context_length, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_head, 4 * d_model, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layer, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.head.weight = self.tok.weight  # tied, as in BERT and GPT-2

    def forward(self, idx: torch.Tensor, labels: torch.Tensor | None = None):
        """Logits for every position, and the loss over the scored positions if labels are given.

        Args:
            idx: (B, T) int64 ids, T <= context_length, some of them ``mask_id``.
            labels: optional (B, T) int64, ``IGNORE_INDEX`` where not scored.

        Returns:
            logits: (B, T, vocab_size).
            loss: mean cross-entropy in nats per *masked* token (0-d tensor), or None.
        """
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.is_floating_point():
            raise ValueError("idx must be a (B, T) integer tensor of token ids.")
        B, T = idx.shape
        if T > self.context_length:
            raise ValueError(f"idx has {T} positions but context_length is {self.context_length}; crop it.")
        if bool(((idx < 0) | (idx >= self.vocab_size)).any()):
            raise ValueError(f"idx holds ids outside [0, {self.vocab_size}).")
        x = self.tok(idx) + self.pos(torch.arange(T, device=idx.device))  # (B, T, C)
        x = self.encoder(x)  # (B, T, C): no mask, every position sees the whole window
        logits = self.head(self.ln_f(x))  # (B, T, V)
        if labels is None:
            return logits, None
        if labels.shape != idx.shape:
            raise ValueError(f"labels must have the shape of idx {tuple(idx.shape)}, got {tuple(labels.shape)}.")
        loss = F.cross_entropy(logits.reshape(B * T, -1), labels.reshape(B * T), ignore_index=IGNORE_INDEX)
        return logits, loss


@torch.no_grad()
def fill_masks(model: MaskedLMEncoder, inputs: torch.Tensor) -> torch.Tensor:
    """Replace every ``mask_id`` in ``inputs`` (B, T) by the model's most likely token; other ids stay."""
    was_training = model.training
    model.eval()
    logits, _ = model(inputs)  # (B, T, V)
    logits[..., model.mask_id] = float("-inf")  # never predict the mask token itself
    model.train(was_training)
    return torch.where(inputs == model.mask_id, logits.argmax(-1), inputs)


# ----------------------------------------------------------------------------- number words -> digits

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SOURCE_WORDS = tuple(_ONES + _TENS[2:] + ["hundred", "thousand", "-"])
"""The source vocabulary after PAD, BOS, EOS: number words and the hyphen of "forty-two"."""
_SOURCE_ID = {w: i + FIRST_DIGIT for i, w in enumerate(SOURCE_WORDS)}
_TOKEN = re.compile(r"[a-z]+|-")
MAX_NUMBER = 999_999


def number_to_words(n: int) -> str:
    """Write 0 <= n <= 999,999 in English words, US style (no "and"): 312 -> "three hundred twelve"."""
    check_int(n, "n", minimum=0)
    if n > MAX_NUMBER:
        raise ValueError(f"n must be at most {MAX_NUMBER:,}, got {n:,}.")
    if n == 0:
        return "zero"

    def below_thousand(k: int) -> list[str]:
        words = []
        if k >= 100:
            words += [_ONES[k // 100], "hundred"]
            k %= 100
        if k >= 20:
            words.append(_TENS[k // 10] + (f"-{_ONES[k % 10]}" if k % 10 else ""))
        elif k:
            words.append(_ONES[k])
        return words

    words = []
    if n >= 1000:
        words += below_thousand(n // 1000) + ["thousand"]
    words += below_thousand(n % 1000)
    return " ".join(words)


def source_vocab_size() -> int:
    """PAD, BOS, EOS and the number words: the ``src_vocab`` of the translation model."""
    return FIRST_DIGIT + len(SOURCE_WORDS)


def target_vocab_size() -> int:
    """PAD, BOS, EOS and the ten digits (the ids of ``course_lib.transformer``'s toy task)."""
    return FIRST_DIGIT + 10


def encode_words(text: str) -> list[int]:
    """Number words -> source ids, EOS last: "forty-two" -> ids of forty, -, two, EOS."""
    if not isinstance(text, str):
        raise ValueError(f"encode_words needs a str, got {type(text).__name__}.")
    tokens = _TOKEN.findall(text.lower())
    unknown = sorted({t for t in tokens if t not in _SOURCE_ID} | set(re.sub(r"[a-z\-\s]", "", text.lower())))
    if unknown or not tokens:
        raise ValueError(f"cannot encode {text!r}: unknown words or characters {unknown}. "
                         f"Use number words such as {number_to_words(312)!r}.")
    return [_SOURCE_ID[t] for t in tokens] + [EOS]


def decode_digits(ids) -> str:
    """Target ids -> the digit string, stopping at EOS; BOS and PAD are skipped."""
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    out = []
    for i in ids:
        if i == EOS:
            break
        if i >= FIRST_DIGIT:
            out.append(str(i - FIRST_DIGIT))
    return "".join(out)


def number_words_batch(numbers: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The translation pairs for ``numbers``: words in, digits out, right-padded with PAD.

    Returns:
        src: (B, S) int64, the word ids then EOS (``encode_words``).
        tgt: (B, T) int64, BOS, the digit ids, EOS.
    """
    numbers = numbers.tolist() if isinstance(numbers, torch.Tensor) else list(numbers)
    if not numbers:
        raise ValueError("number_words_batch needs at least one number.")
    srcs = [encode_words(number_to_words(int(n))) for n in numbers]
    tgts = [[BOS] + [FIRST_DIGIT + int(d) for d in str(int(n))] + [EOS] for n in numbers]
    S, T = max(map(len, srcs)), max(map(len, tgts))
    src = torch.tensor([s + [PAD] * (S - len(s)) for s in srcs], dtype=torch.long)  # (B, S)
    tgt = torch.tensor([t + [PAD] * (T - len(t)) for t in tgts], dtype=torch.long)  # (B, T)
    return src, tgt


def split_numbers(max_number: int = 9999, n_test: int = 500, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle 0..max_number with a seed and hold out ``n_test`` numbers the model never trains on."""
    check_int(max_number, "max_number", minimum=1)
    check_int(n_test, "n_test", minimum=1)
    if max_number > MAX_NUMBER:
        raise ValueError(f"max_number must be at most {MAX_NUMBER:,}, got {max_number:,}.")
    if n_test >= max_number:
        raise ValueError(f"n_test={n_test} leaves no training numbers in 0..{max_number}.")
    perm = torch.randperm(max_number + 1, generator=torch.Generator().manual_seed(seed))
    return perm[n_test:].sort().values, perm[:n_test].sort().values


def translate(model: Seq2SeqTransformer, texts: Sequence[str], max_digits: int = 7) -> list[str]:
    """Greedy-decode number words into digit strings: ["forty-two"] -> ["42"] (for a trained model)."""
    if isinstance(texts, str):
        texts = [texts]
    srcs = [encode_words(t) for t in texts]
    S = max(map(len, srcs))
    src = torch.tensor([s + [PAD] * (S - len(s)) for s in srcs], dtype=torch.long)  # (B, S)
    out = greedy_decode(model, src, max_digits + 1, BOS, EOS, PAD)  # (B, <= max_digits + 2)
    return [decode_digits(row[1:]) for row in out]
