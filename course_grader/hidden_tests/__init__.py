"""The hidden tests of the exercise sets: module ``setNN`` holds those of chapter ``NN``.

Each module defines ``EXERCISE_SET`` (e.g. ``"02_attention"``, the ``exercise_set`` of the
solution notebook's metadata) and ``TASKS``, one :class:`course_grader.testkit.Task` per
graded cell, in the notebook's order: the test functions are marked with
``@graded(points, description)`` and gathered by ``TASKS = collect_tasks(globals())``.
The grader finds the module by the chapter number that starts the exercise set
(``"02_attention"`` -> ``course_grader.hidden_tests.set02``); a teacher's ``--tests DIR``
may hold a ``setNN.py`` of the same form that replaces it.

The tests run in the grader's process, compare with reference implementations (torch,
transformers, the course's ``course_lib``, or written out here) and are never shown to the
learner's code. This package also holds the small helpers several sets share.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import torch

from course_grader.testkit import TaskFailed, derive_seed, kind_of

__all__ = ["randn", "number", "integer", "expect_number", "expect_tuple", "expect_sweep"]


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float32, scale: float = 1.0) -> torch.Tensor:
    """Standard normal values of ``shape`` and ``dtype`` times ``scale``, from their own generator.

    The generator is seeded with ``derive_seed(seed)``: ``seed`` itself, or, when the teacher
    grades with a secret, a seed drawn from the secret, the student and the task.
    """
    g = torch.Generator().manual_seed(derive_seed(seed))
    return torch.randn(*shape, generator=g, dtype=dtype) * scale


def number(got: Any, what: str, finite: bool = False) -> float:
    """A real number from what the learner returned (a Python or numpy number, a one-element tensor or array)."""
    if isinstance(got, bool) or got is None:
        extra = " (did the function forget to `return`?)" if got is None else ""
        raise TaskFailed(f"{what}: expected a number, got {kind_of(got)}{extra}")
    if isinstance(got, torch.Tensor) or hasattr(got, "ndim") and hasattr(got, "size") and not isinstance(got, numbers.Real):
        if getattr(got, "ndim", 1) != 0 and int(got.numel() if isinstance(got, torch.Tensor) else got.size) != 1:
            raise TaskFailed(f"{what}: expected one number, got an array of shape {tuple(got.shape)}")
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        raise TaskFailed(f"{what}: expected a number, got {kind_of(got)}")
    value = float(got)
    if finite and not math.isfinite(value):
        raise TaskFailed(f"{what}: expected a finite number, got {value} (an overflow, or a division by zero?)")
    return value


def integer(got: Any, what: str, meaning: str, tensors: bool = False) -> int:
    """An int from what the learner returned (``meaning`` says which: "an exact count"); with ``tensors``, a
    one-element integer tensor counts too. A float, a bool or None is a TaskFailed that says so."""
    if isinstance(got, bool) or not isinstance(got, numbers.Integral):
        if tensors and isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
            return int(got.item())
        extra = " (did the function forget to `return`?)" if got is None else ""
        shown = f" ({got!r})" if isinstance(got, float) else ""
        raise TaskFailed(f"{what}: expected an int ({meaning}), got {kind_of(got)}{shown}{extra}")
    return int(got)


def expect_number(got: Any, expected: float, what: str, atol: float = 0.0, rtol: float = 0.0) -> float:
    """``got`` is a number within ``atol + rtol * |expected|`` of ``expected`` (NaN matches only NaN)."""
    value = number(got, what)
    if math.isnan(expected):
        if not math.isnan(value):
            raise TaskFailed(f"{what}: expected nan (the quantity is 0/0 here), got {value:.6g}")
        return value
    if math.isinf(expected) or math.isinf(value):
        if value != expected:
            raise TaskFailed(f"{what}: expected {expected:.10g}, got {value:.10g}")
        return value
    if math.isnan(value) or abs(value - expected) > atol + rtol * abs(expected):
        raise TaskFailed(f"{what}: expected {expected:.10g}, got {value:.10g} (tolerance atol={atol:g}, rtol={rtol:g})")
    return value


def expect_tuple(got: Any, names: Sequence[str], what: str) -> tuple:
    """``got`` is a tuple (or list) of ``len(names)`` items; returns it as a tuple."""
    if not isinstance(got, (tuple, list)) or len(got) != len(names):
        kind = f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else kind_of(got)
        raise TaskFailed(f"{what}: expected a tuple ({', '.join(names)}), got {kind}")
    return tuple(got)


def expect_sweep(got: Any, settings: Sequence, what: str, names: tuple[str, str]) -> tuple[list[float], Any]:
    """A sweep's report ``(values, choice)``: one number per setting, and the choice is the setting whose value
    is the lowest *by the learner's own numbers* (the first on a tie). Returns the values (floats) and the
    choice; the caller compares the values with its reference."""
    values, choice = expect_tuple(got, names, what)
    if not isinstance(values, (list, tuple)) or len(values) != len(settings):
        raise TaskFailed(f"{what}: expected {len(settings)} {names[0]}, one per setting, got {kind_of(values)}")
    mine = [number(v, f"{what}: {names[0]} for {s!r}") for v, s in zip(values, settings)]
    chosen = settings[min(range(len(settings)), key=lambda i: mine[i])]
    if number(choice, f"{what}: {names[1]}") != chosen:
        raise TaskFailed(f"{what}: {names[1]} should be {chosen!r}, the setting of the lowest of your own values, "
                         f"got {choice!r}")
    return mine, choice
