"""Grade exercise notebooks with the hidden tests.

    python -m course_grader PATH... --json OUT [--timeout SECONDS] [--csv GRADEBOOK]
                             [--task-timeout SECONDS] [--exercise-set SET] [--no-progress]

PATH is a notebook or a folder; a folder is searched for ``*.ipynb`` at any depth (one
folder per student: ``submissions/alice/02_attention_exercises.ipynb``). For each
notebook the grader

1. reads the file (it never writes it: the work happens on a copy in memory) and finds
   its exercise set: ``metadata["course"]["exercise_set"]`` (e.g. ``"02_attention"``),
   else the chapter number that starts the file name (``02_...``). The hidden tests of
   chapter ``NN`` are the module ``course_grader.hidden_tests.setNN`` (see ``course_grader.testkit``);
2. starts a fresh kernel (the ``python3`` kernel of this environment) in an empty
   temporary folder and runs the notebook's code cells in order, with ``--timeout``
   seconds per cell, going on after errors. Check cells (``metadata["course"]["check"]``)
   are skipped: they only give the learner feedback;
3. runs each task's hidden test in that kernel, as one extra cell per task with a time
   limit (``--task-timeout``, default ``--timeout``), and reads the verdict back
   (``testkit.run_task``). The kernel work (limits, interrupts, restarts) is
   :mod:`course_grader.kernel`; the table, JSON and CSV writers are :mod:`course_grader.report`.

Broken or hostile work is graded, not fatal. An exception, ``sys.exit``, a syntax error,
NaN, a wrong type or shape, or megabytes of printing fail the task concerned with a
message. A cell or task that runs past the time limit is interrupted; if the kernel does
not respond, or dies (``os._exit``, a crash, being killed), it is restarted and the
notebook's cells that had finished are run again, so the remaining tasks are still
tested. After more than ``MAX_RESTARTS`` restarts the rest of that notebook scores 0.

Output: a table per notebook on stdout, a progress bar over notebooks on stderr (in a
terminal), the JSON report ``{"submissions": [{"path", "student", "exercise_set",
"score", "max_score", "tasks": [{"id", "points", "max_points", "message"}], "notes",
"error"}]}`` and, with ``--csv``, a gradebook: one row per notebook (student, path,
exercise set, each task's points, total, max). The exit status is 0 when every task of
every notebook passed, 1 otherwise, 2 for a usage error (e.g. no notebook found).

The student is the first folder below a PATH folder (``alice`` above), or the notebook's
file name without ``.ipynb`` when it lies directly in PATH or PATH is the notebook.

During grading ``exit()`` and ``quit()`` do nothing (in a kernel they would stop it a
moment later, and again after every restart). The verdict of each task comes back as
display data tagged with a random nonce, read from the grader's own cell only, so nothing
a notebook prints can pose as a result; points always come from the hidden tests, never
from the notebook's metadata.

Safety: the grader protects itself and other students' grades from mistakes and crude
tricks (hangs, exits, floods of output, printed fake results), not from a determined
attacker: the notebooks' code runs with the grader's permissions. Grade untrusted work in
a container or a throw-away account.
"""
from __future__ import annotations

import math
import os
import pathlib
import re
import secrets
import sys
import tempfile
from typing import Iterable, Sequence

from course_grader.kernel import KEEP_OUTPUT_CHARS, MAX_RESTARTS, GiveUp, Kernel
from course_lib.feedback import shorten
from course_grader.report import Submission, TaskResult, format_table
from course_grader.testkit import OUTPUT_LIMIT, RESULT_MIME

__all__ = ["grade_notebook", "grade_paths", "find_notebooks", "exercise_set_of", "hidden_tests_module",
           "DEFAULT_TIMEOUT", "HIDDEN_TESTS"]

DEFAULT_TIMEOUT = 60  # seconds per cell and per task
HIDDEN_TESTS = "course_grader.hidden_tests.set{chapter}"
_CHAPTER = re.compile(r"^(\d\d[a-z]?)_")


# ----------------------------------------------------------------------------- finding things


def find_notebooks(paths: Iterable[str | os.PathLike]) -> list[tuple[pathlib.Path, str]]:
    """``(notebook, student)`` for every notebook named or found (recursively) in a folder.

    Raises ValueError for a path that does not exist or is neither a notebook nor a folder.
    """
    found: list[tuple[pathlib.Path, str]] = []
    seen: set[pathlib.Path] = set()

    def add(nb: pathlib.Path, student: str) -> None:
        if nb.resolve() not in seen:  # a notebook named twice (itself and its folder) is graded once
            seen.add(nb.resolve())
            found.append((nb, student))

    for p in map(pathlib.Path, paths):
        if p.is_dir():
            for nb in sorted(p.rglob("*.ipynb")):
                rel = nb.relative_to(p)
                if ".ipynb_checkpoints" in rel.parts:
                    continue
                add(nb, rel.parts[0] if len(rel.parts) > 1 else nb.stem)
        elif p.is_file():
            add(p, p.stem)
        else:
            raise ValueError(f"{p}: no such notebook or folder.")
    return found


