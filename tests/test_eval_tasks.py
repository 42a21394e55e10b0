"""course_lib.eval_tasks: cloze questions, zero-shot classification, accuracy intervals, Cohen's kappa."""
import math

import pytest
import torch

from course_lib.eval_tasks import (ClozeTask, accuracy_interval, proportion_interval, cohen_kappa, complete_line, frequency_baseline,
                                  ngram_cloze_baseline,
                                   label_logprobs, lead_sentence, line_completion_task,
                                   make_cloze_task, sentences, summary_pairs, zero_shot_predict)
from course_lib.text import held_out_documents
from course_lib.tokenizer import train_bpe

TEXT = " ".join(
    f"The function {verb} the {noun} and returns a new {noun2}, unless the {noun} is empty; then it raises an error."
    for verb in ("reads", "writes", "copies", "checks", "parses", "formats")
    for noun in ("buffer", "string", "header", "record", "stream", "socket", "window", "module")
    for noun2 in ("object", "result", "list")
)


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe([TEXT], vocab_size=400)


def test_cloze_questions_come_from_the_text(tokenizer):
    task = make_cloze_task(TEXT, tokenizer, n_questions=30, n_candidates=4, context_chars=80, seed=1)
    assert len(task) == 30 and task.chance == 0.25
    for context, options, answer in zip(task.contexts, task.candidates, task.answers):
        assert len(options) == len(set(options)) == 4
        assert context + options[answer] in TEXT  # the right word really follows the context
        assert all(len(tokenizer.encode(o)) == 1 and o.startswith(" ") for o in options)
    again = make_cloze_task(TEXT, tokenizer, n_questions=30, n_candidates=4, context_chars=80, seed=1)
    other = make_cloze_task(TEXT, tokenizer, n_questions=30, n_candidates=4, context_chars=80, seed=2)
    assert again == task and other != task


def test_frequency_baseline_picks_the_most_common_word():
    task = ClozeTask(contexts=("a", "b", "c"), candidates=((" x", " y"), (" y", " z"), (" z", " x")), answers=(0, 1, 1))
    counts = {"x": 5, "y": 3, "z": 1}  # picks x, y, x: right, wrong, right
    assert frequency_baseline(task, counts) == pytest.approx(2 / 3)
    assert frequency_baseline(task, {}) == pytest.approx(1 / 3)  # ties go to the first candidate
    assert task.chance == 0.5


def test_ngram_cloze_baseline_reads_the_context():
    from course_lib.ngram import NGramModel

    train = "a big cat. a red dog. " * 20
    model = NGramModel(4, smoothing="witten-bell").fit(train)  # 3 bytes of context: "ig " is followed by "c"
    task = ClozeTask(contexts=("a big", "a red"), candidates=((" dog", " cat"), (" dog", " cat")), answers=(1, 0))
    assert ngram_cloze_baseline(task, model) == 1.0
    flipped = ClozeTask(task.contexts, task.candidates, answers=(0, 1))
    assert ngram_cloze_baseline(flipped, model) == 0.0
    short = ClozeTask(contexts=("a",), candidates=((" cat", " xqz"),), answers=(0,))  # context shorter than n - 1
    assert ngram_cloze_baseline(short, model) == 1.0
    with pytest.raises(ValueError, match="fitted NGramModel"):
        ngram_cloze_baseline(task, NGramModel(4))


def test_cloze_bad_input(tokenizer):
    with pytest.raises(ValueError, match="usable gaps"):
        make_cloze_task(TEXT[:500], tokenizer, n_questions=50, context_chars=80)
    with pytest.raises(ValueError, match="n_candidates"):
        make_cloze_task(TEXT, tokenizer, n_candidates=1)
    with pytest.raises(ValueError, match="non-empty"):
        make_cloze_task("", tokenizer)


class ByteTok:
    """Bytes as ids, with byte 0 as BOS."""
    bos_token_id = 0

    def encode(self, text):
        return list(text.encode())

    def decode(self, ids):
        return bytes(ids).decode()


