"""Demo sizes and hyperparameters of the federated-learning notebook and widget, in one place.

``PLSIM_SMALL=1`` (see :func:`plsim.config.small_mode`) shrinks them for CI and Binder.
Also the protocol of the fair FedSGD-versus-FedAvg comparison (:class:`FairComparison`,
:func:`tune_lr`, :func:`start_comparison`): every algorithm runs at its OWN best client
learning rate from a small grid, so the comparison is about the algorithms, not the step
sizes. ``benchmarks/bench_federated.py`` uses the same protocol on a larger federation;
:mod:`plsim.federated.lessons` reads the course's figures off the demo's comparison.
Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from plsim.config import small_mode
from plsim.validation import check_int

__all__ = ["FederatedDemo", "FairComparison", "ProxHeterogeneity", "LrTuning", "Comparison", "PARTITIONS",
           "demo_settings", "bench_comparison", "comparison_task", "fedavg_label", "tune_lr", "start_comparison",
           "compare_algorithms"]


@dataclass(frozen=True)
class FairComparison:
    """FedSGD versus FedAvg, each at its own tuned learning rate (McMahan et al. 2017, Table 2's protocol).

    A generated 10-class task (``make_classification``, 20 features) split over
    ``n_clients`` clients of ``samples_per_client`` each, an MLP, ``C`` of the clients
    per round. Rounds (and bytes) to ``target`` test accuracy are counted for every
    learning rate of each algorithm's grid; the best of the grid is that algorithm's
    tuned rate. A run stops at the target, at its round cap, or once it has taken
    ``patience`` times the best round count found so far for that algorithm (it can
    no longer be the best; it is reported as "not reached by" that many rounds).

    The same protocol on both partitions and for both algorithms; only the grids and
    caps differ where the work differs. On IID clients FedSGD needs many cheap rounds
    (cap ``fedsgd_max_rounds``), FedAvg few costly ones (``fedavg_max_rounds``). On the
    label shards both get the same cap, ``shards_max_rounds``, large enough for the
    faster of the two to reach the target, so a method that does not reach it there is
    slower, not merely cut short; FedAvg's shard grid ``shards_fedavg_lrs`` sits lower,
    where local steps drift less.
    """

    n_clients: int = 20
    samples_per_client: int = 300   # B=10 -> 30 local steps per epoch: FedAvg does much more per round
    n_features: int = 20
    hidden: tuple[int, ...] = (32,)  # a step costs the same at 32 or 64 units; the test-set pass costs half
    client_fraction: float = 0.25   # 5 clients per round
    batch_size: int = 10
    local_epochs: tuple[int, ...] = (5, 20)
    shards_local_epochs: tuple[int, ...] = (5,)  # on non-IID shards FedAvg does not reach the target: E=20 there
                                                 # would cost ~4x the compute; the benchmark runs (5, 20)
    # Below the task's ceiling (FedSGD ~0.88, FedAvg ~0.87 at best): at 0.85 both crawl over the last
    # points and the rounds say more about the ceiling than about the algorithms.
    target: float = 0.83
    fedsgd_lrs: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 8.0)
    fedavg_lrs: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.8)
    fedsgd_max_rounds: int = 200
    fedavg_max_rounds: int = 25
    shards_fedavg_lrs: tuple[float, ...] = (0.03, 0.1, 0.3)
    shards_max_rounds: int = 100
    patience: float = 1.5
    random_state: int = 0

    def algorithms(self, partition: str = "IID") -> dict[str, tuple[dict, tuple[float, ...], int]]:
        """``{label: (run_federated keyword arguments, lr grid, max rounds)}`` on a partition, FedSGD first."""
        iid = partition == "IID"
        out = {"FedSGD": (dict(algorithm="fedsgd"), self.fedsgd_lrs,
                          self.fedsgd_max_rounds if iid else self.shards_max_rounds)}
        for e in (self.local_epochs if iid else self.shards_local_epochs):
            out[fedavg_label(e, self.batch_size)] = (
                dict(algorithm="fedavg", local_epochs=e, batch_size=self.batch_size),
                self.fedavg_lrs if iid else self.shards_fedavg_lrs,
                self.fedavg_max_rounds if iid else self.shards_max_rounds)
        return out


def fedavg_label(local_epochs: int, batch_size: int) -> str:
    """The label of FedAvg with ``E`` local epochs of batch ``B`` in comparisons, tables and figures."""
    return f"FedAvg E={local_epochs} B={batch_size}"


@dataclass(frozen=True)
class ProxHeterogeneity:
    """FedProx's own setting (Li et al. 2020): non-IID clients doing different amounts of local work.

    Client speeds vary log-normally (``speed_sigma``); with a round ``deadline`` the
    slow clients send the *partial* work they managed instead of being dropped, so
    some clients run all ``local_epochs`` and others a few steps. FedAvg with the
    same partial work (μ = 0) against FedProx with each μ in ``mus``.
    """

    rounds: int = 20
    local_epochs: int = 20          # on digits (~45 images per client): 100 local steps of B=10 when complete
    lr: float = 0.05
    mus: tuple[float, ...] = (0.1, 1.0)
    compute_speed: float = 1000.0   # mean samples per second (simulated); full work is ~900 samples
    speed_sigma: float = 1.0        # log-normal spread: some clients several times slower than others
    deadline: float = 1.0           # simulated seconds per round
    random_state: int = 1


@dataclass(frozen=True)
class FederatedDemo:
    """Settings the notebook and the playground start from."""

    dataset: str = "digits"
    n_clients: int = 30           # 1347 digits training images -> ~45 per client
    hidden: tuple[int, ...] = (32,)
    rounds: int = 20
    client_fraction: float = 0.2
    local_epochs: int = 5
    batch_size: int = 10
    lr: float = 0.05              # FedAvg client learning rate on digits
    alpha: float = 0.1            # Dirichlet concentration for the non-IID demos
    clip: float = 1.0             # DP-FedAvg
    delta: float = 1e-3
    random_state: int = 0
    compare: FairComparison = field(default_factory=FairComparison)
    prox: ProxHeterogeneity = field(default_factory=ProxHeterogeneity)


def demo_settings(small: bool | None = None) -> FederatedDemo:
    """The demo settings; ``small`` (default :func:`plsim.config.small_mode`) shrinks them (fewer rounds, grids).

    The small comparison keeps the three rates around each algorithm's IID optimum, so
    the tuned rates and their round counts are those of the full grid, and caps the
    shard runs at 80 rounds (FedSGD gets there in 56; FedAvg's three shard runs to the
    cap are most of the comparison's work).
    """
    cfg = FederatedDemo()
    if small_mode() if small is None else small:
        cfg = replace(cfg, rounds=10,
                      compare=replace(cfg.compare, fedsgd_lrs=(2.0, 3.0, 5.0), fedavg_lrs=(0.2, 0.5, 0.8),
                                      shards_max_rounds=80),
                      prox=replace(cfg.prox, rounds=15))
    return cfg


def bench_comparison(quick: bool = False) -> FairComparison:
    """The benchmark's comparison: McMahan et al.'s shape, 100 clients x 300 samples, C = 0.1, E = 5 and 20 everywhere.

    The demo's protocol, target and grids (:class:`FairComparison`) on a five times larger federation.
    """
    cfg = FairComparison(n_clients=100, client_fraction=0.1, shards_local_epochs=(5, 20), fedsgd_max_rounds=300,
                         fedavg_max_rounds=60, shards_max_rounds=200)
    if quick:
        cfg = replace(cfg, fedsgd_lrs=(3.0,), fedavg_lrs=(0.5,), shards_fedavg_lrs=(0.1,), fedsgd_max_rounds=150,
                      fedavg_max_rounds=40, shards_max_rounds=150)
    return cfg


def comparison_task(cfg: FairComparison) -> tuple[Any, Any, dict[str, list[np.ndarray]]]:
    """``(dataset, model, {"IID": parts, "2 shards per client": parts})`` of a comparison."""
    from plsim import data, models

    n_train = cfg.n_clients * cfg.samples_per_client
    n_samples = int(math.ceil(n_train / 0.75))  # 25 % held out for testing
    ds = data.load_dataset("classification", n_samples=n_samples, n_features=cfg.n_features, n_classes=10,
                           random_state=cfg.random_state)
    model = models.MLP(ds.n_features, cfg.hidden, ds.n_classes)
    parts = {"IID": data.partition_iid(ds.y_train, cfg.n_clients),
             "2 shards per client": data.partition_shards(ds.y_train, cfg.n_clients, 2)}
    return ds, model, parts


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
            patience: float = 2.0, label: str = "", executor: Any = None, random_state: Any = 0,
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


PARTITIONS = ("IID", "2 shards per client")


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
