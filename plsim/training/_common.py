"""Pieces every distributed-training loop shares: input checks, shards and their placement, batch sampling,
progress events, results.

Taught in ``notebooks/04_distributed_training.ipynb``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plsim.i18n import N_, _
from plsim._random import seed_int, task_rng, task_seed
from plsim.executor import Executor, Run
from plsim.progress import DIVERGED_LOSS_FACTOR, Progress, has_diverged, notify
from plsim.validation import check_positive_int, check_random_state, check_real

__all__ = ["TrainingHistory", "shard_indices", "check_shards", "local_batch", "DIVERGED_LOSS_FACTOR"]


@dataclass
class TrainingHistory:
    """What a training run recorded, one entry per applied update (or averaging round).

    Attributes
    ----------
    method : str
        ``"sync"``, ``"large_batch"``, ``"async"``, ``"ssp"``, ``"local_sgd"``.
    steps : list of int
        Number of updates applied to the model so far.
    loss : list of float
        Training loss after / at that update (see ``info["loss_kind"]``).
    time : list of float
        Seconds since the start; ``time_kind`` says whether they are
        ``"measured"`` (wall clock) or ``"simulated"`` (virtual clock).
    staleness : list of int
        For asynchronous runs: updates applied between a worker's pull and its push.
    clock_gap : list of int
        For asynchronous runs, one per applied gradient: how many more gradients its
        worker had pushed than the slowest worker when it pulled the parameters. This is
        the unit of an SSP ``staleness_bound`` (never above it); ``staleness`` counts
        updates instead, which with ``n`` workers may reach ``(n - 1)(2 s + 1)``.
    bytes_sent : list of int
        Bytes exchanged for that update, counted from the payloads.
    params : ndarray
        Final parameters.
    info : dict
        Anything else worth knowing (workers, batch sizes, clock gaps...).
    stopped_reason : str or None
        Why the run ended before the updates asked for: ``"interrupted"``
        (KeyboardInterrupt: the outstanding tasks were cancelled and what had
        finished is returned, with a warning), ``"stopped"`` (the callback, e.g.
        a widget's Stop, asked to stop), ``"diverged"`` (see ``diverged_step``);
        None when the run did everything it was asked.
    diverged_step : int or None
        The update count whose loss was not finite or above
        :data:`DIVERGED_LOSS_FACTOR` times the initial loss; the run stopped
        there with a RuntimeWarning.
    """

    method: str
    time_kind: str
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    staleness: list[int] = field(default_factory=list)
    clock_gap: list[int] = field(default_factory=list)
    bytes_sent: list[int] = field(default_factory=list)
    params: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    stopped_reason: str | None = None
    diverged_step: int | None = None

    @property
    def partial(self) -> bool:
        """True when the run ended early (interrupted, stopped or diverged): it holds only what finished."""
        return self.stopped_reason is not None

    @property
    def total_bytes(self) -> int:
        return int(sum(self.bytes_sent))

    def steps_to_loss(self, target: float) -> int | None:
        """First update count whose loss is at or below ``target`` (None if never)."""
        for s, value in zip(self.steps, self.loss):
            if value <= target:
                return s
        return None

    def time_to_loss(self, target: float) -> float | None:
        """Seconds (of ``time_kind``) until the loss first reaches ``target`` (None if never)."""
        for t, value in zip(self.time, self.loss):
            if value <= target:
                return t
        return None


def check_lr(lr: Any) -> float:
    """A positive finite learning rate (plsim.validation.check_real with the bound)."""
    return check_real("lr", lr, minimum=0, low_open=True)


def check_batch(batch_size: Any) -> int | None:
    """``None`` (whole shard) or a positive int."""
    return check_positive_int("batch_size", batch_size, allow_none=True)


def check_data(model: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 X and integer y (copies are never modified in place)."""
    if not hasattr(model, "loss_and_gradient") or not hasattr(model, "n_params"):
        raise TypeError(f"model must be a plsim.models model (SoftmaxRegression or MLP), got {type(model).__name__}")
    X = model.check_X(X)
    y = model.check_y(y, X.shape[0])
    return X, y


def check_w0(model: Any, w0: Any, root: int) -> np.ndarray:
    """A copy of ``w0`` (the caller's vector is never changed), or initial parameters from stream ``"init"``."""
    if w0 is None:
        return model.init_params(random_state=seed_int(task_seed(root, "init")))
    return np.array(model.check_params(w0), dtype=np.float64)


def shard_indices(n_samples: int, n_shards: int, random_state: Any = 0) -> list[np.ndarray]:
    """A random permutation of ``0..n_samples-1`` (seed stream ``"shards"``) cut into ``n_shards`` near-equal shards."""
    n_shards = check_positive_int("n_workers", n_shards)
    if n_shards > n_samples:
        raise ValueError(f"n_workers={n_shards} exceeds the {n_samples} training samples; each worker needs one")
    perm = task_rng(check_random_state(random_state), "shards").permutation(n_samples)
    return [np.sort(part) for part in np.array_split(perm, n_shards)]


def check_shards(shards: Any, n_samples: int) -> list[np.ndarray]:
    """One non-empty array of distinct row indices in ``[0, n_samples)`` per replica (copies, as int64)."""
    if isinstance(shards, np.ndarray) or not isinstance(shards, Sequence) or not shards:
        raise TypeError("shards must be a non-empty list of index arrays, one per replica "
                        "(e.g. plsim.data.partition_shards(y, n_replicas))")
    out = []
    for i, s in enumerate(shards):
        s = np.asarray(s)
        if s.ndim != 1 or s.size == 0 or not np.issubdtype(s.dtype, np.integer):
            raise ValueError(f"shards[{i}] must be a non-empty 1-d array of integer row indices")
        if s.min() < 0 or s.max() >= n_samples or np.unique(s).size != s.size:
            raise ValueError(f"shards[{i}] must hold distinct row indices in [0, {n_samples})")
        out.append(s.astype(np.int64))
    return out


def local_batch(shard_size: int, batch_size: int | None, random_state: int, step: int, worker: int) -> np.ndarray:
    """Row positions (into a worker's shard) of its mini-batch at ``step``.

    Drawn from seed stream ``("batch", step, worker)`` of the root ``random_state`` only,
    so the batch is the same whichever process computes it, and whenever (a task re-run
    after its worker died draws it again). ``batch_size=None`` (or >= the shard) means the whole shard.
    """
    if batch_size is None or batch_size >= shard_size:
        return np.arange(shard_size)
    rng = task_rng(random_state, "batch", step, worker)
    return np.sort(rng.choice(shard_size, size=batch_size, replace=False))


def split_batch(batch_size: int | None, n_workers: int) -> list[int | None]:
    """Per-worker batch sizes for a global ``batch_size`` (``None``: whole shards)."""
    if batch_size is None:
        return [None] * n_workers
    batch_size = check_positive_int("batch_size", batch_size)
    if batch_size < n_workers:
        raise ValueError(f"batch_size={batch_size} is smaller than n_workers={n_workers}; every worker needs >= 1 row")
    return [len(part) for part in np.array_split(np.arange(batch_size), n_workers)]


def default_replicas(ex: Executor) -> int:
    """Replicas when the caller gives none: the cluster's workers, 2 for a sequential run."""
    return ex.n_workers if ex.on_cluster else 2


SHARDS = "the training data X, y (one shard per replica)"
"""What the shards are called when they do not fit a worker's memory."""


def shard_groups(X: np.ndarray, y: np.ndarray, shards: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Each replica's rows, one group each, for :meth:`plsim.executor.Executor.place_each`.

    Placed once, with lineage (recomputed elsewhere if the worker holding them dies), and
    checked against the workers' memory before anything is sent. Tasks are not pinned (see
    :mod:`plsim.executor.core`): Dask runs a replica's step where its shard is, its largest input.
    """
    return [{"X": X[s], "y": y[s]} for s in shards]


def report(callback: Any, done: int, total: int, unit: str, loss: float) -> bool:
    """Send ``Progress(done, total, unit, loss)`` to the callback; True when it asks the run to stop."""
    return notify(callback, Progress(int(done), int(total), unit, loss=float(loss),
                                     message=_(_UNIT_MESSAGES[unit]).format(done=done, total=total, loss=loss)
                                     if unit in _UNIT_MESSAGES else f"{unit} {done} of {total}: loss {loss:.4g}"))


_UNIT_MESSAGES = {"update": N_("update {done} of {total}: loss {loss:.4g}"),
                  "round": N_("round {done} of {total}: loss {loss:.4g}"),
                  "step": N_("step {done} of {total}: loss {loss:.4g}")}


# -- ending a run early: divergence, interruption --------------------------------------
diverged = has_diverged  # the same rule as the federated runner's (plsim.progress)


def stop_diverged(hist: TrainingHistory, function: str, step: int, lr: float) -> None:
    """Flag ``hist`` as diverged at ``step`` (its last recorded loss); warn, naming the step and the learning rate."""
    hist.diverged_step = int(step)
    hist.stopped_reason = "diverged"
    loss, initial = hist.loss[-1], hist.loss[0]
    warnings.warn(
        f"{function} diverged at step {step}: loss {loss:.3g} against {initial:.3g} at the start "
        f"(more than {DIVERGED_LOSS_FACTOR:g} times, or not finite), so the run stopped there. The learning rate "
        f"lr={lr:g} is too large for this model and data: lower it (e.g. lr={lr / 10:g}). For a smooth loss, "
        "gradient descent is only stable while lr < 2 / L, L the largest curvature (eigenvalue of the Hessian). "
        "The history holds the steps up to this one (history.diverged_step).",
        RuntimeWarning, stacklevel=3)


def trim(hist: TrainingHistory, per_update: bool = False) -> None:
    """Cut the lists of an interrupted run to the entries it completed.

    ``steps``, ``loss``, ``time`` (and ``bytes_sent`` unless ``per_update``) have one entry
    per record; with ``per_update`` (asynchronous runs) ``staleness`` and ``bytes_sent`` have
    one per applied update (and so has ``clock_gap``).
    """
    n = min(len(hist.steps), len(hist.loss), len(hist.time))
    del hist.steps[n:], hist.loss[n:], hist.time[n:]
    if per_update:
        m = min(len(hist.staleness), len(hist.bytes_sent))
        del hist.staleness[m:], hist.bytes_sent[m:], hist.clock_gap[m:]
    else:
        del hist.bytes_sent[n:]


def stop_interrupted(run: Run, hist: TrainingHistory, done: int, asked: int, per_update: bool = False) -> None:
    """Flag ``hist`` as cut short by the interrupt that ended ``run`` (its tasks already cancelled) and warn."""
    trim(hist, per_update)
    if done >= asked:
        return  # everything had finished: nothing is missing
    hist.stopped_reason = run.reason
    run.warn_partial(
        f"{run.what} was interrupted after {done} of {asked} steps: its outstanding tasks were cancelled and "
        "the history holds the steps that finished (history.partial is True). The cluster is still usable.",
        stacklevel=3)
