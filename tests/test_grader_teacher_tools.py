"""What teachers plug the exercises into: nbgrader (source notebooks) and GitHub Classroom (autograding files).

- ``python -m course_grader.nbgrader OUT``: every task cell is an nbgrader answer cell, every
  check cell an autograder test worth the task's points that fails unless all its checks
  pass; run as nbgrader's autograder would, the solution passes every test cell and the
  student version none;
- ``python -m course_grader.classroom``: one test per task with the task's points, for every
  set, up to date with ``solutions/`` (like ``exercises/``); its ``run`` command grades a
  notebook once and answers per task.
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import nbformat
import pytest
import yaml

from course_grader import classroom, nbgrader
from course_grader.exercises import BEGIN, END, strip_solutions
from course_grader.grade import hidden_tests_module

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def exercise_set(path: pathlib.Path) -> str:
    return nbformat.read(path, as_version=4).metadata["course"]["exercise_set"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("nbgrader")
    written = nbgrader.export(out)
    return {p.name: nbformat.read(p, as_version=4) for p in written}


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_nbgrader_metadata_is_complete_and_adds_up(exported, path):
    nb = exported[path.name]
    metas = [c.metadata["nbgrader"] for c in nb.cells]
    assert all(m["schema_version"] == 3 and set(m) >= {"grade", "grade_id", "locked", "solution", "task"} for m in metas)
    ids = [m["grade_id"] for m in metas]
    assert len(ids) == len(set(ids))
    graded = {m["grade_id"]: m["points"] for m in metas if m["grade"]}
    assert graded == {f"check_{t.id}": t.points for t in hidden_tests_module(exercise_set(path)).TASKS}
    for cell, m in zip(nb.cells, metas):
        if m["solution"]:
            assert BEGIN in cell.source and END in cell.source and not m["locked"]
        else:
            assert m["locked"]
        if m["grade"]:
            assert cell.source.rstrip().endswith('"some checks of this cell did not pass (see the lines above)"')


def test_nbgrader_tests_pass_on_the_solution_and_fail_on_the_student_version(exported, tmp_path):
    from nbclient import NotebookClient

    nb = exported["02_attention_exercises.ipynb"]
    blank = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in blank.cells:
        if cell.metadata["nbgrader"]["solution"]:
            cell.source = strip_solutions(cell.source)
    for version, expect_pass in ((nb, True), (blank, False)):
        NotebookClient(version, timeout=300, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        for cell in version.cells:
            if cell.metadata["nbgrader"]["grade"]:
                failed = any(o.output_type == "error" for o in cell.outputs)
                assert failed is not expect_pass, (cell.metadata["nbgrader"]["grade_id"], expect_pass)


def test_nbgrader_export_refuses_an_empty_folder(tmp_path):
    (tmp_path / "none").mkdir()
    assert nbgrader.main([str(tmp_path / "out"), "--solutions", str(tmp_path / "none")]) == 2
    assert not (tmp_path / "out").exists()


def test_classroom_files_are_up_to_date():
    assert classroom.write(check=True) == [], "run: python -m course_grader.classroom --write"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_classroom_has_one_test_per_task_with_its_points(path):
    tasks = hidden_tests_module(exercise_set(path)).TASKS
    folder = ROOT / ".github" / "classroom" / exercise_set(path)
    tests = json.loads((folder / "autograding.json").read_text(encoding="utf-8"))["tests"]
    assert [(t["run"].split()[-1], t["points"]) for t in tests] == [(t.id, t.points) for t in tasks]
    assert all(f"exercises/{path.name}" in t["run"] for t in tests)
    steps = yaml.safe_load((folder / "classroom.yml").read_text(encoding="utf-8"))["jobs"]["run-autograding-tests"]["steps"]
    graders = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader")]
    assert [(s["id"], s["with"]["max-score"]) for s in graders] == [(t.id, t.points) for t in tasks]
    reporter = steps[-1]
    assert reporter["with"]["runners"] == ",".join(t.id for t in tasks)
    assert set(reporter["env"]) == {f"{t.id.upper()}_RESULTS" for t in tasks}


def test_classroom_run_grades_once_and_answers_per_task(tmp_path):
    def run(notebook, task):
        return subprocess.run([sys.executable, "-m", "course_grader.classroom", "run", str(notebook), task],
                              capture_output=True, text=True, timeout=600, cwd=tmp_path)

    solution = ROOT / "solutions" / "02_attention_exercises.ipynb"
    first = run(solution, "softmax")
    assert first.returncode == 0 and "softmax: 2 / 2: passed" in first.stdout, first.stdout + first.stderr
    assert len(list((tmp_path / ".course_grader_cache").glob("*.json"))) == 1
    second = run(solution, "causal_mask")  # read from the cache: the notebook is not graded again
    assert second.returncode == 0 and "causal_mask: 1 / 1: passed" in second.stdout
    assert len(list((tmp_path / ".course_grader_cache").glob("*.json"))) == 1
    assert run(solution, "nonsense").returncode == 1
    blank = run(ROOT / "exercises" / "02_attention_exercises.ipynb", "softmax")
    assert blank.returncode == 1 and "not implemented yet" in blank.stdout
