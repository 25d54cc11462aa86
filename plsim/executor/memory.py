"""Memory guards of a run on a Dask cluster: refuse data a worker cannot hold; explain a worker lost to memory.

:func:`check_data_fits` refuses, before anything is sent, data larger than
what a worker can hold once plsim's own tasks have taken their share
(:data:`plsim.cluster.WORKER_TASK_MEMORY`, measured); :func:`memory_guard`
turns a worker restarted by its nanny for going over its memory limit into a
:class:`plsim.cluster.WorkerMemoryError` that says what to shrink. The
executor (:mod:`plsim.executor`) runs every run inside both. Taught in
``notebooks/00_start_here.ipynb``.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plsim.cluster import WORKER_PEAK_MEMORY, WORKER_TASK_MEMORY, WorkerMemoryError, _mib

if TYPE_CHECKING:  # importing distributed takes ~1 s; do it only when a cluster is needed
    from dask.distributed import Client

__all__ = ["DataTooLargeError", "check_data_fits", "explain_worker_loss", "memory_guard"]


class DataTooLargeError(ValueError):
    """Data refused before it is sent: it would not fit in a worker's memory.

    A ``ValueError``, not a ``MemoryError``: nothing ran out of memory yet; the
    value passed (the data) is too large for this cluster, which is known up
    front, and the fix is to pass something else (less data) or to size the
    cluster differently. Attributes give the numbers: ``nbytes`` (the data),
    ``memory_limit`` (the smallest worker's limit) and ``room`` (what such a
    worker can hold besides plsim's own tasks).
    """

    def __init__(self, message: str, *, nbytes: int, memory_limit: int, room: int) -> None:
        super().__init__(message)
        self.nbytes, self.memory_limit, self.room = nbytes, memory_limit, room

    def __reduce__(self) -> tuple:
        return _data_too_large, (str(self), self.nbytes, self.memory_limit, self.room)


def _data_too_large(message: str, nbytes: int, memory_limit: int, room: int) -> DataTooLargeError:
    return DataTooLargeError(message, nbytes=nbytes, memory_limit=memory_limit, room=room)


def _worker_memory_limits(client: Client) -> dict[str, int]:
    """``{worker address: memory limit in bytes}`` asked of the scheduler now; 0 means no limit."""
    identity = client.sync(client.scheduler.identity, n_workers=-1)
    return {address: int(info.get("memory_limit") or 0) for address, info in identity["workers"].items()}


def _pause_fraction() -> float:
    """Share of its limit at which Dask pauses a worker (``distributed.worker.memory.pause``), else 1."""
    import dask.config

    for key in ("distributed.worker.memory.pause", "distributed.worker.memory.terminate"):
        fraction = dask.config.get(key, False)
        if fraction:
            return float(fraction)
    return 1.0


def _terminate_fraction() -> float:
    """Share of its limit at which a nanny restarts its worker (``distributed.worker.memory.terminate``)."""
    import dask.config

    return float(dask.config.get("distributed.worker.memory.terminate", 0.95) or 0.95)


def check_data_fits(client: Client | None, nbytes: int, *, what: str) -> None:
    """Refuse, before anything is sent, data that a worker of ``client`` cannot hold.

    Call it where plsim ships data to the workers (``client.scatter``), with
    the bytes one worker will hold at once: the whole array when it is
    broadcast to every worker, the largest piece when pieces go to different
    workers. A worker can hold what is left of its memory limit once plsim's
    own tasks have taken theirs (measured): below the point where Dask pauses
    it (80 %) with ``WORKER_TASK_MEMORY`` held, and below the point where its
    nanny restarts it (95 %) at the tasks' ``WORKER_PEAK_MEMORY``; the
    smallest worker counts. Passing is
    no guarantee (a task also makes working copies, e.g. a bootstrap sample);
    a worker that still runs out is reported by :func:`memory_guard`.
    Taught in ``notebooks/00_start_here.ipynb``.

    Parameters
    ----------
    client : dask.distributed.Client or None
        ``None`` (work runs in this process), a cluster without workers, or
        workers without a memory limit: nothing to check.
    nbytes : int
        Bytes one worker will hold, e.g. ``X.nbytes + y.nbytes``.
    what : str
        The data, as the user knows it, for the message (e.g. ``"the training data X, y"``).

    Raises
    ------
    DataTooLargeError
        A ``ValueError`` naming the data's size, the worker's memory limit,
        the room it has, and what to shrink.
    TypeError, ValueError
        ``nbytes`` is not a non-negative integer or ``what`` not a string.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, numbers.Integral):
        raise TypeError(f"nbytes must be an integer number of bytes, got {type(nbytes).__name__} {nbytes!r}")
    if nbytes < 0:
        raise ValueError(f"nbytes={nbytes!r} must be a number of bytes >= 0")
    if not isinstance(what, str) or not what:
        raise TypeError(f"what must be a non-empty string naming the data, got {what!r}")
    if client is None:
        return
    limits = [limit for limit in _worker_memory_limits(client).values() if limit > 0]
    if not limits:
        return
    smallest = min(limits)
    pause = _pause_fraction()
    room = max(min(int(smallest * pause) - WORKER_TASK_MEMORY,
                   int(smallest * _terminate_fraction()) - WORKER_PEAK_MEMORY), 0)
    if nbytes > room:
        raise DataTooLargeError(
            f"{what} is {_mib(nbytes)}, more than a worker can hold: a worker's memory limit is "
            f"{_mib(smallest)}, Dask pauses it at {pause:.0%} ({_mib(smallest * pause)}) and restarts it at "
            f"{_terminate_fraction():.0%}, and plsim's own tasks hold about {_mib(WORKER_TASK_MEMORY)} "
            f"(peaks of {_mib(WORKER_PEAK_MEMORY)}, measured), which leaves {_mib(room)}. "
            f"Shrink {what} (fewer rows or features, a smaller dataset) or give each worker more memory: "
            "plsim.start_cluster(n_workers=<fewer>, memory_limit=<more>)",
            nbytes=int(nbytes), memory_limit=smallest, room=room,
        )


