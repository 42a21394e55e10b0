"""Where and how a notebook's worker process runs: bubblewrap when it works, else a plain process.

With **bubblewrap** (``bwrap``, Debian's ``bubblewrap`` package) and user namespaces, the
worker sees a made-up file system: the system and Python read-only, the learner's library
``course_lib`` and the worker's own code (``course_grader/worker``, as ``course_worker``)
read-only under ``/course``; two writable folders, in memory and of ``Limits.disk_mb`` each
(what a notebook writes can neither fill the disk nor grow without bound): its own
``/sandbox``, holding only a read-only copy of its notebook, and a private ``/tmp`` (mounted
first, so a Python installed under ``/tmp``, as a fresh virtual environment, stays visible);
a private ``/proc`` with only its own processes, no network,
no other student's notebook, no grader, no hidden tests, no solutions. It runs as an
unprivileged user in new namespaces, in its own session, and dies with the grader
(``--die-with-parent``); when its first process ends, every process it started ends too.

Without bubblewrap (not installed, or user namespaces disabled, as in some containers),
the worker is an ordinary child process of the grader in its own process group: the same
module search path (no ``course_grader``), limits and kills, but **no file-system
isolation**: its code can read what the grader's user can read. :func:`sandbox_kind`
says which applies and :data:`NO_SANDBOX_NOTE` is printed by the grader.

Both ways: resource limits (address space, CPU time, file size, open files, no core
dumps) and, on Linux x86-64 and arm64, a seccomp filter (no new processes, no signals to
others: ``worker.confine``; elsewhere the grader notes that it ran without) applied by the
worker before any notebook code runs; ``python -I -S`` (no environment variables, user site or
``.pth`` files); a cleared environment; and, at the end, the process group killed and any
stray process carrying the run's marker reaped.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import pathlib
import shutil
import signal
import site
import subprocess
import sys
import time

__all__ = ["sandbox_kind", "NO_SANDBOX_NOTE", "Limits", "worker_command", "kill_group", "reap_marked"]

NO_SANDBOX_NOTE = ("no OS sandbox: bubblewrap (bwrap) is missing or user namespaces are disabled, so notebooks ran "
                   "as ordinary processes with your permissions (time, memory and output limits still applied). "
                   "Install it (sudo apt-get install bubblewrap) or grade untrusted work in a container.")
WORKER_DIR = pathlib.Path(__file__).resolve().parent / "worker"
BOOT = ("import sys; sys.path.insert(0, {lib!r}); import course_worker.runtime as r; r.main()")


class Limits:
    """Resource limits of one worker (see :func:`worker_command`)."""

    def __init__(self, memory_mb: int = 4096, cpu_seconds: int = 3600, file_mb: int = 64, open_files: int = 512,
                 processes: int | None = None, disk_mb: int = 256):
        self.memory_mb, self.cpu_seconds, self.file_mb = memory_mb, cpu_seconds, file_mb
        self.open_files, self.processes, self.disk_mb = open_files, processes, disk_mb

    def rlimits(self) -> dict:
        out = {"RLIMIT_AS": self.memory_mb * 2**20, "RLIMIT_CPU": self.cpu_seconds,
               "RLIMIT_FSIZE": self.file_mb * 2**20, "RLIMIT_NOFILE": self.open_files, "RLIMIT_CORE": 0}
        if self.processes is not None:
            out["RLIMIT_NPROC"] = self.processes
        return out


def _bwrap() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=None)
def sandbox_kind() -> str:
    """``"bwrap"`` when bubblewrap can start a process in new namespaces here, else ``"none"``."""
    if os.environ.get("COURSE_GRADER_NO_SANDBOX"):  # for tests of the fallback
        return "none"
    exe = _bwrap()
    if exe is None or not sys.platform.startswith("linux"):
        return "none"
    try:
        argv = [exe, *_system_binds(), "--proc", "/proc", "--dev", "/dev", "--unshare-all", "--unshare-user",
                "--uid", "65534", "--gid", "65534", "--die-with-parent", "--", "/bin/true" if os.path.exists("/bin/true")
                else "/usr/bin/true"]
        return "bwrap" if subprocess.run(argv, capture_output=True, timeout=30).returncode == 0 else "none"
    except (OSError, subprocess.SubprocessError):
        return "none"


@functools.lru_cache(maxsize=None)
def _tmpfs_size_works() -> bool:
    """Whether this bubblewrap can cap a tmpfs (``--size``, bubblewrap 0.7 and later)."""
    if _bwrap() is None:
        return False
    try:
        argv = [_bwrap(), *_system_binds(), "--size", str(2**20), "--tmpfs", "/tmp", "--unshare-all", "--unshare-user",
                "--die-with-parent", "--", "/bin/true" if os.path.exists("/bin/true") else "/usr/bin/true"]
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _system_binds() -> list[str]:
    out = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(name):
            out += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            out += ["--ro-bind", name, name]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd",
                 "/etc/group", "/etc/nsswitch.conf"):
        if os.path.exists(name):
            out += ["--ro-bind", name, name]
    return out


def _python_paths() -> tuple[list[str], list[str]]:
    """(folders to mount read-only, the worker's module search path after the library folder)."""
    stdlib = [p for p in sys.path if p and (p.startswith(sys.base_prefix) or p.startswith(sys.prefix))
              and "site-packages" not in p and "dist-packages" not in p]
    sites = [p for p in site.getsitepackages() + [site.getusersitepackages()] if os.path.isdir(p) and p in sys.path]
    roots = {sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             os.path.dirname(os.path.realpath(sys.executable))}
    roots |= set(sites)
    return sorted(r for r in roots if r and not r.startswith("/usr/") and os.path.isdir(r)), stdlib + sites


def _course_lib_dir() -> str:
    spec = importlib.util.find_spec("course_lib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("course_lib cannot be found; run the grader in the course's environment")
    return os.path.realpath(list(spec.submodule_search_locations)[0])


def _environment(home: str, marker: str) -> dict:
    return {"HOME": home, "TMPDIR": "/tmp", "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1", "IPYTHONDIR": "/tmp/ipython", "COURSE_GRADER_RUN": marker}


def worker_command(workdir: str, libdir: str, fds: tuple[int, int], limits: Limits, marker: str,
                   kind: str | None = None) -> tuple[list[str], dict, str]:
    """``(argv, env, cwd)`` that start a worker in ``workdir`` (its only writable folder).

    ``libdir`` is an empty folder the caller owns (used without bubblewrap to expose only
    ``course_lib`` and ``course_worker``); ``fds`` are the worker's (read, write) pipe ends.
    """
    import json

    kind = kind or sandbox_kind()
    mounts, search = _python_paths()
    if kind == "bwrap":
        lib, home = "/course", "/sandbox"
        size = ["--size", str(limits.disk_mb * 2**20)] if _tmpfs_size_works() else []
        # /tmp first: a Python installed under /tmp (a fresh virtual environment) is mounted on top of it
        argv = [_bwrap(), *_system_binds(), *size, "--tmpfs", "/tmp"]
        for root in mounts:
            argv += ["--ro-bind", root, root]
            if os.path.isdir(os.path.join(root, "course_grader")):  # an installed (not editable) course_grader
                argv += ["--tmpfs", os.path.join(root, "course_grader")]
        argv += ["--ro-bind", _course_lib_dir(), "/course/course_lib", "--ro-bind", str(WORKER_DIR),
                 "/course/course_worker", *size, "--tmpfs", "/sandbox", "--ro-bind",
                 os.path.join(workdir, "submission.ipynb"), "/sandbox/submission.ipynb", "--chdir", "/sandbox",
                 "--proc", "/proc", "--dev", "/dev", "--unshare-all", "--unshare-user", "--uid", "65534", "--gid",
                 "65534", "--hostname", "sandbox", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                 "--clearenv"]
        env_args = _environment(home, marker)
        for key, value in env_args.items():
            argv += ["--setenv", key, value]
        cwd, env = workdir, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    else:
        os.symlink(_course_lib_dir(), os.path.join(libdir, "course_lib"))
        os.symlink(str(WORKER_DIR), os.path.join(libdir, "course_worker"))
        lib, home, argv, cwd = libdir, workdir, [], workdir
        env = dict(_environment(home, marker), PATH="/usr/bin:/bin", TMPDIR=workdir,
                   MPLCONFIGDIR=os.path.join(workdir, ".matplotlib"), IPYTHONDIR=os.path.join(workdir, ".ipython"))
    config = {"fds": list(fds), "path": [lib, *search], "limits": limits.rlimits(), "threads": 1}
    argv += ["--setenv", "COURSE_WORKER_CONFIG", json.dumps(config)] if kind == "bwrap" else []
    if kind != "bwrap":
        env["COURSE_WORKER_CONFIG"] = json.dumps(config)
    argv += ["--"] if kind == "bwrap" else []
    argv += [sys.executable, "-I", "-S", "-c", BOOT.format(lib=lib)]
    return argv, env, cwd


def kill_group(proc: subprocess.Popen) -> None:
    """Kill the worker's whole process group (it was started in a session of its own), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a zombie the kernel will not reap
        pass


def reap_marked(marker: str) -> int:
    """Kill every process whose environment carries ``COURSE_GRADER_RUN=marker`` (strays that left the group)."""
    needle = f"COURSE_GRADER_RUN={marker}".encode()
    killed = 0
    for entry in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError):
            continue
    if killed:
        time.sleep(0.05)
    return killed
