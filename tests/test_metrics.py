"""course_lib.metrics: sliding-window perplexity, cloze accuracy, BLEU and ROUGE, checked against transformers,
sacrebleu and rouge-score (test dependencies)."""
import math
import random
import re

import pytest
import sacrebleu  # test dependency (requirements.txt)
import torch
from rouge_score import rouge_scorer  # test dependency (requirements.txt, package rouge-score)
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from course_lib.metrics import (
    bleu,
    cloze_accuracy,
    lcs_length,
    sliding_window_perplexity,
    rouge,
    sequence_logprob,
    tokenize_13a,
)
from course_lib.model import GPT, GPTConfig, to_hf
from course_lib.tokenizer import CharTokenizer
from course_lib.train import train


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def random_gpt(seed=0, vocab_size=50, context_length=16):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, context_length=context_length, n_layer=2, n_head=2, d_model=32)).eval()


def token_ids(n, vocab_size=50, seed=0):
    return torch.randint(vocab_size, (n,), generator=torch.Generator().manual_seed(seed))


PATTERN = torch.randint(8, (24,), generator=torch.Generator().manual_seed(0))  # a fixed "text" of period 24


@pytest.fixture(scope="module")
def trained():
    """A GPT that has memorised a repeating sequence of period 24: predicting the next token needs
    several tokens of context (short stretches repeat within the period)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, context_length=32, n_layer=1, n_head=2, d_model=32))
    train(model, PATTERN.repeat(100), steps=120, batch_size=16, lr=1e-2, progress=False)
    return model.eval()


class BigramTable(torch.nn.Module):
    """A 'language model' whose next-token logits depend only on the last token: logits = table[token]."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.nn.Parameter(table)

    def forward(self, idx):
        return self.table[idx]  # (B, T, V)


# ----------------------------------------------------------------------------- perplexity


def test_stride_equal_to_context_is_the_mean_of_disjoint_chunk_losses():
    model = random_gpt()
    ids = token_ids(16 * 6)
    result = sliding_window_perplexity(model, ids, context_length=16)
    chunks = ids.view(6, 16)  # (6, 16): disjoint windows
    with torch.no_grad():
        _, chunk_loss = model(chunks[:, :-1], chunks[:, 1:])  # the trainer's loss, 15 targets per chunk
    assert result.n_tokens == 6 * 15
    assert math.isclose(result.loss, chunk_loss.item(), rel_tol=1e-5)
    assert math.isclose(result.perplexity, math.exp(chunk_loss.item()), rel_tol=1e-5)
    assert math.isclose(sliding_window_perplexity(model, ids, context_length=16, stride=16).loss, result.loss,
                        rel_tol=1e-12)


