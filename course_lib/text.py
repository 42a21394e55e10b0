"""Real text, offline: the course's corpora, user files, splits and batches.

A language model needs text. Downloading a data set would make the course depend on
the network, so the course uses text that comes with Python itself:

* ``python_docs()``: English prose, the documentation of the language itself
  (``pydoc_data.topics``, the pages that ``help("if")`` shows) followed by every
  docstring of the standard library.
* ``python_code()``: Python source, the standard library's own ``.py`` files.

By default both are read from a frozen snapshot that ships with the course (made once
from CPython 3.11.7, checked by SHA-256 on load; see ``course_lib.corpora``), so every
learner gets the same bytes on any Python and OS. ``source="running"`` reads the running
Python's own text instead, and ``load_text(path)`` reads a user's own UTF-8 file or folder.
``Corpus.fingerprint()`` prints a hash so two learners can check they train on identical data.
"""
from __future__ import annotations

import functools
import hashlib
import pathlib
from dataclasses import dataclass
from typing import Sequence

import torch

from . import corpora
from .validation import check_fraction

__all__ = [
    "Corpus",
    "python_docs",
    "python_code",
    "load_text",
    "train_val_split",
    "held_out_documents",
    "random_windows",
]

DOCUMENT_SEPARATOR = corpora.DOCUMENT_SEPARATOR


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


SOURCES = ("snapshot", "running")


def _documents(name: str, source: str) -> tuple[tuple[str, ...], str]:
    if source == "snapshot":
        return corpora.load_documents(name)
    if source == "running":
        return corpora.running_documents(name)
    raise ValueError(f"source must be 'snapshot' (the course's frozen text, the same everywhere) or 'running' "
                     f"(this Python's own text), got {source!r}.")


def python_docs(max_chars: int | None = None, source: str = "snapshot") -> Corpus:
    """English prose: Python's help topics, then every standard-library docstring.

    ``source="snapshot"`` (the default) reads the course's frozen copy, made from CPython
    3.11.7: 8,683 documents, 2,269,965 characters, identical on every Python and OS.
    ``source="running"`` reads the running Python's own text instead (it differs between
    Python builds). ``max_chars`` keeps only the first characters (for fast experiments).
    """
    documents, origin = _documents("python-docs", source)
    corpus = Corpus("python-docs", documents, origin)
    return corpus.head(max_chars) if max_chars is not None else corpus


def python_code(max_chars: int | None = None, source: str = "snapshot") -> Corpus:
    """Python source code: the standard library's .py files (tests excluded), sorted by path.

    About 12 million characters (731 files) in the snapshot; ``source`` and ``max_chars``
    as in ``python_docs``.
    """
    documents, origin = _documents("python-code", source)
    corpus = Corpus("python-code", documents, origin)
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


def held_out_documents(documents: Sequence[str], fraction: float = 0.05) -> tuple[list[str], list[str]]:
    """(train, held-out): the held-out part is the last whole documents, about ``fraction`` of the characters.

    The rule the course model's build uses for its validation text (``val_fraction = 0.05``
    for the shipped model), so evaluating on the held-out part never scores text the model
    trained on. At least one document stays on each side; ``fraction`` is in (0, 1).
    """
    if isinstance(documents, str):
        raise ValueError("documents must be a list of str (e.g. Corpus.documents), not one str.")
    docs = list(documents)
    if len(docs) < 2:
        raise ValueError("need at least two documents: one to train on, one to hold out.")
    target = check_fraction(fraction, "fraction") * sum(len(d) for d in docs)
    n_held, held = 0, 0
    while n_held < len(docs) - 1 and (n_held == 0 or held < target):
        n_held += 1
        held += len(docs[-n_held])
    return docs[:-n_held], docs[-n_held:]


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
