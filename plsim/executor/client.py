"""The Dask client as the executor meets it: checked once, asked what workers it has.

Taught in ``notebooks/00_start_here.ipynb``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importing distributed takes ~1 s; do it only when a cluster is needed
    from dask.distributed import Client

__all__ = ["check_client", "worker_threads"]


def check_client(client: Any, *, what: str, instead: str | None = None) -> Client:
    """``client`` if it is a dask.distributed.Client that is still connected; else a clear error for ``what``.

    A notebook rerun out of order hands a closed client (``plsim.close_cluster()`` ran
    further down) or ``None`` to a function that measures the cluster itself; Dask
    would fail deep inside with ``ClosedClientError`` or ``AttributeError``.
    """
    if not (callable(getattr(client, "submit", None)) and callable(getattr(client, "scatter", None))):
        alternative = f", or use {instead}" if instead else ""
        raise TypeError(f"client={client!r} ({type(client).__name__}) is not a dask.distributed.Client: {what} "
                        f"runs on a cluster; pass the one plsim.start_cluster() returned{alternative}")
    status = getattr(client, "status", "running")
    if status not in ("running", "connecting", "newly-created"):
        raise ValueError(f"client={client!r} is {status}; start a cluster with plsim.start_cluster()")
    return client


def worker_threads(client: Client) -> dict[str, int]:
    """``{worker address: threads}`` of the client's workers, asked of the scheduler now.

    Not ``client.scheduler_info()["workers"]``: that returns a cache which the
    client's own periodic refresh (every 2 s, totals only) can overwrite with an
    empty ``"workers"`` between the fresh fetch and the return, so a busy
    cluster would now and then look as if it had no workers (seen in the test suite).
    """
    return dict(client.nthreads())

