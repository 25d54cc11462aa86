"""One plsim cluster per student session: every notebook a student opens in one Jupyter server shares it.

Without this, each notebook's :func:`plsim.start_cluster` starts its own
LocalCluster sized to 80 % of the memory allowance, so a student with two
notebooks open on a 2 GiB Binder or hub pod has two clusters competing for one
limit. With ``PLSIM_SESSION_CLUSTER=1`` in the environment (``binder/start``
sets it), :func:`plsim.start_cluster` in a Jupyter kernel instead

* **starts** the session's cluster the first time: a detached process
  (``python -m plsim.session_cluster``, in its own session so the kernel's
  interrupt button does not reach it) runs a LocalCluster sized once to the
  allowance, as :func:`plsim.start_cluster` sizes a private one, and writes a
  scheduler file in the user's Jupyter runtime directory
  (``jupyter --runtime-dir``);
* **joins** it from every later kernel: the file's name is keyed by what sizes
  the cluster (the CPUs and memory detected, workers, threads, memory per
  worker, the Python that runs it) and by the Jupyter server, so only kernels
  that would have started the same cluster share it. A lock around the
  directory makes two kernels starting at the same instant find one cluster;
* **disconnects** when a notebook closes (:func:`plsim.close_cluster`, ``with``,
  the kernel's exit): the others' work goes on;
* **ends** when no notebook has been connected for ``PLSIM_SESSION_IDLE_TIMEOUT``
  seconds (default 30), when the Jupyter server that started the kernels exits
  (``JPY_PARENT_PID``), or on SIGTERM. It then removes its scheduler file and
  its log, and its worker processes end with it.

Scripts, ``plsim bench`` and tests outside a kernel keep private clusters, as
does ``plsim.start_cluster(shared=False)`` anywhere. POSIX only (the lock is
``fcntl.flock``); elsewhere each notebook keeps its own cluster.
Taught in ``notebooks/00_start_here.ipynb``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plsim.i18n import N_, _

if TYPE_CHECKING:
    from dask.distributed import Client

    from plsim.resources import Resources

__all__ = ["SessionPlan", "session_requested", "in_jupyter_kernel", "session_wanted", "plan_session",
           "join_or_start", "is_session_client", "runtime_directory", "connected_clients", "main",
           "ENV_VAR", "IDLE_ENV_VAR", "DEFAULT_IDLE_TIMEOUT"]

ENV_VAR = "PLSIM_SESSION_CLUSTER"
IDLE_ENV_VAR = "PLSIM_SESSION_IDLE_TIMEOUT"
# Long enough for "Restart kernel and run all" (a new kernel imports plsim and calls start_cluster within
# ~5 s) to find the cluster still there; short enough that an idle cluster does not hold a pod's memory long.
DEFAULT_IDLE_TIMEOUT = 30.0
# Starting the cluster (scheduler, workers, their imports) took 2-4 s on 2 quiet CPUs and up to ~20 s under a
# load average of 12; a second kernel waits at most this long for the lock.
START_TIMEOUT = 180.0
PREFIX = "plsim-session-"
LOCK_NAME = "plsim-session.lock"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
_POLL = 0.25

# The clients that joined or started a session cluster (weakly: closing and dropping one forgets it).
_session_clients: weakref.WeakSet = weakref.WeakSet()


@dataclass(frozen=True)
class SessionPlan:
    """What sizes the session's cluster; kernels with equal plans share one cluster."""

    n_workers: int
    threads_per_worker: int
    memory_limit: int          # bytes per worker
    cpus: int                  # the allowance detected (CPU_LIMIT, cgroup, affinity)
    memory_bytes: int          # the memory allowance detected (MEM_LIMIT, cgroup, RAM)
    server_pid: int | None     # the Jupyter server the kernels belong to (JPY_PARENT_PID)
    server_started: float | None
    python: str                # workers must run the kernels' Python and packages

    @property
    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        return (f"{self.n_workers} worker(s) of {self.threads_per_worker} thread(s), "
                f"{self.memory_limit / 2**20:,.0f} MiB each")

    def describe_text(self) -> str:
        """:meth:`describe` in the student's language (:mod:`plsim.i18n`)."""
        return _("{n_workers} worker(s) of {threads} thread(s), {mib:,.0f} MiB each").format(
            n_workers=self.n_workers, threads=self.threads_per_worker, mib=self.memory_limit / 2**20)


