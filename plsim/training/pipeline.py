"""Pipeline (model) parallelism: the MLP's layers split into stages on different workers.

Each stage owns a contiguous group of layers whose parameters are placed once
(:mod:`plsim.executor`). A batch is cut into ``m`` micro-batches; activations flow
forward stage to stage, gradients flow backward, and each stage sums its micro-batch
gradients (GPipe). As in GPipe, a stage keeps only the activation it hands on
(*re-materialisation*): its backward pass recomputes the stage's forward from the
stage's input, so each forward task's result is exactly what the next stage needs,
with nothing to pick out of it on a worker that is busy with the next micro-batch.
The loss and gradient equal the unsplit model's (to rounding).

The idle "bubble": with ``p`` stages, ``m`` micro-batches and equal per-stage
times, the GPipe schedule keeps each stage busy ``m`` of ``m + p - 1`` slots, so the
bubble fraction is ``(p - 1) / (m + p - 1)``. :func:`gpipe_schedule` computes the
schedule on a virtual clock (exactly that fraction); :func:`pipeline_gradient`
also returns the *measured* timeline of the real run, read from Dask's task stream
(:func:`timeline_from_task_stream`), and :func:`measure_bubble` repeats runs and
reports the measured bubble next to the formula -- or says why this cluster cannot
measure one (fewer workers or CPUs than stages: the stages take turns).

On a Dask cluster with at least two workers, stage ``s`` lives on worker
``s mod workers``, as a stage lives on its own device: its tasks are restricted to
that worker. Unrestricted, Dask would run a stage wherever it is cheapest at the
moment, and its work stealing would move queued micro-batches to an idle worker --
good for throughput, but no longer a pipeline (a loose restriction,
``allow_other_workers=True``, does not stop the stealing). A restriction names a
worker's address, which a worker restarted after a crash does not get back, so the
pass watches its stages' workers while it waits: if one leaves the cluster, the
pass is cancelled with an error that says so (run it again: the stages go to the
workers there are then), instead of waiting forever for a worker that is gone.

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

import itertools
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plsim.i18n import _
from plsim.comm import payload_nbytes
from plsim.executor import LOCAL, Run, resolve_executor
from plsim.models import MLP, softmax_cross_entropy
from plsim.validation import check_positive_int

__all__ = ["split_stages", "bubble_fraction", "gpipe_schedule", "Timeline", "pipeline_gradient", "PipelineResult",
           "timeline_from_task_stream", "measure_bubble", "BubbleMeasurement"]


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

    def idle_shares(self) -> np.ndarray:
        """Each stage's idle share of the schedule's window (first start to last end, over all stages)."""
        return 1.0 - self.busy() / self.makespan

    @property
    def bubble_fraction(self) -> float:
        """Idle share of ``n_stages * makespan``: the stages' idle shares, averaged."""
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
def _stage_forward(model: MLP, layer_ids: list[int], params: list[tuple[np.ndarray, np.ndarray]],
                   a: np.ndarray, after: Any = None) -> np.ndarray:
    """A stage's forward pass on one micro-batch: only the activation it hands on is kept (GPipe's
    re-materialisation: the backward pass recomputes the rest). ``after``: see :func:`_stage_backward`."""
    for i, (W, b) in zip(layer_ids, params):
        _, a = model.layer_forward(i, W, b, a)
    return a


def _stage_backward(model: MLP, layer_ids: list[int], params: list[tuple[np.ndarray, np.ndarray]],
                    a_in: np.ndarray, grad_out: np.ndarray | None, y: np.ndarray | None = None,
                    normalizer: float | None = None, after: Any = None) -> dict[str, Any]:
    """A stage's backward pass on one micro-batch, recomputing its forward from the stage's input first.

    ``after``: the stage's previous task, an input only so that the stage runs its tasks in order.
    """
    cache = []
    a = a_in
    for i, (W, b) in zip(layer_ids, params):
        z, a_next = model.layer_forward(i, W, b, a)
        cache.append((a, z))
        a = a_next
    loss = None
    if grad_out is None:  # last stage: the loss starts the backward pass
        loss, grad_out = softmax_cross_entropy(a, y, normalizer)
    grads = []
    for i, (W, b), (a, z) in zip(reversed(layer_ids), reversed(params), reversed(cache)):
        dW, db, grad_out = model.layer_backward(i, W, b, a, z, grad_out)
        grads.append((dW, db))
    return {"grad_in": grad_out, "grads": grads[::-1], "loss": loss}


