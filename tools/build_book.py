"""Build the course as a static HTML book with Jupyter Book 1.x, offline.

    python tools/build_book.py                 # -> book/_build/html/index.html
    python tools/build_book.py --out /tmp/b    # -> /tmp/b/_build/html/index.html
    python tools/build_book.py --all           # rebuild every page, not only changed ones

Sphinx only reads files under the book's folder, and the chapters live in notebooks/, so
this script stages book/ and notebooks/ side by side in ``OUT/_build/src`` (copying only
what changed, so rebuilds are incremental) and runs ``jupyter-book build`` on that copy.
Notebooks are not executed: the book shows the outputs and widget state saved in them
(``tools/run_notebooks.py`` saves both). The committed files are never modified.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
SKIP = {"_build", ".ipynb_checkpoints", "__pycache__"}


def _sync(src: pathlib.Path, dst: pathlib.Path, pattern: str = "**/*") -> set[pathlib.Path]:
    """Copy the files of ``src`` matching ``pattern`` into ``dst`` when they differ; return the paths written."""
    wanted = set()
    for path in src.glob(pattern):
        rel = path.relative_to(src)
        if path.is_dir() or SKIP & set(rel.parts):
            continue
        target = dst / rel
        wanted.add(target)
        if not target.exists() or not filecmp.cmp(path, target, shallow=False):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return wanted


def stage(out: pathlib.Path) -> pathlib.Path:
    """Copy book/ and notebooks/*.ipynb into ``out/_build/src``; drop files deleted since. Returns that folder."""
    if not (BOOK / "_config.yml").exists() or not (BOOK / "_toc.yml").exists():
        raise ValueError(f"{BOOK} needs _config.yml and _toc.yml; is this a checkout of the course?")
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"no notebooks in {NOTEBOOKS}; the book has nothing to show.")
    src = out / "_build" / "src"
    kept = _sync(BOOK, src) | _sync(NOTEBOOKS, src / "notebooks", "*.ipynb")
    for path in sorted(src.rglob("*"), reverse=True):
        if path.is_file() and path not in kept:
            path.unlink()
    return src


def build(out: pathlib.Path = BOOK, rebuild_all: bool = False, quiet: bool = False) -> pathlib.Path:
    """Stage and build the book into ``out/_build/html``; return the path of its index.html.

    Raises RuntimeError with the build's last lines when ``jupyter-book build`` fails.
    """
    out = pathlib.Path(out).resolve()
    src = stage(out)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(src),
           "--path-output", str(out), "--builder", "html", "--keep-going"]
    if rebuild_all:
        cmd.append("--all")
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    result = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=quiet)
    if result.returncode != 0:
        tail = "\n".join(((result.stdout or "") + (result.stderr or "")).splitlines()[-30:])
        raise RuntimeError(f"jupyter-book build failed (exit {result.returncode}):\n{tail}")
    index = out / "_build" / "html" / "index.html"
    if not index.exists():
        raise RuntimeError(f"jupyter-book build finished but {index} is missing")
    return index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=BOOK,
                        help="folder to build into; the book lands in OUT/_build/html (default: book/)")
    parser.add_argument("--all", action="store_true", help="rebuild every page, not only changed ones")
    parser.add_argument("--quiet", action="store_true", help="print only the result (errors in full)")
    args = parser.parse_args(argv)
    try:
        index = build(args.out, rebuild_all=args.all, quiet=args.quiet)
    except (ValueError, RuntimeError) as err:
        print(err, file=sys.stderr)
        return 1
    print(f"the book is at {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
