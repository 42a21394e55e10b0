"""The exercise sets as an nbgrader course: ``python -m course_grader.nbgrader OUT [--solutions DIR]``.

Writes ``OUT/source/<set>/<set>_exercises.ipynb`` for every solution notebook, in the form
nbgrader's ``generate_assignment`` reads (cell metadata ``nbgrader``, schema version 3):

- each task cell is an *autograded answer* (``solution: true``, ``grade_id`` = the task id);
  its ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers are nbgrader's own, so
  ``generate_assignment`` makes the same student version as ``course_grader.exercises``;
- each check cell is an *autograder test* worth the task's points (``grade: true``,
  ``locked: true``), ending with ``assert check.ok``: it passes when every check of the cell
  passed (``course_lib.feedback.Checker.ok``);
- every other cell (text, the set-up cell, experiment runs) is read-only (``locked: true``).

What nbgrader grades is then the *check cells*: the examples the learners see, run inside
the learner's own kernel. That is weaker than ``python -m course_grader`` (hidden inputs,
values judged outside the notebook, a sandbox, "write it yourself" read from the source):
use nbgrader to hand out, collect and give feedback, and grade its ``submitted/`` folder
(``submitted/<student>/<assignment>/<notebook>.ipynb``) with ``python -m course_grader
submitted/ --json grades.json --csv gradebook.csv``.
"""
from __future__ import annotations

import argparse
import copy
import pathlib
import sys
from typing import Sequence

from course_grader.exercises import BEGIN, ROOT, tasks_of, validate

__all__ = ["to_nbgrader", "export", "main", "SCHEMA_VERSION"]

SCHEMA_VERSION = 3
ASSERT = '\nassert check.ok, "some checks of this cell did not pass (see the lines above)"\n'


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: int | None = None) -> dict:
    out = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
           "solution": solution, "task": False}
    if points is not None:
        out["points"] = points
    return out


def to_nbgrader(nb, name: str = "notebook"):
    """nbgrader's source version of solution notebook ``nb`` (a new notebook; ``nb`` is not changed)."""
    validate(nb, name)
    points = {t["id"]: t["points"] for t in tasks_of(nb)}
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        course = cell.metadata.get("course", {}) if isinstance(cell.metadata.get("course"), dict) else {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if "task" in course:
            cell.metadata["nbgrader"] = _meta(course["task"], solution=True)
        elif "check" in course:
            cell.source = cell.source.rstrip("\n") + "\n" + ASSERT
            cell.metadata["nbgrader"] = _meta(f"check_{course['check']}", grade=True, locked=True,
                                              points=points[course["check"]])
        elif cell.cell_type == "markdown" and BEGIN in cell.source:
            cell.metadata["nbgrader"] = _meta(f"answer_{i}", solution=True)
        else:
            cell.metadata["nbgrader"] = _meta(f"cell_{i}", locked=True)
        for key in ("execution", "deletable", "editable"):
            cell.metadata.pop(key, None)
    return out


def export(out_dir: str | pathlib.Path, solutions: str | pathlib.Path = ROOT / "solutions") -> list[pathlib.Path]:
    """Write every solution notebook's nbgrader source version under ``out_dir/source/<set>/``; the paths written."""
    import nbformat

    solutions = pathlib.Path(solutions)
    found = sorted(solutions.glob("*.ipynb"))
    if not found:
        raise ValueError(f"{solutions} holds no solution notebook (*.ipynb); nothing was written.")
    written = []
    for path in found:
        nb = nbformat.read(path, as_version=4)
        exercise_set = nb.metadata["course"]["exercise_set"]
        target = pathlib.Path(out_dir) / "source" / exercise_set / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(to_nbgrader(nb, path.name), target)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grader.nbgrader",
                                     description="Write the exercise sets as an nbgrader course's source notebooks.")
    parser.add_argument("out", type=pathlib.Path, help="the nbgrader course folder (source/<set>/ is written in it)")
    parser.add_argument("--solutions", type=pathlib.Path, default=ROOT / "solutions", help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        written = export(args.out, args.solutions)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} notebook(s) under {args.out / 'source'}; then: nbgrader generate_assignment <set>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
