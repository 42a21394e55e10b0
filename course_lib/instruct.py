"""Instruction data, chat templates and supervised fine-tuning (SFT) with the loss on the answer only.

A pretrained model continues text. An *assistant* answers: it was further trained on
(instruction, answer) pairs written as a conversation. Three pieces make that work:

* **Data**: ``docstring_examples()`` makes question-answer pairs offline from the course's
  frozen Python source: "What does ``name(args)`` do?" answered by the first sentence of the
  function's docstring (PEP 257's summary line). ``course_model_split`` keeps for evaluation
  only the source files the course model never read (neither their code nor their
  docstrings), and removes from training every question asked in evaluation, so an evaluation
  question is never trained on.
* **Chat template**: a Jinja template stored in the tokenizer that writes a list of messages
  (``{"role": "user", "content": ...}``) as the exact text the model was tuned on;
  ``tokenizer.apply_chat_template`` renders it. SmolLM2 ships one (``<|im_start|>user ...
  <|im_end|>``); ``COURSE_CHAT_TEMPLATE`` is one for the course model's tokenizer, written with
  tokens it already has (``Question:``, ``Answer:``, ``<|endoftext|>``).
* **Masked loss**: ``sft_tokens`` tokenizes prompt and answer and labels the prompt positions
  -100, so ``answer_loss`` (the cross-entropy of the answer tokens only, Hugging Face's
  convention: labels aligned with the inputs, shifted inside) trains the model to answer,
  not to predict the question. ``train_sft`` runs ``course_lib.train.train_loop`` on it.

    examples = docstring_examples()                     # list[Example]
    train, held_out = course_model_split(examples)      # disjoint source files and questions
    ids, labels = sft_tokens(tokenizer, [user(q)], a)   # list[int], prompt positions -100
    history = train_sft(model, rows, steps=200)         # the course's training loop
"""
from __future__ import annotations

import ast
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .adapter import inference, is_hf_model, model_logits
from .course_model import FULL
from .metrics import rouge
from .text import held_out_documents, python_code, python_docs
from .train import History, train_loop
from .validation import check_int, check_positive

__all__ = ["IGNORE_INDEX", "COURSE_CHAT_TEMPLATE", "Example", "check_examples", "docstring_examples",
           "split_by_source", "course_model_split", "user", "chat_messages", "use_course_template", "render_chat",
           "sft_tokens", "tokenize_examples", "pad_batch", "answer_loss", "sft_loss", "train_sft", "sft_course_model", "answer_nll",
           "generate_answers", "summary_format", "rouge_l", "name_answer", "nearest_answer"]

IGNORE_INDEX = -100  # a label that the cross-entropy skips (torch's and Hugging Face's convention)

COURSE_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ message['content'] + '\\n' }}"
    "{%- elif message['role'] == 'user' -%}{{ 'Question: ' + message['content'] + '\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ 'Answer: ' + message['content'] + eos_token }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'Answer:' }}{%- endif -%}"
)
"""The course model's chat template: ``Question: ...\\nAnswer: ...<|endoftext|>``, in tokens it already has."""


# ----------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Example:
    """One instruction pair.

    Attributes:
        prompt: the user's message (the question).
        answer: the reply the model should learn to give.
        source: what the pair was made from (an id: split by it so one source never sits on
            both sides of a train/evaluation split), e.g. the index of a source file.
        unseen: True when the course model read neither the source nor the answer.
    """

    prompt: str
    answer: str
    source: int = 0
    unseen: bool = False


def check_examples(examples, name: str = "examples") -> list[Example]:
    """``examples`` as a list of ``Example``; ValueError, saying what to do, if empty or malformed.

    Accepts ``Example`` objects, ``(prompt, answer)`` pairs and ``{"prompt": ..., "answer": ...}``
    dicts; every prompt and answer must be a non-empty str.
    """
    if isinstance(examples, (str, bytes, dict)) or not isinstance(examples, Sequence):
        raise ValueError(f"{name} must be a list of instruction pairs (Example, (prompt, answer) or "
                         f"{{'prompt': ..., 'answer': ...}}), got {type(examples).__name__}.")
    if len(examples) == 0:
        raise ValueError(f"{name} is empty: give at least one (prompt, answer) pair, e.g. from docstring_examples().")
    out = []
    for i, item in enumerate(examples):
        if isinstance(item, Example):
            ex = item
        elif isinstance(item, dict) and {"prompt", "answer"} <= set(item):
            ex = Example(item["prompt"], item["answer"], item.get("source", 0))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            ex = Example(item[0], item[1])
        else:
            raise ValueError(f"{name}[{i}] is {item!r:.80}: each pair must be an Example, a (prompt, answer) "
                             "tuple or a dict with the keys 'prompt' and 'answer'.")
        for field in ("prompt", "answer"):
            value = getattr(ex, field)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name}[{i}] has {field} {value!r:.60}: it must be a non-empty str.")
        out.append(ex)
    return out


