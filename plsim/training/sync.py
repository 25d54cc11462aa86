"""Synchronous data-parallel SGD on real Dask workers, and its single-process large-batch twin.

Every worker holds one shard of the training set (scattered once). At each
step worker ``i`` computes the gradient of its local mini-batch, the gradients
are exchanged (every replica receives every other one: an all-reduce), and every
replica applies exactly the same update. The result equals single-process SGD on
the union of the local batches (:func:`large_batch_sgd`) up to floating-point
summation order -- data parallelism *is* large-batch training.

Taught in ``notebooks/04_distributed_training.ipynb``.
"""

from __future__ import annotations

import numbers
import operator
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from plsim.comm import decompress, make_compressor, payload_nbytes
from plsim.cluster import cancel_on_interrupt, memory_guard
from plsim.training._common import (
    TrainingHistory,
    check_callback,
    check_data,
    check_int,
    check_lr,
    check_seed,
    check_placement_fits,
    check_w0,
    diverged,
    local_batch,
    shard_indices,
    split_batch,
    stop_diverged,
    stop_interrupted,
    trim,
    worker_addresses,
)

__all__ = ["sync_sgd", "large_batch_sgd", "worker_gradient"]

COMPRESSION = ("none", "topk", "8bit")


def worker_gradient(model: Any, w: np.ndarray, X: np.ndarray, y: np.ndarray, batch_size: int | None,
                    random_state: int, step: int, worker: int, compression: str = "none",
                    k: int | None = None, residual: np.ndarray | None = None
                    ) -> tuple[float, Any, np.ndarray | None]:
    """One worker's share of a step: ``(local loss, gradient payload, new residual)``.

    The payload is the plain gradient, or its compressed form (top-k / 8-bit with
    error feedback: ``residual`` carries what earlier payloads left out).
    """
    rows = local_batch(len(y), batch_size, random_state, step, worker)
    loss, grad = model.loss_and_gradient(w, X[rows], y[rows])
    if compression == "none":
        return loss, grad, None
    compressor = make_compressor(compression, k=k)
    compressor.residual = residual
    payload = compressor.compress(grad)
    return loss, payload, compressor.residual


def _apply(w: np.ndarray, lr: float, weights: list[float], *payloads: Any) -> np.ndarray:
    """Every replica runs this with the same inputs, so every replica gets the same parameters."""
    update = np.zeros_like(w)
    for weight, payload in zip(weights, payloads):
        update += weight * decompress(payload)
    return w - lr * update


def _stats(out: tuple) -> tuple[float, int]:
    return float(out[0]), payload_nbytes(out[1])


def _setup(model: Any, X: Any, y: Any, n_workers: int, lr: Any, n_steps: Any, batch_size: Any,
           random_state: Any, compression: str, topk_ratio: float) -> dict[str, Any]:
    X, y = check_data(model, X, y)
    n_workers = check_int("n_workers", n_workers)
    lr = check_lr(lr)
    n_steps = check_int("n_steps", n_steps)
    random_state = check_seed(random_state)
    if compression not in COMPRESSION:
        raise ValueError(f"compression={compression!r} is unknown; choose one of {COMPRESSION}")
    if isinstance(topk_ratio, bool) or not isinstance(topk_ratio, numbers.Real):
        raise TypeError(f"topk_ratio must be a number in (0, 1], got {topk_ratio!r} ({type(topk_ratio).__name__})")
    if not (0 < topk_ratio <= 1):
        raise ValueError(f"topk_ratio={topk_ratio!r} must be in (0, 1]")
    shards = shard_indices(len(y), n_workers, random_state)
    sizes = split_batch(batch_size, n_workers)
    for i, (size, shard) in enumerate(zip(sizes, shards)):
        if size is not None and size > len(shard):
            raise ValueError(
                f"batch_size={batch_size} needs {size} rows from worker {i}, whose shard has only {len(shard)}"
            )
    local_sizes = [len(s) if b is None else b for b, s in zip(sizes, shards)]
    total = sum(local_sizes)
    return {"X": X, "y": y, "n_workers": n_workers, "lr": lr, "n_steps": n_steps, "random_state": random_state,
            "shards": shards, "sizes": sizes, "weights": [s / total for s in local_sizes],
            "k": max(1, int(round(topk_ratio * model.n_params)))}