def _sum_stage_grads(*outs: dict[str, Any]) -> np.ndarray:
    total = None
    for out in outs:
        flat = np.concatenate([np.concatenate([dW.ravel(), db]) for dW, db in out["grads"]])
        total = flat if total is None else total + flat
    return total


def _loss_of(out: dict[str, Any]) -> float:
    return float(out["loss"])


@dataclass
class PipelineResult:
    """Loss and flat gradient of a pipelined forward/backward pass, plus what it cost."""

    loss: float
    gradient: np.ndarray
    stages: list[list[int]]
    timeline: Timeline | None
    bytes_sent: int
    info: dict[str, Any] = field(default_factory=dict)


def timeline_from_task_stream(records: Sequence[Any], labels: dict[str, tuple[int, str, int]], n_stages: int,
                              n_micro: int) -> Timeline:
    """The measured :class:`Timeline` of a pipeline pass from Dask's task stream.

    Parameters
    ----------
    records : sequence
        Task-stream entries (``distributed.get_task_stream().data``: dicts with
        ``key`` and ``startstops``) or :class:`plsim.speedup.TaskRecord`\\ s from
        :func:`plsim.speedup.record_timeline`; only ``compute`` spans count (fetching
        inputs is waiting, not work).
    labels : dict
        ``{task key: (stage, "F" or "B", micro-batch)}`` of the stage tasks; other
        tasks of the stream (activations picked out of a stage's result, other
        clients' work) are left out.
    n_stages, n_micro : int

    Returns
    -------
    Timeline
        ``kind = "measured"``, times in seconds from the first stage task's start: what
        the scheduler saw, not what the tasks said of themselves.
    """
    from plsim.speedup.timeline import TaskRecord, timeline_from_task_stream as _records

    spans = [r for r in records if isinstance(r, TaskRecord) and r.action == "compute"]
    dicts = [r for r in records if not isinstance(r, TaskRecord)]
    spans += _records(dicts, actions=("compute",)) if dicts else []
    events = [(*labels[r.key], r.start, r.stop) for r in spans if r.key in labels]
    missing = len(labels) - len({(e[0], e[1], e[2]) for e in events})
    if missing:
        raise ValueError(f"{missing} of the {len(labels)} stage tasks are not in the task stream; record the "
                         "whole pass (plsim.speedup.record_timeline around it)")
    origin = min(e[3] for e in events)
    return Timeline(check_positive_int("n_stages", n_stages), check_positive_int("n_micro", n_micro),
                    sorted((s, k, j, a - origin, b - origin) for s, k, j, a, b in events), "measured")


def _stage_workers(ex: Any, p: int) -> list[str | None]:
    """The worker each stage lives on (worker ``s mod workers`` in address order), or ``None`` for every
    stage where there is nothing to choose (one worker, or not Dask)."""
    if not ex.on_cluster:
        return [None] * p
    addresses = ex.workers()
    if len(addresses) < 2:
        return [None] * p
    return [addresses[s % len(addresses)] for s in range(p)]


def _on_worker(address: str | None, order: int) -> Any:
    """Tasks submitted inside run on the worker at ``address`` (anywhere if ``None``), ``order``-th in GPipe's order.

    Dask runs a worker's ready tasks by priority; tasks submitted within a few
    milliseconds of each other share one, so without an explicit one a stage could
    run micro-batch 3's forward before micro-batch 0's and leave the next stage waiting.
    """
    import dask

    where = {} if address is None else {"workers": [address], "allow_other_workers": False}
    return dask.annotate(priority=-order, **where)