def _first_sentence(docstring: str) -> str:
    paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    end = re.search(r"\.(\s|$)", paragraph)
    return paragraph[: end.start() + 1] if end else paragraph


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args]
    names += [f"*{a.vararg.arg}"] if a.vararg else []
    names += [x.arg for x in a.kwonlyargs] + ([f"**{a.kwarg.arg}"] if a.kwarg else [])
    return ", ".join(names)


def _functions(tree: ast.AST):
    """(qualified name, node) of every function and method of a module, in source order."""
    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + child.name, child
    yield from visit(tree, "")


@functools.lru_cache(maxsize=4)
def _examples(min_words: int, max_words: int) -> tuple[Example, ...]:
    code = python_code().documents
    docs = [d for d in python_docs().documents if d.strip()]
    seen_docs = set(held_out_documents(docs, FULL.val_fraction)[0])  # docstrings the course model trained on
    trained_files = [i for i in range(0, len(code), FULL.code_every) if code[i].strip()]
    seen_files = set(held_out_documents([code[i] for i in trained_files], FULL.val_fraction)[0])  # its code
    out, done = [], set()
    for i, src in enumerate(code):
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for name, node in _functions(tree):
            doc = ast.get_docstring(node, clean=True)
            if not doc:
                continue
            answer = _first_sentence(doc)
            n = len(answer.split())
            if not (min_words <= n <= max_words and answer.endswith(".") and answer.isascii() and answer[0].isupper()
                    and ">>>" not in answer):
                continue
            prompt = f"What does `{name}({_signature(node)})` do?"
            if (i, prompt) in done:
                continue
            done.add((i, prompt))
            out.append(Example(prompt, answer, i, unseen=doc not in seen_docs and src not in seen_files))
    return tuple(out)


def docstring_examples(min_words: int = 3, max_words: int = 16) -> list[Example]:
    """Question-answer pairs from the functions of Python's standard library (the course's frozen source).

    For every function or method with a docstring whose first sentence has ``min_words`` to
    ``max_words`` words, starts with a capital and ends with a full stop: the prompt
    "What does `Class.name(self, x)` do?" and that sentence as the answer; ``source`` is the
    index of its file in ``python_code().documents``; ``unseen`` is True when the course
    model trained on neither that file nor that docstring (its build's split). Identical
    questions within one file are kept once. About 15 s the first time, then cached.
    """
    min_words = check_int(min_words, "min_words", minimum=1)
    max_words = check_int(max_words, "max_words", minimum=min_words)
    return list(_examples(min_words, max_words))


def split_by_source(examples, eval_sources) -> tuple[list[Example], list[Example]]:
    """(train, evaluation): evaluation holds the pairs whose ``source`` is in ``eval_sources``.

    Training loses every pair whose prompt is also asked in evaluation (the same question
    from another file), so no evaluation question is trained on. ValueError if either side
    ends up empty.
    """
    examples = check_examples(examples)
    eval_sources = set(eval_sources)
    held = [e for e in examples if e.source in eval_sources]
    asked = {e.prompt for e in held}
    train = [e for e in examples if e.source not in eval_sources and e.prompt not in asked]
    if not held or not train:
        raise ValueError(f"the split leaves {len(train)} training and {len(held)} evaluation pairs; choose "
                         "eval_sources that hold some, but not all, of the sources.")
    return train, held


def course_model_split(examples=None) -> tuple[list[Example], list[Example]]:
    """(train, evaluation) for the course model: evaluation is every file the model never read.

    A file goes to evaluation when all its pairs are ``unseen`` (neither its code nor its
    docstrings were in the course model's training text); everything else trains, minus the
    questions asked in evaluation (``split_by_source``).
    """
    examples = docstring_examples() if examples is None else check_examples(examples)
    by_file: dict[int, list[bool]] = {}
    for e in examples:
        by_file.setdefault(e.source, []).append(e.unseen)
    return split_by_source(examples, [s for s, flags in by_file.items() if all(flags)])


