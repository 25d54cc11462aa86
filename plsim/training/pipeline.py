"""Pipeline (model) parallelism: the MLP's layers split into stages on different workers.

Each stage owns a contiguous group of layers and lives on one Dask worker
(``client.submit(..., workers=[addr])``). A batch is cut into ``m`` micro-batches;
activations flow forward stage to stage, gradients flow backward, and each stage
sums its micro-batch gradients (GPipe). The loss and gradient equal the unsplit
model's (to rounding).

The idle "bubble": with ``p`` stages, ``m`` micro-batches and equal per-stage
times, the GPipe schedule keeps each stage busy ``m`` of ``m + p - 1`` slots, so the
bubble fraction is ``(p - 1) / (m + p - 1)``. :func:`gpipe_schedule` computes the
schedule on a virtual clock (exactly that fraction); :func:`pipeline_gradient`
also returns the *measured* timeline of the real run.

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plsim.cluster import cancel_on_interrupt, memory_guard
from plsim.comm import payload_nbytes
from plsim.models import MLP, softmax_cross_entropy
from plsim.training._common import check_int, check_placement_fits, worker_addresses

__all__ = ["split_stages", "bubble_fraction", "gpipe_schedule", "Timeline", "pipeline_gradient", "PipelineResult"]


def split_stages(model: MLP, n_stages: int) -> list[list[int]]:
    """Contiguous layer groups, as equal in count as possible (earlier stages get the extra layer)."""
    if not isinstance(model, MLP):
        raise TypeError(f"pipeline parallelism splits an MLP's layers; got {type(model).__name__}")
    n_stages = check_int("n_stages", n_stages)
    if n_stages > model.n_layers:
        raise ValueError(
            f"n_stages={n_stages} exceeds the model's {model.n_layers} layers; each stage needs at least one layer"
        )
    return [part.tolist() for part in np.array_split(np.arange(model.n_layers), n_stages)]


def bubble_fraction(n_stages: int, n_micro: int) -> float:
    """GPipe's idle fraction ``(p - 1) / (m + p - 1)`` for equal stage times."""
    p = check_int("n_stages", n_stages)
    m = check_int("n_micro", n_micro)
    return (p - 1) / (m + p - 1)


@dataclass
class Timeline:
    """Busy intervals per stage: ``events`` = ``[(stage, "F"|"B", micro, start, end), ...]``.

    ``kind`` is ``"simulated"`` (virtual clock) or ``"measured"`` (wall clock of a real run).
    """

    n_stages: int
    n_micro: int
    events: list[tuple[int, str, int, float, float]]
    kind: str

    @property
    def makespan(self) -> float:
        return max(e[4] for e in self.events) - min(e[3] for e in self.events)

    def busy(self) -> np.ndarray:
        """Busy seconds per stage."""
        out = np.zeros(self.n_stages)
        for stage, _, _, start, end in self.events:
            out[stage] += end - start
        return out

    @property
    def bubble_fraction(self) -> float:
        """Idle share of ``n_stages * makespan``."""
        return float(1.0 - self.busy().sum() / (self.n_stages * self.makespan))


def _per_stage(value: Any, p: int, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (p,)) if np.ndim(value) == 0 else np.asarray(value, float)
    if arr.shape != (p,) or not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(f"{name}={value!r} must be a positive number or one positive number per stage ({p})")
    return arr


def gpipe_schedule(n_stages: int, n_micro: int, forward_time: float | Sequence[float] = 1.0,
                   backward_time: float | Sequence[float] = 2.0) -> Timeline:
    """The GPipe schedule on a virtual clock: all forwards, then all backwards (last micro-batch first).

    A forward of micro-batch ``j`` on stage ``s`` starts when stage ``s`` finished
    micro-batch ``j - 1`` and stage ``s - 1`` finished micro-batch ``j``; backwards
    mirror that from the last stage. With equal times the bubble fraction is exactly
    :func:`bubble_fraction`.
    """
    p = check_int("n_stages", n_stages)
    m = check_int("n_micro", n_micro)
    tf = _per_stage(forward_time, p, "forward_time")
    tb = _per_stage(backward_time, p, "backward_time")
    f_end = np.zeros((p, m))
    events = []
    for s in range(p):
        for j in range(m):
            start = max(f_end[s, j - 1] if j else 0.0, f_end[s - 1, j] if s else 0.0)
            f_end[s, j] = start + tf[s]
            events.append((s, "F", j, start, f_end[s, j]))
    b_end = np.zeros((p, m))
    for s in range(p - 1, -1, -1):
        prev = f_end[s, m - 1]
        for j in range(m - 1, -1, -1):
            start = max(prev, b_end[s + 1, j] if s < p - 1 else 0.0)
            b_end[s, j] = start + tb[s]
            prev = b_end[s, j]
            events.append((s, "B", j, start, b_end[s, j]))
    return Timeline(p, m, events, "simulated")