def sync_sgd(model: Any, X: np.ndarray, y: np.ndarray, *, client: Any = None, n_workers: int | None = None,
             lr: float = 0.1, n_steps: int = 50, batch_size: int | None = None, random_state: int = 0,
             w0: np.ndarray | None = None, compression: str = "none", topk_ratio: float = 0.01,
             callback: Callable[[int, float], Any] | None = None, lag: int = 2) -> TrainingHistory:
    """Synchronous data-parallel SGD.

    Parameters
    ----------
    model : SoftmaxRegression or MLP
    X, y : arrays
        Training data; split into ``n_workers`` shards (random, seeded) scattered once.
    client : dask.distributed.Client, optional
        Run on this cluster (replica ``i`` on worker ``i mod n``). ``None``: the same
        computation, replica by replica, in this process.
    n_workers : int, optional
        Data-parallel replicas. Default: the cluster's workers (2 without a client).
    lr : float
        Learning rate (> 0).
    n_steps : int
        Synchronous steps.
    batch_size : int, optional
        Global mini-batch per step, split over the workers (sizes differ by at most one
        row when not divisible; gradients are weighted by local batch size, so the
        result is still the global-batch gradient). ``None``: full batch (every row, every step).
    random_state : int
        Seeds the shards, the batches (per step and worker) and the initial parameters.
    w0 : ndarray, optional
        Initial parameters (not modified). Default: ``model.init_params`` from ``random_state``.
    compression : {"none", "topk", "8bit"}
        Compress each worker's gradient (with error feedback) before the exchange.
    topk_ratio : float
        Fraction of entries top-k keeps.
    callback : callable, optional
        ``callback(step, loss)`` after each finished step; return True to stop early
        (``stopped_reason="stopped"``).
    lag : int
        Steps submitted ahead of the one being read back (keeps the cluster busy).

    Returns
    -------
    TrainingHistory
        ``loss`` is the global-batch loss at the parameters before each step,
        ``time`` measured wall-clock seconds, ``bytes_sent`` the gradient payload
        bytes each step (every payload goes to the ``n_workers - 1`` other replicas).
        ``params`` are those after the last recorded step. A loss that is not
        finite or above ``DIVERGED_LOSS_FACTOR`` times the first stops the run
        (``diverged_step``, RuntimeWarning). A KeyboardInterrupt cancels the
        outstanding tasks and returns the steps that finished
        (``stopped_reason="interrupted"``, a warning); a second one while the
        parameters are fetched is raised.
    """
    check_callback(callback)
    if n_workers is None:
        n_workers = len(worker_addresses(client)) if client is not None else 2
    s = _setup(model, X, y, n_workers, lr, n_steps, batch_size, random_state, compression, topk_ratio)
    w = check_w0(model, w0, s["random_state"])
    k_workers = s["n_workers"]
    hist = TrainingHistory("sync", "measured", info={
        "n_workers": k_workers, "batch_sizes": s["sizes"], "compression": compression,
        "loss_kind": "global mini-batch loss before the step", "bytes_kind": "counted from payloads",
        "executed_on": "sequential" if client is None else f"{len(worker_addresses(client))} Dask workers"})
    check_int("lag", lag)
    start = time.perf_counter()

    def record(step: int, losses: list[float], nbytes: list[int]) -> bool:
        """Append step ``step``; True when the run must stop there (diverged, or the callback says so)."""
        loss = float(np.dot(s["weights"], losses))
        hist.steps.append(step)
        hist.loss.append(loss)
        hist.time.append(time.perf_counter() - start)
        hist.bytes_sent.append(int(sum(nbytes)) * (k_workers - 1))
        if diverged(loss, hist.loss[0]):
            stop_diverged(hist, "sync_sgd", step, s["lr"])
            return True
        if callback is not None and callback(step, loss):
            if step < s["n_steps"]:
                hist.stopped_reason = "stopped"
            return True
        return False

    args = (s["random_state"],)
    if client is None:
        residuals: list[Any] = [None] * k_workers
        done = (0, w)  # (steps recorded, parameters after them): one assignment, an interrupt cannot split it
        try:
            for t in range(s["n_steps"]):
                outs = []
                for i, shard in enumerate(s["shards"]):
                    out = worker_gradient(model, w, s["X"][shard], s["y"][shard], s["sizes"][i], *args, t, i,
                                          compression, s["k"], residuals[i])
                    residuals[i] = out[2]
                    outs.append(out)
                w = _apply(w, s["lr"], s["weights"], *[o[1] for o in outs])
                stop = record(t + 1, [o[0] for o in outs], [payload_nbytes(o[1]) for o in outs])
                done = (t + 1, w)
                if stop:
                    break
        except KeyboardInterrupt:
            trim(hist)
            w = done[1] if len(hist.steps) == done[0] else w  # else: recorded, the callback interrupted
            stop_interrupted(hist, "sync_sgd", len(hist.steps), s["n_steps"])
        hist.params = w
        return hist

    finals: list[np.ndarray] | None = None
    try:
        with memory_guard(client, what="sync_sgd"), cancel_on_interrupt(client) as client:
            addresses = worker_addresses(client)
            where = [addresses[i % len(addresses)] for i in range(k_workers)]
            shard_bytes = [s["X"][sh].nbytes + s["y"][sh].nbytes + w.nbytes for sh in s["shards"]]
            check_placement_fits(client, where, shard_bytes, "the training data X, y (one shard per replica)")
            last: list[Any] = [w] * k_workers  # each replica after the last recorded step (futures once there)
            try:
                Xf = [client.scatter(s["X"][sh], workers=[a], hash=False) for sh, a in zip(s["shards"], where)]
                yf = [client.scatter(s["y"][sh], workers=[a], hash=False) for sh, a in zip(s["shards"], where)]
                replicas = [client.scatter(w, workers=[a], hash=False) for a in where]
                last = replicas
                residual_f: list[Any] = [None] * k_workers
                pending: list[tuple[int, list[Any], list[Any]]] = []
                stopped = False
                for t in range(s["n_steps"]):
                    outs = [client.submit(worker_gradient, model, replicas[i], Xf[i], yf[i], s["sizes"][i], *args,
                                          t, i, compression, s["k"], residual_f[i], workers=[where[i]], pure=False)
                            for i in range(k_workers)]
                    payloads = [client.submit(operator.getitem, o, 1, workers=[a], pure=False)
                                for o, a in zip(outs, where)]
                    if compression != "none":
                        residual_f = [client.submit(operator.getitem, o, 2, workers=[a], pure=False)
                                      for o, a in zip(outs, where)]
                    replicas = [client.submit(_apply, replicas[i], s["lr"], s["weights"], *payloads,
                                              workers=[where[i]], pure=False) for i in range(k_workers)]
                    pending.append((t + 1, [client.submit(_stats, o, workers=[a], pure=False)
                                            for o, a in zip(outs, where)], replicas))
                    while len(pending) > lag or (t == s["n_steps"] - 1 and pending):
                        step, stats, after = pending.pop(0)
                        values = client.gather(stats)
                        last = after
                        if record(step, [v[0] for v in values], [v[1] for v in values]):
                            stopped = True
                            break
                    if stopped:
                        break
            except KeyboardInterrupt:
                # the parameters of the last recorded step, fetched before every other task is cancelled
                finals = client.gather(last)
                raise
            # stopped early: the replicas after the last recorded step, not those of the steps submitted ahead
            finals = client.gather(last)
    except KeyboardInterrupt:
        if finals is None:  # interrupted again while fetching the parameters: give up at once
            raise
        stop_interrupted(hist, "sync_sgd", len(hist.steps), s["n_steps"])
    hist.params = finals[0]
    hist.info["replicas_identical"] = all(np.array_equal(finals[0], f) for f in finals[1:])
    hist.info["steps_run"] = len(hist.steps)
    return hist


