"""course_grader.worker.confine and the worker's other limits: what a notebook's process may not do.

The seccomp filter is tried in a fresh Python process (it cannot be lifted once set, so never in
pytest's own): no new process (``fork``, ``subprocess``, ``os.system``), no signal to another
process (the grader), while threads, torch, numpy and matplotlib still work. Then the same from
inside a real worker (bubblewrap or not), with the sandbox's private, size-capped ``/tmp``;
and the grader's side: a reference computed for the learner's code has its memory capped
(``testkit.memory_cap``), a worker that stops reading its pipe or sends long strings cannot
hang or flood the grader (``kernel.clean``, ``protocol.write_frame``'s deadline).
"""
from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import pytest

from course_grader import sandbox
from course_grader.kernel import clean
from course_grader.testkit import memory_cap
from course_grader.worker.codec import encode
from course_grader.worker.confine import seccomp_program
from course_grader.worker.protocol import WriteTimeout, write_frame

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "02_attention_exercises.ipynb"
FILTERED = platform.system() == "Linux" and seccomp_program(platform.machine(), 1) is not None
NEEDS_FILTER = pytest.mark.skipif(not FILTERED, reason="no seccomp filter for this system (Linux x86-64 or arm64 "
                                  "only): the worker runs without it and the grader's notes say so")

PROBE = r'''
import json, os, signal, subprocess, sys, threading
sys.path.insert(0, {worker!r})
from confine import confine
missing = confine({{}})
out = {{"missing": missing}}
def attempt(name, f):
    try:
        f()
        out[name] = "ok"
    except OSError as e:
        out[name] = type(e).__name__
attempt("fork", os.fork)
attempt("subprocess", lambda: subprocess.run(["true"]))
out["system"] = os.system("true")  # -1: it could not start a shell
attempt("kill_parent", lambda: os.kill(os.getppid(), 0))
attempt("kill_self", lambda: os.kill(os.getpid(), 0))
attempt("kill_all", lambda: os.kill(-1, 0))
seen = []
t = threading.Thread(target=lambda: seen.append(1)); t.start(); t.join()
out["thread"] = seen == [1]
import numpy, torch
torch.set_num_threads(2)
a = torch.randn(256, 256, generator=torch.Generator().manual_seed(0))
out["torch"] = bool(torch.allclose(a @ torch.eye(256), a)) and float(numpy.linalg.norm(numpy.ones(4))) == 2.0
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot([1, 2]); plt.savefig(os.devnull, format="png")
out["matplotlib"] = True
print(json.dumps(out))
'''


@NEEDS_FILTER
def test_the_filter_stops_new_processes_and_signals_to_others_but_not_threads_torch_or_matplotlib(tmp_path):
    code = PROBE.format(worker=str(ROOT / "course_grader" / "worker"))
    env = dict(os.environ, MPLCONFIGDIR=str(tmp_path), OMP_NUM_THREADS="2")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["missing"] == []
    assert out["fork"] == out["subprocess"] == "PermissionError" and out["system"] != 0, out
    assert out["kill_parent"] == out["kill_all"] == "PermissionError", out
    assert out["kill_self"] == "ok" and out["thread"] and out["torch"] and out["matplotlib"], out


def test_the_filter_is_skipped_where_it_is_unknown_and_the_grader_is_told():
    assert seccomp_program("riscv64", 1) is None
    program = seccomp_program("x86_64", 1234)
    assert program is not None and len(program) % 8 == 0  # struct sock_filter[]: 8 bytes each


def _worker_facts(code: str, name: str, memory_mb: int = 4096):  # torch's CUDA build maps over 3 GB
    from course_grader.kernel import Kernel
    from course_grader.worker import codec

    kernel = Kernel(SOLUTION.read_bytes(), sandbox.Limits(memory_mb=memory_mb), start_timeout=120, total=300)
    try:
        kernel.start()
        assert kernel.run_cell(0, code, 60)["status"] == "ok"
        reply = kernel.call({"name": name, "args": codec.encode([]), "kwargs": codec.encode({})}, 120)
        return reply["value"], list(kernel.unconfined)
    finally:
        kernel.stop()


