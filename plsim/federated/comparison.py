"""The fair FedSGD-versus-FedAvg comparison, run: every algorithm at its own best learning rate.

:func:`tune_lr` sweeps one algorithm's grid of client learning rates, stopping each run
at the target accuracy; :func:`start_comparison` / :func:`compare_algorithms` run every
algorithm's tuning on every partition, one task each, through the executor. The
settings (grids, caps, target, the federation) are :class:`plsim.federated.demo.FairComparison`.
Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from plsim.federated.demo import PARTITIONS, FairComparison, comparison_task
from plsim.validation import check_int, check_random_state

__all__ = ["LrTuning", "Comparison", "tune_lr", "start_comparison", "compare_algorithms"]


@dataclass
class LrTuning:
    """Rounds to the target for each learning rate of one algorithm's grid; the best is the tuned rate."""

    label: str
    algorithm: str
    target: float
    lrs: list[float]
    rounds: list[int | None]        # rounds to target (None: not reached)
    stopped_at: list[int]           # rounds run (the cap when not reached)
    diverged: list[bool]
    histories: dict[float, Any]
    max_rounds: int | None = None   # the round cap every rate ran under (before the patience rule)

    @property
    def cap(self) -> int:
        """The most rounds a rate of this grid could run: ``max_rounds`` (or, unset, the longest run)."""
        return int(self.max_rounds) if self.max_rounds is not None else max(self.stopped_at, default=0)

    @property
    def best_lr(self) -> float | None:
        reached = [(r, lr) for lr, r in zip(self.lrs, self.rounds) if r is not None]
        return min(reached)[1] if reached else None

    @property
    def best(self) -> Any:
        """The history of the tuned rate (or of the most accurate run when none reached the target)."""
        lr = self.best_lr
        if lr is None:
            lr = max(self.histories, key=lambda v: self.histories[v].final_accuracy)
        return self.histories[lr]

    @property
    def best_rounds(self) -> int | None:
        """Rounds to the target at the tuned rate (None: no rate reached it)."""
        reached = [r for r in self.rounds if r is not None]
        return min(reached) if reached else None

    @property
    def best_bytes(self) -> int | None:
        return None if self.best_lr is None else self.best.bytes_to(self.target)


def tune_lr(model: Any, dataset: Any, parts: Any, lrs: Any, *, target: float, max_rounds: int,
            patience: float = 2.0, label: str = "", executor: Any = None, random_state: Any = None,
            **kwargs: Any) -> LrTuning:
    """Run :func:`plsim.federated.run_federated` at each learning rate of ``lrs``, stopping at ``target``.

    A run stops when it reaches ``target`` test accuracy, after ``max_rounds``, or
    once it has taken ``patience`` x the fewest rounds found so far (it cannot be
    the best any more). Diverged runs (non-finite weights) are marked and never best.
    ``kwargs`` go to ``run_federated`` (algorithm, client_fraction, local_epochs, ...);
    ``executor`` is resolved once (:func:`plsim.executor.resolve_executor`) for the whole sweep.
    A KeyboardInterrupt ends the whole sweep (it is raised again once the run in
    progress has returned its partial history), not just the current run.
    """
    from plsim.executor import resolve_executor
    from plsim.federated.runner import run_federated

    if not lrs:
        raise ValueError("lrs is empty: give at least one learning rate")
    max_rounds = check_int("max_rounds", max_rounds, 1)
    if not 0 < target <= 1:
        raise ValueError(f"target={target!r} must be a test accuracy in (0, 1]")
    if patience < 1:
        raise ValueError(f"patience={patience!r} must be >= 1")
    executor = resolve_executor(executor)
    random_state = check_random_state(random_state)  # one root for every rate: they differ in the rate only
    out = LrTuning(label, kwargs.get("algorithm", "fedavg"), float(target), [], [], [], [], {}, int(max_rounds))
    best = None
    for lr in lrs:
        cap = max_rounds if best is None else min(max_rounds, max(1, int(math.ceil(patience * best))))
        # A too-large lr overflows or diverges: reported in the tuning, not warned about.
        with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="the run diverged", category=RuntimeWarning)
            h = run_federated(model, dataset, parts, rounds=cap, lr=float(lr), executor=executor,
                              random_state=random_state, callback=lambda event: _reached(event.record, target),
                              **kwargs)
        if h.stopped_reason == "interrupted":  # the user's interrupt ends the whole sweep, not one run of it
            raise KeyboardInterrupt(f"tune_lr interrupted at lr={float(lr):g}, after {len(h)} rounds of that run")
        diverged = h.diverged_round is not None or h.weights is None or not np.all(np.isfinite(h.weights))
        reached = None if diverged else h.rounds_to(target)
        out.lrs.append(float(lr))
        out.rounds.append(reached)
        out.stopped_at.append(len(h))
        out.diverged.append(diverged)
        out.histories[float(lr)] = h
        if reached is not None and (best is None or reached < best):
            best = reached
    return out


def _reached(record: Any, target: float) -> bool:
    """Stop a tuning run: the target accuracy is reached, or the loss is no longer finite."""
    return record.test_accuracy >= target or not np.isfinite(record.test_loss)


def _tune_task(model: Any, dataset: Any, parts: Any, spec: dict[str, Any]) -> LrTuning:
    """One algorithm's whole tuning as one task: its rates one after another, each run with ``executor=None``."""
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    spec = dict(spec)
    # One BLAS thread, as on a Dask worker: on these small matrices two threads fighting over them are ~10x
    # slower (a pass over the 2000 test samples: 2.9 ms on one, 28 ms on two, measured here).
    with threadpool_limits(1):
        return tune_lr(model, dataset, parts, spec.pop("lrs"), **spec)


