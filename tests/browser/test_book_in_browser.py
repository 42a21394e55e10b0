"""The HTML book in Chromium, opened from disk with the network cut off.

tests/test_book.py checks the built HTML as text; this test loads the pages in a real
browser, fails on any request that leaves the book's folder, and checks what a reader
sees: the widgets drawn from their saved state (the explorer's saved slider position and
its figure) and the formulas typeset by the vendored MathJax.
"""
from __future__ import annotations

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load_build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def book_html(tmp_path_factory, browser) -> pathlib.Path:
    pytest.importorskip("jupyter_book", reason="pip install -r requirements.txt (jupyter-book>=1,<2)")
    out = tmp_path_factory.mktemp("book")
    return _load_build_book().build(out, quiet=True).parent


def _open(browser, path: pathlib.Path):
    """Open ``path`` with every request outside file:, data: and blob: URLs recorded and aborted."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.external = []
    page.js_errors = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            request_route.continue_()
        else:
            page.external.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda err: page.js_errors.append(str(err)))
    page.goto(path.as_uri(), wait_until="load")
    return context, page


def test_widgets_show_their_saved_state(browser, book_html, screenshot_dir):
    context, page = _open(browser, book_html / "notebooks" / "05a_scaling_laws_theory.html")
    try:
        slider = page.locator(".widget-slider").filter(has=page.get_by_text("N params", exact=True))
        slider.first.wait_for(timeout=30_000)
        # the notebook left the explorer on GPT-3: 175B parameters
        assert slider.first.locator(".widget-readout").inner_text().strip() == "1.75e+11"
        figure = page.locator(".widget-image").first
        figure.wait_for(timeout=30_000)
        assert figure.evaluate("img => img.complete && img.naturalWidth") > 100, "the explorer's figure did not load"
        slider.first.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / "book-05a-widgets.png"))
        assert page.external == [], f"the page asked the network for {page.external}"
        assert page.js_errors == [], f"JavaScript errors: {page.js_errors}"
    finally:
        context.close()


def test_math_is_typeset_offline(browser, book_html, screenshot_dir):
    context, page = _open(browser, book_html / "notebooks" / "05c_isoflop_and_known_entropy.html")
    try:
        page.locator("mjx-container").first.wait_for(timeout=30_000)
        assert page.locator("mjx-container").count() >= 10
        page.locator("mjx-container").first.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / "book-05c-math.png"))
        # MathJax's fonts come from the book's folder: a font that failed would leave boxes
        fonts = page.evaluate("() => document.fonts.ready.then(() => [...document.fonts]"
                              ".filter(f => f.family.startsWith('MJXZERO') || f.family.startsWith('MJXTEX'))"
                              ".map(f => f.status))")
        assert fonts and "error" not in fonts, f"MathJax font status: {fonts}"
        assert page.external == [], f"the page asked the network for {page.external}"
    finally:
        context.close()
