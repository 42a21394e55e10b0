"""What the hidden tests of the exercise notebooks are made of, and how one runs in a kernel.

A chapter's hidden tests live in ``course_grader/hidden_tests/setNN.py`` (``NN`` = chapter,
e.g. ``02``). Such a module defines ``EXERCISE_SET`` (e.g. ``"02_attention"``) and
``TASKS``, a list of :class:`Task`: an id (the ``task`` of the graded cell's metadata),
its points and a test function ``test(ns)`` that receives the namespace the learner's
notebook defined. A module marks each test with ``@graded(points, description)`` (the
task id is the function's name without ``test_``) and ends with
``TASKS = collect_tasks(globals())``. A test passes by returning and fails by raising
:class:`TaskFailed` with a message that says what was expected and what came back.
Grading is all or nothing per task: the message names the first case that failed.

``python -m course_grader`` runs each test *inside the learner's kernel*, after the
notebook, as an extra cell that calls :func:`run_task`. ``run_task`` never lets an
exception out: whatever the learner's code does (raise, ``sys.exit``, print megabytes,
return NaN or the wrong type) becomes a failed task with a message. Endless loops,
``os._exit`` and crashed kernels are handled by the grader outside the kernel (a time
limit per task, then an interrupt, then a restart).

The tools a test uses:

- :func:`learner_function` fetches a function the learner defined (or fails with "not defined");
- :func:`call` calls it, turning its exceptions into :class:`TaskFailed` with the line of
  the learner's code, checking that it left its inputs unchanged, and optionally
  forbidding library functions the task asks the learner to write by hand;
- :func:`expect_tensor` and :func:`expect_close` compare what came back with a reference;
- :func:`substitute` replaces, for one test, a function the learner wrote for an *earlier*
  task by the reference, so that one mistake is not counted twice.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch

from course_lib.feedback import compare, shorten

__all__ = [
    "Task",
    "graded",
    "collect_tasks",
    "TaskFailed",
    "NotDefined",
    "learner_function",
    "call",
    "expect_tensor",
    "expect_close",
    "expect_raises",
    "substitute",
    "evaluate_task",
    "run_task",
    "RESULT_MIME",
    "OUTPUT_LIMIT",
]

RESULT_MIME = "application/vnd.course-lib.grade-result+json"  # how run_task hands its verdict to the grader
OUTPUT_LIMIT = 1_000_000  # characters the learner's code may print while one task is tested


class TaskFailed(Exception):
    """A hidden test's verdict: the task scores 0; the message says why."""


class NotDefined(TaskFailed):
    """The learner's notebook does not define a function the task needs."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


class _Forbidden(Exception):
    """Raised when the learner's code calls a library function the task forbids."""


@dataclass(frozen=True)
class Task:
    """One graded task of an exercise notebook.

    Attributes:
        id: the task id; the graded cell carries it as ``metadata["course"]["task"]``.
        points: what the task is worth (all or nothing).
        test: ``test(ns) -> None``; raises :class:`TaskFailed` when the work is wrong.
        functions: the names the learner defines for this task (used in messages).
        description: one line for people reading the grade table.
    """

    id: str
    points: int
    test: Callable[[dict], None]
    functions: tuple[str, ...] = ()
    description: str = ""


def graded(points: int, description: str = "", functions: Sequence[str] | None = None) -> Callable:
    """Decorator for a hidden test ``test_<id>(ns)``: it is the test of task ``<id>``, worth ``points``.

    ``functions`` are the names the learner defines for the task (default: ``(<id>,)``).
    The :class:`Task` is kept on the function as ``.task``; :func:`collect_tasks` gathers
    them, so a hidden-test module ends with ``TASKS = collect_tasks(globals())``. Put it
    above any other decorator (the outermost function is the one the grader calls).
    """
    def mark(test: Callable[[dict], None]) -> Callable[[dict], None]:
        name = getattr(test, "__name__", "")
        if not name.startswith("test_") or len(name) == len("test_"):
            raise ValueError(f"@graded marks functions named test_<task id>, not {name!r}.")
        task_id = name[len("test_"):]
        test.task = Task(task_id, points, test, tuple(functions or (task_id,)), description)
        return test

    return mark


def collect_tasks(namespace: dict) -> list[Task]:
    """The tasks of the ``@graded`` tests in ``namespace`` (a module's ``globals()``), in the order they were defined."""
    return [fn.task for name, fn in namespace.items()
            if name.startswith("test_") and isinstance(getattr(fn, "task", None), Task) and fn.task.test is fn]


def _learner_line(exc: BaseException, ns: dict) -> str:
    """' (line N of f)' for the innermost traceback frame that runs the learner's notebook code."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_globals is ns:
            found = tb
        tb = tb.tb_next
    if found is None:
        return ""
    func = found.tb_frame.f_code.co_name
    return f" (line {found.tb_lineno} of {'a cell' if func == '<module>' else func})"


# ----------------------------------------------------------------------------- tools for tests


def learner_function(ns: dict, name: str) -> Callable:
    """The function ``name`` from the learner's namespace ``ns``; :class:`NotDefined` if absent."""
    if name not in ns:
        raise NotDefined(name, f"{name} is not defined")
    fn = ns[name]
    if not callable(fn):
        raise TaskFailed(f"{name} should be a function, but it is a {type(fn).__name__}")
    return fn


