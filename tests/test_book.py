"""The static HTML book: built from the committed notebooks, in order, offline.

Builds the book once into a temporary folder with ``tools/build_book.py`` (the README's
command; about 10 s, notebooks are not executed) and checks the pages: one per notebook,
chained in the order of the table of contents, math handed to the vendored MathJax,
figures present, widget state embedded with the vendored widget manager, and no page that
loads a script, style sheet, font or image from the network.
"""
from __future__ import annotations

import importlib.util
import json
import pathlib
import re
from html.parser import HTMLParser

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
URL_IN_SCRIPT = re.compile(r"https?://[^\s\"']+")
URL_IN_CSS = re.compile(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)|@import\s+(?:url\()?\s*['\"]?(?:https?:)?//[^;]*")


def _load_build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory) -> pathlib.Path:
    pytest.importorskip("jupyter_book", reason="pip install -r requirements.txt (jupyter-book>=1,<2)")
    out = tmp_path_factory.mktemp("book")
    index = _load_build_book().build(out, quiet=True)
    return index.parent


class Page(HTMLParser):
    """The parts of one HTML page these tests read: tags with attributes, inline scripts and styles."""

    def __init__(self, path: pathlib.Path):
        super().__init__(convert_charrefs=True)
        self.path = path
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []  # (attributes, body) of <script> without src
        self.styles: list[str] = []
        self._open: tuple[str, dict] | None = None
        self._buffer: list[str] = []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v or "") for k, v in attrs}
        self.tags.append((tag, attrs))
        if (tag == "script" and "src" not in attrs) or tag == "style":
            self._open, self._buffer = (tag, attrs), []

    def handle_data(self, data):
        if self._open:
            self._buffer.append(data)

    def handle_endtag(self, tag):
        if self._open and tag == self._open[0]:
            body = "".join(self._buffer)
            if tag == "script":
                self.scripts.append((self._open[1], body))
            else:
                self.styles.append(body)
            self._open = None

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def _page(html_dir: pathlib.Path, notebook: pathlib.Path) -> Page:
    return Page(html_dir / "notebooks" / f"{notebook.stem}.html")


def _markdown(notebook: pathlib.Path) -> str:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def _widget_state(notebook: pathlib.Path) -> dict:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _has_png(notebook: pathlib.Path) -> bool:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return any("image/png" in out.get("data", {}) for c in nb["cells"] if c["cell_type"] == "code"
               for out in c.get("outputs", []))


def test_there_are_notebooks_to_build():
    assert NOTEBOOKS, "no notebooks in notebooks/"


def test_every_notebook_has_a_page(html_dir):
    missing = [nb.name for nb in NOTEBOOKS if not (html_dir / "notebooks" / f"{nb.stem}.html").exists()]
    assert not missing, f"no page for {missing}; book/_toc.yml includes notebooks/* (check the build log)"
    assert (html_dir / "index.html").exists() and (html_dir / "intro.html").exists()


def test_pages_follow_the_table_of_contents_in_course_order(html_dir):
    """Following each page's "next" link from the front page visits every chapter, 00 first."""
    order, page = [], html_dir / "intro.html"
    for _ in range(len(NOTEBOOKS) + 1):
        nexts = Page(page).find("link", rel="next")
        if not nexts:
            break
        page = (page.parent / nexts[0]["href"]).resolve()
        order.append(page.stem)
    assert order == [nb.stem for nb in NOTEBOOKS]
    titles = [a.get("href", "") for a in Page(html_dir / "intro.html").find("a", **{"class": "reference internal"})]
    listed = [pathlib.Path(h).stem for h in titles if h.startswith("notebooks/")]
    assert listed[:len(NOTEBOOKS)] == [nb.stem for nb in NOTEBOOKS], "the front page's contents are out of order"


@pytest.mark.parametrize("notebook", [nb for nb in NOTEBOOKS if "$" in _markdown(nb)], ids=lambda p: p.stem)
def test_math_is_handed_to_the_vendored_mathjax(html_dir, notebook):
    page = _page(html_dir, notebook)
    math = [a for t, a in page.tags if t in ("span", "div") and "math" in a.get("class", "").split()]
    assert math, f"{notebook.name} has $...$ in its markdown but its page has no math"
    sources = [a["src"] for a in page.find("script") if "/mathjax/" in a.get("src", "")]
    assert sources and all(s.split("?")[0].endswith("_static/mathjax/tex-chtml-full.js") for s in sources), sources
    assert (html_dir / "_static" / "mathjax" / "tex-chtml-full.js").exists()
    assert list((html_dir / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))


