"""The chapter's live scaling sweep, timed and judged: wall time, baselines, the held-out prediction.

Runs the same code as ``python -m course_lib.scaling sweep`` (``course_lib.scaling.sweep.run_sweep``,
which trains each model with ``train_one``) with the ``default`` preset, from scratch, and prints
these figures beside their targets:

* wall time of the whole sweep on this machine (target: at most 3 minutes on 2 CPU cores with
  ``--jobs 2``), and the CPU time of the training, the better measure on a shared machine;
* every model's validation loss in bits per character beside a bigram table and ``gzip -9`` on
  the same validation text (targets: every model beats the bigram, the largest beats gzip);
* the prediction of the largest model from the others, ``L = E' + A N^-alpha`` with a 90%
  bootstrap interval (resampled runs, and the seed-to-seed spread stored with the grid in
  ``data/scaling_grid.json``), beside the naive guess "no better than the second largest"
  (targets: the measurement inside the interval, the error at most 2% and at most half the
  naive guess's); a pure power law for comparison.

    python benchmarks/scaling_sweep.py [--preset default] [--threads 1] [--jobs 2] [--out FILE]

The runs, and so every loss and fit, are the same for any ``--jobs``; only the wall time changes.
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

import numpy as np

from course_lib.baselines import baseline_table
from course_lib.scaling import PRESETS, bootstrap_prediction, load_grid, run_sweep, seed_spread, sweep_config
from course_lib.text import python_docs
from course_lib.units import LN2

GRID = pathlib.Path(__file__).resolve().parents[1] / "data" / "scaling_grid.json"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's own choice)")
    parser.add_argument("--jobs", type=int, default=2, help="models trained at once, one process each")
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
    train_text, val_text = python_docs(config.max_chars).split(config.val_fraction)
    table = baseline_table(train_text, val_text, unit="character")
    bigram, gzip = table.rows["bigram (Witten-Bell)"], table.rows["gzip -9"]
    runs = result["runs"]
    print(f"{'width':>5s} {'N':>8s} {'D/N':>6s} {'lr':>8s} {'bits/char':>9s} {'-bigram':>8s} {'-gzip':>7s} "
          f"{'wall s':>7s} {'CPU s':>6s}")
    for r in runs:
        bits = r["val_loss"] / LN2
        print(f"{r['width']:5d} {r['N']:8,d} {r['tokens_per_param']:6.1f} {r['lr']:8.4f} {bits:9.3f} "
              f"{bits - bigram:+8.3f} {bits - gzip:+7.3f} {r['seconds']:7.1f} {r['cpu_seconds']:6.1f}")
    print(f"baselines on the same {table.n_val_characters:,} validation characters (bits/char): "
          + ", ".join(f"{k} {v:.3f}" for k, v in table.rows.items()))

    N = np.array([r["N"] for r in runs], dtype=float)
    L = np.array([r["val_loss"] for r in runs])
    spread = seed_spread(load_grid(GRID)["runs"])["rel_sd"]
    floor = bootstrap_prediction(N[:-1], L[:-1], N[-1], floor=True, seed_rel_sd=spread)
    pure = bootstrap_prediction(N[:-1], L[:-1], N[-1], floor=False, seed_rel_sd=spread)
    measured, naive = L[-1], abs(L[-2] - L[-1]) / L[-1]
    err = abs(floor.predicted - measured) / measured
    ok = lambda cond: "meets target" if cond else "MISSES target"  # noqa: E731
    print(f"wall time, whole sweep:      {wall:7.1f} s   ({ok(wall <= 180)} of 180 s; training CPU time "
          f"{result['cpu_seconds']:.1f} s)")
    print(f"every model beats bigram:    {all(r['val_loss'] / LN2 < bigram for r in runs)!s:>7s}   "
          f"({ok(all(r['val_loss'] / LN2 < bigram for r in runs))})")
    print(f"largest beats gzip -9:       {measured / LN2:7.3f}   ({ok(measured / LN2 < gzip)}: gzip {gzip:.3f} bits/char)")
    print(f"prediction, E' + A N^-alpha: {floor.predicted:7.4f}   90% interval [{floor.low:.4f}, {floor.high:.4f}], "
          f"measured {measured:.4f} nats/char ({ok(floor.contains(measured))}: inside)")
    print(f"error, floor fit:            {100 * err:6.2f} %   ({ok(err <= 0.02 and err <= naive / 2)} of 2% and "
          f"half the naive {100 * naive:.2f}%)")
    print(f"error, pure power law:       {100 * abs(pure.predicted - measured) / measured:6.2f} %   "
          f"(interval [{pure.low:.4f}, {pure.high:.4f}]); seed spread used {100 * spread:.2f}%")


if __name__ == "__main__":
    main()