def _wait_for_stages(ex: Any, futures: list[Any], home: list[str | None]) -> None:
    """Wait for the pass; if a stage's worker left the cluster, fail at once instead of waiting for good."""
    if all(h is None for h in home):
        return
    while any(not f.done() for f in futures):
        try:
            ex.wait(futures, timeout=0.5)
            return
        except TimeoutError:
            pass
        gone = sorted({h for h in home if h is not None} - set(ex.threads()))
        if gone:
            raise RuntimeError(f"pipeline_gradient: the worker{'s' if len(gone) > 1 else ''} {gone} holding a "
                               "pipeline stage left the cluster (a crash, or its memory limit); the pass is "
                               "cancelled. Run it again: the stages go to the workers the cluster has now.")


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
        runs the same stage tasks here, one after the other. On a Dask cluster of
        two or more workers stage ``s`` lives on worker ``s mod workers`` (see the
        module docstring).

    Returns
    -------
    PipelineResult
        ``loss``/``gradient`` equal ``model.loss_and_gradient(w, X, y)``;
        ``timeline`` is the measured busy intervals (on Dask: the compute spans of
        the scheduler's task stream; sequentially: one stage at a time, so no
        overlap); ``bytes_sent`` counts activations forward and gradients backward
        between stages; ``info["workers"]`` lists where each stage's tasks ran.
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
    stream: list[Any] = []
    labels: dict[str, tuple[int, str, int]] = {}   # stage task key -> (stage, "F" or "B", micro-batch)
    clock: dict[str, tuple[float, float]] = {}      # sequentially: each stage task's start and end, here
    # interrupted (the kernel's stop button), every task of this pass is cancelled: the workers are free at once
    with Run("pipeline_gradient", ex, keeps_partial=False), _recording(ex) as stream:
        home = _stage_workers(ex, p)
        addresses = ex.workers()
        where = [h or addresses[s % len(addresses)] for s, h in enumerate(home)]  # for the memory check
        ex.check_fits([*(sum(W.nbytes + b.nbytes for W, b in params[s]) for s in range(p)), X.nbytes, y.nbytes],
                      what="the batch X, y and the stages' parameters", where=[*where, where[0], where[-1]])
        placed = [part["params"] for part in ex.place_each([{"params": params[s]} for s in range(p)], name="stage")]
        order = itertools.count()  # GPipe's order: forwards by micro-batch, then backwards from the last one

        def submit(s: int | None, func: Any, *args: Any, name: str, label: tuple[int, str, int] | None = None) -> Any:
            with _on_worker(None if s is None else home[s], next(order)):
                start = time.time()
                handle = ex.submit(func, *args, name=name)
                if label is not None:
                    labels[_key(handle)] = label
                    clock[_key(handle)] = (start, time.time())  # the task's own span only where submit runs it
            return handle

        # each stage's parameters fetched to its worker once, before its first micro-batch
        pf = [submit(s, _identity, placed[s], name="plsim-stage-params") for s in range(p)]
        # the batch placed once; each micro-batch cut from it on the stage that reads it (the first stage its
        # rows, the last its labels), before the first forward: a micro-batch is never late because its rows
        # were still travelling while a later one's had arrived
        batch = ex.place(X=X, y=y)
        xs = [submit(0, _rows, batch["X"], rows[0], rows[-1] + 1, name="plsim-micro-batch") for rows in micro]
        ys = [submit(p - 1, _rows, batch["y"], rows[0], rows[-1] + 1, name="plsim-micro-batch") for rows in micro]
        # A stage runs its tasks in GPipe's order, as one device would: each of its tasks is also an input of
        # its next one (the order only), so a micro-batch whose input arrived early cannot overtake one whose
        # input is still travelling, and the small task that picks a finished backward pass's gradient out of
        # its result runs before the stage's next pass instead of waiting behind it. The first stage's forwards
        # are linked too: priorities alone do not order them, since when their shared inputs land the scheduler
        # hands them to the worker one message at a time and an idle worker starts whichever comes first.
        previous: list[Any] = [None] * p
        inputs: list[list[Any]] = [[None] * n_micro for _ in range(p)]  # what stage s received for micro-batch j
        fwd: list[list[Any]] = [[None] * n_micro for _ in range(p)]     # the activation it handed on
        for j in range(n_micro):  # GPipe: every forward is submitted before any backward
            a = xs[j]
            for s in range(p):
                inputs[s][j] = a
                a = fwd[s][j] = previous[s] = submit(s, _stage_forward, model, stages[s], pf[s], a,
                                                     previous[s], name="plsim-forward",
                                                     label=(s, "F", j))
        back: list[list[Any]] = [[None] * n_micro for _ in range(p)]
        grads_in: list[list[Any]] = [[None] * n_micro for _ in range(p)]
        for j in range(n_micro - 1, -1, -1):
            g = None
            for s in range(p - 1, -1, -1):
                back[s][j] = previous[s] = submit(
                    s, _stage_backward, model, stages[s], pf[s], inputs[s][j], g, ys[j] if s == p - 1 else None, N,
                    previous[s], name="plsim-backward", label=(s, "B", j))
                g = grads_in[s][j] = (submit(s, operator.getitem, back[s][j], "grad_in", name="plsim-grad-in")
                                      if s > 0 else None)
        sums = [submit(s, _sum_stage_grads, *back[s], name="plsim-stage-grad") for s in range(p)]
        losses = [submit(None, _loss_of, back[p - 1][j], name="plsim-loss") for j in range(n_micro)]
        # bytes crossing a stage boundary: activations out of every stage but the last, gradients out of all but
        # the first, counted from the payloads (after the pass: these tasks come last in the order)
        sizes = [submit(None, payload_nbytes, h, name="plsim-bytes")
                 for h in [*(f for row in fwd[:-1] for f in row), *(g for row in grads_in[1:] for g in row)]]
        _wait_for_stages(ex, sums, home)
        stage_grads = ex.gather(sums)
        loss = float(sum(ex.gather(losses)))
        nbytes = int(sum(ex.gather(sizes)))
    if ex.on_cluster:
        timeline = timeline_from_task_stream(stream, labels, p, n_micro)
        ran_on = [sorted({r.worker for r in stream if labels.get(r.key, (None,))[0] == s}) for s in range(p)]
        source = "task stream"
    else:  # no scheduler here: the tasks' own spans, one after the other
        origin = min(t for t, _ in clock.values())
        timeline = Timeline(p, n_micro, sorted((*labels[k], a - origin, b - origin) for k, (a, b) in clock.items()),
                            "measured")
        ran_on = [[LOCAL] for _ in range(p)]
        source = "task clocks"
    grad = np.concatenate(stage_grads)
    if model.l2:
        loss += 0.5 * model.l2 * float(w @ w)
        grad = grad + model.l2 * w
    info = {"workers": ran_on, "executed_on": ex.describe_text(), "micro_batch_sizes": [len(r) for r in micro],
            "stage_workers": home, "timeline_source": source}
    return PipelineResult(float(loss), grad, stages, timeline, int(nbytes), info)


