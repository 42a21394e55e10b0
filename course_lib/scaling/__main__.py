"""``python -m course_lib.scaling sweep|grid [options]``: the scaling experiments from the command line.

``sweep`` trains character-level GPTs of several widths (``course_lib.scaling.sweep.run_sweep``),
fits ln L against ln N on all but the largest and predicts the largest; ``grid`` trains an
N x D grid (``course_lib.scaling.grid.run_grid``: budgets or token counts, learning-rate
brackets, seeds). Both write every run to JSON as it finishes; rerun the same command to
resume an interrupted one.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from .grid import GRID_PRESETS, grid_config, run_grid
from .sweep import PRESETS, run_sweep, sweep_config

__all__ = ["main"]


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 16,24,32, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one width")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib.scaling",
                                     description="Scaling-law experiments for the course.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sweep", help="train one model per width, fit ln L against ln N, write JSON",
                       description="Train character-level GPTs of several widths on python_docs(), fit ln L "
                                   "against ln N on all but the largest, predict the largest. Finished runs are "
                                   "saved after each one; rerun the same command to resume.")
    s.add_argument("--preset", default="default", help=f"one of {sorted(PRESETS)} (default: default)")
    s.add_argument("--out", default=None, help="JSON file to write (default: results_scaling_<preset>.json)")
    s.add_argument("--widths", type=_int_list, default=None, help="comma-separated d_model values, e.g. 24,32,40,48,64")
    s.add_argument("--tokens", type=int, default=None, help="training tokens (characters) per model")
    s.add_argument("--n-layer", type=int, default=None, help="depth of every model")
    s.add_argument("--lr", type=float, default=None, help="peak learning rate at --lr-base-width")
    s.add_argument("--lr-base-width", type=int, default=None, help="width at which the peak lr is --lr")
    s.add_argument("--single-lr", action="store_true", help="use --lr for every width instead of lr ∝ 1/width")
    s.add_argument("--batch-size", type=int, default=None)
    s.add_argument("--context-length", type=int, default=None)
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    _common(s)
    g = sub.add_parser("grid", help="train an N x D grid of models (budgets or token counts), write JSON",
                       description="Train the points of an N x D grid: each width at D = C / 6N tokens for every "
                                   "budget C (or a rectangle of token counts), optionally several learning rates "
                                   "and seeds. Finished runs are saved after each one; rerun the same command to "
                                   "resume.")
    g.add_argument("--preset", default="default", help=f"one of {sorted(GRID_PRESETS)} (default: default)")
    g.add_argument("--out", default=None, help="JSON file to write (default: results_grid_<preset>.json)")
    g.add_argument("--widths", type=_int_list, default=None, help="comma-separated d_model values")
    g.add_argument("--seeds", type=_int_list, default=None, help="comma-separated seeds (default: the preset's)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    _common(g)
    return parser


def _common(s) -> None:
    """Options the sweep and the grid share: where the runs train, resuming, progress."""
    s.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads per model (default: 1; 0 keeps torch's own choice)")
    s.add_argument("--jobs", type=int, default=1,
                   help="models trained at once, each in its own process (default: 1); on 2 cores, 2 halves the wall time")
    s.add_argument("--executor", choices=("local", "slurm"), default=None,
                   help="run every model as a submitit job: local (this machine) or slurm (a cluster)")
    s.add_argument("--slurm-partition", default=None, help="SLURM partition for --executor slurm")
    s.add_argument("--timeout-min", type=int, default=60, help="time limit of each job in minutes (default 60)")
    group = s.add_mutually_exclusive_group()
    group.add_argument("--resume", dest="resume", action="store_true", default=True,
                       help="keep finished runs found in --out (the default)")
    group.add_argument("--fresh", dest="resume", action="store_false", help="ignore and overwrite --out")
    s.add_argument("--no-progress", action="store_true", help="no progress bars")


def _report(result: dict, out: pathlib.Path) -> None:
    print(f"{result['trained_runs']} runs trained, {result['resumed_runs']} resumed from {out}")
    for r in result["runs"]:
        print(f"  width {r['width']:4d}  N {r['N']:>10,}  D {r['D']:>11,}  D/N {r['tokens_per_param']:7.1f}  "
              f"lr {r['lr']:.2e}  val loss {r['val_loss']:.4f} nats/token  {r['seconds']:6.1f} s")
    if result["complete"] and result["exponent"] is None:
        print(f"{len(result['runs'])} model(s): a fit on all but the largest needs at least 3 widths.")
    elif result["complete"]:
        print(f"fit on all but the largest: L = {result['coefficient']:.4g} * N^{result['exponent']:.4f}, "
              f"R^2 = {result['r2']:.4f}")
        print(f"largest model: predicted {result['predicted_largest_loss']:.4f}, measured "
              f"{result['runs'][-1]['val_loss']:.4f}, relative error {100 * result['holdout_rel_error']:.2f}%")
        if result.get("floor_fit"):
            f = result["floor_fit"]
            print(f"with a floor: L = {f['floor']:.4g} + {f['coefficient']:.4g} * N^{f['exponent']:.4f}, predicted "
                  f"{f['predicted_largest_loss']:.4f}, relative error {100 * f['holdout_rel_error']:.2f}%")
        print(f"naive guess (the second-largest model's loss): relative error {100 * result['naive_rel_error']:.2f}%")
    if result.get("other_runs"):
        print(f"{len(result['other_runs'])} finished run(s) of other widths kept in {out} (not fitted): "
              f"widths {', '.join(str(r['width']) for r in result['other_runs'])}")
    print(f"training time {result['seconds']:.1f} s wall, {result['cpu_seconds']:.1f} s CPU "
          f"(this invocation {result['wall_seconds']:.1f} s wall); wrote {out}")


def _executor_options(args) -> dict:
    options = {"timeout_min": args.timeout_min}
    if args.executor == "slurm" and args.slurm_partition:
        options["slurm_partition"] = args.slurm_partition
    return options


def _report_grid(result: dict, out: pathlib.Path) -> None:
    print(f"{result['trained_runs']} runs trained, {result['resumed_runs']} resumed from {out}; "
          f"{len(result['runs'])} in the file, {result['planned']} planned, complete: {result['complete']}")
    for r in result["runs"]:
        print(f"  width {r['width']:4d}  N {r['N']:>10,}  D {r['D']:>11,}  C {r['flops']:9.3g}  lr {r['lr']:.2e}  "
              f"seed {r['seed']}  epochs {r['epochs']:4.2f}  val loss {r['val_loss']:.4f}  {r['seconds']:6.1f} s")
    print(f"training time {result['seconds']:.1f} s wall, {result['cpu_seconds']:.1f} s CPU "
          f"(this invocation {result['wall_seconds']:.1f} s wall); wrote {out}")


def _run(out: pathlib.Path, train, report) -> int:
    """``report(train(), out)``, with the command line's exit statuses: 2 for a ValueError, 130 for Ctrl-C."""
    try:
        result = train()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are saved in {out}; rerun the same command to resume.", file=sys.stderr)
        return 130
    report(result, out)
    return 0


