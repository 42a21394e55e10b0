"""course_lib.labs.ch04_training: the BPE vocabulary-size slider (04a) and the cost explorer (04c)."""
import pytest

from course_lib.labs.ch04_training import bpe_widget, cost_widget
from course_lib.preprocess import bpe_report, bpe_vocab_sweep

pytest.importorskip("ipywidgets")

TRAIN = ("Return the number of items in the list. Return True if the list is empty. "
         "The list holds items; the items are returned in order. ") * 40
EVAL = "Return the items of the list in order, or an empty list."


def test_bpe_widget_shows_the_report_of_its_slider():
    sweep = bpe_vocab_sweep(TRAIN, EVAL, "Return the list.", vocab_sizes=(257, 400))
    box = bpe_widget(sweep, value=257)
    slider, html = box.children
    assert "   257" in html.value
    slider.value = 400
    assert "   400" in html.value and "   257" not in html.value
    assert bpe_report(sweep, 400).split("\n")[0] in html.value
    assert bpe_widget(sweep).children[0].value == 400  # the middle of the sweep by default
    with pytest.raises(ValueError, match="BPESweep"):
        bpe_widget([257, 400])


def test_cost_widget_shows_the_cost_of_its_sliders():
    box = cost_widget()
    box.n_slider.value = 70e9
    box.d_slider.value = 1.4e12
    shown = box.update()
    assert shown.n_params == pytest.approx(70e9, rel=0.01) and shown.n_gpus == 1024
    assert f"{shown.days:.3g}" in box.text.value
    assert "1,024 GPUs" in box.text.value
    box.gpu_menu.value = "A100"
    assert box.update().days > shown.days
