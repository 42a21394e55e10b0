"""The grading command: ``python -m course_grader PATH... --json OUT [--csv GRADEBOOK] [options]``.

Exit status: 0 when every notebook passed every task (and no student of the roster is
missing), 1 otherwise, 2 for a usage error (e.g. no notebook found), 130 when interrupted
(what was graded is kept; the same command resumes). What grading does is described in
:mod:`course_grader.grade` (one notebook) and :mod:`course_grader.gradebook` (a class).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from course_grader.grade import DEFAULT_TIMEOUT, GradeOptions, find_notebooks, student_key
from course_grader.gradebook import grade_class, read_roster

__all__ = ["main", "SECRET_ENV"]

SECRET_ENV = "COURSE_GRADER_SECRET"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_grader",
        description="Grade exercise notebooks with the hidden tests, in a sandbox, into a report and a gradebook.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a notebook, or a folder (one folder per student)")
    p.add_argument("--json", required=True, metavar="OUT", help="the report (JSON); an earlier one is resumed from")
    p.add_argument("--csv", metavar="GRADEBOOK", help="the gradebook: one row per student (CSV)")
    p.add_argument("--feedback", metavar="DIR", help="write one feedback file per student (Markdown) in DIR")
    p.add_argument("--roster", metavar="FILE", help="the class list (one name per line, or a CSV with a 'student' "
                   "column): missing students get a row with 0, unknown ones are flagged")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="grade N notebooks at a time (default 1)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"time limit per cell (default {DEFAULT_TIMEOUT})")
    p.add_argument("--task-timeout", type=float, metavar="SECONDS",
                   help="time limit per task, for all its calls (default: --timeout)")
    p.add_argument("--setup-timeout", type=float, default=300, metavar="SECONDS",
                   help="time limit for starting Python and for the notebook's first (set-up) cell (default 300)")
    p.add_argument("--notebook-timeout", type=float, default=900, metavar="SECONDS",
                   help="time limit for everything one notebook takes (default 900)")
    p.add_argument("--memory-mb", type=int, default=4096, metavar="MB", help="memory limit per notebook (default 4096)")
    p.add_argument("--tests", metavar="DIR", help="your own hidden tests: setNN.py files in DIR replace the built-in "
                   "ones of those sets")
    p.add_argument("--secret", metavar="TEXT", help=f"derive each student's test inputs from this secret (better: "
                   f"the environment variable {SECRET_ENV}, which other users cannot read from the process list)")
    p.add_argument("--exercise-set", metavar="SET", help="grade every notebook as this set, e.g. 02_attention")
    p.add_argument("--regrade", action="store_true", help="grade everything again (ignore the results in --json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    for name in ("timeout", "task_timeout", "setup_timeout", "notebook_timeout"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.jobs < 1 or args.memory_mb < 256:
        parser.error("--jobs must be at least 1 and --memory-mb at least 256")
    if args.tests and not os.path.isdir(args.tests):
        parser.error(f"--tests {args.tests}: no such folder")
    try:
        roster = read_roster(args.roster) if args.roster else None
        if not find_notebooks(args.paths) and roster is None:
            print(f"no notebooks (*.ipynb) found in {', '.join(args.paths)}", file=sys.stderr)
            return 2
    except (ValueError, OSError) as e:
        print(e, file=sys.stderr)
        return 2
    options = GradeOptions(timeout=args.timeout, task_timeout=args.task_timeout, setup_timeout=args.setup_timeout,
                           notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb, tests_dir=args.tests,
                           secret=args.secret or os.environ.get(SECRET_ENV) or None, exercise_set=args.exercise_set)
    from course_grader.sandbox import NO_SANDBOX_NOTE, sandbox_kind

    if sandbox_kind() == "none":
        print(f"note: {NO_SANDBOX_NOTE}", file=sys.stderr)
    from tqdm.auto import tqdm

    run = grade_class(args.paths, options, args.json, args.csv, args.feedback, roster, args.jobs, args.regrade,
                      echo=lambda text: tqdm.write(text, file=sys.stdout),
                      progress=False if args.no_progress else None)
    subs = list(run.results.values())
    passed = sum(s.passed for s in subs)
    outputs = [f"report: {args.json}"] + ([f"gradebook: {args.csv}"] if args.csv else []) + \
        ([f"feedback: {args.feedback}"] if args.feedback else [])
    reused = f" ({run.reused} reused from the earlier report; --regrade grades them again)" if run.reused else ""
    print(f"{passed} of {len(subs)} notebook(s) passed every task{reused}; {', '.join(outputs)}")
    if run.stopped:
        print(f"stopped: {run.stopped}", file=sys.stderr)
        return 130 if "interrupted" in run.stopped else 1
    handed_in = {student_key(e.student) for e in run.entries}
    missing = roster is not None and any(student_key(r) not in handed_in for r in roster)
    return 0 if passed == len(subs) and subs and not missing else 1