@pytest.mark.parametrize("notebook", [nb for nb in NOTEBOOKS if _has_png(nb)], ids=lambda p: p.stem)
def test_figures_are_on_the_page(html_dir, notebook):
    page = _page(html_dir, notebook)
    images = [a["src"] for a in page.find("img") if a.get("src", "").endswith(".png")]
    assert images, f"{notebook.name} has figures but its page shows none"
    missing = [src for src in images if not (page.path.parent / src).exists()]
    assert not missing, f"{notebook.name}: images missing from the build: {missing[:3]}"


@pytest.mark.parametrize("notebook", [nb for nb in NOTEBOOKS if _widget_state(nb)], ids=lambda p: p.stem)
def test_widget_state_is_embedded(html_dir, notebook):
    page = _page(html_dir, notebook)
    states = [json.loads(body) for attrs, body in page.scripts if attrs.get("type") == WIDGET_STATE]
    assert len(states) == 1, f"{notebook.name}: expected one widget-state script, found {len(states)}"
    assert set(states[0]["state"]) == set(_widget_state(notebook)), "the page's widget models differ from the notebook's"
    views = [json.loads(body)["model_id"] for attrs, body in page.scripts if attrs.get("type") == WIDGET_VIEW]
    assert views and set(views) <= set(states[0]["state"]), f"{notebook.name}: widget views without their models"
    managers = [a["src"] for a in page.find("script") if "widgets/embed.js" in a.get("src", "")]
    assert len(managers) == 1, f"{notebook.name}: the widget manager is loaded {len(managers)} times"
    assert (html_dir / "_static" / "widgets" / "embed.js").exists()


def test_no_page_loads_anything_from_the_network(html_dir):
    """No script, style sheet, font, image or frame with an http(s):// or //host address, on any page."""
    offenders = []
    for path in sorted(html_dir.rglob("*.html")):
        page = Page(path)
        for tag, attrs in page.tags:
            if tag == "link" and attrs.get("rel", "") not in ("", "index", "search", "next", "prev", "canonical"):
                urls = [attrs.get("href", "")]
            elif tag in ("script", "img", "iframe", "source", "audio", "video", "embed"):
                urls = [attrs.get("src", "")]
            else:
                continue
            offenders += [f"{path.relative_to(html_dir)}: <{tag}> {u}" for u in urls if REMOTE.match(u)]
        for attrs, body in page.scripts:
            if attrs.get("type", "text/javascript") in ("text/javascript", "module"):
                found = URL_IN_SCRIPT.findall(body)
                offenders += [f"{path.relative_to(html_dir)}: inline script refers to {u}" for u in found]
        for body in page.styles:
            offenders += [f"{path.relative_to(html_dir)}: <style> {m[:120]}" for m in URL_IN_CSS.findall(body)]
    for css in sorted((html_dir / "_static").rglob("*.css")):
        text = css.read_text(encoding="utf-8", errors="replace")
        found = URL_IN_CSS.findall(text)
        offenders += [f"{css.relative_to(html_dir)}: {m[:120]}" for m in found]
    assert not offenders, "the book refers to the network:\n" + "\n".join(offenders[:20])


def test_staging_drops_deleted_files(tmp_path, monkeypatch):
    """A chapter removed from notebooks/ disappears from the staged sources on the next build."""
    build_book = _load_build_book()
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb"):
        (notebooks / name).write_text("{}")
    monkeypatch.setattr(build_book, "NOTEBOOKS", notebooks)
    src = build_book.stage(tmp_path / "out")
    assert sorted(p.name for p in (src / "notebooks").iterdir()) == ["01_a.ipynb", "02_b.ipynb"]
    assert (src / "_config.yml").exists() and (src / "_toc.yml").exists()
    (notebooks / "02_b.ipynb").unlink()
    src = build_book.stage(tmp_path / "out")
    assert sorted(p.name for p in (src / "notebooks").iterdir()) == ["01_a.ipynb"]
    (notebooks / "01_a.ipynb").unlink()
    with pytest.raises(ValueError, match="no notebooks"):
        build_book.stage(tmp_path / "out")
