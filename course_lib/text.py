"""Real text, offline: corpora from the running Python, user files, splits and batches.

A language model needs text. Downloading a data set would make the course depend on
the network, so the course reads text every Python installation already carries:

* ``python_docs()``: English prose, the documentation of the language itself
  (``pydoc_data.topics``, the pages that ``help("if")`` shows) followed by every
  docstring of the standard library, read with ``ast`` so nothing is imported.
* ``python_code()``: Python source, the standard library's own ``.py`` files.

The same Python version gives the same text, byte for byte; ``Corpus.fingerprint()``
prints a hash so two learners can check they train on identical data.
``load_text(path)`` reads a user's own UTF-8 file or folder instead.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import pathlib
import platform
import sysconfig
from dataclasses import dataclass

import torch

__all__ = [
    "Corpus",
    "python_docs",
    "python_code",
    "load_text",
    "train_val_split",
    "random_windows",
]

DOCUMENT_SEPARATOR = "\n\n"
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


@dataclass(frozen=True, repr=False)
class Corpus:
    """A named body of text made of documents.

    Attributes:
        name: a short label, e.g. ``"python-docs"``.
        documents: the documents, in a fixed order.
        source: where the text came from (a Python version or a path).
    """

    name: str
    documents: tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        if not any(doc.strip() for doc in self.documents):
            raise ValueError(
                f"corpus {self.name!r} is empty: it has no non-whitespace text. "
                "Point load_text() at a file or folder that contains UTF-8 text."
            )

    @functools.cached_property
    def text(self) -> str:
        """All documents joined by a blank line (str)."""
        return DOCUMENT_SEPARATOR.join(self.documents)

    @property
    def n_chars(self) -> int:
        """Length of ``text`` in Unicode characters."""
        return len(self.text)

    @property
    def n_bytes(self) -> int:
        """Length of ``text`` in UTF-8 bytes."""
        return len(self.text.encode("utf-8"))

    @property
    def sha256(self) -> str:
        """SHA-256 of the UTF-8 text, as 64 hex digits."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def fingerprint(self) -> str:
        """One line that identifies this exact text: name, source, hash prefix, sizes."""
        return (
            f"{self.name} ({self.source}): sha256 {self.sha256[:12]}, "
            f"{len(self.documents):,} documents, {self.n_chars:,} characters, {self.n_bytes:,} bytes"
        )

    def __repr__(self) -> str:
        return f"Corpus({self.fingerprint()})"

    def head(self, n_chars: int) -> "Corpus":
        """The first ``n_chars`` characters as a new corpus (whole documents, the last one cut)."""
        if n_chars <= 0:
            raise ValueError(f"n_chars must be positive, got {n_chars}")
        docs, total = [], 0
        for doc in self.documents:
            room = n_chars - total
            if room <= 0:
                break
            docs.append(doc[:room])
            total += len(docs[-1]) + len(DOCUMENT_SEPARATOR)
        return Corpus(f"{self.name}[:{n_chars}]", tuple(docs), self.source)

    def split(self, val_fraction: float = 0.1) -> tuple[str, str]:
        """Split ``text`` into (train, validation) strings; validation is the last fraction."""
        return train_val_split(self.text, val_fraction)


def _python_version() -> str:
    return f"Python {platform.python_version()}"


def _stdlib_files() -> list[pathlib.Path]:
    """The standard library's own .py files, sorted, without tests and third-party packages."""
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = [
        p
        for p in root.rglob("*.py")
        if not (_SKIP_DIRS & set(p.relative_to(root).parts[:-1]))
    ]
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


@functools.lru_cache(maxsize=None)
def _python_docs_documents() -> tuple[str, ...]:
    from pydoc_data.topics import topics

    docs = [topics[key].strip() for key in sorted(topics)]
    for path in _stdlib_files():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a few files in some distributions are templates, not Python
        docs.extend(_docstrings_in_source_order(tree))
    return tuple(docs)


@functools.lru_cache(maxsize=None)
def _python_code_documents() -> tuple[str, ...]:
    docs = []
    for path in _stdlib_files():
        try:
            docs.append(path.read_text(encoding="utf-8").strip())
        except UnicodeDecodeError:
            continue
    return tuple(doc for doc in docs if doc)


