"""Instant feedback for the exercise notebooks: one friendly line per check, never a traceback.

A check cell under each task reads like this::

    with checking("softmax") as check:
        x = torch.tensor([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]])
        got = softmax(x)
        check.shape(got, (2, 3), "softmax(x)")
        check.dtype(got, torch.float32, "softmax(x)")
        check.close(got, torch.softmax(x, dim=-1), "softmax(x)")

and prints, for example::

    ✓ softmax(x): shape (2, 3)
    ✓ softmax(x): dtype torch.float32
    ✗ softmax(x): at index (1, 0) expected 0.3333, got nan; NaN appeared: did exp overflow?
    softmax: 2 of 3 checks passed.

What it promises the learner:

- a function that still says ``raise NotImplementedError()`` gives one line,
  "not implemented yet", and no traceback;
- any other exception from the learner's code is reported in one line with its type,
  message and the line of the learner's cell it came from;
- a wrong type or shape stops the remaining checks of the block (they could only repeat
  the same complaint); wrong values, dtypes and properties are all reported;
- a mismatch shows what was expected and what came back at *one* position of a small
  case, never the solution itself.

The checks here are for learning only. The grade comes from hidden tests with other
inputs (``course_grader.hidden_tests``), run by ``python -m course_grader``. Both compare
tensors by the same rule, :func:`compare`, so a check cell and the grade never disagree
about what counts as close enough.

This module prints, unlike the rest of ``course_lib``: printing feedback is its job.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch

__all__ = ["checking", "Checker", "compare", "Mismatch", "PASS", "FAIL", "TODO"]

PASS, FAIL, TODO = "✓", "✗", "…"
_MAX_MESSAGE = 300  # characters of an exception message shown to the learner


class _StopChecks(Exception):
    """Raised by a check whose failure makes the following checks meaningless."""


def shorten(text, limit: int = _MAX_MESSAGE) -> str:
    """``text`` on one line (white space folded), cut to ``limit`` characters with "..." (also used by the grader)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _type_name(value: Any) -> str:
    return type(value).__name__ if not isinstance(value, torch.Tensor) else "torch.Tensor"


def _not_a_tensor(got: Any) -> str:
    return (f"expected a torch.Tensor, got {_type_name(got)}"
            + (" (did the function forget to `return`?)" if got is None else ""))


@dataclass(frozen=True)
class Mismatch:
    """Why a tensor does not match its reference; what :func:`compare` returns.

    Attributes:
        kind: ``"type"`` (not a tensor), ``"shape"``, ``"dtype"`` (complex values, or
            integers where floating-point values were expected) or ``"values"``.
        message: one line for the learner, e.g. ``"at index (1, 0) expected 0.3333, got nan
            (1 of 6 values differ); NaN appeared: ..."`` (without the name of the value).
        index, expected, got: for ``"values"``, the first position that differs (a tuple,
            ``()`` for a 0-d tensor) and the two Python numbers there.
        bad, total: for ``"values"``, how many elements differ, of how many.
    """

    kind: str
    message: str
    index: tuple = ()
    expected: Any = None
    got: Any = None
    bad: int = 0
    total: int = 0

    @property
    def nonfinite(self) -> str:
        """``"nan"`` or ``"inf"`` when the returned value at ``index`` is one (a hint is due), else ``""``."""
        if isinstance(self.got, float) and math.isnan(self.got):
            return "nan"
        if isinstance(self.got, float) and math.isinf(self.got):
            return "inf"
        return ""


