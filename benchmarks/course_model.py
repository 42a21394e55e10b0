"""The shipped course model: its size, its loss, and how fast it generates with and without a KV cache.

    python benchmarks/course_model.py [--new-tokens 100] [--repeats 3] [--threads 2] [--folder PATH]

Prints the folder's size and parameter count, the validation loss recorded in
``training.json`` (nats per token and bits per byte), and greedy-decoding speed in new
tokens per second for four ways of generating the same tokens:

* transformers ``generate(do_sample=False)`` with its key-value cache (the default): each
  step runs the model on one new position and reuses the keys and values of the others;
* the same with ``use_cache=False``: each step recomputes the whole prefix;
* ``course_lib.generation.greedy_decode`` on the ``GPT2LMHeadModel``, and on the course's
  ``GPT`` loaded with ``from_hf``: they recompute the prefix, as the course's code does.

All four give the same tokens (checked). Last, the time of one slider move in chapter 06's
decoding lab (``next_token_state``: arithmetic on one vector of logits; target < 100 ms).
Timings are best-of-``--repeats`` on this machine.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.course_model import course_model_path, folder_size, load  # noqa: E402
from course_lib.generation import greedy_decode  # noqa: E402
from course_lib.labs.ch06_decoding import next_token_state, prompt_logits  # noqa: E402
from course_lib.model import from_hf  # noqa: E402

PROMPT = "def read_config(path):\n    \"\"\"Read a configuration file and return a dict.\"\"\"\n"


def best_seconds(fn, repeats: int) -> tuple[float, torch.Tensor]:
    """(fastest wall time in seconds, the last result) of ``repeats`` calls after one warm-up."""
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=pathlib.Path, default=None, help="default: course_model_path()")
    parser.add_argument("--new-tokens", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # the model's max_length and our max_new_tokens: a warning per call
    folder = args.folder or course_model_path()
    model, tok = load(folder)
    gpt = from_hf(model).eval()
    record = json.loads((folder / "training.json").read_text())

    print(f"folder: {folder}")
    print(f"  size {folder_size(folder) / 1e6:.2f} MB (model.safetensors "
          f"{(folder / 'model.safetensors').stat().st_size / 1e6:.2f} MB); budget 20 MB")
    print(f"  {record['parameters']:,} parameters ({record['parameters_non_embedding']:,} without embeddings; "
          f"the file's GPT2LMHeadModel has {model.num_parameters():,}, with to_hf's zero biases), "
          f"vocabulary {model.config.vocab_size:,}, context {model.config.n_positions}, "
          f"{model.config.n_layer} layers x width {model.config.n_embd}")
    print(f"  validation loss {record['final_val_loss_nats']:.3f} nats/token = "
          f"{record['final_val_bits_per_byte']:.3f} bits/byte (training {record['final_train_loss_nats']:.3f} nats); "
          f"{record['tokens_seen']:,} training tokens, build {record['wall_time_s']:.0f} s")
    for name, r in record.get("val_by_corpus", {}).items():
        print(f"    {name}: {r['val_loss_nats']:.3f} nats/token, {r['val_bits_per_byte']:.3f} bits/byte")

    ids = tok(PROMPT, return_tensors="pt")["input_ids"]  # (1, T)
    n = min(args.new_tokens, model.config.n_positions - ids.shape[1])
    mask = torch.ones_like(ids)
    eos = tok.eos_token_id
    common = dict(attention_mask=mask, do_sample=False, max_new_tokens=n)
    cases = {
        "HF generate, KV cache": lambda: model.generate(ids, use_cache=True, **common),
        "HF generate, no cache": lambda: model.generate(ids, use_cache=False, **common),
        "course greedy_decode, HF model": lambda: greedy_decode(model, ids, n, eos_token_id=eos),
        "course greedy_decode, course GPT": lambda: greedy_decode(gpt, ids, n, eos_token_id=eos),
    }
    print(f"\ngreedy decoding of up to {n} new tokens after a {ids.shape[1]}-token prompt, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}:")
    reference = None
    with torch.no_grad():
        for name, fn in cases.items():
            seconds, out = best_seconds(fn, args.repeats)
            same = "" if reference is None else ("  same tokens" if torch.equal(out, reference) else "  DIFFERENT tokens")
            reference = out if reference is None else reference
            n_new = out.shape[1] - ids.shape[1]
            print(f"  {name:34s} {n_new / seconds:8.0f} tokens/s ({n_new} tokens){same}")

    logits = prompt_logits(model, tok, "The quick brown fox")
    seconds, _ = best_seconds(lambda: next_token_state(logits, tok, 0.8, 50, 0.9), max(args.repeats, 5))
    print(f"\nchapter 06 slider move (next_token_state, V = {logits.shape[0]:,}): {1000 * seconds:.1f} ms (target < 100 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
