"""Experiment tasks are graded against what the learner's own run must satisfy, not only against a reference.

Set 05's ``approach2_exponent``: the learner runs an IsoFLOP study (``isoflop_experiment``)
and reports approach 2's exponent. A report that does not come from the runs (a number
written down), or a run that is not the study asked for (noise ignored, sizes not around
the optimum), must lose that task and only that task; the honest solution gets full marks
in tests/test_grade_all_sets.py.
"""
from __future__ import annotations

import json
import pathlib

import nbformat
import pytest

from course_grader.exercises import BEGIN, END
from course_grader.grade import GradeOptions
from course_grader.gradebook import grade_class

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "05_scaling_laws_exercises.ipynb"

HARD_CODED = '''C, N, L = (np.asarray(v, dtype=float) for v in (C, N, L))
budgets = np.unique(C)
if len(budgets) < 2:
    raise ValueError("two budgets at least")
n_opt = np.array([isoflop_minimum(N[C == c], L[C == c])[0] for c in budgets])
return budgets, n_opt, 0.5  # "about 0.5", the number every paper quotes'''
NO_NOISE = '''E, A, B, alpha, beta = (float(v) for v in law)
runs = {"C": [], "N": [], "D": [], "L": []}
for C in budgets:
    n_star, _ = compute_optimal(C, A, B, alpha, beta)
    N = n_star * np.geomspace(1 / spread, spread, sizes)
    D = C / (6 * N)
    runs["C"] += [float(C)] * sizes
    runs["N"] += list(N)
    runs["D"] += list(D)
    runs["L"] += list(E + A / N**alpha + B / D**beta)
return {k: np.asarray(v, dtype=float) for k, v in runs.items()}  # the noise is never added'''
NARROW = NO_NOISE.replace("np.geomspace(1 / spread, spread, sizes)", "np.geomspace(0.9, 1.1, sizes)").replace(
    "return {k: np.asarray(v, dtype=float) for k, v in runs.items()}  # the noise is never added",
    "out = {k: np.asarray(v, dtype=float) for k, v in runs.items()}\n"
    "out['L'] = out['L'] * np.exp(noise * np.random.default_rng(seed).standard_normal(len(out['L'])))\nreturn out")


def replace_function(nb, name: str, body: str) -> None:
    """Replace the solution block of the function ``name`` (in its task cell) by ``body``."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source
                and "task" in c.metadata.get("course", {}))
    lines = cell.source.splitlines()
    start_def = next(i for i, line in enumerate(lines) if line.startswith(f"def {name}("))
    start = next(i for i in range(start_def, len(lines)) if lines[i].strip() == BEGIN)
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == END)
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    cell.source = "\n".join(lines[:start] + [indent + b for b in body.splitlines()] + lines[end + 1:])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiments")
    for student, (name, body) in {"hard_coded": ("approach2_exponent", HARD_CODED),
                                  "no_noise": ("isoflop_experiment", NO_NOISE),
                                  "narrow": ("isoflop_experiment", NARROW)}.items():
        nb = nbformat.read(SOLUTION, as_version=4)
        replace_function(nb, name, body)
        (root / student).mkdir()
        nbformat.write(nb, root / student / SOLUTION.name)
    grade_class([str(root)], GradeOptions(timeout=120), str(root / "g.json"), jobs=2, progress=False)
    subs = json.loads((root / "g.json").read_text(encoding="utf-8"))["submissions"]
    return {s["student"]: s for s in subs}


@pytest.mark.parametrize("student,fragment", [
    ("hard_coded", "a expected"),
    ("no_noise", "the log-loss noise should have mean 0 and standard deviation"),
    ("narrow", "the sizes should run from N*/spread"),
])
def test_a_report_or_a_run_that_is_not_what_was_asked_loses_the_experiment_only(graded, student, fragment):
    sub = graded[student]
    tasks = {t["id"]: t for t in sub["tasks"]}
    assert tasks["approach2_exponent"]["points"] == 0 and fragment in tasks["approach2_exponent"]["message"], \
        tasks["approach2_exponent"]["message"]
    assert sub["score"] == sub["max_score"] - tasks["approach2_exponent"]["max_points"]