def hf_sliding_window_reference(hf_model, ids, max_length, stride):
    """The loop of Hugging Face's "Perplexity of fixed-length models" guide, with transformers' own
    loss (labels, -100 = ignore) and the exact number of scored tokens per window."""
    nll_sum, n_tokens, prev_end = 0.0, 0, 0
    seq_len = ids.shape[1]
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end
        input_ids = ids[:, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            loss = hf_model(input_ids, labels=target_ids).loss
        n_valid = int((target_ids[:, 1:] != -100).sum())  # labels are shifted inside the model
        nll_sum += loss.item() * n_valid
        n_tokens += n_valid
        prev_end = end
        if end == seq_len:
            break
    return nll_sum / n_tokens, n_tokens


def test_sliding_window_matches_the_transformers_reference():
    gpt = random_gpt(seed=1)
    hf = to_hf(gpt).eval()
    ids = token_ids(70, seed=1)
    for stride in (16, 10, 5, 1):
        ref_loss, ref_n = hf_sliding_window_reference(hf, ids[None], 16, stride)
        for model in (gpt, hf):
            result = sliding_window_perplexity(model, ids, context_length=16, stride=stride)
            assert result.n_tokens == ref_n
            assert math.isclose(result.loss, ref_loss, rel_tol=1e-5), (stride, type(model).__name__)
    assert ref_n == 69, "with stride < context_length every token but the first is scored once"
    # one window: exactly transformers' loss on the whole sequence
    with torch.no_grad():
        ref = hf(ids[None, :16], labels=ids[None, :16]).loss.item()
    assert math.isclose(sliding_window_perplexity(hf, ids[:16], context_length=16).perplexity, math.exp(ref),
                        rel_tol=1e-5)


def test_a_smaller_stride_gives_more_context_and_a_lower_loss(trained):
    text = PATTERN.repeat(12)[5 : 5 + 8 * 32]  # 256 tokens, starting mid-period
    disjoint = sliding_window_perplexity(trained, text, context_length=32)
    assert disjoint.loss < 0.5, "the model has learned the sequence"
    for stride in (16, 8, 4):
        assert sliding_window_perplexity(trained, text, context_length=32, stride=stride).loss <= disjoint.loss
    assert sliding_window_perplexity(trained, text, context_length=32, stride=4).loss < 0.8 * disjoint.loss, \
        "the first tokens of each disjoint chunk lack context, and cost"


# ----------------------------------------------------------------------------- cloze


def test_sequence_logprob_matches_transformers_loss():
    gpt = random_gpt(seed=2)
    hf = to_hf(gpt).eval()
    context, continuation = token_ids(7, seed=3), token_ids(4, seed=4)
    full = torch.cat([context, continuation])[None]
    labels = full.clone()
    labels[:, :7] = -100  # score only the continuation
    with torch.no_grad():
        ref = -hf(full, labels=labels).loss.item() * 4
    assert math.isclose(sequence_logprob(hf, context, continuation), ref, rel_tol=1e-5)
    assert math.isclose(sequence_logprob(gpt, context.tolist(), continuation.tolist()), ref, rel_tol=1e-4)


def test_cloze_by_hand_with_a_bigram_table():
    probs = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])  # P(next | last)
    model = BigramTable(probs.log())
    assert math.isclose(sequence_logprob(model, [0], [1, 0]), math.log(0.6 * 0.5), rel_tol=1e-6)
    assert math.isclose(sequence_logprob(model, [2, 2, 0], [2]), math.log(0.3), rel_tol=1e-6)
    contexts = [[0], [1], [2], [0]]
    candidates = [[[1], [2]], [[0], [1]], [[0], [2]], [[1, 0], [2, 2]]]
    # the model picks [1], [0], [2] and [1, 0] (0.6 * 0.5 = 0.30 > 0.3 * 0.6 = 0.18)
    assert cloze_accuracy(model, contexts, candidates, [0, 0, 1, 0]) == 1.0
    assert cloze_accuracy(model, contexts, candidates, [1, 1, 0, 1]) == 0.0
    assert cloze_accuracy(model, contexts, candidates, [0, 1, 1, 1]) == 0.5
    tok = CharTokenizer("abc")
    assert cloze_accuracy(model, ["a", "b"], [["b", "c"], ["a", "c"]], [0, 0], tokenizer=tok) == 1.0


def test_candidate_logprobs_batch_equals_one_by_one():
    from course_lib.metrics import candidate_logprobs

    gpt = random_gpt(seed=5)
    context = token_ids(9, seed=6)
    candidates = [token_ids(k, seed=10 + k) for k in (1, 3, 2, 5)]  # different lengths: right padding
    for model in (gpt, to_hf(gpt).eval()):
        batched = candidate_logprobs(model, context, candidates)
        one_by_one = [sequence_logprob(model, context, c) for c in candidates]
        assert all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5) for a, b in zip(batched, one_by_one))
    limit = gpt.config.context_length
    long_context = token_ids(limit - 2, seed=7)  # + a 5-token candidate does not fit: one pass each, cropped
    batched = candidate_logprobs(gpt, long_context, candidates)
    assert batched == [sequence_logprob(gpt, long_context, c) for c in candidates]


