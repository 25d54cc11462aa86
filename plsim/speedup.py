"""Measure and predict the speedup of independent tasks: sequential versus k workers.

* **Measure**: :func:`measure_speedup` runs the same tasks in this process one
  after another (the baseline) and on 1..k workers of a Dask client (data
  scattered once, or deliberately shipped with every task), with a warm-up
  run, several repeats and the median. :func:`time_call` times any callable
  the same way (``plsim bench`` uses it for whole ensemble fits).
* **Summarise**: speedup ``S = T1 / Tp``, efficiency ``S / p``, the serial
  fraction of Amdahl's law fitted by least squares (:func:`fit_amdahl`) and the
  Karp-Flatt metric (:func:`karp_flatt`); :func:`gustafson_speedup` for scaled
  problems.
* **Predict**: :class:`CostModel` = serial part + per-task scheduling overhead
  + bytes moved / bandwidth + the work spread over ``p`` workers in
  ``ceil(n_tasks / p)`` waves. With no overhead and no data it is exactly
  Amdahl's law. :meth:`CostModel.explain` names the term that eats the gain
  when the predicted or measured speedup is below 1.
* **See**: :func:`record_timeline` turns Dask's task stream into
  ``(worker, start, stop, key)`` records for the Gantt chart in
  :mod:`plsim.plots.speedup`.

Every number is labelled *measured* (wall clock on the real cluster) or
*predicted* (cost model). Taught in ``notebooks/01_speedup.ipynb``.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import pickle
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from dask.distributed import Client

__all__ = [
    "Timing",
    "time_call",
    "amdahl_speedup",
    "gustafson_speedup",
    "fit_amdahl",
    "karp_flatt",
    "CostModel",
    "Calibration",
    "calibrate",
    "python_work",
    "python_work_iterations",
    "worker_addresses",
    "run_sequential",
    "run_parallel",
    "SpeedupResult",
    "measure_speedup",
    "TaskRecord",
    "record_timeline",
    "timeline_from_task_stream",
]


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer (>= 1)")
    return int(value)


def _nonneg_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name}={value!r} must be a non-negative integer (>= 0)")
    return int(value)


def _nonneg_real(name: str, value: Any, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if math.isnan(value) or value < 0 or (math.isinf(value) and not allow_inf):
        allowed = "a non-negative number" + (" (inf allowed)" if allow_inf else "")
        raise ValueError(f"{name}={value!r} must be {allowed}")
    return value


def _fraction(name: str, value: Any) -> float:
    value = _nonneg_real(name, value)
    if value > 1:
        raise ValueError(f"{name}={value!r} must be a fraction between 0 and 1")
    return value


def _workers_list(workers: Any) -> list[int]:
    if isinstance(workers, numbers.Integral) and not isinstance(workers, bool):
        workers = [workers]
    if isinstance(workers, (str, bytes)) or not isinstance(workers, Sequence | range):
        raise TypeError(f"workers must be an int or a sequence of ints, got {workers!r}")
    out = [_positive_int("workers", p) for p in workers]
    if not out:
        raise ValueError("workers=[] is empty; give at least one worker count such as [1, 2]")
    if len(set(out)) != len(out):
        raise ValueError(f"workers={list(workers)!r} has repeated counts; give each count once")
    return sorted(out)


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
# laws
# ---------------------------------------------------------------------------
def amdahl_speedup(serial_fraction: float, workers: int | float) -> float:
    """Amdahl's law ``1 / (f + (1 - f) / p)``: a fixed problem on ``p`` workers.

    ``f`` is the fraction of the *sequential* run time that cannot be parallelised.
    """
    f = _fraction("serial_fraction", serial_fraction)
    p = _nonneg_real("workers", workers)
    if p < 1:
        raise ValueError(f"workers={workers!r} must be at least 1")
    return 1.0 / (f + (1.0 - f) / p)


def gustafson_speedup(serial_fraction: float, workers: int | float) -> float:
    """Gustafson's law ``p - f (p - 1)``: the problem grows with the workers.

    ``f`` is the serial fraction of the *parallel* run time; the scaled speedup
    says how much more work ``p`` workers finish in the same time as one.
    """
    f = _fraction("serial_fraction", serial_fraction)
    p = _nonneg_real("workers", workers)
    if p < 1:
        raise ValueError(f"workers={workers!r} must be at least 1")
    return p - f * (p - 1.0)


def _check_speedups(workers: Any, speedups: Any) -> tuple[list[float], list[float]]:
    ps = [float(_nonneg_real("workers", p)) for p in workers]
    ss = [float(_nonneg_real("speedups", s)) for s in speedups]
    if len(ps) != len(ss):
        raise ValueError(f"workers has {len(ps)} values but speedups has {len(ss)}; give one speedup per count")
    if any(p < 1 for p in ps):
        raise ValueError(f"workers={list(workers)!r} must all be >= 1")
    if any(s <= 0 for s in ss):
        raise ValueError(f"speedups={list(speedups)!r} must all be > 0")
    return ps, ss


def fit_amdahl(workers: Sequence[float], speedups: Sequence[float]) -> float:
    """Serial fraction ``f`` of Amdahl's law that best fits measured speedups.

    Amdahl says ``1/S = 1/p + f (1 - 1/p)``, a straight line in ``f``; the
    least-squares ``f`` is ``sum(x (1/S - 1/p)) / sum(x^2)`` with ``x = 1 - 1/p``,
    clipped to [0, 1]. Overheads that grow with ``p`` show up as a larger ``f``.

    Raises
    ------
    ValueError
        If no count above 1 is given (one worker says nothing about ``f``).
    """
    ps, ss = _check_speedups(workers, speedups)
    xs = [1.0 - 1.0 / p for p in ps]
    denom = sum(x * x for x in xs)
    if denom == 0:
        raise ValueError(f"workers={list(workers)!r}: need at least one count above 1 to fit Amdahl's law")
    f = sum(x * (1.0 / s - 1.0 / p) for x, s, p in zip(xs, ss, ps, strict=True)) / denom
    return min(max(f, 0.0), 1.0)


def karp_flatt(speedup: float, workers: int) -> float:
    """Karp-Flatt metric ``e = (1/S - 1/p) / (1 - 1/p)``: the experimentally determined serial fraction.

    If ``e`` grows with ``p``, overhead (not a fixed serial part) limits the speedup.
    """
    p = _positive_int("workers", workers)
    if p < 2:
        raise ValueError(f"workers={workers!r}: the Karp-Flatt metric needs at least 2 workers")
    s = _nonneg_real("speedup", speedup)
    if s <= 0:
        raise ValueError(f"speedup={speedup!r} must be > 0")
    return (1.0 / s - 1.0 / p) / (1.0 - 1.0 / p)


# ---------------------------------------------------------------------------
# cost model
# ---------------------------------------------------------------------------
_TERM_NAMES = {
    "serial": "the serial part",
    "overhead": "per-task scheduling overhead",
    "transfer": "data transfer",
    "compute": "the work itself",
}


@dataclass(frozen=True)
class CostModel:
    """Predicted run time of ``n_tasks`` independent tasks on ``p`` workers.

    ``T1 = serial + n_tasks * task_seconds`` (one process, no scheduler) and::

        Tp = serial                                  # cannot be parallelised
           + n_tasks * overhead_per_task             # the scheduler handles tasks one at a time
           + (n_tasks * bytes_per_task + p * bytes_once) / bandwidth   # data moved
           + ceil(n_tasks / p) * task_seconds        # the work, in waves of p tasks

    With ``overhead_per_task = 0`` and no bytes this is Amdahl's law with serial
    fraction ``serial / T1`` (exactly, when ``p`` divides ``n_tasks``; otherwise the
    last, partly empty wave costs a little more: task granularity).

    Parameters
    ----------
    task_seconds : float
        Compute time of one task on one worker.
    n_tasks : int
        Independent tasks.
    serial : float
        Seconds of work that stays sequential (setup, combining results).
    overhead_per_task : float
        Seconds the scheduler/client spend per task (submit, assign, report back).
    bytes_per_task : float
        Bytes shipped with (or returned from) every task.
    bytes_once : float
        Bytes scattered once to every worker used (e.g. the training data).
    bandwidth : float
        Bytes per second between client and workers (``inf``: free).
    """

    task_seconds: float
    n_tasks: int
    serial: float = 0.0
    overhead_per_task: float = 0.0
    bytes_per_task: float = 0.0
    bytes_once: float = 0.0
    bandwidth: float = math.inf

    def __post_init__(self) -> None:
        _nonneg_real("task_seconds", self.task_seconds)
        _positive_int("n_tasks", self.n_tasks)
        _nonneg_real("serial", self.serial)
        _nonneg_real("overhead_per_task", self.overhead_per_task)
        _nonneg_real("bytes_per_task", self.bytes_per_task)
        _nonneg_real("bytes_once", self.bytes_once)
        bw = _nonneg_real("bandwidth", self.bandwidth, allow_inf=True)
        if bw == 0:
            raise ValueError("bandwidth=0 would make every transfer take forever; give bytes per second > 0")
        if self.serial + self.task_seconds * self.n_tasks <= 0:
            raise ValueError("task_seconds and serial are both 0: there is no work to time")

    def sequential_time(self) -> float:
        """Predicted seconds in one process, no scheduler."""
        return self.serial + self.n_tasks * self.task_seconds

    def breakdown(self, workers: int) -> dict[str, float]:
        """Predicted seconds of each term of ``Tp`` on ``workers`` workers."""
        p = _positive_int("workers", workers)
        waves = math.ceil(self.n_tasks / p)
        moved = self.n_tasks * self.bytes_per_task + p * self.bytes_once
        return {
            "serial": self.serial,
            "overhead": self.n_tasks * self.overhead_per_task,
            "transfer": moved / self.bandwidth if moved else 0.0,
            "compute": waves * self.task_seconds,
        }

    def parallel_time(self, workers: int) -> float:
        """Predicted seconds on ``workers`` workers."""
        return sum(self.breakdown(workers).values())

    def speedup(self, workers: int) -> float:
        """Predicted speedup ``T1 / Tp``."""
        return self.sequential_time() / self.parallel_time(workers)

    def efficiency(self, workers: int) -> float:
        """Predicted efficiency ``speedup / p``."""
        return self.speedup(workers) / _positive_int("workers", workers)

    @property
    def serial_fraction(self) -> float:
        """Amdahl's serial fraction ``serial / T1`` of this model."""
        return self.serial / self.sequential_time()

    def dominant_cost(self, workers: int) -> str:
        """The largest non-compute term on ``workers`` workers: serial, overhead or transfer."""
        parts = self.breakdown(workers)
        return max(("serial", "overhead", "transfer"), key=lambda k: parts[k])

    def explain(self, workers: int, measured_speedup: float | None = None) -> str:
        """One or two sentences on why the speedup is what it is, naming the dominant cost."""
        p = _positive_int("workers", workers)
        parts = self.breakdown(p)
        predicted = self.speedup(p)
        saved = self.n_tasks * self.task_seconds - parts["compute"]
        key = self.dominant_cost(p)
        shown = predicted if measured_speedup is None else measured_speedup
        kind = "predicted" if measured_speedup is None else "measured"
        cost = parts[key]
        if measured_speedup is not None and measured_speedup < 1 <= predicted and p > 1:
            return (
                f"Slower than sequential (measured speedup {measured_speedup:.2f}x on {p} workers) although the "
                f"cost model predicts {predicted:.2f}x: the modelled costs (largest: {_TERM_NAMES[key]}, "
                f"{cost:.3g} s) do not explain it. Most likely the CPUs were shared with other programs while "
                "the parallel run was measured (check the load), or the workers have fewer CPUs than assumed."
            )
        if shown < 1:
            text = (
                f"Slower than sequential ({kind} speedup {shown:.2f}x on {p} worker(s)): "
                f"{_TERM_NAMES[key]} costs {cost:.3g} s, while spreading the work over {p} worker(s) "
                f"saves only {saved:.3g} s of compute."
            )
            if key == "overhead":
                text += (
                    f" Each task does {self.task_seconds * 1e3:.3g} ms of work but costs "
                    f"{self.overhead_per_task * 1e3:.3g} ms to schedule: make tasks bigger (batch them)."
                )
            elif key == "transfer":
                text += " Scatter the data once and pass futures, or send less data per task."
            else:
                text += " Most of the time is in the part that cannot run in parallel."
            return text
        if p == 1:
            return f"One worker: {kind} speedup {shown:.2f}x; the cluster only adds {_TERM_NAMES[key]} ({cost:.3g} s)."
        return (
            f"{kind.capitalize()} speedup {shown:.2f}x on {p} workers (ideal {p}x); "
            f"the largest loss is {_TERM_NAMES[key]} ({cost:.3g} s)."
        )


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
    return sorted(client.scheduler_info()["workers"])


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


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
@dataclass(repr=False)
class SpeedupResult:
    """Measured times on 1..k workers next to the sequential baseline, and the prediction.

    ``sequential`` is the in-process baseline ``T1``; ``parallel[p]`` the time on
    ``p`` workers. All times are measured wall clock; ``model`` (if any) adds
    predicted speedups, clearly labelled.
    """

    sequential: Timing
    parallel: dict[int, Timing]
    model: CostModel | None = None
    title: str = "Speedup"
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.sequential, Timing):
            raise TypeError(f"sequential must be a Timing, got {type(self.sequential).__name__}")
        if not self.parallel:
            raise ValueError("parallel is empty; give the time on at least one worker count")
        self.parallel = {_positive_int("workers", p): t for p, t in sorted(self.parallel.items())}

    @classmethod
    def from_seconds(cls, sequential: float, parallel: Mapping[int, float], **kwargs: Any) -> SpeedupResult:
        """Build from plain seconds (one run each), e.g. synthetic timings in a lesson."""
        seq = _nonneg_real("sequential", sequential)
        par = {p: Timing((_nonneg_real(f"parallel[{p}]", t),)) for p, t in parallel.items()}
        if seq <= 0 or any(t.seconds <= 0 for t in par.values()):
            raise ValueError("times must be > 0 seconds")
        return cls(Timing((seq,)), par, **kwargs)

    @property
    def workers(self) -> list[int]:
        return list(self.parallel)

    def speedup(self, workers: int) -> float:
        """Measured speedup ``T1 / Tp``."""
        if workers not in self.parallel:
            raise ValueError(f"workers={workers!r} was not measured; measured: {self.workers}")
        return self.sequential.seconds / self.parallel[workers].seconds

    def efficiency(self, workers: int) -> float:
        """Measured efficiency ``speedup / p``."""
        return self.speedup(workers) / workers

    def predicted_speedup(self, workers: int) -> float | None:
        return None if self.model is None else self.model.speedup(workers)

    @property
    def serial_fraction(self) -> float | None:
        """Amdahl serial fraction fitted to the measured speedups (None if only p = 1 was measured)."""
        ps = [p for p in self.workers if p > 1]
        if not ps:
            return None
        return fit_amdahl(self.workers, [self.speedup(p) for p in self.workers])

    def karp_flatt(self, workers: int) -> float | None:
        return None if workers < 2 else karp_flatt(self.speedup(workers), workers)

    def explanation(self) -> str | None:
        """Why the measured speedup on the most workers is what it is; names the dominant cost below 1."""
        p = self.workers[-1]
        text = None
        if self.model is not None:
            text = self.model.explain(p, measured_speedup=self.speedup(p))
        elif self.speedup(p) < 1:
            text = (f"Slower than sequential on {p} worker(s) (measured {self.speedup(p):.2f}x): "
                    "overheads (scheduling, data transfer, serial part) exceed the compute saved.")
        if p > 1 and 1 in self.parallel and self.speedup(1) < 1 <= self.speedup(p):
            extra = (f"On 1 worker the cluster is slower than the plain loop (measured {self.speedup(1):.2f}x): "
                     "it only adds overhead.")
            text = extra if text is None else f"{text} {extra}"
        return text

    def rows(self) -> list[dict[str, Any]]:
        """One dict per line of the table; keys say what is measured and what is predicted."""
        rows: list[dict[str, Any]] = [{
            "run": "sequential", "workers": 1, "measured_seconds": self.sequential.seconds,
            "measured_speedup": 1.0, "measured_efficiency": 1.0,
            "predicted_speedup": None if self.model is None else 1.0, "karp_flatt": None,
        }]
        for p in self.workers:
            rows.append({
                "run": "parallel", "workers": p, "measured_seconds": self.parallel[p].seconds,
                "measured_speedup": self.speedup(p), "measured_efficiency": self.efficiency(p),
                "predicted_speedup": self.predicted_speedup(p), "karp_flatt": self.karp_flatt(p),
            })
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": self.rows(),
            "amdahl_serial_fraction": self.serial_fraction,
            "explanation": self.explanation(),
            "notes": list(self.notes),
            "model": None if self.model is None else dict(self.model.__dict__),
        }

    _HEAD = ("run", "workers", "time (s) measured", "speedup measured", "efficiency measured",
             "speedup predicted", "Karp-Flatt")

    def _cells(self) -> list[list[str]]:
        def fmt(x: Any, spec: str) -> str:
            if x is None:
                return "-"
            if spec == ".2f" and abs(x) < 0.1:
                return format(x, ".2g")
            return format(x, spec)

        return [[r["run"], str(r["workers"]), fmt(r["measured_seconds"], ".3f"), fmt(r["measured_speedup"], ".2f"),
                 fmt(r["measured_efficiency"], ".0%"), fmt(r["predicted_speedup"], ".2f"),
                 fmt(r["karp_flatt"], ".3f")] for r in self.rows()]

    def _footer(self) -> list[str]:
        lines = []
        f = self.serial_fraction
        if f is not None:
            lines.append(f"Amdahl fit (measured): serial fraction {f:.3f} -> at most {1 / f:.1f}x"
                         if f > 0 else "Amdahl fit (measured): serial fraction 0.000")
        if self.model is not None:
            lines.append(f"Cost model (predicted): serial {self.model.serial:.3g} s, "
                         f"{self.model.overhead_per_task * 1e3:.3g} ms overhead/task, "
                         f"{self.model.n_tasks} tasks of {self.model.task_seconds * 1e3:.3g} ms")
        why = self.explanation()
        if why:
            lines.append(why)
        spread = max([self.sequential.spread, *(t.spread for t in self.parallel.values())])
        runs = len(self.sequential.runs)
        lines.append(f"Median of {runs} run(s); largest spread between runs {spread:.3f} s.")
        return lines + list(self.notes)

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        cells = self._cells()
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(self._HEAD)]
        line = lambda items: "  ".join(s.rjust(w) for s, w in zip(items, widths, strict=True))  # noqa: E731
        out = [self.title, line(self._HEAD), line(["-" * w for w in widths])]
        out += [line(c) for c in cells]
        return "\n".join(out + self._footer())

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(h)}</th>" for h in self._HEAD)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        foot = "".join(f"<p style='margin:2px 0'>{escape(t)}</p>" for t in self._footer())
        return (f"<div><b>{escape(self.title)}</b><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>{foot}</div>")


