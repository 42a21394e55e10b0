"""Chapter 07 lab: choosing an LLM, sliders on ``course_lib.llm_choice.plan`` (07c).

    choice_widget(n_params, dtype, context_tokens, batch_size)
        -> sliders for model size, weight format, context and batch and a GPU menu
           (the GPUs of ``course_lib.compute.GPUS``), showing ``plan(...).summary()``

An update is pure arithmetic, well under 100 ms. ``ipywidgets`` is imported inside the
function, so importing this module needs none. Chapter 07c's attention map comes from
the chapter 02 lab, ``course_lib.labs.ch02_attention``.
"""
from __future__ import annotations

from ..compute import GPUS
from ..llm_choice import plan

__all__ = ["choice_widget"]


def choice_widget(n_params: float = 7e9, dtype: str = "bfloat16", context_tokens: int = 4096, batch_size: int = 8):
    """Sliders for model size, format, context and batch and a GPU menu, showing ``plan(...).summary()``.

    ``n_params`` (parameters), ``dtype`` (float32, bfloat16, int8 or int4),
    ``context_tokens`` (tokens cached per sequence) and ``batch_size`` (sequences decoded
    together) are where the controls start. Returns an ``ipywidgets.VBox`` whose
    ``update()`` (pure arithmetic, well under 100 ms) returns the ``Plan`` it shows;
    ``box.n_slider``, ``box.dtype_menu``, ``box.context_slider``, ``box.batch_slider`` and
    ``box.gpu_menu`` are the controls, ``box.text`` the summary.
    """
    import ipywidgets as widgets

    n_slider = widgets.FloatLogSlider(value=n_params, base=10, min=8, max=12, step=0.05, description="N params",
                                      readout_format=".3g")
    dtype_menu = widgets.Dropdown(options=["float32", "bfloat16", "int8", "int4"], value=dtype, description="format")
    context_slider = widgets.IntSlider(value=context_tokens, min=256, max=131072, step=256, description="context")
    batch_slider = widgets.IntSlider(value=batch_size, min=1, max=256, description="batch")
    gpu_menu = widgets.Dropdown(options=sorted(GPUS), value="H100 SXM", description="GPU")
    text = widgets.HTML()

    def update(*_):
        result = plan(n_slider.value, dtype_menu.value, gpu_menu.value, context_slider.value, batch_slider.value)
        text.value = "<pre>" + result.summary() + "</pre>"
        return result

    controls = (n_slider, dtype_menu, context_slider, batch_slider, gpu_menu)
    for w in controls:
        w.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([n_slider, dtype_menu, gpu_menu]), widgets.HBox([context_slider, batch_slider]),
                        text])
    box.update, box.text = update, text
    box.n_slider, box.dtype_menu, box.context_slider, box.batch_slider, box.gpu_menu = controls
    return box
