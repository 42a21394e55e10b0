"""What bfloat16 autocast and torch.compile buy: training tokens per second of the course GPT.

The model is the "gpu" sweep preset's family (4 layers, context 128, head width 16) at one
width, trained by ``course_lib.train.train`` (the course's one loop) on character ids of
``python_docs()``, in four variants: float32 or ``precision="bfloat16"`` (autocast), eager or
``compile=True``. Each variant trains ``--steps`` steps; the speed is measured over the second
half only (``History.wall_time`` at the middle and the end), so compiling, which happens on the
first step, is reported separately as the first half's extra time. Prints the device, tokens/s,
the speed-up over float32 eager, and the final training loss (the variants should learn alike).

    python benchmarks/precision_compile.py                       # the GPU if there is one, else the CPU
    python benchmarks/precision_compile.py --device cpu --width 64 --steps 40

On a CPU, bfloat16 autocast is usually slower (no bfloat16 matrix units) and compiling pays
only for long runs; on a recent NVIDIA GPU both pay. Nothing here is asserted: it prints.
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from course_lib.device import pick_device
from course_lib.model import GPT, GPTConfig
from course_lib.scaling import char_data
from course_lib.train import train


def run(variant: dict, args, data) -> dict:
    train_ids, _, vocab = data
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=vocab, context_length=128, n_layer=4, n_head=max(1, args.width // 16),
                          d_model=args.width))
    start = time.perf_counter()
    try:
        history = train(model, train_ids, None, steps=args.steps, batch_size=args.batch_size, lr=1e-3,
                        eval_every=args.steps // 2, seed=0, device=args.device, **variant)
    except Exception as err:  # e.g. no C compiler for torch.compile: report, do not crash the table
        return {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:100]}"}
    total = time.perf_counter() - start
    half = args.steps - args.steps // 2
    t_mid, t_end = history.wall_time[0], history.wall_time[-1]
    tokens_per_s = half * args.batch_size * 128 / (t_end - t_mid)
    return {"tokens_per_s": tokens_per_s, "first_half_s": t_mid, "total_s": total, "loss": history.train_loss[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = pick_device(args.device).type
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    print(f"device {args.device} ({name}), torch {torch.__version__}, width {args.width}, batch "
          f"{args.batch_size} x 128, {args.steps} steps, {torch.get_num_threads()} CPU threads")
    data = char_data(2_000_000)
    variants = {"float32, eager": {}, "bfloat16, eager": {"precision": "bfloat16"},
                "float32, compiled": {"compile": True}, "bfloat16, compiled": {"precision": "bfloat16", "compile": True}}
    results = {label: run(v, args, data) for label, v in variants.items()}
    base = results["float32, eager"].get("tokens_per_s")
    print(f"{'variant':20s} {'tokens/s':>10s} {'speed-up':>9s} {'1st half s':>10s} {'loss':>7s}")
    for label, r in results.items():
        if "error" in r:
            print(f"{label:20s} unavailable: {r['error']}")
            continue
        speedup = r["tokens_per_s"] / base if base else float("nan")
        print(f"{label:20s} {r['tokens_per_s']:10,.0f} {speedup:8.2f}x {r['first_half_s']:10.1f} {r['loss']:7.3f}")


if __name__ == "__main__":
    main()
