"""Data-parallel training on CPU: tokens per second with 1 and 2 processes (torchrun, gloo).

Each run trains the same GPT (4 layers, width 128, context 128) on random token ids for a
fixed number of steps with the same *global* batch; with P processes each trains on
B / P windows and DDP averages the gradients. Prints the tokens per second of each and the
speed-up. One torch thread per process, so P processes use P cores.

    python benchmarks/ddp_throughput.py [--steps 30] [--batch 32] [--max-procs 2]

Timings depend on the machine and on what else runs on it (the load average is printed).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

WORKER = r'''
import json, os, sys, time, torch
from course_lib.model import GPT, GPTConfig
from course_lib.train import train
torch.set_num_threads(1)
steps, batch = int(sys.argv[1]), int(sys.argv[2])
data = torch.randint(0, 1024, (200_000,), generator=torch.Generator().manual_seed(0))
torch.manual_seed(0)
model = GPT(GPTConfig(vocab_size=1024, context_length=128, n_layer=4, n_head=4, d_model=128))
train(model, data, None, steps=2, batch_size=batch, lr=1e-3, device="cpu", progress=False)  # warm-up
start = time.perf_counter()
h = train(model, data, None, steps=steps, batch_size=batch, lr=1e-3, device="cpu", progress=False)
seconds = time.perf_counter() - start
if int(os.environ.get("RANK", "0")) == 0:
    json.dump({"seconds": seconds, "tokens": h.tokens[-1], "loss": h.train_loss[-1]}, open(sys.argv[3], "w"))
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32, help="global batch (windows of 128 tokens)")
    parser.add_argument("--max-procs", type=int, default=2)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        worker = os.path.join(tmp, "worker.py")
        open(worker, "w").write(WORKER)
        base = None
        for procs in range(1, args.max_procs + 1):
            out = os.path.join(tmp, f"{procs}.json")
            env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
            env["OMP_NUM_THREADS"] = "1"
            cmd = ([sys.executable, worker] if procs == 1 else
                   [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), worker])
            t0 = time.perf_counter()
            subprocess.run(cmd + [str(args.steps), str(args.batch), out], check=True, env=env)
            r = json.load(open(out))
            speed = r["tokens"] / r["seconds"]
            base = base or speed
            print(f"{procs} process(es): {r['tokens']:,} tokens in {r['seconds']:.1f} s = {speed:,.0f} tokens/s "
                  f"({speed / base:.2f}x); last training loss {r['loss']:.4f}; {time.perf_counter() - t0:.0f} s "
                  "with start-up")


if __name__ == "__main__":
    main()