def session_requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment asks for one cluster per session (``PLSIM_SESSION_CLUSTER=1``)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV_VAR, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        warnings.warn(f"ignoring {ENV_VAR}={environ[ENV_VAR]!r}: expected 1 (on) or 0 (off)", UserWarning,
                      stacklevel=3)
    return False


def in_jupyter_kernel(environ: Mapping[str, str] | None = None) -> bool:
    """True in an IPython kernel that a Jupyter server (or nbclient) started: ``JPY_PARENT_PID`` is set."""
    environ = os.environ if environ is None else environ
    if not environ.get("JPY_PARENT_PID") or "ipykernel" not in sys.modules:
        return False
    try:
        from ipykernel.kernelapp import IPKernelApp
    except ImportError:
        return False
    return IPKernelApp.initialized()


def session_wanted(shared: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether :func:`plsim.start_cluster` should use the session's cluster.

    ``shared=True``: yes (even outside a kernel); ``False``: no; ``None``: when
    the environment asks for it and this is a Jupyter kernel on a POSIX system.
    """
    if shared is not None:
        return shared
    return os.name == "posix" and session_requested(environ) and in_jupyter_kernel(environ)


def _server(environ: Mapping[str, str]) -> tuple[int | None, float | None]:
    """The Jupyter server's pid and start time (to tell it from a later process that reuses the pid)."""
    import psutil

    try:
        pid = int(environ.get("JPY_PARENT_PID") or 0)
    except ValueError:
        return None, None
    if pid <= 1:
        return None, None
    try:
        return pid, psutil.Process(pid).create_time()
    except psutil.Error:
        return None, None


def plan_session(resources: Resources, environ: Mapping[str, str] | None = None) -> SessionPlan:
    """The session's cluster for this allowance: one single-threaded worker per CPU, memory shared as usual.

    Raises :class:`plsim.cluster.WorkerMemoryError` when the allowance feeds no worker.
    """
    from plsim.cluster import _fit_workers_in_memory

    environ = os.environ if environ is None else environ
    workers, memory, _ = _fit_workers_in_memory(resources.cpus, resources)
    pid, started = _server(environ)
    return SessionPlan(workers, 1, memory, resources.cpus, resources.memory_bytes, pid, started,
                       os.path.realpath(sys.executable))


def runtime_directory() -> Path:
    """Jupyter's runtime directory for this user (``JUPYTER_RUNTIME_DIR`` or ``jupyter --runtime-dir``), created."""
    from jupyter_core.paths import jupyter_runtime_dir

    path = Path(jupyter_runtime_dir())
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def idle_timeout(environ: Mapping[str, str] | None = None) -> float:
    """Seconds the session's cluster waits with no notebook connected before it ends."""
    environ = os.environ if environ is None else environ
    raw = environ.get(IDLE_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_IDLE_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value < float("inf")):
        warnings.warn(f"ignoring {IDLE_ENV_VAR}={raw!r}: expected a number of seconds > 0", UserWarning,
                      stacklevel=2)
        return DEFAULT_IDLE_TIMEOUT
    return value


class _Lock:
    """An exclusive ``flock`` on ``<runtime dir>/plsim-session.lock``, a file the last cluster removes.

    The file may be unlinked by its holder (the last session cluster, so nothing
    is left behind); whoever then got the lock on the unlinked file sees that
    the path no longer names what it locked, and tries again.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self.fd: int | None = None

    def acquire(self, timeout: float | None) -> bool:
        """Take the lock, waiting at most ``timeout`` seconds (None: do not wait). True if taken."""
        import fcntl

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if deadline is None or time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
                continue
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return True
            os.close(fd)   # locked a file the previous holder removed: take the new one

    def release(self, *, remove: bool = False) -> None:
        import fcntl

        if self.fd is None:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


@contextlib.contextmanager
def _locked(directory: Path, timeout: float) -> Iterator[None]:
    lock = _Lock(directory)
    if not lock.acquire(timeout):
        raise TimeoutError(f"another notebook held {lock.path} for over {timeout:g} s while starting the "
                           "session's cluster; try again, or use a private cluster: "
                           "plsim.start_cluster(shared=False)")
    try:
        yield
    finally:
        lock.release()


def _scheduler_file(directory: Path, plan: SessionPlan) -> Path:
    return directory / f"{PREFIX}{plan.key}.json"


def _alive(info: Mapping[str, Any]) -> bool:
    import psutil

    try:
        return abs(psutil.Process(int(info["pid"])).create_time() - float(info["pid_started"])) < 1.0
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def join_or_start(plan: SessionPlan, *, set_as_default: bool = True, timeout: float = START_TIMEOUT,
                  environ: Mapping[str, str] | None = None) -> tuple[Client, bool]:
    """A client of the session's cluster for ``plan``, and whether this call started the cluster.

    Under the lock: a live cluster's scheduler file is joined; a file left by a
    cluster that died is removed; otherwise the cluster is started here, as a
    detached process, and joined once its workers are up.
    """
    from dask.distributed import Client

    from plsim.cluster import ClusterConnectionError

    environ = os.environ if environ is None else environ
    directory = runtime_directory()
    path = _scheduler_file(directory, plan)
    with _locked(directory, timeout):
        info = _read(path)
        if info is not None and _alive(info):
            try:
                client = Client(info["address"], timeout=min(timeout, 30.0), set_as_default=set_as_default)
            except (OSError, TimeoutError):
                client = None   # ending right now (its server left): start a new one below
            if client is not None:
                _session_clients.add(client)
                return client, False
        if info is not None or path.exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()   # left by a cluster that was killed
        info = _start(plan, path, timeout, environ)
        try:
            client = Client(info["address"], timeout=min(timeout, 30.0), set_as_default=set_as_default)
        except (OSError, TimeoutError) as exc:
            raise ClusterConnectionError(f"the session's cluster started ({info['address']}) but did not answer; "
                                         "use a private cluster: plsim.start_cluster(shared=False)") from exc
    _session_clients.add(client)
    return client, True


def _start(plan: SessionPlan, path: Path, timeout: float, environ: Mapping[str, str]) -> dict:
    """Start the detached cluster process and wait for its scheduler file (workers up)."""
    log_path = path.with_suffix(".log")
    command = [sys.executable, "-m", "plsim.session_cluster", "--scheduler-file", str(path),
               "--n-workers", str(plan.n_workers), "--threads-per-worker", str(plan.threads_per_worker),
               "--memory-limit", str(plan.memory_limit), "--idle-timeout", repr(idle_timeout(environ))]
    if plan.server_pid is not None:
        command += ["--watch-pid", str(plan.server_pid), "--watch-started", repr(plan.server_started)]
    with open(log_path, "wb") as log:
        # Its own session: the interrupt button signals the kernel's process group, and ipykernel's shutdown
        # terminates the children in that group; neither must reach a cluster other notebooks use.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=dict(environ), close_fds=True)
    deadline = time.monotonic() + timeout
    while (info := _read(path)) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(15)
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            with contextlib.suppress(FileNotFoundError):
                log_path.unlink()
            reason = (f"exited with code {process.returncode}" if process.returncode not in (None, -15)
                      else f"did not start within {timeout:g} s")
            raise RuntimeError(f"the session's cluster ({plan.describe()}) {reason}; use a private cluster: "
                               f"plsim.start_cluster(shared=False). Its log:\n{tail}")
        time.sleep(0.1)
    # Reap it when it ends (after this kernel let go), so it does not stay a zombie under a live kernel.
    threading.Thread(target=process.wait, name="plsim-session-reaper", daemon=True).start()
    return info


def is_session_client(client: Any) -> bool:
    """True when ``client`` was connected by plsim to the session's shared cluster (on this machine)."""
    try:
        return client in _session_clients
    except TypeError:   # not hashable / not weak-referenceable: not one of ours
        return False


def _count_clients(dask_scheduler: Any) -> int:
    return len(dask_scheduler.client_comms)


def connected_clients(client: Client) -> int | None:
    """How many clients (notebooks, widgets' kernels) are connected to ``client``'s scheduler now."""
    try:
        return int(client.run_on_scheduler(_count_clients))
    except Exception:   # a scheduler that refuses run_on_scheduler: unknown
        return None


# --- the detached process -----------------------------------------------------------------------------------

def _write_atomically(path: Path, info: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)


def _remove_if_ours(path: Path) -> None:
    info = _read(path)
    if info is not None and info.get("pid") == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _server_gone(pid: int | None, started: float | None) -> bool:
    import psutil

    if pid is None:
        return False
    try:
        return started is not None and abs(psutil.Process(pid).create_time() - started) >= 1.0
    except psutil.Error:
        return True


def _retire(path: Path, lock: _Lock | None = None) -> None:
    """Remove this cluster's scheduler file, and the lock file when no other session cluster is left.

    Under the lock (taken here unless given), so a kernel never reads a file half gone.
    """
    own = lock is None
    if own:
        lock = _Lock(path.parent)
        if not lock.acquire(5.0):   # a kernel stuck holding it: remove our file anyway, keep the lock file
            _remove_if_ours(path)
            return
    _remove_if_ours(path)
    lock.release(remove=not any(path.parent.glob(f"{PREFIX}*.json")))


async def _serve(args: argparse.Namespace, stop: threading.Event) -> str:
    """Run the cluster until it is idle, its server is gone or it is told to stop; say why it ended."""
    import asyncio
    import logging

    import dask.config
    import psutil
    from distributed import LocalCluster

    from plsim.local_cluster import DropWorkersDied, keep_restarting_workers, local_cluster_settings

    path = Path(args.scheduler_file)
    overrides, extra = local_cluster_settings(processes=True)
    logging.getLogger("distributed.scheduler").addFilter(DropWorkersDied())
    with dask.config.set(overrides):
        cluster = await LocalCluster(
            n_workers=args.n_workers, threads_per_worker=args.threads_per_worker, memory_limit=args.memory_limit,
            processes=True, host="127.0.0.1", protocol="tcp", scheduler_port=0, dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR, asynchronous=True, **extra)
    try:
        keep_restarting_workers(cluster)
        scheduler = cluster.scheduler
        me = psutil.Process()
        _write_atomically(path, {
            "address": scheduler.address, "pid": me.pid, "pid_started": me.create_time(),
            "n_workers": args.n_workers, "threads_per_worker": args.threads_per_worker,
            "memory_limit": args.memory_limit, "idle_timeout": args.idle_timeout, "server_pid": args.watch_pid,
        })
        idle_since: float | None = time.monotonic()   # the kernel that started it connects at once
        while True:
            await asyncio.sleep(_POLL)
            if stop.is_set():
                _retire(path)
                return N_("told to stop")
            if _server_gone(args.watch_pid, args.watch_started):
                _retire(path)
                return N_("its Jupyter server exited")
            if scheduler.client_comms:
                idle_since = None
                continue
            idle_since = time.monotonic() if idle_since is None else idle_since
            if time.monotonic() - idle_since < args.idle_timeout:
                continue
            lock = _Lock(path.parent)
            if not lock.acquire(None):
                continue   # a kernel is joining right now: look again
            if scheduler.client_comms:   # it joined just before the lock
                lock.release()
                continue
            _retire(path, lock)   # from here no kernel can find it
            return _("no notebook connected for {seconds:g} s").format(seconds=args.idle_timeout)
    finally:
        _remove_if_ours(path)
        await cluster.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m plsim.session_cluster``: run the session's cluster (started by :func:`join_or_start`)."""
    import asyncio

    parser = argparse.ArgumentParser(prog="python -m plsim.session_cluster", description=main.__doc__)
    parser.add_argument("--scheduler-file", required=True)
    parser.add_argument("--n-workers", type=int, required=True)
    parser.add_argument("--threads-per-worker", type=int, required=True)
    parser.add_argument("--memory-limit", type=int, required=True)
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT)
    parser.add_argument("--watch-pid", type=int, default=None)
    parser.add_argument("--watch-started", type=float, default=None)
    args = parser.parse_args(argv)
    stop = threading.Event()
    # A terminal's Ctrl-C is for the Jupyter server; when the server goes, so does this process (it watches it).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    reason = asyncio.run(_serve(args, stop))   # on an error the traceback stays in the log for the kernel
    print(_("plsim session cluster ended: {reason}").format(reason=_(reason)), flush=True)
    with contextlib.suppress(FileNotFoundError):
        Path(args.scheduler_file).with_suffix(".log").unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
