"""Grade one exercise notebook: run it in a sandboxed worker, then judge its functions' values here.

For each notebook the grader

1. reads the file once (never following a symbolic link; it never writes it) and finds its
   exercise set: ``metadata["course"]["exercise_set"]`` (e.g. ``"02_attention"``), else
   the chapter number that starts the file name. The hidden tests of chapter ``NN`` are the
   module ``course_grader.hidden_tests.setNN``, or ``setNN.py`` in the teacher's ``--tests``
   folder when it has one;
2. checks the notebook's *source*, here, for what a task forbids ("write it yourself") and
   for functions that are imported rather than written (``course_grader.static_check``);
3. starts a worker process in a sandbox (``course_grader.kernel``, ``course_grader.sandbox``)
   in a temporary folder holding only a copy of that notebook, and runs its code cells in
   order, skipping check cells (``metadata["course"]["check"]``, feedback for the learner).
   The first cell, when it comes before any task (the set-up and imports), gets the
   generous ``setup_timeout``; every other cell ``timeout`` seconds;
4. runs each task's hidden test *in this process*: the test makes the inputs here (derived
   from ``secret``, the student and the task when a secret is given), the worker only calls
   the learner's functions on them and sends back values, and the verdict is computed here.
   A task has ``task_timeout`` seconds of the learner's time, in all its calls.

A cell or call past its limit is stopped; a worker that does not stop, or dies, is
restarted with the cells that had finished, and only the task concerned loses its points.
The whole notebook has ``notebook_timeout`` seconds; past it the remaining tasks score 0.

Points come only from the hidden tests, never from anything the notebook prints or stores.
"""
from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.util
import json
import math
import os
import pathlib
import re
import stat
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable

from course_grader import sandbox
from course_grader.kernel import Kernel
from course_grader.report import Submission, TaskResult
from course_grader.static_check import Cell, check_tasks
from course_grader.testkit import OUTPUT_LIMIT, GiveUp, Learner, evaluate_task
from course_lib.feedback import shorten

__all__ = ["GradeOptions", "grade_notebook", "find_notebooks", "exercise_set_of", "hidden_tests_module",
           "read_notebook", "student_key", "notebook_cells", "cell_source", "DEFAULT_TIMEOUT", "HIDDEN_TESTS", "MAX_NOTEBOOK_BYTES"]

DEFAULT_TIMEOUT = 60  # seconds per cell and per task
HIDDEN_TESTS = "course_grader.hidden_tests.set{chapter}"
MAX_NOTEBOOK_BYTES = 20 * 2**20
_CHAPTER = re.compile(r"^(\d\d[a-z]?)_")


@dataclass
class GradeOptions:
    """How to grade: time limits (seconds), memory (MiB), private tests, the secret for inputs."""

    timeout: float = DEFAULT_TIMEOUT  # each cell
    task_timeout: float | None = None  # each task, all its calls (default: timeout)
    setup_timeout: float = 300.0  # the worker's start and the set-up cell, each
    notebook_timeout: float = 900.0  # everything for one notebook
    memory_mb: int = 4096
    output_limit: int = OUTPUT_LIMIT
    tests_dir: str | None = None
    secret: str | None = None
    exercise_set: str | None = None

    def task_seconds(self) -> float:
        return float(self.task_timeout if self.task_timeout is not None else self.timeout)

    def fingerprint_fields(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "secret"}
        out["secret"] = hashlib.sha256(self.secret.encode()).hexdigest()[:16] if self.secret else None
        return out


# ----------------------------------------------------------------------------- finding things


def student_key(name: str) -> str:
    """How student names are compared (roster, duplicates): Unicode normalised (NFKC: a macOS folder's "Zoë" is
    the roster's "Zoë"), white space folded, case ignored."""
    return " ".join(unicodedata.normalize("NFKC", str(name)).split()).casefold()


