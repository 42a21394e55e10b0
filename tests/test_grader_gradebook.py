"""course_grader.gradebook: one row per student, a roster, notes, feedback files, formula-safe CSV, resume.

The rows are built from results (no notebook needs to run for most tests); resuming and the
atomic files are tested with notebooks the grader can judge without running them (an unknown
exercise set), so these tests take seconds. Grading in parallel (``--jobs``) and a killed
grader are in tests/test_grader_attacks.py and tests/test_grade_all_sets.py.
"""
from __future__ import annotations

import csv
import io
import json
import pathlib

import nbformat
import pytest

from course_grader import cli
from course_grader.grade import GradeOptions
from course_grader.gradebook import ClassRun, Entry, feedback_names, feedback_text, grade_class, gradebook_rows, \
    read_roster
from course_grader.hidden_tests.set02 import TASKS
from course_grader.report import Submission, TaskResult, safe_cell

SET = "02_attention"
IDS = [t.id for t in TASKS]
TOTAL = sum(t.points for t in TASKS)


def sub(path: str, student: str, points: dict | None = None, error: str | None = None) -> Submission:
    points = points or {}
    tasks = [TaskResult(t.id, points.get(t.id, 0), t.points, "passed" if points.get(t.id) else "wrong") for t in TASKS]
    return Submission(path, student, SET, tasks, error=error)


def run_of(*items: tuple[Submission, float]) -> ClassRun:
    run = ClassRun([Entry(s.path, s.student, b"{}", mtime) for s, mtime in items])
    run.results = {s.path: s for s, _ in items}
    return run


def rows_by_student(rows: list[list]) -> dict[str, dict]:
    header = rows[0]
    return {r[0]: dict(zip(header, r)) for r in rows[1:]}


def test_one_row_per_student_with_sets_tasks_total_and_notes():
    run = run_of((sub("s/alice/02.ipynb", "alice", {"softmax": 2, "causal_mask": 1}), 1.0),
                 (sub("s/bob/02.ipynb", "bob"), 1.0))
    rows = gradebook_rows(run, GradeOptions())
    assert rows[0] == ["student", "total", "max", SET, *[f"{SET}:{i}" for i in IDS], "notes"]
    alice = rows_by_student(rows)["alice"]
    assert alice["total"] == alice[SET] == 3 and alice["max"] == TOTAL
    assert alice[f"{SET}:softmax"] == 2 and alice[f"{SET}:merge_heads"] == 0 and alice["notes"] == ""


def test_roster_missing_students_get_zero_and_unknown_ones_are_flagged():
    run = run_of((sub("s/alice/02.ipynb", "alice", {"softmax": 2}), 1.0), (sub("s/zoe/02.ipynb", "zoe"), 1.0))
    rows = rows_by_student(gradebook_rows(run, GradeOptions(), roster=["Alice", "Carol"]))
    assert list(rows) == ["Alice", "Carol", "zoe"]  # roster order (its spelling), then the others
    assert rows["Alice"]["total"] == 2 and rows["Alice"]["notes"] == ""
    assert rows["Carol"]["total"] == 0 and rows["Carol"]["notes"] == "no submission"
    assert rows["zoe"]["notes"] == "not in the roster"


def test_duplicates_count_the_newest_and_are_reported():
    old = sub("s/carol/old/02.ipynb", "carol", {"softmax": 2})
    new = sub("s/carol/02.ipynb", "carol", {"causal_mask": 1})
    twin = sub("s/Carol /02b.ipynb", "Carol ", {})
    rows = rows_by_student(gradebook_rows(run_of((old, 1.0), (new, 5.0), (twin, 2.0)), GradeOptions()))
    (row,) = rows.values()
    assert row["total"] == 1  # the newest notebook counts
    assert "3 notebooks; counted s/carol/02.ipynb (the newest)" in row["notes"]
    assert f"s/carol/old/02.ipynb (2/{TOTAL})" in row["notes"]
    assert "submitted under several names: carol, Carol " in row["notes"]


def test_sets_not_handed_in_are_zero_with_a_note():
    a = sub("s/alice/02.ipynb", "alice", {"softmax": 2})
    b = Submission("s/bob/01.ipynb", "bob", "01_background", [TaskResult("bigram_counts", 2, 2, "passed")])
    rows = rows_by_student(gradebook_rows(run_of((a, 1.0), (b, 1.0)), GradeOptions()))
    assert rows["alice"]["01_background"] == 0 and "01_background: not handed in" in rows["alice"]["notes"]
    assert rows["bob"][SET] == 0 and rows["bob"][f"{SET}:softmax"] == "" and f"{SET}: not handed in" in rows["bob"]["notes"]
    from course_grader.hidden_tests.set01 import TASKS as SET01
    assert rows["alice"]["max"] == rows["bob"]["max"] == TOTAL + sum(t.points for t in SET01)


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "|cmd"])
def test_cells_that_could_start_a_formula_are_quoted(value):
    assert safe_cell(value) == "'" + value and safe_cell(3) == 3 and safe_cell("alice") == "alice"


def test_feedback_files_have_safe_unique_names():
    names = feedback_names(["alice", "Alice ", "../etc/passwd", "=HYPERLINK(x)", ".hidden", "a/b", "a_b", ""])
    assert names["alice"] == "alice.md"
    assert all("/" not in n and not n.startswith(".") for n in names.values())
    assert len(set(n.casefold() for n in names.values())) == len(names)


