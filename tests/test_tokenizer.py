"""course_lib.tokenizer: bytes, characters and byte-level BPE."""
import pytest
import torch
from transformers import AutoTokenizer

from course_lib import text
from course_lib.tokenizer import ByteTokenizer, CharTokenizer, bytes_per_token, encode_to_tensor, train_bpe

SAMPLE = "Hello, world! def f(x):\n    return x ** 2  # é 中文"


def test_byte_round_trip_and_one_byte_per_token():
    tok = ByteTokenizer()
    ids = tok.encode(SAMPLE)
    assert max(ids) < 256 and tok.decode(ids) == SAMPLE
    assert bytes_per_token(tok, SAMPLE) == 1.0


def test_char_round_trip_and_unknown_characters():
    tok = CharTokenizer("abc ")
    assert tok.decode(tok.encode("cab a")) == "cab a"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("abz")
    with pytest.raises(ValueError, match="ids must be in"):
        tok.decode([7])


@pytest.fixture(scope="module")
def bpe():
    return train_bpe(text.python_docs(max_chars=300_000).documents, vocab_size=512)


def test_bpe_round_trip_compresses(bpe):
    ids = bpe.encode(SAMPLE)
    assert bpe.decode(ids) == SAMPLE
    held_out = text.python_docs().text[-50_000:]
    assert bytes_per_token(bpe, held_out) > 1.5, "a 512-token BPE should cover over 1.5 bytes per token of English"
    assert len(bpe) == 512


def test_bpe_save_and_load_with_autotokenizer(bpe, tmp_path):
    bpe.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.encode(SAMPLE) == bpe.encode(SAMPLE)
    assert loaded.decode(loaded.encode(SAMPLE)) == SAMPLE


def test_bpe_training_is_deterministic():
    docs = text.python_docs(max_chars=100_000).documents
    assert train_bpe(docs, 400).encode(SAMPLE) == train_bpe(docs, 400).encode(SAMPLE)


def test_bad_input():
    with pytest.raises(ValueError, match="at least 257"):
        train_bpe("some text", vocab_size=100)
    with pytest.raises(ValueError, match="non-empty"):
        train_bpe(["", "  "], vocab_size=300)
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer("")
    with pytest.raises(ValueError, match="zero tokens"):
        encode_to_tensor(ByteTokenizer(), "")
    with pytest.raises(ValueError, match="integers"):
        ByteTokenizer().decode(torch.tensor([1.0, 2.0]))


def test_encode_to_tensor():
    t = encode_to_tensor(ByteTokenizer(), "abc")
    assert t.dtype == torch.int64 and t.tolist() == [97, 98, 99]
