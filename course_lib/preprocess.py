"""Preparing pre-training text as LLM pipelines do: normalise, deduplicate, keep every character.

A generative model is trained to *write* the text it reads, so cleaning must not take
out what the model will have to produce: punctuation, stop words ("the", "of", "is"),
capital letters and line breaks all stay. What real pipelines remove is whole documents
or spans that should not be learned at all:

* ``normalize``: one Unicode form (NFC) and tidy whitespace, so that the same text
  is always the same bytes;
* ``deduplicate``: exact duplicates (by SHA-256 of the document), which would
  otherwise be memorised and waste compute;
* quality and language filtering and the removal of personal data (not done here:
  the course's corpus is the Python documentation, which has none of these problems).

``composition`` measures how much of a text the seeds' advice ("remove punctuation",
"remove stop words") would delete, and ``strip_punctuation_and_stop_words`` applies that
advice so the notebook can show what a model trained on the result would write.

``bpe_vocab_sweep`` trains byte-level BPE tokenizers at several vocabulary sizes once;
``bpe_report`` is the text behind chapter 04a's vocabulary-size slider
(``course_lib.labs.ch04_training.bpe_widget``).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "STOP_WORDS",
    "normalize",
    "doc_hash",
    "DedupResult",
    "deduplicate",
    "word_tokens",
    "Composition",
    "composition",
    "strip_punctuation_and_stop_words",
    "token_strings",
    "BPEPoint",
    "BPESweep",
    "bpe_vocab_sweep",
    "bpe_report",
]

# English function words: the kind of list classic retrieval systems drop ("stop words").
# Written for the course; about 120 of the most frequent closed-class English words.
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over own
same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up very was we were what when where which while who whom
why will with would you your yours yourself yourselves
""".split())

_WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]")
_PUNCT = re.compile(r"[^\w\s]")
_TRAILING_SPACE = re.compile(r"[ \t\f\v]+$", re.MULTILINE)
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
_FORMS = ("NFC", "NFD", "NFKC", "NFKD")


# ----------------------------------------------------------------------------- normalisation


