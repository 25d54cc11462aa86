"""Strong versus weak scaling of data-parallel training: measured where the machine allows, predicted beyond.

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

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from plsim.comm import LinkModel, comm_time
from plsim.executor import resolve_executor
from plsim.validation import check_positive_int

__all__ = ["predict_scaling", "measure_scaling", "MODES"]

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
