"""Generation with and without a key-value cache: tokens per second on the course model and the real one.

    python benchmarks/kv_cache.py [--new-tokens 200] [--real-new-tokens 50] [--repeats 3] [--threads 2]
                                  [--long-prompt 500] [--no-real] [--device cpu]

Greedy decoding of the same tokens, timed best-of-``--repeats`` after one warm-up:

* the course GPT (4.3M parameters, context 256), with ``course_lib.kv_cache.cached_greedy_decode``
  (the cache written out) and ``course_lib.generation.greedy_decode`` (recomputes the prefix);
  the same weights as a ``GPT2LMHeadModel`` with ``generate(use_cache=True / False)``;
* the real model, SmolLM2-135M-Instruct (``course_lib.pretrained``), with
  ``generate(use_cache=True / False)`` after a short chat prompt and a long one (``--long-prompt`` tokens)
  (``--real-new-tokens`` each: without the cache every step reads the whole prefix again,
  about a second per step on two CPU cores for the long prompt).

Each pair must give the same tokens (checked and printed). Also printed: the load time of
the cached real model, the machine's load average and torch's thread count (a shared
machine runs slower), and the cache's measured size beside the formula
(``llm_choice.kv_cache_bytes``). Figures are for this machine only.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib import llm_choice as lc  # noqa: E402
from course_lib.course_model import load  # noqa: E402
from course_lib.generation import greedy_decode  # noqa: E402
from course_lib.kv_cache import cache_nbytes, cached_greedy_decode  # noqa: E402
from course_lib.model import from_hf  # noqa: E402

CODE_PROMPT = "def read_config(path):\n    \"\"\"Read a configuration file and return a dict.\"\"\"\n"
CHAT = [{"role": "user", "content": "Explain in a few sentences why the sky is blue."}]


def best_times(fn, repeats: int) -> tuple[float, float, torch.Tensor]:
    """(fastest wall seconds, fastest CPU seconds of this process, the last result): ``repeats`` calls after a warm-up.

    With one torch thread, CPU seconds are close to what an idle core would take: a busy machine
    stretches the wall time but not the CPU time (with several threads, waiting threads spin and
    inflate both)."""
    out = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), out


def report(label: str, pairs: dict, n_prompt: int, repeats: int) -> None:
    """Time each way of generating, print tokens/s (wall and CPU) and whether the tokens agree with the first."""
    reference, speeds = None, []
    for name, fn in pairs.items():
        seconds, cpu_seconds, out = best_times(fn, repeats)
        n_new = out.shape[-1] - n_prompt
        same = "" if reference is None else ("  same tokens" if torch.equal(out, reference) else "  DIFFERENT tokens")
        reference = out if reference is None else reference
        speeds.append((n_new / seconds, n_new / cpu_seconds))
        print(f"  {name:44s} {n_new / seconds:8.1f} tokens/s, {n_new / cpu_seconds:8.1f} per CPU-second "
              f"({n_new} new tokens, {seconds:.2f} s){same}", flush=True)
    print(f"  -> the cache is {speeds[0][0] / speeds[1][0]:.1f}x faster in wall time, "
          f"{speeds[0][1] / speeds[1][1]:.1f}x in CPU time ({label})", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new-tokens", type=int, default=200)
    parser.add_argument("--real-new-tokens", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1: CPU time ~ an idle core's time)")
    parser.add_argument("--long-prompt", type=int, default=500, help="tokens of the real model's long prompt")
    parser.add_argument("--no-real", action="store_true", help="skip the pretrained model")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    device = torch.device(args.device)
    load_avg = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"machine: {name}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}")

    model, tok = load()
    model = model.to(device).eval()
    gpt = from_hf(model).eval()
    ids = tok(CODE_PROMPT, return_tensors="pt")["input_ids"].to(device)  # (1, T)
    n = min(args.new_tokens, model.config.n_positions - ids.shape[1] + 1)
    common = dict(attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n, min_new_tokens=n)
    print(f"\ncourse model ({model.num_parameters():,} parameters, context {model.config.n_positions}): "
          f"greedy, {ids.shape[1]}-token prompt, {n} new tokens, best of {args.repeats}")
    with torch.no_grad():
        report("course GPT, written out", {
            "course GPT, kv_cache.cached_greedy_decode": lambda: cached_greedy_decode(gpt, ids, n).ids,
            "course GPT, generation.greedy_decode (no cache)": lambda: greedy_decode(gpt, ids, n),
        }, ids.shape[1], args.repeats)
        report("course model in transformers", {
            "GPT2LMHeadModel, generate(use_cache=True)": lambda: model.generate(ids, use_cache=True, **common),
            "GPT2LMHeadModel, generate(use_cache=False)": lambda: model.generate(ids, use_cache=False, **common),
        }, ids.shape[1], args.repeats)
        cache = cached_greedy_decode(gpt, ids, n).cache
    formula = lc.kv_cache_bytes(lc.shape_of(gpt), cache.length, dtype="float32")
    print(f"  cache after {cache.length} positions: {cache.nbytes:,} bytes measured, {formula:,.0f} by the formula")

    if args.no_real:
        return 0
    from course_lib.pretrained import PretrainedUnavailable, load_pretrained

    start = time.perf_counter()
    try:
        real, real_tok = load_pretrained(fetch_if_missing=False)
    except PretrainedUnavailable as err:
        print(f"\nthe pretrained model is not cached; skipped ({err})")
        return 0
    load_seconds = time.perf_counter() - start
    real = real.to(device).eval()
    print(f"\nSmolLM2-135M-Instruct ({real.num_parameters():,} parameters): loaded from the cache in "
          f"{load_seconds:.1f} s")
    chat = real_tok.apply_chat_template(CHAT, add_generation_prompt=True, return_tensors="pt")["input_ids"]
    long_text = (ROOT / "README.md").read_text(encoding="utf-8")[:6000]
    long_ids = real_tok(long_text, return_tensors="pt")["input_ids"][:, :args.long_prompt]
    for label, prompt in (("short chat prompt", chat), (f"{long_ids.shape[1]}-token prompt", long_ids)):
        prompt = prompt.to(device)
        kw = dict(attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=args.real_new_tokens,
                  min_new_tokens=args.real_new_tokens)
        print(f" {label} ({prompt.shape[1]} tokens), greedy, {args.real_new_tokens} new tokens, best of {args.repeats}:",
              flush=True)
        with torch.no_grad():
            report(f"SmolLM2, {label}", {
                "generate(use_cache=True)": lambda: real.generate(prompt, use_cache=True, **kw),
                "generate(use_cache=False)": lambda: real.generate(prompt, use_cache=False, **kw),
            }, prompt.shape[1], args.repeats)
            past = real(prompt, use_cache=True).past_key_values
        formula = lc.kv_cache_bytes(lc.shape_of(real), prompt.shape[1], dtype="float32")
        print(f"  cache after the prompt: {cache_nbytes(past):,} bytes measured, {formula:,.0f} by the formula")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
