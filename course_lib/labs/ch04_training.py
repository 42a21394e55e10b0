"""Chapter 04 lab: the BPE vocabulary-size slider (04a) and the training-cost explorer (04c).

Both widgets only look up or recompute plain numbers from the library, so a slider move
stays well under 100 ms:

    bpe_widget(sweep, value)      -> a slider over a ``course_lib.preprocess.BPESweep``, showing
                                     ``course_lib.preprocess.bpe_report``
    cost_widget(n_params, ...)    -> sliders for N and D and a GPU menu, showing
                                     ``course_lib.cost.training_cost`` on 1024 GPUs

``ipywidgets`` is imported inside the functions, so importing this module needs none.
"""
from __future__ import annotations

import html

from ..compute import GPUS
from ..cost import training_cost
from ..preprocess import BPESweep, bpe_report

__all__ = ["bpe_widget", "cost_widget"]


def _pre(text: str) -> str:
    """``text`` as preformatted HTML, escaped."""
    return f"<pre>{html.escape(text)}</pre>"


def bpe_widget(sweep: BPESweep, value: int | None = None):
    """A slider over the sweep's vocabulary sizes showing ``bpe_report``; returns an ``ipywidgets.VBox``.

    ``value`` is the vocabulary size to start at (the nearest trained one); by default the
    middle of the sweep. ``box.children`` is ``(slider, html)``.
    """
    if not isinstance(sweep, BPESweep):
        raise ValueError(f"bpe_widget needs a BPESweep (course_lib.preprocess.bpe_vocab_sweep), "
                         f"got {type(sweep).__name__}.")
    import ipywidgets as widgets

    sizes = sweep.vocab_sizes
    start = sweep.point(value if value is not None else sizes[len(sizes) // 2]).vocab_size
    slider = widgets.SelectionSlider(options=list(sizes), value=start, description="vocab size",
                                     continuous_update=True)
    out = widgets.HTML(_pre(bpe_report(sweep, start)))

    def on_change(change):
        out.value = _pre(bpe_report(sweep, change["new"]))

    slider.observe(on_change, names="value")
    return widgets.VBox([slider, out])


def cost_widget(n_params: float = 1e9, n_tokens: float = 2e10, utilisation: float = 0.4,
                price_per_hour: float = 2.0, dtype: str = "bfloat16"):
    """Sliders for N and D (log scale) and a GPU menu, showing ``training_cost`` on 1 and 1024 GPUs.

    ``n_params`` (parameters) and ``n_tokens`` (tokens) are where the sliders start; the
    menu lists the GPUs of ``course_lib.compute.GPUS``, each at its data-sheet peak in
    ``dtype``; ``utilisation`` (in (0, 1]) and ``price_per_hour`` (dollars per GPU-hour)
    are fixed assumptions. Returns an ``ipywidgets.VBox``; its ``update()`` callback (pure
    arithmetic) returns the ``TrainingCost`` it shows, and ``box.n_slider``,
    ``box.d_slider``, ``box.gpu_menu`` and ``box.text`` are its parts.
    """
    import ipywidgets as widgets

    n_slider = widgets.FloatLogSlider(value=n_params, base=10, min=5, max=12, step=0.1, description="N params",
                                      readout_format=".3g", continuous_update=True)
    d_slider = widgets.FloatLogSlider(value=n_tokens, base=10, min=6, max=14, step=0.1, description="D tokens",
                                      readout_format=".3g", continuous_update=True)
    gpu_menu = widgets.Dropdown(options=list(GPUS), value="H100 SXM", description="GPU")
    text = widgets.HTML()

    def update(*_):
        cost = training_cost(n_slider.value, d_slider.value, gpu_menu.value, 1024, utilisation, price_per_hour,
                             dtype=dtype)
        text.value = "<pre>" + cost.summary() + "</pre>"
        return cost

    for w in (n_slider, d_slider, gpu_menu):
        w.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([n_slider, d_slider, gpu_menu]), text])
    box.update, box.n_slider, box.d_slider, box.gpu_menu, box.text = update, n_slider, d_slider, gpu_menu, text
    return box
