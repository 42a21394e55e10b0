"""course_lib.baselines: n-gram and compressor baselines in bits per byte of the validation text."""
import math
import random

import pytest

from course_lib import baselines
from course_lib.ngram import NGramModel

TEXT = ("The quick brown fox jumps over the lazy dog. " * 40
        + "A language model assigns probabilities to the next byte given the bytes before it. " * 30)


def test_a_compressor_that_has_seen_the_text_pays_almost_nothing_for_it():
    seen = baselines.compressor_bits_per_byte(TEXT, TEXT[:2000], "xz -9")
    fresh = baselines.compressor_bits_per_byte("x" * 10, TEXT[:2000], "xz -9")
    assert 0 <= seen < 0.2 < fresh, (seen, fresh)


def test_random_bytes_cost_about_eight_bits():
    rng = random.Random(0)
    noise = bytes(rng.randrange(256) for _ in range(20_000))
    for method in baselines.COMPRESSORS:
        bits = baselines.compressor_bits_per_byte(TEXT, noise, method)
        assert 7.9 < bits < 8.3, (method, bits)


def test_ngram_baseline_is_chapter_01s_model_in_bits():
    train, val = TEXT[:3000], TEXT[3000:]
    expected = NGramModel(3, smoothing="witten-bell").fit(train.encode()).cross_entropy(val.encode()) / math.log(2)
    assert baselines.ngram_bits_per_byte(train, val, 3) == pytest.approx(expected, rel=1e-12)


def test_table_has_every_baseline_and_picks_the_best_order():
    train, val = TEXT[:4000], TEXT[4000:]
    table = baselines.baseline_table(train, val, orders=(1, 2, 3))
    names = list(table.rows)
    assert names[0] == "bigram (Witten-Bell)" and names[2:] == list(baselines.COMPRESSORS)
    best = min(baselines.ngram_bits_per_byte(train, val, n) for n in (1, 2, 3))
    assert table.rows[names[1]] == pytest.approx(best) and f"{table.best_order}-gram" in names[1]
    lines = table.lines({"my model": 1.234})
    assert lines[0].startswith("my model") and "1.234 bits per byte" in lines[0] and len(lines) == 6


@pytest.mark.parametrize("call, match", [
    (lambda: baselines.compressor_bits_per_byte("abc", "", "gzip -9"), "val is empty"),
    (lambda: baselines.compressor_bits_per_byte("", "abc", "gzip -9"), "train is empty"),
    (lambda: baselines.compressor_bits_per_byte("abc", "abc", "zip"), "gzip -9, bz2 -9, xz -9"),
    (lambda: baselines.ngram_bits_per_byte("abc", [1, 2], 2), "str or bytes"),
    (lambda: baselines.ngram_bits_per_byte("abc", "abc", 0), "n must be at least 1"),
])
def test_bad_input_says_what_to_do(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bits_per_character_counts_characters_not_bytes():
    train, val = "é" * 3000 + TEXT[:3000], "é" * 500 + TEXT[3000:4000]
    chars = baselines.baseline_table(train, val, orders=(2, 3), unit="character")
    assert chars.unit == "character" and chars.n_val_characters == len(val) and chars.n_val_bytes == len(val.encode())
    # a compressor's bits are the same bits, spread over fewer characters than bytes
    for name in baselines.COMPRESSORS:
        per_byte = baselines.compressor_bits_per_byte(train, val, name)
        assert chars.rows[name] == pytest.approx(per_byte * len(val.encode()) / len(val))
    # the character n-gram is chapter 01's model on character ids (the text's own alphabet)
    alphabet = {c: i for i, c in enumerate(dict.fromkeys(train + val))}
    model = NGramModel(3, smoothing="witten-bell", vocab_size=len(alphabet)).fit([alphabet[c] for c in train])
    expected = model.cross_entropy([alphabet[c] for c in val]) / math.log(2)
    assert baselines.ngram_bits_per_character(train, val, 3) == pytest.approx(expected, rel=1e-12)
    assert chars.rows["bigram (Witten-Bell)"] < baselines.ngram_bits_per_byte(train, val, 2) * len(val.encode()) / len(val)
    assert "bits per character" in str(chars)
    with pytest.raises(ValueError, match="unit must be one of"):
        baselines.baseline_table(train, val, unit="word")
    with pytest.raises(ValueError, match="must be a str for bits per character"):
        baselines.baseline_table(train.encode(), val.encode(), unit="character")