def python_docs(max_chars: int | None = None) -> Corpus:
    """English prose from the running Python: its help topics, then every stdlib docstring.

    About 2.2 million characters on Python 3.11. ``max_chars`` keeps only the first
    characters (useful for fast experiments). Built in about 2 s, then cached.
    """
    corpus = Corpus("python-docs", _python_docs_documents(), _python_version())
    return corpus.head(max_chars) if max_chars is not None else corpus


def python_code(max_chars: int | None = None) -> Corpus:
    """Python source code: the standard library's .py files (tests excluded), sorted by path.

    About 12 million characters on Python 3.11; ``max_chars`` keeps only the first.
    """
    corpus = Corpus("python-code", _python_code_documents(), _python_version())
    return corpus.head(max_chars) if max_chars is not None else corpus


def _read_utf8(path: pathlib.Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ValueError(f"{path} looks like a binary file (it contains NUL bytes); give a UTF-8 text file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not valid UTF-8 (byte {err.start}: {data[err.start:err.start + 4]!r}). "
            "Convert it first, for example: iconv -f latin1 -t utf-8 in.txt > out.txt"
        ) from None


def load_text(path: str | pathlib.Path, name: str | None = None) -> Corpus:
    """Load a UTF-8 text file, or every text file under a folder, as a Corpus.

    A folder is read recursively in sorted path order, one document per file; hidden
    files and folders are skipped, and so are files that are binary or not UTF-8 (a
    folder of only such files is an error). Raises ``ValueError`` with what to do for a
    missing path, a binary or non-UTF-8 file, or text that is empty.
    """
    path = pathlib.Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"no such file or folder: {path}. Check the path (it is read relative to {pathlib.Path.cwd()}).")
    if path.is_file():
        return Corpus(name or path.stem, (_read_utf8(path),), str(path))
    documents, skipped = [], []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in file.relative_to(path).parts):
            continue
        try:
            documents.append(_read_utf8(file))
        except ValueError:
            skipped.append(file.name)
    if not any(doc.strip() for doc in documents):
        why = f" ({len(skipped)} binary or non-UTF-8 files skipped, e.g. {skipped[:3]})" if skipped else ""
        raise ValueError(f"found no UTF-8 text under {path}{why}. Point load_text() at text files.")
    return Corpus(name or path.name, tuple(documents), str(path))


def train_val_split(data, val_fraction: float = 0.1):
    """Split a sequence (str, list or 1-D tensor) into (train, validation) by position.

    The validation part is the last ``val_fraction`` of the data, so it is text the model
    never saw, not a shuffle of overlapping windows.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction}")
    n_val = int(len(data) * val_fraction)
    if n_val == 0 or n_val == len(data):
        raise ValueError(
            f"cannot split {len(data)} items with val_fraction={val_fraction}: one side would be empty. "
            "Use more data or a different fraction."
        )
    return data[: len(data) - n_val], data[len(data) - n_val :]


def random_windows(
    data: torch.Tensor,
    batch_size: int,
    context_length: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a batch of random (input, target) windows from a 1-D tensor of token ids.

    Args:
        data: (N,) integer token ids.
        batch_size: B, the number of windows.
        context_length: T, the tokens per window.
        generator: a seeded ``torch.Generator`` for reproducible batches.

    Returns:
        x: (B, T) int64, ``data[i : i + T]`` for random starts ``i``.
        y: (B, T) int64, the same windows shifted by one: the next token at each position.
    """
    if not isinstance(data, torch.Tensor) or data.dim() != 1:
        raise ValueError("data must be a 1-D tensor of token ids, e.g. torch.tensor(tokenizer.encode(text)).")
    if data.is_floating_point():
        raise ValueError(f"data holds token ids and must be an integer tensor, got {data.dtype}.")
    if batch_size < 1 or context_length < 1:
        raise ValueError(f"batch_size and context_length must be >= 1, got {batch_size} and {context_length}.")
    if len(data) < context_length + 1:
        raise ValueError(
            f"data has {len(data)} tokens but a window needs context_length + 1 = {context_length + 1}. "
            "Use more text or a shorter context."
        )
    starts = torch.randint(len(data) - context_length, (batch_size,), generator=generator)
    offsets = torch.arange(context_length)
    x = data[starts[:, None] + offsets].long()  # (B, T)
    y = data[starts[:, None] + offsets + 1].long()  # (B, T)
    return x, y