def compare(got: Any, expected: Any, atol: float = 1e-5, rtol: float = 1e-4) -> Mismatch | None:
    """The course's one rule for "``got`` matches ``expected``"; None when it does, else a :class:`Mismatch`.

    Both the check cells (:meth:`Checker.close`) and the hidden tests
    (``course_grader.testkit.expect_close``) use it, so instant feedback and the grade agree:

    - ``got`` must be a ``torch.Tensor`` of exactly ``expected``'s shape (``expected`` may
      be anything ``torch.as_tensor`` takes); empty tensors of that shape match;
    - a bool or integer ``expected`` must be matched exactly (``got`` of any real dtype);
    - a floating-point ``expected`` needs floating-point ``got`` (integers are a dtype
      mismatch) with, element by element in float64, ``|got - expected| <= atol + rtol * |expected|``
      (``torch.isclose``; the boundary itself passes). NaN never matches, not even NaN;
      an infinity matches only the same infinity;
    - complex ``got`` never matches (the course's values are real).

    Raises ValueError for negative tolerances or a complex ``expected`` (a mistake in the check itself).
    """
    if atol < 0 or rtol < 0:
        raise ValueError(f"compare: atol and rtol must be >= 0, got atol={atol}, rtol={rtol}.")
    if not isinstance(got, torch.Tensor):
        return Mismatch("type", _not_a_tensor(got))
    e = torch.as_tensor(expected).detach().cpu()
    g = got.detach().cpu()
    if e.is_complex():
        raise ValueError("compare: the reference is complex; compare real and imaginary parts separately.")
    if tuple(g.shape) != tuple(e.shape):
        return Mismatch("shape", f"expected shape {tuple(e.shape)}, got {tuple(g.shape)}")
    if g.is_complex():
        return Mismatch("dtype", f"expected real values, got dtype {g.dtype}")
    if e.is_floating_point() and not g.is_floating_point():
        return Mismatch("dtype", f"expected floating-point values, got dtype {g.dtype}")
    if g.numel() == 0:
        return None
    if not e.is_floating_point():  # bool or integer reference: exact
        bad = (g.to(torch.float64) != e.to(torch.float64)) if g.is_floating_point() else (g != e)
    else:
        g64, e64 = g.to(torch.float64), e.to(torch.float64)
        bad = ~torch.isclose(g64, e64, atol=atol, rtol=rtol, equal_nan=False)
        bad &= ~((g64 == e64) & torch.isinf(e64))  # equal infinities are fine
    if not bad.any():
        return None
    idx = tuple(int(i) for i in bad.nonzero()[0])
    gv, ev = g[idx].item(), e[idx].item()
    n_bad, total = int(bad.sum()), bad.numel()
    m = Mismatch("values", "", idx, ev, gv, n_bad, total)
    hint = {"nan": "; NaN appeared: did exp overflow, or 0/0 or -inf - (-inf) happen?",
            "inf": "; inf appeared: did exp overflow?"}.get(m.nonfinite, "")
    where = f"at index {idx}" if idx else "value"
    return replace(m, message=f"{where} expected {_fmt(ev)}, got {_fmt(gv)} ({n_bad} of {total} values differ){hint}")


def learner_line(exc: BaseException) -> str:
    """' (line N of <function>)' for the innermost frame of ``exc`` that lies in notebook code.

    Code typed into notebook cells runs in the namespace ``__main__``, and IPython numbers
    its lines from the top of each cell. Frames inside torch or course_lib are skipped, so
    the learner sees the line they wrote.
    """
    tb, found = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "__main__":  # a notebook cell, or a script
            found = tb
        tb = tb.tb_next
    if found is None:
        return ""
    func = found.tb_frame.f_code.co_name
    where = "the cell" if func == "<module>" else func
    return f" (line {found.tb_lineno} of {where})"


def _raising_function(exc: BaseException) -> str | None:
    """Name of the innermost notebook function in ``exc``'s traceback (None if it came from a cell itself)."""
    tb, name = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "__main__" and tb.tb_frame.f_code.co_name != "<module>":
            name = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return name


