"""course_lib.labs.ch01_ngrams: the data-scale explorer's state, figure and sliders."""
import math

import numpy as np
import pytest

from course_lib import ngram
from course_lib.labs.ch01_ngrams import ScaleExplorer, ScaleState, scale_state, scale_widget


@pytest.fixture(scope="module")
def curve():
    from course_lib.text import python_docs

    docs_ids = ngram.as_ids(python_docs().text[:400_000])
    return ngram.data_scale_curve(docs_ids[:300_000], docs_ids[-50_000:], [3_000, 30_000, 300_000], [1, 3, 5],
                                  k=0.01)


def test_scale_state_is_the_slider_logic(curve):
    state = scale_state(curve, 25_000, 3)  # the nearest grid size on a log scale is 30k
    assert (state.size, state.n) == (30_000, 3)
    assert state.loss_nats == curve.loss[1, 1]
    assert state.bits == pytest.approx(state.loss_nats / math.log(2))
    assert state.best_n == int(curve.orders[np.argmin(curve.loss[:, 1])])
    assert state.gain_from_10x_bits == pytest.approx((curve.loss[1, 1] - curve.loss[1, 2]) / math.log(2))
    assert scale_state(curve, 300_000, 5).gain_from_10x_bits is None  # beyond the grid
    assert "n = 3" in state.summary() and "30,000 bytes" in state.summary()
    with pytest.raises(ValueError, match="size .* must be a finite number > 0"):
        scale_state(curve, 0, 3)


def test_explorer_sliders_move_the_highlight(curve):
    pytest.importorskip("ipywidgets")
    explorer = ScaleExplorer(curve)
    ui = scale_widget(explorer)
    size_slider, n_slider = ui.children[0].children
    text, image = ui.children[1], ui.children[2]
    first_png = image.value
    size_slider.value = 3_000
    n_slider.value = 5
    assert (explorer.state.size, explorer.state.n) == (3_000, 5)
    x, y = explorer.marker.get_data()
    assert (x[0], y[0]) == (3_000, pytest.approx(curve.bits[2, 0]))
    assert [bar.get_height() for bar in explorer.bars] == pytest.approx(curve.bits[:, 0].tolist())
    assert text.value == explorer.state.summary() and "n = 5" in text.value
    assert image.value != first_png and image.value[:4] == b"\x89PNG"


def test_explorer_update_returns_the_state_and_renders_png(curve):
    explorer = ScaleExplorer(curve)
    assert explorer.state == scale_state(curve, 300_000, 1)  # starts at the largest size, the smallest n
    state = explorer.update(30_000, 3)
    assert isinstance(state, ScaleState) and state == explorer.state == scale_state(curve, 30_000, 3)
    assert explorer.png()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="ScaleExplorer"):
        scale_widget(curve)