def exercise_set_of(nb: dict | None, path: str | os.PathLike) -> str | None:
    """The notebook's exercise set: its ``metadata.course.exercise_set``, else ``NN_...`` from the file name."""
    meta = (nb or {}).get("metadata", {}) if isinstance(nb, dict) else {}
    course = meta.get("course") if isinstance(meta, dict) else None
    if isinstance(course, dict) and isinstance(course.get("exercise_set"), str) and _CHAPTER.match(course["exercise_set"]):
        return course["exercise_set"]
    name = pathlib.Path(path).name
    m = _CHAPTER.match(name)
    if m:
        stem = pathlib.Path(name).stem
        return stem[: -len("_exercises")] if stem.endswith("_exercises") else stem
    return None


def hidden_tests_module(exercise_set: str):
    """The module with the hidden tests of ``exercise_set`` (``"02_attention"`` -> ``course_grader.hidden_tests.set02``)."""
    import importlib

    m = _CHAPTER.match(exercise_set)
    if not m:
        raise ValueError(f"exercise set {exercise_set!r} does not start with a chapter number like '02_'.")
    name = HIDDEN_TESTS.format(chapter=m.group(1))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            raise ValueError(f"there are no hidden tests for exercise set {exercise_set!r} (no module {name}).") from None
        raise


# ----------------------------------------------------------------------------- grading one notebook


def _meta(cell) -> dict:
    course = cell.get("metadata", {}).get("course")
    return course if isinstance(course, dict) else {}


