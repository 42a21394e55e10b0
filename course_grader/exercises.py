"""Make the student notebooks in ``exercises/`` from the solutions in ``solutions/``.

    python -m course_grader.exercises            # write exercises/NN_*.ipynb from solutions/NN_*.ipynb
    python -m course_grader.exercises --check    # write nothing; exit 1 naming each stale file

``solutions/`` is the only hand-written source of exercises; never edit ``exercises/``.
A solution notebook is marked up like this:

- notebook metadata ``"course": {"exercise_set": "02_attention"}``; the set starts with
  the chapter number, which names the hidden tests (``course_grader.hidden_tests.set02``);
- each graded code cell has cell metadata ``"course": {"task": "softmax", "points": 2}``
  and its solution between two marker lines, inside the function body::

      def softmax(x, dim=-1):
          \"\"\"docstring stays\"\"\"
          ### BEGIN SOLUTION
          ...
          ### END SOLUTION

  (the same markers work in a markdown cell, for a written answer);
- each check cell has ``"course": {"check": "softmax"}``: feedback for the learner
  (``course_lib.feedback``); the grader skips it.

What the exercise version gets: every marked block becomes ``# YOUR CODE HERE`` and
``raise NotImplementedError()`` at the marker's indentation (``YOUR ANSWER HERE`` in
markdown); outputs and execution counts are cleared; cell metadata keeps only ``course``
and ``tags``, plus ``deletable: false`` on graded cells and ``editable: false`` on check
cells (JupyterLab honours both); notebook metadata keeps only the kernel, the language
and ``course``. The result depends only on the solution's sources, so re-running the
solutions does not make ``exercises/`` stale; changing a solution's code or text does,
and ``tests/test_exercises.py`` fails until this command is run again.

The command refuses (exit status 2, nothing written or removed) when the solutions folder
does not exist or holds no notebook: a mistyped ``--solutions`` must not empty ``exercises/``.
"""
from __future__ import annotations

import argparse
import copy
import pathlib
import re
import sys
from typing import Sequence