def _walk(folder: pathlib.Path) -> list[pathlib.Path]:
    """Every ``*.ipynb`` under ``folder``, sorted, without following links or entering hidden folders."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # .ipynb_checkpoints, .git
        found += [pathlib.Path(root) / name for name in files if name.endswith(".ipynb")]
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def find_notebooks(paths: Iterable[str | os.PathLike]) -> list[tuple[pathlib.Path, str]]:
    """``(notebook, student)`` for every notebook named or found (recursively, not through links) in a folder.

    The student is the first folder below a PATH folder, or the file name without ``.ipynb``.
    Symbolic links are listed too (they are refused when read). Raises ValueError for a path
    that does not exist or is neither a notebook nor a folder.
    """
    found: list[tuple[pathlib.Path, str]] = []
    seen: set[pathlib.Path] = set()

    def add(nb: pathlib.Path, student: str) -> None:
        key = pathlib.Path(os.path.abspath(nb))
        if key not in seen:  # a notebook named twice (itself and its folder) is graded once
            seen.add(key)
            found.append((nb, student))

    for p in map(pathlib.Path, paths):
        if p.is_dir() and not p.is_symlink():
            for nb in _walk(p):
                rel = nb.relative_to(p)
                add(nb, rel.parts[0] if len(rel.parts) > 1 else nb.stem)
        elif p.is_file() or p.is_symlink():
            add(p, p.stem)
        else:
            raise ValueError(f"{p}: no such notebook or folder.")
    return found


def read_notebook(path: str | os.PathLike) -> bytes:
    """The file's bytes; OSError for a symbolic link (refused, never followed), a non-file or a huge file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise OSError(f"{info.st_size:,} bytes, over the limit of {MAX_NOTEBOOK_BYTES:,}")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def exercise_set_of(nb: dict | None, path: str | os.PathLike) -> str | None:
    """The notebook's exercise set: its ``metadata.course.exercise_set``, else ``NN_...`` from the file name."""
    meta = (nb or {}).get("metadata", {}) if isinstance(nb, dict) else {}
    course = meta.get("course") if isinstance(meta, dict) else None
    if isinstance(course, dict) and isinstance(course.get("exercise_set"), str) and _CHAPTER.match(course["exercise_set"]):
        return course["exercise_set"]
    name = pathlib.Path(path).name
    if _CHAPTER.match(name):
        stem = pathlib.Path(name).stem
        return stem[: -len("_exercises")] if stem.endswith("_exercises") else stem
    return None


def hidden_tests_module(exercise_set: str, tests_dir: str | os.PathLike | None = None):
    """The hidden tests of ``exercise_set``: ``setNN.py`` in ``tests_dir`` if there, else the built-in module."""
    m = _CHAPTER.match(exercise_set)
    if not m:
        raise ValueError(f"exercise set {exercise_set!r} does not start with a chapter number like '02_'.")
    if tests_dir is not None:
        path = pathlib.Path(tests_dir) / f"set{m.group(1)}.py"
        if path.is_file():
            name = f"course_grader_private_tests_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}" \
                   f".set{m.group(1)}"
            if name not in sys.modules:
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            return sys.modules[name]
    name = HIDDEN_TESTS.format(chapter=m.group(1))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            raise ValueError(f"there are no hidden tests for exercise set {exercise_set!r} (no module {name}).") from None
        raise


# ----------------------------------------------------------------------------- grading one notebook


def _meta(cell) -> dict:
    course = cell.get("metadata", {}).get("course") if isinstance(cell, dict) else None
    return course if isinstance(course, dict) else {}


def _salt(secret: str | None, student: str, exercise_set: str, task_id: str) -> str | None:
    if not secret:
        return None
    message = f"{student_key(student)}|{exercise_set}|{task_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _parse(raw: bytes) -> tuple[dict | None, str | None]:
    import nbformat

    try:
        return nbformat.reads(raw.decode("utf-8"), as_version=4), None
    except UnicodeDecodeError:
        return None, "not a readable notebook (the file is not UTF-8 text)"
    except json.JSONDecodeError as e:
        return None, f"not a readable notebook (not valid JSON: line {e.lineno}, column {e.colno})"
    except Exception as e:  # nbformat's own errors; their text may quote the file, so only the type is shown
        return None, f"not a readable notebook ({type(e).__name__})"


