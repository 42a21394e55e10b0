"""The worker's main loop: run the notebook's cells, call the learner's functions, send back values.

Started by the grader (``course_grader.kernel``) inside the sandbox as::

    python -I -S -c "import sys; sys.path.insert(0, LIB); import course_worker.runtime as r; r.main()"

with its settings in the environment variable ``COURSE_WORKER_CONFIG`` (JSON: the two
pipe descriptors, the module search path, resource limits). It applies the limits and
the seccomp filter (``confine``: no new processes, no signals to others) before anything
else, starts an IPython shell (no Jupyter kernel: cells run in this process), says
``ready`` and then answers one request at a time (protocol frames, see ``protocol``):

- ``run_cell``: run a cell's source with a time limit; answer ``ok``, ``error`` (with the
  exception and the line) or ``timeout``;
- ``lookup``: is a name defined, and callable?
- ``call``: call the learner's function on decoded arguments, with a time limit, an output
  limit, forbidden functions blocked (``guard``) and earlier tasks' functions substituted
  (a library function, or a *callback*: the grader computes it and sends the value back);
  answer the returned value (encoded), or what went wrong;
- ``make`` / ``state``: build a fixture (a model) and read its state back;
- ``exit``.

Everything printed by the notebook is counted and dropped. Nothing here decides a grade.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from typing import Any

__all__ = ["main"]

_MISSING = object()


class _Timeout(BaseException):
    """Raised by the alarm when a cell or call runs past its time limit."""


class _TooMuchOutput(BaseException):
    """Raised when the learner's code prints more than the limit during a call."""


class _Sink:
    """A text stream that counts what is written, keeps nothing, and can stop a flood."""

    def __init__(self, limit: int | None = None):
        self.chars, self.limit = 0, limit

    def write(self, s) -> int:
        n = len(s) if isinstance(s, str) else 0
        self.chars += n
        if self.limit is not None and self.chars > self.limit:
            raise _TooMuchOutput
        return n

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return "utf-8"


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the grader dies (PR_SET_PDEATHSIG), so no notebook outlives it."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except Exception:  # not Linux, or no libc: the grader's process-group kill remains
        pass


def _alarm(seconds: float | None) -> None:
    signal.setitimer(signal.ITIMER_REAL, max(0.0, seconds or 0.0))


def _on_alarm(signum, frame):
    raise _Timeout