__all__ = ["BEGIN", "END", "strip_solutions", "make_exercise", "exercise_text", "tasks_of", "validate", "generate",
           "main"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = ("YOUR ANSWER HERE",)
ROOT = pathlib.Path(__file__).resolve().parents[1]  # the repository: course_grader/exercises.py -> ..
_CHAPTER = re.compile(r"^(\d\d[a-z]?)_")
_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def strip_solutions(source: str, markdown: bool = False, where: str = "cell") -> str:
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block by the stub, at the marker's indent.

    Raises ValueError for an unclosed block, a nested BEGIN or an END without BEGIN.
    """
    out: list[str] = []
    inside = False
    for n, line in enumerate(source.splitlines(keepends=False), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"{where}, line {n}: '{BEGIN}' inside another solution block; close the first one "
                                 f"with '{END}'.")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in (MARKDOWN_STUB if markdown else CODE_STUB))
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"{where}, line {n}: '{END}' without a '{BEGIN}' before it.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' is never closed; add a line '{END}' after the solution.")
    return "\n".join(out) + ("\n" if source.endswith("\n") else "")


def _course(meta) -> dict:
    c = meta.get("course") if isinstance(meta, dict) else None
    return c if isinstance(c, dict) else {}


def tasks_of(nb) -> list[dict]:
    """``[{"id", "points", "cell"}]`` for the graded cells of a notebook, in order."""
    return [{"id": _course(c.metadata)["task"], "points": _course(c.metadata).get("points"), "cell": i}
            for i, c in enumerate(nb.cells) if c.cell_type == "code" and "task" in _course(c.metadata)]


def validate(nb, name: str = "notebook") -> None:
    """Check a solution notebook's mark-up; ValueError says what to fix."""
    es = _course(nb.metadata).get("exercise_set")
    if not isinstance(es, str) or not _CHAPTER.match(es):
        raise ValueError(f"{name}: set the notebook metadata 'course': {{'exercise_set': 'NN_topic'}} "
                         "(e.g. '02_attention').")
    if not name.startswith(es):
        raise ValueError(f"{name}: the file name should start with its exercise set {es!r}.")
    tasks = tasks_of(nb)
    if not tasks:
        raise ValueError(f"{name}: no graded cell (cell metadata 'course': {{'task': ..., 'points': ...}}).")
    ids = [t["id"] for t in tasks]
    for t in tasks:
        where = f"{name}, cell {t['cell']} (task {t['id']!r})"
        if ids.count(t["id"]) > 1:
            raise ValueError(f"{where}: the task id appears in more than one cell; ids must be unique.")
        if isinstance(t["points"], bool) or not isinstance(t["points"], int) or t["points"] < 1:
            raise ValueError(f"{where}: 'points' must be a positive integer, got {t['points']!r}.")
        if BEGIN not in nb.cells[t["cell"]].source:
            raise ValueError(f"{where}: a graded cell needs a '{BEGIN}' ... '{END}' block.")
    for i, c in enumerate(nb.cells):
        check = _course(c.metadata).get("check")
        if check is not None and check not in ids:
            raise ValueError(f"{name}, cell {i}: check cell for unknown task {check!r}; tasks are {ids}.")


def make_exercise(nb, name: str = "notebook"):
    """The student version of solution notebook ``nb`` (a new notebook; ``nb`` is not changed)."""
    validate(nb, name)
    ex = copy.deepcopy(nb)
    for i, cell in enumerate(ex.cells):
        course = _course(cell.metadata)
        meta = {k: cell.metadata[k] for k in ("course", "tags") if k in cell.metadata}
        if cell.cell_type in ("code", "markdown"):
            cell.source = strip_solutions(cell.source, markdown=cell.cell_type == "markdown", where=f"{name}, cell {i}")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if "task" in course:
                meta["deletable"] = False
            if "check" in course:
                meta["deletable"], meta["editable"] = False, False
        cell.metadata = type(cell.metadata)(meta)
    ex.metadata = type(ex.metadata)({"kernelspec": dict(_KERNELSPEC), "language_info": {"name": "python"},
                                     "course": copy.deepcopy(_course(nb.metadata))})
    return ex


def exercise_text(solution: str | pathlib.Path) -> str:
    """The exact text ``exercises/<name>`` must have for solution notebook file ``solution``."""
    import nbformat

    solution = pathlib.Path(solution)
    nb = nbformat.read(solution, as_version=4)
    text = nbformat.writes(make_exercise(nb, solution.name))
    return text if text.endswith("\n") else text + "\n"


def generate(solutions: str | pathlib.Path = ROOT / "solutions", exercises: str | pathlib.Path = ROOT / "exercises",
             check: bool = False) -> list[str]:
    """Write (or with ``check=True`` only compare) every exercise notebook.

    Returns the file names in ``exercises`` that were (or would be) written or removed:
    with ``check=True``, the stale ones. An exercise notebook with no solution is removed.

    Raises ValueError, before touching anything, when ``solutions`` is not a folder or holds
    no ``*.ipynb`` (so a wrong path cannot delete every exercise), or when a solution's
    mark-up is broken.
    """
    solutions, exercises = pathlib.Path(solutions), pathlib.Path(exercises)
    if not solutions.is_dir():
        raise ValueError(f"{solutions}: no such folder; pass --solutions the folder of solution notebooks "
                         f"(default {ROOT / 'solutions'}). Nothing was written or removed.")
    if not any(solutions.glob("*.ipynb")):
        raise ValueError(f"{solutions} holds no solution notebook (*.ipynb); is it the right folder? "
                         "Nothing was written or removed.")
    changed: list[str] = []
    wanted = {}
    for sol in sorted(solutions.glob("*.ipynb")):
        wanted[sol.name] = exercise_text(sol)
    for name, text in wanted.items():
        target = exercises / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append(name)
            if not check:
                exercises.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    for orphan in sorted(exercises.glob("*.ipynb")):
        if orphan.name not in wanted:
            changed.append(orphan.name)
            if not check:
                orphan.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grader.exercises",
                                     description="Generate exercises/ (student notebooks) from solutions/.")
    parser.add_argument("--solutions", type=pathlib.Path, default=ROOT / "solutions", help="default: %(default)s")
    parser.add_argument("--exercises", type=pathlib.Path, default=ROOT / "exercises", help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if exercises/ is stale")
    args = parser.parse_args(argv)
    try:
        changed = generate(args.solutions, args.exercises, check=args.check)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print(f"stale in {args.exercises}: {', '.join(changed)}; run: python -m course_grader.exercises")
            return 1
        print(f"{args.exercises} is up to date")
        return 0
    print(f"wrote {len(changed)} file(s) in {args.exercises}" + (f": {', '.join(changed)}" if changed else " (all up to date)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
