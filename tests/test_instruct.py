"""course_lib.instruct: instruction data from docstrings, chat templates, the answer-only loss, SFT."""
import pytest
import torch

from course_lib.instruct import (COURSE_CHAT_TEMPLATE, IGNORE_INDEX, Example, answer_loss, answer_nll,
                                 chat_messages, check_examples, course_model_split, docstring_examples,
                                 generate_answers, name_answer, nearest_answer, pad_batch, render_chat, rouge_l,
                                 sft_tokens, split_by_source, tokenize_examples, train_sft, use_course_template)
from course_lib.model import GPT, GPTConfig, to_hf

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def course_tokenizer():
    from course_lib.course_model import load

    return load()[1]


@pytest.fixture(scope="module")
def split():
    return course_model_split()


def tiny_gpt(vocab=4096, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab, context_length=64, n_layer=1, n_head=2, d_model=16))


# ----------------------------------------------------------------------------- data


def test_bad_instruction_sets_say_what_to_do():
    with pytest.raises(ValueError, match="is empty"):
        check_examples([])
    with pytest.raises(ValueError, match="must be a list"):
        check_examples("What does len do?")
    with pytest.raises(ValueError, match=r"\[1\].*'prompt' and 'answer'"):
        check_examples([("q", "a"), ("only a question",)])
    with pytest.raises(ValueError, match="answer .* non-empty str"):
        check_examples([{"prompt": "q", "answer": "  "}])
    got = check_examples([("q", "a"), {"prompt": "p", "answer": "b", "source": 3}])
    assert got == [Example("q", "a"), Example("p", "b", 3)]


def test_docstring_examples_are_questions_answered_by_summary_lines():
    examples = docstring_examples()
    assert len(examples) > 3000
    for e in examples[:200]:
        assert e.prompt.startswith("What does `") and e.prompt.endswith(")` do?")
        assert e.answer.endswith(".") and 3 <= len(e.answer.split()) <= 16 and e.answer[0].isupper()
    from course_lib.text import python_code

    first = examples[0]  # the question's function really is in its file, with that summary in its docstring
    source = python_code().documents[first.source]
    name = first.prompt.split("`")[1].split("(")[0].split(".")[-1]
    assert f"def {name}(" in source and first.answer.split()[0] in source


def test_the_split_never_evaluates_on_what_was_trained_or_pretrained(split):
    train, held = split
    assert len(held) >= 150 and len(train) > 20 * len(held)
    assert not {e.source for e in train} & {e.source for e in held}  # disjoint files
    assert not {e.prompt for e in train} & {e.prompt for e in held}  # no evaluation question trained on
    assert all(e.unseen for e in held)
    # independent check: no evaluation answer occurs in the code the course model trained on
    from course_lib.course_model import FULL
    from course_lib.text import held_out_documents, python_code

    code = [d for d in python_code().documents[:: FULL.code_every] if d.strip()]
    trained_code = "\n".join(held_out_documents(code, FULL.val_fraction)[0])
    assert sum(e.answer in trained_code for e in held) == 0


def test_split_by_source_drops_training_copies_of_evaluation_questions():
    examples = [Example("q1", "a", 0), Example("q2", "b", 0), Example("q1", "c", 1), Example("q3", "d", 1)]
    train, held = split_by_source(examples, [1])
    assert held == examples[2:] and train == [examples[1]]  # q1 from file 0 is not trained on
    with pytest.raises(ValueError, match="choose eval_sources"):
        split_by_source(examples, [0, 1])


# ----------------------------------------------------------------------------- templates


def test_a_tokenizer_without_the_template_is_refused(course_tokenizer):
    import copy

    tok = copy.deepcopy(course_tokenizer)
    tok.chat_template = None
    with pytest.raises(ValueError, match="no chat template.*use_course_template"):
        render_chat(tok, chat_messages("q"))
    use_course_template(tok)
    with pytest.raises(ValueError, match="no chat template called 'tool_use'"):
        render_chat(tok, chat_messages("q"), template="tool_use")
    with pytest.raises(ValueError, match="non-empty list"):
        render_chat(tok, [{"role": "user"}])


def test_course_template_writes_question_and_answer(course_tokenizer):
    tok = use_course_template(course_tokenizer)
    assert tok.chat_template == COURSE_CHAT_TEMPLATE
    assert render_chat(tok, chat_messages("What?", "This.")) == "Question: What?\nAnswer: This.<|endoftext|>"
    assert render_chat(tok, chat_messages("What?"), add_generation_prompt=True) == "Question: What?\nAnswer:"
    assert render_chat(tok, chat_messages("What?", system="Be brief.")) .startswith("Be brief.\nQuestion: What?")


