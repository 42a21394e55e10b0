"""n-gram language models counted with numpy, and the data-scale curve of chapter 01.

A language model is a probability distribution over the next symbol given the ones
before it, ``P(x_t | x_1 .. x_{t-1})``. An n-gram model keeps only the last ``n - 1``
symbols (the Markov assumption) and estimates the distribution from counts:

    add-k (k = 1 is Laplace):   P(w | c) = (C(c w) + k) / (C(c) + k V)
    Witten-Bell interpolation:  P(w | c) = (C(c w) + T(c) P(w | c')) / (C(c) + T(c))

where ``C(c w)`` counts the context ``c`` followed by ``w`` in the training text,
``C(c)`` counts the context followed by anything, ``V`` is the vocabulary size,
``T(c)`` is the number of distinct symbols seen after ``c``, and ``c'`` is ``c``
without its oldest symbol (down to the uniform distribution ``1 / V``).

The course works on UTF-8 bytes (``V = 256``): any text fits, nothing is unknown,
and the loss in nats per symbol converts straight into bits per byte.

Counting is vectorised: each n-gram of byte ids becomes one integer
``id_0 V^(n-1) + ... + id_(n-1)`` (the context is ``key // V``, the next symbol
``key % V``); ``np.unique`` counts them and ``np.searchsorted`` looks them up. Scoring
a text counts its distinct n-grams first and looks each up once. Fitting 2 million
bytes takes a fraction of a second.

``data_scale_curve`` measures held-out loss for a grid of training-set sizes and orders
``n``; the chapter's sliders over that grid are in ``course_lib.labs.ch01_ngrams``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .units import LN2, perplexity
from .validation import check_fraction, check_int

__all__ = [
    "as_ids",
    "ngram_keys",
    "NGramModel",
    "ScaleCurve",
    "data_scale_curve",
    "repeat_to_length",
    "inject_noise",
    "count_ops",
    "uniform_guess",
]

SMOOTHINGS = ("add-k", "witten-bell")


def as_ids(data, vocab_size: int = 256) -> np.ndarray:
    """Text or ids -> a (N,) int64 array of symbol ids in [0, vocab_size).

    ``str`` is encoded as UTF-8 bytes (so it needs ``vocab_size >= 256``); ``bytes``,
    lists, numpy arrays and torch tensors of integers are taken as ids.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if isinstance(data, (bytes, bytearray)):
        if vocab_size < 256:
            raise ValueError(f"text is read as UTF-8 bytes, which needs vocab_size >= 256; got {vocab_size}. "
                             "Pass integer ids instead, or use vocab_size=256.")
        return np.frombuffer(bytes(data), dtype=np.uint8).astype(np.int64)
    if hasattr(data, "detach"):  # a torch tensor
        data = data.detach().cpu().numpy()
    arr = np.asarray(data)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D sequence of integers, got shape {arr.shape} and dtype {arr.dtype}. "
                         "Pass a str, bytes, or a flat list of token ids.")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= vocab_size:
        raise ValueError(f"ids must lie in [0, {vocab_size}); found values from {arr.min()} to {arr.max()}. "
                         "Raise vocab_size or re-encode the data.")
    return arr


