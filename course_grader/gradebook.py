"""A class's gradebook: grade every notebook (in parallel), one row per student, written as it goes.

:func:`grade_class` is what ``python -m course_grader`` runs. It

1. finds the notebooks (``grade.find_notebooks``) and reads every one of them *first*, into
   memory, so nothing a notebook does while graded can change another student's file
   before it is read; a symbolic link is refused, never followed;
2. resumes: results in an earlier report (``--json``) made by the same grader, tests,
   options and ``course_lib`` (the references), for files whose bytes have not changed, are
   kept (``regrade=True`` ignores them);
3. grades the rest, ``jobs`` at a time (one grader process per job, each with its own
   sandboxed worker), and after *each* notebook rewrites the JSON report, the CSV gradebook
   and that student's feedback file, each atomically (``report.write_atomic``): a grader
   killed or interrupted (Ctrl-C) keeps what it graded, and the same command resumes;
4. checks, after each notebook, that the grader's own files (and the teacher's tests) did
   not change while it ran; if they did, it stops.

The gradebook (:func:`gradebook_rows`): one row per student with the total, each exercise
set's points and each task's, and a notes column: missing students of the roster (0
points), students not in the roster or listed twice, sets not handed in, several notebooks for one set
(the newest counts; the others are listed), names that differ only in case or spacing, and
notebooks that could not be graded. Every cell is formula-safe (``report.safe_cell``).
"""
from __future__ import annotations

import collections
import csv
import hashlib
import importlib.util
import io
import json
import os
import pathlib
import re
import signal
import sys
from dataclasses import dataclass, field
from typing import Callable, Sequence

from course_grader.grade import GradeOptions, find_notebooks, grade_notebook, hidden_tests_module, read_notebook, \
    student_key
from course_grader.report import Submission, format_table, report_json, safe_cell, submission_from_json, write_atomic

__all__ = ["Entry", "ClassRun", "grade_class", "gradebook_rows", "read_roster", "fingerprint", "feedback_text",
           "feedback_names"]

PACKAGE = pathlib.Path(__file__).resolve().parent
LIBRARY = pathlib.Path(importlib.util.find_spec("course_lib").origin).resolve().parent


@dataclass
class Entry:
    """One notebook found: where, whose, its bytes (read once), when it was last changed."""

    path: str
    student: str
    raw: bytes | None
    mtime: float
    problem: str | None = None  # why it cannot be graded (a symbolic link, unreadable)

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.raw).hexdigest() if self.raw is not None else None


@dataclass
class ClassRun:
    """What :func:`grade_class` did: the submissions in discovery order and the run's summary."""

    entries: list[Entry]
    results: dict[str, Submission] = field(default_factory=dict)
    reused: int = 0
    complete: bool = False
    stopped: str | None = None


def read_roster(path: str | os.PathLike) -> list[str]:
    """Student names from a roster: one per line (``#`` comments, blank lines skipped), or a CSV with a
    ``student`` column. Raises ValueError for an empty roster."""
    text = pathlib.Path(path).read_text(encoding="utf-8-sig")
    first = text.splitlines()[0] if text.strip() else ""
    if "," in first and "student" in [c.strip().casefold() for c in first.split(",")]:
        rows = csv.DictReader(io.StringIO(text))
        column = next(c for c in rows.fieldnames if c.strip().casefold() == "student")
        names = [r[column].strip() for r in rows if r.get(column, "").strip()]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
        if names and names[0].casefold() in ("student", "students", "name", "names"):  # a one-column CSV's header
            names = names[1:]
    if not names:
        raise ValueError(f"{path}: the roster lists no student (one name per line, or a CSV with a 'student' column).")
    return names