def normalize(text: str, form: str = "NFC") -> str:
    """Light normalisation of one document; the words, punctuation and indentation stay.

    1. Unicode normal form ``form`` (NFC by default: "e" + combining accent becomes the
       single character "é", so equal-looking text has equal bytes).
    2. Line endings ``\\r\\n`` and ``\\r`` become ``\\n``.
    3. Spaces and tabs at the end of a line are removed; indentation is kept (it is
       meaningful in code examples).
    4. Three or more line breaks become two (at most one blank line); the document is
       stripped of leading and trailing whitespace.
    """
    if not isinstance(text, str):
        raise ValueError(f"normalize needs a str, got {type(text).__name__}; decode bytes with .decode('utf-8') first.")
    if form not in _FORMS:
        raise ValueError(f"form must be one of {_FORMS}, got {form!r}. NFC is what most pipelines use.")
    text = unicodedata.normalize(form, text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING_SPACE.sub("", text)
    text = _MANY_BLANK_LINES.sub("\n\n", text)
    return text.strip()


# ----------------------------------------------------------------------------- deduplication


def doc_hash(doc: str) -> str:
    """SHA-256 of the UTF-8 bytes of ``doc``, as 64 hex digits: equal hashes mean equal documents."""
    if not isinstance(doc, str):
        raise ValueError(f"doc_hash needs a str, got {type(doc).__name__}.")
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DedupResult:
    """The outcome of ``deduplicate``.

    Attributes:
        kept: the documents left, first occurrences in their original order.
        removed: indices (into the input) of the documents dropped as copies.
        copies: for every document that occurs more than once, (count, document),
            most frequent first.
        n_chars_before, n_chars_after: total characters of the documents before and after.
    """

    kept: tuple[str, ...]
    removed: tuple[int, ...]
    copies: tuple[tuple[int, str], ...]
    n_chars_before: int
    n_chars_after: int

    @property
    def n_before(self) -> int:
        """Number of input documents."""
        return len(self.kept) + len(self.removed)

    @property
    def n_removed(self) -> int:
        """Number of documents dropped."""
        return len(self.removed)

    @property
    def removed_char_share(self) -> float:
        """Share of the characters that were in dropped copies (0 to 1)."""
        return 1.0 - self.n_chars_after / self.n_chars_before if self.n_chars_before else 0.0

    def summary(self) -> str:
        """A few lines: documents and characters before and after."""
        return (
            f"documents   {self.n_before:>10,d} -> {len(self.kept):>10,d}  ({self.n_removed:,d} copies removed)\n"
            f"characters  {self.n_chars_before:>10,d} -> {self.n_chars_after:>10,d}  "
            f"({100 * self.removed_char_share:.2f}% removed)"
        )


def deduplicate(docs: Iterable[str], normalize_first: bool = False) -> DedupResult:
    """Drop exact duplicate documents, keeping the first occurrence of each.

    Two documents are duplicates when their SHA-256 hashes (``doc_hash``) are equal.
    With ``normalize_first=True`` each document is passed through ``normalize`` before
    hashing, so copies that differ only in trailing spaces or Unicode form are caught too;
    the kept documents are then the normalised ones. (Near-duplicates, say a sentence
    changed, need fuzzy methods such as MinHash; this function does not find them.)
    """
    if isinstance(docs, str):
        raise ValueError("deduplicate needs a list of documents, not one string; e.g. corpus.documents.")
    docs = [normalize(d) if normalize_first else d for d in docs]
    for i, d in enumerate(docs):
        if not isinstance(d, str):
            raise ValueError(f"document {i} is a {type(d).__name__}, not a str.")
    seen: dict[str, int] = {}
    counts: Counter = Counter()
    kept, removed = [], []
    for i, d in enumerate(docs):
        h = doc_hash(d)
        counts[h] += 1
        if h in seen:
            removed.append(i)
        else:
            seen[h] = i
            kept.append(d)
    repeated = sorted((h for h, n in counts.items() if n > 1), key=lambda h: (-counts[h], seen[h]))
    copies = tuple((counts[h], docs[seen[h]]) for h in repeated)
    return DedupResult(
        kept=tuple(kept),
        removed=tuple(removed),
        copies=copies,
        n_chars_before=sum(len(d) for d in docs),
        n_chars_after=sum(len(d) for d in kept),
    )


# ----------------------------------------------------------------------------- what "cleaning" would delete


def word_tokens(text: str) -> list[str]:
    """Split text the way the seeds describe tokenization: words and punctuation marks.

    A word is a run of letters, digits or underscores; every other non-space character
    is a token of its own. ``"Return x, or None."`` -> ``['Return', 'x', ',', 'or', 'None', '.']``.
    """
    if not isinstance(text, str):
        raise ValueError(f"word_tokens needs a str, got {type(text).__name__}.")
    return _WORD_OR_PUNCT.findall(text)


@dataclass(frozen=True)
class Composition:
    """How much of a text is punctuation and stop words, in tokens and in bytes.

    Tokens are ``word_tokens``; punctuation is any character that is neither a letter,
    digit, underscore nor whitespace; stop words are the words in ``STOP_WORDS``
    (compared in lower case). Bytes are UTF-8 bytes.
    """

    n_tokens: int
    punctuation_tokens: int
    stop_word_tokens: int
    n_bytes: int
    punctuation_bytes: int
    stop_word_bytes: int
    whitespace_bytes: int

    @property
    def punctuation_token_share(self) -> float:
        return self.punctuation_tokens / self.n_tokens

    @property
    def stop_word_token_share(self) -> float:
        return self.stop_word_tokens / self.n_tokens

    @property
    def removed_token_share(self) -> float:
        """Share of the tokens that removing punctuation and stop words deletes."""
        return (self.punctuation_tokens + self.stop_word_tokens) / self.n_tokens

    @property
    def removed_byte_share(self) -> float:
        """Share of the non-whitespace bytes that removing punctuation and stop words deletes."""
        return (self.punctuation_bytes + self.stop_word_bytes) / (self.n_bytes - self.whitespace_bytes)

    def summary(self) -> str:
        """A small table of the shares, in percent."""
        return (
            f"                   tokens    bytes (non-space)\n"
            f"punctuation       {100 * self.punctuation_token_share:6.1f}%   "
            f"{100 * self.punctuation_bytes / (self.n_bytes - self.whitespace_bytes):6.1f}%\n"
            f"stop words        {100 * self.stop_word_token_share:6.1f}%   "
            f"{100 * self.stop_word_bytes / (self.n_bytes - self.whitespace_bytes):6.1f}%\n"
            f"both together     {100 * self.removed_token_share:6.1f}%   {100 * self.removed_byte_share:6.1f}%"
        )


def composition(text: str) -> Composition:
    """Count the tokens and bytes of ``text`` that are punctuation and stop words."""
    tokens = word_tokens(text)
    if not tokens:
        raise ValueError("composition needs text with at least one non-space character.")
    punct = [t for t in tokens if _PUNCT.fullmatch(t)]
    stop = [t for t in tokens if t.lower() in STOP_WORDS]
    return Composition(
        n_tokens=len(tokens),
        punctuation_tokens=len(punct),
        stop_word_tokens=len(stop),
        n_bytes=len(text.encode("utf-8")),
        punctuation_bytes=sum(len(t.encode("utf-8")) for t in punct),
        stop_word_bytes=sum(len(t) for t in stop),  # stop words are ASCII
        whitespace_bytes=sum(len(ch.encode("utf-8")) for ch in text if ch.isspace()),
    )


def strip_punctuation_and_stop_words(text: str) -> str:
    """Apply the seeds' cleaning advice: drop punctuation and stop words, keep the other words.

    The remaining words are joined by single spaces; line breaks are kept (one per line
    that still has words). This is what the course argues *against* for a generative model.
    """
    if not isinstance(text, str):
        raise ValueError(f"strip_punctuation_and_stop_words needs a str, got {type(text).__name__}.")
    lines = []
    for line in text.split("\n"):
        words = [t for t in word_tokens(line) if not _PUNCT.fullmatch(t) and t.lower() not in STOP_WORDS]
        if words:
            lines.append(" ".join(words))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- BPE vocabulary sweep


def token_strings(tokenizer, text: str) -> list[str]:
    """The pieces of ``text`` that each token of ``tokenizer.encode(text)`` stands for.

    Each token is decoded on its own, so a multi-byte character split across tokens
    shows up as U+FFFD pieces; the pieces of ASCII text join back to the text.
    """
    return [tokenizer.decode([i]) for i in tokenizer.encode(text)]


@dataclass(frozen=True)
class BPEPoint:
    """One tokenizer of a sweep, measured.

    Attributes:
        vocab_size: tokens in the vocabulary (256 bytes + <|endoftext|> + merges).
        bytes_per_token: UTF-8 bytes per token on the evaluation text.
        eval_tokens: tokens of the evaluation text.
        sample_tokens: the pieces of the sample sentence (``token_strings``).
    """

    vocab_size: int
    bytes_per_token: float
    eval_tokens: int
    sample_tokens: tuple[str, ...]


@dataclass(frozen=True)
class BPESweep:
    """Byte-level BPE tokenizers trained once at several vocabulary sizes, measured."""

    points: tuple[BPEPoint, ...]
    eval_bytes: int
    sample: str

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return tuple(p.vocab_size for p in self.points)

    def point(self, vocab_size: int) -> BPEPoint:
        """The point whose vocabulary size is nearest to ``vocab_size``."""
        return min(self.points, key=lambda p: abs(p.vocab_size - vocab_size))


def bpe_vocab_sweep(train_text: str, eval_text: str, sample: str,
                    vocab_sizes: Sequence[int] = (257, 512, 1024, 2048, 4096, 8192)) -> BPESweep:
    """Train ``course_lib.tokenizer.train_bpe`` at each vocabulary size and measure it.

    Args:
        train_text: text to learn the merges from (about 1 M characters trains each size
            in well under a second).
        eval_text: held-out text on which bytes per token and sequence length are measured.
        sample: a short sentence whose tokens the slider shows.
        vocab_sizes: sizes to train, each at least 257 (257 = bytes only, no merges).
    """
    from .tokenizer import train_bpe

    sizes = sorted(set(int(v) for v in vocab_sizes))
    if not sizes or sizes[0] < 257:
        raise ValueError(f"vocab_sizes must be non-empty and each at least 257 (256 bytes + <|endoftext|>), got {vocab_sizes}.")
    if not eval_text or not sample:
        raise ValueError("eval_text and sample must be non-empty strings.")
    points = []
    for v in sizes:
        tok = train_bpe(train_text, v)
        n = len(tok.encode(eval_text))
        points.append(BPEPoint(v, len(eval_text.encode("utf-8")) / n, n, tuple(token_strings(tok, sample))))
    return BPESweep(tuple(points), len(eval_text.encode("utf-8")), sample)


def bpe_report(sweep: BPESweep, vocab_size: int) -> str:
    """The text the slider shows for ``vocab_size`` (nearest trained size): compression and tokens.

    Lines: vocabulary size, bytes per token and the evaluation text's length in tokens
    (relative to raw bytes), then the sample sentence split into its tokens with ``|``.
    """
    p = sweep.point(vocab_size)
    pieces = "|".join(t.replace("\n", "\\n") for t in p.sample_tokens)
    return (
        f"vocabulary size   {p.vocab_size:>7,d}\n"
        f"bytes per token   {p.bytes_per_token:7.2f}\n"
        f"sequence length   {p.eval_tokens:>7,d} tokens for {sweep.eval_bytes:,d} bytes "
        f"({p.eval_tokens / sweep.eval_bytes:.0%} of the byte length)\n"
        f"sample, {len(p.sample_tokens)} tokens:\n{pieces}"
    )
