"""Grade exercise notebooks with the hidden tests.

    python -m course_lib.grade PATH... --json OUT [--timeout SECONDS] [--csv GRADEBOOK]
                               [--task-timeout SECONDS] [--exercise-set SET] [--no-progress]

PATH is a notebook or a folder; a folder is searched for ``*.ipynb`` at any depth (one
folder per student: ``submissions/alice/02_attention_exercises.ipynb``). For each
notebook the grader

1. reads the file (it never writes it: the work happens on a copy in memory) and finds
   its exercise set: ``metadata["course"]["exercise_set"]`` (e.g. ``"02_attention"``),
   else the chapter number that starts the file name (``02_...``). The hidden tests of
   chapter ``NN`` are the module ``course_lib.hidden_tests_NN`` (see ``course_lib.testkit``);
2. starts a fresh kernel (the ``python3`` kernel of this environment) in an empty
   temporary folder and runs the notebook's code cells in order, with ``--timeout``
   seconds per cell, going on after errors. Check cells (``metadata["course"]["check"]``)
   are skipped: they only give the learner feedback;
3. runs each task's hidden test in that kernel, as one extra cell per task with a time
   limit (``--task-timeout``, default ``--timeout``), and reads the verdict back
   (``testkit.run_task``).

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

import argparse
import csv
import io
import json
import logging
import math
import os
import pathlib
import re
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from course_lib.testkit import OUTPUT_LIMIT, RESULT_MIME

__all__ = ["TaskResult", "Submission", "grade_notebook", "grade_paths", "find_notebooks", "exercise_set_of",
           "format_table", "write_json", "write_csv", "main", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 60  # seconds per cell and per task
MAX_RESTARTS = 6  # kernel restarts per notebook before the rest of it scores 0
PROBE_TIMEOUT = 5  # seconds an interrupted kernel gets to answer again before it is restarted
KEEP_OUTPUT_CHARS = 50_000  # output kept per cell (the rest is dropped; only errors and verdicts matter)
HIDDEN_TESTS = "course_lib.hidden_tests_{chapter}"
_CHAPTER = re.compile(r"^(\d\d[a-z]?)_")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ----------------------------------------------------------------------------- results


@dataclass
class TaskResult:
    id: str
    points: int
    max_points: int
    message: str

    def to_json(self) -> dict:
        return {"id": self.id, "points": self.points, "max_points": self.max_points, "message": self.message}


@dataclass
class Submission:
    path: str
    student: str
    exercise_set: str | None
    tasks: list[TaskResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # why the notebook could not be graded at all

    @property
    def score(self) -> int:
        return sum(t.points for t in self.tasks)

    @property
    def max_score(self) -> int:
        return sum(t.max_points for t in self.tasks)

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.tasks) and all(t.points == t.max_points for t in self.tasks)

    def to_json(self) -> dict:
        return {"path": self.path, "student": self.student, "exercise_set": self.exercise_set,
                "score": self.score, "max_score": self.max_score, "tasks": [t.to_json() for t in self.tasks],
                "notes": self.notes, "error": self.error}


class _GiveUp(Exception):
    """The kernel had to be restarted too often: stop testing this notebook."""


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
    """The module with the hidden tests of ``exercise_set`` (``"02_attention"`` -> ``course_lib.hidden_tests_02``)."""
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


# ----------------------------------------------------------------------------- one kernel


class _DropOrphanTaskErrors(logging.Filter):
    """nbclient leaves an output-polling task behind when a kernel is killed mid-cell; asyncio
    then logs 'Task exception was never retrieved' for it. That is expected here: drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Task exception was never retrieved" not in record.getMessage()


def _quiet_logger() -> logging.Logger:
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _DropOrphanTaskErrors) for f in asyncio_log.filters):
        asyncio_log.addFilter(_DropOrphanTaskErrors())
    log = logging.getLogger("course_lib.grade.kernel")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


def _error_text(out: dict) -> str:
    """'SyntaxError: invalid syntax (line 7)' from an error output."""
    evalue = re.sub(r"\s*\([^()]*, line \d+\)$", "", str(out.get("evalue", "")))  # SyntaxError's (file, line N)
    text = f"{out.get('ename', 'Error')}: {_short(evalue, 200)}".rstrip(": ")
    lines = re.findall(r"(?:Cell In\s*\[[^\]]*\]|<ipython-input-[^>]*>|File [^,]+), line (\d+)",
                       _ANSI.sub("", "\n".join(out.get("traceback", []))))
    return text + (f" (line {lines[-1]})" if lines else "")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _make_client_class():
    from nbclient import NotebookClient

    class _Client(NotebookClient):
        """A NotebookClient that keeps at most KEEP_OUTPUT_CHARS of output per cell (errors and verdicts always)."""

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            data = content.get("data") or {}
            if msg.get("msg_type") == "error":
                content["traceback"] = [_short(_ANSI.sub("", t), 2000) for t in content.get("traceback", [])[-20:]]
                content["evalue"] = _short(content.get("evalue", ""), 2000)
                return super().output(outs, msg, display_id, cell_index)
            if RESULT_MIME in data:
                return super().output(outs, msg, display_id, cell_index)
            used = self.chars_used.get(cell_index, 0) + len(content.get("text", "")) + sum(len(str(v)) for v in data.values())
            self.chars_used[cell_index] = used
            if used > KEEP_OUTPUT_CHARS:
                self.truncated.add(cell_index)
                return None
            return super().output(outs, msg, display_id, cell_index)

    return _Client


