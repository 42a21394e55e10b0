"""The hidden tests of the exercise sets: module ``setNN`` holds those of chapter ``NN``.

Each module defines ``EXERCISE_SET`` (e.g. ``"02_attention"``, the ``exercise_set`` of the
solution notebook's metadata) and ``TASKS``, one :class:`course_grader.testkit.Task` per
graded cell, in the notebook's order: the test functions are marked with
``@graded(points, description)`` and gathered by ``TASKS = collect_tasks(globals())``.
The grader finds the module by the chapter number that starts the exercise set
(``"02_attention"`` -> ``course_grader.hidden_tests.set02``).

The tests compare with reference implementations from the learner's library
(``course_lib``) or from torch; they are never shown to the learner. This package also
holds the small helpers several sets share (seeded inputs, "did they write it themselves").
"""
from __future__ import annotations

from typing import Callable

import torch

from course_grader.testkit import TaskFailed, learner_function

__all__ = ["randn", "own_function"]


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float32, scale: float = 1.0) -> torch.Tensor:
    """Standard normal values of ``shape`` and ``dtype`` times ``scale``, from their own generator seeded ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype) * scale


def own_function(ns: dict, name: str, reference: Callable | None = None) -> Callable:
    """The learner's function ``name``; fails if it *is* the course's ``reference``, imported instead of written."""
    fn = learner_function(ns, name)
    if reference is not None and fn is reference:
        raise TaskFailed(f"{name} is the course's own {reference.__module__}.{reference.__name__}, imported; "
                         "write the function yourself")
    return fn
