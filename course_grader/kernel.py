"""The notebook's process, seen from the grader: start it, run cells, call functions; kill, restart, replay.

:class:`Kernel` owns one sandboxed worker (``course_grader.sandbox``; the worker's code is
``course_grader.worker``) for one submission, in a temporary folder holding only a copy of
that submission. It talks to it over two pipes in frames (``worker.protocol``) and never
waits without a deadline:

- every request has a time limit; the worker stops its own cell or call at that limit
  (an alarm), and if it does not answer ``GRACE`` seconds later the grader kills its whole
  process group: the outcome is ``"timeout"`` (the worker is then restarted lazily). The
  grader's writes have the same deadline (a worker that stops reading its pipe, or shrinks
  it, cannot block the grader), and what a worker answers is only data: strings it sends
  back are cut short and numbers checked (``clean``), whatever it claims;
- a worker that exits, crashes or runs out of memory closes its pipe: ``"died"``;
- a restart starts a fresh worker and replays the cells that had finished (dropping a
  cell that now hangs or kills it); after ``max_restarts`` restarts, :class:`GiveUp`;
- the notebook's total time (``total``) is a cap over all of it: past it, :class:`GiveUp`.

Values cross in the worker's codec (``worker.codec``): JSON and raw bytes, never pickle.
During a call, the worker may ask for a *callback* (a substituted reference the grader
computes); its time is not charged to the learner.
"""
from __future__ import annotations

import math
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable

from course_grader import sandbox
from course_grader.testkit import GiveUp, WorkerGone
from course_grader.worker import codec
from course_grader.worker.protocol import FrameReader, ProtocolError, WriteTimeout, write_frame

__all__ = ["Kernel", "GiveUp", "WorkerGone", "GRACE", "MAX_RESTARTS", "clean"]

GRACE = 5.0  # seconds a worker gets, after its own alarm, to answer before it is killed
MAX_RESTARTS = 6
CALLBACK_LIMIT_S = 30.0  # seconds of the grader's own time callbacks may take in one call


_STRING_LIMIT = 2000  # characters kept of any string a worker sends outside a value


def clean(reply: dict) -> dict:
    """A worker's answer with its strings cut short and its counts made numbers (a hostile worker writes its own
    frames); the ``value`` (decoded by the codec, within its limits) and ``grads`` are kept as they are."""
    out: dict = {}
    for key, item in list(reply.items())[:32]:
        if key in ("value", "grads", "handle"):
            out[key] = item
        elif key in ("seconds", "printed"):
            try:
                number = float(item)
            except (TypeError, ValueError, OverflowError):
                number = 0.0
            out[key] = number if math.isfinite(number) and number >= 0 else 0.0
        elif isinstance(item, str):
            out[key] = item[:_STRING_LIMIT]
        elif isinstance(item, list):
            out[key] = [x[:200] if isinstance(x, str) else x for x in item[:64] if isinstance(x, (str, int, bool))]
        elif item is None or isinstance(item, (bool, int, float)):
            out[key] = item
    return out


class _Drain(threading.Thread):
    """Read a pipe to its end, keeping only the last ``keep`` bytes (the worker's stderr)."""

    def __init__(self, fd: int, keep: int = 4000):
        super().__init__(daemon=True)
        self.fd, self.keep, self.tail = fd, keep, b""

    def run(self) -> None:
        try:
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.tail = (self.tail + chunk)[-self.keep:]
        except OSError:
            pass
        finally:
            os.close(self.fd)