def fingerprint(options: GradeOptions, library: bool = True) -> str:
    """A hash of the grader's code, the teacher's tests, the options and (``library``) the learner's library
    ``course_lib``, whose reference functions the tests compare with: results with the same one can be reused."""
    h = hashlib.sha256()
    files = sorted(PACKAGE.rglob("*.py"))
    if options.tests_dir:
        files += sorted(pathlib.Path(options.tests_dir).rglob("*.py"))
    if library:
        files += sorted(LIBRARY.rglob("*.py"))
    for f in files:
        h.update(str(f.relative_to(f.parents[1])).encode())
        h.update(f.read_bytes())
    h.update(json.dumps(options.fingerprint_fields(), sort_keys=True, default=str).encode())
    return h.hexdigest()


def _discover(paths: Sequence[str]) -> list[Entry]:
    entries = []
    for path, student in find_notebooks(paths):
        try:
            mtime = os.lstat(path).st_mtime
        except OSError:
            mtime = 0.0
        if os.path.islink(path):
            entries.append(Entry(str(path), student, None, mtime, "a symbolic link (hand in the notebook itself)"))
            continue
        try:
            entries.append(Entry(str(path), student, read_notebook(path), mtime))
        except OSError as e:
            entries.append(Entry(str(path), student, None, mtime, f"cannot read the file ({e})"))
    return entries


