"""Pipeline (model) parallelism: the MLP's layers split into stages on different workers.

Each stage owns a contiguous group of layers whose parameters are placed once
(:mod:`plsim.executor`); Dask runs a stage's tasks where its inputs are. A batch is cut into ``m`` micro-batches;
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

from plsim.comm import payload_nbytes
from plsim.executor import resolve_executor
from plsim.models import MLP, softmax_cross_entropy
from plsim.validation import check_positive_int

__all__ = ["split_stages", "bubble_fraction", "gpipe_schedule", "Timeline", "pipeline_gradient", "PipelineResult"]


def split_stages(model: MLP, n_stages: int) -> list[list[int]]:
    """Contiguous layer groups, as equal in count as possible (earlier stages get the extra layer)."""
    if not isinstance(model, MLP):
        raise TypeError(f"pipeline parallelism splits an MLP's layers; got {type(model).__name__}")
    n_stages = check_positive_int("n_stages", n_stages)
    if n_stages > model.n_layers:
        raise ValueError(
            f"n_stages={n_stages} exceeds the model's {model.n_layers} layers; each stage needs at least one layer"
        )
    return [part.tolist() for part in np.array_split(np.arange(model.n_layers), n_stages)]


def bubble_fraction(n_stages: int, n_micro: int) -> float:
    """GPipe's idle fraction ``(p - 1) / (m + p - 1)`` for equal stage times."""
    p = check_positive_int("n_stages", n_stages)
    m = check_positive_int("n_micro", n_micro)
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
    p = check_positive_int("n_stages", n_stages)
    m = check_positive_int("n_micro", n_micro)
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
def _here() -> str:
    """The address of the Dask worker running this task, or ``"local"`` in this process."""
    from plsim.executor import LOCAL

    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return LOCAL


def _stage_forward(model: MLP, layer_ids: list[int], params: list[tuple[np.ndarray, np.ndarray]],
                   a: np.ndarray) -> dict[str, Any]:
    t0 = time.time()
    cache = []
    for i, (W, b) in zip(layer_ids, params):
        z, a_next = model.layer_forward(i, W, b, a)
        cache.append((a, z))
        a = a_next
    return {"out": a, "cache": cache, "t": (t0, time.time()), "worker": _here()}


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
    return {"grad_in": grad_out, "grads": grads[::-1], "loss": loss, "t": (t0, time.time()), "worker": _here()}


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


def _times(out: dict[str, Any]) -> tuple[tuple[float, float], float | None, int, str]:
    """A stage task's (start, end) wall-clock times, its loss (last stage), its outgoing payload's bytes and
    the worker it ran on."""
    payload = out.get("out", out.get("grad_in"))
    return out["t"], out.get("loss"), 0 if payload is None else payload_nbytes(payload), out["worker"]