def test_cloze_accuracy_of_a_trained_model(trained):
    text = PATTERN.repeat(3)
    contexts, candidates, answers = [], [], []
    for i in range(24):
        truth = int(text[i + 12])
        wrong = [(truth + d) % 8 for d in (1, 3, 5)]
        options = [[t] for t in wrong[: i % 4] + [truth] + wrong[i % 4 :]]
        contexts.append(text[i : i + 12])
        candidates.append(options)
        answers.append(i % 4)
    assert cloze_accuracy(trained, contexts, candidates, answers) == 1.0
    torch.manual_seed(1)
    untrained = GPT(GPTConfig(vocab_size=8, context_length=32, n_layer=1, n_head=2, d_model=32)).eval()
    assert cloze_accuracy(untrained, contexts, candidates, answers) < 1.0


# ----------------------------------------------------------------------------- BLEU

WORDS = ("the a cat dog sat on mat quickly brown fox jumps over lazy it is was and of to in "
         "3.14 1,000 5-3 well-known don't U.S. e.g. (see) [note] \"quoted\" 'single' end. end, "
         "semi;colon colon: a/b x+y 50% $5 #1 @home a&b &amp; &quot;hi&quot; &lt;tag&gt; <skipped> "
         "Über naïve café 東京 —dash– … ¿qué? tab\there new\nline hy-\nphen trailing- 10.5. 7,").split(" ")
SENTENCES = [  # real sentences, as a translation system might get them right, nearly right, or wrong
    ("The cat sat on the mat.", "The cat sat on the mat."),
    ("There is a cat on the mat.", "The cat is sitting on the mat."),
    ("Il pleut des cordes.", "It is raining cats and dogs."),
    ("The meeting was postponed until next week.", "The meeting has been moved to next week."),
    ("He said: \"It costs $3.50, not 3,000 euros.\"", "He said it costs 3.50 dollars, not 3,000 euros."),
    ("The well-known 1990-1995 study (see p. 12) found no effect.", "A well-known study from 1990-1995 found no effect."),
    ("", "An empty translation still counts its reference length."),
]


def real_sentences():
    """English sentences from the course's frozen Python documentation (the same on every Python)."""
    from course_lib.text import python_docs

    text = " ".join(python_docs().documents[:40])  # the first 40 help topics
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 3 <= len(s.split()) <= 40]
    return sentences[:400]


def perturb(sentence: str, rng: random.Random) -> str:
    """A 'system output': the sentence with words dropped, replaced, repeated or swapped."""
    words = sentence.split(" ")
    out = []
    for w in words:
        r = rng.random()
        if r < 0.1:
            continue
        out.append(rng.choice(WORDS) if r < 0.2 else w)
        if r > 0.95:
            out.append(w)
    if len(out) > 2 and rng.random() < 0.3:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def assert_same_bleu(hyps, refs, streams=None):
    ref = sacrebleu.corpus_bleu(hyps, streams if streams is not None else [refs])
    ours = bleu(hyps, refs)
    assert abs(ours.score - ref.score) < 1e-6, (hyps, refs, ours.score, ref.score)
    assert (ours.hyp_len, ours.ref_len) == (ref.sys_len, ref.ref_len)
    assert abs(ours.brevity_penalty - ref.bp) < 1e-12
    assert all(abs(a - b) < 1e-9 for a, b in zip(ours.precisions, ref.precisions))
    return ours.score


