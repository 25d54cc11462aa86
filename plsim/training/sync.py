"""Synchronous data-parallel SGD on real Dask workers, and its single-process large-batch twin.

Every worker holds one shard of the training set (placed once, with lineage). At each
step worker ``i`` computes the gradient of its local mini-batch, the gradients
are exchanged (every replica receives every other one: an all-reduce), and every
replica applies exactly the same update. The result equals single-process SGD on
the union of the local batches (:func:`large_batch_sgd`) up to floating-point
summation order -- data parallelism *is* large-batch training.

Taught in ``notebooks/04_distributed_training.ipynb``.
"""

from __future__ import annotations

import operator
import time
from typing import Any

import numpy as np

from plsim.comm import decompress, make_compressor, payload_nbytes
from plsim.executor import Run, resolve_executor
from plsim.progress import Callback
from plsim.training._common import (
    TrainingHistory,
    check_data,
    check_lr,
    check_w0,
    default_replicas,
    diverged,
    local_batch,
    SHARDS,
    shard_groups,
    report,
    shard_indices,
    split_batch,
    stop_diverged,
    stop_interrupted,
)
from plsim.validation import check_callback, check_positive_int, check_random_state, check_real

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
    n_workers = check_positive_int("n_workers", n_workers)
    lr = check_lr(lr)
    n_steps = check_positive_int("n_steps", n_steps)
    random_state = check_random_state(random_state)
    if compression not in COMPRESSION:
        raise ValueError(f"compression={compression!r} is unknown; choose one of {COMPRESSION}")
    topk_ratio = check_real("topk_ratio", topk_ratio, minimum=0, maximum=1, low_open=True)
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


