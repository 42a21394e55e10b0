"""What the worker process may do, set before any notebook code runs: resource limits, no new processes.

:func:`confine` applies the resource limits the grader sends (address space, CPU time, file
size, open files, processes) and, on Linux x86-64 and arm64, a seccomp filter that the
process and every thread it starts keep for good (it cannot be lifted, even by code that
takes over the process):

- **no new processes**: ``fork``, ``vfork`` and ``clone`` without ``CLONE_THREAD`` fail with
  EPERM (``clone3`` answers ENOSYS, so threads fall back to ``clone``); a fork bomb, a detached
  process that outlives grading, ``subprocess`` and ``os.system`` all stop there. Threads
  still work (torch's, or a notebook's own);
- **signals only to itself**: ``kill``, ``tgkill`` and ``rt_(tg)sigqueueinfo`` to another process
  fail; ``tkill``, ``pidfd_send_signal``, ``ptrace``, ``process_vm_readv/writev`` and
  ``pidfd_getfd`` always fail: a notebook cannot signal or read the grader, or another
  notebook, even without bubblewrap;
- system calls of another architecture's ABI (x32, or 32-bit calls on x86-64) fail.

It must run while the process has a single thread (the filter covers threads started
after it). :func:`confine` returns what it could not apply, for the grader's notes.
"""
from __future__ import annotations

import platform
import struct

__all__ = ["confine", "seccomp_program"]

_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS = 1, 38
_CLONE_THREAD = 0x00010000
# arch: (AUDIT_ARCH, {name: number}); None: the call does not exist there
_ARCHES = {
    "x86_64": (0xC000003E, dict(clone=56, fork=57, vfork=58, clone3=435, kill=62, tkill=200, tgkill=234, ptrace=101,
                                process_vm_readv=310, process_vm_writev=311, pidfd_send_signal=424,
                                rt_sigqueueinfo=129, rt_tgsigqueueinfo=297, pidfd_getfd=438)),
    "aarch64": (0xC00000B7, dict(clone=220, fork=None, vfork=None, clone3=435, kill=129, tkill=130, tgkill=131,
                                 ptrace=117, process_vm_readv=270, process_vm_writev=271, pidfd_send_signal=424,
                                 rt_sigqueueinfo=138, rt_tgsigqueueinfo=240, pidfd_getfd=438)),
}
_ARCHES["arm64"] = _ARCHES["aarch64"]
_ARCHES["amd64"] = _ARCHES["x86_64"]


def seccomp_program(machine: str, own_pid: int) -> bytes | None:
    """The filter as classic BPF bytes (``struct sock_filter[]``) for ``machine``; None if not known here."""
    if machine not in _ARCHES:
        return None
    audit_arch, nr = _ARCHES[machine]
    code: list[tuple] = []  # (opcode, jt label or 0, jf label or 0, k); labels resolved below

    def op(opcode, k=0, jt=0, jf=0):
        code.append((opcode, jt, jf, k))

    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    op(ld, 4)  # seccomp_data.arch
    op(jeq, audit_arch, 0, "deny")
    op(ld, 0)  # seccomp_data.nr
    if machine in ("x86_64", "amd64"):
        op(jge, 0x40000000, "deny", 0)  # the x32 ABI
    deny = ["fork", "vfork", "tkill", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_send_signal",
            "pidfd_getfd"]
    for name in deny:
        if nr[name] is not None:
            op(jeq, nr[name], "deny", 0)
    op(jeq, nr["clone3"], "enosys", 0)
    op(jeq, nr["clone"], "clone", 0)
    for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        op(jeq, nr[name], "self", 0)
    op(ret, _RET_ALLOW)
    labels = {"clone": len(code)}
    op(ld, 16)  # args[0], low half: clone's flags
    op(jset, _CLONE_THREAD, "allow", "deny")
    labels["self"] = len(code)
    op(ld, 16)  # args[0], low half: the target process
    op(jeq, own_pid, "allow", 0)
    op(jeq, 0, "allow", "deny")  # 0: its own process group
    labels.update(allow=len(code), deny=len(code) + 1, enosys=len(code) + 2)
    op(ret, _RET_ALLOW)
    op(ret, _RET_ERRNO | _EPERM)
    op(ret, _RET_ERRNO | _ENOSYS)
    out = b""
    for i, (opcode, jt, jf, k) in enumerate(code):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        out += struct.pack("HBBI", opcode, jt, jf, k & 0xFFFFFFFF)
    return out


def _install(program: bytes) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def confine(limits: dict) -> list[str]:
    """Apply ``limits`` (``{"RLIMIT_AS": bytes, ...}``) and the seccomp filter; what could not be applied."""
    import os
    import resource

    missing = []
    for name, value in limits.items():
        which = getattr(resource, name, None)
        if which is None or value is None:
            continue
        try:
            resource.setrlimit(which, (int(value), int(value)))
        except (ValueError, OSError):
            missing.append(name)
    program = seccomp_program(platform.machine(), os.getpid()) if platform.system() == "Linux" else None
    try:
        if program is None:
            raise OSError("no filter for this system")
        _install(program)
    except (OSError, AttributeError) as e:
        missing.append(f"seccomp ({e})")
    return missing