def pipeline_gradient(model: MLP, w: np.ndarray, X: np.ndarray, y: np.ndarray, *, n_stages: int = 2,
                      n_micro: int = 4, executor: Any = None) -> PipelineResult:
    """Loss and gradient of ``model`` at ``w`` with its layers split into ``n_stages`` pipeline stages.

    Parameters
    ----------
    model : MLP
    w, X, y : arrays
        Parameters (not modified) and the batch, cut into ``n_micro`` micro-batches.
    n_stages : int
        Stages (<= the model's layers).
    n_micro : int
        Micro-batches (<= rows of ``X``).
    executor : None, "auto", dask.distributed.Client or plsim.executor.Executor
        Where the stages run (:func:`plsim.executor.resolve_executor`); ``None``
        runs the same stage tasks here, one after the other.

    Returns
    -------
    PipelineResult
        ``loss``/``gradient`` equal ``model.loss_and_gradient(w, X, y)``;
        ``timeline`` is the measured busy intervals (sequentially: one stage at
        a time, so no overlap); ``bytes_sent`` counts activations forward and
        gradients backward between stages.
    """
    stages = split_stages(model, n_stages)
    w = model.check_params(w)
    X = model.check_X(X)
    y = model.check_y(y, X.shape[0])
    n_micro = check_positive_int("n_micro", n_micro)
    if n_micro > X.shape[0]:
        raise ValueError(f"n_micro={n_micro} exceeds the {X.shape[0]} rows of X; each micro-batch needs a row")
    ex = resolve_executor(executor)
    N = X.shape[0]
    micro = np.array_split(np.arange(N), n_micro)
    layers = model.unflatten(np.array(w, dtype=np.float64))
    params = [[layers[i] for i in ids] for ids in stages]
    p = len(stages)
    # interrupted (the kernel's stop button), every task of this pass is cancelled: the workers are free at once
    with ex.running("pipeline_gradient"):
        addresses = ex.workers()
        where = [addresses[s % len(addresses)] for s in range(p)]  # for the memory check: stages spread round-robin
        ex.check_fits([*(sum(W.nbytes + b.nbytes for W, b in params[s]) for s in range(p)), X.nbytes, y.nbytes],
                      what="the batch X, y and the stages' parameters", where=[*where, where[0], where[-1]])
        pf = [part["params"] for part in ex.place_each([{"params": params[s]} for s in range(p)], name="stage")]
        xs = [ex.place(X=X[rows])["X"] for rows in micro]
        ys = [ex.place(y=y[rows])["y"] for rows in micro]
        fwd: list[list[Any]] = [[None] * n_micro for _ in range(p)]
        for j in range(n_micro):  # GPipe: every forward is submitted before any backward
            a = xs[j]
            for s in range(p):
                fwd[s][j] = ex.submit(_stage_forward, model, stages[s], pf[s], a, name="plsim-forward")
                a = ex.submit(operator.getitem, fwd[s][j], "out", name="plsim-activation")
        back: list[list[Any]] = [[None] * n_micro for _ in range(p)]
        for j in range(n_micro - 1, -1, -1):
            g = None
            for s in range(p - 1, -1, -1):
                back[s][j] = ex.submit(_stage_backward, model, stages[s], pf[s], fwd[s][j], g,
                                       ys[j] if s == p - 1 else None, N, name="plsim-backward")
                g = ex.submit(operator.getitem, back[s][j], "grad_in", name="plsim-grad-in")
        stage_grads = ex.gather([ex.submit(_sum_stage_grads, *back[s], name="plsim-stage-grad") for s in range(p)])
        stats_f = ex.gather([ex.submit(_times, f, name="plsim-times") for row in fwd for f in row])
        stats_b = ex.gather([ex.submit(_times, b, name="plsim-times") for row in back for b in row])
    # bytes crossing a stage boundary: activations out of every stage but the last, gradients out of all but the first
    nbytes = int(sum(n for _, _, n, _ in stats_f[:(p - 1) * n_micro]) + sum(n for _, _, n, _ in stats_b[n_micro:]))
    loss = float(sum(lb for _, lb, _, _ in stats_b[(p - 1) * n_micro:]))
    events = []
    for idx, (t, _, _, _) in enumerate(stats_f):
        events.append((idx // n_micro, "F", idx % n_micro, *t))
    for idx, (t, _, _, _) in enumerate(stats_b):
        events.append((idx // n_micro, "B", idx % n_micro, *t))
    origin = min(e[3] for e in events)
    timeline = Timeline(p, n_micro, [(s, k, j, a - origin, b - origin) for s, k, j, a, b in events], "measured")
    grad = np.concatenate(stage_grads)
    if model.l2:
        loss += 0.5 * model.l2 * float(w @ w)
        grad = grad + model.l2 * w
    # where each stage's forward passes ran (Dask runs a task where its inputs are): one list per stage
    ran_on = [sorted({stats_f[s * n_micro + j][3] for j in range(n_micro)}) for s in range(p)]
    info = {"workers": ran_on, "executed_on": ex.describe(), "micro_batch_sizes": [len(r) for r in micro]}
    return PipelineResult(float(loss), grad, stages, timeline, int(nbytes), info)
