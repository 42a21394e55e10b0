"""The chapters as a learner opens them: real JupyterLab, real Chromium, a slider moved by keyboard.

For each chapter below, the test opens a cleared copy of the notebook in JupyterLab, runs
every cell from the Run menu, checks that every code cell ran and that no cell shows an
error (a traceback, or a widget that failed to render), then focuses one slider, presses
ArrowRight and checks that what the slider drives changes: the slider's readout, the text
next to it and the figure (its image and a screenshot of the whole widget). Screenshots of
each step are saved for a person to look at (see conftest.py).

Run alone with ``pytest -o addopts="" tests/browser``; ``pytest -m "not browser"`` leaves
these tests out.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
RUN_TIMEOUT_S = 420  # all cells of one chapter; each is meant to take about 2 minutes on 2 cores
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the visible tab
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception): |Error displaying widget|"
                        r"Failed to (load|create|render)", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class SliderCase:
    """A chapter notebook and the description label of the slider the test moves."""

    chapter: str  # test id
    pattern: str  # glob in notebooks/
    marker: str  # text the notebook's code must contain (picks the right notebook)
    slider: str  # the slider's description, as shown on its label

    def notebook(self) -> pathlib.Path | None:
        for path in sorted(NOTEBOOKS.glob(self.pattern)):
            if self.marker in path.read_text(encoding="utf-8"):
                return path
        return None


CASES = [
    SliderCase("05a-compute-budget-explorer", "05a_*.ipynb", "explorer_widget(", "N params"),
    SliderCase("06-decoding-temperature", "06*.ipynb", "decoding_widget(", "temperature"),
]


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.25):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last value: {value!r})")


def _open_notebook(page, lab_server, name: str, n_code_cells: int) -> None:
    """Open ``name`` in JupyterLab; return once all its code cells are shown and its kernel is idle."""
    # "reset" starts from an empty workspace, so no tab of an earlier test is restored
    page.goto(lab_server.url(f"lab/tree/notebooks/{name}") + "&reset", wait_until="domcontentloaded")
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$")).wait_for(timeout=180_000)
    _wait_for(lambda: len(_prompts(page)) == n_code_cells, 60, f"JupyterLab to show the {n_code_cells} code cells")


def _run_all_from_menu(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def _prompts(page) -> list[str]:
    """The execution prompts of all code cells, e.g. ['[1]:', '[*]:', '[ ]:']."""
    return page.eval_on_selector_all(
        f"{PANEL} .jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.textContent.trim())")


def _all_ran(page):
    prompts = _prompts(page)
    return prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts) and prompts


def _error_outputs(page) -> list[str]:
    """Texts of outputs that show an error: tracebacks, error lines on stderr, failed widgets."""
    texts = page.eval_on_selector_all(
        f"{PANEL} .jp-OutputArea-output", "els => els.map(e => e.innerText)")
    return [t[:500] for t in texts if ERROR_TEXT.search(t)]


def _widget_output(page, label: str):
    """The slider labelled ``label`` and the output area holding its widget."""
    def labelled_slider():
        return page.locator(".widget-slider").filter(
            has=page.locator("label.widget-label", has_text=re.compile(rf"^{re.escape(label)}$")))

    slider = page.locator(PANEL).locator(labelled_slider())
    _wait_for(lambda: slider.count() >= 1, 60, f"a slider labelled {label!r}")
    output = page.locator(f"{PANEL} .jp-OutputArea-output").filter(has=labelled_slider())
    return slider.first, output.first


# Controls are left out of the "driven" text, so a slider's own readout cannot count as its effect.
_DRIVEN_TEXT_JS = """el => { const c = el.cloneNode(true);
  c.querySelectorAll('.widget-slider, .widget-dropdown, .widget-text, .widget-button').forEach(n => n.remove());
  return c.textContent.replace(/\\s+/g, ' ').trim(); }"""


def _state(slider, output) -> dict:
    """What a learner sees: the slider's readout, the text it drives, the figure's image source."""
    images = output.locator("img")
    return {
        "readout": slider.locator(".widget-readout").inner_text().strip(),
        "text": output.evaluate(_DRIVEN_TEXT_JS),
        "image": images.first.get_attribute("src") if images.count() else None,
    }


def _run_all(page, lab_server, source: pathlib.Path, copy_notebook, shots: pathlib.Path | None = None,
             stem: str = "") -> None:
    """Open a cleared copy of ``source``, Run All Cells from the menu, wait until every code cell ran."""
    name = copy_notebook(source)
    n_code = sum(c["cell_type"] == "code" for c in json.loads(source.read_text(encoding="utf-8"))["cells"])
    _open_notebook(page, lab_server, name, n_code)
    _run_all_from_menu(page)

    def finished():
        if _error_outputs(page):  # Run All stops at an error: report it now
            return "error"
        return _all_ran(page)

    if _wait_for(finished, RUN_TIMEOUT_S, f"every code cell of {name} to run") == "error":
        if shots:
            page.screenshot(path=str(shots / f"{stem}-0-error.png"))
        pytest.fail(f"{name}: error output during Run All:\n" + "\n---\n".join(_error_outputs(page)))
    prompts = _prompts(page)
    assert [int(p[1:-2]) for p in prompts] == list(range(1, n_code + 1)), f"cells ran out of order: {prompts}"


def _press_arrow_right(page, slider, output, shots: pathlib.Path | None = None, stem: str = "",
                       settle_s: float = 60) -> tuple[dict, dict]:
    """Focus ``slider``'s handle, press ArrowRight; return the state before and after.

    After the readout changes, waits up to ``settle_s`` seconds for the text and the figure
    to change too (the kernel redraws them), then saves screenshots to ``shots`` if given.
    """
    output.scroll_into_view_if_needed()
    time.sleep(0.5)  # let a figure drawn after the text arrive
    before = _state(slider, output)
    shot_before = output.screenshot(path=str(shots / f"{stem}-1-before.png")) if shots else None
    slider.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    _wait_for(lambda: _state(slider, output)["readout"] != before["readout"], 30, "the slider's readout to change")
    deadline = time.monotonic() + settle_s
    after = _state(slider, output)
    while time.monotonic() < deadline and (after["text"] == before["text"] or (
            before["image"] is not None and after["image"] == before["image"])):
        time.sleep(0.25)
        after = _state(slider, output)
    time.sleep(0.5)
    after = _state(slider, output)
    if shots:
        after["shot_changed"] = output.screenshot(path=str(shots / f"{stem}-2-after.png")) != shot_before
    return before, after


@pytest.fixture
def page(browser):
    """A fresh browser tab (1400 x 1000) that records JavaScript errors in ``page.js_errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.js_errors = []
    tab.on("pageerror", lambda err: tab.js_errors.append(str(err)))
    yield tab
    context.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.chapter)
