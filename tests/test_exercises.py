"""course_grader.exercises: exercises/ is generated from solutions/ and never stale.

Also checks the mark-up of the solution notebooks against their hidden tests (same task ids,
same points, a check cell per task) and that the student version keeps each function's
signature and docstring while losing every line of the solution.
"""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import nbformat
import pytest

from course_grader import exercises
from course_grader.exercises import BEGIN, END, exercise_text, generate, make_exercise, strip_solutions, tasks_of
from course_grader.grade import hidden_tests_module

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def read(path):
    return nbformat.read(path, as_version=4)


def functions(source: str) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)}


def test_there_are_solution_notebooks():
    assert SOLUTIONS, "no notebooks in solutions/"


def test_exercises_are_not_stale():
    stale = generate(ROOT / "solutions", ROOT / "exercises", check=True)
    assert stale == [], f"exercises/ is stale ({', '.join(stale)}): run python -m course_grader.exercises"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_committed_exercise_equals_regenerated(path):
    committed = ROOT / "exercises" / path.name
    assert committed.exists(), f"exercises/{path.name} is missing: run python -m course_grader.exercises"
    assert committed.read_text(encoding="utf-8") == exercise_text(path)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_markup_matches_the_hidden_tests(path):
    nb = read(path)
    module = hidden_tests_module(nb.metadata["course"]["exercise_set"])
    assert module.EXERCISE_SET == nb.metadata["course"]["exercise_set"]
    assert [(t["id"], t["points"]) for t in tasks_of(nb)] == [(t.id, t.points) for t in module.TASKS]
    checked = [c.metadata["course"]["check"] for c in nb.cells if "check" in c.metadata.get("course", {})]
    assert checked == [t.id for t in module.TASKS], "every task needs exactly one check cell, in task order"
    assert len(module.TASKS) >= 4


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_student_version_keeps_signatures_and_docstrings_and_drops_solutions(path):
    sol, ex = read(path), read(ROOT / "exercises" / path.name)
    assert len(sol.cells) == len(ex.cells)
    for s, e in zip(sol.cells, ex.cells):
        assert BEGIN not in e.source and END not in e.source
        if "task" not in s.metadata.get("course", {}):
            assert e.source == s.source  # only graded cells change
            continue
        sf, ef = functions(s.source), functions(e.source)
        assert sf.keys() == ef.keys() and sf
        for name in sf:
            assert ast.dump(sf[name].args) == ast.dump(ef[name].args), name
            assert ast.get_docstring(sf[name]) == ast.get_docstring(ef[name]), name
            assert ast.get_docstring(sf[name]), f"{name} needs a docstring that says what to write"
        assert "raise NotImplementedError()" in e.source
        block = s.source.split(BEGIN)[1].split(END)[0]
        solution_lines = {line.strip() for line in block.splitlines()} - {""}
        assert solution_lines and not solution_lines & {line.strip() for line in e.source.splitlines()}


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_student_version_has_no_outputs_and_locked_check_cells(path):
    ex = read(ROOT / "exercises" / path.name)
    for cell in ex.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        course = cell.metadata.get("course", {})
        if "check" in course:
            assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
        if "task" in course:
            assert cell.metadata["deletable"] is False
    assert set(ex.metadata) == {"kernelspec", "language_info", "course"}


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_hidden_tests_are_not_in_the_notebooks(path):
    module = hidden_tests_module(read(path).metadata["course"]["exercise_set"])
    for text in (path.read_text(encoding="utf-8"), (ROOT / "exercises" / path.name).read_text(encoding="utf-8")):
        assert "hidden_tests" not in text
        for task in module.TASKS:
            assert task.test.__name__ not in text


def test_strip_solutions_keeps_indentation_and_everything_outside():
    source = '''def f(x):
    """Docstring."""
    y = 1  # kept
    ### BEGIN SOLUTION
    return x + y
    ### END SOLUTION

def g():
    if True:
        ### BEGIN SOLUTION
        pass
        ### END SOLUTION
    return 2
'''
    assert strip_solutions(source) == '''def f(x):
    """Docstring."""
    y = 1  # kept
    # YOUR CODE HERE
    raise NotImplementedError()

def g():
    if True:
        # YOUR CODE HERE
        raise NotImplementedError()
    return 2
'''
    assert strip_solutions("Answer:\n### BEGIN SOLUTION\nbecause\n### END SOLUTION", markdown=True) == \
        "Answer:\nYOUR ANSWER HERE"


@pytest.mark.parametrize("source,message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
    ("x = 1\n### END SOLUTION\n", "without a"),
])
def test_strip_solutions_rejects_broken_markers(source, message):
    with pytest.raises(ValueError, match=message):
        strip_solutions(source)