# ----------------------------------------------------------------------------- chat templates


def user(content: str) -> dict:
    """A user message, ``{"role": "user", "content": content}``."""
    return {"role": "user", "content": content}


def chat_messages(prompt: str, answer: str | None = None, system: str | None = None) -> list[dict]:
    """The conversation [system?, user, assistant?] as the list of dicts chat templates take."""
    messages = ([{"role": "system", "content": system}] if system is not None else []) + [user(prompt)]
    return messages + ([{"role": "assistant", "content": answer}] if answer is not None else [])


def use_course_template(tokenizer):
    """Give a tokenizer ``COURSE_CHAT_TEMPLATE`` (in place) and return it; needs an ``eos_token``."""
    if getattr(tokenizer, "eos_token", None) is None:
        raise ValueError("the template ends each answer with the tokenizer's eos_token, and this tokenizer has none; "
                         "set tokenizer.eos_token first.")
    tokenizer.chat_template = COURSE_CHAT_TEMPLATE
    return tokenizer


def render_chat(tokenizer, messages: list[dict], add_generation_prompt: bool = False, template: str | None = None) -> str:
    """The text a chat template makes of ``messages`` (``apply_chat_template(..., tokenize=False)``).

    ``template``: the name of one of the tokenizer's templates (when it holds several) or a
    Jinja string; None uses its default. ValueError, saying what to do, when the tokenizer
    has no template or no template of that name.
    """
    own = getattr(tokenizer, "chat_template", None)
    if template is None and not own:
        raise ValueError("this tokenizer has no chat template: give it one (use_course_template(tokenizer), or "
                         "tokenizer.chat_template = '<a Jinja template>') or pass template=.")
    if template is not None and "{" not in template and not (isinstance(own, dict) and template in own):
        names = sorted(own) if isinstance(own, dict) else (["default"] if own else [])
        raise ValueError(f"the tokenizer has no chat template called {template!r} (it has: {names or 'none'}); "
                         "pass one of those names, a Jinja template string, or None for the default.")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages):
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts with str values.")
    kw = {} if template is None else {"chat_template": template}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt, **kw)


