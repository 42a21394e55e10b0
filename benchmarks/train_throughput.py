"""Training throughput: course_lib's GPT against transformers' GPT2LMHeadModel.

All models have the same size (vocab 256, context 128, 4 layers, 4 heads, width 128),
the same batch (32 x 128 tokens), float32, no dropout, the same AdamW and the same loss
(``F.cross_entropy`` on all positions). They are timed in alternating rounds so that a
machine that speeds up or slows down affects all alike. Prints tokens/s for each, the
ratio to GPT2LMHeadModel, and model FLOPs utilisation (MFU) against this machine's
measured float32 matmul peak.

The variants separate what each design choice buys:

* course_lib GPT: the defaults (exact GELU, no biases, fused causal attention).
* course_lib GPT with GPT-2's biases, and with GPT-2's tanh GELU: one choice undone each.
* HF GPT2LMHeadModel: ``GPT2Config`` defaults for everything but the size and dropout
  (so GPT-2's ``gelu_new`` activation and biases), the headline comparison.
* HF GPT2LMHeadModel via to_hf: our exact arithmetic inside transformers' code.

    python benchmarks/train_throughput.py [--threads 2] [--rounds 6] [--steps 10]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from course_lib.compute import matmul_peak_flops
from course_lib.model import GPT, GPTConfig, to_hf

CONFIG = dict(vocab_size=256, context_length=128, n_layer=4, n_head=4, d_model=128)
BATCH = 32


def variants() -> dict:
    """name -> (model, loss function), all initialised from seed 0."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    ours = GPT(GPTConfig(**CONFIG))
    hf_default = GPT2LMHeadModel(GPT2Config(
        vocab_size=CONFIG["vocab_size"], n_positions=CONFIG["context_length"], n_embd=CONFIG["d_model"],
        n_layer=CONFIG["n_layer"], n_head=CONFIG["n_head"], resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=None, eos_token_id=None,
    ))
    return {
        "course_lib GPT": (ours, ours_loss),
        "  + GPT-2 biases": (GPT(GPTConfig(**CONFIG, bias=True)), ours_loss),
        "  + GPT-2 tanh GELU": (GPT(GPTConfig(**CONFIG, activation="gelu_tanh")), ours_loss),
        "HF GPT2LMHeadModel": (hf_default, hf_loss),
        "HF via to_hf (same math)": (to_hf(ours), hf_loss),
    }


def make_step(model, loss_fn):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)

    def step(x, y):
        loss = loss_fn(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    return step


def ours_loss(model, x, y):
    return model(x, y)[1]


def hf_loss(model, x, y):
    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))


def time_steps(step, batches) -> float:
    t0 = time.perf_counter()
    for x, y in batches:
        step(x, y)
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=10, help="training steps per model per round")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    models = variants()
    g = torch.Generator().manual_seed(0)
    T, V = CONFIG["context_length"], CONFIG["vocab_size"]
    batches = [
        (torch.randint(V, (BATCH, T), generator=g), torch.randint(V, (BATCH, T), generator=g))
        for _ in range(args.steps)
    ]
    steps = {name: make_step(model.train(), loss_fn) for name, (model, loss_fn) in models.items()}
    for step in steps.values():  # warm-up: allocator, kernels, optimizer state
        time_steps(step, batches[:3])

    seconds = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            seconds[name].append(time_steps(step, batches))

    tokens = args.steps * BATCH * T
    peak = matmul_peak_flops()
    ours = models["course_lib GPT"][0]
    flops_per_token = ours.flops_per_token()
    print(f"machine: {platform.machine()}, {platform.processor() or platform.system()}; torch {torch.__version__}; "
          f"threads {args.threads}")
    print(f"config: {CONFIG}, batch {BATCH}, float32; {ours.num_params():,} non-embedding parameters; "
          f"{flops_per_token / 1e6:.2f} MFLOPs/token")
    print(f"measured float32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
    baseline = statistics.median(seconds["HF GPT2LMHeadModel"])
    print(f"{'model':26s} {'tokens/s':>10s}  {'vs HF':>6s}  {'MFU':>6s}   (median of {args.rounds} rounds)")
    for name, ts in seconds.items():
        rate = tokens / statistics.median(ts)
        mfu = rate * flops_per_token / peak
        print(f"{name:26s} {rate:10,.0f}  {baseline / statistics.median(ts):5.2f}x  {100 * mfu:5.1f}%")
    ratio = baseline / statistics.median(seconds["course_lib GPT"])
    print(f"speed-up of course_lib GPT over GPT2LMHeadModel: {ratio:.2f}x")


if __name__ == "__main__":
    main()
