"""Running and timing independent tasks: in this process (the baseline) or on Dask workers.

Also calibrates a cluster's per-task overhead and bandwidth. Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from plsim.executor import Executor, Run
from plsim.i18n import _
from plsim.progress import Callback, Progress, check_callback, stop_if_asked
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
    runs, result = _timed_runs(fn, _positive_int("repeats", repeats), _nonneg_int("warmup", warmup))
    return Timing(tuple(runs)), result


def _timed_runs(fn: Callable[[], Any], repeats: int, warmup: int,
                after: Callable[[int, list[float]], bool] | None = None) -> tuple[list[float], Any]:
    """``warmup`` untimed calls, then up to ``repeats`` timed ones; ``after(calls made, runs)`` True stops early."""
    runs: list[float] = []
    result = None
    for call in range(warmup + repeats):
        start = time.perf_counter()
        result = fn()
        if call >= warmup:
            runs.append(time.perf_counter() - start)
        if after is not None and after(call + 1, runs):
            break
    return runs, result


# ---------------------------------------------------------------------------
# calibration: what does one task and one byte cost on this cluster?
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """Measured costs of the cluster: seconds per (empty) task and bytes per second moved.

    ``n_tasks``, ``repeats`` and ``nbytes`` record how :func:`calibrate`
    measured them (None for a calibration written by hand).
    """

    overhead_per_task: float
    bandwidth: float
    n_tasks: int | None = None
    repeats: int | None = None
    nbytes: int | None = None

    def __str__(self) -> str:
        how = "" if self.n_tasks is None else _(" (measured: {n} empty tasks, median of {repeats} "
                                                "run(s), divided by {n})").format(n=self.n_tasks, repeats=self.repeats)
        moved = "" if self.nbytes is None else _(" (measured: {mib:.3g} MiB scattered to one worker)").format(
            mib=self.nbytes / 2**20)
        return _("per-task overhead {overhead_ms:.2f} ms{how}; bandwidth {mb_s:.0f} MB/s{moved}").format(
            overhead_ms=self.overhead_per_task * 1e3, how=how, mb_s=self.bandwidth / 1e6, moved=moved)


def _noop(i: int) -> int:
    return i


def calibrate(*, executor: Any = "auto", n_tasks: int = 200, megabytes: float = 8.0, repeats: int = 3
              ) -> Calibration:
    """Measure the per-task overhead (empty tasks) and the bandwidth (data sent to a worker) of a cluster.

    The overhead is the median wall time of ``n_tasks`` empty tasks divided by
    ``n_tasks``, so it includes everything a tiny task pays end to end
    (client, scheduler, worker, result back). The bandwidth is the bytes of a
    ``megabytes`` array divided by the time to send it to one worker
    (:meth:`plsim.executor.Executor.send`, Dask's scatter) and release it. Every notebook that quotes or predicts with the overhead
    (``00_start_here``, ``01_speedup``, ``06_scaling_out``) takes it from here.

    Empty tasks, not the difference between a parallel and a sequential run of
    real work: that difference divided by the tasks mixes the overhead with the
    work's own timing noise on a shared CPU. On one pinned CPU, 8 tasks of
    0.25 s gave -9 to +65 ms "per task" from one run to the next while 200
    empty tasks measured 6 ms each; an earlier ``00_start_here`` quoted 44 ms
    that way and predicted more CPUs from it.

    Parameters
    ----------
    executor : dask.distributed.Client, "auto" or plsim.executor.Executor
        The running cluster (resolved with :func:`plsim.executor.resolve_executor`;
        ``"auto"``: the one :func:`plsim.start_cluster` started).
    n_tasks : int
        Empty tasks per timed run.
    megabytes : float
        Size of the array scattered to measure the bandwidth.
    repeats : int
        Timed runs of each measurement, after one untimed warm-up; the median is used.

    Returns
    -------
    Calibration
        ``str()`` of it says what was measured and how.
    """
    import numpy as np

    from plsim.executor import resolve_executor

    ex = resolve_executor(executor)
    ex.require_cluster("calibrate (the cluster's own costs)")
    n_tasks = _positive_int("n_tasks", n_tasks)
    mb = _nonneg_real("megabytes", megabytes)
    if mb <= 0:
        raise ValueError(f"megabytes={megabytes!r} must be > 0")
    tasks = [{"i": i} for i in range(n_tasks)]
    payload = np.ones(int(mb * 2**20) // 8, dtype=np.float64)
    worker = ex.workers()[0]

    def ship() -> None:
        handle = ex.send(payload, worker=worker)
        ex.wait([handle])  # the data is on the worker
        ex.release([handle])

    with Run("calibrate", ex, keeps_partial=False):
        timing, _ = time_call(lambda: ex.map(_noop, {}, tasks, name="plsim-calibrate"), repeats=repeats, warmup=1)
        moved, _ = time_call(ship, repeats=repeats, warmup=1)
    return Calibration(overhead_per_task=timing.seconds / n_tasks, bandwidth=payload.nbytes / moved.seconds,
                       n_tasks=n_tasks, repeats=repeats, nbytes=int(payload.nbytes))


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
def run_sequential(func: Callable[..., Any], tasks: Sequence[Any], data: Any = None) -> list[Any]:
    """``[func(task) ...]`` or ``[func(task, data) ...]`` in this process, one after another."""
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    if data is None:
        return [func(t) for t in tasks]
    return [func(t, data) for t in tasks]


def _call(func: Callable[..., Any], task: Any, data: Any = None) -> Any:
    """One task of :func:`run_parallel`, as :func:`run_sequential` runs it (module level: pickled to workers)."""
    return func(task) if data is None else func(task, data)


def check_ship(ship: Any) -> str:
    if ship not in ("scatter", "per-task"):
        raise ValueError(f"ship={ship!r} must be 'scatter' or 'per-task'")
    return ship


def _chosen_workers(ex: Executor, workers: int | None) -> list[str] | None:
    """The first ``workers`` workers of a Dask executor (``restrict_to``), or None for all / not Dask."""
    available = ex.workers()
    if workers is None:
        return None
    workers = _positive_int("workers", workers)
    if workers > len(available):
        raise ValueError(
            f"workers={workers} but the executor ({ex.describe()}) has {len(available)} worker(s); "
            f"start a cluster with plsim.start_cluster(n_workers={workers})"
        )
    return available[:workers] if ex.on_cluster else None


def run_parallel(
    executor: Any,
    func: Callable[..., Any],
    tasks: Sequence[Any],
    data: Any = None,
    *,
    workers: int | None = None,
    ship: str = "scatter",
    callback: Callback | None = None,
) -> list[Any]:
    """Run ``func`` on every task through ``executor``; results in task order.

    Parameters
    ----------
    executor : None, "auto", dask.distributed.Client, joblib.Parallel or Executor
        Where to run (:func:`plsim.executor.resolve_executor`); a Dask client
        for a parallel run, ``None`` for this process (the results are the same).
    func, tasks, data
        As in :func:`run_sequential`.
    workers : int, optional
        Use only the first ``workers`` workers (sorted by address); default all.
        The tasks are restricted to them, so 1, 2, ... workers can be measured on
        one running cluster.
    ship : {"scatter", "per-task"}
        ``"scatter"`` places ``data`` on the cluster once per call
        (:meth:`plsim.executor.Executor.place`) and tasks refer to it;
        ``"per-task"`` embeds ``data`` in every task (the slow way, kept to
        show its cost).
    callback : callable, optional
        ``callback(Progress(done, total, "task"))`` here as each task finishes
        (:mod:`plsim.progress`); a truthy return stops the run: pending tasks
        are cancelled and the results of the tasks that finished are returned,
        in task order (fewer than ``len(tasks)``).
    """
    from plsim.executor import resolve_executor

    ex = resolve_executor(executor)
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    check_ship(ship)
    callback = check_callback(callback)
    restrict_to = _chosen_workers(ex, workers)
    tasks = list(tasks)

    def progress(done: int, total: int) -> None:
        stop_if_asked(callback, Progress(done, total, "task",
                                         message=_("{done} of {total} tasks").format(done=done, total=total)))

    finished: dict[int, Any] = {}
    with Run("the speedup measurement", ex, keeps_partial=False):
        shared = {} if data is None or ship == "per-task" else {"data": data}
        placed = ex.place(**shared) if shared else {}
        try:
            embed = {"data": data} if data is not None and ship == "per-task" else None
            ex.map(_call, {"func": func, **placed}, [{"task": t} for t in tasks], name="plsim-speedup-task",
                   progress=progress, finished=finished, restrict_to=restrict_to, embed=embed)
        finally:
            ex.release(list(placed.values()))
    # all of them, or (stopped) those that finished: in task order either way
    return [finished[i].value for i in sorted(finished)]