# -- the real, split computation ---------------------------------------------
def _stage_forward(model: MLP, layer_ids: list[int], params: list[tuple[np.ndarray, np.ndarray]],
                   a: np.ndarray) -> dict[str, Any]:
    t0 = time.time()
    cache = []
    for i, (W, b) in zip(layer_ids, params):
        z, a_next = model.layer_forward(i, W, b, a)
        cache.append((a, z))
        a = a_next
    return {"out": a, "cache": cache, "t": (t0, time.time())}


def _stage_backward(model: MLP, layer_ids: list[int], params: list[tuple[np.ndarray, np.ndarray]],
                    fwd: dict[str, Any], grad_out: np.ndarray | None, y: np.ndarray | None = None,
                    normalizer: float | None = None) -> dict[str, Any]:
    t0 = time.time()
    loss = None
    if grad_out is None:  # last stage: the loss starts the backward pass
        loss, grad_out = softmax_cross_entropy(fwd["out"], y, normalizer)
    grads = []
    for i, (W, b), (a, z) in zip(reversed(layer_ids), reversed(params), reversed(fwd["cache"])):
        dW, db, grad_out = model.layer_backward(i, W, b, a, z, grad_out)
        grads.append((dW, db))
    return {"grad_in": grad_out, "grads": grads[::-1], "loss": loss, "t": (t0, time.time())}


def _sum_stage_grads(*outs: dict[str, Any]) -> np.ndarray:
    total = None
    for out in outs:
        flat = np.concatenate([np.concatenate([dW.ravel(), db]) for dW, db in out["grads"]])
        total = flat if total is None else total + flat
    return total


@dataclass
class PipelineResult:
    """Loss and flat gradient of a pipelined forward/backward pass, plus what it cost."""

    loss: float
    gradient: np.ndarray
    stages: list[list[int]]
    timeline: Timeline | None
    bytes_sent: int
    info: dict[str, Any] = field(default_factory=dict)