def test_tokenize_13a_matches_sacrebleu():
    rng = random.Random(0)
    sacre = Tokenizer13a()
    alphabet = [chr(c) for c in range(32, 127)] + list("\n\t éü—…東") + ["&amp;", "&quot;", "&lt;", "&gt;", "<skipped>", "-\n"]
    for _ in range(1500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert tokenize_13a(text) == sacre(text).split(), repr(text)
    for text in WORDS + [s for pair in SENTENCES for s in pair]:
        assert tokenize_13a(text) == sacre(text).split(), repr(text)
    assert tokenize_13a("It costs $3.50, not 3,000 - ok.") == ["It", "costs", "$", "3.50", ",", "not", "3,000", "-", "ok", "."]


def test_bleu_equals_sacrebleu_on_random_and_real_corpora():
    rng = random.Random(1)
    real = real_sentences()
    assert len(real) > 100
    scores = []
    for trial in range(150):
        if trial % 2:
            refs = [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 25))) for _ in range(rng.randrange(1, 12))]
        else:
            refs = rng.sample(real, rng.randrange(1, 12))
        hyps = [perturb(r, rng) for r in refs]
        scores.append(assert_same_bleu(hyps, refs))
    assert_same_bleu([h for h, _ in SENTENCES], [r for _, r in SENTENCES])
    assert min(scores) < 20 and max(scores) > 50, "the corpora must span bad to good outputs"


def test_bleu_edge_cases_equal_sacrebleu():
    ref = "the quick brown fox jumps over the lazy dog"
    cases = [
        (["the quick brown fox jumps over the lazy dog"], [ref]),  # identical: 100
        ([""], [ref]),  # empty hypothesis: 0
        (["", "the cat"], [ref, "the cat sat"]),  # one empty, one short
        (["", ""], ["a b", "c"]),  # nothing at all
        (["dog lazy the over jumps fox brown quick the"], [ref]),  # unigrams match, no 4-gram does
        (["the quick brown cat jumps under a lazy dog"], [ref]),
        (["the quick brown fox jumps over the lazy dog and then it runs far away again"], [ref]),  # longer
        (["the fox"], [ref]),  # much shorter: brevity penalty
        (["a b c"], ["a b c"]),  # shorter than 4 tokens: no 4-grams, BLEU 0
        (["a b c d"], ["a b c d"]),
        (["hello world .  \n"], ["Hello world."]),  # case and trailing whitespace
        (["a well-\n", "b-\nc"], ["a well", "bc"]),  # trailing whitespace goes before a hyphenated line break is joined
        (["x y z w"], ["p q r s"]),  # no match at all
    ]
    for hyps, refs in cases:
        assert_same_bleu(hyps, refs)
    assert bleu(*cases[0]).score == pytest.approx(100.0)
    assert bleu(*cases[1]).score == 0.0
    assert bleu(*cases[7]).brevity_penalty < 0.5


def test_bleu_with_several_references_equals_sacrebleu():
    rng = random.Random(2)
    real = real_sentences()
    for _ in range(40):
        n = rng.randrange(1, 8)
        base = rng.sample(real, n)
        refs = [[b] + [perturb(b, rng) for _ in range(rng.randrange(0, 3))] for b in base]  # 1 to 3 refs each
        hyps = [perturb(b, rng) for b in base]
        width = max(len(r) for r in refs)
        streams = [[r[j] if j < len(r) else None for r in refs] for j in range(width)]  # sacrebleu's layout
        assert_same_bleu(hyps, refs, streams)


# ----------------------------------------------------------------------------- ROUGE


def test_rouge_equals_rouge_score():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    rng = random.Random(3)
    real = real_sentences()
    pairs = [("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog"),
             ("", "nothing predicted"), ("nothing to compare with", ""), ("", ""), ("!!! ...", "a b"),
             ("Café naïve ÜBER 東京 x1 y2", "cafe naive uber x1 y2"), ("a a a a", "a"), ("a", "a a a a")]
    for _ in range(300):
        r = rng.choice(real) if rng.random() < 0.7 else " ".join(rng.choice(WORDS) for _ in range(rng.randrange(0, 30)))
        pairs.append((perturb(r, rng), r))
    for hyp, ref in pairs:
        ours = rouge(hyp, ref)
        theirs = scorer.score(ref, hyp)  # rouge-score takes the reference first
        for key in ("rouge1", "rouge2", "rougeL"):
            for a, b in zip(ours[key], theirs[key]):
                assert abs(a - b) < 1e-9, (hyp, ref, key, ours[key], theirs[key])
    example = rouge("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog")
    # 8 and 9 tokens; shared words: the (twice), quick, brown, dog, jumps; LCS: the quick brown jumps the
    assert example["rouge1"].precision == pytest.approx(6 / 8) and example["rouge1"].recall == pytest.approx(6 / 9)
    assert example["rougeL"].precision == pytest.approx(5 / 8) and example["rougeL"].recall == pytest.approx(5 / 9)
    assert example["rouge2"].fmeasure == pytest.approx(2 * (2 / 7) * (2 / 8) / (2 / 7 + 2 / 8))