def sft_tokens(tokenizer, prompt: str, answer: str, system: str | None = None) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` of one pair: the rendered prompt, then the answer; prompt labels are -100.

    The prompt is the template's text up to and including the generation prompt (what the
    model sees when asked); the answer is the rest of the full conversation's text (the
    reply and the template's end-of-turn marks, which teach the model to stop). Each part is
    tokenized on its own, so the ids are exactly what generation would see after the prompt.
    """
    prompt_text = render_chat(tokenizer, chat_messages(prompt, system=system), add_generation_prompt=True)
    full_text = render_chat(tokenizer, chat_messages(prompt, answer, system=system))
    if not full_text.startswith(prompt_text):
        raise ValueError("this chat template writes the conversation differently from its generation prompt; "
                         "its answers cannot be separated from the prompt.")
    p = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    a = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
    return p + a, [IGNORE_INDEX] * len(p) + a


def tokenize_examples(tokenizer, examples, system: str | None = None, max_tokens: int | None = None) -> list[tuple]:
    """``sft_tokens`` of every pair: a list of (input_ids, labels); pairs longer than ``max_tokens`` are dropped."""
    rows = [sft_tokens(tokenizer, e.prompt, e.answer, system) for e in check_examples(examples)]
    if max_tokens is not None:
        rows = [r for r in rows if len(r[0]) <= check_int(max_tokens, "max_tokens", minimum=2)]
    return rows


def pad_batch(rows, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (input_ids, labels) rows: (B, T) int64 ids (``pad_id``) and (B, T) labels (-100).

    Right padding needs no attention mask in a causal model: the padding comes after every
    real token, so no real token attends to it, and its labels are ignored.
    """
    if not rows:
        raise ValueError("rows is empty: give at least one (input_ids, labels) pair (see tokenize_examples).")
    T = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), T), IGNORE_INDEX, dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        if len(x) != len(y):
            raise ValueError(f"row {i} has {len(x)} ids but {len(y)} labels; they must align (see sft_tokens).")
        ids[i, : len(x)], labels[i, : len(y)] = torch.tensor(x), torch.tensor(y)
    return ids, labels


# ----------------------------------------------------------------------------- the loss and training


def answer_loss(logits: torch.Tensor, labels: torch.Tensor, per_sequence: bool = False) -> torch.Tensor:
    """Cross-entropy of the answer tokens, nats per token: the SFT loss.

    ``logits`` (B, T, V) and ``labels`` (B, T), aligned with the inputs (Hugging Face's
    convention): position t predicts ``labels[:, t + 1]``, and -100 labels are skipped.
    Returns the mean over every answer token of the batch (0-d; what ``model(ids,
    labels=labels).loss`` gives), or with ``per_sequence`` each sequence's own mean (B,).
    """
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(f"need logits (B, T, V) and labels (B, T); got {tuple(logits.shape)} and {tuple(labels.shape)}.")
    target = labels[:, 1:]  # (B, T-1): the token each position must predict
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), target, ignore_index=IGNORE_INDEX,
                          reduction="none")  # (B, T-1), 0 where ignored
    counted = (target != IGNORE_INDEX).float()
    if counted.sum() == 0:
        raise ValueError("no answer tokens to score: every label is -100.")
    if per_sequence:
        return nll.sum(1) / counted.sum(1).clamp(min=1)
    return nll.sum() / counted.sum()


def sft_loss(model, batch) -> torch.Tensor:
    """``answer_loss`` of a model on a batch ``(input_ids, labels)``: the ``loss_fn`` of ``train_sft``."""
    ids, labels = batch
    return answer_loss(model_logits(model, ids), labels.to(ids.device))


def _random_rows(rows, batch_size):
    def next_batch(step, g):
        pick = torch.randint(len(rows), (batch_size,), generator=g).tolist()
        return pad_batch([rows[i] for i in pick])
    return next_batch


def train_sft(model, rows, steps: int, batch_size: int = 16, lr: float = 1e-4, val_rows=None, eval_every: int | None = None,
              weight_decay: float = 0.0, seed: int = 0, num_threads: int | None = None, loss_fn=None,
              progress: bool = False) -> History:
    """Supervised fine-tuning: ``train_loop`` on random batches of (input_ids, labels) rows; returns a ``History``.

    Each step draws ``batch_size`` rows (with replacement), pads them (``pad_batch``) and
    takes one AdamW step on ``answer_loss`` (or ``loss_fn(model, batch)``); warmup over 10%
    of the steps, cosine decay to lr / 10, gradient clipping at 1. Only parameters with
    ``requires_grad`` train (LoRA freezes the rest). ``val_rows``: held-out rows whose mean
    answer loss is recorded at every evaluation (every ``eval_every`` steps, default 5
    evaluations).
    """
    if not rows:
        raise ValueError("rows is empty: tokenize some pairs first (tokenize_examples).")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    val = None if not val_rows else (lambda m: float(answer_nll(m, val_rows).mean()))
    return train_loop(model, _random_rows(rows, batch_size), loss_fn or sft_loss, steps, lr=check_positive(lr, "lr"),
                      weight_decay=weight_decay, eval_every=eval_every or max(1, steps // 5), val_loss_fn=val,
                      seed=seed, num_threads=num_threads, progress=progress, desc="SFT")


def sft_course_model(train_examples, steps: int = 200, batch_size: int = 16, lr: float = 2e-3, seed: int = 0,
                     num_threads: int | None = 1):
    """Chapter 08a's recipe: the course model fine-tuned on ``train_examples``; returns (GPT, tokenizer, History).

    Loads the course model (``load_course_gpt``), gives its tokenizer ``COURSE_CHAT_TEMPLATE``,
    tokenizes the pairs (``tokenize_examples``, at most the model's context) and runs
    ``train_sft`` with these settings (AdamW, warmup then cosine decay, no weight decay).
    """
    from .course_model import load_course_gpt

    model, tokenizer = load_course_gpt()
    use_course_template(tokenizer)
    rows = tokenize_examples(tokenizer, train_examples, max_tokens=model.config.context_length)
    history = train_sft(model, rows, steps, batch_size=batch_size, lr=lr, seed=seed, num_threads=num_threads)
    return model, tokenizer, history


def answer_nll(model, rows, batch_size: int = 16) -> np.ndarray:
    """Each row's answer loss (nats per answer token) under ``model``: a (len(rows),) float array."""
    out = []
    with inference(model):
        for i in range(0, len(rows), batch_size):
            ids, labels = pad_batch(rows[i : i + batch_size])
            out.append(answer_loss(model_logits(model, ids), labels.to(ids.device), per_sequence=True).cpu())
    return torch.cat(out).numpy().astype(float)


# ----------------------------------------------------------------------------- answers and their scores


def generate_answers(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 24, system: str | None = None,
                     batch_size: int = 32, temperature: float = 0.0, seed: int = 0) -> list[str]:
    """Answers of a chat model to ``prompts`` (user messages), one line each, without the template's marks.

    ``model`` is a transformers causal LM or a peft model around one (convert a course GPT
    with ``course_lib.model.to_hf``). The prompts are rendered with the tokenizer's template
    and generation prompt, left-padded in batches (an attention mask hides the padding) and
    decoded until the end-of-turn token (``eos_token``) or ``max_new_tokens``: greedily when
    ``temperature`` is 0, else sampled at that temperature from the full distribution (batch
    i seeded with ``seed + i``). The text is cut at its first newline and stripped.
    """
    if not (is_hf_model(model) or hasattr(model, "peft_config")):
        raise ValueError("generate_answers needs a transformers model (or a peft model around one); convert a course "
                         "GPT with course_lib.model.to_hf.")
    texts = [render_chat(tokenizer, chat_messages(p, system=system), add_generation_prompt=True) for p in prompts]
    eos = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    sampling = {"do_sample": False} if temperature == 0 else {"do_sample": True, "top_k": 0, "top_p": 1.0,
                                                              "temperature": check_positive(temperature, "temperature")}
    answers = []
    for i in range(0, len(encoded), check_int(batch_size, "batch_size", minimum=1)):
        chunk = encoded[i : i + batch_size]
        T = max(len(x) for x in chunk)
        ids = torch.tensor([[eos] * (T - len(x)) + x for x in chunk])  # (B, T), padded on the left
        mask = torch.tensor([[0] * (T - len(x)) + [1] * len(x) for x in chunk])  # (B, T), 0 = padding
        torch.manual_seed(seed + i)
        with inference(model):
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, eos_token_id=eos,
                                 pad_token_id=eos, **sampling)
        for row in out[:, T:]:
            answers.append(tokenizer.decode(row, skip_special_tokens=True).strip().split("\n")[0].strip())
    return answers


def summary_format(answer: str, min_words: int = 3, max_words: int = 16) -> bool:
    """Whether an answer has the data's form: one sentence of ``min_words``-``max_words`` words, capitalised, ending in '.'."""
    words = answer.split()
    return (min_words <= len(words) <= max_words and answer[:1].isupper() and answer.endswith(".")
            and "`" not in answer)