def measure_speedup(
    func: Callable[..., Any],
    tasks: Sequence[Any],
    *,
    client: Client,
    data: Any = None,
    workers: int | Sequence[int] | None = None,
    ship: str = "scatter",
    repeats: int = 3,
    warmup: int = 1,
    calibration: Calibration | None = None,
    predict: bool = True,
    title: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> SpeedupResult:
    """Time ``tasks`` sequentially in this process and on each worker count of ``client``.

    Parameters
    ----------
    func : callable
        ``func(task)`` or ``func(task, data)``; must be importable by the workers
        (defined in a module, or a function cloudpickle can ship).
    tasks : sequence
        One argument per independent task.
    client : dask.distributed.Client
        The running cluster (:func:`plsim.start_cluster`).
    data : object, optional
        Shared input; scattered once per run (``ship="scatter"``) or embedded in
        every task (``ship="per-task"``).
    workers : int or sequence of int, optional
        Worker counts to measure (default 1..all workers of the client).
    repeats, warmup : int
        Timed runs per configuration (median reported) and untimed runs first.
    calibration : Calibration, optional
        Cluster costs for the prediction; measured with :func:`calibrate` if not given.
    predict : bool
        Build the :class:`CostModel` prediction (needs a calibration).
    title : str, optional
        Table title.
    progress : callable, optional
        Called with a short text as each configuration finishes.

    Returns
    -------
    SpeedupResult
        Measured times and speedups, the Amdahl fit, and the predicted speedups.
    """
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty; give at least one task")
    available = len(worker_addresses(client))
    counts = list(range(1, available + 1)) if workers is None else _workers_list(workers)
    if counts[-1] > available:
        raise ValueError(
            f"workers={counts} but the cluster has {available} worker(s); "
            f"start it with plsim.start_cluster(n_workers={counts[-1]})"
        )
    if ship not in ("scatter", "per-task"):
        raise ValueError(f"ship={ship!r} must be 'scatter' or 'per-task'")
    say = progress or (lambda text: None)

    seq, _ = time_call(lambda: run_sequential(func, tasks, data), repeats=repeats, warmup=warmup)
    say(f"sequential: {seq.seconds:.3f} s")
    parallel = {}
    for p in counts:
        parallel[p], _ = time_call(lambda p=p: run_parallel(client, func, tasks, data, workers=p, ship=ship),
                                   repeats=repeats, warmup=warmup)
        say(f"{p} worker(s): {parallel[p].seconds:.3f} s")

    model = None
    if predict:
        cal = calibration or calibrate(client)
        size = 0 if data is None else _nbytes(data)
        model = CostModel(
            task_seconds=seq.seconds / len(tasks),
            n_tasks=len(tasks),
            overhead_per_task=cal.overhead_per_task,
            bytes_per_task=size if ship == "per-task" else 0,
            bytes_once=size if ship == "scatter" else 0,
            bandwidth=cal.bandwidth,
        )
    name = getattr(func, "__name__", "task")
    return SpeedupResult(seq, parallel, model=model,
                         title=title or f"{len(tasks)} x {name} (data: {ship})")


# ---------------------------------------------------------------------------
# timeline from Dask's task stream
# ---------------------------------------------------------------------------
class TaskRecord(NamedTuple):
    """One span of one task on one worker (seconds since the epoch, worker clock)."""

    worker: str
    start: float
    stop: float
    key: str
    action: str = "compute"


def timeline_from_task_stream(records: Sequence[Mapping[str, Any]], *, actions: Sequence[str] = ("compute",)
                              ) -> list[TaskRecord]:
    """Turn Dask task-stream dicts (``client.get_task_stream()`` / ``get_task_stream().data``) into records.

    Each stream entry has ``worker``, ``key`` and ``startstops`` (spans such as
    ``compute`` or ``transfer``); one :class:`TaskRecord` is made per span whose
    action is in ``actions``, sorted by start time.
    """
    out = []
    for rec in records:
        if not isinstance(rec, Mapping) or "startstops" not in rec:
            raise TypeError(f"not a task-stream record (needs 'startstops'): {rec!r}")
        worker = str(rec.get("worker", "?"))
        key = rec.get("key", "?")
        key = str(key[0] if isinstance(key, tuple) and len(key) == 1 else key)
        for span in rec["startstops"]:
            if span.get("action") in actions:
                out.append(TaskRecord(worker, float(span["start"]), float(span["stop"]), key,
                                      str(span["action"])))
    return sorted(out, key=lambda r: (r.start, r.worker))


@contextlib.contextmanager
def record_timeline(client: Client, *, actions: Sequence[str] = ("compute", "transfer")) -> Iterator[list[TaskRecord]]:
    """Collect the timeline of everything the cluster runs inside the ``with`` block.

    >>> with record_timeline(client) as timeline:
    ...     run_parallel(client, python_work, [10**5] * 8)
    >>> timeline[0]
    TaskRecord(worker='tcp://127.0.0.1:...', start=..., stop=..., key='python_work-...', action='compute')

    The list is filled when the block ends.
    """
    from dask.distributed import get_task_stream

    timeline: list[TaskRecord] = []
    with get_task_stream(client=client) as stream:
        yield timeline
    timeline.extend(timeline_from_task_stream(stream.data, actions=actions))