@dataclass
class _Cells:
    code: list[int] = field(default_factory=list)
    label: dict[int, str] = field(default_factory=dict)
    task_cell: dict[str, int] = field(default_factory=dict)
    to_run: list[int] = field(default_factory=list)
    setup: int | None = None


def notebook_cells(nb, tasks) -> _Cells:
    """Which cells are code, their labels, which cell holds each task, which to run, which is the set-up cell."""
    c = _Cells()
    cells = nb.get("cells", []) if isinstance(nb.get("cells"), list) else []
    c.code = [i for i, cell in enumerate(cells) if isinstance(cell, dict) and cell.get("cell_type") == "code"]
    c.label = {i: f"code cell {n + 1}" for n, i in enumerate(c.code)}
    for i in c.code:
        task = _meta(cells[i]).get("task")
        if isinstance(task, str):
            c.task_cell.setdefault(task, i)
            c.label[i] += f" (task {task})"
    for t in tasks:  # a learner who lost the metadata: find the cell by the function it defines
        for name in t.functions:
            pattern = re.compile(rf"^[ \t]*def[ \t]+{re.escape(name)}[ \t]*\(", re.M)  # not \s: linear on any text
            for i in c.code:
                if t.id not in c.task_cell and pattern.search(cell_source(cells[i])):
                    c.task_cell[t.id] = i
    c.to_run = [i for i in c.code if cell_source(cells[i]).strip() and "check" not in _meta(cells[i])]
    first_task = min(c.task_cell.values(), default=math.inf)
    if c.to_run and c.to_run[0] < first_task and "task" not in _meta(cells[c.to_run[0]]):
        c.setup = c.to_run[0]
    return c


def cell_source(cell) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(src) if isinstance(src, list) else str(src)


