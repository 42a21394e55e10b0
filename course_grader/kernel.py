"""The grader's Jupyter kernel: run a notebook's cells with time limits; interrupt, restart, replay.

:class:`_Kernel` wraps an ``nbclient.NotebookClient`` for one notebook. ``run(index)``
executes one code cell with a time limit and answers ``"ok"``, ``"error"``, ``"timeout"``
or ``"died"`` with the error text. A cell that runs past its limit is interrupted; a
kernel that does not answer within ``PROBE_TIMEOUT`` seconds, or that dies, is restarted
and the cells that had finished are run again (``replay``). After more than
``MAX_RESTARTS`` restarts :class:`GiveUp` is raised: the rest of that notebook scores 0.

Output is capped at ``KEEP_OUTPUT_CHARS`` per cell (errors and verdicts are always kept);
``exit()`` and ``quit()`` are made to do nothing in the kernel. Used by
:mod:`course_grader.grade`.
"""
from __future__ import annotations

import logging
import os
import re
import subprocess

from course_grader.testkit import RESULT_MIME
from course_lib.feedback import shorten

__all__ = ["MAX_RESTARTS", "PROBE_TIMEOUT", "KEEP_OUTPUT_CHARS", "GiveUp", "error_text", "Kernel"]

MAX_RESTARTS = 6  # kernel restarts per notebook before the rest of it scores 0
PROBE_TIMEOUT = 5  # seconds an interrupted kernel gets to answer again before it is restarted
KEEP_OUTPUT_CHARS = 50_000  # output kept per cell (the rest is dropped; only errors and verdicts matter)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class GiveUp(Exception):
    """The kernel had to be restarted too often: stop testing this notebook."""


