"""Fixtures for the browser tests: a JupyterLab server on a temporary folder, and Chromium.

The tests drive Debian's Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``) through the
Python ``playwright`` package, which talks to an installed browser, so ``playwright install``
(a download) is never needed. Without Chromium or playwright every test here is skipped with
a message that says how to install them.

JupyterLab runs on 127.0.0.1 with a random free port and a random token, its root is a
temporary folder holding copies of the notebooks under test (the committed notebooks are
never opened), and its settings, workspaces and runtime files live in that folder too, so
nothing of the user's JupyterLab set-up is read or changed.

Screenshots go to ``$SCREENSHOT_DIR`` when it is set, otherwise into a temporary folder
whose path the tests print.
"""
from __future__ import annotations

import json
import os
import pathlib
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags for a headless Chromium on a machine without network: no background requests.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
INSTALL_HINT = (
    "the browser tests need Debian's Chromium and the Python package playwright: "
    "`sudo apt-get install chromium` (or set CHROMIUM=/path/to/chromium) and "
    "`pip install -r requirements.txt` (playwright==1.65.2); `playwright install` is not needed"
)
# JupyterLab settings for a quiet, deterministic test session: every cell in the DOM (no
# virtual scrolling), no news or update checks (no network), no autosave into the copies.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                   "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab or the book in Chromium (skipped without it)")


def pytest_collection_modifyitems(items):
    for item in items:
        if pathlib.Path(str(item.fspath)).parent == pathlib.Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def _require_browser():
    """Skip with the install hint unless playwright imports and Chromium exists."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip(f"playwright is not installed; {INSTALL_HINT}")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM}; {INSTALL_HINT}")


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> pathlib.Path:
    """Where screenshots go: $SCREENSHOT_DIR if set, else a temporary folder (printed)."""
    path = pathlib.Path(os.environ["SCREENSHOT_DIR"]) if os.environ.get("SCREENSHOT_DIR") else (
        tmp_path_factory.mktemp("screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test screenshots: {path}")
    return path


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Debian's), driven by playwright; skipped when either is missing."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer:
    """A running JupyterLab: ``url(path)`` gives a page's address with the token."""

    def __init__(self, root: pathlib.Path, port: int, token: str, process: subprocess.Popen, log: pathlib.Path):
        self.root, self.port, self.token, self.process, self.log = root, port, token, process, log
        self.base = f"http://127.0.0.1:{port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-n:])


def _wait_until_up(server: LabServer, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url("api/status"), timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """JupyterLab on 127.0.0.1 (random port and token) serving a temporary copy folder.

    Tests copy the notebooks they open into ``lab_server.root / "notebooks"``; ``data/`` is
    linked beside it so notebooks that read ``../data`` find it.
    """
    _require_browser()
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    (root / "notebooks").mkdir(parents=True)
    if (ROOT / "data").is_dir():
        (root / "data").symlink_to(ROOT / "data", target_is_directory=True)
    settings = base / "settings"
    for rel, values in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), JUPYTER_CONFIG_DIR=str(base / "config"),
               JUPYTER_DATA_DIR=str(base / "data"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_HUB_DISABLE_PROGRESS_BARS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as in JupyterLab for a learner
    log = base / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    with open(log, "w") as log_file:
        process = subprocess.Popen(cmd, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server = LabServer(root, port, token, process, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def copy_cleared(src: pathlib.Path, dst_dir: pathlib.Path) -> pathlib.Path:
    """Copy notebook ``src`` into ``dst_dir`` without outputs, counts or saved widget state.

    A cleared copy makes "every code cell ran" visible: each prompt must show a number.
    """
    nb = json.loads(src.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb.get("metadata", {}).pop("widgets", None)
    dst = dst_dir / src.name
    dst.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return dst


@pytest.fixture(scope="session")
def copy_notebook(lab_server):
    """``copy_notebook(path)`` copies a notebook, cleared, into the server's folder; returns its name."""
    def _copy(path: pathlib.Path) -> str:
        return copy_cleared(path, lab_server.root / "notebooks").name
    return _copy
