"""What hidden tests are made of. A test runs in the *grader's* process; the learner's code never sees it.

A chapter's hidden tests live in ``course_grader/hidden_tests/setNN.py``, a module with
``EXERCISE_SET`` (e.g. ``"02_attention"``) and ``TASKS = collect_tasks(globals())``.
Each test is a function ``test_<task id>(ns)`` marked ``@graded(points, description)``;
it passes by returning and fails by raising :class:`TaskFailed` with a message that says
what was expected and what came back (all or nothing per task).

``ns`` is a :class:`Learner`: the notebook as seen from the grader. The learner's functions
run in a sandboxed worker process; a test only ever holds the *values* they return
(decoded from JSON and raw bytes: plain tensors, arrays, numbers, strings, lists...), so
nothing the notebook does (patching this module, faking printed verdicts, returning a
tensor subclass that says "equal" to everything) can reach the verdict. The tools:

- :func:`learner_function` ``(ns, name)``: a handle on the learner's function (or
  :class:`NotDefined`); :func:`call` calls it with arguments the test made here and returns
  what it gave back; a raised exception, a time-out, an input changed in place or a
  forbidden library call becomes :class:`TaskFailed` with the learner's line;
  :func:`call_with_grad` also backpropagates from the result; :func:`expect_raises`;
- :func:`expect_tensor`, :func:`expect_close` compare values here, by
  ``course_lib.feedback.compare`` (the rule of the check cells too);
- :func:`substitute` ``(ns, name=reference)``: while it is active the learner's earlier
  function ``name`` is replaced, in the notebook, by a reference, so one mistake costs one
  task. A reference is a function of this process (the worker calls back here for its
  values; on inputs the learner chose, so under :func:`memory_cap`) or :func:`library`
  ``("module:qualname")``, a library function run in the worker;
- ``ns.make(kind, spec)`` builds a model in the worker (``course_grader.worker.fixtures``)
  and returns a handle to pass as an argument; ``ns.state(handle)`` reads it back;
- :func:`derive_seed` (and :func:`generator`, :func:`rng`, :func:`pyrandom`): every random
  input of a test goes through it, so a teacher's ``--secret`` gives each student
  different inputs;
- ``@graded(..., forbid=Forbid(names=("*softmax*",), modules=(...), reason=...))``: the
  task must be written by hand. It is enforced by a static check of the notebook's source
  in the grader (``course_grader.static_check``) and, as a second line, in the worker.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from course_grader.worker.codec import CodecError, Handle, Unreadable, decode, describe, encode
from course_lib.feedback import compare, shorten

__all__ = ["Task", "Forbid", "graded", "collect_tasks", "TaskFailed", "NotDefined", "WorkerGone", "GiveUp", "Learner",
           "learner_function", "call", "call_with_grad", "memory_cap", "expect_tensor", "expect_close", "expect_raises",
           "substitute", "library", "kind_of", "derive_seed", "generator", "rng", "pyrandom", "evaluate_task",
           "OUTPUT_LIMIT"]

OUTPUT_LIMIT = 1_000_000  # characters the learner's code may print while one task is tested
CALLBACK_MEMORY_MB = 2048  # memory a reference computed here for the learner's code may add to the grader's
_SALT: contextvars.ContextVar[str | None] = contextvars.ContextVar("course_grader_salt", default=None)


class TaskFailed(Exception):
    """A hidden test's verdict: the task scores 0; the message says why."""


class NotDefined(TaskFailed):
    """The learner's notebook does not define a function the task needs."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


class WorkerGone(Exception):
    """The notebook's process did not answer in time (``status="timeout"``) or died (``"died"``)."""

    def __init__(self, status: str, detail: str = ""):
        super().__init__(status)
        self.status, self.detail = status, detail


class GiveUp(Exception):
    """Stop testing this notebook (too many restarts, or its total time is used up)."""


@dataclass(frozen=True)
class Forbid:
    """Library functions a task must not use, under any name (see ``course_grader.static_check``).

    ``names``: identifier patterns (globs, compared in lower case without underscores);
    ``modules``: dotted names of modules, functions or classes (every member of a module);
    ``reason``: the start of the message, e.g. "softmax must be written by hand".
    """

    names: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    reason: str = "the task asks you to write this yourself"

    def spec(self) -> dict:
        return {"names": list(self.names), "modules": list(self.modules), "reason": self.reason}


@dataclass(frozen=True)
class Task:
    """One graded task: id (the graded cell's ``metadata.course.task``), points, test, functions, description, forbid."""

    id: str
    points: int
    test: Callable[["Learner"], None]
    functions: tuple[str, ...] = ()
    description: str = ""
    forbid: Forbid | None = None