INSIDE = r'''
def confined():
    import errno, os, subprocess
    out = {}
    for name, f in [("fork", os.fork), ("subprocess", lambda: subprocess.run(["true"])),
                    ("signal_the_parent", lambda: os.kill(os.getppid(), 0))]:  # 0: only asks whether it may
        try:
            f()
            out[name] = "ok"
        except OSError as e:
            out[name] = type(e).__name__
    block = b"\0" * 2**20
    for folder in ("/tmp", "."):
        out[folder] = "wrote 288 MiB"
        try:
            for i in range(6):  # 48 MiB files: each under the file-size limit, together over the disk's
                with open(os.path.join(folder, f"big{i}"), "wb") as f:
                    for _ in range(48):
                        f.write(block)
        except OSError as e:
            out[folder] = errno.errorcode.get(e.errno, str(e.errno))
        for i in range(6):
            try:
                os.remove(os.path.join(folder, f"big{i}"))
            except OSError:
                pass
    return out
'''


@NEEDS_FILTER
def test_inside_a_worker_no_process_no_signal_to_the_grader_and_disks_are_capped():
    facts, unconfined = _worker_facts(INSIDE, "confined")
    assert unconfined == []
    assert facts["fork"] == facts["subprocess"] == facts["signal_the_parent"] == "PermissionError", facts
    if sandbox.sandbox_kind() == "bwrap" and sandbox._tmpfs_size_works():  # noqa: SLF001 - what the sandbox does here
        assert facts["/tmp"] == facts["."] == "ENOSPC", facts  # 256 MiB each, in memory


@pytest.mark.skipif(sandbox.sandbox_kind() != "bwrap", reason="bubblewrap is not usable here")
def test_a_virtual_environment_under_tmp_is_not_hidden_by_the_private_tmp():
    argv, _, _ = sandbox.worker_command("/tmp/w", "/tmp/l", (3, 4), sandbox.Limits(), "m", kind="bwrap")
    mounts, _ = sandbox._python_paths()  # noqa: SLF001 - the folders of this Python, mounted read-only
    tmpfs = [i for i, a in enumerate(argv) if a == "--tmpfs" and argv[i + 1] == "/tmp"]
    binds = [i for i, a in enumerate(argv) if a == "--ro-bind" and argv[i + 1] in mounts]
    assert len(tmpfs) == 1 and binds and all(tmpfs[0] < i for i in binds)  # /tmp first, Python's folders on top


def test_a_reference_computed_for_the_learner_has_its_memory_capped():
    if not pathlib.Path("/proc/self/statm").exists():
        pytest.skip("the cap needs Linux's /proc")
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    with pytest.raises(MemoryError):
        with memory_cap(64):
            bytearray(1024 * 2**20)  # what bigram_counts(ids, 10**5) would ask for
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    with memory_cap(256):
        assert len(bytearray(16 * 2**20)) == 16 * 2**20  # an honest reference runs


def test_a_worker_cannot_flood_the_grader_with_strings_or_odd_numbers():
    reply = clean({"status": "error", "error": "x" * 10**6, "seconds": "nan", "printed": -5,
                   "types": ["ValueError"] * 1000 + [{"not": "a string"}], "value": encode([1.5, "kept"]),
                   **{f"k{i}": i for i in range(100)}})
    assert len(reply["error"]) == 2000 and reply["seconds"] == 0.0 and reply["printed"] == 0.0
    assert reply["types"] == ["ValueError"] * 64 and reply["value"] == encode([1.5, "kept"])
    assert len(reply) <= 32


def test_a_worker_that_stops_reading_its_pipe_costs_a_timeout_not_a_hang():
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        began = time.monotonic()
        with pytest.raises(WriteTimeout):
            write_frame(w, {"data": "x" * 2**20}, deadline=time.monotonic() + 1.0)  # more than a pipe holds
        assert time.monotonic() - began < 30
    finally:
        os.close(r)
        os.close(w)


def test_a_frame_nested_too_deeply_is_a_protocol_error_not_a_crash_of_the_grader():
    from course_grader.worker.protocol import FrameReader, ProtocolError

    r, w = os.pipe()
    try:
        data = b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
        reader = FrameReader(r)
        os.write(w, len(data).to_bytes(4, "big"))
        with os.fdopen(os.dup(w), "wb") as f:
            import threading

            writer = threading.Thread(target=lambda: (f.write(data), f.flush()))
            writer.start()
            with pytest.raises(ProtocolError, match="RecursionError"):
                reader.read(time.monotonic() + 60)
            writer.join()
    finally:
        os.close(r)
        os.close(w)