class Kernel:
    """One submission's worker. ``cells`` maps a cell index to its source (for replay)."""

    def __init__(self, notebook_bytes: bytes, limits: sandbox.Limits, start_timeout: float, total: float,
                 max_restarts: int = MAX_RESTARTS):
        self.limits, self.start_timeout, self.max_restarts = limits, start_timeout, max_restarts
        self.deadline = time.monotonic() + total
        self.total = total
        self.kind = sandbox.sandbox_kind()
        self.tmp = tempfile.mkdtemp(prefix="course-grade-")
        self.workdir = os.path.join(self.tmp, "work")
        os.mkdir(self.workdir)
        with open(os.path.join(self.workdir, "submission.ipynb"), "wb") as f:  # the only file it starts with
            f.write(notebook_bytes)
        self.proc: subprocess.Popen | None = None
        self.reader: FrameReader | None = None
        self.fd_out = -1
        self.sources: dict[int, tuple[str, float]] = {}
        self.replay: list[int] = []
        self.restarts = 0
        self.start_seconds: list[float] = []
        self.marker = secrets.token_hex(8)
        self.stderr: _Drain | None = None
        self.broken = False  # the worker must be restarted before the next request
        self.unconfined: list[str] = []  # limits the worker could not apply to itself (worker.confine)

    # -- lifecycle
    def _spawn(self) -> None:
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        err_r, err_w = os.pipe()
        libdir = tempfile.mkdtemp(prefix="lib-", dir=self.tmp)
        argv, env, cwd = sandbox.worker_command(self.workdir, libdir, (to_worker_r, from_worker_w), self.limits,
                                                self.marker, self.kind)
        try:
            self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err_w, pass_fds=(to_worker_r, from_worker_w), start_new_session=True)
        finally:
            for fd in (to_worker_r, from_worker_w, err_w):
                os.close(fd)
        os.set_blocking(to_worker_w, False)  # writes wait with a deadline (write_frame), never for ever
        self.fd_out, self.reader = to_worker_w, FrameReader(from_worker_r)
        self.stderr = _Drain(err_r)
        self.stderr.start()

    def start(self) -> float:
        """Start the worker; the seconds it took (Python, torch and IPython imports; not the learner's time)."""
        began = time.monotonic()
        self._spawn()
        deadline = min(began + self.start_timeout, self.deadline)
        try:
            msg = self.reader.read(deadline)
        except ProtocolError:
            msg = None
        if not msg or msg.get("op") != "ready":
            why = (msg or {}).get("message") or (self.stderr.tail.decode("utf-8", "replace") if self.stderr else "")
            self._kill()
            if time.monotonic() >= self.deadline:
                raise GiveUp(f"the notebook used up its total time of {self.total:g} s")
            raise RuntimeError(f"the worker process did not start within {self.start_timeout:g} s: "
                               f"{why.strip()[-600:] or 'no message'}")
        self.start_seconds.append(time.monotonic() - began)
        self.unconfined = [str(x)[:200] for x in msg.get("unconfined", [])[:8]] if isinstance(msg.get("unconfined"), list) \
            else []
        self.broken = False
        return self.start_seconds[-1]

    def _kill(self) -> None:
        if self.proc is not None:
            sandbox.kill_group(self.proc)
            sandbox.reap_marked(self.marker)
            self.proc = None
        if self.fd_out >= 0:
            os.close(self.fd_out)
            self.fd_out = -1
        if self.reader is not None:
            try:
                os.close(self.reader.fd)
            except OSError:
                pass
            self.reader = None
        if self.stderr is not None:
            self.stderr.join(timeout=2)
            self.stderr = None

    def stop(self) -> None:
        """Kill the worker and everything it started; remove the temporary folder."""
        self._kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def restart(self) -> None:
        """A fresh worker with the finished cells replayed; a cell that now hangs or kills it is dropped."""
        while True:
            self.restarts += 1
            self._kill()
            if self.restarts > self.max_restarts:
                raise GiveUp(f"the notebook's process hung or died {self.restarts} times")
            self.start()
            for index in list(self.replay):
                source, timeout = self.sources[index]
                try:
                    self._request({"op": "run_cell", "source": source, "timeout": timeout}, timeout)
                except WorkerGone:
                    self.replay.remove(index)
                    self.broken = True
                    break
            else:
                return

    def ensure(self) -> None:
        if self.broken or self.proc is None:
            self.restart()

    # -- requests
    def _send(self, message: dict, deadline: float) -> None:
        try:
            write_frame(self.fd_out, message, min(deadline, self.deadline + GRACE))
        except WriteTimeout:  # the worker stopped reading: it is hung, whatever it said before
            self.broken = True
            self._kill()
            if time.monotonic() >= self.deadline:
                raise GiveUp(f"the notebook used up its total time of {self.total:g} s") from None
            raise WorkerGone("timeout") from None
        except (OSError, ProtocolError):
            self.broken = True
            raise WorkerGone("died") from None

    def _request(self, message: dict, timeout: float, callbacks: Callable[[dict], dict] | None = None) -> dict:
        """Send a request and wait for its answer (serving callbacks); WorkerGone on timeout or death."""
        if time.monotonic() >= self.deadline:
            raise GiveUp(f"the notebook used up its total time of {self.total:g} s")
        deadline = time.monotonic() + timeout + GRACE
        self._send(message, deadline)
        credit = CALLBACK_LIMIT_S  # the grader's own time on callbacks is not the learner's, up to this much
        while True:
            try:
                reply = self.reader.read(min(deadline, self.deadline + GRACE))
            except ProtocolError as e:
                self.broken = True
                self._kill()
                raise WorkerGone("died", str(e)) from None
            if reply is None:
                self.broken = True
                self._kill()
                if time.monotonic() >= self.deadline:
                    raise GiveUp(f"the notebook used up its total time of {self.total:g} s")
                raise WorkerGone("timeout")
            if reply.get("op") == "callback":
                began = time.monotonic()
                answer = callbacks(reply) if callbacks else {"status": "raised", "message": "no callback here"}
                spent = min(time.monotonic() - began, credit)
                credit -= spent
                deadline += spent
                self._send(answer, deadline)
                continue
            return clean(reply)

    def run_cell(self, index: int, source: str, timeout: float) -> dict:
        """Run a notebook cell: ``{"status": "ok"|"error"|"timeout"|"died", "error", "seconds"}``."""
        self.ensure()
        self.sources[index] = (source, timeout)
        began = time.monotonic()
        try:
            reply = self._request({"op": "run_cell", "source": source, "timeout": timeout}, timeout)
        except WorkerGone as e:
            return {"status": e.status, "error": "", "seconds": time.monotonic() - began, "killed": True}
        if reply.get("status") not in ("ok", "error", "timeout"):
            reply = {"status": "error", "error": "the notebook's process answered something else", "seconds": 0.0}
        if reply.get("status") in ("ok", "error"):
            self.replay.append(index)
        reply.setdefault("error", "")
        return reply

    def lookup(self, name: str, timeout: float = 30.0) -> dict:
        self.ensure()
        return self._request({"op": "lookup", "name": name}, timeout)

    def call(self, message: dict, timeout: float, callbacks: Callable[[dict], dict] | None = None,
             slack: float = 0.0) -> dict:
        """Call a learner's function (``message``: the ``call`` request without op and timeout).

        ``slack``: seconds the worker may take besides the call itself (setting up a guard the
        first time). Returns the worker's answer with ``"value"`` decoded, or raises WorkerGone.
        """
        self.ensure()
        reply = self._request({"op": "call", "timeout": timeout, **message}, timeout + slack, callbacks)
        try:
            if "value" in reply:
                reply["value"] = codec.decode(reply["value"])
            if "grads" in reply:
                reply["grads"] = codec.decode(reply["grads"])
        except codec.CodecError as e:
            return {"status": "unsendable", "message": f"its value could not be read: {e}"}
        return reply

    def make(self, kind: str, spec: Any, timeout: float = 60.0) -> codec.Handle:
        self.ensure()
        reply = self._request({"op": "make", "kind": kind, "spec": codec.encode(spec)}, timeout)
        if "handle" not in reply:
            raise RuntimeError(f"the worker could not build a {kind}: {reply.get('message', '')}")
        return codec.Handle(reply["handle"], kind)

    def state(self, handle: codec.Handle, timeout: float = 60.0) -> Any:
        self.ensure()
        reply = self._request({"op": "state", "handle": handle.number}, timeout)
        if "value" not in reply:
            raise RuntimeError(f"the worker could not read the state of {handle}: {reply.get('message', '')}")
        return codec.decode(reply["value"])