def grade_notebook(path: str | os.PathLike, options: GradeOptions | None = None, student: str | None = None,
                   raw: bytes | None = None) -> Submission:
    """Grade one notebook; never raises for anything the notebook does. The file is only read (``raw``: its bytes)."""
    options = options or GradeOptions()
    path = pathlib.Path(path)
    student = student or path.stem
    began = time.monotonic()
    if raw is None:
        try:
            raw = read_notebook(path)
        except OSError as e:
            why = "a symbolic link (hand in the notebook itself)" if path.is_symlink() else f"cannot read the file ({e})"
            return Submission(str(path), student, options.exercise_set, error=why)
    sha = hashlib.sha256(raw).hexdigest()
    nb, read_error = _parse(raw)
    exercise_set = options.exercise_set or exercise_set_of(nb, path)
    sub = Submission(str(path), student, exercise_set, sha256=sha)
    if exercise_set is None:
        sub.error = ("cannot tell which exercise set this is: the notebook has no metadata.course.exercise_set and "
                     "its file name does not start with a chapter number (like 02_)")
        return sub
    try:
        hidden = hidden_tests_module(exercise_set, options.tests_dir)
    except ValueError as e:
        sub.error = str(e)
        return sub
    tasks = hidden.TASKS
    sub.exercise_set = hidden.EXERCISE_SET  # "02_alice.ipynb" is graded, and reported, as 02_attention

    def fail_all(message: str) -> Submission:
        done = {t.id for t in sub.tasks}
        sub.tasks += [TaskResult(t.id, 0, t.points, message) for t in tasks if t.id not in done]
        return sub

    if read_error:
        sub.error = read_error
        return fail_all(read_error)
    cells = notebook_cells(nb, tasks)
    sources = {i: cell_source(nb["cells"][i]) for i in cells.to_run}
    static = _static_check([Cell(cells.label[i], sources[i]) for i in cells.to_run], tasks)
    limits = sandbox.Limits(memory_mb=options.memory_mb, cpu_seconds=int(options.notebook_timeout) + 60)
    kernel = Kernel(raw, limits, start_timeout=options.setup_timeout, total=options.notebook_timeout)
    sub.sandbox = kernel.kind
    status: dict[int, dict] = {}
    try:
        sub.timings["start"] = round(kernel.start(), 2)
        if kernel.unconfined:
            sub.notes.append(f"the notebook's process ran without: {', '.join(kernel.unconfined)}")
        for i in cells.to_run:
            limit = options.setup_timeout if i == cells.setup else options.timeout
            status[i] = kernel.run_cell(i, sources[i], limit)
            _note_cell(sub, cells.label[i], status[i], limit)
            key = "setup" if i == cells.setup else "cells"
            sub.timings[key] = round(sub.timings.get(key, 0.0) + status[i].get("seconds", 0.0), 2)
        for t in tasks:
            if static.get(t.id):
                sub.tasks.append(TaskResult(t.id, 0, t.points, shorten(static[t.id], 600)))
                continue
            learner = Learner(kernel, t, options.task_seconds(), options.output_limit)
            result = evaluate_task(t, learner, _salt(options.secret, student, sub.exercise_set, t.id))
            sub.timings["tests"] = round(sub.timings.get("tests", 0.0) + result["seconds"], 2)
            sub.tasks.append(_verdict(t, result, cells, status, options))
    except GiveUp as e:
        sub.notes.append(f"grading stopped: {e}")
        fail_all(f"not tested: {e}")
    except RuntimeError as e:  # the worker could not start at all
        sub.error = f"could not start the notebook's process: {shorten(e, 400)}"
        fail_all(f"not tested: {sub.error}")
    finally:
        kernel.stop()
        if kernel.restarts:
            sub.notes.append(f"the notebook's process was restarted {kernel.restarts} time(s)")
    sub.timings["total"] = round(time.monotonic() - began, 2)
    return sub


def _static_check(cells: list[Cell], tasks) -> dict:
    """The static check; should it fail on a hostile notebook, its tasks fail (neither rule was checked), not the
    grader."""
    try:
        return check_tasks(cells, tasks)
    except (Exception, RecursionError, MemoryError) as e:  # noqa: BLE001 - one notebook must not stop a class
        why = f"the grader could not read the notebook's code to check it ({type(e).__name__}); simplify it"
        return {t.id: why for t in tasks}


def _note_cell(sub: Submission, label: str, status: dict, limit: float) -> None:
    s = status.get("status")
    if s == "error":
        sub.notes.append(f"{label} raised {shorten(status.get('error', ''), 300)}")
    elif s == "timeout":
        extra = "; it did not stop, so the process was restarted without it" if status.get("killed") else ""
        sub.notes.append(f"{label} did not finish within {limit:g} s and was stopped{extra}")
    elif s == "died":
        sub.notes.append(f"{label} killed the notebook's process; it was restarted without that cell")


def _verdict(task, result: dict, cells: _Cells, status: dict, options: GradeOptions) -> TaskResult:
    message = result["message"]
    if result["missing"] and not result["passed"]:
        cell = cells.task_cell.get(task.id)
        if cell is None:
            message += "; no cell of the notebook defines it (keep the function names the exercise gives)"
        else:
            s = status.get(cell, {"status": "ok"})
            where = cells.label.get(cell, "its cell")
            message += {"error": f": {where} raised {s.get('error', '')}",
                        "timeout": f": {where} did not finish within {options.timeout:g} s",
                        "died": f": {where} killed the notebook's process"}.get(
                s.get("status"), f": {where} ran, but defines no function of that name (keep the name the exercise gives)")
    return TaskResult(task.id, task.points if result["passed"] else 0, task.points, shorten(message, 600))