def _check_order(order: int, vocab_size: int) -> None:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"n must be an integer >= 1 (1 = unigram, 2 = bigram, ...), got {order!r}.")
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2, got {vocab_size}.")
    if order * math.log2(vocab_size) > 63:
        biggest = int(63 // math.log2(vocab_size))
        raise ValueError(f"n={order} with vocab_size={vocab_size} does not fit one n-gram into a 64-bit key; "
                         f"use n <= {biggest} or a smaller vocabulary.")


def ngram_keys(ids: np.ndarray, order: int, vocab_size: int = 256) -> np.ndarray:
    """Every window of ``order`` consecutive ids as one integer: (N - order + 1,) int64.

    The key of ``ids[i : i + order]`` is ``sum_j ids[i + j] * vocab_size**(order - 1 - j)``:
    the oldest symbol is the most significant digit, so ``key // vocab_size`` is the key of
    the context and ``key % vocab_size`` the symbol that follows it.
    """
    n_windows = len(ids) - order + 1
    if n_windows <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.zeros(n_windows, dtype=np.int64)
    for j in range(order):
        keys = keys * vocab_size + ids[j : j + n_windows]
    return keys


def _find(sorted_keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every query: its index in ``sorted_keys`` and whether it is there at all (vectorised)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=np.int64), np.zeros(len(queries), dtype=bool)
    # searching for sorted queries walks the table in order: about 10x faster than random probes
    if np.all(queries[1:] >= queries[:-1]):
        idx = np.searchsorted(sorted_keys, queries)
    else:
        order = np.argsort(queries)
        idx = np.empty(len(queries), dtype=np.int64)
        idx[order] = np.searchsorted(sorted_keys, queries[order])
    np.minimum(idx, len(sorted_keys) - 1, out=idx)
    return idx, sorted_keys[idx] == queries


def _scored_keys(ids: np.ndarray, n: int, vocab_size: int, skip: int | None) -> np.ndarray:
    """Order-n keys of the symbols of ``ids`` that get scored: all but the first ``skip`` (default n - 1)."""
    skip = n - 1 if skip is None else int(skip)
    if skip < n - 1:
        raise ValueError(f"skip must be at least n - 1 = {n - 1} (those symbols have no full context), got {skip}.")
    if len(ids) <= skip:
        raise ValueError(f"the text has {len(ids)} symbols, so nothing is left to score after skipping {skip}; "
                         "give a longer (non-empty) text.")
    return ngram_keys(ids, n, vocab_size)[skip - (n - 1):]


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[i] where sorted_keys[i] == query, else 0, for every query."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=values.dtype)
    idx, found = _find(sorted_keys, queries)
    return np.where(found, values[idx], 0)


@dataclass
class _Table:
    """Counts of one order m: n-gram keys with counts, context keys with totals and types."""

    keys: np.ndarray  # (G,) sorted n-gram keys
    counts: np.ndarray  # (G,) C(c w)
    ctx_keys: np.ndarray  # (H,) sorted context keys
    ctx_counts: np.ndarray  # (H,) C(c) = sum_w C(c w)
    ctx_types: np.ndarray  # (H,) T(c) = number of distinct w after c


def _count(ids: np.ndarray, order: int, vocab_size: int) -> _Table:
    keys, counts = np.unique(ngram_keys(ids, order, vocab_size), return_counts=True)
    ctx = keys // vocab_size  # sorted, because keys are
    ctx_keys, first = np.unique(ctx, return_index=True)
    if len(keys):
        ctx_counts = np.add.reduceat(counts, first)
        ctx_types = np.diff(np.append(first, len(keys)))
    else:
        ctx_counts = ctx_types = np.zeros(0, dtype=np.int64)
    return _Table(keys, counts.astype(np.int64), ctx_keys, ctx_counts.astype(np.int64), ctx_types.astype(np.int64))


class NGramModel:
    """A smoothed n-gram language model over symbols ``0 .. vocab_size - 1`` (UTF-8 bytes by default).

    Args:
        n: the order: the model conditions on the previous ``n - 1`` symbols (n >= 1).
        k: the pseudo-count added to every n-gram by add-k smoothing (k = 1 is Laplace);
            k >= 0, and k = 0 (the maximum-likelihood estimate) only where every context
            is seen. Ignored by ``"witten-bell"``.
        vocab_size: V, the number of possible symbols (256 for bytes).
        smoothing: ``"add-k"`` or ``"witten-bell"`` (interpolation with every lower order).

    ``fit`` counts, ``prob`` gives the next-symbol distribution, ``log_prob`` scores each
    symbol of a text, ``cross_entropy`` averages it (nats per symbol); its exponential
    is the perplexity, ``units.perplexity(model.cross_entropy(text))``.
    """

    def __init__(self, n: int, k: float = 1.0, vocab_size: int = 256, smoothing: str = "add-k"):
        _check_order(n, vocab_size)
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {smoothing!r}.")
        if not (isinstance(k, (int, float, np.floating)) and k >= 0 and math.isfinite(k)):
            raise ValueError(f"k is a pseudo-count and must be a finite number >= 0 (1 = Laplace), got {k!r}.")
        self.n, self.k, self.vocab_size, self.smoothing = int(n), float(k), int(vocab_size), smoothing
        self.tables: list[_Table] | None = None  # tables[m - 1] holds order m
        self.n_train = 0

    def __repr__(self) -> str:
        extra = f", k={self.k:g}" if self.smoothing == "add-k" else ""
        fitted = f", fitted on {self.n_train:,} symbols" if self.tables is not None else ", not fitted"
        return f"NGramModel(n={self.n}{extra}, vocab_size={self.vocab_size}, smoothing={self.smoothing!r}{fitted})"

    # -- counting ---------------------------------------------------------------------
    def fit(self, data) -> "NGramModel":
        """Count every n-gram of ``data`` (str, bytes or a 1-D sequence of ids); returns self."""
        ids = as_ids(data, self.vocab_size)
        if len(ids) < self.n:
            raise ValueError(f"training data has {len(ids)} symbols but an n-gram of order {self.n} needs at least "
                             f"{self.n}; give more text (an empty text cannot be fitted).")
        orders = range(1, self.n + 1) if self.smoothing == "witten-bell" else [self.n]
        tables = {m: _count(ids, m, self.vocab_size) for m in orders}
        self.tables = [tables.get(m) for m in range(1, self.n + 1)]
        self.n_train = len(ids)
        return self

    def _require_fit(self) -> None:
        if self.tables is None:
            raise ValueError("this model has not been fitted yet; call .fit(text) first.")

    # -- probabilities ----------------------------------------------------------------
    def _probs_for_keys(self, keys: np.ndarray) -> np.ndarray:
        """P(w | c) for an array of order-n keys (context and next symbol): (M,) float64."""
        if self.smoothing == "witten-bell":
            return self._witten_bell_by_order(keys)[-1]
        t, V = self.tables[-1], self.vocab_size
        c_cw = _lookup(t.keys, t.counts, keys)
        c_c = _lookup(t.ctx_keys, t.ctx_counts, keys // V)
        num, den = c_cw + self.k, c_c + self.k * V
        if self.k == 0 and np.any(den == 0):
            raise ValueError("with k=0 (maximum likelihood) a context never seen in training has no "
                             "distribution; use k > 0 or smoothing='witten-bell'.")
        return num / den

    def _witten_bell_by_order(self, keys: np.ndarray) -> list[np.ndarray]:
        """Witten-Bell P(w | c) of the models of order 1, 2, .., n for order-n keys: n arrays of (M,).

        The recursion climbs from the uniform order 0; the model of order m uses the last m
        symbols of each key, so each step is the order-m model's answer.
        """
        V = self.vocab_size
        p = np.full(len(keys), 1.0 / V)  # order 0: uniform
        by_order = []
        for m in range(1, self.n + 1):
            t = self.tables[m - 1]
            sub = keys % (V ** m)  # the last m symbols: a context of length m - 1, then w
            c_cw = _lookup(t.keys, t.counts, sub)
            idx, seen = _find(t.ctx_keys, sub // V)
            c_c = np.where(seen, t.ctx_counts[idx], 0)
            types = np.where(seen, t.ctx_types[idx], 0)
            p = np.where(seen, (c_cw + types * p) / np.maximum(c_c + types, 1), p)
            by_order.append(p)
        return by_order

    def cross_entropy_by_order(self, data, skip: int | None = None) -> np.ndarray:
        """Witten-Bell only: the cross-entropy of the models of order 1 .. n on the same symbols: (n,) nats.

        One pass gives every order, because the interpolation climbs through all of them.
        """
        if self.smoothing != "witten-bell":
            raise ValueError("cross_entropy_by_order needs smoothing='witten-bell' (add-k keeps only order n).")
        return self._nll_by_order(*np.unique(self._scored_keys(data, skip), return_counts=True))

    def _nll_by_order(self, keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """``_nll`` of the Witten-Bell models of order 1 .. n at once: (n,) nats per symbol."""
        return np.array([-(counts * np.log(p)).sum() / counts.sum() for p in self._witten_bell_by_order(keys)])

    def prob(self, context=()) -> np.ndarray:
        """The next-symbol distribution after ``context``: (V,) float64 that sums to 1.

        Only the last ``n - 1`` symbols of the context matter; it must have at least that
        many (a str is read as UTF-8 bytes).
        """
        self._require_fit()
        ctx = as_ids(context, self.vocab_size)
        if len(ctx) < self.n - 1:
            raise ValueError(f"an order-{self.n} model needs a context of at least {self.n - 1} symbols, "
                             f"got {len(ctx)}.")
        ctx = ctx[len(ctx) - (self.n - 1):] if self.n > 1 else ctx[:0]
        ctx_key = 0
        for s in ctx:
            ctx_key = ctx_key * self.vocab_size + int(s)
        keys = ctx_key * self.vocab_size + np.arange(self.vocab_size, dtype=np.int64)
        return self._probs_for_keys(keys)

    def _scored_keys(self, data, skip: int | None) -> np.ndarray:
        self._require_fit()
        return _scored_keys(as_ids(data, self.vocab_size), self.n, self.vocab_size, skip)

    def _nll(self, keys: np.ndarray, counts: np.ndarray) -> float:
        """Mean -ln P over scored n-grams given as unique ``keys`` with their ``counts``: nats per symbol."""
        with np.errstate(divide="ignore"):  # k = 0 gives unseen n-grams probability 0: -log = inf
            return float(-(counts * np.log(self._probs_for_keys(keys))).sum() / counts.sum())

    def log_prob(self, data, skip: int | None = None) -> np.ndarray:
        """ln P(x_t | previous n - 1 symbols) for each scored symbol of ``data``: (N - skip,) nats.

        The first ``skip`` symbols (default and minimum ``n - 1``) lack a full context and
        are not scored; pass the same ``skip`` to compare models of different orders on
        exactly the same symbols.
        """
        keys = self._scored_keys(data, skip)
        with np.errstate(divide="ignore"):  # k = 0 gives unseen n-grams probability 0: log = -inf
            return np.log(self._probs_for_keys(keys))

    def seen_context_fraction(self, data, skip: int | None = None) -> float:
        """Share of the scored symbols of ``data`` whose context (previous n - 1 symbols) occurs in training.

        The rest meet a context the counts know nothing about: add-k then falls back to the
        uniform 1 / V, the sparsity that makes high orders need more data.
        """
        ctx = self._scored_keys(data, skip) // self.vocab_size
        return float(np.mean(_lookup(self.tables[-1].ctx_keys, self.tables[-1].ctx_counts, ctx) > 0))

    def cross_entropy(self, data, skip: int | None = None) -> float:
        """Average negative log-probability of the scored symbols: nats per symbol.

        Infinite when a symbol has probability 0 (possible only with k = 0).
        """
        # each distinct n-gram is looked up once and weighted by how often it occurs
        return self._nll(*np.unique(self._scored_keys(data, skip), return_counts=True))

    def bits_per_symbol(self, data, skip: int | None = None) -> float:
        """Cross-entropy in bits per symbol (= bits per byte for a byte model)."""
        return self.cross_entropy(data, skip) / LN2

    def sample(self, length: int, prompt="", seed: int = 0) -> str:
        """Generate ``length`` bytes after ``prompt`` by sampling the model; returns the decoded str.

        Needs a byte model (``vocab_size == 256``); a prompt shorter than ``n - 1`` bytes is
        padded on the left with spaces. Deterministic for a given seed.
        """
        self._require_fit()
        if self.vocab_size != 256:
            raise ValueError("sample() decodes UTF-8 bytes and needs vocab_size=256.")
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}.")
        rng = np.random.default_rng(seed)
        ids = list(as_ids(prompt))
        pad = max(0, self.n - 1 - len(ids))
        ids = [32] * pad + ids
        for _ in range(length):
            p = self.prob(np.array(ids[len(ids) - (self.n - 1):] if self.n > 1 else [], dtype=np.int64))
            ids.append(int(rng.choice(self.vocab_size, p=p / p.sum())))
        return bytes(ids[pad:]).decode("utf-8", errors="replace")


# -- the data-scale curve -------------------------------------------------------------
@dataclass(frozen=True)
class ScaleCurve:
    """Held-out loss on a grid: ``loss[i, j]`` is the loss of order ``orders[i]`` trained on ``sizes[j]`` symbols.

    Attributes:
        sizes: (S,) int64 training-set sizes in symbols (bytes), increasing.
        orders: (O,) int64 model orders n, increasing.
        loss: (O, S) float64 held-out cross-entropy in nats per symbol.
        label: a description of the smoothing, for plot titles.
    """

    sizes: np.ndarray
    orders: np.ndarray
    loss: np.ndarray
    label: str = ""

    @property
    def bits(self) -> np.ndarray:
        """(O, S) held-out loss in bits per symbol (bits per byte for byte models)."""
        return self.loss / LN2

    @property
    def perplexity(self) -> np.ndarray:
        """(O, S) held-out perplexity, exp(loss)."""
        return np.exp(self.loss)


def data_scale_curve(train, val, sizes, orders, k: float = 1.0, smoothing: str = "add-k",
                     vocab_size: int = 256) -> ScaleCurve:
    """Train one n-gram model per (order, size) on the first ``size`` symbols of ``train``; score on ``val``.

    Every model is scored on the same symbols of ``val`` (the first ``max(orders) - 1`` are
    skipped for all), so the numbers are comparable across orders.

    Returns a ``ScaleCurve`` with ``loss`` of shape (len(orders), len(sizes)) in nats per symbol.
    """
    train_ids, val_ids = as_ids(train, vocab_size), as_ids(val, vocab_size)
    sizes = np.asarray(sorted({int(s) for s in sizes}), dtype=np.int64)
    orders = np.asarray(sorted({int(o) for o in orders}), dtype=np.int64)
    if len(sizes) == 0 or len(orders) == 0:
        raise ValueError("give at least one size and one order.")
    if sizes[0] < orders[-1] or sizes[-1] > len(train_ids):
        raise ValueError(f"sizes must lie between the largest order ({orders[-1]}) and the training length "
                         f"({len(train_ids):,} symbols); got {sizes[0]:,} .. {sizes[-1]:,}.")
    skip = int(orders[-1]) - 1
    # the held-out n-grams, counted once and reused for every size: (unique keys, counts)
    scored = orders[-1:] if smoothing == "witten-bell" else orders
    held_out = {int(n): np.unique(_scored_keys(val_ids, int(n), vocab_size, skip), return_counts=True)
                for n in scored}
    loss = np.empty((len(orders), len(sizes)))
    for j, size in enumerate(sizes):
        if smoothing == "witten-bell":  # one fit of the biggest order scores every lower order too
            biggest = NGramModel(int(orders[-1]), vocab_size=vocab_size, smoothing=smoothing).fit(train_ids[:size])
            loss[:, j] = biggest._nll_by_order(*held_out[int(orders[-1])])[orders - 1]
            continue
        for i, n in enumerate(orders):
            model = NGramModel(int(n), k=k, vocab_size=vocab_size, smoothing=smoothing).fit(train_ids[:size])
            loss[i, j] = model._nll(*held_out[int(n)])
    label = f"add-k, k={k:g}" if smoothing == "add-k" else smoothing
    return ScaleCurve(sizes, orders, loss, label)


# -- data quality ---------------------------------------------------------------------
def repeat_to_length(ids, length: int) -> np.ndarray:
    """``ids`` repeated end to end and cut to ``length`` symbols: more tokens, no new information."""
    ids = as_ids(ids)
    if len(ids) == 0:
        raise ValueError("cannot repeat an empty sequence; give some data.")
    length = check_int(length, "length", minimum=1)
    reps = -(-length // len(ids))
    return np.tile(ids, reps)[:length]


def inject_noise(ids, rate: float, alphabet, seed: int = 0) -> np.ndarray:
    """Replace each symbol, with probability ``rate``, by one drawn uniformly from ``alphabet``.

    Returns a new (N,) int64 array; the same seed gives the same corruption.
    """
    ids = as_ids(ids).copy()
    rate = check_fraction(rate, "rate (a probability)", allow_zero=True, allow_one=True)
    alphabet = np.unique(as_ids(alphabet))
    if len(alphabet) == 0:
        raise ValueError("alphabet is empty; give the symbols noise may be drawn from.")
    rng = np.random.default_rng(seed)
    hit = rng.random(len(ids)) < rate
    ids[hit] = rng.choice(alphabet, size=int(hit.sum()))
    return ids


# -- compute --------------------------------------------------------------------------
def count_ops(n_symbols: int, n: int) -> int:
    """Rough integer operations to count all n-grams of order ``n`` in a text of ``n_symbols`` symbols.

    Forming the keys costs a multiply and an add per symbol per order (``2 n N``); sorting
    them costs about ``log2 N`` comparisons per symbol (``N ceil(log2 N)``). Compare with the
    ``6 N D`` FLOPs of training a Transformer.
    """
    n_symbols, n = check_int(n_symbols, "n_symbols", minimum=1), check_int(n, "n", minimum=1)
    return 2 * n * n_symbols + n_symbols * math.ceil(math.log2(n_symbols))


def uniform_guess(vocab_size: int) -> dict:
    """Loss of a model that spreads probability evenly over ``vocab_size`` symbols (the order-0 model).

    Returns ``{"nats": ln V, "bits": log2 V, "perplexity": V}``: per symbol, what knowing
    nothing costs. The logic behind the slider of chapter 00.
    """
    vocab_size = check_int(vocab_size, "vocab_size", minimum=1)
    nats = math.log(vocab_size)
    return {"nats": nats, "bits": nats / LN2, "perplexity": perplexity(nats)}
