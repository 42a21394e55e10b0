"""Python's own text: read from the running Python, or from the course's frozen snapshot.

The default corpora (``text.python_docs()`` and ``text.python_code()``) are read from files
that ship with the course, so every learner trains on the same bytes on every Python
version and operating system. The docstrings of the standard library differ from one
Python build to the next (8,544 documents on 3.10.13, 8,683 on 3.11.7, 8,357 on 3.12.1),
and every number downstream would move with them.

The snapshot was made once from CPython 3.11.7 with

    python -m course_lib.corpora build        # run under the Python named in MANIFEST.json

and is checked on every load: each file's SHA-256 against ``corpora/MANIFEST.json``, so a
missing, truncated or altered file is an error that names the file, the checksum it should
have and how to get it back, never a silently different corpus.

Files in ``course_lib/corpora/``: ``python-docs.json.xz`` and ``python-code.json.xz`` (a JSON
object ``{"documents": [...]}``, xz-compressed), ``MANIFEST.json`` (provenance and checksums)
and ``LICENSE-PSF.txt`` (the text is Python's, under the PSF License Agreement).
"""
from __future__ import annotations

import argparse
import ast
import datetime
import functools
import hashlib
import json
import lzma
import pathlib
import platform
import shutil
import sys
import sysconfig

FOLDER = pathlib.Path(__file__).resolve().parent / "corpora"
MANIFEST = "MANIFEST.json"
NAMES = ("python-docs", "python-code")
BUILD_COMMAND = "python -m course_lib.corpora build"
RESTORE_HINT = (
    "Restore the course's copy (git checkout -- course_lib/corpora, or reinstall the course), "
    f"or rebuild it with `{BUILD_COMMAND}` under the Python named in {MANIFEST}."
)

DOCUMENT_SEPARATOR = "\n\n"  # how text.Corpus joins documents
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}

__all__ = ["FOLDER", "SnapshotError", "load_documents", "running_documents", "manifest", "build", "verify"]


# ----------------------------------------------------------------------------- the running Python


def _python_version() -> str:
    return f"Python {platform.python_version()}"


def _stdlib_files() -> list[pathlib.Path]:
    """The standard library's own .py files, sorted, without tests and third-party packages."""
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in root.rglob("*.py") if not (_SKIP_DIRS & set(p.relative_to(root).parts[:-1]))]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _docstrings_in_source_order(tree: ast.AST) -> list[str]:
    """Docstrings of a module, its classes and functions, in the order they appear."""
    found = []

    def visit(node):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                found.append(doc)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _running_docs() -> tuple[str, ...]:
    from pydoc_data.topics import topics

    docs = [topics[key].strip() for key in sorted(topics)]
    for path in _stdlib_files():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a few files in some distributions are templates, not Python
        docs.extend(_docstrings_in_source_order(tree))
    return tuple(docs)


def _running_code() -> tuple[str, ...]:
    docs = []
    for path in _stdlib_files():
        try:
            docs.append(path.read_text(encoding="utf-8").strip())
        except UnicodeDecodeError:
            continue
    return tuple(doc for doc in docs if doc)


@functools.lru_cache(maxsize=None)
def running_documents(name: str) -> tuple[tuple[str, ...], str]:
    """The documents of ``name`` read from the RUNNING Python, and its version, e.g. ``"Python 3.12.1"``.

    ``"python-docs"``: the help topics (``pydoc_data.topics``, what ``help("if")`` shows), then
    every docstring of the standard library in source order, read with ``ast`` (nothing is
    imported). ``"python-code"``: the standard library's ``.py`` files, tests excluded, sorted
    by path. About 15 s the first time, then cached. Differs between Python builds.
    """
    if name not in NAMES:
        raise ValueError(f"no corpus called {name!r}; choose one of {', '.join(NAMES)}.")
    return (_running_docs() if name == "python-docs" else _running_code()), _python_version()


# ----------------------------------------------------------------------------- the snapshot


class SnapshotError(ValueError):
    """The snapshot is missing, truncated or altered."""


def _file(name: str) -> str:
    return f"{name}.json.xz"


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(folder: pathlib.Path = FOLDER) -> dict:
    """The provenance and checksums of the snapshot in ``folder`` (``MANIFEST.json`` as a dict)."""
    path = folder / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"the corpus snapshot's manifest {path} is missing. {RESTORE_HINT}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SnapshotError(f"the corpus snapshot's manifest {path} is not valid JSON ({err}). {RESTORE_HINT}") from None


