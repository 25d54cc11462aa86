"""A throwaway JupyterLab server for the browser test (tests/test_browser.py).

The server listens on 127.0.0.1 on a free port with a random token, and keeps
everything it would normally read or write in one temporary folder:

* its settings, workspaces, runtime and config folders (``JUPYTERLAB_SETTINGS_DIR``,
  ``JUPYTERLAB_WORKSPACES_DIR``, ``JUPYTER_RUNTIME_DIR``, ``JUPYTER_CONFIG_DIR``), so no
  state from an earlier JupyterLab session leaks in;
* its ``root_dir``: a *copy* of the notebooks, so running them never writes outputs
  into the repository.

News and update checks are off (server traits and user settings), the notebook
renders every cell (no windowing, so the test can find widgets far down the page),
and the app object is exposed as ``window.jupyterapp`` so the test can run
JupyterLab commands. :meth:`JupyterLabServer.stop` shuts the server and its
kernels down and reports any process that had to be killed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

__all__ = ["JupyterLabServer", "free_port", "wait_gone", "USER_SETTINGS"]

# User settings written into the temporary settings folder (plugin id -> settings).
USER_SETTINGS: dict[str, dict] = {
    # No news feed, no update check: the test machine has no internet and the
    # test must not depend on it (and the prompt would cover the page).
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    # Render all cells (no virtual scrolling) and start the default kernel
    # without a "Select Kernel" dialog when a notebook names none.
    "@jupyterlab/notebook-extension:tracker": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
    # A plain static page: no blinking cursor or animations in screenshots.
    "@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Light"},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_user_settings(settings_dir: Path) -> None:
    for plugin_id, values in USER_SETTINGS.items():
        package, plugin = plugin_id.rsplit(":", 1)
        target = settings_dir / package / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values, indent=2), encoding="utf-8")


class JupyterLabServer:
    """Start, query and stop one JupyterLab server in a temporary folder.

    Parameters
    ----------
    notebooks : path
        Folder whose contents are copied into the server's root folder.
    workdir : path
        Empty temporary folder; receives ``root/``, ``settings/``, ``workspaces/``,
        ``runtime/``, ``config/`` and the server log ``jupyterlab.log``.
    extra_files : dict, optional
        Relative path (inside ``root/``) -> text, written after the copy
        (e.g. a generated self-test notebook).
    env : dict, optional
        Extra environment variables for the server and its kernels.
    """

    def __init__(
        self,
        notebooks: str | os.PathLike,
        workdir: str | os.PathLike,
        *,
        extra_files: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.root = self.workdir / "root"
        self.notebooks = Path(notebooks)
        if not self.notebooks.is_dir():
            raise ValueError(f"notebooks={str(notebooks)!r} is not a folder")
        self.extra_files = dict(extra_files or {})
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "jupyterlab.log"
        self.process: subprocess.Popen | None = None
        self._log_file = None
        self._seen: dict[int, psutil.Process] = {}

    # -- lifecycle -----------------------------------------------------------
    def start(self, timeout: float = 90.0) -> None:
        """Copy the notebooks, write the settings, start the server and wait for it."""
        ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "dask-worker-space")
        shutil.copytree(self.notebooks, self.root, ignore=ignore)
        for relative, text in self.extra_files.items():
            target = self.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        folders = {name: self.workdir / name for name in ("settings", "workspaces", "runtime", "config", "data")}
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        _write_user_settings(folders["settings"])

        env = dict(os.environ)
        # A student's kernel draws figures inline; the test suite's Agg default would not.
        env.pop("MPLBACKEND", None)
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(folders["settings"]),
            JUPYTERLAB_WORKSPACES_DIR=str(folders["workspaces"]),
            JUPYTER_RUNTIME_DIR=str(folders["runtime"]),
            JUPYTER_CONFIG_DIR=str(folders["config"]),
            # Kernel specs and lab extensions still come from sys.prefix (JUPYTER_PATH
            # keeps the environment's share/jupyter); the user data folder is fresh.
            JUPYTER_DATA_DIR=str(folders["data"]),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        command = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.allow_remote_access=False",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
            # No extension manager querying PyPI from a test.
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
            command.append("--allow-root")
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=self.root, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {self.process.returncode} before answering; "
                    f"its log:\n{self.log_tail()}"
                )
            try:
                status = self.api("GET", "status", timeout=2)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.3)
                continue
            if "started" in status:
                return
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer /api/status within {timeout} s; log:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> list[str]:
        """Shut down kernels and server; kill what is left; return what had to be killed."""
        if self.process is None:
            return []
        self.remember_processes()
        if self.process.poll() is None:
            try:
                self.api("POST", "shutdown", timeout=10)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        killed = wait_gone(list(self._seen.values()), timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.process = None
        return killed

    def put(self, relative: str, text: str, *, trusted: bool = False) -> None:
        """Write a notebook into the server's root (replacing the copy there); with ``trusted``, sign it for
        this server as a notebook whose outputs the student's own run produced is: its stored outputs then
        render as live ones do (HTML with scripts included)."""
        import nbformat
        from nbformat.sign import NotebookNotary

        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if trusted:  # the server's data folder holds its secret and signature database
            notary = NotebookNotary(data_dir=str(self.workdir / "data"))
            notary.sign(nbformat.reads(text, as_version=4))
            notary.store.close()

    def remember_processes(self) -> list[psutil.Process]:
        """Note and return every process the server runs now (kernels, Dask workers...)."""
        if self.process is None:
            return []
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for proc in children:
            self._seen.setdefault(proc.pid, proc)
        return children

    # -- helpers -------------------------------------------------------------
    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 10) -> dict:
        """Call the server's REST API with the token; returns the decoded JSON (or {})."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        if method == "POST" and data is None:
            request.data = b""
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode() or "{}"
        return json.loads(text)

    def kernels(self) -> list[dict]:
        """Kernels the server runs right now."""
        return self.api("GET", "kernels")

    def lab_url(self, notebook: str, workspace: str) -> str:
        """URL opening ``notebook`` (relative to root) in its own fresh workspace."""
        return f"{self.url}/lab/workspaces/{workspace}/tree/{notebook}?token={self.token}"

    def log_tail(self, n: int = 60) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-n:])


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[str]:
    """Wait for ``processes`` to exit; kill the ones still alive after ``timeout`` s.

    Returns a description of each process that had to be killed (empty: all ended).
    """
    survivors = [p for p in processes if _alive(p)]
    _, survivors = psutil.wait_procs(survivors, timeout=timeout)
    killed = []
    for proc in survivors:
        if not _alive(proc):
            continue
        try:
            killed.append(f"pid {proc.pid}: {' '.join(proc.cmdline())[:200]}")
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(survivors, timeout=5)
    return killed


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
