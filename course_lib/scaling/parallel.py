"""Training several models at once: one process per job, results handed back as each finishes.

The scaling sweep (``run_sweep(..., jobs=N)``) and the IsoFLOP runs train many small,
independent models. Each is single-threaded by default, so on a machine with N cores, N
of them side by side finish in about 1/N of the time, with the same numbers (each run
is seeded and its own process). Processes are started with ``spawn``, the method that
works the same on Linux, macOS and Windows.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable

from ..validation import check_int

__all__ = ["run_in_processes"]


def run_in_processes(fn: Callable[..., Any], tasks: Iterable[tuple], jobs: int, on_result: Callable[[Any], None]) -> None:
    """Call ``fn(*task)`` for every task in ``jobs`` worker processes; ``on_result(value)`` as each ends.

    ``fn`` must be a module-level function (it is pickled to the workers). Results arrive
    in the order the tasks finish, not the order given. Ctrl-C, or an error in a task,
    cancels the tasks not yet started, stops the workers and re-raises; every result
    already handed to ``on_result`` stays handed.
    """
    jobs = check_int(jobs, "jobs (processes at once)", minimum=1)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending = {pool.submit(fn, *task) for task in tasks}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                on_result(future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list((getattr(pool, "_processes", None) or {}).values()):  # stop the runs in flight now
            process.terminate()
        raise
    pool.shutdown(wait=True)
