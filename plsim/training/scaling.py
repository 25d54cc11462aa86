"""Strong versus weak scaling of data-parallel training, and when data parallelism pays: measured where the
machine allows, predicted beyond.

* **Strong scaling** (Amdahl): a fixed global batch is split over ``p`` workers.
  Compute per worker shrinks as ``1/p`` but the gradient exchange does not, so the
  speedup flattens: ``T(p) = serial + compute / p + comm(p)``.
* **Weak scaling** (Gustafson): each worker keeps its batch, so the global batch
  grows with ``p``: ``T(p) = serial + compute + comm(p)`` and the *scaled* speedup
  is ``p T(1) / T(p)``.

:func:`measure_scaling` times real synchronous data-parallel steps on the Dask
cluster (rows labelled ``"measured"``); :func:`predict_scaling` extends them with
the alpha-beta cost model of :mod:`plsim.comm` (rows labelled ``"predicted"``).
The laws themselves live in one place, :mod:`plsim.speedup.laws`
(``amdahl_speedup(serial_fraction, workers)``, ``gustafson_speedup(serial_fraction, workers)``).

:func:`measure_size_speedup` measures the speedup of one synchronous data-parallel
step over the same step in one process for growing models, and predicts it with
the alpha-beta model of a step, ``T_p = T_1 / p + comm_time("naive", p, gradient bytes)``
(what :func:`plsim.training.sync_sgd` exchanges: every replica receives every other's
gradient): small models lose (the fixed cost of a step dwarfs its compute), large ones
approach ``p``, and the model says where they cross.

Taught in ``notebooks/04_distributed_training.ipynb`` (when data parallelism pays) and
``notebooks/05_collectives_compression_pipelines.ipynb`` (strong versus weak scaling).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plsim.comm import LinkModel, comm_time
from plsim.executor import resolve_executor
from plsim.i18n import _
from plsim.validation import check_positive_int, check_real

__all__ = ["predict_scaling", "measure_scaling", "measure_size_speedup", "SizeSpeedup", "MODES"]

MODES = ("strong", "weak")


def predict_scaling(workers: Sequence[int], *, compute_seconds: float, n_bytes: float, mode: str = "strong",
                    algorithm: str = "ring", link: LinkModel | None = None, serial_seconds: float = 0.0
                    ) -> list[dict[str, Any]]:
    """Predicted time per step and speedup for each worker count (cost model, labelled ``"predicted"``).

    Parameters
    ----------
    compute_seconds : float
        Gradient computation of one step on ONE worker (the whole global batch for
        strong scaling; one worker's batch for weak scaling).
    n_bytes : float
        Gradient size in bytes (what the all-reduce moves).
    mode : {"strong", "weak"}
    algorithm : str
        All-reduce algorithm of :func:`plsim.comm.comm_time`.
    serial_seconds : float
        Per-step work that does not parallelise (e.g. the update on the server).
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is unknown; choose 'strong' or 'weak'")
    for name, v in (("compute_seconds", compute_seconds), ("serial_seconds", serial_seconds)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name} must be a number of seconds >= 0, got {v!r}")
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name}={v!r} must be a finite number of seconds >= 0")
    rows = []
    t1 = serial_seconds + compute_seconds
    for p in workers:
        p = check_positive_int("workers", p)
        compute = compute_seconds / p if mode == "strong" else compute_seconds
        t = serial_seconds + compute + comm_time(algorithm, p, n_bytes, link)
        speedup = t1 / t if mode == "strong" else p * t1 / t
        rows.append({"workers": p, "mode": mode, "time_per_step_s": t, "speedup": speedup,
                     "algorithm": algorithm, "kind": "predicted"})
    return rows


def measure_scaling(executor: Any, model: Any, X: np.ndarray, y: np.ndarray, *, workers: Sequence[int] = (1, 2),
                    mode: str = "strong", batch_size: int = 1024, n_steps: int = 3, lr: float = 0.01,
                    random_state: int = 0, repeats: int = 1) -> list[dict[str, Any]]:
    """Measured wall-clock seconds per synchronous data-parallel step on the real cluster.

    ``executor`` is what :func:`plsim.executor.resolve_executor` accepts (a
    ``dask.distributed.Client`` to measure more than one worker). ``batch_size``
    is the global batch (strong) or each worker's batch (weak). One warm-up step
    runs first (data placement, imports) and is not timed; the best of
    ``repeats`` timings is kept.
    """
    from plsim.training.sync import sync_sgd

    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is unknown; choose 'strong' or 'weak'")
    ex = resolve_executor(executor)
    available = ex.n_workers
    rows = []
    base = None
    for p in workers:
        p = check_positive_int("workers", p)
        if p > available:
            raise ValueError(f"workers contains {p} but the cluster has only {available} workers to measure on")
        global_batch = batch_size if mode == "strong" else batch_size * p
        sync_sgd(model, X, y, executor=ex, n_workers=p, lr=lr, n_steps=1, batch_size=global_batch,
                 random_state=random_state)
        best = np.inf
        for _ in range(check_positive_int("repeats", repeats)):
            t0 = time.perf_counter()
            sync_sgd(model, X, y, executor=ex, n_workers=p, lr=lr, n_steps=n_steps, batch_size=global_batch,
                     random_state=random_state)
            best = min(best, (time.perf_counter() - t0) / n_steps)
        base = best if base is None and p == 1 else base
        rows.append({"workers": p, "mode": mode, "time_per_step_s": best, "kind": "measured"})
    for row in rows:
        if base is not None:
            row["speedup"] = base / row["time_per_step_s"] * (row["workers"] if mode == "weak" else 1)
    return rows


