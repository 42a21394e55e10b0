"""Every exercise set, graded: each solution gets full marks, each generated exercise scores zero.

``tests/test_grade.py`` tests the grader itself in depth on the chapter 02 set (broken and
hostile work, the gradebook, the command line). This module checks the other half of the
promise for *every* set in ``solutions/``: the hidden tests pass on the solution (so they
are right) and fail on the untouched student version (so each of them can fail).

All notebooks are graded in one call of ``grade_paths`` (one kernel per notebook).
"""
from __future__ import annotations

import pathlib

import nbformat
import pytest

from course_grader import grade
from course_grader.exercises import tasks_of

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
SETS = [p.name for p in SOLUTIONS]


@pytest.fixture(scope="module")
def graded():
    """{("solutions" | "exercises", file name): submission} for every set."""
    paths = [str(p) for p in SOLUTIONS] + [str(ROOT / "exercises" / p.name) for p in SOLUTIONS]
    subs = grade.grade_paths(paths, timeout=120, progress=False)
    return {(pathlib.Path(s.path).parent.name, pathlib.Path(s.path).name): s for s in subs}


def test_at_least_28_tasks_over_the_chapters():
    tasks = [t for p in SOLUTIONS for t in tasks_of(nbformat.read(p, as_version=4))]
    assert len(tasks) >= 28, f"only {len(tasks)} graded tasks in solutions/"


@pytest.mark.parametrize("name", SETS)
def test_solution_gets_full_marks(graded, name):
    sub = graded[("solutions", name)]
    failed = [(t.id, t.message) for t in sub.tasks if t.points != t.max_points]
    assert sub.max_score > 0 and sub.score == sub.max_score, f"{name}: {failed}"


@pytest.mark.parametrize("name", SETS)
def test_exercise_version_scores_zero_on_every_task(graded, name):
    sub = graded[("exercises", name)]
    assert sub.tasks, f"{name}: no task was graded ({sub.error})"
    scored = [(t.id, t.points) for t in sub.tasks if t.points != 0]
    assert scored == [], f"{name}: the untouched exercise scored on {scored}: a hidden test that cannot fail"
    assert all("not implemented yet" in t.message for t in sub.tasks), [t.message for t in sub.tasks]
    assert sub.notes == [], f"{name}: the exercise notebook itself should run without errors: {sub.notes}"
    assert sub.max_score == graded[("solutions", name)].max_score
