"""A sweep's record on disk: JSON written atomically after every run, with the machine it ran on.

``load_sweep(path)`` reads what ``run_sweep`` wrote, and refuses, with what to do, a file
that is not a sweep.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import pathlib
import platform

__all__ = ["load_sweep", "write_json", "machine", "check_writable", "utc_now"]


def machine() -> dict:
    """Where the runs ran: platform, processor, Python, torch, threads, CPUs."""
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }


def load_sweep(path) -> dict:
    """Read a sweep's JSON (as written by ``run_sweep``); ValueError if it is not one."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ValueError(f"no sweep results at {path}; run `python -m course_lib.scaling sweep --out {path}` first.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it or pass --fresh to overwrite it.") from None
    if not isinstance(data, dict) or "runs" not in data or "config" not in data:
        raise ValueError(f"{path} is not a scaling-sweep result (no 'runs' and 'config'); choose another --out or pass --fresh.")
    return data


def write_json(path: pathlib.Path, data: dict) -> None:
    """Write atomically: a crash mid-write never leaves a truncated results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def utc_now() -> str:
    """The time now in UTC, ISO 8601 to the second (a run's ``finished``, a file's ``date``)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def check_writable(path: pathlib.Path) -> None:
    """Refuse, before any training, an output path that cannot be written."""
    if path.exists() and path.is_dir():
        raise ValueError(f"{path} is a folder; give a file name for the results, e.g. {path / 'sweep.json'}.")
    probe = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write the results to {path} ({err.strerror or err}); choose another --out.") from None
