"""Figures for widgets: a matplotlib figure as PNG bytes for an ``ipywidgets.Image``.

Widgets draw into an ``Image`` rather than an ``Output`` widget, because ``Output`` leaks
``clear_output`` messages into the cell when a notebook is re-run under nbval.
"""
from __future__ import annotations

import io


def figure_png(fig, dpi: int = 72, tight: bool = True) -> bytes:
    """Render ``fig`` to PNG bytes and close it (so figures do not pile up in memory).

    ``tight`` crops the white margin (``bbox_inches="tight"``); a widget whose figure must
    keep one size while its sliders move passes ``tight=False``.
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    finally:
        plt.close(fig)
    return buf.getvalue()


def wire_widget(box, controls, update, draw, figure, plot: bool, **parts):
    """Give ``box`` its ``update`` (the numbers and text) and ``redraw`` (also ``figure`` = ``draw(state)``).

    Each control calls ``redraw`` when it is released; the figure is drawn once now unless
    ``plot`` is false. ``parts`` (sliders, text) become attributes of ``box``.
    """
    def redraw(*_):
        state = update()
        if plot:
            figure.value = figure_png(draw(state), tight=False)
        return state

    for control in controls:
        control.observe(redraw, names="value")
    redraw()
    box.update, box.redraw, box.figure = update, redraw, figure
    for name, part in parts.items():
        setattr(box, name, part)
    return box
