"""Argument checks shared by the whole package: one rule, one message, one argument order.

Every public function of ``course_lib`` checks what a learner passes before torch or numpy
sees it, so a mistake gets a sentence that says what to do instead of a traceback from deep
inside a library. The checks all take ``(value, name, ...)`` and return the value converted
to a plain Python type, so a caller writes ``steps = check_int(steps, "steps", minimum=1)``.

    check_int(5, "steps", minimum=1)            -> 5
    check_int(True, "steps")                    -> ValueError (a bool is not a count)
    check_positive(3e-4, "lr")                  -> 0.0003
    check_fraction(0.1, "val_fraction")         -> 0.1   (open interval (0, 1) by default)
    check_positive_array([1e6, 1e7], "N")       -> array([1e6, 1e7])
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_int", "check_positive", "check_nonnegative", "check_fraction", "check_positive_array"]


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int``; ValueError unless it is an integer (not a bool) in [minimum, maximum].

    numpy and torch integer scalars are accepted (``numbers.Integral``); floats such as
    ``3.0`` are refused, because a float where a count belongs is usually a units mistake.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}.")
    return value


def check_positive(value, name: str) -> float:
    """``value`` as a ``float``; ValueError unless it is a finite real number > 0."""
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return float(value)


def check_nonnegative(value, name: str) -> float:
    """``value`` as a ``float``; ValueError unless it is a finite real number >= 0."""
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


def check_fraction(value, name: str, *, allow_zero: bool = False, allow_one: bool = False) -> float:
    """``value`` as a ``float`` in (0, 1); ``allow_zero`` / ``allow_one`` close either end."""
    low, high = ("[" if allow_zero else "("), ("]" if allow_one else ")")
    ok = _is_real(value) and math.isfinite(value)
    if ok:
        ok = (value >= 0 if allow_zero else value > 0) and (value <= 1 if allow_one else value < 1)
    if not ok:
        raise ValueError(f"{name} must be a number in {low}0, 1{high}, got {value!r}.")
    return float(value)


def check_positive_array(value, name: str, allow_empty: bool = False) -> np.ndarray:
    """``value`` as a float array; ValueError unless every entry is finite and > 0.

    Used for counts of parameters, tokens and FLOPs and for losses in nats, where a zero or
    a negative number always means the wrong units or a missing value.
    """
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {type(value).__name__}.") from None
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty; give at least one value.")
    flat = arr.ravel()
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"{name} must be finite (no NaN or infinity); got {flat[~np.isfinite(flat)][:3]}.")
    if np.any(flat <= 0):
        raise ValueError(
            f"{name} must be positive (a count of parameters, tokens or FLOPs, or a loss in nats); "
            f"got {flat[flat <= 0][:3].tolist()}. Check the units and pass positive values."
        )
    return arr
