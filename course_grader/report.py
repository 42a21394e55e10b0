"""The grader's results: one :class:`Submission` per notebook, with a :class:`TaskResult` per task.

- :func:`format_table`: a plain-text table of one submission (what ``python -m course_grader`` prints);
- :func:`report_json` / :func:`write_json`: the report ``{"submissions": [{"path", "student",
  "exercise_set", "score", "max_score", "tasks": [{"id", "points", "max_points", "message"}],
  "notes", "error", "sha256", "sandbox", "timings"}], "run": {...}}``;
- :func:`write_atomic`: every file the grader writes is written whole or not at all (a temporary
  file in the same folder, then a rename), so a grader killed mid-write leaves the last good copy;
- :func:`safe_cell`: a spreadsheet cell that cannot be read as a formula.
"""
from __future__ import annotations

import io
import json
import os
import pathlib
import tempfile
from dataclasses import dataclass, field
from typing import Sequence

__all__ = ["TaskResult", "Submission", "format_table", "report_json", "write_json", "write_atomic", "safe_cell",
           "submission_from_json"]


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
    sha256: str | None = None  # of the file's bytes (a re-run reuses the result of an unchanged file)
    sandbox: str | None = None  # "bwrap" or "none"
    timings: dict = field(default_factory=dict)  # seconds: start (not the learner's), setup, cells, tests, total

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
                "notes": self.notes, "error": self.error, "sha256": self.sha256, "sandbox": self.sandbox,
                "timings": self.timings}


def submission_from_json(d: dict) -> Submission:
    """The inverse of ``Submission.to_json`` (for a re-run that resumes from an earlier report)."""
    tasks = [TaskResult(str(t["id"]), int(t["points"]), int(t["max_points"]), str(t["message"])) for t in d["tasks"]]
    return Submission(str(d["path"]), str(d["student"]), d.get("exercise_set"), tasks, list(d.get("notes", [])),
                      d.get("error"), d.get("sha256"), d.get("sandbox"), dict(d.get("timings", {})))


def format_table(sub: Submission) -> str:
    """A plain-text table of one submission: task, points, max, message; then notes and times."""
    out = io.StringIO()
    print(f"== {sub.path}  [{sub.exercise_set or '?'}]  student {sub.student}: {sub.score} / {sub.max_score}", file=out)
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
    if sub.timings:
        parts = [f"{k} {v:.1f} s" for k, v in sub.timings.items() if isinstance(v, (int, float))]
        print(f"   time: {', '.join(parts)}" + (" (start: the grader's, not the notebook's)" if "start" in sub.timings
                                                 else ""), file=out)
    return out.getvalue().rstrip("\n")


def report_json(subs: Sequence[Submission], run: dict | None = None) -> str:
    data = {"submissions": [s.to_json() for s in subs]}
    if run is not None:
        data["run"] = run
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (temporary file, fsync, rename)."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent or "."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json(subs: Sequence[Submission], path: str | os.PathLike, run: dict | None = None) -> None:
    write_atomic(path, report_json(subs, run))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def safe_cell(value):
    """A CSV cell a spreadsheet shows as text: strings that could start a formula get a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