def graded(points: int, description: str = "", functions: Sequence[str] | None = None,
           forbid: Forbid | None = None) -> Callable:
    """Decorator for a hidden test ``test_<id>(ns)``: the test of task ``<id>``, worth ``points``.

    ``functions``: the names the learner defines for the task (default ``(<id>,)``).
    """
    def mark(test: Callable) -> Callable:
        name = getattr(test, "__name__", "")
        if not name.startswith("test_") or len(name) == len("test_"):
            raise ValueError(f"@graded marks functions named test_<task id>, not {name!r}.")
        task_id = name[len("test_"):]
        test.task = Task(task_id, points, test, tuple(functions or (task_id,)), description, forbid)
        return test

    return mark


def collect_tasks(namespace: dict) -> list[Task]:
    """The tasks of the ``@graded`` tests in ``namespace`` (a module's ``globals()``), in the order they were defined."""
    return [fn.task for name, fn in namespace.items()
            if name.startswith("test_") and isinstance(getattr(fn, "task", None), Task) and fn.task.test is fn]


# ----------------------------------------------------------------------------- seeds


def derive_seed(seed: int) -> int:
    """``seed`` itself, or (when the teacher gave a secret) a seed derived from the secret, student and task."""
    salt = _SALT.get()
    if salt is None:
        return seed
    return int.from_bytes(hashlib.blake2b(f"{salt}:{seed}".encode(), digest_size=4).digest(), "big")


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed))


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed))


def pyrandom(seed: int) -> random.Random:
    return random.Random(derive_seed(seed))


# ----------------------------------------------------------------------------- the learner, remotely


@contextlib.contextmanager
def memory_cap(megabytes: int):
    """Limit this process's address space to what it uses now plus ``megabytes`` while the block runs (Linux).

    A reference computed here on inputs the learner chose (a callback) then fails with a
    MemoryError or torch's allocation error instead of filling the grader's machine.
    """
    try:
        import resource

        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = used + megabytes * 2**20
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft != resource.RLIM_INFINITY and soft <= cap:
            raise OSError("already limited")
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError):  # not Linux, or a tighter limit is already set
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@dataclass(frozen=True)
class library:  # noqa: N801 - reads as a function in tests: substitute(ns, softmax=library("torch:softmax"))
    """A reference that is a library function, run in the worker: ``"module:qualname"``."""

    path: str


class LearnerFunction:
    def __init__(self, learner: "Learner", name: str):
        self.learner, self.__name__ = learner, name


class Learner:
    """The notebook under test, for one task: calls go to the worker with the task's limits and forbids."""

    def __init__(self, kernel, task: Task, timeout: float, output_limit: int = OUTPUT_LIMIT):
        self.kernel, self.task, self.timeout, self.output_limit = kernel, task, timeout, output_limit
        self.used, self.printed = 0.0, 0
        self.substitutes: dict[str, Any] = {}
        self.missing: list[str] = []
        self.callback_seconds = 0.0  # the grader's own time computing substituted references
        self.calls = 0

    def function(self, name: str) -> LearnerFunction:
        info = self._guarded(lambda: self.kernel.lookup(name))
        if not info.get("defined"):
            self.missing.append(name)
            raise NotDefined(name, f"{name} is not defined")
        if not info.get("callable"):
            raise TaskFailed(f"{name} should be a function, but it is a {info.get('type', 'value')}")
        return LearnerFunction(self, name)

    def make(self, kind: str, spec: Any) -> Handle:
        return self._guarded(lambda: self.kernel.make(kind, spec))

    def state(self, handle: Handle) -> Any:
        return self._guarded(lambda: self.kernel.state(handle))

    def _guarded(self, request: Callable[[], Any]) -> Any:
        try:
            return request()
        except WorkerGone as e:
            raise TaskFailed(_gone_message(e)) from None

    def _callback(self, message: dict) -> dict:
        name = message.get("name")
        ref = self.substitutes.get(name)
        if not callable(ref):
            return {"status": "raised", "message": f"{name} is not substituted now"}
        began = time.monotonic()
        try:
            args, kwargs = decode(message.get("args")), decode(message.get("kwargs"))
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise CodecError("bad arguments")
            with memory_cap(CALLBACK_MEMORY_MB):  # the learner picks the inputs: bigram_counts(ids, 10**5)
                return {"status": "returned", "value": encode(ref(*args, **kwargs))}
        except Exception as e:  # noqa: BLE001 - the learner's code gets the error, as from a library
            return {"status": "raised", "message": f"{type(e).__name__}: {shorten(e, 200)}"}
        finally:
            self.callback_seconds += time.monotonic() - began

    def invoke(self, fn: LearnerFunction, args: tuple, kwargs: dict, grad_args: Sequence[int] = ()) -> dict:
        """Call ``fn`` in the worker; the worker's answer (``status`` and ``value`` decoded)."""
        left = self.timeout - self.used
        if left <= 0:
            raise TaskFailed(f"did not finish within {self.timeout:g} s (an endless loop, or far too slow?)")
        subs = {n: ({"library": r.path} if isinstance(r, library) else {"callback": True})
                for n, r in self.substitutes.items()}
        message = {"name": fn.__name__, "args": encode(list(args)), "kwargs": encode(dict(kwargs)),
                   "forbid": self.task.forbid.spec() if self.task.forbid else None, "substitutes": subs,
                   "grad_args": list(grad_args), "output_limit": max(0, self.output_limit - self.printed)}
        began, callbacks_before = time.monotonic(), self.callback_seconds
        slack = 60.0 if self.task.forbid is not None and self.calls == 0 else 0.0  # the worker's guard, set up once
        self.calls += 1
        try:
            reply = self.kernel.call(message, timeout=left, callbacks=self._callback, slack=slack)
        except WorkerGone as e:
            self.used = self.timeout
            raise TaskFailed(_gone_message(e, self.timeout)) from None
        wall = max(0.0, time.monotonic() - began - (self.callback_seconds - callbacks_before))
        # the learner's own time, as the worker measured the call (not the guard's set-up)
        self.used += min(wall, float(reply.get("seconds", wall)) + 0.05)
        self.printed += int(reply.get("printed", 0))
        return reply