def _identity(value: Any) -> Any:
    return value


def _rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    return array[start:stop]


def _key(handle: Any) -> str:
    key = handle.key
    return str(key[0] if isinstance(key, tuple) and len(key) == 1 else key)


def _recording(ex: Any) -> Any:
    """The task stream of the block on a Dask executor (a list filled when the block ends); else an empty list."""
    from plsim.speedup.timeline import record_timeline

    return record_timeline(executor=ex, actions=("compute",))


@dataclass
class BubbleMeasurement:
    """The pipeline bubble measured on the cluster (median of repeated passes) next to the formula.

    Attributes
    ----------
    n_stages, n_micro : int
    measured : float or None
        Median over the repeats of the measured idle share (``None`` when this cluster
        cannot measure a bubble: see ``reason``).
    predicted : float
        ``(p - 1) / (m + p - 1)`` (:func:`bubble_fraction`).
    repeats : list of float
        The measured idle share of every pass.
    timeline : Timeline
        The median pass's measured timeline (on any cluster, for the figure).
    simulated : Timeline
        :func:`gpipe_schedule` with this run's median forward and backward task times.
    reason : str
        Why ``measured`` is ``None`` (empty otherwise).
    stage_seconds : float
        Median seconds of one stage task (forward or backward), measured.
    result : PipelineResult or None
        The median pass itself (its loss, gradient, bytes and where its stages ran).
    """

    n_stages: int
    n_micro: int
    measured: float | None
    predicted: float
    repeats: list[float]
    timeline: Timeline
    simulated: Timeline
    reason: str = ""
    stage_seconds: float = 0.0
    result: PipelineResult | None = None


