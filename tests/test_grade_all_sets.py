"""Every exercise set, graded: each solution gets full marks, each generated exercise scores zero.

``tests/test_grade.py`` tests the grader itself in depth on the chapter 02 set (broken and
hostile work, the command line). This module checks the other half of the promise for
*every* set in ``solutions/``: the hidden tests pass on the solution (so they are right)
and fail on the untouched student version (so each of them can fail).

All notebooks are graded in one class run, two at a time, **with a teacher's secret**: the
hidden inputs are then drawn from the secret, the student and the task, so this also shows
that the tests hold for inputs other than their default ones (and the default inputs are
the ones every other grading test uses).
"""
from __future__ import annotations

import json
import pathlib

import nbformat
import pytest

from course_grader.exercises import tasks_of
from course_grader.grade import GradeOptions
from course_grader.gradebook import grade_class

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
SETS = [p.name for p in SOLUTIONS]
SECRET = "a teacher's secret for the test suite"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{("solutions" | "exercises", file name): submission (JSON)} for every set."""
    out = tmp_path_factory.mktemp("all_sets")
    paths = [str(p) for p in SOLUTIONS] + [str(ROOT / "exercises" / p.name) for p in SOLUTIONS]
    grade_class(paths, GradeOptions(timeout=120, secret=SECRET), str(out / "grades.json"), jobs=2, progress=False)
    subs = json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]
    return {(pathlib.Path(s["path"]).parent.name, pathlib.Path(s["path"]).name): s for s in subs}


def test_at_least_28_tasks_over_the_chapters():
    tasks = [t for p in SOLUTIONS for t in tasks_of(nbformat.read(p, as_version=4))]
    assert len(tasks) >= 28, f"only {len(tasks)} graded tasks in solutions/"


@pytest.mark.parametrize("name", SETS)
def test_solution_gets_full_marks(graded, name):
    sub = graded[("solutions", name)]
    failed = [(t["id"], t["message"]) for t in sub["tasks"] if t["points"] != t["max_points"]]
    assert sub["max_score"] > 0 and sub["score"] == sub["max_score"], f"{name}: {failed}"
    assert sub["notes"] == [], f"{name}: {sub['notes']}"


@pytest.mark.parametrize("name", SETS)
def test_exercise_version_scores_zero_on_every_task(graded, name):
    sub = graded[("exercises", name)]
    assert sub["tasks"], f"{name}: no task was graded ({sub['error']})"
    scored = [(t["id"], t["points"]) for t in sub["tasks"] if t["points"] != 0]
    assert scored == [], f"{name}: the untouched exercise scored on {scored}: a hidden test that cannot fail"
    assert all("not implemented yet" in t["message"] for t in sub["tasks"]), [t["message"] for t in sub["tasks"]]
    assert sub["notes"] == [], f"{name}: the exercise notebook itself should run without errors: {sub['notes']}"
    assert sub["max_score"] == graded[("solutions", name)]["max_score"]