def _work(cfg: FairComparison, kw: dict, lrs: tuple, max_rounds: int) -> int:
    """Local steps a tuning would take with no early stop: to start the longest tunings first."""
    if kw["algorithm"] == "fedsgd":
        return len(lrs) * max_rounds
    steps = kw["local_epochs"] * math.ceil(cfg.samples_per_client / kw["batch_size"])
    return len(lrs) * max_rounds * steps


class Comparison:
    """The tunings of a :class:`FairComparison`, running as tasks: one per (partition, algorithm).

    Made by :func:`start_comparison`; :meth:`partition` waits for one partition's
    tunings, :meth:`results` for all. Each task runs one algorithm's whole grid
    (:func:`tune_lr` with ``executor=None``), so the rounds, bytes and tuned rates
    are those of running the comparison here, one rate after the other.
    """

    def __init__(self, cfg: FairComparison, executor: Any, handles: dict[tuple[str, str], Any],
                 placed: list[Any]) -> None:
        self.cfg, self._ex, self._handles, self._placed = cfg, executor, handles, placed
        self._done: dict[str, dict[str, LrTuning]] = {}

    @property
    def partitions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for p, _ in self._handles))

    def partition(self, name: str) -> dict[str, LrTuning]:
        """``{algorithm label: LrTuning}`` on partition ``name`` (waits for its tunings), FedSGD first."""
        if name not in self.partitions:
            raise ValueError(f"partition={name!r} is not in this comparison; it has {list(self.partitions)}")
        if name not in self._done:
            labels = [label for p, label in self._handles if p == name]
            try:
                done = self._ex.gather([self._handles[name, label] for label in labels])
            except KeyboardInterrupt:  # the interrupt button ends the whole comparison, not just this wait
                self.cancel()
                raise
            self._done[name] = dict(zip(labels, done))
            self._ex.release([self._handles[name, label] for label in labels])
        return dict(self._done[name])

    def results(self) -> dict[str, dict[str, LrTuning]]:
        """``{partition: {algorithm label: LrTuning}}``: waits for every tuning, then lets the data go."""
        out = {p: self.partition(p) for p in self.partitions}
        self._ex.release(self._placed)
        return out

    def cancel(self) -> None:
        """Stop the tunings still running (their results are lost) and let the data go."""
        self._ex.cancel(list(self._handles.values()))
        self._ex.release(self._placed)


def start_comparison(cfg: FairComparison, executor: Any = None, *, partitions: tuple[str, ...] = PARTITIONS,
                     task: Any = None) -> Comparison:
    """Start every algorithm's tuning on every partition: one task each, the data placed once.

    Parameters
    ----------
    cfg : FairComparison
        Grids, caps, target and the task (``demo_settings().compare`` in the notebook).
    executor : None, dask.distributed.Client or Executor
        Where the tunings run (:func:`plsim.executor.resolve_executor`): None runs them
        here, one after the other, before this returns; on a Dask cluster each is one
        task, the most work first, so the workers share them out.
    partitions : tuple of str
        Out of ``"IID"`` and ``"2 shards per client"``.
    task : tuple, optional
        ``comparison_task(cfg)``, if already made.

    Returns
    -------
    Comparison
        Results are the same whatever the executor and the number of workers.
        Taught in ``notebooks/03_federated_learning.ipynb``.
    """
    from plsim.executor import resolve_executor

    if not isinstance(cfg, FairComparison):
        raise TypeError(f"cfg must be a FairComparison (e.g. demo_settings().compare), got {type(cfg).__name__}")
    if isinstance(partitions, str) or not isinstance(partitions, (tuple, list)):
        raise TypeError(f"partitions={partitions!r} must be a tuple of partition names out of {PARTITIONS}")
    if not partitions or any(p not in PARTITIONS for p in partitions):
        raise ValueError(f"partitions={partitions!r}: give a non-empty tuple out of {PARTITIONS}")
    ex = resolve_executor(executor)
    ds, model, parts = comparison_task(cfg) if task is None else task
    placed = ex.place(dataset=ds)  # to the workers once; each tuning task refers to it
    jobs = [(p, label, kw, lrs, cap) for p in partitions for label, (kw, lrs, cap) in cfg.algorithms(p).items()]
    handles = {}
    for p, label, kw, lrs, cap in sorted(jobs, key=lambda j: -_work(cfg, *j[2:])):
        spec = dict(lrs=lrs, target=cfg.target, max_rounds=cap, patience=cfg.patience, label=label,
                    client_fraction=cfg.client_fraction, random_state=cfg.random_state, **kw)
        handles[p, label] = ex.submit(_tune_task, model, placed["dataset"], parts[p], spec, name="plsim-tune-lr")
    ordered = {(p, label): handles[p, label] for p, label, *_ in jobs}  # reading order: partitions, FedSGD first
    return Comparison(cfg, ex, ordered, list(placed.values()))


def compare_algorithms(cfg: FairComparison, *, executor: Any = None, partitions: tuple[str, ...] = PARTITIONS,
                       task: Any = None) -> dict[str, dict[str, LrTuning]]:
    """``{partition: {algorithm label: LrTuning}}``: every algorithm tuned on every partition.

    :func:`start_comparison` and waiting for all of it: each tuning one task on a Dask cluster.
    """
    return start_comparison(cfg, executor, partitions=partitions, task=task).results()