def test_slider_moves_with_the_keyboard(case, page, lab_server, copy_notebook, screenshot_dir):
    source = case.notebook()
    if source is None:
        pytest.skip(f"no notebook notebooks/{case.pattern} using {case.marker} yet")
    _run_all(page, lab_server, source, copy_notebook, screenshot_dir, case.chapter)
    page.screenshot(path=str(screenshot_dir / f"{case.chapter}-0-ran.png"))
    errors = _error_outputs(page)
    assert not errors, f"{source.name}: error output after Run All:\n" + "\n---\n".join(errors)

    slider, output = _widget_output(page, case.slider)
    before, after = _press_arrow_right(page, slider, output, screenshot_dir, case.chapter)
    page.screenshot(path=str(screenshot_dir / f"{case.chapter}-3-page.png"))

    assert after["text"] != before["text"], f"the text next to {case.slider!r} did not change: {before['text'][:300]}"
    if before["image"] is not None:
        assert after["image"] != before["image"], f"the figure driven by {case.slider!r} was not redrawn"
    assert after["shot_changed"], "the widget looks the same after the slider moved"
    errors = _error_outputs(page)
    assert not errors, f"{source.name}: error output after moving the slider:\n" + "\n---\n".join(errors)
    widget_errors = [e for e in page.js_errors if "widget" in e.lower()]
    assert not widget_errors, f"JavaScript errors from widgets: {widget_errors}"


SELF_TEST_CELLS = [
    "import ipywidgets as widgets\n"
    "dead = widgets.IntSlider(value=3, min=0, max=10, description='dead')\n"
    "shown = widgets.HTML('<pre>nothing changes</pre>')\n"
    "widgets.VBox([dead, shown])",
    "print('before the error')",
    "raise ValueError('a deliberate error')",
]


def test_the_checks_can_fail(page, lab_server, copy_notebook, tmp_path):
    """The checks above on a notebook made to fail them: an error cell, and a slider that drives nothing."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in SELF_TEST_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    source = tmp_path / "zz_self_test.ipynb"
    nbformat.write(nb, source)
    name = copy_notebook(source)
    _open_notebook(page, lab_server, name, len(SELF_TEST_CELLS))
    _run_all_from_menu(page)
    _wait_for(lambda: _error_outputs(page), 120, "the deliberate error to show")
    assert any("ValueError: a deliberate error" in e for e in _error_outputs(page))

    slider, output = _widget_output(page, "dead")
    before, after = _press_arrow_right(page, slider, output, settle_s=3)
    assert (before["readout"], after["readout"]) == ("3", "4")
    assert after["text"] == before["text"] == "nothing changes", "a slider that drives nothing looked as if it did"
