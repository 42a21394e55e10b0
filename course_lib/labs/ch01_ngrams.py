"""Chapter 01 lab: the data-scale explorer, sliders over a precomputed ``ScaleCurve``.

``course_lib.ngram.data_scale_curve`` trains one n-gram model per (order, training size)
once; everything here only looks that grid up, so a slider move costs milliseconds:

    scale_state(curve, size, n)  -> ScaleState: the numbers the sliders show (pure, microseconds)
    ScaleExplorer(curve)         -> the two-panel figure; ``update(size, n)`` moves its highlight,
                                    ``png()`` renders it (blitted over a cached background)
    scale_widget(explorer)       -> the ipywidgets sliders driving an explorer
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from ..ngram import ScaleCurve
from ..units import LN2, perplexity as _perplexity
from ..validation import check_positive

__all__ = ["ScaleState", "scale_state", "ScaleExplorer", "scale_widget"]


@dataclass(frozen=True)
class ScaleState:
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
        """One line of text: the loss at (size, n), the best order at this size, the gain from 10x more data."""
        gain = ("beyond the grid" if self.gain_from_10x_bits is None
                else f"{self.gain_from_10x_bits:.3f} bits/byte")
        return (f"n = {self.n}, trained on {self.size:,} bytes: held-out loss {self.loss_nats:.3f} nats "
                f"= {self.bits:.3f} bits per byte, perplexity {self.perplexity:.2f}; "
                f"best order at this size: n = {self.best_n}; 10x more data would remove {gain}")


def _nearest_index(grid: np.ndarray, value: float, log: bool) -> int:
    g = np.log(grid.astype(float)) if log else grid.astype(float)
    v = math.log(value) if log else float(value)
    return int(np.argmin(np.abs(g - v)))


def scale_state(curve: ScaleCurve, size: float, n: int) -> ScaleState:
    """The slider logic: look up (size, n) in a precomputed ``ScaleCurve`` (nearest grid point, log scale for size).

    ``size`` is a number of training symbols (bytes), ``n`` a model order. Pure and fast
    (microseconds): nothing is trained here.
    """
    check_positive(size, "size (a number of training symbols)")
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
    return ScaleState(int(curve.sizes[j]), int(curve.orders[i]), loss, loss / LN2, _perplexity(loss), best_n, gain)


def _short(size: float) -> str:
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if size >= div:
            return f"{size / div:.3g}{unit}"
    return f"{int(size)}"


def _plain_log_ticks(ax) -> None:
    """Label a log-scaled y axis with plain numbers (2, 3, 4) instead of 2 x 10^0."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    low, high = ax.get_ylim()
    ticks = [t for t in (0.5, 0.7, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15, 20) if low <= t <= high]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


class ScaleExplorer:
    """Two panels for a ``ScaleCurve``: loss against data (log-log, one line per n) and loss against n.

    ``update(size, n)`` moves the marker, highlights the chosen n, sets the bars to that
    size and returns the ``ScaleState`` (also kept as ``state``); ``png()`` renders the
    figure as PNG bytes. ``scale_widget(explorer)`` puts ipywidgets sliders on it.

    Rendering is blitted: the axes, grid lines and curves are drawn once into a cached
    background, and an update paints only the highlight, the marker and the bars over a
    copy of it, so a slider move costs milliseconds, not a full matplotlib redraw.
    """

    def __init__(self, curve: ScaleCurve):
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.curve = curve
        self.fig = Figure(figsize=(9.0, 3.4), dpi=80)
        FigureCanvasAgg(self.fig)
        self.ax_data, self.ax_n = self.fig.subplots(1, 2, width_ratios=[1.6, 1])
        colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, len(curve.orders)))
        for n, row, color in zip(curve.orders, curve.bits, colors):
            self.ax_data.plot(curve.sizes, row, "o-", ms=3, lw=1.0, alpha=0.6, color=color, label=f"n = {n}")
        self.ax_data.set(xscale="log", yscale="log", xlabel="training bytes",
                         ylabel="held-out bits per byte", title=f"more data, several n ({curve.label})")
        self.ax_data.legend(fontsize=7, ncol=2)
        _plain_log_ticks(self.ax_data)
        # the moving parts: animated artists are left out of the full draw and blitted on top
        (self.highlight,) = self.ax_data.plot([], [], "-", lw=3.0, color="crimson", animated=True)
        (self.marker,) = self.ax_data.plot([], [], "o", ms=11, mfc="none", mec="crimson", mew=2, animated=True)
        self.bars = self.ax_n.bar(curve.orders, curve.bits[:, -1], color=colors, linewidth=2.0, animated=True)
        self.ax_n.set(xlabel="order n", ylabel="held-out bits per byte", xticks=curve.orders,
                      title="held-out loss by n, at the chosen size")
        self.ax_n.set_ylim(0, float(curve.bits.max()) * 1.05)
        self.fig.tight_layout()
        self.fig.canvas.draw()
        self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        self.state = self.update(int(curve.sizes[-1]), int(curve.orders[0]))

    def update(self, size: float, n: int) -> ScaleState:
        """Move the highlight to (size, n): set the data of three artists, nothing is re-plotted."""
        point = scale_state(self.curve, size, n)
        i = int(np.searchsorted(self.curve.orders, point.n))
        j = int(np.searchsorted(self.curve.sizes, point.size))
        self.highlight.set_data(self.curve.sizes, self.curve.bits[i])
        self.marker.set_data([point.size], [point.bits])
        for order, bar, height in zip(self.curve.orders, self.bars, self.curve.bits[:, j]):
            bar.set_height(height)
            bar.set_edgecolor("crimson" if order == point.n else "none")
        self.state = point
        return point

    def png(self) -> bytes:
        """The figure with the current highlight, as PNG bytes (cached background + the moving parts)."""
        from PIL import Image

        canvas = self.fig.canvas
        canvas.restore_region(self._background)
        self.ax_data.draw_artist(self.highlight)
        self.ax_data.draw_artist(self.marker)
        for bar in self.bars:
            self.ax_n.draw_artist(bar)
        buf = io.BytesIO()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]  # (H, W, 3): the figure is opaque
        Image.fromarray(rgb).save(buf, format="png", compress_level=3)
        return buf.getvalue()


def scale_widget(explorer: ScaleExplorer):
    """Sliders for a ``ScaleExplorer``: a VBox of two sliders (training size, n), a text line and the figure.

    The sliders start at the explorer's current ``state`` and move it: each change calls
    ``explorer.update`` and repaints the image (``ipywidgets`` is imported only here).
    """
    if not isinstance(explorer, ScaleExplorer):
        raise ValueError(f"scale_widget needs a ScaleExplorer (ScaleExplorer(curve)), got {type(explorer).__name__}.")
    import ipywidgets as widgets

    curve = explorer.curve
    options = [(_short(s), int(s)) for s in curve.sizes]
    size_slider = widgets.SelectionSlider(options=options, value=explorer.state.size, description="data",
                                          continuous_update=True)
    n_slider = widgets.IntSlider(value=explorer.state.n, min=int(curve.orders[0]),
                                 max=int(curve.orders[-1]), description="n")
    text = widgets.HTML(value=explorer.state.summary())
    image = widgets.Image(value=explorer.png(), format="png")

    def on_change(_change=None):
        state = explorer.update(size_slider.value, n_slider.value)
        text.value = state.summary()
        image.value = explorer.png()

    size_slider.observe(on_change, names="value")
    n_slider.observe(on_change, names="value")
    return widgets.VBox([widgets.HBox([size_slider, n_slider]), text, image])
