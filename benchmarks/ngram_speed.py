"""Speed of course_lib.ngram and the chapter-01 lab: fitting on the docs corpus, the sweep, a slider update.

Chapter 01 promises that a 2-million-byte n-gram fit takes well under a second, that
the data-scale grid is computed once in seconds, and that moving a slider (a lookup,
a few artist updates and one PNG render) stays near 100 ms.

    python benchmarks/ngram_speed.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from course_lib.labs.ch01_ngrams import ScaleExplorer, scale_state
from course_lib.ngram import NGramModel, as_ids, data_scale_curve
from course_lib.text import python_docs


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    ids = as_ids(python_docs().text)
    train, val = ids[:-227_000], ids[-227_000:]
    print(f"train {len(train):,} bytes, held-out {len(val):,} bytes")
    for smoothing in ("add-k", "witten-bell"):
        for n in (3, 6):
            fit = best_of(lambda: NGramModel(n, k=0.01, smoothing=smoothing).fit(train), args.repeats)
            model = NGramModel(n, k=0.01, smoothing=smoothing).fit(train)
            score = best_of(lambda: model.cross_entropy(val), args.repeats)
            print(f"{smoothing:12s} n={n}: fit {fit * 1e3:7.1f} ms, score held-out {score * 1e3:7.1f} ms")

    sizes = np.unique(np.round(np.geomspace(1e4, 2e6, 12), -3).astype(int))
    for smoothing, orders in (("add-k", range(1, 7)), ("witten-bell", range(1, 8))):
        start = time.perf_counter()
        curve = data_scale_curve(train, val, sizes, orders, k=0.01, smoothing=smoothing)
        print(f"sweep {smoothing:12s} {len(curve.orders)} orders x {len(sizes)} sizes: "
              f"{time.perf_counter() - start:6.2f} s")

    lookup = best_of(lambda: scale_state(curve, 123_456, 4), 200)
    explorer = ScaleExplorer(curve)
    updates = []
    for i in range(20):
        start = time.perf_counter()
        explorer.update(int(sizes[i % len(sizes)]), 1 + i % 6)
        explorer.png()
        updates.append(time.perf_counter() - start)
    print(f"slider: lookup {lookup * 1e6:.0f} us; update + PNG render median "
          f"{statistics.median(updates) * 1e3:.0f} ms, max {max(updates) * 1e3:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