_KERNEL_SETUP = "get_ipython().ask_exit = lambda: None"


class _Kernel:
    """One notebook's kernel: run cells with a time limit; interrupt, restart and replay when needed."""

    def __init__(self, nb, timeout: int, cwd: str):
        self.nb, self.timeout, self.cwd = nb, timeout, cwd
        self.client = _make_client_class()(
            nb, timeout=timeout, kernel_name="python3", allow_errors=True, interrupt_on_timeout=False,
            shutdown_kernel="immediate", record_timing=False, iopub_timeout=2, startup_timeout=120,
            resources={"metadata": {"path": cwd}}, log=_quiet_logger())
        self.client.chars_used, self.client.truncated = {}, set()
        self.replay: list[int] = []  # cells that finished: run again after a restart
        self.restarts = 0
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                        MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1")

    # -- lifecycle
    def start(self) -> None:
        c = self.client
        c.km = c.create_kernel_manager()
        c.start_new_kernel(cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c.start_new_kernel_client()
        # exit() and quit() in a notebook stop the kernel's event loop a moment later, and a
        # replayed cell would do it again after every restart: make them do nothing.
        self._execute(self.add_cell(_KERNEL_SETUP), PROBE_TIMEOUT, store_history=False)

    def stop(self) -> None:
        c = self.client
        if c.km is None:
            return
        try:
            c._cleanup_kernel()  # shutdown_kernel="immediate": kills the process
        except Exception:  # pragma: no cover - a kernel that will not go away quietly
            c.km, c.kc = None, None

    # -- running cells
    def add_cell(self, source: str) -> int:
        import nbformat

        self.nb.cells.append(nbformat.v4.new_code_cell(source))
        return len(self.nb.cells) - 1

    def _execute(self, index: int, timeout: int, store_history: bool) -> tuple[str, str]:
        """Run one cell; 'ok', 'error', 'timeout' or 'died', and the error text."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        cell = self.nb.cells[index]
        self.client.chars_used[index] = 0
        self.client.timeout = timeout
        try:
            self.client.execute_cell(cell, index, store_history=store_history)
        except CellTimeoutError:
            return "timeout", ""
        except DeadKernelError:
            return "died", ""
        except Exception as e:  # the connection broke in some other way: treat as dead
            return "died", f"{type(e).__name__}: {_short(e, 200)}"
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return "error", _error_text(out)
        return "ok", ""

    def run(self, index: int, store_history: bool = True, replayable: bool = False,
            timeout: int | None = None) -> tuple[str, str]:
        """Run one cell and leave a usable kernel behind (interrupting or restarting it if needed)."""
        status, detail = self._execute(index, timeout or self.timeout, store_history)
        if status == "timeout":
            if not self._interrupt():
                self._restart()
        elif status == "died":
            self._restart()
        elif replayable:
            self.replay.append(index)
        return status, detail

    def _interrupt(self) -> bool:
        """Interrupt a running cell; True if the kernel answers again within PROBE_TIMEOUT."""
        from nbclient.util import ensure_async, run_sync

        km = self.client.km

        async def interrupt() -> None:
            await ensure_async(km.interrupt_kernel())  # AsyncKernelManager: a coroutine

        try:
            run_sync(interrupt)()
        except Exception:
            return False
        probe_timeout = max(2, min(PROBE_TIMEOUT, self.timeout))
        status, _ = self._execute(self.add_cell("pass"), probe_timeout, store_history=False)
        return status in ("ok", "error")

    def _restart(self) -> None:
        """A fresh kernel with the finished cells run again; cells that now hang or kill it are dropped."""
        while True:
            self.restarts += 1
            self.stop()
            if self.restarts > MAX_RESTARTS:
                raise _GiveUp
            self.start()
            for index in list(self.replay):
                status, _ = self._execute(index, self.timeout, store_history=True)
                if status == "timeout":
                    self.replay.remove(index)
                    if not self._interrupt():
                        break
                elif status == "died":
                    self.replay.remove(index)
                    break
            else:
                return


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
        read_error = f"not a readable notebook ({type(e).__name__}: {_short(e, 200)})"
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
        kernel = _Kernel(nb, timeout, cwd)
        try:
            kernel.start()
        except Exception as e:
            sub.error = f"could not start a Python kernel: {type(e).__name__}: {_short(e, 200)}"
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
            prep = kernel.add_cell(f"import course_lib.testkit\nimport {module}")
            status, detail = kernel.run(prep, store_history=False, replayable=True)
            if status != "ok":
                why = detail or {"timeout": f"timed out after {timeout} s", "died": "the kernel died"}.get(status, status)
                sub.error = f"the hidden tests could not be loaded in the notebook's kernel: {why}"
                fail_all(f"not tested: {sub.error}")
            # 3. the hidden tests, one cell per task
            for t in tasks if status == "ok" else []:
                src = (f"from course_lib.testkit import run_task as _course_lib_run_task\n"
                       f"_course_lib_run_task({module!r}, {t.id!r}, {nonce!r}, {OUTPUT_LIMIT})\n"
                       f"del _course_lib_run_task")
                index = kernel.add_cell(src)
                restarts = kernel.restarts
                status_t, detail_t = kernel.run(index, store_history=False, timeout=task_timeout)
                result = _verdict(t, status_t, detail_t, nb.cells[index], nonce, task_timeout, timeout,
                                  task_cell.get(t.id), cell_status, label)
                if status_t == "timeout" and kernel.restarts > restarts:
                    result.message += "; it did not stop when interrupted, so the kernel was restarted for the other tasks"
                sub.tasks.append(result)
        except _GiveUp:
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


# ----------------------------------------------------------------------------- many notebooks, reports


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


def format_table(sub: Submission) -> str:
    """A plain-text table of one submission: task, points, max, message."""
    out = io.StringIO()
    head = f"== {sub.path}  [{sub.exercise_set or '?'}]  student {sub.student}: {sub.score} / {sub.max_score}"
    print(head, file=out)
    if sub.error:
        print(f"   not graded: {sub.error}" if not sub.tasks else f"   {sub.error}", file=out)
    if sub.tasks:
        width = max(len("task"), *(len(t.id) for t in sub.tasks))
        print(f"   {'task':<{width}}  points  max  message", file=out)
        for t in sub.tasks:
            print(f"   {t.id:<{width}}  {t.points:>6}  {t.max_points:>3}  {t.message}", file=out)
        print(f"   {'total':<{width}}  {sub.score:>6}  {sub.max_score:>3}", file=out)
    for note in sub.notes:
        print(f"   note: {note}", file=out)
    return out.getvalue().rstrip("\n")


def write_json(subs: Sequence[Submission], path: str | os.PathLike) -> None:
    pathlib.Path(path).write_text(json.dumps({"submissions": [s.to_json() for s in subs]}, indent=2,
                                             ensure_ascii=False) + "\n", encoding="utf-8")


def _task_columns(subs: Sequence[Submission]) -> list[tuple[str | None, str]]:
    sets = {s.exercise_set for s in subs if s.tasks}
    cols: list[tuple[str | None, str]] = []
    for s in subs:
        for t in s.tasks:
            key = (s.exercise_set, t.id)
            if key not in cols:
                cols.append(key)
    return cols if len(sets) > 1 else [(None, tid) for _, tid in cols]


def write_csv(subs: Sequence[Submission], path: str | os.PathLike) -> None:
    """A gradebook: one row per notebook with each task's points, the total and the maximum.

    Task columns are named by task id, or ``set:task`` when several exercise sets are graded
    together; a task that does not belong to a row's exercise set is left empty.
    """
    cols = _task_columns(subs)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "path", "exercise_set", *[tid if es is None else f"{es}:{tid}" for es, tid in cols],
                    "total", "max"])
        for s in subs:
            points = {t.id: t.points for t in s.tasks}
            row = [points.get(tid, "") if es in (None, s.exercise_set) else "" for es, tid in cols]
            w.writerow([s.student, s.path, s.exercise_set or "", *row, s.score, s.max_score])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grade",
        description="Grade exercise notebooks with the hidden tests (see the module docstring for details).")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a notebook, or a folder (searched recursively)")
    parser.add_argument("--json", required=True, metavar="OUT", help="write the report here (JSON)")
    parser.add_argument("--csv", metavar="GRADEBOOK", help="also write a gradebook, one row per notebook (CSV)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"time limit per cell and per task (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--task-timeout", type=float, metavar="SECONDS",
                        help="time limit per task's hidden test (default: --timeout)")
    parser.add_argument("--exercise-set", metavar="SET", help="grade every notebook as this set, e.g. 02_attention "
                        "(default: from each notebook's metadata or file name)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or (args.task_timeout is not None and args.task_timeout <= 0):
        parser.error("--timeout and --task-timeout must be positive")
    try:
        if not find_notebooks(args.paths):
            print(f"no notebooks (*.ipynb) found in {', '.join(args.paths)}", file=sys.stderr)
            return 2
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    subs = grade_paths(args.paths, timeout=args.timeout, exercise_set=args.exercise_set,
                       progress=False if args.no_progress else None, echo=True, task_timeout=args.task_timeout)
    write_json(subs, args.json)
    if args.csv:
        write_csv(subs, args.csv)
    passed = sum(s.passed for s in subs)
    print(f"{passed} of {len(subs)} notebook(s) passed every task; report: {args.json}"
          + (f", gradebook: {args.csv}" if args.csv else ""))
    return 0 if passed == len(subs) else 1


if __name__ == "__main__":
    sys.exit(main())