@contextlib.contextmanager
def substitute(ns: dict, **references: Callable):
    """Temporarily put reference functions into the learner's namespace.

    ``with substitute(ns, softmax=torch_softmax): test attention`` makes the learner's
    attention (which may call their own ``softmax``) use the reference, so that a wrong
    softmax costs the softmax task only.
    """
    missing = object()
    saved = {name: ns.get(name, missing) for name in references}
    ns.update(references)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                ns.pop(name, None)
            else:
                ns[name] = value


@contextlib.contextmanager
def _forbid(targets: Iterable[tuple[Any, str, str]], reason: str):
    """Replace ``owner.attr`` by a function that raises ``_Forbidden`` (restored afterwards)."""
    missing = object()
    saved = []
    try:
        for owner, attr, label in targets:
            original = owner.__dict__.get(attr, missing) if isinstance(owner, type) else getattr(owner, attr)
            saved.append((owner, attr, original))

            def blocked(*args, _label=label, **kwargs):
                raise _Forbidden(f"{reason} (it called {_label})")

            setattr(owner, attr, blocked)
        yield
    finally:
        for owner, attr, original in reversed(saved):
            if original is missing:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)


def _describe_args(args: Sequence[Any], kwargs: dict) -> str:
    def one(a):
        if isinstance(a, torch.Tensor):
            return f"<{tuple(a.shape)} {str(a.dtype).replace('torch.', '')}>"
        return shorten(repr(a), 40)

    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def call(fn: Callable, *args, forbid: Iterable[tuple[Any, str, str]] = (), forbid_reason: str = "",
         ns: dict | None = None, **kwargs) -> Any:
    """Call the learner's ``fn(*args, **kwargs)`` and return what it returns.

    Raises :class:`TaskFailed` when it raises (with the exception, its message and the line
    of the learner's code), when it calls a function listed in ``forbid`` (triples
    ``(owner, attribute, label)``, e.g. ``(torch, "softmax", "torch.softmax")``), or when it
    changed a tensor argument in place. ``NotImplementedError`` becomes "not implemented yet".
    ``SystemExit`` and ``KeyboardInterrupt`` pass through to :func:`evaluate_task`.
    """
    name = getattr(fn, "__name__", "the function")
    ns = ns if ns is not None else getattr(fn, "__globals__", {})
    tensors = [(i, a, a.detach().clone()) for i, a in enumerate(list(args) + list(kwargs.values()))
               if isinstance(a, torch.Tensor)]
    shown = f"{name}({_describe_args(args, kwargs)})"
    try:
        with _forbid(forbid, forbid_reason or f"{name} must not call this library function"):
            result = fn(*args, **kwargs)
    except _Forbidden as e:
        raise TaskFailed(f"{shown}: {e}") from None
    except NotImplementedError:
        raise TaskFailed(f"{name} is not implemented yet (it raises NotImplementedError)") from None
    except RecursionError as e:
        raise TaskFailed(f"{shown} raised RecursionError{_learner_line(e, ns)}: endless recursion?") from None
    except Exception as e:
        raise TaskFailed(f"{shown} raised {type(e).__name__}: {shorten(e, 200)}{_learner_line(e, ns)}") from None
    for i, original, copy in tensors:
        same = original.shape == copy.shape and torch.equal(original.detach(), copy)
        if not same:
            raise TaskFailed(f"{shown} changed its input tensor (argument {i + 1}) in place; "
                             "compute a new tensor instead (e.g. x - m, not x -= m)")
    return result