def test_feedback_text_shows_every_task_and_escapes_tables():
    s = sub("s/alice/02.ipynb", "alice", {"softmax": 2})
    s.tasks[1].message = "expected a | b\nnot c"
    s.notes = ["code cell 3 raised ValueError"]
    text = feedback_text("alice", [s])
    assert f"Total: 2 / {TOTAL} points" in text and "| softmax | 2 | 2 | passed |" in text
    assert "expected a \\| b not c" in text and "- code cell 3 raised ValueError" in text
    assert "No notebook of yours was found." in feedback_text("carol", [])


def test_read_roster_lines_or_csv(tmp_path):
    (tmp_path / "r.txt").write_text("# class list\nalice\n\n  bob  \n", encoding="utf-8")
    assert read_roster(tmp_path / "r.txt") == ["alice", "bob"]
    (tmp_path / "r.csv").write_text("id,Student,email\n1,alice,a@x\n2,bob,b@x\n", encoding="utf-8")
    assert read_roster(tmp_path / "r.csv") == ["alice", "bob"]
    (tmp_path / "empty.txt").write_text("# nobody\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lists no student"):
        read_roster(tmp_path / "empty.txt")


def test_names_are_compared_after_unicode_normalisation_and_a_roster_lists_each_student_once():
    composed, decomposed = "Zo\u00eb", "Zoe\u0308"  # a roster typed on Windows, a folder made on macOS
    run = run_of((sub(f"s/{decomposed}/02.ipynb", decomposed, {"softmax": 2}), 1.0))
    rows = rows_by_student(gradebook_rows(run, GradeOptions(), roster=[composed, "bob", "Bob "]))
    assert list(rows) == [composed, "bob"] and rows[composed]["total"] == 2 and rows[composed]["notes"] == ""
    assert rows["bob"]["notes"] == "no submission; listed 2 times in the roster"


def test_a_one_column_roster_with_a_header_line(tmp_path):
    (tmp_path / "r.csv").write_text("Student\nalice\nbob\n", encoding="utf-8")
    assert read_roster(tmp_path / "r.csv") == ["alice", "bob"]


def test_results_are_reused_only_with_the_same_course_lib(tmp_path, monkeypatch):
    from course_grader import gradebook

    (tmp_path / "course_lib").mkdir()
    (tmp_path / "course_lib" / "attention.py").write_text("def softmax(x):\n    return x\n", encoding="utf-8")
    monkeypatch.setattr(gradebook, "LIBRARY", tmp_path / "course_lib")
    before, own = gradebook.fingerprint(GradeOptions()), gradebook.fingerprint(GradeOptions(), library=False)
    (tmp_path / "course_lib" / "attention.py").write_text("def softmax(x):\n    return -x\n", encoding="utf-8")
    assert gradebook.fingerprint(GradeOptions()) != before  # a reference changed: grade again
    assert gradebook.fingerprint(GradeOptions(), library=False) == own  # the grader's own files did not


def _unknown_set_notebooks(root: pathlib.Path, students) -> None:
    for s in students:
        (root / s).mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), root / s / "homework.ipynb")


def test_a_rerun_resumes_and_a_changed_file_is_graded_again(tmp_path):
    _unknown_set_notebooks(tmp_path / "class", ["alice", "bob"])
    out = str(tmp_path / "g.json")
    first = grade_class([str(tmp_path / "class")], GradeOptions(), out, progress=False)
    assert first.complete and first.reused == 0
    second = grade_class([str(tmp_path / "class")], GradeOptions(), out, progress=False)
    assert second.reused == 2
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("2")]),
                   tmp_path / "class" / "bob" / "homework.ipynb")
    assert grade_class([str(tmp_path / "class")], GradeOptions(), out, progress=False).reused == 1
    assert grade_class([str(tmp_path / "class")], GradeOptions(timeout=5), out, progress=False).reused == 0  # options
    assert grade_class([str(tmp_path / "class")], GradeOptions(timeout=5), out, regrade=True, progress=False).reused == 0


def test_every_file_is_written_whole_and_the_cli_reports_it(tmp_path, capsys):
    _unknown_set_notebooks(tmp_path / "class", ["alice", "=cmd|' -C calc'!A0"])
    (tmp_path / "roster.txt").write_text("alice\ndave\n", encoding="utf-8")
    code = cli.main([str(tmp_path / "class"), "--json", str(tmp_path / "g.json"), "--csv", str(tmp_path / "g.csv"),
                     "--feedback", str(tmp_path / "fb"), "--roster", str(tmp_path / "roster.txt"), "--no-progress"])
    assert code == 1
    assert "0 of 2 notebook(s) passed every task" in capsys.readouterr().out
    data = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))
    assert data["run"]["complete"] is True and len(data["submissions"]) == 2
    rows = list(csv.reader(io.StringIO((tmp_path / "g.csv").read_text(encoding="utf-8"))))
    assert [r[0] for r in rows[1:]] == ["alice", "dave", "'=cmd|' -C calc'!A0"]
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == ["alice.md", "cmd_-C_calc_A0.md", "dave.md"]
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temporary file left behind


def test_usage_errors_exit_2(tmp_path, capsys):
    assert cli.main([str(tmp_path / "missing"), "--json", str(tmp_path / "g.json")]) == 2
    (tmp_path / "empty").mkdir()
    assert cli.main([str(tmp_path / "empty"), "--json", str(tmp_path / "g.json")]) == 2
    with pytest.raises(SystemExit) as e:
        cli.main([str(tmp_path / "empty"), "--json", str(tmp_path / "g.json"), "--tests", str(tmp_path / "nope")])
    assert e.value.code == 2