def large_batch_sgd(model: Any, X: np.ndarray, y: np.ndarray, *, n_workers: int = 2, lr: float = 0.1,
                    n_steps: int = 50, batch_size: int | None = None, random_state: int = 0,
                    w0: np.ndarray | None = None) -> TrainingHistory:
    """Single-process SGD whose batch at each step is the union of the workers' batches in :func:`sync_sgd`.

    One gradient on the concatenated batch -- no shards, no averaging -- the reference
    that synchronous data parallelism must reproduce, divergence stop included (same
    rule, same step). A KeyboardInterrupt returns the steps that finished.
    """
    s = _setup(model, X, y, n_workers, lr, n_steps, batch_size, random_state, "none", 1.0)
    w = check_w0(model, w0, s["random_state"])
    hist = TrainingHistory("large_batch", "measured", info={"n_workers": 1, "batch_size": batch_size,
                                                             "loss_kind": "global mini-batch loss before the step"})
    start = time.perf_counter()
    done = (0, w)  # (steps recorded, parameters after them)
    try:
        for t in range(s["n_steps"]):
            rows = np.concatenate([shard[local_batch(len(shard), s["sizes"][i], s["random_state"], t, i)]
                                   for i, shard in enumerate(s["shards"])])
            loss, grad = model.loss_and_gradient(w, s["X"][rows], s["y"][rows])
            w = w - s["lr"] * grad
            hist.steps.append(t + 1)
            hist.loss.append(loss)
            hist.time.append(time.perf_counter() - start)
            hist.bytes_sent.append(0)
            done = (t + 1, w)
            if diverged(loss, hist.loss[0]):  # the same rule as sync_sgd, so the twins stop at the same step
                stop_diverged(hist, "large_batch_sgd", t + 1, s["lr"])
                break
    except KeyboardInterrupt:  # keep exactly the steps whose parameters are known
        del hist.steps[done[0]:], hist.loss[done[0]:], hist.time[done[0]:], hist.bytes_sent[done[0]:]
        w = done[1]
        stop_interrupted(hist, "large_batch_sgd", done[0], s["n_steps"])
    hist.params = w
    return hist
