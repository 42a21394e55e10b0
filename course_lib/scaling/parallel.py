"""Training several models at once: one process per job, results handed back as each finishes.

The scaling sweep (``run_sweep(..., jobs=N)``) and the IsoFLOP runs train many small,
independent models. Each is single-threaded by default, so on a machine with N cores, N
of them side by side finish in about 1/N of the time, with the same numbers (each run
is seeded and its own process). Processes are started with ``spawn``, the method that
works the same on Linux, macOS and Windows.

On a cluster the same tasks go through submitit (``run_with_submitit``), the launcher the
field uses for SLURM: each task becomes a job, and results come back as jobs finish. Its
``LocalExecutor`` runs the same code path on one machine (the tests use it).
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable

from ..validation import check_int

__all__ = ["run_tasks", "run_in_processes", "make_executor", "run_with_submitit"]


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


def make_executor(kind: str, folder, *, timeout_min: int = 60, slurm_partition: str | None = None,
                  cpus_per_task: int = 1, gpus_per_node: int = 0):
    """A submitit executor: ``kind`` "local" (this machine) or "slurm" (``sbatch`` must be available).

    ``folder`` holds the jobs' logs and pickled results. ValueError for another kind, or
    if submitit is not installed (``pip install submitit``).
    """
    try:
        import submitit
    except ImportError:  # pragma: no cover - submitit is in requirements.txt
        raise ValueError("the cluster launcher needs submitit: pip install submitit") from None
    if kind == "local":
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=timeout_min)
    elif kind == "slurm":
        executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
        params = dict(timeout_min=timeout_min, cpus_per_task=cpus_per_task, gpus_per_node=gpus_per_node, nodes=1,
                      tasks_per_node=1)
        if slurm_partition:
            params["slurm_partition"] = slurm_partition
        executor.update_parameters(**params)
    else:
        raise ValueError(f"executor must be 'local' or 'slurm', got {kind!r}.")
    return executor


def run_with_submitit(fn: Callable[..., Any], tasks: Iterable[tuple], executor, on_result: Callable[[Any], None],
                      poll_seconds: float = 1.0) -> None:
    """Submit ``fn(*task)`` for every task to a submitit ``executor``; ``on_result(value)`` as each job ends.

    A failed job raises its error (submitit's ``FailedJobError`` carries the job's log);
    results handed to ``on_result`` before that stay handed. Ctrl-C cancels the jobs.
    """
    from submitit.helpers import as_completed

    jobs = [executor.submit(fn, *task) for task in tasks]
    try:
        for job in as_completed(jobs, poll_frequency=poll_seconds):
            on_result(job.result())
    except BaseException:
        for job in jobs:
            if not job.done():
                job.cancel(check=False)
        raise


def run_tasks(fn: Callable[..., Any], tasks: list[tuple], on_result: Callable[[Any], None], *, jobs: int = 1,
              executor: str | None = None, folder=None, executor_options: dict | None = None) -> None:
    """Call ``fn(*task)`` for every task, here, in ``jobs`` processes, or as submitit jobs.

    ``executor`` None: in this process one after the other when ``jobs == 1`` (or one task),
    else ``run_in_processes``; ``"local"`` or ``"slurm"``: ``run_with_submitit`` with
    ``make_executor(executor, folder, **executor_options)``. ``on_result(value)`` is called
    as each task ends, in the order they finish. The sweep and the grid both run through here.
    """
    if executor not in (None, "local", "slurm"):
        raise ValueError(f"executor must be 'local' or 'slurm' (or None: this machine), got {executor!r}.")
    jobs = check_int(jobs, "jobs (models trained at once)", minimum=1)
    if not tasks:
        return
    if executor is not None:
        run_with_submitit(fn, tasks, make_executor(executor, folder, **(executor_options or {})), on_result)
    elif jobs == 1 or len(tasks) == 1:
        for task in tasks:
            on_result(fn(*task))
    else:
        run_in_processes(fn, tasks, jobs, on_result)