def _checked_path(name: str, folder: pathlib.Path) -> tuple[pathlib.Path, dict]:
    if name not in NAMES:
        raise ValueError(f"no snapshot called {name!r}; the snapshot holds {', '.join(NAMES)}.")
    entry = manifest(folder)["files"][name]
    path = folder / entry["file"]
    if not path.is_file():
        raise SnapshotError(f"the corpus file {path} is missing (expected sha256 {entry['sha256']}). {RESTORE_HINT}")
    got = _sha256(path)
    if got != entry["sha256"]:
        raise SnapshotError(
            f"the corpus file {path} is altered or truncated: its sha256 is {got[:16]}..., expected "
            f"{entry['sha256']} ({entry['bytes']:,} bytes; it has {path.stat().st_size:,}). {RESTORE_HINT}"
        )
    return path, entry


@functools.lru_cache(maxsize=None)
def _load(name: str, folder: str) -> tuple[tuple[str, ...], str]:
    path, entry = _checked_path(name, pathlib.Path(folder))
    documents = tuple(json.loads(lzma.decompress(path.read_bytes()).decode("utf-8"))["documents"])
    return documents, entry["source"]


def load_documents(name: str, folder: pathlib.Path = FOLDER) -> tuple[tuple[str, ...], str]:
    """The documents of snapshot ``name`` and where they came from, e.g. ``"Python 3.11.7"``.

    Raises SnapshotError (a ValueError) naming the file, its expected checksum and how to
    restore it when the file is missing, truncated or altered. Cached after the first call
    (about 0.1 s for the docs, 0.4 s for the code).
    """
    return _load(name, str(pathlib.Path(folder).resolve()))


def verify(folder: pathlib.Path = FOLDER) -> list[str]:
    """Check every file of the snapshot; returns one line per file, raises SnapshotError on the first bad one."""
    lines = []
    for name in NAMES:
        path, entry = _checked_path(name, folder)
        lines.append(f"OK {path.name}: sha256 {entry['sha256'][:12]}, {entry['documents']:,} documents")
    return lines


def _write_xz(documents: tuple[str, ...], path: pathlib.Path) -> None:
    data = json.dumps({"documents": list(documents)}, ensure_ascii=False).encode("utf-8")
    path.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))


def build(out: pathlib.Path = FOLDER) -> dict:
    """Write a snapshot of the RUNNING Python's docs and stdlib source into ``out``; return the manifest.

    Takes about 30 s. The result is the same bytes only under the same Python build, so the
    course's snapshot names the one it was made with; rebuilding under another Python makes
    a different (valid, but not the course's) corpus.
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in NAMES:
        documents, source = running_documents(name)
        path = out / _file(name)
        _write_xz(documents, path)
        joined = DOCUMENT_SEPARATOR.join(documents)
        files[name] = {"file": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size,
                       "documents": len(documents), "characters": len(joined),
                       "text_sha256": hashlib.sha256(joined.encode("utf-8")).hexdigest(), "source": source}
    licence = pathlib.Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if licence.is_file():
        shutil.copyfile(licence, out / "LICENSE-PSF.txt")
    data = {
        "what": "Python's help topics and standard-library docstrings (python-docs) and the standard library's "
                ".py files without tests (python-code), as read by course_lib.text",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "built": datetime.date.today().isoformat(),
        "command": BUILD_COMMAND,
        "licence": "Python Software Foundation License Version 2 (LICENSE-PSF.txt)",
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    _load.cache_clear()
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.corpora", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="snapshot the running Python's docs and stdlib source")
    b.add_argument("--out", type=pathlib.Path, default=FOLDER, help=f"folder to write (default: {FOLDER})")
    v = sub.add_parser("verify", help="check the snapshot's checksums")
    v.add_argument("--folder", type=pathlib.Path, default=FOLDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            data = build(args.out)
            for name, entry in data["files"].items():
                print(f"wrote {args.out / entry['file']}: {entry['documents']:,} documents, "
                      f"{entry['characters']:,} characters, {entry['bytes']:,} bytes (Python {data['python']})")
        else:
            print("\n".join(verify(args.folder)))
    except SnapshotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