def expect_tensor(got: Any, what: str, shape: Sequence[int] | None = None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """``got`` is a torch.Tensor (of ``shape`` and ``dtype`` when given); returns it."""
    if not isinstance(got, torch.Tensor):
        extra = " (did the function forget to `return`?)" if got is None else ""
        raise TaskFailed(f"{what}: expected a torch.Tensor, got {type(got).__name__}{extra}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise TaskFailed(f"{what}: expected shape {tuple(shape)}, got {tuple(got.shape)}")
    if dtype is not None and got.dtype != dtype:
        raise TaskFailed(f"{what}: expected dtype {dtype}, got {got.dtype}")
    return got


def expect_close(got: Any, expected: torch.Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-4,
                 dtype: torch.dtype | None = None) -> None:
    """``got`` matches ``expected`` by ``course_lib.feedback.compare``, the rule the check cells use too.

    That is: same shape; bool and integer references exactly; floating-point references need
    floating-point values with ``|got - expected| <= atol + rtol * |expected|`` element by
    element; infinities must match exactly; NaN never matches (the message hints at
    overflow). With ``dtype``, ``got`` must also have that dtype.
    """
    got = expect_tensor(got, what, shape=expected.shape, dtype=dtype)
    m = compare(got, expected, atol=atol, rtol=rtol)
    if m is None:
        return
    if m.kind != "values":
        raise TaskFailed(f"{what}: {m.message}")
    hint = {"nan": "; NaN: did exp overflow, or did 0/0 or inf - inf happen?", "inf": "; inf: did exp overflow?"}.get(
        m.nonfinite, "")
    floating = torch.as_tensor(expected).is_floating_point()
    tol = "" if not floating else " (exact)" if atol == rtol == 0 else f" (tolerance atol={atol:g}, rtol={rtol:g})"
    where = f" at index {m.index}" if m.index else ""
    fmt = lambda v: f"{v:.6g}" if isinstance(v, float) else str(v)  # noqa: E731
    raise TaskFailed(f"{what}:{where} expected {fmt(m.expected)}, got {fmt(m.got)}{hint}; "
                     f"{m.bad} of {m.total} values differ{tol}")


def expect_raises(exc_type: type[BaseException], fn: Callable, *args, what: str = "", **kwargs) -> None:
    """Calling the learner's ``fn(*args, **kwargs)`` raises ``exc_type`` (e.g. ValueError for bad input)."""
    name = getattr(fn, "__name__", "the function")
    shown = what or f"{name}({_describe_args(args, kwargs)})"
    try:
        fn(*args, **kwargs)
    except NotImplementedError:
        raise TaskFailed(f"{name} is not implemented yet (it raises NotImplementedError)") from None
    except exc_type:
        return
    except Exception as e:
        raise TaskFailed(f"{shown}: expected {exc_type.__name__}, got {type(e).__name__}: {shorten(e, 150)}") from None
    raise TaskFailed(f"{shown}: expected {exc_type.__name__}, but it returned normally")


# ----------------------------------------------------------------------------- running one task


class _TooMuchOutput(Exception):
    """The learner's code printed more than the limit while being tested."""


class _CountingWriter(io.TextIOBase):
    """A stream that counts what is written to it, keeps nothing, and stops a flood."""

    def __init__(self, limit: int):
        self.chars, self.limit = 0, limit

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        n = len(s)
        self.chars += n
        if self.chars > self.limit:
            raise _TooMuchOutput(f"printed more than {self.limit:,} characters")
        return n


def evaluate_task(task: Task, ns: dict, output_limit: int = OUTPUT_LIMIT) -> dict:
    """Run ``task.test(ns)``; return ``{"id", "passed", "points", "message", "missing", "seconds"}``.

    Never raises: every exception, including ``SystemExit`` and ``KeyboardInterrupt``,
    becomes a failed task with a message. What the learner's code prints is counted, not
    shown; more than ``output_limit`` characters fails the task.
    """
    sink = _CountingWriter(output_limit)
    missing: list[str] = []
    start = time.perf_counter()
    passed = False
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            task.test(ns)
        passed, message = True, "passed"
    except NotDefined as e:
        missing.append(e.name)
        message = str(e)
    except TaskFailed as e:
        message = str(e)
    except NotImplementedError:
        message = "not implemented yet (it raises NotImplementedError)"
    except SystemExit as e:
        message = (f"called sys.exit({'' if e.code is None else repr(e.code)}) while being tested: "
                   "a function should return its result, never exit")
    except KeyboardInterrupt:
        message = "interrupted while being tested (it took too long)"
    except MemoryError:
        message = "ran out of memory while being tested"
    except BaseException as e:  # a bug in a test, or a result whose methods raise
        message = f"the test could not check the result: {type(e).__name__}: {shorten(e, 200)}{_learner_line(e, ns)}"
    if sink.chars > output_limit:
        passed = False
        message = (f"printed more than {output_limit / 1e6:g} MB while being tested (the limit); remove print calls "
                   "from the function")
    return {
        "id": task.id,
        "passed": passed,
        "points": task.points if passed else 0,
        "message": shorten(message, 600),
        "missing": missing,
        "seconds": round(time.perf_counter() - start, 3),
    }


def load_tasks(module_name: str) -> dict[str, Task]:
    """The tasks of a hidden-test module, by id."""
    module = importlib.import_module(module_name)
    return {t.id: t for t in module.TASKS}


def run_task(module_name: str, task_id: str, nonce: str, output_limit: int = OUTPUT_LIMIT) -> None:
    """Kernel side of the grader: test one task against the notebook's namespace, display the verdict.

    The verdict is displayed as ``{RESULT_MIME: {..., "nonce": nonce}}``; the grader reads
    it from this cell's outputs only, and only with the nonce it chose, so nothing the
    learner prints can pose as a result.
    """
    try:
        from IPython import get_ipython

        shell = get_ipython()
        ns = shell.user_ns if shell is not None else {}
        task = load_tasks(module_name)[task_id]
        result = evaluate_task(task, ns, output_limit)
    except BaseException as e:  # the test module itself failed to load
        result = {"id": task_id, "passed": False, "points": 0, "missing": [], "seconds": 0.0,
                  "message": f"the grader could not run this task: {type(e).__name__}: {shorten(e, 200)}"}
    result["nonce"] = nonce
    from IPython.display import display

    display({RESULT_MIME: result}, raw=True)