def sync_sgd(model: Any, X: np.ndarray, y: np.ndarray, *, executor: Any = None, n_workers: int | None = None,
             lr: float = 0.1, n_steps: int = 50, batch_size: int | None = None, random_state: Any = None,
             w0: np.ndarray | None = None, compression: str = "none", topk_ratio: float = 0.01,
             callback: Callback | None = None, lag: int = 2) -> TrainingHistory:
    """Synchronous data-parallel SGD.

    Parameters
    ----------
    model : SoftmaxRegression or MLP
    X, y : arrays
        Training data; split into ``n_workers`` shards (random, seed stream
        ``"shards"``), each placed once on its replica's worker.
    executor : None, "auto", dask.distributed.Client or plsim.executor.Executor
        Where the replicas run (see :func:`plsim.executor.resolve_executor`);
        on a cluster each replica's steps run where its shard is. ``None``: the
        very same tasks, one after the other, in this process.
    n_workers : int, optional
        Data-parallel replicas. Default: the cluster's workers (2 when sequential).
    lr : float
        Learning rate (> 0).
    n_steps : int
        Synchronous steps.
    batch_size : int, optional
        Global mini-batch per step, split over the workers (sizes differ by at most one
        row when not divisible; gradients are weighted by local batch size, so the
        result is still the global-batch gradient). ``None``: full batch (every row, every step).
    random_state : None, int, RandomState or Generator
        Root of the seed tree: shards (stream ``"shards"``), the batch of replica
        ``i`` at step ``t`` (``"batch", t, i``) and the initial parameters (``"init"``).
    w0 : ndarray, optional
        Initial parameters (not modified). Default: ``model.init_params`` from ``random_state``.
    compression : {"none", "topk", "8bit"}
        Compress each worker's gradient (with error feedback) before the exchange.
    topk_ratio : float
        Fraction of entries top-k keeps.
    callback : callable, optional
        ``callback(Progress(done, total, "step", loss=...))`` here after each
        finished step (:mod:`plsim.progress`); a truthy return stops the run
        there (``stopped_reason="stopped"``).
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

    Every task is deterministic (its batch comes from the seed tree) and every
    shard is placed with lineage, so a worker lost mid-run changes nothing: Dask
    recomputes what it held. Taught in ``notebooks/04_distributed_training.ipynb``.
    """
    check_callback(callback)
    ex = resolve_executor(executor)
    if n_workers is None:
        n_workers = default_replicas(ex)
    s = _setup(model, X, y, n_workers, lr, n_steps, batch_size, random_state, compression, topk_ratio)
    lag = check_positive_int("lag", lag)
    w = check_w0(model, w0, s["random_state"])
    k_workers = s["n_workers"]
    hist = TrainingHistory("sync", "measured", info={
        "n_workers": k_workers, "batch_sizes": s["sizes"], "compression": compression,
        "loss_kind": "global mini-batch loss before the step", "bytes_kind": "counted from payloads",
        "executed_on": ex.describe_text()})
    start = time.perf_counter()

    def record(step: int, after: list[Any], losses: list[float], nbytes: list[int]) -> bool:
        """Append step ``step`` (``after``: each replica after it); True when the run must stop there (diverged,
        or the callback says so)."""
        nonlocal committed
        loss = float(np.dot(s["weights"], losses))
        hist.steps.append(step)
        hist.loss.append(loss)
        hist.time.append(time.perf_counter() - start)
        hist.bytes_sent.append(int(sum(nbytes)) * (k_workers - 1))
        # the step and its replicas, rebound in one assignment: an interrupt landing anywhere finds the two
        # in step (a step it caught half-recorded is cut after the run)
        committed = (step, after)
        if diverged(loss, hist.loss[0]):
            stop_diverged(hist, "sync_sgd", step, s["lr"])
            return True
        if report(callback, step, s["n_steps"], "step", loss):
            if step < s["n_steps"]:
                hist.stopped_reason = "stopped"
            return True
        return False

    finals: list[np.ndarray] | None = None
    with Run("sync_sgd", ex) as run:
        data = ex.place_each(shard_groups(s["X"], s["y"], s["shards"]), name="shard", what=SHARDS)
        # the initial parameters go out once (not embedded in every replica's first task: a 35 MB model
        # would travel in the task graph twice, with a "large graph" warning)
        replicas: list[Any] = [ex.place(w=w)["w"]] * k_workers
        committed: tuple[int, list[Any]] = (0, replicas)  # (steps recorded, each replica after the last of them): see record
        try:
            residuals: list[Any] = [None] * k_workers
            pending: list[tuple[int, list[Any], list[Any]]] = []
            for t in range(s["n_steps"]):
                outs = [ex.submit(worker_gradient, model, replicas[i], data[i]["X"], data[i]["y"], s["sizes"][i],
                                  s["random_state"], t, i, compression, s["k"], residuals[i],
                                  name="plsim-gradient") for i in range(k_workers)]
                payloads = [ex.submit(operator.getitem, o, 1, name="plsim-payload") for o in outs]
                if compression != "none":
                    residuals = [ex.submit(operator.getitem, o, 2, name="plsim-residual") for o in outs]
                replicas = [ex.submit(_apply, replicas[i], s["lr"], s["weights"], *payloads,
                                      name="plsim-apply") for i in range(k_workers)]
                stats = [ex.submit(_stats, o, name="plsim-stats") for o in outs]
                pending.append((t + 1, stats, replicas))
                stopped = False
                while pending and (len(pending) > lag or t == s["n_steps"] - 1):
                    step, stats, after = pending.pop(0)
                    values = ex.gather(stats)
                    if record(step, after, [v[0] for v in values], [v[1] for v in values]):
                        stopped = True
                        break
                if stopped:
                    break
        except KeyboardInterrupt:
            # the parameters of the last recorded step, fetched before every other task is cancelled
            finals = ex.gather(committed[1])
            raise
        # stopped early: the replicas after the last recorded step, not those of the steps submitted ahead
        finals = ex.gather(committed[1])
    if run.interrupted is not None:
        if finals is None:  # interrupted again while fetching the parameters: give up at once
            raise run.interrupted
        recorded = committed[0]  # a step the interrupt caught half-recorded goes
        del hist.steps[recorded:], hist.loss[recorded:], hist.time[recorded:], hist.bytes_sent[recorded:]
        stop_interrupted(run, hist, len(hist.steps), s["n_steps"])
    hist.params = finals[0]
    hist.info["replicas_identical"] = all(np.array_equal(finals[0], f) for f in finals[1:])
    hist.info["steps_run"] = len(hist.steps)
    return hist


def large_batch_sgd(model: Any, X: np.ndarray, y: np.ndarray, *, n_workers: int = 2, lr: float = 0.1,
                    n_steps: int = 50, batch_size: int | None = None, random_state: Any = None,
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
    with Run("large_batch_sgd") as run:
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
    if run.interrupted is not None:  # keep exactly the steps whose parameters are known
        del hist.steps[done[0]:], hist.loss[done[0]:], hist.time[done[0]:], hist.bytes_sent[done[0]:]
        w = done[1]
        stop_interrupted(run, hist, done[0], s["n_steps"])
    hist.params = w
    return hist
