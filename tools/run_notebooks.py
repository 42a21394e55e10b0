"""Re-execute notebooks top to bottom and save them with their outputs.

    python tools/run_notebooks.py                 # every notebook in notebooks/
    python tools/run_notebooks.py notebooks/02_*.ipynb

Each notebook runs in a fresh kernel of the current Python, offline, exactly as the
tests run it, and is saved in place with outputs and widget state (so the book can
show the sliders). The wall time of each notebook is printed; the course aims for about
2 minutes per notebook on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


def run_notebook(path: pathlib.Path, timeout: int = 600) -> float:
    """Execute ``path`` in place; return its wall time in seconds."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)  # a previous run's sliders; this run stores its own, if any
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    os.environ.update(ENV)
    os.environ.pop("MPLBACKEND", None)  # let the kernel use its inline backend
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            store_widget_state=True)
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=pathlib.Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    total = 0.0
    for path in paths:
        print(f"running {path} ...", flush=True)
        seconds = run_notebook(path, args.timeout)
        total += seconds
        print(f"  {seconds:6.1f} s  {path.name}", flush=True)
    print(f"{len(paths)} notebook(s), {total:.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
