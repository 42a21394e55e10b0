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

__all__ = ["COMPRESSORS", "compressor_bits_per_byte", "ngram_bits_per_byte", "BaselineTable", "baseline_table"]


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


@dataclass(frozen=True)
class BaselineTable:
    """Bits per byte of one validation text for each baseline, best n-gram order included."""

    rows: dict[str, float]
    best_order: int
    n_val_bytes: int

    def lines(self, model: dict[str, float] | None = None) -> list[str]:
        """One line per method, models first (``{"label": bits_per_byte}``), then the baselines."""
        rows = {**(model or {}), **self.rows}
        width = max(len(name) for name in rows)
        return [f"{name:<{width}}  {bits:5.3f} bits per byte" for name, bits in rows.items()]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def baseline_table(train, val, orders=(2, 3, 4, 5), compressors=tuple(COMPRESSORS)) -> BaselineTable:
    """The bigram, the best byte n-gram over ``orders`` and each compressor, on the same ``val``.

    The n-grams use Witten-Bell smoothing, which needs no tuning on the validation text;
    "best" picks the order with the lowest validation loss, so it is an optimistic baseline.
    """
    train, val = _as_bytes(train, "train"), _as_bytes(val, "val")
    orders = sorted({check_int(o, "order", minimum=1) for o in orders} | {2})
    ngram = {o: ngram_bits_per_byte(train, val, o) for o in orders}
    best = min(ngram, key=ngram.get)
    rows = {"bigram (Witten-Bell)": ngram[2], f"best n-gram ({best}-gram, Witten-Bell)": ngram[best]}
    rows.update({name: compressor_bits_per_byte(train, val, name) for name in compressors})
    return BaselineTable(rows, best, len(val))
