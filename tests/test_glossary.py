"""course_lib.glossary: the bilingual glossary shown in chapter 00."""
import re

import pytest

from course_lib.glossary import GLOSSARY, Term, glossary_markdown, glossary_rows, lookup

CJK = re.compile(r"[\u4e00-\u9fff]")

# Terms the course promises (English name to look up, a Chinese word its entry must contain).
REQUIRED = [
    ("token", "词元"), ("corpus", "语料库"), ("perplexity", "困惑度"), ("scaling law", "缩放定律"),
    ("attention", "注意力"), ("self-attention", "自注意力"), ("multi-head attention", "多头注意力"),
    ("feed-forward network", "前馈神经网络"), ("cross-entropy", "交叉熵"), ("encoder", "编码器"),
    ("decoder", "解码器"), ("parameters", "参数"), ("compute", "计算量"), ("FLOPs", "浮点运算"),
    ("pre-training", "预训练"), ("self-supervised learning", "自监督学习"), ("tokenization", "分词"),
    ("BPE", "字节对编码"), ("vocabulary", "词汇表"), ("n-gram", "n 元"), ("smoothing", "平滑"),
    ("bits per byte", "比特"), ("nat", "奈特"), ("irreducible loss", "不可约损失"),
    ("compute-optimal", "计算最优"), ("power law", "幂律"),
]


def test_at_least_thirty_distinct_terms():
    assert len(GLOSSARY) >= 30
    english = [t.english.lower() for t in GLOSSARY]
    chinese = [t.chinese for t in GLOSSARY]
    assert len(set(english)) == len(english), "duplicate English terms"
    assert len(set(chinese)) == len(chinese), "duplicate Chinese terms"


@pytest.mark.parametrize("english, chinese", REQUIRED)
def test_required_terms_are_there_in_both_languages(english, chinese):
    term = lookup(english)
    assert chinese in term.chinese, f"{term.english}: expected {chinese!r} in {term.chinese!r}"
    assert lookup(term.chinese) == term, "looking a term up by its Chinese name should find the same entry"


def test_entries_are_well_formed():
    for term in GLOSSARY:
        assert isinstance(term, Term)
        assert CJK.search(term.chinese), f"{term.english}: the Chinese name has no Chinese characters"
        assert "\n" not in term.definition and term.definition.endswith("."), term.english
        assert 20 <= len(term.definition) <= 140, f"{term.english}: a definition is one short line"
    assert glossary_rows()[0] == tuple(GLOSSARY[0]) and len(glossary_rows()) == len(GLOSSARY)


def test_markdown_table_has_one_row_per_term_and_three_columns():
    lines = glossary_markdown().splitlines()
    assert lines[0] == "| English | 中文 | definition |"
    assert len(lines) == len(GLOSSARY) + 2
    for line in lines[2:]:
        unescaped_pipes = re.findall(r"(?<!\\)\|", line)
        assert len(unescaped_pipes) == 4, line
    assert r"P(next token \| previous tokens)" in glossary_markdown(), "a '|' in a definition must be escaped"
    assert glossary_markdown([GLOSSARY[0]]).count("\n") == 2


def test_lookup_errors_are_helpful():
    with pytest.raises(ValueError, match="not in the glossary"):
        lookup("quantum chromodynamics")
    with pytest.raises(ValueError, match="matches .* terms"):
        lookup("model")  # language model, large language model, ...
    with pytest.raises(ValueError, match="give a term"):
        lookup("  ")
    with pytest.raises(ValueError, match="non-empty"):
        glossary_markdown([])