def _main_grid(args, argv) -> int:
    out = pathlib.Path(args.out or f"results_grid_{args.preset}.json")

    def train():
        config = grid_config(args.preset, widths=args.widths, seeds=args.seeds)
        if args.device != "auto":
            from dataclasses import replace

            config = replace(config, model=replace(config.model, device=args.device))
        return run_grid(config, out, resume=args.resume, progress=not args.no_progress, threads=args.threads or None,
                        jobs=args.jobs, executor=args.executor, executor_options=_executor_options(args),
                        command="python -m course_lib.scaling " + " ".join(argv))

    return _run(out, train, _report_grid)


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.scaling sweep|grid [options]``; returns the exit status."""
    args = _parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    if args.cmd == "grid":
        return _main_grid(args, argv)
    out = pathlib.Path(args.out or f"results_scaling_{args.preset}.json")

    def train():
        config = sweep_config(
            args.preset, widths=args.widths, tokens=args.tokens, n_layer=args.n_layer, lr=args.lr,
            lr_base_width=args.lr_base_width, batch_size=args.batch_size, context_length=args.context_length,
            seed=args.seed, device=args.device, lr_rule="constant" if args.single_lr else None,
        )
        return run_sweep(config, out, resume=args.resume, progress=not args.no_progress,
                         threads=args.threads or None, jobs=args.jobs, executor=args.executor,
                         executor_options=_executor_options(args), command="python -m course_lib.scaling " + " ".join(argv))

    return _run(out, train, _report)

if __name__ == "__main__":
    sys.exit(main())