def test_lcs_length_by_hand():
    assert lcs_length("ABCBDAB", "BDCABA") == 4  # BCBA, the textbook example
    assert lcs_length([], [1, 2]) == 0
    assert lcs_length("abc", "abc") == 3
    assert lcs_length("abc", "cba") == 1


# ----------------------------------------------------------------------------- bad input


def test_bad_input_says_what_to_do():
    model = random_gpt()
    cases = [
        (lambda: bleu(["a b"], ["a b", "c d"]), "one reference"),
        (lambda: bleu([], []), "at least one"),
        (lambda: bleu("a b", "a b"), "lists"),
        (lambda: bleu(["a"], [[]]), "non-empty list"),
        (lambda: rouge(["a"], "a"), "str"),
        (lambda: sliding_window_perplexity(model, token_ids(1), 16), "at least 2"),
        (lambda: sliding_window_perplexity(model, token_ids(40), 32), "longer than the model"),
        (lambda: sliding_window_perplexity(model, token_ids(40), 16, stride=17), "stride"),
        (lambda: sliding_window_perplexity(model, token_ids(40), 16, stride=0), "stride"),
        (lambda: sliding_window_perplexity(model, token_ids(40).float(), 16), "integer"),
        (lambda: sequence_logprob(model, [], [1]), "empty"),
        (lambda: cloze_accuracy(model, [[1]], [[[2], [3]]], [0, 1]), "one entry per example"),
        (lambda: cloze_accuracy(model, [[1]], [[[2], [3]]], [2]), "index"),
        (lambda: cloze_accuracy(model, [[1]], [[[2]]], [0]), "at least two"),
        (lambda: cloze_accuracy(model, ["a"], [["b", "c"]], [0]), "tokenizer"),
        (lambda: cloze_accuracy(model, [], [], []), "at least one"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=words):
            call()


def test_perplexity_has_one_meaning():
    """``perplexity`` is only ``units.perplexity(loss)``; the measurement is ``sliding_window_perplexity``."""
    from course_lib import metrics, units

    assert not hasattr(metrics, "perplexity")
    assert units.perplexity(math.log(7.0)) == pytest.approx(7.0)


# ----------------------------------------------------------------------------- repetition


def test_repetition_rate_counts_repeated_ngrams_within_a_text():
    from course_lib.metrics import repetition_rate

    loop = "the value of the value of the value of".split()
    # bigrams: 8 in all, 3 distinct ((the, value), (value, of), (of, the)) -> 1 - 3/8
    assert repetition_rate(loop, n=2) == pytest.approx(1 - 3 / 8)
    assert repetition_rate("a b c d e".split(), n=2) == 0.0
    assert repetition_rate([1, 2, 3], n=4) == 0.0  # shorter than n: no n-grams
    assert repetition_rate(torch.tensor([5, 5, 5, 5, 5]), n=1) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="not one str"):
        repetition_rate("the value of the value", n=2)


def test_distinct_n_pools_ngrams_across_texts():
    from course_lib.metrics import distinct_n

    assert distinct_n([[1, 2, 3], [1, 2, 4]], n=2) == pytest.approx(3 / 4)  # (1, 2) twice
    texts = [list("abcabc"), list("xyz")]
    pooled = [tuple(t[i:i + 2]) for t in texts for i in range(len(t) - 1)]
    assert distinct_n(texts, n=2) == pytest.approx(len(set(pooled)) / len(pooled))
    assert distinct_n([[1]], n=2) == 0.0
    with pytest.raises(ValueError, match="list of token lists"):
        distinct_n("abc")
