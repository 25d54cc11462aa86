"""Asynchronous parameter server: workers pull, compute and push without waiting for each other.

Two ways to run it:

* :func:`async_sgd` -- real asynchrony on a Dask cluster (or a deterministic
  round-robin schedule when run sequentially). The server is this
  process; each worker's gradient is a task; whichever finishes first is applied
  first (``as_completed``). Staleness then depends on real timing (measured).
* :func:`async_sgd_simulated` -- the same algorithm driven by a virtual clock
  with configurable worker speeds, so staleness (and the whole trajectory) is
  reproducible and stragglers can be dialled in (simulated).

``staleness_bound`` is the stale-synchronous-parallel (SSP) knob: a worker may
start its ``c``-th gradient only while ``c - min_j clock_j <= staleness_bound``
(``clock_j`` = gradients worker ``j`` has pushed). ``None`` = fully asynchronous;
``0`` = lock-step: every round all workers pull the same parameters, and the
server applies their ``n_workers`` gradients one after another, unweighted. That
equals synchronous SGD with ``n_workers`` times the learning rate *when every
gradient comes from the same number of rows* -- a fixed ``batch_size``, even with
shards of different sizes. With full-shard gradients (``batch_size=None``) of
unequal shards it does not: synchronous SGD weights each shard's gradient by its
size (the gradient of the union), the parameter server adds them equally.
The staleness of every applied gradient (updates applied between its pull and
its push) is recorded, and so is its *clock gap*: how many more gradients its worker
had pushed than the slowest worker when it pulled. The bound is stated in clock gaps,
so the clock gap never exceeds it; staleness counts updates, and with ``n`` workers
SSP(s) bounds it only by ``(n - 1)(2 s + 1)``: while one worker computes a gradient,
each other worker may push up to ``2 s + 1`` (it can start ``s`` behind and end ``s``
ahead). A straggler's gradients are the stalest in updates while its clock gap is 0.

Taught in ``notebooks/04_distributed_training.ipynb``.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from plsim._random import task_rng
from plsim.comm import payload_nbytes
from plsim.executor import Run, resolve_executor
from plsim.progress import Callback
from plsim.training._common import (
    TrainingHistory,
    check_batch,
    check_data,
    check_lr,
    check_shards,
    check_w0,
    default_replicas,
    diverged,
    local_batch,
    shard_groups,
    report,
    shard_indices,
    stop_diverged,
    stop_interrupted,
    trim,
)
from plsim.validation import check_callback, check_int, check_nonneg_real, check_positive_int, check_random_state

__all__ = ["async_sgd", "async_sgd_simulated"]


def _check_bound(staleness_bound: Any) -> int | None:
    if staleness_bound is None:
        return None
    return check_int("staleness_bound", staleness_bound, 0)


def _check_speeds(worker_speeds: Any, n_workers: int) -> np.ndarray:
    if worker_speeds is None:
        return np.ones(n_workers)
    speeds = np.asarray(worker_speeds, dtype=np.float64)
    if speeds.shape != (n_workers,):
        raise ValueError(f"worker_speeds has {speeds.size} entries; need one per worker ({n_workers})")
    if not np.all(np.isfinite(speeds) & (speeds > 0)):
        raise ValueError(f"worker_speeds={worker_speeds!r} must all be positive finite numbers")
    return speeds


def _grad_task(model: Any, w: np.ndarray, X: np.ndarray, y: np.ndarray, batch_size: int | None,
               random_state: int, clock: int, worker: int, delay: float) -> tuple[np.ndarray, float]:
    rows = local_batch(len(y), batch_size, random_state, clock, worker)
    grad = model.gradient(w, X[rows], y[rows])
    if delay > 0:  # an injected straggler (e.g. a slower or busier machine)
        time.sleep(delay)
    return grad, time.time()


class _Clocks:
    """SSP bookkeeping: pushed gradients per worker and who may start next."""

    def __init__(self, n: int, bound: int | None) -> None:
        self.clock = [0] * n
        self.bound = bound
        self.max_gap = 0

    def may_start(self, i: int) -> bool:
        return self.bound is None or self.clock[i] - min(self.clock) <= self.bound

    def started(self, i: int) -> int:
        """Note that worker ``i`` starts a gradient now; return its clock gap (its clock minus the slowest's)."""
        gap = self.clock[i] - min(self.clock)
        self.max_gap = max(self.max_gap, gap)
        return gap


def _worker_shards(shards: Any, n_workers: int | None, n_samples: int, random_state: int,
                   default_workers: int) -> list[np.ndarray]:
    """The rows each worker holds: ``shards`` when given (one per worker), else a random split (stream ``"shards"``)."""
    if shards is None:
        n_workers = default_workers if n_workers is None else n_workers
        return shard_indices(n_samples, check_positive_int("n_workers", n_workers), random_state)
    shards = check_shards(shards, n_samples)
    if n_workers is not None and n_workers != len(shards):
        raise ValueError(f"n_workers={n_workers!r} but {len(shards)} shards were given; give one shard per worker")
    return shards


def _push(hist: TrainingHistory, w: np.ndarray, lr: float, grad: np.ndarray, staleness: int, gap: int,
          pull_nbytes: int) -> np.ndarray:
    """The server applies one pushed gradient; its staleness, clock gap and bytes (push + pull) are recorded."""
    hist.staleness.append(staleness)
    hist.clock_gap.append(gap)
    hist.bytes_sent.append(payload_nbytes(grad) + pull_nbytes)
    return w - lr * grad


def _undo_unfinished(hist: TrainingHistory, done: tuple[int, np.ndarray, float], model: Any, X: np.ndarray,
                     y: np.ndarray) -> np.ndarray:
    """After an interrupt: keep the ``done[0]`` updates applied (``done[2]``: when the last was), end with a
    record of them; return their parameters.

    As a run that finishes, the history then ends with the loss at its last update (also
    when ``eval_every`` skipped it, or the interrupt came between the update and its record).
    """
    del hist.staleness[done[0]:], hist.bytes_sent[done[0]:], hist.clock_gap[done[0]:]
    trim(hist, per_update=True)
    if hist.steps and hist.steps[-1] < done[0]:
        finite = bool(np.all(np.isfinite(done[1])))
        hist.steps.append(done[0])
        hist.loss.append(model.loss(done[1], X, y) if finite else float("nan"))
        hist.time.append(done[2])
    return done[1]


def _evaluate(hist: TrainingHistory, model: Any, w: np.ndarray, X: np.ndarray, y: np.ndarray, version: int,
              n_updates: int, eval_every: int, now: float, callback: Any, lr: float, function: str) -> bool:
    """Record the full loss at this update when due (or when ``w`` stopped being finite); True to stop the run."""
    finite = bool(np.all(np.isfinite(w)))
    if version % eval_every and version != n_updates and finite:
        return False
    hist.steps.append(version)
    hist.loss.append(model.loss(w, X, y) if finite else float("nan"))
    hist.time.append(now)
    if diverged(hist.loss[-1], hist.loss[0]):
        stop_diverged(hist, function, version, lr)
        return True
    if report(callback, version, n_updates, "update", hist.loss[-1]):
        if version < n_updates:
            hist.stopped_reason = "stopped"
        return True
    return False


def async_sgd_simulated(model: Any, X: np.ndarray, y: np.ndarray, *, n_workers: int | None = None,
                        worker_speeds: Sequence[float] | None = None, staleness_bound: int | None = None,
                        lr: float = 0.05, n_updates: int = 200, batch_size: int | None = 32,
                        random_state: Any = None, w0: np.ndarray | None = None, compute_time: float = 1.0,
                        comm_time: float = 0.0, jitter: float = 0.0, eval_every: int = 1,
                        shards: Sequence[Any] | None = None, callback: Callback | None = None) -> TrainingHistory:
    """Asynchronous (or SSP) parameter-server SGD on a virtual clock -- reproducible.

    Worker ``i`` needs ``compute_time / worker_speeds[i]`` (times a seeded
    ``1 + jitter * U(-1, 1)`` factor) plus ``comm_time`` per gradient. The server
    applies each gradient the moment it arrives (``w -= lr * g``), ties broken by
    worker index.

    Parameters
    ----------
    n_workers : int, optional
        Asynchronous workers (default: ``len(shards)`` when ``shards`` is given, else 4).
    worker_speeds : sequence of float, optional
        Relative speeds (default all 1). ``[1, 1, 1, 0.25]`` makes worker 3 a straggler.
    staleness_bound : int, optional
        SSP bound (see the module docstring), in clock gaps. ``None`` = fully asynchronous.
    batch_size : int, optional
        Each worker's mini-batch per gradient (``None``: its whole shard).
    eval_every : int
        Record the full training loss every this many updates.
    shards : sequence of index arrays, optional
        The rows of ``X`` each worker holds, one array per worker, e.g. a non-IID split
        from :func:`plsim.data.partition_shards`. Default: a random split into
        ``n_workers`` near-equal shards (IID, seed stream ``"shards"``).

    Returns
    -------
    TrainingHistory
        ``time`` is simulated seconds; ``staleness`` and ``clock_gap`` have one
        entry per applied gradient; ``info["max_clock_gap"]`` is the largest
        ``clock_i - min clock`` at which any worker started (never above
        ``staleness_bound``), applied or not; ``info["pushed"]`` the gradients
        each worker pushed. A
        diverging run (loss not finite or above ``DIVERGED_LOSS_FACTOR`` times
        the initial loss) stops with a RuntimeWarning and ``diverged_step``; a
        KeyboardInterrupt returns the updates applied so far
        (``stopped_reason="interrupted"``, a warning).
    """
    X, y = check_data(model, X, y)
    random_state = check_random_state(random_state)
    shards = _worker_shards(shards, n_workers, len(y), random_state, 4)
    n_workers = len(shards)
    speeds = _check_speeds(worker_speeds, n_workers)
    bound = _check_bound(staleness_bound)
    lr = check_lr(lr)
    n_updates = check_positive_int("n_updates", n_updates)
    eval_every = check_positive_int("eval_every", eval_every)
    check_callback(callback)
    batch_size = check_batch(batch_size)
    compute_time, comm_time, jitter = (check_nonneg_real(name, value) for name, value in (
        ("compute_time", compute_time), ("comm_time", comm_time), ("jitter", jitter)))
    if compute_time <= 0:
        raise ValueError(f"compute_time={compute_time!r} must be > 0")
    if jitter >= 1:
        raise ValueError(f"jitter={jitter!r} must be in [0, 1)")
    w = check_w0(model, w0, random_state)
    method = "async" if bound is None else f"ssp(s={bound})"
    hist = TrainingHistory(method, "simulated", info={
        "n_workers": n_workers, "worker_speeds": speeds.tolist(), "staleness_bound": bound,
        "loss_kind": "full training loss", "bytes_kind": "gradient push + parameter pull, counted from payloads"})
    clocks = _Clocks(n_workers, bound)
    version = 0
    # (finish time, worker, pulled version, clock, clock gap, w); ties go to the lower worker index
    events: list[tuple[float, int, int, int, int, np.ndarray]] = []
    waiting: list[int] = []

    def duration(i: int, clock: int) -> float:
        factor = 1.0
        if jitter:
            u = task_rng(random_state, "clock", clock, i).uniform(-1, 1)
            factor += jitter * u
        return compute_time * factor / speeds[i] + comm_time

    def start(i: int, now: float) -> None:
        gap = clocks.started(i)
        heapq.heappush(events, (now + duration(i, clocks.clock[i]), i, version, clocks.clock[i], gap, w.copy()))

    for i in range(n_workers):
        start(i, 0.0)
    hist.steps.append(0)
    hist.loss.append(model.loss(w, X, y))
    hist.time.append(0.0)
    done = (0, w, 0.0)  # (updates applied, parameters after them, when): one assignment, never split
    with Run("async_sgd_simulated") as run:
        while version < n_updates:
            now, i, pulled, clock, gap, w_pulled = heapq.heappop(events)
            rows = shards[i][local_batch(len(shards[i]), batch_size, random_state, clock, i)]
            grad = model.gradient(w_pulled, X[rows], y[rows])
            w = _push(hist, w, lr, grad, version - pulled, gap, payload_nbytes(w_pulled))
            done = (version + 1, w, now)
            version += 1
            clocks.clock[i] += 1
            if _evaluate(hist, model, w, X, y, version, n_updates, eval_every, now, callback, lr,
                         "async_sgd_simulated"):
                break
            waiting.append(i)
            for j in sorted(waiting):  # the finished worker, and any blocked by the SSP bound
                if clocks.may_start(j):
                    waiting.remove(j)
                    start(j, now)
    if run.interrupted is not None:
        w = _undo_unfinished(hist, done, model, X, y)
        stop_interrupted(run, hist, len(hist.staleness), n_updates, per_update=True)
    hist.params = w
    hist.info["max_clock_gap"] = clocks.max_gap
    hist.info["pushed"] = list(clocks.clock)  # gradients each worker pushed (and the server applied)
    return hist


def async_sgd(model: Any, X: np.ndarray, y: np.ndarray, *, executor: Any = None, n_workers: int | None = None,
              staleness_bound: int | None = None, lr: float = 0.05, n_updates: int = 100,
              batch_size: int | None = 32, random_state: Any = None, w0: np.ndarray | None = None,
              delays: Sequence[float] | None = None, eval_every: int = 1,
              shards: Sequence[Any] | None = None, callback: Callback | None = None) -> TrainingHistory:
    """Asynchronous (or SSP) parameter-server SGD, with real asynchrony on a Dask cluster.

    The server (this process) keeps the parameters; each worker's shard is
    placed once (with lineage); a worker's task receives the current parameters
    (the pull), computes a gradient on its own mini-batch and returns it (the
    push). As each task completes (``as_completed``) the gradient is applied and
    the worker, if the SSP bound allows, is sent the new parameters at once.

    Parameters
    ----------
    executor : None, "auto", dask.distributed.Client or plsim.executor.Executor
        Where the gradient tasks run (:func:`plsim.executor.resolve_executor`).
        On a cluster a worker's gradients run where its shard is, and the
        order of the pushes is real timing. ``None`` (sequential): each task
        computes the moment it is submitted and the pushes come back first in,
        first out -- a deterministic round-robin schedule in which, with ``n``
        workers and no bound, every gradient is ``n - 1`` updates stale.
        With ``n_workers=1`` every executor gives plain sequential SGD.
    n_workers : int, optional
        Asynchronous workers (default: ``len(shards)`` if given, else the cluster's
        workers; 2 when sequential).
    shards : sequence of index arrays, optional
        The rows of ``X`` each worker holds, as in :func:`async_sgd_simulated`.
    delays : sequence of float, optional
        Extra seconds each worker sleeps per gradient -- an injected straggler,
        so staleness shows on a 2-CPU machine.
    callback : callable, optional
        ``callback(Progress(done, total, "update", loss=...))`` each time the
        loss is recorded (every ``eval_every`` updates); truthy stops the run.

    Returns
    -------
    TrainingHistory
        ``time`` is measured wall-clock seconds; on a cluster staleness depends
        on real timing (not reproducible -- use :func:`async_sgd_simulated` for
        that). Divergence stops the run as in :func:`async_sgd_simulated`; a
        KeyboardInterrupt cancels the outstanding gradient tasks and returns
        the updates applied so far (``stopped_reason="interrupted"``, a warning).

    Taught in ``notebooks/04_distributed_training.ipynb``.
    """
    X, y = check_data(model, X, y)
    check_callback(callback)
    ex = resolve_executor(executor)
    random_state = check_random_state(random_state)
    shards = _worker_shards(shards, n_workers, len(y), random_state, default_replicas(ex))
    n_workers = len(shards)
    bound = _check_bound(staleness_bound)
    lr = check_lr(lr)
    n_updates = check_positive_int("n_updates", n_updates)
    eval_every = check_positive_int("eval_every", eval_every)
    batch_size = check_batch(batch_size)
    delays_arr = np.zeros(n_workers) if delays is None else np.asarray(delays, dtype=np.float64)
    if delays_arr.shape != (n_workers,) or np.any(delays_arr < 0):
        raise ValueError(f"delays={delays!r} must hold one non-negative number of seconds per worker ({n_workers})")
    w = check_w0(model, w0, random_state)
    method = "async" if bound is None else f"ssp(s={bound})"
    hist = TrainingHistory(method, "measured", info={
        "n_workers": n_workers, "staleness_bound": bound, "delays": delays_arr.tolist(),
        "loss_kind": "full training loss", "bytes_kind": "gradient push + parameter pull, counted from payloads",
        "executed_on": ex.describe_text()})
    clocks = _Clocks(n_workers, bound)
    version = 0
    owner: dict[str, tuple[int, int, int]] = {}  # task key -> (worker, pulled version, clock gap)
    done = (0, w, 0.0)  # (updates applied, parameters after them, when): one assignment, never split
    with Run("async_sgd", ex) as run:
        data = ex.place_each(shard_groups(X, y, shards), name="shard",
                             what="the training data X, y (one shard per worker)")
        ac = ex.as_completed()
        waiting: list[int] = []

        def start(i: int) -> None:
            gap = clocks.started(i)
            handle = ex.submit(_grad_task, model, w, data[i]["X"], data[i]["y"], batch_size, random_state,
                               clocks.clock[i], i, float(delays_arr[i]), name="plsim-push")
            owner[handle.key] = (i, version, gap)
            ac.add(handle)

        t0 = time.perf_counter()
        hist.steps.append(0)
        hist.loss.append(model.loss(w, X, y))
        hist.time.append(0.0)
        for i in range(n_workers):
            start(i)
        for handle in ac:
            i, pulled, gap = owner.pop(handle.key)
            grad, _ = handle.result()
            if version >= n_updates:
                continue
            w = _push(hist, w, lr, grad, version - pulled, gap, payload_nbytes(w))
            done = (version + 1, w, time.perf_counter() - t0)
            version += 1
            clocks.clock[i] += 1
            stop = _evaluate(hist, model, w, X, y, version, n_updates, eval_every, time.perf_counter() - t0,
                             callback, lr, "async_sgd")
            if version >= n_updates or stop:
                ex.cancel(list(ac.futures))
                break
            waiting.append(i)
            for j in sorted(waiting):
                if clocks.may_start(j):
                    waiting.remove(j)
                    start(j)
    if run.interrupted is not None:
        w = _undo_unfinished(hist, done, model, X, y)
        stop_interrupted(run, hist, len(hist.staleness), n_updates, per_update=True)
    hist.params = w
    hist.info["max_clock_gap"] = clocks.max_gap
    hist.info["pushed"] = list(clocks.clock)  # gradients each worker pushed (and the server applied)
    return hist
