"""Local SGD (periodic averaging): ``H`` local steps on each worker between parameter averages.

Communication happens once per round instead of once per step, so ``H`` trades
bytes for convergence per step. With ``H = 1`` averaging parameters after one
step equals averaging gradients: local SGD becomes synchronous SGD.

Taught in ``notebooks/04_distributed_training.ipynb``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

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
    SHARDS,
    shard_groups,
    report,
    shard_indices,
    stop_diverged,
    stop_interrupted,
    trim,
)
from plsim.validation import check_callback, check_positive_int, check_random_state

__all__ = ["local_sgd", "local_steps"]


def local_steps(model: Any, w: np.ndarray, X: np.ndarray, y: np.ndarray, lr: float, H: int,
                batch_size: int | None, random_state: int, first_step: int, worker: int) -> np.ndarray:
    """``H`` plain SGD steps on one worker's shard; the batch of global step ``t`` from seed stream ``("batch", t, worker)``."""
    w = np.array(w, dtype=np.float64)
    for h in range(H):
        rows = local_batch(len(y), batch_size, random_state, first_step + h, worker)
        w = w - lr * model.gradient(w, X[rows], y[rows])
    return w


def _average(weights: list[float], *ws: np.ndarray) -> np.ndarray:
    out = np.zeros_like(ws[0])
    for weight, w in zip(weights, ws):
        out += weight * w
    return out


def local_sgd(model: Any, X: np.ndarray, y: np.ndarray, *, executor: Any = None, n_workers: int | None = None,
              H: int = 4, n_rounds: int = 20, lr: float = 0.1, batch_size: int | None = 32,
              random_state: Any = None, w0: np.ndarray | None = None, shards: Sequence[Any] | None = None,
              callback: Callback | None = None) -> TrainingHistory:
    """Local SGD / periodic model averaging.

    Parameters
    ----------
    executor : None, "auto", dask.distributed.Client or plsim.executor.Executor
        Where the replicas run (:func:`plsim.executor.resolve_executor`); on a
        cluster a replica's local steps run where its shard is. ``None`` runs
        the same tasks here.
    n_workers : int, optional
        Replicas (default: ``len(shards)`` if given, else the cluster's workers, 2 when sequential).
    H : int
        Local steps between averages (``H = 1`` is synchronous SGD).
    n_rounds : int
        Averaging rounds (``H * n_rounds`` local steps in total).
    batch_size : int, optional
        Each worker's local mini-batch (``None``: whole shard); seed stream ``("batch", t, i)``.
    random_state : None, int, RandomState or Generator
        Root of the seed tree (shards, batches, initial parameters).
    shards : sequence of index arrays, optional
        The rows of ``X`` each replica holds, one array per replica, e.g. a non-IID split
        from :func:`plsim.data.partition_shards`. Default: a random split of the rows into
        ``n_workers`` near-equal shards (IID).
    callback : callable, optional
        ``callback(Progress(done, total, "round", loss=...))`` after each round;
        a truthy return stops after that round (``stopped_reason="stopped"``).

    Returns
    -------
    TrainingHistory
        One entry per round: ``steps`` counts local steps (``H`` per round), ``loss``
        the full training loss of the averaged model, ``bytes_sent`` each replica's
        parameters up plus the average down. A diverging run (loss not finite or
        above ``DIVERGED_LOSS_FACTOR`` times the initial loss) stops with a
        RuntimeWarning and ``diverged_step``; a KeyboardInterrupt cancels the
        outstanding tasks and returns the rounds that finished
        (``stopped_reason="interrupted"``, a warning).

    Taught in ``notebooks/04_distributed_training.ipynb``.
    """
    X, y = check_data(model, X, y)
    check_callback(callback)
    ex = resolve_executor(executor)
    if shards is not None:
        shards = check_shards(shards, len(y))
        if n_workers is not None and n_workers != len(shards):
            raise ValueError(f"n_workers={n_workers!r} but {len(shards)} shards were given; give one shard per replica")
        n_workers = len(shards)
    if n_workers is None:
        n_workers = default_replicas(ex)
    n_workers = check_positive_int("n_workers", n_workers)
    H = check_positive_int("H", H)
    n_rounds = check_positive_int("n_rounds", n_rounds)
    lr = check_lr(lr)
    random_state = check_random_state(random_state)
    batch_size = check_batch(batch_size)
    if shards is None:
        shards = shard_indices(len(y), n_workers, random_state)
    sizes = [len(s) if batch_size is None else min(batch_size, len(s)) for s in shards]
    weights = [s / sum(sizes) for s in sizes]
    w = check_w0(model, w0, random_state)
    hist = TrainingHistory("local_sgd", "measured", info={
        "n_workers": n_workers, "H": H, "loss_kind": "full training loss of the averaged model",
        "bytes_kind": "parameters up + average down, counted from payloads", "executed_on": ex.describe_text()})
    hist.steps.append(0)
    hist.loss.append(model.loss(w, X, y))
    hist.time.append(0.0)
    hist.bytes_sent.append(0)
    t0 = time.perf_counter()
    done = (0, w)  # (rounds recorded, their averaged model): one assignment, so an interrupt cannot split it
    with Run("local_sgd", ex) as run:
        data = ex.place_each(shard_groups(X, y, shards), name="shard", what=SHARDS)
        for r in range(n_rounds):
            futs = [ex.submit(local_steps, model, w, data[i]["X"], data[i]["y"], lr, H, batch_size, random_state,
                              r * H, i, name="plsim-local-steps") for i in range(n_workers)]
            w = ex.gather([ex.submit(_average, weights, *futs, name="plsim-average")])[0]
            ws = [w] * n_workers  # same sizes as the real payloads (one vector per replica)
            loss = model.loss(w, X, y) if np.all(np.isfinite(w)) else float("nan")
            hist.steps.append((r + 1) * H)
            hist.loss.append(loss)
            hist.time.append(time.perf_counter() - t0)
            hist.bytes_sent.append(sum(payload_nbytes(v) for v in ws) + n_workers * payload_nbytes(w))
            done = (r + 1, w)
            if diverged(loss, hist.loss[0]):
                stop_diverged(hist, "local_sgd", (r + 1) * H, lr)
                break
            if report(callback, r + 1, n_rounds, "round", loss):
                if r + 1 < n_rounds:
                    hist.stopped_reason = "stopped"
                break
    if run.interrupted is not None:
        trim(hist)
        # the model of the last recorded round (if its record was complete but ``done`` not yet set: ``w``)
        w = done[1] if len(hist.steps) - 1 == done[0] else w
        stop_interrupted(run, hist, hist.steps[-1] if hist.steps else 0, H * n_rounds)
    hist.params = w
    return hist
