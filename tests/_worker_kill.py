"""Shared pieces of the worker-kill tests: a 2-worker cluster of each kind, and a callback that SIGKILLs one.

``two_worker_clusters`` yields a ``Client`` on a 2-worker LocalCluster started through the public
API, then on the separate-process :class:`plsim.deployment.LocalDeployment` (``dask scheduler`` +
``dask worker`` processes). :func:`kill_after` makes a :mod:`plsim.progress` callback that, once
``k`` units finished, SIGKILLs a worker (pid from ``client.run(os.getpid)``) and waits until the
scheduler has seen it die, so that the rest of the run goes on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

CLUSTER_KINDS = ["local_cluster", "deployment"]


@contextlib.contextmanager
def two_worker_cluster(kind: str) -> Iterator[Any]:
    """A ``Client`` on a fresh 2-worker cluster of ``kind`` (closed, every process ended, on exit)."""
    from distributed import Client, LocalCluster

    from plsim.deployment import LocalDeployment

    if kind == "local_cluster":
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                Client(cluster, set_as_default=False) as client:
            yield client
    else:
        with LocalDeployment(n_workers=2) as deployment, Client(deployment.address, set_as_default=False) as client:
            yield client


async def _until_gone(client: Any, address: str, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        info = await client.scheduler.identity()
        if address not in info["workers"]:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the scheduler still lists the killed worker {address}")


def _holder(client: Any, prefix: str) -> str | None:
    """The worker holding the most keys that start with ``prefix`` (None if no worker holds one)."""
    counts: dict[str, int] = {}
    for key, workers in client.who_has().items():
        if str(key).startswith(prefix):
            for address in workers:
                counts[address] = counts.get(address, 0) + 1
    return max(sorted(counts), key=counts.get) if counts else None


def kill_after(client: Any, k: int, which: int = 0, holding: str = "plsim-data") -> tuple[Any, list[str]]:
    """A callback that SIGKILLs a worker once ``k`` units finished.

    The worker holding the most placed data (keys starting with ``holding``), else the
    ``which``-th worker in sorted order. Returns ``(callback, killed)``; ``killed``
    receives the address of the worker killed.
    """
    killed: list[str] = []

    def callback(event: Any) -> bool:
        if event.done >= k and not killed:
            pids = client.run(os.getpid)
            address = _holder(client, holding) if holding else None
            address = address if address in pids else sorted(pids)[which]
            os.kill(pids[address], signal.SIGKILL)
            killed.append(address)
            client.sync(_until_gone, client, address)  # the scheduler saw it die: the rest runs without it
        return False

    return callback, killed
