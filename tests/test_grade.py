"""course_grader: the grader, end to end, on the solutions, the exercises and broken work.

Every grading run starts a sandboxed worker process (a few seconds), so the notebooks are
graded in two runs shared by the tests (module-scoped fixtures):

- the solution notebook, through the command line, must get full marks and exit 0;
- a class folder, through ``cli.main()``: the generated exercise notebook (every task must
  score 0, which proves each hidden test can fail) and two notebooks made from the
  solution by replacing function bodies with broken or hostile code. Each broken task
  must score 0 with a message that says what happened, an untouched task must keep its
  points, and the grader must survive all of it.

Attacks on the grader itself (forged verdicts, aliases of forbidden functions, other
students' files) are in tests/test_grader_attacks.py; the gradebook in test_grader_gradebook.py.
"""
from __future__ import annotations

import csv
import json
import pathlib
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from course_grader import cli, grade, report
from course_grader.exercises import BEGIN, END
from course_grader.hidden_tests.set02 import TASKS

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "02_attention_exercises.ipynb"
EXERCISE = ROOT / "exercises" / "02_attention_exercises.ipynb"
MAX = {t.id: t.points for t in TASKS}
TOTAL = sum(MAX.values())
TASK_TIMEOUT = 8  # seconds per hidden test in the broken runs: endless loops cost this much

# (student, task, what goes in place of the solution, a regex the message must match)
BROKEN = [
    # alice: code that hangs or kills the kernel; multi_head_attention is untouched and must
    # still pass after three kernel restarts (the notebook's cells are replayed).
    ("alice", "softmax", "while True:\n    pass", r"did not finish within 8 s"),
    ("alice", "causal_mask", "import time\nwhile True:  # swallows the interrupt\n    try:\n        time.sleep(0.05)\n"
     "    except BaseException:\n        pass", r"did not finish within 8 s.*did not stop when interrupted.*restarted"),
    ("alice", "scaled_dot_product_attention", "import os\nos._exit(0)", r"process died"),
    ("alice", "split_heads", "import os, signal\nos.kill(os.getpid(), getattr(signal, 'SIGKILL', signal.SIGTERM))",
     r"process died"),
    ("alice", "merge_heads", 'raise ValueError("boom")', r"raised ValueError: boom \(line \d+ of merge_heads\)"),
    # bob: wrong answers of every kind, one per task.
    ("bob", "softmax", 'return torch.full_like(x, float("nan"))', r"NaN"),
    ("bob", "scaled_dot_product_attention",
     "weights = softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)\n"
     "return (weights @ v).transpose(-2, -1), weights", r"output: expected shape \(2, 3, 4, 8\), got \(2, 3, 8, 4\)"),
    ("bob", "causal_mask", "return torch.ones(T, T, dtype=torch.bool).tril().tolist()",
     r"expected a torch.Tensor, got list"),
    ("bob", "split_heads", "x = = 1  # a syntax error", r"split_heads is not defined: code cell \d+ \(task split_heads\) raised SyntaxError: invalid syntax \(line \d+\)"),
    ("bob", "merge_heads", 'print("x" * 5_000_000)\nB, n_head, T, d_head = x.shape\n'
     "return x.transpose(1, 2).reshape(B, T, n_head * d_head)", r"printed more than 1 MB"),
    ("bob", "multi_head_attention", "import sys\nsys.exit(1)", r"called sys.exit\(1\)"),
]


def break_task(nb, task: str, body: str) -> None:
    """Replace the solution block of ``task``'s cell in ``nb`` by ``body`` (at the block's indentation)."""
    cell = next(c for c in nb.cells if c.get("metadata", {}).get("course", {}).get("task") == task)
    lines = cell.source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
    end = next(i for i, line in enumerate(lines) if line.strip() == END)
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    cell.source = "\n".join(lines[:start] + [indent + b for b in body.splitlines()] + lines[end + 1:])


def broken_notebook(student: str):
    nb = nbformat.read(SOLUTION, as_version=4)
    for who, task, body, _ in BROKEN:
        if who == student:
            break_task(nb, task, body)
    return nb


def by_student(report: dict) -> dict:
    return {s["student"]: s for s in report["submissions"]}


def tasks_of(sub: dict) -> dict:
    return {t["id"]: t for t in sub["tasks"]}


# ----------------------------------------------------------------------------- the solution