def test_sft_tokens_mask_the_prompt(course_tokenizer):
    tok = use_course_template(course_tokenizer)
    ids, labels = sft_tokens(tok, "What does `len(obj)` do?", "Return the length.")
    n_prompt = len(tok("Question: What does `len(obj)` do?\nAnswer:", add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    assert tok.decode(ids[n_prompt:]) == " Return the length.<|endoftext|>"
    assert ids[-1] == tok.convert_tokens_to_ids("<|endoftext|>")  # the model learns to stop
    full = tok(render_chat(tok, chat_messages("What does `len(obj)` do?", "Return the length.")),
               add_special_tokens=False)["input_ids"]
    assert ids == full  # here the two-part tokenization equals tokenizing the whole text


def test_smollm2_template_is_its_chatml(smollm2):
    _, tok = smollm2
    text = render_chat(tok, chat_messages("Hi?", "Hello.", system="Be brief."))
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n"
                    "<|im_start|>assistant\nHello.<|im_end|>\n")
    ids, labels = sft_tokens(tok, "Hi?", "Hello.", system="Be brief.")
    answer = [i for i, y in zip(ids, labels) if y != IGNORE_INDEX]
    assert tok.decode(answer) == "Hello.<|im_end|>\n"


# ----------------------------------------------------------------------------- the loss


def test_answer_loss_equals_a_hand_computation_and_transformers():
    torch.manual_seed(0)
    model = tiny_gpt(vocab=50)
    rows = [([1, 2, 3, 4, 5, 6], [IGNORE_INDEX] * 3 + [4, 5, 6]), ([7, 8, 9, 10], [IGNORE_INDEX, IGNORE_INDEX, 9, 10])]
    ids, labels = pad_batch(rows, pad_id=0)
    assert ids.shape == (2, 6) and labels[1, 4:].tolist() == [IGNORE_INDEX] * 2
    logits = model(ids)[0]
    got = answer_loss(logits, labels)
    logp = torch.log_softmax(logits, dim=-1)
    terms = [-logp[b, t - 1, labels[b, t]] for b in range(2) for t in range(1, 6) if labels[b, t] != IGNORE_INDEX]
    assert len(terms) == 5
    assert got.item() == pytest.approx(torch.stack(terms).mean().item(), abs=1e-6)
    hf = to_hf(model)
    assert got.item() == pytest.approx(hf(input_ids=ids, labels=labels).loss.item(), abs=1e-5)
    per_row = answer_loss(logits, labels, per_sequence=True)
    assert per_row[1].item() == pytest.approx(torch.stack(terms[3:]).mean().item(), abs=1e-6)
    with pytest.raises(ValueError, match="every label is -100"):
        answer_loss(logits, torch.full_like(labels, IGNORE_INDEX))


def test_pad_batch_refuses_bad_rows():
    with pytest.raises(ValueError, match="rows is empty"):
        pad_batch([])
    with pytest.raises(ValueError, match="must align"):
        pad_batch([([1, 2], [1])])


def test_sft_lowers_the_answer_loss(course_tokenizer):
    tok = use_course_template(course_tokenizer)
    pairs = [(f"What does `f{i}(x)` do?", f"Return {w} of x.") for i, w in enumerate(["the sum", "the size", "a copy"])]
    rows = tokenize_examples(tok, pairs)
    model = tiny_gpt()
    before = answer_nll(model, rows).mean()
    history = train_sft(model, rows, steps=40, batch_size=3, lr=1e-2)
    after = answer_nll(model, rows).mean()
    assert len(history.train_loss) == 5 and after < before - 1.0
    with pytest.raises(ValueError, match="rows is empty"):
        train_sft(model, [], steps=1)


def test_generate_answers_in_batches_equal_one_at_a_time(course_tokenizer):
    tok = use_course_template(course_tokenizer)
    hf = to_hf(tiny_gpt(seed=3)).eval()
    prompts = ["What does `len(obj)` do?", "Why?", "What does `os.path.join(a, *p)` do?"]
    together = generate_answers(hf, tok, prompts, max_new_tokens=6, batch_size=3)
    alone = [generate_answers(hf, tok, [p], max_new_tokens=6)[0] for p in prompts]
    assert together == alone and all(isinstance(a, str) for a in together)
    with pytest.raises(ValueError, match="to_hf"):
        generate_answers(tiny_gpt(), tok, prompts)


# ----------------------------------------------------------------------------- baselines and scores


def test_baselines_and_rouge():
    assert name_answer("What does `get_terminal_size(fallback)` do?") == "Get terminal size."
    assert name_answer("What does `Path.isDir(self)` do?") == "Is dir."
    train = [Example("What does `read_file(p)` do?", "Read a file."), Example("What does `size(x)` do?", "Size.")]
    assert nearest_answer(["What does `Reader.read_file(self)` do?", "What does `get_size(self)` do?"], train) == \
        ["Read a file.", "Size."]
    scores = rouge_l(["Read a file.", "nothing here"], ["Read the file.", "Read the file."])
    assert scores[0] == pytest.approx(2 / 3) and scores[1] == 0.0
    with pytest.raises(ValueError, match="references"):
        rouge_l(["a"], [])
