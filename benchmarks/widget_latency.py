"""How long one slider move takes, for the sliders of chapters 02, 03, 04c, 05a, 06 and 07c.

The course promises that an analytic slider update stays under 100 ms. This measures the
function each slider calls (and, where a widget exposes ``update()``, the whole redraw
including the PNG render), best of ``--repeats`` runs, on this machine. Chapter 01's
n-gram explorer has its own benchmark, benchmarks/ngram_speed.py.

    python benchmarks/widget_latency.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import time

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from course_lib import cost, params  # noqa: E402
from course_lib.labs import ch02_attention, ch05_scaling, ch06_decoding, ch07_deployment  # noqa: E402
from course_lib.course_model import course_model_path  # noqa: E402


def best_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    explorer = ch05_scaling.explorer_widget(plot=True)
    power = ch05_scaling.power_law_widget(plot=True)
    choice = ch07_deployment.choice_widget()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(course_model_path())  # the course model's BPE, 4,096 tokens
    logits = torch.randn(len(tokenizer), generator=torch.Generator().manual_seed(0))
    cases = {
        "02 d_k slider: softmax_saturation": lambda: ch02_attention.softmax_saturation(256, scaled=False),
        "02 d_k slider: plot_saturation (figure)": lambda: ch02_attention.plot_saturation(256),
        "03 size sliders: param_share_report": lambda: params.param_share_report(24, 1024),
        "04c cost sliders: training_cost": lambda: cost.training_cost(7e10, 1.4e12),
        "05a explorer: explorer_state": lambda: ch05_scaling.explorer_state(1e9, 2e10, 1e21),
        "05a explorer: analytic update": explorer.update,
        "05a explorer: figure redraw (on release)": explorer.redraw,
        "05a power-law sliders: analytic update": power.update,
        "05a power-law sliders: figure redraw (on release)": power.redraw,
        "06 decoding sliders: next_token_state": lambda: ch06_decoding.next_token_state(logits, tokenizer, 0.8, 20, 0.9),
        "07c LLM-choice sliders: full redraw": choice.update,
    }
    print(f"{'slider':50s} {'best ms':>8s}  (of {args.repeats}; target < 100 ms for an analytic update)")
    for name, fn in cases.items():
        fn()  # warm-up
        ms = best_ms(fn, args.repeats)
        verdict = "ok" if ms < 100 else ("figure: draws on release" if "redraw" in name else "SLOW")
        print(f"{name:50s} {ms:8.1f}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