_RESTART_TOPIC = "worker-restart-memory"  # the event a nanny logs when it restarts its worker for memory


def _memory_restarts(client: Client) -> list[tuple[float, dict]]:
    """The scheduler's record of workers its nannies restarted for going over their memory limit."""
    return [(stamp, dict(event)) for stamp, event in client.get_events(_RESTART_TOPIC)]


@dataclass(frozen=True)
class _Before:
    """What :func:`memory_guard` saw at the start of its block."""

    restarts: list
    limits: list


def _memory_limits_or_none(client: Client) -> list[int] | None:
    """The workers' memory limits; for a local cluster whose worker is restarting, the limits it was given."""
    try:
        limits = [limit for limit in _worker_memory_limits(client).values() if limit > 0]
    except Exception:
        limits = []
    spec = getattr(getattr(client, "cluster", None), "worker_spec", None) or {}
    limits = limits or [int(s.get("options", {}).get("memory_limit") or 0) for s in spec.values()]
    return [limit for limit in limits if limit > 0] or None


def _lost_a_worker(exc: BaseException) -> bool:
    import asyncio
    import concurrent.futures

    from distributed import KilledWorker

    # KilledWorker: the task's workers died too often; CancelledError: data a task needed was on
    # a worker that died (scattered data cannot be recomputed), or the run was cancelled.
    # Also when plsim wrapped it (``raise RuntimeError("member 3 ...") from exc``).
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, (KilledWorker, asyncio.CancelledError, concurrent.futures.CancelledError)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def explain_worker_loss(
    exc: BaseException, client: Client | None, *, what: str = "the run", since: Any = None,
) -> WorkerMemoryError | None:
    """A clear :class:`WorkerMemoryError` for ``exc`` if it came from a worker restarted for memory, else None.

    When a worker goes over 95 % of its memory limit its nanny restarts it
    ("Worker ... exceeded 95% memory budget. Restarting...") and logs a
    ``worker-restart-memory`` event on the scheduler. The run then fails with
    Dask's ``KilledWorker`` (the task killed its workers too often) or a
    ``CancelledError`` (data on the restarted worker is gone), which say
    neither why nor what to do. Given such an exception, this looks for those
    events and, if there are any, returns the error to raise instead (raise it
    ``from exc``). Usually called through :func:`memory_guard`.

    Parameters
    ----------
    exc : BaseException
        What the run raised.
    client : dask.distributed.Client or None
    what : str
        The run, as the user knows it, for the message (e.g. ``"the ensemble fit"``).
    since : optional
        Restarts recorded before the run (what :func:`memory_guard` passes);
        they are not counted. Default: every restart the scheduler remembers.
    """
    import time

    if (client is None or isinstance(exc, (WorkerMemoryError, KeyboardInterrupt))
            or not _lost_a_worker(exc)):
        return None
    seen = {repr(event) for event in getattr(since, "restarts", since) or ()}
    deadline = time.monotonic() + 2.0  # the nanny's event may reach the scheduler after the failure
    while True:
        try:
            restarts = [event for event in _memory_restarts(client) if repr(event) not in seen]
        except Exception:  # the scheduler is gone: nothing to learn
            return None
        if restarts or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not restarts:
        return None
    limits = _memory_limits_or_none(client) or list(getattr(since, "limits", ()))
    peak = max(int(event.get("rss", 0)) for _, event in restarts)
    from plsim.i18n import _

    # what the student reads when their run dies of memory: in their language (plsim.i18n)
    limit = _("its memory limit of {limit}").format(limit=_mib(min(limits))) if limits else _("its memory limit")
    return WorkerMemoryError(_(
        "{what} ran out of memory on a Dask worker: a worker went over {fraction:.0%} of {limit} "
        "(it held {peak}) and was restarted, {restarts} time(s), so {what} could not finish. "
        "Shrink it: fewer or smaller models (n_estimators, max_depth, hidden layers), fewer clients or "
        "rounds at once, less data (fewer rows or features); or give each worker more memory: "
        "plsim.start_cluster(n_workers=<fewer>, memory_limit=<more>)"
    ).format(what=what, fraction=_terminate_fraction(), limit=limit, peak=_mib(peak), restarts=len(restarts)))


@contextlib.contextmanager
def memory_guard(client: Client | None, *, what: str = "the run") -> Iterator[None]:
    """Turn a worker lost to its memory limit inside this block into a clear :class:`WorkerMemoryError`.

    ``with memory_guard(client, what="the ensemble fit"): ...`` -- if the block
    fails because a worker went over its memory limit and was restarted
    (Dask's ``KilledWorker`` or a ``CancelledError`` for lost data), the error
    raised says so, gives the worker's memory limit and what to shrink; the
    original exception is its ``__cause__``. Any other exception, and a worker
    lost for another reason, pass through unchanged. ``client=None`` does
    nothing. See :func:`explain_worker_loss`.
    """
    if not isinstance(what, str) or not what:
        raise TypeError(f"what must be a non-empty string naming the run, got {what!r}")
    if client is None:
        yield
        return
    try:  # what the scheduler knows now: a restarted worker may not be back when the block fails
        before = _Before(_memory_restarts(client), _memory_limits_or_none(client) or [])
    except Exception:  # scheduler unreachable: the block will find out itself
        before = None
    try:
        yield
    except BaseException as exc:
        explained = explain_worker_loss(exc, client, what=what, since=before)
        if explained is None:
            raise
        raise explained from exc
