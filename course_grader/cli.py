"""The grading command: ``python -m course_grader PATH... --json OUT [--csv GRADEBOOK] [--timeout SECONDS]``.

Options: ``--task-timeout SECONDS`` (default ``--timeout``), ``--exercise-set SET``,
``--no-progress``. Exit status 0 when every task of every notebook passed, 1 otherwise,
2 for a usage error (e.g. no notebook found). What grading does is described in
:mod:`course_grader.grade`.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from course_grader.grade import DEFAULT_TIMEOUT, find_notebooks, grade_paths
from course_grader.report import write_csv, write_json

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_grader",
        description="Grade exercise notebooks with the hidden tests (see course_grader.grade for details).")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a notebook, or a folder (searched recursively)")
    parser.add_argument("--json", required=True, metavar="OUT", help="write the report here (JSON)")
    parser.add_argument("--csv", metavar="GRADEBOOK", help="also write a gradebook, one row per notebook (CSV)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"time limit per cell and per task (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--task-timeout", type=float, metavar="SECONDS",
                        help="time limit per task's hidden test (default: --timeout)")
    parser.add_argument("--exercise-set", metavar="SET", help="grade every notebook as this set, e.g. 02_attention "
                        "(default: from each notebook's metadata or file name)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or (args.task_timeout is not None and args.task_timeout <= 0):
        parser.error("--timeout and --task-timeout must be positive")
    try:
        if not find_notebooks(args.paths):
            print(f"no notebooks (*.ipynb) found in {', '.join(args.paths)}", file=sys.stderr)
            return 2
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    subs = grade_paths(args.paths, timeout=args.timeout, exercise_set=args.exercise_set,
                       progress=False if args.no_progress else None, echo=True, task_timeout=args.task_timeout)
    write_json(subs, args.json)
    if args.csv:
        write_csv(subs, args.csv)
    passed = sum(s.passed for s in subs)
    print(f"{passed} of {len(subs)} notebook(s) passed every task; report: {args.json}"
          + (f", gradebook: {args.csv}" if args.csv else ""))
    return 0 if passed == len(subs) else 1
