"""Asking a model many things at once: chat prompts and batched greedy answers.

An instruction-tuned model answers when the prompt is in its chat format (chapter 06a);
evaluating it means asking many questions, which is much faster in batches (left-padded,
with an attention mask, through ``generate`` and its key-value cache) than one by one.

    prompt = chat_prompt(tokenizer, "What is the capital of France?")   # the template's text
    answers = greedy_batch(model, tokenizer, [prompt, ...], max_new_tokens=32)
    answers.texts[0], answers.margins[0]     # "The capital of France is Paris.", 2.7

Greedy answers are deterministic on one machine; on another CPU, logits differ by about
1e-5, which can flip a choice only where two tokens are that close. ``Answers.margins`` says
how close each answer came, so a notebook can check that its compared answers are safe.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .adapter import check_fits_context, inference, is_hf_model
from .validation import check_int

__all__ = ["chat_prompt", "Answers", "greedy_batch"]


def chat_prompt(tokenizer, message: str, system: str | None = None) -> str:
    """``message`` as one user turn in the tokenizer's chat template, ready for the assistant's answer.

    ``apply_chat_template(..., tokenize=False, add_generation_prompt=True)``: the text with the
    special tokens an instruction-tuned model was tuned on. ValueError, saying so, for a
    tokenizer without a chat template (a base model such as the course model).
    """
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("this tokenizer has no chat template (a base model, such as the course model): give it the "
                         "text to continue instead, e.g. 'Question: ... Answer:'.")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": message}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@dataclass(frozen=True)
class Answers:
    """Greedy answers to a list of prompts (``greedy_batch``).

    Attributes:
        texts: per prompt, the continuation (special tokens dropped), cut before ``stop``.
        margins: per prompt, the smallest margin (logits) by which a greedy choice beat the
            runner-up, over the tokens kept in ``texts`` (and the one that ended it). Logits
            differ between CPUs by about 1e-5: an answer with a margin above 1e-3 is the same
            on every machine.
    """

    texts: tuple[str, ...]
    margins: tuple[float, ...]


def greedy_batch(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 32, stop: str | None = "\n",
                 batch_size: int = 8) -> Answers:
    """Greedy continuations of many prompts through ``generate``, in left-padded batches.

    Args:
        model: a transformers causal LM.
        tokenizer: its tokenizer (a missing padding token is borrowed from EOS; the padding side
            is set to left for the call and restored).
        prompts: the texts to continue (a chat prompt from ``chat_prompt`` is a text too).
        max_new_tokens: the most tokens per answer (generation stops earlier at EOS).
        stop: cut each answer before the first occurrence of this string (None: keep all).
        batch_size: prompts per ``generate`` call.
    """
    if not is_hf_model(model):
        raise ValueError("greedy_batch runs a transformers model's generate(); for a course GPT use greedy_decode.")
    if isinstance(prompts, str) or not prompts:
        raise ValueError("prompts must be a non-empty list of str.")
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    side, pad = tokenizer.padding_side, tokenizer.pad_token
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    texts, margins = [], []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(list(prompts[start:start + batch_size]), return_tensors="pt", padding=True,
                              add_special_tokens=False)
            check_fits_context(model, batch["input_ids"].shape[1])
            with inference(model):
                out = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens, output_scores=True,
                                     return_dict_in_generate=True, pad_token_id=tokenizer.pad_token_id)
            new = out.sequences[:, batch["input_ids"].shape[1]:]  # (b, n)
            top2 = torch.topk(torch.stack(out.scores, dim=1).float(), 2, dim=-1).values  # (b, n, 2)
            for row, gaps in zip(new.tolist(), (top2[..., 0] - top2[..., 1]).tolist()):
                n_kept = _tokens_before(tokenizer, row, stop)
                texts.append(_cut(tokenizer.decode(row[:n_kept], skip_special_tokens=True), stop))
                margins.append(min(gaps[:n_kept]))
    finally:
        tokenizer.padding_side, tokenizer.pad_token = side, pad
    return Answers(tuple(texts), tuple(margins))


def _cut(text: str, stop: str | None) -> str:
    return text if stop is None else text.split(stop, 1)[0]


def _tokens_before(tokenizer, row: list[int], stop: str | None) -> int:
    """How many tokens of ``row`` decide the answer: up to and including the one that brings ``stop`` or EOS."""
    eos = tokenizer.eos_token_id
    for k in range(1, len(row) + 1):
        if row[k - 1] == eos or (stop is not None and stop in tokenizer.decode(row[:k], skip_special_tokens=True)):
            return k
    return len(row)