def pipeline_gradient(model: MLP, w: np.ndarray, X: np.ndarray, y: np.ndarray, *, n_stages: int = 2,
                      n_micro: int = 4, client: Any = None) -> PipelineResult:
    """Loss and gradient of ``model`` at ``w`` with its layers split into ``n_stages`` pipeline stages.

    Parameters
    ----------
    model : MLP
    w, X, y : arrays
        Parameters (not modified) and the batch, cut into ``n_micro`` micro-batches.
    n_stages : int
        Stages (<= the model's layers). Stage ``s`` runs on worker ``s mod n_workers``.
    n_micro : int
        Micro-batches (<= rows of ``X``).
    client : dask.distributed.Client, optional
        Run the stages on the cluster; ``None`` runs the same stage functions here.

    Returns
    -------
    PipelineResult
        ``loss``/``gradient`` equal ``model.loss_and_gradient(w, X, y)``;
        ``timeline`` is the measured busy intervals (``None`` without a client);
        ``bytes_sent`` counts activations forward and gradients backward between stages.
    """
    stages = split_stages(model, n_stages)
    w = model._check_w(w)
    X = model._check_X(X)
    y = model._check_y(y, X.shape[0])
    n_micro = check_int("n_micro", n_micro)
    if n_micro > X.shape[0]:
        raise ValueError(f"n_micro={n_micro} exceeds the {X.shape[0]} rows of X; each micro-batch needs a row")
    N = X.shape[0]
    micro = np.array_split(np.arange(N), n_micro)
    layers = model.unflatten(np.array(w, dtype=np.float64))
    params = [[layers[i] for i in ids] for ids in stages]
    p = len(stages)
    nbytes = 0

    if client is None:
        stage_grads = [None] * p
        loss = 0.0
        for rows in micro:
            fwd = []
            a = X[rows]
            for s in range(p):
                out = _stage_forward(model, stages[s], params[s], a)
                if s < p - 1:
                    nbytes += payload_nbytes(out["out"])
                fwd.append(out)
                a = out["out"]
            g = None
            for s in range(p - 1, -1, -1):
                back = _stage_backward(model, stages[s], params[s], fwd[s], g, y[rows] if s == p - 1 else None, N)
                if back["loss"] is not None:
                    loss += back["loss"]
                g = back["grad_in"]
                if s > 0:
                    nbytes += payload_nbytes(g)
                flat = _sum_stage_grads(back)
                stage_grads[s] = flat if stage_grads[s] is None else stage_grads[s] + flat
        timeline = None
    else:
        # interrupted (the kernel's stop button), every task of this pass is cancelled: the workers are free at once
        with memory_guard(client, what="pipeline_gradient"), cancel_on_interrupt(client) as client:
            addresses = worker_addresses(client)
            where = [addresses[s % len(addresses)] for s in range(p)]
            check_placement_fits(client, [*where, where[0], where[-1]],
                                 [*(sum(W.nbytes + b.nbytes for W, b in params[s]) for s in range(p)), X.nbytes,
                                  y.nbytes], "the batch X, y and the stages' parameters")
            pf = [client.scatter(params[s], workers=[where[s]], hash=False) for s in range(p)]
            xs = [client.scatter(X[rows], workers=[where[0]], hash=False) for rows in micro]
            ys = [client.scatter(y[rows], workers=[where[-1]], hash=False) for rows in micro]
            fwd = [[None] * n_micro for _ in range(p)]
            for j in range(n_micro):  # GPipe: every forward is submitted before any backward
                a = xs[j]
                for s in range(p):
                    fwd[s][j] = client.submit(_stage_forward, model, stages[s], pf[s], a, workers=[where[s]],
                                              pure=False)
                    a = client.submit(operator.getitem, fwd[s][j], "out", workers=[where[s]], pure=False)
            back = [[None] * n_micro for _ in range(p)]
            for j in range(n_micro - 1, -1, -1):
                g = None
                for s in range(p - 1, -1, -1):
                    back[s][j] = client.submit(_stage_backward, model, stages[s], pf[s], fwd[s][j], g,
                                               ys[j] if s == p - 1 else None, N, workers=[where[s]], pure=False)
                    g = client.submit(operator.getitem, back[s][j], "grad_in", workers=[where[s]], pure=False)
            sums = [client.submit(_sum_stage_grads, *back[s], workers=[where[s]], pure=False) for s in range(p)]
            stage_grads = client.gather(sums)
            times_f = client.gather([client.submit(operator.getitem, f, "t", pure=False) for row in fwd for f in row])
            times_b = client.gather([client.submit(lambda d: (d["t"], d["loss"]), b, pure=False)
                                     for row in back for b in row])
            sizes_f = client.gather([client.submit(lambda d: payload_nbytes(d["out"]), f, pure=False)
                                     for row in fwd[:-1] for f in row])
            sizes_b = client.gather([client.submit(lambda d: payload_nbytes(d["grad_in"]), b, pure=False)
                                     for row in back[1:] for b in row])
        nbytes = int(sum(sizes_f) + sum(sizes_b))
        loss = float(sum(lb for _, lb in times_b[(p - 1) * n_micro:]))
        events = []
        for idx, (t0, t1) in enumerate(times_f):
            events.append((idx // n_micro, "F", idx % n_micro, t0, t1))
        for idx, ((t0, t1), _) in enumerate(times_b):
            events.append((idx // n_micro, "B", idx % n_micro, t0, t1))
        origin = min(e[3] for e in events)
        timeline = Timeline(p, n_micro, [(s, k, j, a - origin, b - origin) for s, k, j, a, b in events], "measured")
    grad = np.concatenate(stage_grads)
    if model.l2:
        loss += 0.5 * model.l2 * float(w @ w)
        grad = grad + model.l2 * w
    info = {"workers": None if client is None else [addresses[s % len(addresses)] for s in range(p)],
            "micro_batch_sizes": [len(r) for r in micro]}
    return PipelineResult(float(loss), grad, stages, timeline, int(nbytes), info)
