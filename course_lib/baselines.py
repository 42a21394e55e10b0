"""What a trivial method gets on the same text: the numbers every model's loss should sit beside.

A loss means little alone. 2.3 bits per byte sounds good until a bigram table gets 3.5 and
``gzip -9`` gets 2.5 on the same validation text. This module measures, in bits per byte
of the validation text (the unit every course model's loss converts to with
``units.bits_per_byte``):

* ``ngram_bits_per_byte``: a count-based byte n-gram model fitted on the training text
  (chapter 01's ``NGramModel``, Witten-Bell smoothing by default);
* ``compressor_bits_per_byte``: a general-purpose compressor (gzip, bz2, xz at their
  highest settings) *conditional on the training text*: the extra compressed bits the
  validation text costs when it follows the training text, ``8 * (|C(train + val)| -
  |C(train)|) / |val|``. A compressor is a sequential predictor, so this is a fair, if
  crude, language model; gzip only looks back 32 KiB, xz up to its dictionary size.

``baseline_table`` gathers them in one table for a chapter to print next to its model.
With ``unit="character"`` (for character-level models, chapter 05) the same baselines are
given in bits per *character*: the n-grams count characters instead of bytes, and a
compressor's extra bits are divided by the number of characters of the validation text.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
from dataclasses import dataclass

from .ngram import NGramModel
from .units import LN2
from .validation import check_int

COMPRESSORS = {
    "gzip -9": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
    "bz2 -9": lambda data: bz2.compress(data, compresslevel=9),
    "xz -9": lambda data: lzma.compress(data, preset=9),
}

__all__ = ["COMPRESSORS", "UNITS", "compressor_bits_per_byte", "ngram_bits_per_byte", "ngram_bits_per_character",
           "BaselineTable", "baseline_table"]

UNITS = ("byte", "character")


def _as_bytes(text, name: str) -> bytes:
    if isinstance(text, str):
        text = text.encode("utf-8")
    if not isinstance(text, (bytes, bytearray)):
        raise ValueError(f"{name} must be str or bytes, got {type(text).__name__}.")
    if len(text) == 0:
        raise ValueError(f"{name} is empty; give the text the model is trained on and the text it is scored on.")
    return bytes(text)


def compressor_bits_per_byte(train, val, method: str = "gzip -9") -> float:
    """Bits per byte of ``val`` for a compressor that has already read ``train`` (str or bytes).

    ``method`` is a key of ``COMPRESSORS``: ``"gzip -9"``, ``"bz2 -9"`` or ``"xz -9"``.
    """
    if method not in COMPRESSORS:
        raise ValueError(f"method must be one of {', '.join(COMPRESSORS)}, got {method!r}.")
    train, val = _as_bytes(train, "train"), _as_bytes(val, "val")
    compress = COMPRESSORS[method]
    return 8.0 * (len(compress(train + val)) - len(compress(train))) / len(val)


def ngram_bits_per_byte(train, val, n: int = 2, smoothing: str = "witten-bell", k: float = 1.0) -> float:
    """Bits per byte of ``val`` under a byte n-gram model fitted on ``train`` (str or bytes)."""
    n = check_int(n, "n", minimum=1)
    train, val = _as_bytes(train, "train"), _as_bytes(val, "val")
    model = NGramModel(n, k=k, smoothing=smoothing).fit(train)
    return model.cross_entropy(val) / LN2


def _as_text(text, name: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a str for bits per character, got {type(text).__name__}.")
    if not text:
        raise ValueError(f"{name} is empty; give the text the model is trained on and the text it is scored on.")
    return text


def ngram_bits_per_character(train: str, val: str, n: int = 2, smoothing: str = "witten-bell", k: float = 1.0) -> float:
    """Bits per character of ``val`` under a character n-gram model fitted on ``train`` (both str).

    Characters are numbered in order of first appearance in ``train + val``, so the
    vocabulary is the text's own (as ``tokenizer.CharTokenizer`` builds it); a character
    that the training text lacks is still scored, and smoothing gives it a small probability.
    """
    n = check_int(n, "n", minimum=1)
    train, val = _as_text(train, "train"), _as_text(val, "val")
    vocab = {c: i for i, c in enumerate(dict.fromkeys(train + val))}
    ids = [vocab[c] for c in train], [vocab[c] for c in val]
    model = NGramModel(n, k=k, smoothing=smoothing, vocab_size=max(len(vocab), 2)).fit(ids[0])
    return model.cross_entropy(ids[1]) / LN2


@dataclass(frozen=True)
class BaselineTable:
    """Bits per byte (or per character) of one validation text for each baseline, best n-gram order included."""

    rows: dict[str, float]
    best_order: int
    n_val_bytes: int
    unit: str = "byte"
    n_val_characters: int | None = None

    def lines(self, model: dict[str, float] | None = None) -> list[str]:
        """One line per method, models first (``{"label": bits_per_unit}``), then the baselines."""
        rows = {**(model or {}), **self.rows}
        width = max(len(name) for name in rows)
        return [f"{name:<{width}}  {bits:5.3f} bits per {self.unit}" for name, bits in rows.items()]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def baseline_table(train, val, orders=(2, 3, 4, 5), compressors=tuple(COMPRESSORS), unit: str = "byte") -> BaselineTable:
    """The bigram, the best n-gram over ``orders`` and each compressor, on the same ``val``.

    The n-grams use Witten-Bell smoothing, which needs no tuning on the validation text;
    "best" picks the order with the lowest validation loss, so it is an optimistic baseline.
    ``unit="byte"`` (str or bytes) scores bytes; ``unit="character"`` (str only) counts
    character n-grams and divides each compressor's bits by the number of characters.
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}.")
    orders = sorted({check_int(o, "order", minimum=1) for o in orders} | {2})
    if unit == "character":
        train, val = _as_text(train, "train"), _as_text(val, "val")
        ngram = {o: ngram_bits_per_character(train, val, o) for o in orders}
        per_byte = len(val.encode("utf-8")) / len(val)  # bytes per character of the validation text
    else:
        train, val = _as_bytes(train, "train"), _as_bytes(val, "val")
        ngram = {o: ngram_bits_per_byte(train, val, o) for o in orders}
        per_byte = 1.0
    best = min(ngram, key=ngram.get)
    rows = {"bigram (Witten-Bell)": ngram[2], f"best n-gram ({best}-gram, Witten-Bell)": ngram[best]}
    rows.update({name: per_byte * compressor_bits_per_byte(train, val, name) for name in compressors})
    n_bytes = len(val.encode("utf-8")) if isinstance(val, str) else len(val)
    return BaselineTable(rows, best, n_bytes, unit, len(val) if unit == "character" else None)