# -- when does data parallelism pay? speedup against model size -----------------------------
@dataclass(frozen=True)
class SizeSpeedup:
    """Speedup of one synchronous data-parallel step over one step in one process, per model size.

    Every time is measured wall-clock seconds per step (the median step): ``one_process_s`` in this process
    with one BLAS thread (as each local Dask worker runs), ``data_parallel_s`` with
    ``replicas`` replicas on the cluster, which runs ``parallel`` of them at once (its
    threads, capped by its CPUs). The prediction is the alpha-beta model of a step,
    ``T_p = T_1 / p + (p - 1)(alpha + beta * gradient bytes)`` (``comm_time("naive", ...)``),
    with ``beta`` the inverse of the bandwidth :func:`plsim.speedup.calibrate` measured
    (scattering an array to a worker) and ``alpha`` the step's fixed cost, measured on the
    smallest model (whose compute is negligible next to it); ``T_1`` between measured
    sizes comes from a straight line fitted to the one-process times (compute grows with
    the parameters).
    """

    hidden: tuple[tuple[int, ...], ...]
    params: tuple[int, ...]
    one_process_s: tuple[float, ...]
    data_parallel_s: tuple[float, ...]
    replicas: int
    parallel: int
    link: LinkModel
    compute_fit: tuple[float, float]  # one-process seconds per step = a + b * parameters (fitted)

    @property
    def kind(self) -> str:
        """``"measured"``, or what the measured data-parallel times are when replicas had to take turns.

        In the student's language (:mod:`plsim.i18n`); :attr:`kind_en` is the same text in English.
        """
        if self.parallel >= self.replicas:
            return _("measured")
        return (_("measured, {replicas} replicas taking turns on {cpus} CPU") if self.parallel == 1 else
                _("measured, {replicas} replicas taking turns on {cpus} CPUs")).format(replicas=self.replicas,
                                                                                       cpus=self.parallel)

    @property
    def kind_en(self) -> str:
        """:attr:`kind` in English whatever the language (the course figures record it)."""
        if self.parallel >= self.replicas:
            return "measured"
        return f"measured, {self.replicas} replicas taking turns on {self.parallel} CPU{'s' if self.parallel > 1 else ''}"

    @property
    def speedup(self) -> tuple[float, ...]:
        """Measured one-process seconds / data-parallel seconds per step, per size."""
        return tuple(t1 / tp for t1, tp in zip(self.one_process_s, self.data_parallel_s))

    def one_process_seconds(self, params: float) -> float:
        """One-process seconds per step for ``params`` parameters, from the fitted line (predicted)."""
        a, b = self.compute_fit
        return a + b * float(params)

    def predicted_seconds(self, params: float, parallel: int | None = None, one_process_s: float | None = None
                          ) -> float:
        """Predicted seconds per data-parallel step with ``parallel`` replicas at once (default: all of them).

        ``one_process_s``: a measured one-process time to start from instead of the fitted line.
        """
        p = self.replicas if parallel is None else check_positive_int("parallel", parallel)
        t1 = self.one_process_seconds(params) if one_process_s is None else float(one_process_s)
        turns = math.ceil(self.replicas / min(p, self.replicas))
        return t1 * turns / self.replicas + comm_time("naive", self.replicas, 8.0 * params, self.link)

    def predicted_speedup(self, params: float, parallel: int | None = None,
                          one_process_s: float | None = None) -> float:
        """Predicted one-process / data-parallel seconds per step (see :meth:`predicted_seconds`)."""
        t1 = self.one_process_seconds(params) if one_process_s is None else float(one_process_s)
        return t1 / self.predicted_seconds(params, parallel, t1)

    def crossover_params(self, parallel: int | None = None) -> float | None:
        """Model size (parameters) above which data parallelism is predicted to pay (speedup 1); None if never.

        Solved from the fitted line and the alpha-beta model, both linear in the parameters.
        """
        p = self.replicas if parallel is None else check_positive_int("parallel", parallel)
        share = math.ceil(self.replicas / min(p, self.replicas)) / self.replicas  # of T_1 per replica step
        a, b = self.compute_fit
        k = self.replicas - 1
        # T_1 (1 - share) = k (alpha + 8 n beta)  with  T_1 = a + b n
        slope = b * (1 - share) - 8 * k * self.link.beta
        if slope <= 0:
            return None
        return max(0.0, (k * self.link.alpha - a * (1 - share)) / slope)


def _seconds_per_step(times: Sequence[float]) -> float:
    """Median seconds between recorded steps (the first step, which also placed the data, is left out)."""
    return float(np.median(np.diff(np.asarray(times, dtype=float))))


