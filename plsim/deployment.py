"""A Dask deployment on this machine started the way real clusters are: ``dask scheduler`` + ``dask worker``.

Taught in ``notebooks/06_scaling_out.ipynb``: only the scheduler address changes.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from plsim.cluster import _fit_workers_in_memory, _mib, parse_memory_limit
from plsim.resources import detect_resources
from plsim.validation import check_positive_int

__all__ = ["LocalDeployment"]


class LocalDeployment:
    """A multi-process Dask deployment on this machine, started the way real clusters are.

    ``dask scheduler`` and ``n_workers`` separate ``dask worker`` processes on
    127.0.0.1 — the same commands an administrator runs on many hosts. Used by
    ``notebooks/06_scaling_out.ipynb`` to show that only the scheduler address
    changes; close it (or use ``with``) to end every process.

    Parameters
    ----------
    n_workers : int
        Worker processes to start.
    nthreads : int
        Threads per worker.
    memory_limit : str or int, optional
        Each worker's ``--memory-limit``. By default the workers share the memory
        allowance (``MEM_LIMIT``, cgroup, RAM) as :func:`plsim.cluster.start_cluster` shares it:
        a ``dask worker`` left to itself claims the whole machine's memory, so
        under Binder's 2 GiB each would believe it had the host's RAM and be
        killed before Dask could spill or plsim could say the data is too large.
        Fewer workers start, with a warning, when the allowance cannot feed them all.
    timeout : float
        Seconds to wait for the scheduler and all workers to come up.
    """

    def __init__(self, n_workers: int = 2, *, nthreads: int = 1, memory_limit: str | int | None = None,
                 timeout: float = 60.0) -> None:
        import shutil
        import socket
        import subprocess
        import sys

        self.n_workers = check_positive_int("n_workers", n_workers)
        nthreads = check_positive_int("nthreads", nthreads)
        per_worker_memory = parse_memory_limit(memory_limit)
        if per_worker_memory is None:
            self.n_workers, per_worker_memory, note = _fit_workers_in_memory(self.n_workers, detect_resources())
            if note:
                warnings.warn(note, UserWarning, stacklevel=2)
        self.memory_limit = per_worker_memory
        dask_cli = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
        if dask_cli is None:
            raise RuntimeError("the `dask` command (installed with distributed) was not found on PATH")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        env = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        self._processes: list[subprocess.Popen] = []
        try:
            self._processes.append(subprocess.Popen(
                [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--dashboard-address", "127.0.0.1:0"], **quiet))
            for _ in range(self.n_workers):
                self._processes.append(subprocess.Popen(
                    [dask_cli, "worker", self.address, "--nthreads", str(nthreads), "--no-dashboard",
                     "--host", "127.0.0.1", "--memory-limit", str(per_worker_memory)], **quiet))
            self._wait_until_ready(timeout)
        except BaseException:
            self.close()
            raise

    def _wait_until_ready(self, timeout: float) -> None:
        from dask.distributed import Client

        with Client(self.address, timeout=timeout, set_as_default=False) as probe:
            probe.wait_for_workers(self.n_workers, timeout=timeout)

    @property
    def pids(self) -> list[int]:
        """Process ids of the scheduler and the workers."""
        return [p.pid for p in self._processes]

    def close(self) -> None:
        """Stop the workers, then the scheduler; kill what does not stop in time.

        Workers first: a worker told to stop while its scheduler is stopping too waits for it to answer
        (about 8 s per close, measured); with the scheduler still up it leaves in well under a second.
        """
        workers, scheduler = self._processes[1:], self._processes[:1]
        for group in (workers, scheduler):
            for process in group:
                if process.poll() is None:
                    process.terminate()
            for process in group:
                _wait_or_kill(process, timeout=15)

    def __enter__(self) -> LocalDeployment:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"LocalDeployment(address={self.address!r}, n_workers={self.n_workers}, "
                f"memory_limit={_mib(self.memory_limit)} per worker)")


def _wait_or_kill(process, timeout: float) -> None:
    import subprocess

    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