def grade_notebook(path: str | os.PathLike, timeout: float = DEFAULT_TIMEOUT, exercise_set: str | None = None,
                   student: str | None = None, task_timeout: float | None = None) -> Submission:
    """Grade one notebook; never raises for anything the notebook does. The file is only read.

    ``timeout`` limits each of the notebook's cells, ``task_timeout`` (default: ``timeout``)
    each task's hidden test, in seconds (rounded up to whole seconds).
    """
    import nbformat

    path = pathlib.Path(path)
    timeout = max(1, int(math.ceil(timeout)))
    task_timeout = timeout if task_timeout is None else max(1, int(math.ceil(task_timeout)))
    student = student or path.stem
    try:
        raw = path.read_bytes()
    except OSError as e:
        return Submission(str(path), student, exercise_set, error=f"cannot read the file: {e}")
    nb, read_error = None, None
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as e:
        read_error = f"not a readable notebook ({type(e).__name__}: {shorten(e, 200)})"
    exercise_set = exercise_set or exercise_set_of(nb, path)
    sub = Submission(str(path), student, exercise_set)
    if exercise_set is None:
        sub.error = ("cannot tell which exercise set this is: the notebook has no metadata.course.exercise_set and "
                     "its file name does not start with a chapter number (like 02_)")
        return sub
    try:
        hidden = hidden_tests_module(exercise_set)
    except ValueError as e:
        sub.error = str(e)
        return sub
    tasks = hidden.TASKS
    sub.exercise_set = hidden.EXERCISE_SET  # "02_alice.ipynb" is graded, and reported, as 02_attention

    def fail_all(message: str, todo=None) -> Submission:
        done = {t.id for t in sub.tasks}
        for t in todo if todo is not None else tasks:
            if t.id not in done:
                sub.tasks.append(TaskResult(t.id, 0, t.points, message))
        return sub

    if read_error:
        sub.error = read_error
        return fail_all(read_error)

    # Which cell holds which task, and which cells to run (code, not empty, not a check cell).
    code = [i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
    label = {i: f"code cell {n + 1}" for n, i in enumerate(code)}
    task_cell: dict[str, int] = {}
    for i in code:
        task = _meta(nb.cells[i]).get("task")
        if isinstance(task, str):
            task_cell.setdefault(task, i)
            label[i] += f" (task {task})"
    for t in tasks:  # a learner who lost the metadata: find the cell by the function it defines
        for name in t.functions:
            if t.id not in task_cell:
                for i in code:
                    if re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", str(nb.cells[i].get("source", "")), re.M):
                        task_cell[t.id] = i
                        break
    to_run = [i for i in code if str(nb.cells[i].get("source", "")).strip() and "check" not in _meta(nb.cells[i])]
    for i in code:
        nb.cells[i]["outputs"], nb.cells[i]["execution_count"] = [], None

    cell_status: dict[int, tuple[str, str]] = {}
    nonce = secrets.token_hex(8)
    module = HIDDEN_TESTS.format(chapter=_CHAPTER.match(exercise_set).group(1))
    with tempfile.TemporaryDirectory(prefix="course-grade-") as cwd:
        kernel = Kernel(nb, timeout, cwd)
        try:
            kernel.start()
        except Exception as e:
            sub.error = f"could not start a Python kernel: {type(e).__name__}: {shorten(e, 200)}"
            kernel.stop()
            return fail_all(sub.error)
        try:
            # 1. the notebook itself
            for i in to_run:
                status, detail = kernel.run(i, replayable=True)
                cell_status[i] = (status, detail)
                if status == "error":
                    sub.notes.append(f"{label[i]} raised {detail}")
                elif status == "timeout":
                    sub.notes.append(f"{label[i]} did not finish within {timeout} s and was stopped")
                elif status == "died":
                    sub.notes.append(f"{label[i]} killed the Python kernel; it was restarted without that cell")
            # 2. load the hidden tests into the kernel, under the cell time limit (importing them can
            #    take seconds on a busy machine; that must not count against the first task)
            prep = kernel.add_cell(f"import course_grader.testkit\nimport {module}")
            status, detail = kernel.run(prep, store_history=False, replayable=True)
            if status != "ok":
                why = detail or {"timeout": f"timed out after {timeout} s", "died": "the kernel died"}.get(status, status)
                sub.error = f"the hidden tests could not be loaded in the notebook's kernel: {why}"
                fail_all(f"not tested: {sub.error}")
            # 3. the hidden tests, one cell per task
            for t in tasks if status == "ok" else []:
                src = (f"from course_grader.testkit import run_task as _course_grader_run_task\n"
                       f"_course_grader_run_task({module!r}, {t.id!r}, {nonce!r}, {OUTPUT_LIMIT})\n"
                       f"del _course_grader_run_task")
                index = kernel.add_cell(src)
                restarts = kernel.restarts
                status_t, detail_t = kernel.run(index, store_history=False, timeout=task_timeout)
                result = _verdict(t, status_t, detail_t, nb.cells[index], nonce, task_timeout, timeout,
                                  task_cell.get(t.id), cell_status, label)
                if status_t == "timeout" and kernel.restarts > restarts:
                    result.message += "; it did not stop when interrupted, so the kernel was restarted for the other tasks"
                sub.tasks.append(result)
        except GiveUp:
            sub.notes.append(f"the kernel hung or died {MAX_RESTARTS + 1} times; grading of this notebook stopped")
            fail_all(f"not tested: the kernel hung or died {MAX_RESTARTS + 1} times, so grading of this notebook stopped")
        finally:
            kernel.stop()
        for i in sorted(kernel.client.truncated):
            if i in label:
                sub.notes.append(f"{label[i]} printed more than {KEEP_OUTPUT_CHARS:,} characters; the rest was not kept")
    return sub


def _verdict(task, status: str, detail: str, cell, nonce: str, task_timeout: int, timeout: int,
             defining_cell: int | None, cell_status: dict, label: dict) -> TaskResult:
    """Turn the outcome of one task's test cell into a TaskResult."""
    if status == "timeout":
        return TaskResult(task.id, 0, task.points, f"did not finish within {task_timeout} s (an endless loop, or far "
                                                   "too slow?); it was stopped")
    if status == "died":
        return TaskResult(task.id, 0, task.points, "the Python kernel died while this task was tested (os._exit, a "
                                                   "crash, or out of memory); it was restarted for the other tasks")
    results = [o["data"][RESULT_MIME] for o in cell.get("outputs", [])
               if o.get("output_type") == "display_data" and RESULT_MIME in o.get("data", {})
               and isinstance(o["data"][RESULT_MIME], dict) and o["data"][RESULT_MIME].get("nonce") == nonce]
    if not results:
        why = f" ({detail})" if detail else ""
        return TaskResult(task.id, 0, task.points, f"the test gave no verdict{why}; did the notebook replace "
                                                   "IPython's display machinery?")
    r = results[-1]
    message = str(r.get("message", ""))
    if r.get("missing") and defining_cell is None:
        message += "; no cell of the notebook defines it (keep the function names the exercise gives)"
    elif r.get("missing"):
        status, err = cell_status.get(defining_cell, ("ok", ""))
        where = label.get(defining_cell, "its cell")
        if status == "error":
            message += f": {where} raised {err}"
        elif status == "timeout":
            message += f": {where} did not finish within {timeout} s"
        elif status == "died":
            message += f": {where} killed the kernel"
        else:
            message += f": {where} ran, but defines no function of that name (keep the name the exercise gives)"
    points = task.points if r.get("passed") is True else 0
    return TaskResult(task.id, points, task.points, message)


# ----------------------------------------------------------------------------- many notebooks


def grade_paths(paths: Sequence[str | os.PathLike], timeout: float = DEFAULT_TIMEOUT, exercise_set: str | None = None,
                progress: bool | None = None, echo: bool = False, task_timeout: float | None = None) -> list[Submission]:
    """Grade every notebook in ``paths`` (notebooks or folders), with a tqdm progress bar.

    ``progress=None`` shows the bar only in a terminal. ``echo=True`` prints each table
    as soon as its notebook is graded.
    """
    from tqdm.auto import tqdm

    notebooks = find_notebooks(paths)
    subs = []
    bar = tqdm(notebooks, desc="grading", unit="notebook", disable=None if progress is None else not progress,
               file=sys.stderr)
    for nb_path, student in bar:
        bar.set_postfix_str(student, refresh=True)
        sub = grade_notebook(nb_path, timeout=timeout, exercise_set=exercise_set, student=student,
                             task_timeout=task_timeout)
        subs.append(sub)
        if echo:
            tqdm.write(format_table(sub), file=sys.stdout)
    bar.close()
    return subs