class Bigram(torch.nn.Module):
    """Logits depend only on the current token: table[id] (V,)."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def forward(self, ids):
        return self.table[ids]  # (B, T, V)


def bigram_with_prior():
    table = torch.zeros(256, 256)
    a, b = ord("a"), ord("b")
    table[:, a] = 2.0  # the model likes "a" after anything
    table[ord("x"), b] = 1.5  # after x, b is liked less than a, but more than usual
    table[ord("y"), b] = 0.0
    table[ord("n"), b] = 0.5  # the content-free input
    return Bigram(table)


def test_label_logprobs_are_log_softmax_of_the_model():
    model = bigram_with_prior()
    scores = label_logprobs(model, ByteTok(), ["x", "y"], "{text}", ["a", "b"])
    expected_x = torch.log_softmax(model.table[ord("x")], -1)[[ord("a"), ord("b")]]
    assert torch.allclose(torch.tensor(scores[0]), expected_x.double(), atol=1e-6)
    assert scores.shape == (2, 2)


def test_calibration_removes_the_label_prior():
    model, tok = bigram_with_prior(), ByteTok()
    plain = zero_shot_predict(model, tok, ["x", "y"], "{text}", ["a", "b"])
    calibrated = zero_shot_predict(model, tok, ["x", "y"], "{text}", ["a", "b"], content_free="n")
    assert plain.tolist() == [0, 0]  # the prior for "a" wins everywhere
    assert calibrated.tolist() == [1, 0]  # x raises b above its content-free level, y lowers it
    with pytest.raises(ValueError, match="{text}"):
        zero_shot_predict(model, tok, ["x"], "no slot", ["a", "b"])


def test_accuracy_interval_exact_values():
    none = accuracy_interval(0, 10, 0.5)
    assert none.low == 0 and none.high == pytest.approx(1 - 0.025 ** (1 / 10))  # Clopper-Pearson
    assert none.p_value == 1.0
    perfect = accuracy_interval(10, 10, 0.5)
    assert perfect.p_value == pytest.approx(0.5**10)
    assert perfect.high == 1 and perfect.low == pytest.approx(0.025 ** (1 / 10))
    some = accuracy_interval(13, 40, 0.25)
    assert some.low < 0.25 < some.accuracy < some.high and some.p_value > 0.05  # 32% of 40 is no evidence
    assert "13/40" in str(some)
    with pytest.raises(ValueError):
        accuracy_interval(11, 10, 0.5)
    with pytest.raises(ValueError, match="chance"):
        accuracy_interval(5, 10, 1.0)


def test_cohen_kappa_textbook_example():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15: p_o = 0.7, p_e = 0.5, kappa = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa(["x", "y"] * 5, ["y", "x"] * 5) == -1.0
    assert math.isnan(cohen_kappa(["x"] * 4, ["x"] * 4))
    with pytest.raises(ValueError, match="same"):
        cohen_kappa(["a"], ["a", "b"])


def test_summary_pairs_and_lead_sentence():
    docs = [
        "Return the sum of two numbers.\n\nThe numbers may be ints or floats. Strings are refused with a\n"
        "TypeError. " + "More words here. " * 12,
        "No body here.",
        "A line.\n\n>>> 1 + 1\n" + "x" * 300,
        "Split a path into parts.\n\nThe first part is the drive. The rest are folders. " + "And so on. " * 20,
    ]
    pairs = summary_pairs(docs, 2)
    assert [s for _, s in pairs] == ["Return the sum of two numbers.", "Split a path into parts."]
    assert lead_sentence(pairs[0][0]) == "The numbers may be ints or floats."
    assert sentences("One. Two words.\nThree? four.") == ["One.", "Two words.", "Three? four."]
    assert lead_sentence("") == ""
    with pytest.raises(ValueError, match="only 2"):
        summary_pairs(docs, 3)


def test_line_completion_task_cuts_real_lines():
    code = "\n".join(f"    value_{i} = compute(alpha, beta, gamma_{i})" for i in range(60))
    pairs = line_completion_task([code], 5, context_chars=100, seed=0)
    assert len(pairs) == 5
    for prompt, target in pairs:
        assert prompt + target in code and "\n" not in target and target.startswith(" ")
        assert prompt.endswith(prompt.split("\n")[-1]) and len(prompt.split("\n")[-1].strip()) > 0
    with pytest.raises(ValueError, match="only"):
        line_completion_task([code], 500, context_chars=100)


def test_complete_line_stops_at_the_newline():
    table = torch.full((256, 256), -10.0)
    for a, b in zip(b"ab\n", b"b\nz"):
        table[a, b] = 10.0  # a -> b -> newline -> z
    assert complete_line(Bigram(table), ByteTok(), "xa", max_new_tokens=5) == "b"


def test_held_out_documents_matches_the_course_model_split():
    from course_lib import course_model
    from course_lib.text import Corpus

    docs = [f"document {i} " * (i % 7 + 1) for i in range(50)]
    train, held = held_out_documents(docs, 0.1)
    assert train + held == docs and len(held) >= 1
    assert sum(map(len, held[1:])) < 0.1 * sum(map(len, docs)) <= sum(map(len, held))
    assert course_model.held_out_documents is held_out_documents, "one rule: the course model's build uses text's split"
    assert course_model._split_documents(Corpus("t", tuple(docs)), 0.1) == (train, held)
    with pytest.raises(ValueError):
        held_out_documents(["only one"])


def test_complete_line_with_a_transformers_model_gives_the_greedy_tokens():
    from course_lib.generation import greedy_decode
    from course_lib.model import GPT, GPTConfig, to_hf

    tok = train_bpe("def read(path):\n    return open(path).read()\n" * 30 + "import os\nx = os.getcwd()\n" * 30,
                    vocab_size=280)
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=len(tok), context_length=64, n_layer=2, n_head=2, d_model=32))
    with torch.no_grad():
        for p in gpt.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)
    hf = to_hf(gpt.eval()).eval()
    for prompt in ("def read(path):\n    return", "import os\nx ="):
        ids = torch.tensor(tok.encode(prompt))
        expected = tok.decode(greedy_decode(gpt, ids, 12)[len(ids):].tolist()).split("\n", 1)[0]
        assert complete_line(hf, tok, prompt, max_new_tokens=12) == expected == complete_line(gpt, tok, prompt, 12)
    with pytest.raises(ValueError, match="at most 64"):
        complete_line(hf, tok, "import os\n" * 40)


def test_label_logprobs_without_bos():
    model = bigram_with_prior()
    with_bos = label_logprobs(model, ByteTok(), ["x"], "{text}", ["a", "b"])
    without = label_logprobs(model, ByteTok(), ["x"], "{text}", ["a", "b"], add_bos=False)
    assert torch.allclose(torch.tensor(with_bos), torch.tensor(without))  # a bigram reads only the last token
    first = label_logprobs(model, ByteTok(), [""], "{text}y", ["a", "b"], add_bos=False)  # context: "y" alone
    assert torch.allclose(torch.tensor(first[0]), torch.log_softmax(model.table[ord("y")], -1)[[97, 98]].double())
    with pytest.raises(ValueError, match="empty"):
        label_logprobs(model, ByteTok(), [""], "{text}", ["a", "b"], add_bos=False)  # nothing to condition on


def test_proportion_interval_is_the_exact_binomial_interval():
    low, high = proportion_interval(0, 10)
    assert low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 10))
    assert proportion_interval(13, 40) == pytest.approx((accuracy_interval(13, 40, 0.25).low,
                                                         accuracy_interval(13, 40, 0.25).high))
    with pytest.raises(ValueError):
        proportion_interval(11, 10)
