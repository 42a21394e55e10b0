"""The chapter's live scaling sweep, timed: wall time, R^2, held-out error, fitted exponent.

Runs the same code as ``python -m course_lib.scaling sweep`` (``course_lib.scaling.sweep.run_sweep``,
which trains each model with ``train_one``) with the ``default`` preset, from scratch, and prints
these figures beside their targets:

* wall time of the whole sweep on this machine, corpus loading included (target: at most
  2 minutes on 2 CPU cores), and the CPU time of the training, which is the better measure
  on a machine that other work is also using;
* R^2 of ln L against ln N on all but the largest model (target: at least 0.99);
* the relative error of the predicted loss of the largest model (target: at most 3%);
* the fitted exponent (L ∝ N^exponent, negative) and each run.

    python benchmarks/scaling_sweep.py [--preset default] [--threads 1] [--jobs 1] [--out FILE]

``--jobs 2`` trains two models at a time in two processes (one thread each): the runs, and
so R^2 and the error, are the same as with ``--jobs 1``; only the wall time changes.

The machine's load average is printed before and after: timings on a shared machine are
inflated by whatever else runs, never compare them across machines.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import tempfile
import time

import torch

from course_lib.scaling import PRESETS, run_sweep, sweep_config


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's own choice)")
    parser.add_argument("--jobs", type=int, default=1, help="models trained at once, one process each")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="keep the JSON here (default: a temporary file)")
    args = parser.parse_args()

    config = sweep_config(args.preset, device=args.device)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; torch {torch.__version__}; "
          f"threads {args.threads or torch.get_num_threads()} x jobs {args.jobs}; load average before: {load_average()}")
    print(f"preset {args.preset!r}: widths {list(config.widths)}, n_layer {config.n_layer}, "
          f"{config.tokens:,} tokens per model, batch {config.batch_size} x {config.context_length}, "
          f"lr {config.lr} at width {config.lr_base_width} ({config.lr_rule}); validation "
          f"{config.eval_batches} x {config.eval_batch_size} windows")
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(args.out) if args.out else pathlib.Path(tmp) / "sweep.json"
        t0 = time.perf_counter()
        result = run_sweep(config, out, resume=False, progress=False, threads=args.threads or None, jobs=args.jobs,
                           command="python benchmarks/scaling_sweep.py")
        wall = time.perf_counter() - t0
    print(f"load average after: {load_average()}")
    print(f"{'width':>5s} {'N':>8s} {'D/N':>6s} {'lr':>8s} {'val loss':>9s} {'wall s':>7s} {'CPU s':>6s}")
    for r in result["runs"]:
        print(f"{r['width']:5d} {r['N']:8,d} {r['tokens_per_param']:6.1f} {r['lr']:8.4f} {r['val_loss']:9.4f} "
              f"{r['seconds']:7.1f} {r['cpu_seconds']:6.1f}")
    ok = lambda cond: "meets target" if cond else "MISSES target"  # noqa: E731
    print(f"wall time, whole sweep:      {wall:7.1f} s   ({ok(wall <= 120)} of 120 s; training CPU time "
          f"{result['cpu_seconds']:.1f} s)")
    print(f"R^2 (all but the largest):   {result['r2']:7.4f}   ({ok(result['r2'] >= 0.99)} of 0.99)")
    print(f"held-out error, largest:     {100 * result['holdout_rel_error']:6.2f} %   "
          f"({ok(result['holdout_rel_error'] <= 0.03)} of 3%; predicted {result['predicted_largest_loss']:.4f}, "
          f"measured {result['runs'][-1]['val_loss']:.4f} nats/token)")
    print(f"fitted exponent:             {result['exponent']:7.4f}   (L = {result['coefficient']:.3f} N^exponent; "
          f"all {len(result['runs'])} runs: {result['fit_all']['exponent']:.4f}, R^2 {result['fit_all']['r2']:.4f})")


if __name__ == "__main__":
    main()
