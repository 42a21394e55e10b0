"""course_lib.preprocess: normalisation, deduplication, composition, the BPE vocabulary sweep."""
import unicodedata

import pytest

from course_lib.preprocess import (
    STOP_WORDS,
    bpe_report,
    bpe_vocab_sweep,
    composition,
    deduplicate,
    doc_hash,
    normalize,
    strip_punctuation_and_stop_words,
    token_strings,
    word_tokens,
)

TRAIN = ("Return the number of items in the list. Return True if the list is empty. "
         "The list holds items; the items are returned in order. ") * 40
EVAL = "Return the items of the list in order, or an empty list."


def test_normalize_unicode_and_whitespace():
    decomposed = "cafe\u0301"  # "e" + combining acute accent
    assert len(decomposed) == 5
    assert normalize(decomposed) == "caf\u00e9" and len(normalize(decomposed)) == 4
    assert unicodedata.is_normalized("NFC", normalize(decomposed))
    text = "  first line   \r\n    indented line\t\r\n\r\n\r\n\r\nlast\n"
    assert normalize(text) == "first line\n    indented line\n\nlast", "indentation stays, blank lines collapse"
    assert normalize("a, b; the end.") == "a, b; the end.", "punctuation and stop words are kept"


def test_normalize_rejects_bad_input():
    with pytest.raises(ValueError, match="form"):
        normalize("x", form="NFX")
    with pytest.raises(ValueError, match="str"):
        normalize(b"bytes")


def test_deduplicate_keeps_first_occurrences_in_order():
    docs = ["alpha", "beta", "alpha", "gamma", "alpha", "beta"]
    r = deduplicate(docs)
    assert r.kept == ("alpha", "beta", "gamma")
    assert r.removed == (2, 4, 5)
    assert r.copies == ((3, "alpha"), (2, "beta"))
    assert r.n_before == 6 and r.n_removed == 3
    assert r.n_chars_before == sum(map(len, docs)) and r.n_chars_after == 5 + 4 + 5
    assert r.removed_char_share == pytest.approx(1 - 14 / 28)
    assert "3 copies removed" in r.summary()


def test_deduplicate_with_normalisation_catches_near_copies():
    docs = ["Return x.  ", "Return x.", "cafe\u0301", "caf\u00e9"]
    assert deduplicate(docs).n_removed == 0, "exact hashing sees different bytes"
    r = deduplicate(docs, normalize_first=True)
    assert r.kept == ("Return x.", "caf\u00e9")
    with pytest.raises(ValueError, match="list of documents"):
        deduplicate("one string")


def test_doc_hash_is_sha256():
    assert doc_hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert doc_hash("a") != doc_hash("a ")


def test_word_tokens_and_composition_by_hand():
    text = "The cat, the dog."
    assert word_tokens(text) == ["The", "cat", ",", "the", "dog", "."]
    c = composition(text)
    assert (c.n_tokens, c.punctuation_tokens, c.stop_word_tokens) == (6, 2, 2)
    assert (c.n_bytes, c.whitespace_bytes, c.punctuation_bytes, c.stop_word_bytes) == (17, 3, 2, 6)
    assert c.removed_token_share == pytest.approx(4 / 6)
    assert c.removed_byte_share == pytest.approx(8 / 14)
    assert "punctuation" in c.summary()
    with pytest.raises(ValueError):
        composition("   ")


def test_strip_punctuation_and_stop_words_is_the_seeds_advice():
    text = "Return the next item.\nWhen exhausted, raise StopIteration."
    assert strip_punctuation_and_stop_words(text) == "Return next item\nexhausted raise StopIteration"
    assert {"the", "of", "is", "and", "a"} <= STOP_WORDS


def test_bpe_sweep_compresses_more_with_larger_vocabularies():
    sweep = bpe_vocab_sweep(TRAIN, EVAL, "Return the list.", vocab_sizes=(257, 300, 400))
    assert sweep.vocab_sizes == (257, 300, 400)
    bpt = [p.bytes_per_token for p in sweep.points]
    assert bpt[0] == pytest.approx(1.0), "257 = 256 bytes + <|endoftext|>: no merges, one token per byte"
    assert bpt[0] < bpt[1] < bpt[2]
    for p in sweep.points:
        assert "".join(p.sample_tokens) == "Return the list."
        assert p.eval_tokens == pytest.approx(len(EVAL.encode()) / p.bytes_per_token)
    assert len(sweep.points[0].sample_tokens) == len("Return the list.")
    with pytest.raises(ValueError, match="257"):
        bpe_vocab_sweep(TRAIN, EVAL, "x", vocab_sizes=(100,))


def test_bpe_report():
    sweep = bpe_vocab_sweep(TRAIN, EVAL, "Return the list.", vocab_sizes=(257, 400))
    report = bpe_report(sweep, 390)  # nearest trained size is 400
    assert "vocabulary size       400" in report
    assert "|".join(sweep.point(400).sample_tokens) in report
    assert "bytes per token      1.00" in bpe_report(sweep, 257)


def test_token_strings_join_back_to_ascii_text():
    from course_lib.tokenizer import train_bpe

    tok = train_bpe(TRAIN, 300)
    assert "".join(token_strings(tok, EVAL)) == EVAL