def rouge_l(answers: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """ROUGE-L F1 of each answer against its reference (``course_lib.metrics.rouge``): a float array in [0, 1]."""
    if len(answers) != len(references):
        raise ValueError(f"got {len(answers)} answers for {len(references)} references.")
    return np.array([rouge(a, r)["rougeL"].fmeasure for a, r in zip(answers, references)], dtype=float)


def _name_words(prompt: str) -> list[str]:
    name = re.search(r"`([\w.]+)\(", prompt)
    name = name.group(1).split(".")[-1] if name else prompt
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ")
    return [w.lower() for w in spaced.split()]


def name_answer(prompt: str) -> str:
    """The "copy the question" baseline: the function's name as a sentence (`get_terminal_size` -> "Get terminal size.")."""
    words = _name_words(prompt) or ["do", "it"]
    return " ".join(words).capitalize() + "."


def nearest_answer(prompts: Sequence[str], train) -> list[str]:
    """The retrieval baseline: for each prompt, the answer of the training pair whose name shares most words.

    Similarity is the Jaccard overlap of the function names' words (``get_size`` and
    ``size`` share one of two); ties go to the earlier training pair.
    """
    train = check_examples(train, "train")
    keys = [set(_name_words(e.prompt)) for e in train]
    out = []
    for p in prompts:
        words = set(_name_words(p))
        best = max(range(len(train)), key=lambda j: (len(words & keys[j]) / max(1, len(words | keys[j])), -j))
        out.append(train[best].answer)
    return out