def _gone_message(e: WorkerGone, timeout: float | None = None) -> str:
    if e.status == "timeout":
        limit = f" within {timeout:g} s" if timeout else " in time"
        return (f"did not finish{limit} (an endless loop, or far too slow?) and did not stop when interrupted, so the "
                "notebook was restarted for the other tasks")
    return ("the notebook's process died while this task was tested (os._exit, a crash, or out of memory); it was "
            "restarted for the other tasks")


def learner_function(ns: Learner, name: str) -> LearnerFunction:
    """The learner's function ``name``; :class:`NotDefined` if the notebook does not define it."""
    return ns.function(name)


@contextlib.contextmanager
def substitute(ns: Learner, **references: Any):
    """Replace the learner's earlier functions by references while the block runs (one mistake, one task)."""
    saved = dict(ns.substitutes)
    ns.substitutes.update(references)
    try:
        yield
    finally:
        ns.substitutes = saved


def _shown(fn: LearnerFunction, args: Sequence, kwargs: dict) -> str:
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{fn.__name__}({', '.join(parts)})"


def _outcome(fn: LearnerFunction, reply: dict, shown: str) -> Any:
    status = reply.get("status")
    name = fn.__name__
    limit = fn.learner.timeout
    if status == "returned":
        if reply.get("mutated"):
            i = reply["mutated"][0]
            raise TaskFailed(f"{shown} changed its input (argument {i + 1}) in place; compute a new tensor instead "
                             "(e.g. x - m, not x -= m)")
        return reply.get("value")
    if status == "missing":
        fn.learner.missing.append(name)
        raise NotDefined(name, f"{name} is not defined")
    if status == "timeout":
        fn.learner.used = limit
        raise TaskFailed(f"{shown} did not finish within {limit:g} s (an endless loop, or far too slow?); it was stopped")
    if status == "forbidden":
        raise TaskFailed(f"{shown}: {reply.get('message', '')}")
    if status == "output":
        raise TaskFailed(f"printed more than {fn.learner.output_limit / 1e6:g} MB while being tested (the limit); "
                         "remove print calls from the function")
    if status == "unsendable":
        raise TaskFailed(f"{shown} returned a value the grader cannot read: {reply.get('message', '')}")
    if status == "raised":
        types, line = reply.get("types", []), reply.get("line", "")
        if "NotImplementedError" in types:
            raise TaskFailed(f"{name} is not implemented yet (it raises NotImplementedError)")
        if "SystemExit" in types:
            code = reply.get("exit_code")
            raise TaskFailed(f"called sys.exit({'' if code in (None, 'None') else code}) while being tested: a function "
                             "should return its result, never exit")
        if "RecursionError" in types:
            raise TaskFailed(f"{shown} raised RecursionError{line}: endless recursion?")
        if "MemoryError" in types:
            raise TaskFailed(f"{shown} ran out of memory while being tested")
        raise TaskFailed(f"{shown} raised {reply.get('message', 'an exception')}{line}")
    raise TaskFailed(f"{shown}: the grader could not call it ({reply.get('message', status)})")


