"""course_lib.labs.ch07_deployment: the LLM-choice widget of chapter 07c."""
import pytest

from course_lib.labs.ch07_deployment import choice_widget

pytest.importorskip("ipywidgets")


def test_widget_update_follows_the_sliders():
    box = choice_widget(n_params=7e9, dtype="bfloat16", context_tokens=4096, batch_size=8)
    first = box.update()
    assert first.inference.weights == pytest.approx(14e9, rel=0.01)
    box.dtype_menu.value = "int8"
    assert box.update().inference.weights == pytest.approx(7e9, rel=0.01)
    assert "int8" in box.text.value
    box.n_slider.value = 1e11
    bigger = box.update()
    assert bigger.inference.weights == pytest.approx(1e11, rel=0.01)
    assert bigger.speed_batch1.tokens_per_second < first.speed_batch1.tokens_per_second


def test_widget_lists_the_gpus_of_the_one_table():
    from course_lib.compute import GPUS

    box = choice_widget()
    assert list(box.gpu_menu.options) == sorted(GPUS)
    box.gpu_menu.value = "A100"
    assert box.update().gpu is GPUS["A100"]
