"""course_lib.chat: chat prompts, and batched greedy answers equal to one-by-one generate()."""
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from course_lib.chat import chat_prompt, greedy_batch
from course_lib.model import GPT, GPTConfig
from course_lib.tokenizer import train_bpe

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TEXT = ("The quick brown fox jumps over the lazy dog.\n" * 20 + "def read(path):\n    return open(path).read()\n" * 10)


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXT, vocab_size=300)


@pytest.fixture(scope="module")
def hf(tok):
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2, initializer_range=0.3,
                        bos_token_id=None, eos_token_id=None)
    return GPT2LMHeadModel(config).eval()


def alone(model, tok, prompt, n):
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n,
                         pad_token_id=tok.eos_token_id)
    return out[0, ids.shape[1]:]


def test_batched_answers_equal_one_by_one_generate(hf, tok):
    prompts = ["The quick", "def read(path):", "The lazy dog", "fox"]
    side = tok.padding_side
    answers = greedy_batch(hf, tok, prompts, max_new_tokens=6, stop=None, batch_size=3)
    assert tok.padding_side == side
    assert len(answers.texts) == len(answers.margins) == 4
    for prompt, text, margin in zip(prompts, answers.texts, answers.margins):
        new = alone(hf, tok, prompt, 6)
        assert text == tok.decode(new, skip_special_tokens=True)
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = hf(torch.cat([ids[0], new])[None]).logits[0, ids.shape[1] - 1:-1]  # (6, V)
        top2 = torch.topk(logits, 2).values
        assert margin == pytest.approx((top2[:, 0] - top2[:, 1]).min().item(), abs=1e-4)


def test_answers_are_cut_at_the_stop_string(hf, tok):
    full = greedy_batch(hf, tok, ["The quick", "fox"], max_new_tokens=12, stop=None)
    cut = greedy_batch(hf, tok, ["The quick", "fox"], max_new_tokens=12, stop="o")
    for a, b in zip(full.texts, cut.texts):
        assert b == a.split("o", 1)[0] and "o" not in b
    assert all(c >= f - 1e-6 for c, f in zip(cut.margins, full.margins)), "fewer tokens decide a cut answer"


def test_bad_input_is_named(hf, tok):
    with pytest.raises(ValueError, match="transformers model"):
        greedy_batch(GPT(GPTConfig(vocab_size=10, context_length=8, n_layer=1, n_head=1, d_model=4)), tok, ["a"])
    with pytest.raises(ValueError, match="list of str"):
        greedy_batch(hf, tok, "one prompt")
    with pytest.raises(ValueError, match="at most 64"):
        greedy_batch(hf, tok, ["The quick brown fox jumps over the lazy dog." * 10])
    with pytest.raises(ValueError, match="no chat template"):
        chat_prompt(tok, "Hello?")


def test_the_real_models_chat_prompt_and_answers(smollm2):
    model, tokenizer = smollm2
    text = chat_prompt(tokenizer, "What is the capital of France?", system="Answer in a few words.")
    assert text.startswith("<|im_start|>system\nAnswer in a few words.<|im_end|>\n<|im_start|>user\n")
    assert text.endswith("<|im_start|>assistant\n")
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    by_template = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    by_template = by_template["input_ids"] if hasattr(by_template, "keys") else by_template
    assert tokenizer(chat_prompt(tokenizer, messages[0]["content"]), add_special_tokens=False)["input_ids"] == by_template
    questions = [chat_prompt(tokenizer, q) for q in ("What is the capital of France?", "Name a primary colour.")]
    answers = greedy_batch(model, tokenizer, questions, max_new_tokens=16)
    assert "Paris" in answers.texts[0] and all(m > 0 for m in answers.margins)
    for prompt, text in zip(questions, answers.texts):
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=16)
        assert tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).split("\n")[0] == text
