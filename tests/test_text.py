"""course_lib.text: offline corpora, user files, splits and batches."""
import pytest
import torch

from course_lib import text


def test_python_docs_is_real_english_and_stable():
    corpus = text.python_docs()
    assert corpus.n_chars > 1_000_000, "the docs corpus should hold over a million characters"
    assert " the " in corpus.text and "function" in corpus.text
    again = text.python_docs()
    assert again.sha256 == corpus.sha256, "the same Python must give the same text"
    line = corpus.fingerprint()
    assert corpus.sha256[:12] in line and f"{corpus.n_chars:,}" in line and f"{corpus.n_bytes:,}" in line


def test_python_code_is_python_source():
    corpus = text.python_code(max_chars=200_000)
    assert corpus.n_chars <= 200_000
    assert "def " in corpus.text and "import " in corpus.text


def test_head_keeps_a_prefix():
    corpus = text.python_docs()
    head = corpus.head(5000)
    assert corpus.text.startswith(head.text)
    assert head.n_chars <= 5000


def test_load_text_file_and_folder(tmp_path):
    (tmp_path / "a.txt").write_text("hello world", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("second document é", encoding="utf-8")
    (tmp_path / "image.bin").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / ".hidden").write_text("secret", encoding="utf-8")
    one = text.load_text(tmp_path / "a.txt")
    assert one.text == "hello world"
    folder = text.load_text(tmp_path)
    assert folder.documents == ("hello world", "second document é")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.txt", "no such file"),
        (lambda p: (p / "b.bin").write_bytes(b"ab\x00cd") and p / "b.bin", "binary"),
        (lambda p: (p / "l.txt").write_bytes("caf\xe9".encode("latin-1")) and p / "l.txt", "not valid UTF-8"),
        (lambda p: (p / "e.txt").write_text("  \n ") and p / "e.txt", "empty"),
        (lambda p: (p / "d").mkdir() or p / "d", "found no UTF-8 text"),
    ],
)
def test_load_text_bad_input_says_what_to_do(tmp_path, make, message):
    with pytest.raises(ValueError, match=message):
        text.load_text(make(tmp_path))


def test_split_is_by_position():
    train, val = text.train_val_split("abcdefghij", 0.2)
    assert (train, val) == ("abcdefgh", "ij")
    with pytest.raises(ValueError, match="between 0 and 1"):
        text.train_val_split("abc", 1.5)
    with pytest.raises(ValueError, match="empty"):
        text.train_val_split("ab", 0.1)


def test_random_windows_are_shifted_pairs_and_reproducible():
    data = torch.arange(1000)
    x, y = text.random_windows(data, 4, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16) and x.dtype == torch.int64
    assert torch.equal(y, x + 1), "targets are the inputs shifted by one position"
    x2, _ = text.random_windows(data, 4, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)


@pytest.mark.parametrize(
    "data, message",
    [
        (torch.arange(5), "context_length \\+ 1"),
        (torch.zeros(100), "integer"),
        (torch.zeros(2, 50, dtype=torch.long), "1-D"),
    ],
)
def test_random_windows_bad_input(data, message):
    with pytest.raises(ValueError, match=message):
        text.random_windows(data, 2, 8)