def call(fn: LearnerFunction, *args, **kwargs) -> Any:
    """Call the learner's ``fn(*args, **kwargs)`` in the worker and return what it returned (decoded)."""
    reply = fn.learner.invoke(fn, args, kwargs)
    return _outcome(fn, reply, _shown(fn, args, kwargs))


def call_with_grad(fn: LearnerFunction, args: Sequence, kwargs: dict, grad_args: Sequence[int]):
    """Call ``fn`` with ``args[i]`` (for i in ``grad_args``) requiring grad; backpropagate from a result that
    requires grad. Returns ``(value, requires_grad, grads)``: grads of those arguments (None when there is none)."""
    reply = fn.learner.invoke(fn, tuple(args), dict(kwargs), grad_args)
    value = _outcome(fn, reply, _shown(fn, args, kwargs))
    return value, bool(reply.get("requires_grad")), reply.get("grads") or [None] * len(grad_args)


def kind_of(value: Any) -> str:
    """The type name shown in messages (the learner's own class name for a value that could not travel)."""
    return value.type_name if isinstance(value, Unreadable) else type(value).__name__


def expect_tensor(got: Any, what: str, shape: Sequence[int] | None = None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """``got`` is a torch.Tensor (of ``shape`` and ``dtype`` when given); returns it."""
    if not isinstance(got, torch.Tensor):
        extra = " (did the function forget to `return`?)" if got is None else ""
        raise TaskFailed(f"{what}: expected a torch.Tensor, got {kind_of(got)}{extra}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise TaskFailed(f"{what}: expected shape {tuple(shape)}, got {tuple(got.shape)}")
    if dtype is not None and got.dtype != dtype:
        raise TaskFailed(f"{what}: expected dtype {dtype}, got {got.dtype}")
    return got


def expect_close(got: Any, expected: torch.Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-4,
                 dtype: torch.dtype | None = None) -> None:
    """``got`` matches ``expected`` by ``course_lib.feedback.compare``, the rule the check cells use too."""
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


def expect_raises(exc_type: type[BaseException], fn: LearnerFunction, *args, what: str = "", **kwargs) -> str:
    """Calling the learner's ``fn(*args, **kwargs)`` raises ``exc_type`` (or a subclass), e.g. ValueError.

    Returns the exception's message (without its type), for tests that check it says something.
    """
    shown = what or _shown(fn, args, kwargs)
    reply = fn.learner.invoke(fn, args, kwargs)
    status, types = reply.get("status"), reply.get("types", [])
    if status == "raised" and "NotImplementedError" in types:
        raise TaskFailed(f"{fn.__name__} is not implemented yet (it raises NotImplementedError)")
    if status == "raised" and exc_type.__name__ in types:
        return str(reply.get("text", ""))
    if status == "raised":
        raise TaskFailed(f"{shown}: expected {exc_type.__name__}, got {shorten(reply.get('message', ''), 150)}")
    if status == "returned":
        raise TaskFailed(f"{shown}: expected {exc_type.__name__}, but it returned normally")
    _outcome(fn, reply, shown)
    return ""  # pragma: no cover - _outcome always raises for the other statuses


# ----------------------------------------------------------------------------- running one task


def evaluate_task(task: Task, learner: Learner, salt: str | None = None) -> dict:
    """Run ``task.test(learner)`` here; ``{"id", "passed", "points", "message", "missing", "seconds"}``.

    Never raises, except :class:`GiveUp` (the notebook's time is up): every other exception
    becomes a failed task with a message.
    """
    token = _SALT.set(salt)
    start = time.perf_counter()
    passed = False
    try:
        task.test(learner)
        passed, message = True, "passed"
    except GiveUp:
        raise
    except TaskFailed as e:
        message = str(e)
    except Exception as e:  # a bug in a test, or a value the test did not expect
        message = f"the test could not check the result: {type(e).__name__}: {shorten(e, 200)}"
    finally:
        _SALT.reset(token)
    return {"id": task.id, "passed": passed, "points": task.points if passed else 0,
            "message": shorten(message, 600), "missing": list(learner.missing),
            "seconds": round(time.perf_counter() - start, 3)}