def _tiny_solution(exercise_set="01_tiny", task="add", points=1, marked=True):
    body = "    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION" if marked else "    return a + b"
    cell = nbformat.v4.new_code_cell(f'def add(a, b):\n    """a + b"""\n{body}')
    cell.metadata["course"] = {"task": task, "points": points}
    check = nbformat.v4.new_code_cell("print(add(1, 2))")
    check.metadata["course"] = {"check": task}
    nb = nbformat.v4.new_notebook(cells=[cell, check])
    nb.metadata["course"] = {"exercise_set": exercise_set}
    return nb


@pytest.mark.parametrize("kwargs,message", [
    (dict(exercise_set="tiny"), "exercise_set"),
    (dict(points=0), "positive integer"),
    (dict(marked=False), "needs a"),
])
def test_make_exercise_rejects_bad_markup(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_exercise(_tiny_solution(**kwargs), "01_tiny_exercises.ipynb")


def test_generate_writes_detects_stale_and_removes_orphans(tmp_path):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    sol.mkdir()
    nbformat.write(_tiny_solution(), sol / "01_tiny_exercises.ipynb")
    assert generate(sol, ex, check=True) == ["01_tiny_exercises.ipynb"]  # missing counts as stale
    assert not ex.exists()  # --check writes nothing
    assert exercises.main(["--solutions", str(sol), "--exercises", str(ex)]) == 0
    text = (ex / "01_tiny_exercises.ipynb").read_text(encoding="utf-8")
    assert "raise NotImplementedError()" in text and "return a + b" not in text
    assert exercises.main(["--solutions", str(sol), "--exercises", str(ex), "--check"]) == 0

    nb = read(sol / "01_tiny_exercises.ipynb")  # change the solution: the exercise is stale
    nb.cells[0].source = nb.cells[0].source.replace('"""a + b"""', '"""The sum a + b."""')
    nbformat.write(nb, sol / "01_tiny_exercises.ipynb")
    assert exercises.main(["--solutions", str(sol), "--exercises", str(ex), "--check"]) == 1

    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="3\n")]  # outputs alone do not matter
    nbformat.write(nb, sol / "01_tiny_exercises.ipynb")
    assert generate(sol, ex) == ["01_tiny_exercises.ipynb"]
    assert generate(sol, ex, check=True) == []

    (ex / "09_old_exercises.ipynb").write_text("{}")  # an exercise without a solution goes
    assert generate(sol, ex, check=True) == ["09_old_exercises.ipynb"]
    generate(sol, ex)
    assert not (ex / "09_old_exercises.ipynb").exists()
    assert (ex / "01_tiny_exercises.ipynb").exists()


@pytest.mark.parametrize("solutions", ["missing", "empty", "no notebook"])
def test_generate_refuses_a_solutions_folder_without_notebooks(tmp_path, capsys, solutions):
    """A mistyped --solutions must not delete the exercises as orphans: refuse, exit 2, touch nothing."""
    sol, ex = tmp_path / "solutoins", tmp_path / "exercises"
    if solutions != "missing":
        sol.mkdir()
    if solutions == "no notebook":
        (sol / "README.md").write_text("notes\n")
    ex.mkdir()
    (ex / "01_tiny_exercises.ipynb").write_text("{}")
    for check in (False, True):
        with pytest.raises(ValueError, match="Nothing was written or removed"):
            generate(sol, ex, check=check)
        args = ["--solutions", str(sol), "--exercises", str(ex)] + (["--check"] if check else [])
        assert exercises.main(args) == 2
        assert "error:" in capsys.readouterr().err
    assert [p.name for p in ex.iterdir()] == ["01_tiny_exercises.ipynb"]
    assert (ex / "01_tiny_exercises.ipynb").read_text() == "{}"


def test_the_command_runs_from_the_repository_root():
    proc = subprocess.run([sys.executable, "-m", "course_grader.exercises", "--check"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "up to date" in proc.stdout


def test_solution_notebook_is_not_changed_by_generation(tmp_path):
    for path in SOLUTIONS:
        before = path.read_bytes()
        exercise_text(path)
        assert path.read_bytes() == before


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_committed_solution_passes_its_own_checks(path):
    """The solutions are committed executed (tools/run_notebooks.py): every check cell says all passed."""
    nb = read(path)
    checks = [c for c in nb.cells if "check" in c.metadata.get("course", {})]
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "checks passed." in text and "all" in text.splitlines()[-1], (cell.metadata["course"], text)
        assert "✗" not in text and not any(o.output_type == "error" for o in cell.outputs)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_exercise_notebook_runs_and_says_not_implemented_without_tracebacks(path, tmp_path):
    """What a learner sees before writing any code: every check cell answers in one line, no cell errors."""
    from nbclient import NotebookClient

    nb = read(ROOT / "exercises" / path.name)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not any(o.output_type == "error" for o in cell.outputs), cell.source[:80]
        if "check" in cell.metadata.get("course", {}):
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert text.count("\n") == 1 and "not implemented yet" in text, text
