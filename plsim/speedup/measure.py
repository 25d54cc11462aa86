"""Running and timing independent tasks: in this process (the baseline) or on Dask workers.

Also calibrates a cluster's per-task overhead and bandwidth. Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import math
import pickle
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dask.distributed import Client

from plsim.validation import check_nonneg_int as _nonneg_int, check_nonneg_real as _nonneg_real, check_positive_int as _positive_int

# ---------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs (measured); ``seconds`` is their median."""

    runs: tuple[float, ...]

    @property
    def seconds(self) -> float:
        return float(statistics.median(self.runs))

    @property
    def spread(self) -> float:
        """Largest minus smallest run, in seconds (how noisy the machine was)."""
        return float(max(self.runs) - min(self.runs))


def time_call(fn: Callable[[], Any], *, repeats: int = 3, warmup: int = 1) -> tuple[Timing, Any]:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed calls.

    Parameters
    ----------
    fn : callable
        Called with no arguments; whatever it does is timed end to end.
    repeats : int
        Timed calls; the median is reported (robust to a busy machine).
    warmup : int
        Untimed calls first (imports on the workers, caches, JIT...).

    Returns
    -------
    (Timing, object)
        The timings and the result of the last call.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    repeats = _positive_int("repeats", repeats)
    warmup = _nonneg_int("warmup", warmup)
    for _ in range(warmup):
        fn()
    runs = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return Timing(tuple(runs)), result


# ---------------------------------------------------------------------------
# calibration: what does one task and one byte cost on this cluster?
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """Measured costs of the cluster: seconds per (empty) task and bytes per second moved."""

    overhead_per_task: float
    bandwidth: float


def _noop(i: int) -> int:
    return i


def _nbytes(obj: Any) -> int:
    return int(getattr(obj, "nbytes", 0)) or len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def calibrate(client: Client, *, n_tasks: int = 200, megabytes: float = 8.0, repeats: int = 3) -> Calibration:
    """Measure the per-task overhead (empty tasks) and the bandwidth (scatter) of ``client``.

    The overhead is the median wall time of ``n_tasks`` empty tasks divided by
    ``n_tasks``, so it includes everything a tiny task pays end to end
    (client, scheduler, worker, result back). The bandwidth is the bytes of a
    ``megabytes`` array divided by the time to scatter it to one worker and
    release it.
    """
    import numpy as np

    n_tasks = _positive_int("n_tasks", n_tasks)
    mb = _nonneg_real("megabytes", megabytes)
    if mb <= 0:
        raise ValueError(f"megabytes={megabytes!r} must be > 0")

    def empty_tasks() -> None:
        futures = client.map(_noop, range(n_tasks), pure=False)
        client.gather(futures)
        del futures

    timing, _ = time_call(empty_tasks, repeats=repeats, warmup=1)
    payload = np.ones(int(mb * 2**20) // 8, dtype=np.float64)
    worker = worker_addresses(client)[:1]

    def ship() -> None:
        future = client.scatter(payload, workers=worker, hash=False)
        future.result()  # scatter returns once the data is on the worker
        future.release()

    moved, _ = time_call(ship, repeats=repeats, warmup=1)
    return Calibration(overhead_per_task=timing.seconds / n_tasks, bandwidth=payload.nbytes / moved.seconds)


# ---------------------------------------------------------------------------
# a workload with fixed work (never a sleep: an oversubscribed CPU must show)
# ---------------------------------------------------------------------------
def python_work(iterations: int, data: Any = None) -> float:
    """Pure-Python CPU work: ``iterations`` steps of a float recurrence (holds the GIL).

    The amount of work is fixed (not a timed spin or a sleep), so two tasks on
    one CPU really take twice as long. ``data`` (e.g. a scattered array) is
    accepted so tasks can carry a payload; only its length enters the result.
    """
    iterations = _nonneg_int("iterations", iterations)
    x = 0.5
    for _ in range(iterations):
        x = 3.9 * x * (1.0 - x)
    return x + (0 if data is None else len(data))


def python_work_iterations(milliseconds: float, *, probe: int = 200_000) -> int:
    """Iterations of :func:`python_work` that take about ``milliseconds`` in this process."""
    ms = _nonneg_real("milliseconds", milliseconds)
    if ms <= 0:
        raise ValueError(f"milliseconds={milliseconds!r} must be > 0")
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        python_work(probe)
        best = min(best, time.perf_counter() - start)
    return max(1, round(probe * ms / 1e3 / best))


# ---------------------------------------------------------------------------
# running a set of tasks
# ---------------------------------------------------------------------------
def worker_addresses(client: Client) -> list[str]:
    """Addresses of the client's workers, sorted (a stable order for choosing ``p`` of them)."""
    from plsim.cluster import worker_threads

    return sorted(worker_threads(client))


def run_sequential(func: Callable[..., Any], tasks: Sequence[Any], data: Any = None) -> list[Any]:
    """``[func(task) ...]`` or ``[func(task, data) ...]`` in this process, one after another."""
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    if data is None:
        return [func(t) for t in tasks]
    return [func(t, data) for t in tasks]


def run_parallel(
    client: Client,
    func: Callable[..., Any],
    tasks: Sequence[Any],
    data: Any = None,
    *,
    workers: int | None = None,
    ship: str = "scatter",
    on_done: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """Run ``func`` on every task on ``workers`` workers of ``client``; results in task order.

    Parameters
    ----------
    client : dask.distributed.Client
    func, tasks, data
        As in :func:`run_sequential`.
    workers : int, optional
        Use only the first ``workers`` workers (sorted by address); default all.
        The tasks are restricted to them, so 1, 2, ... workers can be measured on
        one running cluster.
    ship : {"scatter", "per-task"}
        ``"scatter"`` sends ``data`` to the chosen workers once and tasks refer to
        it by future; ``"per-task"`` embeds ``data`` in every task (the slow way,
        kept to show its cost).
    on_done : callable, optional
        ``on_done(done, total)`` after each task finishes (progress bars).
    """
    from dask.distributed import as_completed

    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    if ship not in ("scatter", "per-task"):
        raise ValueError(f"ship={ship!r} must be 'scatter' or 'per-task'")
    available = worker_addresses(client)
    if not available:
        raise ValueError("the client has no workers; start the cluster with plsim.start_cluster()")
    if workers is None:
        chosen = available
    else:
        workers = _positive_int("workers", workers)
        if workers > len(available):
            raise ValueError(
                f"workers={workers} but the cluster has only {len(available)} worker(s); "
                f"start it with plsim.start_cluster(n_workers={workers})"
            )
        chosen = available[:workers]
    tasks = list(tasks)
    extra: tuple = ()
    data_future = None
    if data is not None:
        if ship == "scatter":
            data_future = client.scatter(data, workers=chosen, broadcast=True, hash=False)
            extra = (data_future,)
        else:
            extra = (data,)
    with warnings.catch_warnings():
        # "Large object in the task graph" is the point of ship="per-task".
        warnings.filterwarnings("ignore", message=".*[Ll]arge.*")
        futures = [
            client.submit(func, t, *extra, workers=chosen, allow_other_workers=False, pure=False)
            for t in tasks
        ]
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    try:
        for done, future in enumerate(as_completed(futures), start=1):
            results[index[future.key]] = future.result()
            if on_done is not None:
                on_done(done, len(futures))
    finally:
        for f in futures:
            f.release()
        if data_future is not None:
            data_future.release()
    return results


