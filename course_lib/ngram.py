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
``key % V``); ``np.unique`` counts them and ``np.searchsorted`` looks them up. Fitting
2 million bytes takes a fraction of a second.

``data_scale_curve`` measures held-out loss for a grid of training-set sizes and orders
``n``; ``scale_point`` is the pure function behind the chapter's sliders, and
``ScaleExplorer`` draws the grid and moves a marker (ipywidgets are imported only there).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from .units import LN2, perplexity as _perplexity

__all__ = [
    "as_ids",
    "ngram_keys",
    "NGramModel",
    "ScaleCurve",
    "data_scale_curve",
    "ScalePoint",
    "scale_point",
    "ScaleExplorer",
    "repeat_to_length",
    "inject_noise",
    "count_ops",
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
    the context and ``key % vocab_size`` the symbol that follows it. ``order = 0`` gives
    zeros (the empty context) for every position.
    """
    n_windows = len(ids) - order + 1
    if n_windows <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.zeros(n_windows, dtype=np.int64)
    for j in range(order):
        keys = keys * vocab_size + ids[j : j + n_windows]
    return keys


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[i] where sorted_keys[i] == query, else 0, for every query (vectorised)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=values.dtype)
    idx = np.searchsorted(sorted_keys, queries)
    idx = np.minimum(idx, len(sorted_keys) - 1)
    found = sorted_keys[idx] == queries
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
    symbol of a text, ``cross_entropy`` averages it (nats per symbol), ``perplexity`` is
    its exponential.
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

    @property
    def n_distinct_ngrams(self) -> int:
        """How many different n-grams of order n the training data contains."""
        self._require_fit()
        return len(self.tables[-1].keys)

    # -- probabilities ----------------------------------------------------------------
    def _probs_for_keys(self, keys: np.ndarray) -> np.ndarray:
        """P(w | c) for an array of order-n keys (context and next symbol): (M,) float64."""
        V = self.vocab_size
        if self.smoothing == "add-k":
            t = self.tables[-1]
            c_cw = _lookup(t.keys, t.counts, keys)
            c_c = _lookup(t.ctx_keys, t.ctx_counts, keys // V)
            num, den = c_cw + self.k, c_c + self.k * V
            if self.k == 0 and np.any(den == 0):
                raise ValueError("with k=0 (maximum likelihood) a context never seen in training has no "
                                 "distribution; use k > 0 or smoothing='witten-bell'.")
            return num / den
        p = np.full(len(keys), 1.0 / V)  # order 0: uniform
        for m in range(1, self.n + 1):
            t = self.tables[m - 1]
            sub = keys % (V ** m)  # the last m symbols: context of length m - 1, then w
            c_cw = _lookup(t.keys, t.counts, sub)
            ctx = sub // V
            c_c = _lookup(t.ctx_keys, t.ctx_counts, ctx)
            types = _lookup(t.ctx_keys, t.ctx_types, ctx)
            seen = c_c > 0
            p = np.where(seen, (c_cw + types * p) / np.maximum(c_c + types, 1), p)
        return p

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

    def log_prob(self, data, skip: int | None = None) -> np.ndarray:
        """ln P(x_t | previous n - 1 symbols) for each scored symbol of ``data``: (N - skip,) nats.

        The first ``skip`` symbols (default and minimum ``n - 1``) lack a full context and
        are not scored; pass the same ``skip`` to compare models of different orders on
        exactly the same symbols.
        """
        self._require_fit()
        ids = as_ids(data, self.vocab_size)
        skip = self.n - 1 if skip is None else int(skip)
        if skip < self.n - 1:
            raise ValueError(f"skip must be at least n - 1 = {self.n - 1} (those symbols have no full context), "
                             f"got {skip}.")
        if len(ids) <= skip:
            raise ValueError(f"the text has {len(ids)} symbols, so nothing is left to score after skipping {skip}; "
                             "give a longer (non-empty) text.")
        keys = ngram_keys(ids, self.n, self.vocab_size)[skip - (self.n - 1):]
        return np.log(self._probs_for_keys(keys))

    def cross_entropy(self, data, skip: int | None = None) -> float:
        """Average negative log-probability of the scored symbols: nats per symbol."""
        return float(-self.log_prob(data, skip).mean())

    def bits_per_symbol(self, data, skip: int | None = None) -> float:
        """Cross-entropy in bits per symbol (= bits per byte for a byte model)."""
        return self.cross_entropy(data, skip) / LN2

    def perplexity(self, data, skip: int | None = None) -> float:
        """exp(cross-entropy): the size of a uniform choice that would be as surprising."""
        return _perplexity(self.cross_entropy(data, skip))

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


# -- the data-scale curve and its sliders ----------------------------------------------
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
    loss = np.empty((len(orders), len(sizes)))
    for i, n in enumerate(orders):
        for j, size in enumerate(sizes):
            model = NGramModel(int(n), k=k, vocab_size=vocab_size, smoothing=smoothing).fit(train_ids[:size])
            loss[i, j] = model.cross_entropy(val_ids, skip=skip)
    label = f"add-k, k={k:g}" if smoothing == "add-k" else smoothing
    return ScaleCurve(sizes, orders, loss, label)


@dataclass(frozen=True)
class ScalePoint:
    """What the sliders show for one (size, n): the grid point nearest the request.

    ``loss_nats`` is nats per symbol, ``bits`` bits per symbol; ``best_n`` is the order with
    the lowest loss at this size; ``gain_from_10x_bits`` is how many bits per symbol ten
    times more data removes at this order (None when the grid does not reach that far).
    """

    size: int
    n: int
    loss_nats: float
    bits: float
    perplexity: float
    best_n: int
    gain_from_10x_bits: float | None

    def summary(self) -> str:
        gain = ("beyond the grid" if self.gain_from_10x_bits is None
                else f"{self.gain_from_10x_bits:.3f} bits/byte")
        return (f"n = {self.n}, trained on {self.size:,} bytes: held-out loss {self.loss_nats:.3f} nats "
                f"= {self.bits:.3f} bits per byte, perplexity {self.perplexity:.2f}; "
                f"best order at this size: n = {self.best_n}; 10x more data would remove {gain}")


def _nearest_index(grid: np.ndarray, value: float, log: bool) -> int:
    g = np.log(grid.astype(float)) if log else grid.astype(float)
    v = math.log(value) if log else float(value)
    return int(np.argmin(np.abs(g - v)))


def scale_point(curve: ScaleCurve, size: float, n: int) -> ScalePoint:
    """The slider logic: look up (size, n) in a precomputed ``ScaleCurve`` (nearest grid point, log scale for size).

    Pure and fast (microseconds): nothing is trained here.
    """
    if size <= 0:
        raise ValueError(f"size must be a positive number of symbols, got {size}.")
    j = _nearest_index(curve.sizes, size, log=True)
    i = _nearest_index(curve.orders, n, log=False)
    loss = float(curve.loss[i, j])
    best_n = int(curve.orders[int(np.argmin(curve.loss[:, j]))])
    target = curve.sizes[j] * 10
    gain = None
    if target <= curve.sizes[-1] * 1.0001:
        # interpolate the loss at 10x the size linearly in log(size)
        later = float(np.interp(math.log(target), np.log(curve.sizes.astype(float)), curve.loss[i]))
        gain = (loss - later) / LN2
    return ScalePoint(int(curve.sizes[j]), int(curve.orders[i]), loss, loss / LN2, _perplexity(loss), best_n, gain)


def _short(size: float) -> str:
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if size >= div:
            return f"{size / div:.3g}{unit}"
    return f"{int(size)}"


class ScaleExplorer:
    """Two panels for a ``ScaleCurve``: loss against data (log-log, one line per n) and loss against n.

    ``update(size, n)`` moves the marker, highlights the chosen n, redraws the bars for that
    size and returns the ``ScalePoint``; ``png()`` renders the figure. ``widget()`` wraps
    both in ipywidgets sliders (imported only there).
    """

    def __init__(self, curve: ScaleCurve):
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure

        self.curve = curve
        self.fig = Figure(figsize=(9.0, 3.4), dpi=80, layout="constrained")
        self.ax_data, self.ax_n = self.fig.subplots(1, 2, width_ratios=[1.6, 1])
        colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(curve.orders)))
        self.lines = []
        for n, row, color in zip(curve.orders, curve.bits, colors):
            (line,) = self.ax_data.plot(curve.sizes, row, "o-", ms=3, color=color, label=f"n = {n}")
            self.lines.append(line)
        self.ax_data.set(xscale="log", yscale="log", xlabel="training bytes",
                         ylabel="held-out bits per byte", title=f"more data, several n ({curve.label})")
        self.ax_data.legend(fontsize=7, ncol=2)
        (self.marker,) = self.ax_data.plot([], [], "o", ms=11, mfc="none", mec="crimson", mew=2)
        self.bars = self.ax_n.bar(curve.orders, curve.bits[:, -1], color=colors)
        self.ax_n.set(xlabel="order n", ylabel="held-out bits per byte", xticks=curve.orders)
        self.ax_n.set_ylim(0, float(curve.bits.max()) * 1.05)
        self.point = self.update(int(curve.sizes[-1]), int(curve.orders[0]))

    def update(self, size: float, n: int) -> ScalePoint:
        """Move the highlight to (size, n): cheap artist updates, no re-plotting."""
        point = scale_point(self.curve, size, n)
        j = int(np.searchsorted(self.curve.sizes, point.size))
        for order, line in zip(self.curve.orders, self.lines):
            line.set_linewidth(3.0 if order == point.n else 1.0)
            line.set_alpha(1.0 if order == point.n else 0.45)
        self.marker.set_data([point.size], [point.bits])
        for order, bar, height in zip(self.curve.orders, self.bars, self.curve.bits[:, j]):
            bar.set_height(height)
            bar.set_edgecolor("crimson" if order == point.n else "none")
            bar.set_linewidth(2.0)
        self.ax_n.set_title(f"at {_short(point.size)} training bytes")
        self.point = point
        return point

    def png(self) -> bytes:
        """The figure as PNG bytes."""
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png")
        return buf.getvalue()

    def widget(self):
        """A VBox of two sliders (training size, n), a text line and the figure as an image."""
        import ipywidgets as widgets

        options = [(_short(s), int(s)) for s in self.curve.sizes]
        size_slider = widgets.SelectionSlider(options=options, value=self.point.size, description="data",
                                              continuous_update=True)
        n_slider = widgets.IntSlider(value=self.point.n, min=int(self.curve.orders[0]),
                                     max=int(self.curve.orders[-1]), description="n")
        text = widgets.HTML(value=self.point.summary())
        image = widgets.Image(value=self.png(), format="png")

        def on_change(_change=None):
            point = self.update(size_slider.value, n_slider.value)
            text.value = point.summary()
            image.value = self.png()

        size_slider.observe(on_change, names="value")
        n_slider.observe(on_change, names="value")
        return widgets.VBox([widgets.HBox([size_slider, n_slider]), text, image])


# -- data quality ---------------------------------------------------------------------
def repeat_to_length(ids, length: int) -> np.ndarray:
    """``ids`` repeated end to end and cut to ``length`` symbols: more tokens, no new information."""
    ids = as_ids(ids)
    if len(ids) == 0:
        raise ValueError("cannot repeat an empty sequence; give some data.")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}.")
    reps = -(-length // len(ids))
    return np.tile(ids, reps)[:length]


def inject_noise(ids, rate: float, alphabet, seed: int = 0) -> np.ndarray:
    """Replace each symbol, with probability ``rate``, by one drawn uniformly from ``alphabet``.

    Returns a new (N,) int64 array; the same seed gives the same corruption.
    """
    ids = as_ids(ids).copy()
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate is a probability and must lie in [0, 1], got {rate}.")
    alphabet = np.unique(as_ids(alphabet))
    if len(alphabet) == 0:
        raise ValueError("alphabet is empty; give the symbols noise may be drawn from.")
    rng = np.random.default_rng(seed)
    hit = rng.random(len(ids)) < rate
    ids[hit] = rng.choice(alphabet, size=int(hit.sum()))
    return ids


# -- compute --------------------------------------------------------------------------
def count_ops(n_symbols: int, n: int) -> int:
    """Rough integer operations to count all n-grams of a text: about 2 per symbol per order (multiply-add).

    Sorting adds a factor of about log2(n_symbols) comparisons per symbol; both are tiny
    next to a transformer's 6 N D FLOPs.
    """
    if n_symbols < 0 or n < 1:
        raise ValueError(f"need n_symbols >= 0 and n >= 1, got {n_symbols} and {n}.")
    return 2 * n * n_symbols