def measure_bubble(model: MLP, w: np.ndarray, X: np.ndarray, y: np.ndarray, *, n_stages: int = 2,
                   n_micro: int = 4, executor: Any = None, repeats: int = 3, cpus: int | None = None,
                   warmup: bool = True) -> BubbleMeasurement:
    """Run :func:`pipeline_gradient` ``repeats`` times and measure its bubble from the task stream.

    The bubble of one pass is each stage's idle share of the pass's window (from the
    first stage task's start to the last one's end), averaged over the stages
    (:attr:`Timeline.bubble_fraction`); the median over the passes is reported. It is
    a measurement only when every stage has a worker and a CPU of its own: with fewer,
    the stages take turns and "idle" means "waiting for the other stage's turn"
    (``measured`` is then ``None`` and ``reason`` says why); the simulated schedule
    with the measured task times is returned in every case.

    Parameters
    ----------
    model, w, X, y, n_stages, n_micro, executor
        As :func:`pipeline_gradient`.
    repeats : int
        Passes timed.
    cpus : int or None
        CPUs the workers share (:func:`plsim.speedup.cluster_cpus`); default: the workers' threads.
    warmup : bool
        Run one untimed pass first (the workers' first stage tasks also load code and fill caches).

    Returns
    -------
    BubbleMeasurement
    """
    repeats = check_positive_int("repeats", repeats)
    ex = resolve_executor(executor)
    workers = ex.n_workers
    cpus = workers if cpus is None else check_positive_int("cpus", cpus)
    predicted = bubble_fraction(n_stages, n_micro)
    if warmup:
        pipeline_gradient(model, w, X, y, n_stages=n_stages, n_micro=n_micro, executor=ex)
    runs = [pipeline_gradient(model, w, X, y, n_stages=n_stages, n_micro=n_micro, executor=ex)
            for _ in range(repeats)]
    bubbles = [r.timeline.bubble_fraction for r in runs]
    median = runs[int(np.argsort(bubbles)[len(bubbles) // 2])]
    spans = {k: [e[4] - e[3] for r in runs for e in r.timeline.events if e[1] == k] for k in ("F", "B")}
    simulated = gpipe_schedule(n_stages, n_micro, float(np.median(spans["F"])), float(np.median(spans["B"])))
    reason = ""
    if not ex.concurrent:
        reason = _("the passes ran in this process, one task after the other: nothing runs in parallel")
    elif workers < n_stages or cpus < n_stages:
        others = _("the other stage's turn") if n_stages == 2 else _("the other stages' turns")
        reason = (_("{n_stages} stages on {workers} worker{s} sharing {cpus} CPU{s2}: "
                     "the stages take turns, so a stage's idle time is {others}, not the "
                     "pipeline's bubble").format(n_stages=n_stages, workers=workers, s='s' if workers != 1 else '', cpus=cpus, s2='s' if cpus != 1 else '', others=others))
    elif any(len(set(stage)) != 1 for stage in median.info["workers"]) or \
            len({stage[0] for stage in median.info["workers"]}) != n_stages:
        reason = _("the stages did not each run on a worker of their own (a worker was lost or replaced)")
    return BubbleMeasurement(n_stages, n_micro, None if reason else float(np.median(bubbles)), predicted, bubbles,
                             median.timeline, simulated, reason, float(np.median(spans["F"] + spans["B"])), median)