def _previous(json_path: str, stamp: str) -> dict[str, Submission]:
    try:
        data = json.loads(pathlib.Path(json_path).read_text(encoding="utf-8"))
        if data.get("run", {}).get("fingerprint") != stamp:
            return {}
        return {s["path"]: submission_from_json(s) for s in data["submissions"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


# ----------------------------------------------------------------------------- the gradebook


def _tasks_of_set(exercise_set: str, options: GradeOptions) -> list[tuple[str, int]]:
    try:
        return [(t.id, t.points) for t in hidden_tests_module(exercise_set, options.tests_dir).TASKS]
    except ValueError:
        return []


def _counted(run: ClassRun) -> dict[tuple[str, str], list[Entry]]:
    """(student key, exercise set) -> its notebooks, the one that counts first (the newest)."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in run.entries:
        sub = run.results.get(e.path)
        if sub is not None and sub.exercise_set:
            groups.setdefault((student_key(e.student), sub.exercise_set), []).append(e)
    for key in groups:
        groups[key].sort(key=lambda e: (-e.mtime, e.path))
    return groups


def gradebook_rows(run: ClassRun, options: GradeOptions, roster: Sequence[str] | None = None) -> list[list]:
    """The CSV rows: a header, then one row per student (roster order, then the others by name)."""
    sets = sorted({s.exercise_set for s in run.results.values() if s.exercise_set and s.tasks})
    tasks = {es: _tasks_of_set(es, options) for es in sets}
    groups = _counted(run)
    names: dict[str, list[str]] = {}
    for e in run.entries:
        names.setdefault(student_key(e.student), [])
        if e.student not in names[student_key(e.student)]:
            names[student_key(e.student)].append(e.student)
    in_roster: dict[str, str] = {}
    for n in roster or []:  # the first spelling of a student listed twice
        in_roster.setdefault(student_key(n), n)
    listed = collections.Counter(student_key(n) for n in roster or [])
    order = list(in_roster) + sorted((k for k in names if k not in in_roster), key=lambda k: names[k][0].casefold())
    header = ["student", "total", "max", *sets, *[f"{es}:{tid}" for es in sets for tid, _ in tasks[es]], "notes"]
    rows = [header]
    for key in order:
        shown = in_roster.get(key) or names[key][0]
        notes: list[str] = []
        if roster is not None and key not in in_roster:
            notes.append("not in the roster")
        if key not in names:
            notes.append("no submission")
        if len(names.get(key, [])) > 1:
            notes.append(f"submitted under several names: {', '.join(names[key])}")
        if listed.get(key, 0) > 1:
            notes.append(f"listed {listed[key]} times in the roster")
        for e in run.entries:
            if student_key(e.student) == key and e.problem:
                notes.append(f"{e.path}: not graded: {e.problem}")
            sub = run.results.get(e.path)
            if student_key(e.student) == key and sub is not None and not sub.exercise_set and not e.problem:
                notes.append(f"{e.path}: not graded: {sub.error}")
        set_points, task_points, total = [], [], 0
        for es in sets:
            group = groups.get((key, es), [])
            sub = run.results[group[0].path] if group else None
            if sub is None:
                if key in names:
                    notes.append(f"{es}: not handed in")
                set_points.append(0)
                task_points += ["" for _ in tasks[es]]
                continue
            if len(group) > 1:
                others = "; ".join(f"{e.path} ({run.results[e.path].score}/{run.results[e.path].max_score})"
                                   for e in group[1:])
                notes.append(f"{es}: {len(group)} notebooks; counted {group[0].path} (the newest), also graded {others}")
            if sub.error:
                notes.append(f"{es}: {sub.error}")
            points = {t.id: t.points for t in sub.tasks}
            set_points.append(sub.score)
            task_points += [points.get(tid, 0) for tid, _ in tasks[es]]
            total += sub.score
        maximum = sum(p for es in sets for _, p in tasks[es])
        rows.append([shown, total, maximum, *set_points, *task_points, "; ".join(notes)])
    return rows


def _csv_text(rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def feedback_names(students: Sequence[str]) -> dict[str, str]:
    """Student key -> a file name of its own (letters, digits, ``._-``), unique, never hidden."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in students:
        key = student_key(name)
        if key in out:
            continue
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80] or "student"
        candidate, n = base, 1
        while candidate.casefold() in used:
            n += 1
            candidate = f"{base}-{n}"
        used.add(candidate.casefold())
        out[key] = candidate + ".md"
    return out


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def feedback_text(student: str, subs: Sequence[Submission], not_counted: Sequence[str] = ()) -> str:
    """A student's feedback file (Markdown): per exercise set, each task's points and message, and the notes.

    ``not_counted``: paths of notebooks graded but not counted (an older copy of the same set).
    """
    lines = [f"# Feedback for {student}", ""]
    if not subs:
        lines += ["No notebook of yours was found.", ""]
    counted = [s for s in subs if s.path not in not_counted]
    if subs:
        lines += [f"Total: {sum(s.score for s in counted)} / {sum(s.max_score for s in counted)} points", ""]
    for s in subs:
        extra = " (not counted: you handed in a newer notebook for this set)" if s.path in not_counted else ""
        lines += [f"## {s.exercise_set or '?'}: {s.score} / {s.max_score}{extra}", "", f"Notebook: `{s.path}`", ""]
        if s.error:
            lines += [f"Not graded: {s.error}" if not s.tasks else f"Note: {s.error}", ""]
        if s.tasks:
            lines += ["| task | points | max | message |", "|---|---:|---:|---|"]
            lines += [f"| {_cell(t.id)} | {t.points} | {t.max_points} | {_cell(t.message)} |" for t in s.tasks]
            lines.append("")
        lines += [f"- {_cell(n)}" for n in s.notes] + ([""] if s.notes else [])
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- grading


def _grade_entry(entry: Entry, options: GradeOptions) -> dict:
    if entry.problem:
        return Submission(entry.path, entry.student, options.exercise_set, error=entry.problem).to_json()
    return grade_notebook(entry.path, options, entry.student, raw=entry.raw).to_json()


def _job_init() -> None:
    """In each job process: die with the main grader; let it handle Ctrl-C."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except Exception:  # not Linux
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def grade_class(paths: Sequence[str], options: GradeOptions, json_path: str, csv_path: str | None = None,
                feedback_dir: str | None = None, roster: Sequence[str] | None = None, jobs: int = 1,
                regrade: bool = False, echo: Callable[[str], None] | None = None,
                progress: bool | None = None) -> ClassRun:
    """Grade every notebook in ``paths`` into the report, gradebook and feedback files (see the module docstring)."""
    from course_grader import sandbox

    stamp = fingerprint(options)
    own = fingerprint(options, library=False)  # the grader's files alone, checked after each notebook
    run = ClassRun(_discover(paths))
    previous = {} if regrade else _previous(json_path, stamp)
    for e in run.entries:
        old = previous.get(e.path)
        if old is not None and old.sha256 == e.sha256 and old.student == e.student and not e.problem:
            run.results[e.path] = old
            run.reused += 1
    feedback = feedback_names([*(roster or []), *(e.student for e in run.entries)])
    if feedback_dir:
        os.makedirs(feedback_dir, exist_ok=True)

    def write(student: str | None) -> None:
        info = {"fingerprint": stamp, "sandbox": sandbox.sandbox_kind(), "complete": run.complete,
                "graded": len(run.results), "notebooks": len(run.entries), "stopped": run.stopped,
                "options": options.fingerprint_fields()}
        ordered = [run.results[e.path] for e in run.entries if e.path in run.results]
        write_atomic(json_path, report_json(ordered, info))
        if csv_path:
            write_atomic(csv_path, _csv_text(gradebook_rows(run, options, roster)))
        if feedback_dir:
            keys = {student_key(student)} if student is not None else set(feedback)
            for key in keys:
                shown = next((e.student for e in run.entries if student_key(e.student) == key), None) or \
                    next((n for n in roster or [] if student_key(n) == key), key)
                subs = [run.results[e.path] for e in run.entries
                        if student_key(e.student) == key and e.path in run.results]
                older = [e.path for (k, _), group in _counted(run).items() if k == key for e in group[1:]]
                write_atomic(os.path.join(feedback_dir, feedback[key]), feedback_text(shown, subs, older))

    todo = [e for e in run.entries if e.path not in run.results]
    write(None)

    def done(entry: Entry, result: dict) -> None:
        sub = submission_from_json(result)
        run.results[entry.path] = sub
        if echo:
            echo(format_table(sub))
        if fingerprint(options, library=False) != own:
            run.stopped = ("the grader's files or the tests changed while grading (edited, or tampered with by a "
                           "notebook?); results so far are kept; check them and run again")
        write(entry.student)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="grading", unit="notebook", file=sys.stderr,
               disable=None if progress is None else not progress)
    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if jobs <= 1:
            for entry in todo:
                if run.stopped:
                    break
                bar.set_postfix_str(entry.student, refresh=True)
                done(entry, _grade_entry(entry, options))
                bar.update()
        else:
            _parallel(todo, options, jobs, done, bar, run)
        run.complete = run.stopped is None and len(run.results) == len(run.entries)
    except KeyboardInterrupt:
        run.stopped = f"interrupted after {len(run.results)} of {len(run.entries)} notebooks; run again to resume"
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        bar.close()
        write(None)
    return run


def _parallel(todo: list[Entry], options: GradeOptions, jobs: int, done, bar, run: ClassRun) -> None:
    import concurrent.futures as cf
    import multiprocessing

    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_job_init)
    futures = {pool.submit(_grade_entry, e, options): e for e in todo}
    try:
        for future in cf.as_completed(futures):
            entry = futures[future]
            try:
                result = future.result()
            except Exception as e:  # the job process itself failed (not the notebook)
                result = Submission(entry.path, entry.student, None,
                                    error=f"the grader failed on this notebook: {type(e).__name__}: {e}").to_json()
            done(entry, result)
            bar.update()
            if run.stopped:
                raise _Stop
    except BaseException as e:  # Ctrl-C, SIGTERM or a stop: end the job processes now (their workers die with them)
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            child.kill()
        if not isinstance(e, _Stop):
            raise
    else:
        pool.shutdown(wait=True)


class _Stop(Exception):
    """Stop the parallel grading (the grader's files changed)."""
