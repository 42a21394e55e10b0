"""The README's chapter table and the exercise lists say what is really there.

Every notebook in ``notebooks/`` has a row in the README's chapter table (and no row names a
notebook that does not exist); ``exercises/README.md`` gives each set's task and point counts
as the hidden tests define them, and the totals that the README and chapter 00 quote.
"""
from __future__ import annotations

import functools
import json
import pathlib
import re

import pytest

from course_grader.grade import hidden_tests_module
from course_grader.testkit import collect_tasks

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
SETS = sorted(p.name.removesuffix("_exercises.ipynb") for p in (ROOT / "solutions").glob("*_exercises.ipynb"))


def _chapter_table() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Chapters", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| [0-9a-z]+ \| `([^`]+\.ipynb)` \|", section, re.M)


@functools.lru_cache(maxsize=None)
def _counts(exercise_set: str) -> tuple[int, int]:
    tasks = collect_tasks(vars(hidden_tests_module(exercise_set)))
    return len(tasks), sum(t.points for t in tasks)


def test_every_notebook_has_one_row_in_the_readme_in_order():
    listed = _chapter_table()
    assert listed == NOTEBOOKS, f"README chapter table {listed} against notebooks/ {NOTEBOOKS}"


@pytest.mark.parametrize("exercise_set", SETS)
def test_exercise_list_gives_the_hidden_tests_counts(exercise_set):
    text = (ROOT / "exercises" / "README.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| `{exercise_set}_exercises\.ipynb` \|[^|]*\| (\d+):[^|]*\| (\d+) \|$", text, re.M)
    assert row, f"exercises/README.md has no row for {exercise_set}"
    assert (int(row[1]), int(row[2])) == _counts(exercise_set), f"{exercise_set}: (tasks, points) in the list"


def test_totals_quoted_everywhere_are_the_real_totals():
    tasks, points = (sum(column) for column in zip(*map(_counts, SETS)))
    phrase = f"{tasks} tasks, {points} points"
    assert f"{tasks} graded tasks, {points} points" in (ROOT / "exercises" / "README.md").read_text(encoding="utf-8")
    assert phrase in (ROOT / "README.md").read_text(encoding="utf-8"), f"README should say '{phrase}'"
    start = json.loads((ROOT / "notebooks" / "00_start_here.ipynb").read_text(encoding="utf-8"))
    markdown = "".join("".join(c["source"]) for c in start["cells"] if c["cell_type"] == "markdown")
    assert phrase in markdown, f"chapter 00 should say '{phrase}'"
