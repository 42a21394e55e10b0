"""The grader's results and reports: one :class:`Submission` per notebook, with a :class:`TaskResult` per task.

- :func:`format_table`: a plain-text table of one submission (what ``python -m course_grader`` prints);
- :func:`write_json`: the report ``{"submissions": [{"path", "student", "exercise_set", "score",
  "max_score", "tasks": [{"id", "points", "max_points", "message"}], "notes", "error"}]}``;
- :func:`write_csv`: the gradebook, one row per notebook (student, path, exercise set, each
  task's points, total, max).
"""
from __future__ import annotations

import csv
import io
import json
import os
import pathlib
from dataclasses import dataclass, field
from typing import Sequence

__all__ = ["TaskResult", "Submission", "format_table", "write_json", "write_csv"]


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