class Checker:
    """Collects the checks of one ``with checking(name)`` block and prints one line each."""

    def __init__(self, name: str, out=None):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.completed = False  # the block ran to its end (no exception, not stopped)
        self._out = out

    @property
    def ok(self) -> bool:
        """Every check of a block that ran to its end passed (what an nbgrader test cell asserts)."""
        return self.completed and self.passed > 0 and self.failed == 0

    # ------------------------------------------------------------------ printing
    def _say(self, line: str) -> None:
        print(line, file=self._out or sys.stdout)

    def _result(self, ok: bool, what: str, detail: str) -> bool:
        if ok:
            self.passed += 1
            self._say(f"{PASS} {what}: {detail}")
        else:
            self.failed += 1
            self._say(f"{FAIL} {what}: {detail}")
        return ok

    # ------------------------------------------------------------------ checks
    def tensor(self, got: Any, what: str = "result") -> bool:
        """A torch.Tensor came back. Stops the block if not."""
        if isinstance(got, torch.Tensor):
            return True
        self._result(False, what, _not_a_tensor(got))
        raise _StopChecks

    def unpack(self, got: Any, names: Sequence[str], what: str = "result") -> tuple:
        """A tuple of ``len(names)`` values came back; returns it. Stops the block if not."""
        n = len(names)
        if isinstance(got, (tuple, list)) and len(got) == n:
            return tuple(got)
        found = f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else _type_name(got)
        self._result(False, what, f"expected a tuple of {n} ({', '.join(names)}), got {found}")
        raise _StopChecks

    def shape(self, got: Any, expected: Sequence[int], what: str = "result") -> bool:
        """``got.shape == expected``. Stops the block if not (values cannot be compared)."""
        self.tensor(got, what)
        expected = tuple(expected)
        if tuple(got.shape) == expected:
            return self._result(True, what, f"shape {expected}")
        self._result(False, what, f"expected shape {expected}, got {tuple(got.shape)}")
        raise _StopChecks

    def dtype(self, got: Any, expected: torch.dtype, what: str = "result") -> bool:
        """``got.dtype == expected``."""
        self.tensor(got, what)
        if got.dtype == expected:
            return self._result(True, what, f"dtype {expected}")
        return self._result(False, what, f"expected dtype {expected}, got {got.dtype}")

    def close(self, got: Any, expected: Any, what: str = "result", atol: float = 1e-5, rtol: float = 1e-4) -> bool:
        """Values agree with ``expected`` by :func:`compare` (the rule the hidden tests use too).

        A wrong type or shape stops the block; on a value mismatch it shows one position:
        the expected and the returned value there.
        """
        m = compare(got, expected, atol=atol, rtol=rtol)
        if m is None:
            return self._result(True, what, "values match" if got.numel() else "values match (empty)")
        self._result(False, what, m.message)
        if m.kind in ("type", "shape"):
            raise _StopChecks
        return False

    def equal(self, got: Any, expected: Any, what: str = "result") -> bool:
        """``got == expected`` for plain Python values (numbers, tuples, strings)."""
        ok = got == expected
        if isinstance(ok, torch.Tensor):  # compare tensors with close()
            return self.close(got, expected, what, atol=0.0, rtol=0.0)
        return self._result(bool(ok), what, f"{_fmt(got)}" if ok else f"expected {_fmt(expected)}, got {_fmt(got)}")

    def true(self, condition: Any, what: str, hint: str = "") -> bool:
        """A property that must hold, e.g. ``what="each row sums to 1"``."""
        ok = bool(condition)
        return self._result(ok, what, "yes" if ok else "no" + (f"; {hint}" if hint else ""))

    def raises(self, exc_type: type[BaseException], fn, *args, what: str = "result", **kwargs) -> bool:
        """Calling ``fn(*args, **kwargs)`` raises ``exc_type`` (e.g. ValueError for bad input)."""
        try:
            fn(*args, **kwargs)
        except NotImplementedError:
            raise
        except exc_type as e:
            return self._result(True, what, f"raises {exc_type.__name__} ({shorten(e, 80)})")
        except Exception as e:
            return self._result(False, what, f"expected {exc_type.__name__}, got {type(e).__name__}: {shorten(e, 120)}")
        return self._result(False, what, f"expected {exc_type.__name__}, but nothing was raised")


class checking:
    """``with checking("softmax") as check: ...``: run checks, catch the learner's errors.

    Inside the block, call the learner's function directly and use ``check.shape``,
    ``check.dtype``, ``check.close``, ``check.true`` and friends. Leaving the block prints
    a one-line summary. Exceptions never escape: ``NotImplementedError`` becomes "not
    implemented yet", anything else one line with its type, message and line.
    """

    def __init__(self, name: str, out=None):
        self.checker = Checker(name, out)

    def __enter__(self) -> Checker:
        return self.checker

    def __exit__(self, exc_type, exc, tb) -> bool:
        c = self.checker
        if exc_type is None:
            c.completed = True
            total = c.passed + c.failed
            if c.failed:
                c._say(f"{c.name}: {c.passed} of {total} checks passed.")
            else:
                c._say(f"{c.name}: all {total} checks passed. (The grade comes from hidden tests with other inputs.)")
            return True
        if issubclass(exc_type, _StopChecks):
            c._say(f"{c.name}: stopped after that failure; fix it and run this cell again.")
            return True
        if issubclass(exc_type, NotImplementedError):
            culprit = _raising_function(exc)
            if culprit and culprit != c.name:
                c._say(f"{TODO} {c.name}: it calls {culprit}, which is not implemented yet; do that task first.")
            else:
                c._say(f"{TODO} {c.name}: not implemented yet. Replace `raise NotImplementedError()` with your code, "
                       "run that cell, then this one.")
            return True
        if issubclass(exc_type, Exception):
            c._say(f"{FAIL} {c.name}: raised {exc_type.__name__}: {shorten(exc)}{learner_line(exc)}")
            return True
        return False  # KeyboardInterrupt, SystemExit: let them through
