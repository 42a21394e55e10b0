"""Tokenizers: from text to integer ids and back.

Three levels of granularity, each with ``encode(str) -> list[int]`` and
``decode(list[int]) -> str``:

* ``ByteTokenizer``: the 256 possible UTF-8 bytes. Any text, no training, long sequences.
* ``CharTokenizer``: one id per distinct character seen in a training text.
* ``train_bpe(texts, vocab_size)``: byte-level BPE (as in GPT-2), trained with the
  Hugging Face ``tokenizers`` library and returned as a transformers tokenizer, so
  ``save_pretrained(folder)`` and ``AutoTokenizer.from_pretrained(folder)`` work.

``bytes_per_token`` measures compression: how many UTF-8 bytes one token covers on
average. It converts a loss per token into bits per byte, a unit that lets models with
different tokenizers be compared.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

__all__ = [
    "ByteTokenizer",
    "CharTokenizer",
    "train_bpe",
    "bytes_per_token",
    "encode_to_tensor",
    "END_OF_TEXT",
]

END_OF_TEXT = "<|endoftext|>"


class ByteTokenizer:
    """Byte-level tokenizer: token id = UTF-8 byte value, ``vocab_size = 256``."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        """str -> list of ints in [0, 256)."""
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        """list of ints in [0, 256) -> str (invalid UTF-8 sequences become U+FFFD)."""
        ids = _as_int_list(ids)
        bad = [i for i in ids if not 0 <= i < 256]
        if bad:
            raise ValueError(f"byte ids must be in [0, 256); got {bad[:5]}")
        return bytes(ids).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return "ByteTokenizer(vocab_size=256)"


class CharTokenizer:
    """Character-level tokenizer whose vocabulary is the sorted set of characters in a text.

    Characters not seen in training cannot be encoded: ``encode`` raises a ValueError
    naming them (build the tokenizer from text that contains them, or use bytes).
    """

    def __init__(self, text: str):
        if not text:
            raise ValueError("CharTokenizer needs a non-empty training text to build its vocabulary.")
        self.chars = sorted(set(text))
        self.vocab_size = len(self.chars)
        self._id = {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> list[int]:
        """str -> list of ints in [0, vocab_size)."""
        try:
            return [self._id[c] for c in text]
        except KeyError:
            unknown = sorted(set(text) - set(self._id))
            raise ValueError(
                f"{len(unknown)} characters are not in the vocabulary, e.g. {unknown[:5]}. "
                "Build the CharTokenizer from text that contains them, or use ByteTokenizer."
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        """list of ints in [0, vocab_size) -> str."""
        ids = _as_int_list(ids)
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"ids must be in [0, {self.vocab_size}); got {bad[:5]}")
        return "".join(self.chars[i] for i in ids)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def train_bpe(texts: str | Iterable[str], vocab_size: int = 4096, min_frequency: int = 2):
    """Train a byte-level BPE tokenizer and wrap it as a transformers tokenizer.

    Args:
        texts: a string or an iterable of documents (str).
        vocab_size: the final vocabulary size, including the 256 byte symbols and the
            ``<|endoftext|>`` special token; at least 257.
        min_frequency: a pair must occur this often to be merged.

    Returns:
        A ``transformers.PreTrainedTokenizerFast``: ``tok.encode(str)``, ``tok.decode(ids)``,
        ``tok.save_pretrained(folder)``; reload with ``AutoTokenizer.from_pretrained(folder)``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 257:
        raise ValueError(
            f"vocab_size must be at least 257 (256 byte symbols + {END_OF_TEXT}), got {vocab_size}."
        )
    documents = [texts] if isinstance(texts, str) else list(texts)
    if not any(doc.strip() for doc in documents):
        raise ValueError("train_bpe needs non-empty training text.")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(documents, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=END_OF_TEXT, eos_token=END_OF_TEXT, unk_token=END_OF_TEXT
    )


def bytes_per_token(tokenizer, text: str) -> float:
    """Average UTF-8 bytes per token of ``text`` (1.0 for ByteTokenizer; about 4 for GPT-2 on English)."""
    if not text:
        raise ValueError("bytes_per_token needs a non-empty text.")
    n_tokens = len(tokenizer.encode(text))
    return len(text.encode("utf-8")) / n_tokens


def encode_to_tensor(tokenizer, text: str) -> torch.Tensor:
    """Encode ``text`` into a (N,) tensor of token ids, int64 (int16/int32 would save memory; see docs)."""
    ids = tokenizer.encode(text)
    if len(ids) == 0:
        raise ValueError("the text encoded to zero tokens; give non-empty text.")
    return torch.tensor(ids, dtype=torch.long)


def _as_int_list(ids) -> list[int]:
    if isinstance(ids, torch.Tensor):
        if ids.is_floating_point():
            raise ValueError(f"token ids must be integers, got a {ids.dtype} tensor.")
        return ids.flatten().tolist()
    return [int(i) for i in ids]