class _DropOrphanTaskErrors(logging.Filter):
    """nbclient leaves an output-polling task behind when a kernel is killed mid-cell; asyncio
    then logs 'Task exception was never retrieved' for it. That is expected here: drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Task exception was never retrieved" not in record.getMessage()


def _quiet_logger() -> logging.Logger:
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _DropOrphanTaskErrors) for f in asyncio_log.filters):
        asyncio_log.addFilter(_DropOrphanTaskErrors())
    log = logging.getLogger("course_grader.kernel")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


def error_text(out: dict) -> str:
    """'SyntaxError: invalid syntax (line 7)' from an error output."""
    evalue = re.sub(r"\s*\([^()]*, line \d+\)$", "", str(out.get("evalue", "")))  # SyntaxError's (file, line N)
    text = f"{out.get('ename', 'Error')}: {shorten(evalue, 200)}".rstrip(": ")
    lines = re.findall(r"(?:Cell In\s*\[[^\]]*\]|<ipython-input-[^>]*>|File [^,]+), line (\d+)",
                       _ANSI.sub("", "\n".join(out.get("traceback", []))))
    return text + (f" (line {lines[-1]})" if lines else "")


def _make_client_class():
    from nbclient import NotebookClient

    class _Client(NotebookClient):
        """A NotebookClient that keeps at most KEEP_OUTPUT_CHARS of output per cell (errors and verdicts always)."""

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            data = content.get("data") or {}
            if msg.get("msg_type") == "error":
                content["traceback"] = [shorten(_ANSI.sub("", t), 2000) for t in content.get("traceback", [])[-20:]]
                content["evalue"] = shorten(content.get("evalue", ""), 2000)
                return super().output(outs, msg, display_id, cell_index)
            if RESULT_MIME in data:
                return super().output(outs, msg, display_id, cell_index)
            used = self.chars_used.get(cell_index, 0) + len(content.get("text", "")) + sum(len(str(v)) for v in data.values())
            self.chars_used[cell_index] = used
            if used > KEEP_OUTPUT_CHARS:
                self.truncated.add(cell_index)
                return None
            return super().output(outs, msg, display_id, cell_index)

    return _Client


_KERNEL_SETUP = "get_ipython().ask_exit = lambda: None"


class Kernel:
    """One notebook's kernel: run cells with a time limit; interrupt, restart and replay when needed."""

    def __init__(self, nb, timeout: int, cwd: str):
        self.nb, self.timeout, self.cwd = nb, timeout, cwd
        self.client = _make_client_class()(
            nb, timeout=timeout, kernel_name="python3", allow_errors=True, interrupt_on_timeout=False,
            shutdown_kernel="immediate", record_timing=False, iopub_timeout=2, startup_timeout=120,
            resources={"metadata": {"path": cwd}}, log=_quiet_logger())
        self.client.chars_used, self.client.truncated = {}, set()
        self.replay: list[int] = []  # cells that finished: run again after a restart
        self.restarts = 0
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                        MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1")

    # -- lifecycle
    def start(self) -> None:
        c = self.client
        c.km = c.create_kernel_manager()
        c.start_new_kernel(cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c.start_new_kernel_client()
        # exit() and quit() in a notebook stop the kernel's event loop a moment later, and a
        # replayed cell would do it again after every restart: make them do nothing.
        self._execute(self.add_cell(_KERNEL_SETUP), PROBE_TIMEOUT, store_history=False)

    def stop(self) -> None:
        c = self.client
        if c.km is None:
            return
        try:
            c._cleanup_kernel()  # shutdown_kernel="immediate": kills the process
        except Exception:  # pragma: no cover - a kernel that will not go away quietly
            c.km, c.kc = None, None

    # -- running cells
    def add_cell(self, source: str) -> int:
        import nbformat

        self.nb.cells.append(nbformat.v4.new_code_cell(source))
        return len(self.nb.cells) - 1

    def _execute(self, index: int, timeout: int, store_history: bool) -> tuple[str, str]:
        """Run one cell; 'ok', 'error', 'timeout' or 'died', and the error text."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        cell = self.nb.cells[index]
        self.client.chars_used[index] = 0
        self.client.timeout = timeout
        try:
            self.client.execute_cell(cell, index, store_history=store_history)
        except CellTimeoutError:
            return "timeout", ""
        except DeadKernelError:
            return "died", ""
        except Exception as e:  # the connection broke in some other way: treat as dead
            return "died", f"{type(e).__name__}: {shorten(e, 200)}"
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return "error", error_text(out)
        return "ok", ""

    def run(self, index: int, store_history: bool = True, replayable: bool = False,
            timeout: int | None = None) -> tuple[str, str]:
        """Run one cell and leave a usable kernel behind (interrupting or restarting it if needed)."""
        status, detail = self._execute(index, timeout or self.timeout, store_history)
        if status == "timeout":
            if not self._interrupt():
                self._restart()
        elif status == "died":
            self._restart()
        elif replayable:
            self.replay.append(index)
        return status, detail

    def _interrupt(self) -> bool:
        """Interrupt a running cell; True if the kernel answers again within PROBE_TIMEOUT."""
        from nbclient.util import ensure_async, run_sync

        km = self.client.km

        async def interrupt() -> None:
            await ensure_async(km.interrupt_kernel())  # AsyncKernelManager: a coroutine

        try:
            run_sync(interrupt)()
        except Exception:
            return False
        probe_timeout = max(2, min(PROBE_TIMEOUT, self.timeout))
        status, _ = self._execute(self.add_cell("pass"), probe_timeout, store_history=False)
        return status in ("ok", "error")

    def _restart(self) -> None:
        """A fresh kernel with the finished cells run again; cells that now hang or kill it are dropped."""
        while True:
            self.restarts += 1
            self.stop()
            if self.restarts > MAX_RESTARTS:
                raise GiveUp
            self.start()
            for index in list(self.replay):
                status, _ = self._execute(index, self.timeout, store_history=True)
                if status == "timeout":
                    self.replay.remove(index)
                    if not self._interrupt():
                        break
                elif status == "died":
                    self.replay.remove(index)
                    break
            else:
                return