def measure_size_speedup(executor: Any, X: np.ndarray, y: np.ndarray, hidden_sizes: Sequence[Sequence[int]], *,
                         replicas: int = 2, n_steps: int = 3, batch_size: int | None = None, lr: float = 0.01,
                         random_state: int = 0, min_seconds: float = 0.2, bandwidth: float | None = None
                         ) -> SizeSpeedup:
    """Measure one synchronous data-parallel step against the same step in one process, for MLPs of growing size.

    Parameters
    ----------
    executor : dask.distributed.Client, plsim.executor.Executor or None
        The cluster the replicas run on (:func:`plsim.executor.resolve_executor`).
    X, y : arrays
        Training data (classes ``0 .. max(y)``); each size is an MLP ``plsim.models.MLP``
        with these hidden layers.
    hidden_sizes : sequence of sequences of int
        Hidden layers of each model, smallest first: the first sets ``alpha``.
    replicas : int
        Data-parallel replicas (>= 2).
    n_steps : int
        Steps timed per size and side (more for cheap sizes, until ``min_seconds``).
    batch_size : int, optional
        Global mini-batch per step; ``None``: every row (one step is one epoch).
    bandwidth : float, optional
        Bytes per second between processes for ``beta``; default: measured with
        :func:`plsim.speedup.calibrate` on a Dask cluster (infinite otherwise: nothing moves).

    Returns
    -------
    SizeSpeedup

    Each side runs the same tasks of the same algorithm: :func:`plsim.training.large_batch_sgd`
    here under ``threadpoolctl.threadpool_limits(1)``, :func:`plsim.training.sync_sgd` on the
    cluster, whose local workers also run one BLAS thread each (``plsim.start_cluster``), so a
    speedup comes from the replicas, not from threads one side had and the other had not.
    Taught in ``notebooks/04_distributed_training.ipynb``.
    """
    from threadpoolctl import threadpool_limits

    from plsim.models import MLP
    from plsim.training.sync import large_batch_sgd, sync_sgd

    ex = resolve_executor(executor)
    replicas = check_positive_int("replicas", replicas)
    if replicas < 2:
        raise ValueError(f"replicas={replicas!r} must be at least 2: one replica is not data parallelism")
    n_steps = check_positive_int("n_steps", n_steps)
    min_seconds = check_real("min_seconds", min_seconds, minimum=0)
    sizes = [tuple(check_positive_int("hidden_sizes", h) for h in hidden) for hidden in hidden_sizes]
    if not sizes:
        raise ValueError("hidden_sizes must name at least one model, e.g. [(32,), (1024, 1024)]")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    parallel = ex.parallelism
    if ex.on_cluster and bandwidth is None:
        from plsim.speedup import calibrate

        bandwidth = calibrate(executor=ex, n_tasks=10, megabytes=8, repeats=3).bandwidth
    beta = 0.0 if bandwidth is None else 1.0 / check_real("bandwidth", bandwidth, minimum=0, low_open=True)
    params, one, many = [], [], []
    for hidden in sizes:
        model = MLP(X.shape[1], hidden=hidden, n_classes=int(y.max()) + 1)
        kwargs = dict(n_workers=replicas, lr=lr, batch_size=batch_size, random_state=random_state)
        durations: list[float] = []
        with threadpool_limits(1):  # one BLAS thread, as each worker has
            while len(durations) < 20 * n_steps and (len(durations) < n_steps or sum(durations) < min_seconds):
                ran = large_batch_sgd(model, X, y, n_steps=n_steps, **kwargs)
                durations.extend(np.diff(np.concatenate([[0.0], ran.time])))
        t1 = float(np.median(durations))  # the median step: a burst of other work on the CPU moves it little
        # enough steps for a stable median: the cheap sizes take about min_seconds, the dear ones n_steps
        guess = t1 / replicas + 0.02
        dp_steps = int(min(max(n_steps, math.ceil(min_seconds / guess)), 20 * n_steps)) + 1
        run = sync_sgd(model, X, y, executor=ex, n_steps=dp_steps, **kwargs)
        params.append(model.n_params)
        one.append(t1)
        many.append(_seconds_per_step(run.time))
    n = np.asarray(params, dtype=float)
    t = np.asarray(one)
    if len(n) >= 2:
        b, a = np.polyfit(n, t, 1, w=1.0 / t)  # relative errors: the small sizes count as much as the big
        a, b = max(float(a), 0.0), max(float(b), 0.0)
    else:
        a, b = 0.0, float(t[0] / n[0])
    turns = math.ceil(replicas / min(parallel, replicas))
    alpha = (many[0] - one[0] * turns / replicas) / (replicas - 1) - 8.0 * params[0] * beta
    return SizeSpeedup(hidden=tuple(sizes), params=tuple(params), one_process_s=tuple(one),
                       data_parallel_s=tuple(many), replicas=replicas, parallel=parallel,
                       link=LinkModel(alpha=max(alpha, 0.0), beta=beta), compute_fit=(a, b))
