"""How long grading a class takes: N copies of one exercise set's solution, graded with --jobs J.

    python benchmarks/grade_class.py                      # 40 copies of set 02, --jobs 2
    python benchmarks/grade_class.py --set 05 --copies 10 --jobs 1

Prints the wall time, the time per notebook (start of the worker, set-up cell, tests), the
sandbox used and the machine's load before and after (numbers vary with the machine and
its load: they are printed here, never asserted in tests). Every copy must get full marks;
the script exits 1 if one does not.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_grader.grade import GradeOptions  # noqa: E402
from course_grader.gradebook import grade_class  # noqa: E402
from course_grader.sandbox import sandbox_kind  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="02", help="chapter of the exercise set (default 02)")
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    (solution,) = sorted((ROOT / "solutions").glob(f"{args.set}_*_exercises.ipynb"))
    with tempfile.TemporaryDirectory(prefix="grade-class-") as tmp:
        root = pathlib.Path(tmp) / "submissions"
        for i in range(args.copies):
            (root / f"student{i:02d}").mkdir(parents=True)
            shutil.copy(solution, root / f"student{i:02d}" / solution.name)
        load_before = os.getloadavg()
        start = time.perf_counter()
        grade_class([str(root)], GradeOptions(), str(pathlib.Path(tmp) / "grades.json"), jobs=args.jobs,
                    progress=False)
        wall = time.perf_counter() - start
        load_after = os.getloadavg()
        subs = json.loads((pathlib.Path(tmp) / "grades.json").read_text(encoding="utf-8"))["submissions"]
    full = sum(s["score"] == s["max_score"] for s in subs)
    per = {k: [s["timings"].get(k, 0.0) for s in subs] for k in ("start", "setup", "tests", "total")}
    print(f"{args.copies} copies of {solution.name}, --jobs {args.jobs}, sandbox {sandbox_kind()}, "
          f"{os.cpu_count()} CPU cores")
    print(f"wall time: {wall:.0f} s ({wall / args.copies:.1f} s per notebook); {full} of {len(subs)} got full marks")
    for key, values in per.items():
        print(f"  {key:>6}: median {statistics.median(values):5.1f} s, max {max(values):5.1f} s (per notebook)")
    print(f"load average (1, 5, 15 min): before {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}, "
          f"after {load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f}")
    return 0 if full == len(subs) == args.copies else 1


if __name__ == "__main__":
    sys.exit(main())