def _learner_line(exc: BaseException, ns: dict) -> str:
    """' (line N of f)' for the innermost traceback frame that runs the notebook's own code."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_globals is ns:
            found = tb
        tb = tb.tb_next
    if found is None:
        if isinstance(exc, SyntaxError) and exc.lineno:
            return f" (line {exc.lineno})"
        return ""
    func = found.tb_frame.f_code.co_name
    return f" (line {found.tb_lineno}" + ("" if func == "<module>" else f" of {func}") + ")"


def _short(text: Any, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _exception_text(exc: BaseException) -> str:
    try:
        message = str(exc) if not isinstance(exc, SyntaxError) else (exc.msg or "")
    except BaseException:  # an exception whose __str__ raises
        message = "(its message could not be read)"
    return f"{type(exc).__name__}: {_short(message, 300)}".rstrip(": ")


class Worker:
    def __init__(self, config: dict):
        from . import codec, fixtures, protocol
        from .guard import ForbiddenCall, Guard

        self.codec, self.fixtures, self.protocol = codec, fixtures, protocol
        self.Guard, self.ForbiddenCall = Guard, ForbiddenCall
        self.fd_in, self.fd_out = config["fds"]
        self.objects: dict[int, Any] = {}
        self.guards: dict[str, Any] = {}
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance(colors="nocolor", cache_size=0)  # no Out[3] or _3 to hide values in
        self.shell.ask_exit = lambda: None  # exit() and quit() in a cell do nothing
        self.ns = self.shell.user_ns
        for entry in ("", os.getcwd()):
            while entry in sys.path:
                sys.path.remove(entry)

    # -- talking
    def send(self, message: dict) -> None:
        self.protocol.write_frame(self.fd_out, message)

    def receive(self) -> dict:
        return self.protocol.read_frame(self.fd_in)

    # -- requests
    def run_cell(self, msg: dict) -> dict:
        source, timeout = str(msg["source"]), float(msg["timeout"])
        sink = _Sink()
        saved = sys.stdout, sys.stderr
        start = time.perf_counter()
        status, error = "ok", ""
        try:
            sys.stdout = sys.stderr = sink
            _alarm(timeout)
            try:
                result = self.shell.run_cell(source, store_history=True)
            finally:
                _alarm(0)
            exc = result.error_before_exec or result.error_in_exec
            if isinstance(exc, _Timeout):
                status = "timeout"
            elif exc is not None:
                status, error = "error", _exception_text(exc) + _learner_line(exc, self.ns)
        except _Timeout:
            status = "timeout"
        except BaseException as exc:  # a cell that breaks IPython itself
            status, error = "error", _exception_text(exc)
        finally:
            _alarm(0)
            sys.stdout, sys.stderr = saved
        return {"status": status, "error": error, "seconds": time.perf_counter() - start, "printed": sink.chars}

    def lookup(self, msg: dict) -> dict:
        value = self.ns.get(str(msg["name"]), _MISSING)
        if value is _MISSING:
            return {"defined": False, "callable": False, "type": ""}
        return {"defined": True, "callable": callable(value), "type": type(value).__name__}

    def _guard(self, spec: dict | None):
        if not spec:
            return None
        key = json.dumps(spec, sort_keys=True)
        if key not in self.guards:
            self.guards[key] = self.Guard(spec.get("names", ()), spec.get("modules", ()), spec.get("reason", ""))
        return self.guards[key]

    def _substitute(self, name: str, spec: dict, guard) -> Any:
        if "library" in spec:
            module, _, qualname = str(spec["library"]).partition(":")
            import importlib

            obj = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            original = obj
        else:
            def original(*args, **kwargs):
                return self._callback(name, args, kwargs)

        def substituted(*args, **kwargs):
            if guard is None:
                return original(*args, **kwargs)
            with guard.suspend():
                return original(*args, **kwargs)

        substituted.__name__ = name
        return substituted

    def _callback(self, name: str, args: tuple, kwargs: dict) -> Any:
        """Ask the grader to compute a substituted reference; block until its answer."""
        self.send({"op": "callback", "name": name, "args": self.codec.encode(list(args)),
                   "kwargs": self.codec.encode(dict(kwargs))})
        reply = self.receive()
        if reply.get("status") == "returned":
            return self.codec.decode(reply["value"])
        raise RuntimeError(f"the reference {name} raised {reply.get('message', 'an error')}")

    def call(self, msg: dict) -> dict:
        name = str(msg["name"])
        fn = self.ns.get(name, _MISSING)
        if fn is _MISSING:
            return {"status": "missing"}
        args = list(self.codec.decode(msg["args"], self.objects))
        kwargs = dict(self.codec.decode(msg["kwargs"], self.objects))
        for i in msg.get("grad_args", []):
            args[i] = args[i].detach().clone().requires_grad_(True)
        guard = self._guard(msg.get("forbid"))
        if guard is not None:
            guard.prepare()  # imports and scans, before the clock starts
        import numpy as np
        import torch

        before = [(i, a, a.detach().clone() if isinstance(a, torch.Tensor) else a.copy())
                  for i, a in enumerate(args + list(kwargs.values()))
                  if isinstance(a, (torch.Tensor, np.ndarray))]
        subs = {n: self._substitute(n, s, guard) for n, s in msg.get("substitutes", {}).items()}
        saved_ns = {n: self.ns.get(n, _MISSING) for n in subs}
        sink = _Sink(int(msg.get("output_limit", 1_000_000)))
        saved_io = sys.stdout, sys.stderr
        start = time.perf_counter()
        out: dict = {}
        if guard is not None:
            guard.violations.clear()
        result = None
        try:
            self.ns.update(subs)
            sys.stdout = sys.stderr = sink
            _alarm(float(msg["timeout"]))
            try:
                if guard is None:
                    result = fn(*args, **kwargs)
                else:
                    with guard.on():
                        result = fn(*args, **kwargs)
                out["status"] = "returned"
                if msg.get("grad_args") and isinstance(result, torch.Tensor) and result.requires_grad:
                    result.backward()
            finally:
                _alarm(0)
        except self.ForbiddenCall as e:
            out = {"status": "forbidden", "message": str(e)}
        except _Timeout:
            out = {"status": "timeout"}
        except _TooMuchOutput:
            out = {"status": "output", "printed": sink.chars}
        except BaseException as e:  # noqa: BLE001 - everything the learner's code raises is reported
            out = {"status": "raised", "types": [c.__name__ for c in type(e).__mro__],
                   "message": _exception_text(e), "text": _short(_exception_text(e).partition(": ")[2]),
                   "line": _learner_line(e, self.ns),
                   "exit_code": repr(e.code) if isinstance(e, SystemExit) else None}
        finally:
            _alarm(0)
            sys.stdout, sys.stderr = saved_io
            for n, v in saved_ns.items():
                if v is _MISSING:
                    self.ns.pop(n, None)
                else:
                    self.ns[n] = v
        out["seconds"] = time.perf_counter() - start
        out["printed"] = sink.chars
        if guard is not None and guard.violations and out["status"] != "forbidden":  # the refusal was swallowed
            out = {"status": "forbidden", "message": guard.violations[0], "seconds": out["seconds"]}
        if out["status"] != "returned":
            return out
        out["mutated"] = [i for i, a, copy in before if not _same(a, copy)]
        if msg.get("grad_args"):
            out["requires_grad"] = isinstance(result, torch.Tensor) and bool(result.requires_grad)
            out["grads"] = self.codec.encode([args[i].grad for i in msg["grad_args"]])
        if msg.get("keep"):
            number = len(self.objects) + 1
            self.objects[number] = result
            out["value"] = {"handle": number}
            return out
        try:
            out["value"] = self.codec.encode(result)
        except self.codec.CodecError as e:
            return {"status": "unsendable", "message": str(e), "seconds": out["seconds"]}
        except BaseException as e:  # a value whose methods raise while being read
            return {"status": "unsendable", "message": _exception_text(e), "seconds": out["seconds"]}
        return out

    def make(self, msg: dict) -> dict:
        spec = self.codec.decode(msg["spec"], self.objects)
        number = len(self.objects) + 1
        self.objects[number] = self.fixtures.build(str(msg["kind"]), spec, self.objects)
        return {"handle": number}

    def state(self, msg: dict) -> dict:
        return {"value": self.codec.encode(self.fixtures.state(self.objects[int(msg["handle"])]))}

    def serve(self) -> None:
        handlers = {"run_cell": self.run_cell, "lookup": self.lookup, "call": self.call, "make": self.make,
                    "state": self.state}
        while True:
            msg = self.receive()
            op = msg.get("op")
            if op == "exit":
                return
            try:
                reply = handlers[op](msg) if op in handlers else {"status": "error", "message": f"unknown op {op!r}"}
            except BaseException as e:  # noqa: BLE001 - the worker reports, the grader decides
                reply = {"status": "error", "message": _exception_text(e)}
            self.send(reply)


def main() -> None:
    start = time.perf_counter()
    config = json.loads(os.environ.pop("COURSE_WORKER_CONFIG"))
    from .confine import confine

    unconfined = confine(config.get("limits", {}))  # while this process has one thread: threads inherit it
    _die_with_parent()
    sys.path[:] = [p for p in config["path"]]
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # input() in a notebook reads nothing, and never the grader's requests
    try:
        import torch

        torch.set_num_threads(int(config.get("threads", 1)))
        worker = Worker(config)
    except BaseException:
        from .protocol import write_frame

        write_frame(config["fds"][1], {"op": "failed", "message": traceback.format_exc()[-2000:]})
        raise
    worker.send({"op": "ready", "seconds": time.perf_counter() - start, "python": sys.version.split()[0],
                 "torch": torch.__version__, "unconfined": unconfined})
    worker.serve()


def _same(a, copy) -> bool:
    import torch

    if isinstance(a, torch.Tensor):
        if a.shape != copy.shape or a.dtype != copy.dtype:
            return False
        bits = lambda t: t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)  # noqa: E731 - NaN-proof
        return bool(torch.equal(bits(a), bits(copy)))
    return a.shape == copy.shape and a.dtype == copy.dtype and a.tobytes() == copy.tobytes()