@pytest.fixture(scope="module")
def solution_run(tmp_path_factory):
    """Grade the committed solution through the command line; record its bytes and mtime first."""
    out = tmp_path_factory.mktemp("solution")
    before = (SOLUTION.read_bytes(), SOLUTION.stat().st_mtime_ns)
    proc = subprocess.run([sys.executable, "-m", "course_grader", str(SOLUTION), "--json", str(out / "grade.json"),
                           "--csv", str(out / "gradebook.csv"), "--timeout", "120"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    after = (SOLUTION.read_bytes(), SOLUTION.stat().st_mtime_ns)
    return proc, json.loads((out / "grade.json").read_text()), out / "gradebook.csv", before, after


def test_solution_gets_full_marks_and_exit_code_0(solution_run):
    proc, report, _, _, _ = solution_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sub,) = report["submissions"]
    assert sub["max_score"] == TOTAL
    assert sub["score"] == sub["max_score"], [t for t in sub["tasks"] if t["points"] < t["max_points"]]
    assert [t["id"] for t in sub["tasks"]] == [t.id for t in TASKS]
    assert all(t["message"] == "passed" for t in sub["tasks"])
    assert sub["notes"] == [] and sub["error"] is None  # every cell of the solution ran without error
    assert sub["sandbox"] in ("bwrap", "none") and sub["timings"]["total"] > 0


def test_solution_table_is_printed(solution_run):
    proc, _, _, _, _ = solution_run
    assert re.search(r"softmax\s+2\s+2\s+passed", proc.stdout)
    assert re.search(rf"total\s+{TOTAL}\s+{TOTAL}", proc.stdout)


def test_the_graded_file_is_not_modified(solution_run):
    _, _, _, before, after = solution_run
    assert before == after


def test_json_shape(solution_run):
    _, report, _, _, _ = solution_run
    assert set(report) == {"submissions", "run"}  # "run": the fingerprint a re-run resumes from, the sandbox used
    assert report["run"]["complete"] is True and report["run"]["graded"] == 1
    (sub,) = report["submissions"]
    assert {"path", "score", "max_score", "tasks"} <= set(sub)
    assert pathlib.Path(sub["path"]) == SOLUTION
    for t in sub["tasks"]:
        assert set(t) == {"id", "points", "max_points", "message"}
        assert isinstance(t["points"], int) and t["max_points"] == MAX[t["id"]]


def test_csv_gradebook_for_one_notebook(solution_run):
    _, _, gradebook, _, _ = solution_run
    rows = list(csv.DictReader(gradebook.open(encoding="utf-8")))
    assert len(rows) == 1
    assert [k for k in rows[0]] == ["student", "total", "max", "02_attention",
                                    *[f"02_attention:{t}" for t in MAX], "notes"]
    assert rows[0]["student"] == "02_attention_exercises" and rows[0]["notes"] == ""
    assert {k: int(rows[0][f"02_attention:{k}"]) for k in MAX} == MAX
    assert int(rows[0]["total"]) == int(rows[0]["max"]) == int(rows[0]["02_attention"]) == TOTAL


# ----------------------------------------------------------------------------- a class of broken work


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    """One folder per student: carol hands in the untouched exercise, alice and bob broken work."""
    root = tmp_path_factory.mktemp("class")
    (root / "carol").mkdir()
    shutil.copy(EXERCISE, root / "carol" / EXERCISE.name)
    for student in ("alice", "bob"):
        (root / student).mkdir()
        nbformat.write(broken_notebook(student), root / student / SOLUTION.name)
    (root / "dave").mkdir()  # an unreadable file named like the exercise: graded 0, not fatal
    (root / "dave" / SOLUTION.name).write_text("{ this is not json", encoding="utf-8")
    stamps = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*.ipynb")}
    code = cli.main([str(root), "--json", str(root / "grades.json"), "--csv", str(root / "gradebook.csv"),
                     "--timeout", "120", "--task-timeout", str(TASK_TIMEOUT), "--no-progress", "--jobs", "2"])
    report = json.loads((root / "grades.json").read_text(encoding="utf-8"))
    return code, report, root, stamps


def test_exit_code_1_when_anything_failed(class_run):
    code, _, _, _ = class_run
    assert code == 1


def test_every_notebook_in_the_folder_is_graded(class_run):
    _, report, _, _ = class_run
    assert sorted(by_student(report)) == ["alice", "bob", "carol", "dave"]


def test_exercise_version_scores_zero_on_every_task(class_run):
    _, report, _, _ = class_run
    carol = by_student(report)["carol"]
    assert carol["max_score"] == TOTAL and carol["score"] == 0
    for t in carol["tasks"]:
        assert t["points"] == 0, t
        assert "not implemented yet" in t["message"], t
    assert carol["notes"] == []  # the exercise notebook itself runs without errors


@pytest.mark.parametrize("student,task,body,pattern", BROKEN, ids=[f"{s}-{t}" for s, t, _, _ in BROKEN])
def test_broken_task_scores_zero_with_a_message(class_run, student, task, body, pattern):
    _, report, _, _ = class_run
    result = tasks_of(by_student(report)[student])[task]
    assert result["points"] == 0, result
    assert re.search(pattern, result["message"], re.S), result["message"]


def test_untouched_task_passes_after_kernel_restarts(class_run):
    _, report, _, _ = class_run
    alice = tasks_of(by_student(report)["alice"])
    untouched = set(MAX) - {t for s, t, _, _ in BROKEN if s == "alice"}
    assert untouched == {"multi_head_attention", "attention_entropy"}
    for task in untouched:
        assert alice[task]["points"] == MAX[task], alice[task]


def test_unreadable_notebook_scores_zero(class_run):
    _, report, _, _ = class_run
    dave = by_student(report)["dave"]
    assert dave["score"] == 0 and dave["max_score"] == TOTAL
    assert "not a readable notebook" in dave["error"]
    assert all("not a readable notebook" in t["message"] for t in dave["tasks"])


def test_syntax_error_is_noted_with_its_cell(class_run):
    _, report, _, _ = class_run
    notes = by_student(report)["bob"]["notes"]
    assert any(re.search(r"code cell \d+ \(task split_heads\) raised SyntaxError", n) for n in notes), notes


def test_submitted_files_are_not_modified(class_run):
    _, _, root, stamps = class_run
    for path, (data, mtime) in stamps.items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime, path


def test_csv_gradebook_for_a_class(class_run):
    _, report, root, _ = class_run
    rows = {r["student"]: r for r in csv.DictReader((root / "gradebook.csv").open(encoding="utf-8"))}
    assert sorted(rows) == ["alice", "bob", "carol", "dave"]
    for student, sub in by_student(report).items():
        row = rows[student]
        assert {k: int(row[f"02_attention:{k}"]) for k in MAX} == {t["id"]: t["points"] for t in sub["tasks"]}
        assert int(row["total"]) == sub["score"] and int(row["max"]) == TOTAL
    assert int(rows["alice"]["02_attention:multi_head_attention"]) == 3
    assert "not a readable notebook" in rows["dave"]["notes"]


# ----------------------------------------------------------------------------- no kernel needed


def test_exercise_set_from_metadata_then_file_name():
    nb = {"metadata": {"course": {"exercise_set": "02_attention"}}}
    assert grade.exercise_set_of(nb, "whatever.ipynb") == "02_attention"
    assert grade.exercise_set_of({"metadata": {}}, "x/02_attention_exercises.ipynb") == "02_attention"
    assert grade.exercise_set_of({"metadata": {}}, "homework.ipynb") is None
    assert grade.hidden_tests_module("02_attention").EXERCISE_SET == "02_attention"
    with pytest.raises(ValueError, match="no hidden tests"):
        grade.hidden_tests_module("99_nothing")


def test_notebook_of_unknown_set_is_an_error_not_a_crash(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    path = tmp_path / "homework.ipynb"
    nbformat.write(nb, path)
    sub = grade.grade_notebook(path)
    assert sub.error and "cannot tell which exercise set" in sub.error
    assert sub.score == 0 and not sub.passed


def test_an_unreadable_file_never_shows_its_content(tmp_path):
    path = tmp_path / "02_attention_exercises.ipynb"
    path.write_text("SECRET-CONTENT-1234 { not json", encoding="utf-8")
    sub = grade.grade_notebook(path)
    assert "not a readable notebook" in sub.error and "SECRET" not in json.dumps(sub.to_json())


def test_folder_students_and_missing_paths(tmp_path):
    for rel in ("alice/a.ipynb", "alice/.ipynb_checkpoints/a-checkpoint.ipynb", "bob/sub/b.ipynb", "c.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    found = [(p.relative_to(tmp_path).as_posix(), s) for p, s in grade.find_notebooks([tmp_path])]
    assert found == [("alice/a.ipynb", "alice"), ("bob/sub/b.ipynb", "bob"), ("c.ipynb", "c")]
    twice = grade.find_notebooks([tmp_path / "c.ipynb", tmp_path])  # named twice: graded once
    assert [p.name for p, _ in twice] == ["c.ipynb", "a.ipynb", "b.ipynb"]
    with pytest.raises(ValueError, match="no such notebook or folder"):
        grade.find_notebooks([tmp_path / "missing"])
    assert cli.main([str(tmp_path / "missing"), "--json", str(tmp_path / "out.json")]) == 2
    (tmp_path / "empty").mkdir()
    assert cli.main([str(tmp_path / "empty"), "--json", str(tmp_path / "out.json")]) == 2


def test_table_and_exit_code_rules():
    ok = report.Submission("a.ipynb", "a", "02_attention", [report.TaskResult("softmax", 2, 2, "passed")])
    bad = report.Submission("b.ipynb", "b", "02_attention", [report.TaskResult("softmax", 0, 2, "NaN")])
    assert ok.passed and not bad.passed
    assert not report.Submission("c.ipynb", "c", None, error="no set").passed
    table = report.format_table(bad)
    assert re.search(r"softmax\s+0\s+2\s+NaN", table) and "0 / 2" in table


def test_a_task_cell_without_its_metadata_is_found_by_its_def_in_linear_time():
    import time

    nb = nbformat.read(SOLUTION, as_version=4)
    cell = next(c for c in nb.cells if c.get("metadata", {}).get("course", {}).get("task") == "softmax")
    del cell.metadata["course"]
    index = nb.cells.index(cell)
    cell.source = "\n" * 200_000 + cell.source  # ^\s*def\s+... would take minutes on this (quadratic)
    began = time.monotonic()
    cells = grade.notebook_cells(nb, TASKS)
    assert cells.task_cell["softmax"] == index
    assert time.monotonic() - began < 30
