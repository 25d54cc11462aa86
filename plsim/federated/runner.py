"""The federated round loop: a strategy decides, the executor runs the clients, the ledger and clock count.

Each round: ``strategy.configure_fit`` picks the clients and their
instructions; the simulated environment drops some out and lets the virtual
clock cut stragglers short; the remaining clients train as tasks of the
executor (:mod:`plsim.executor`: here one after the other, or on Dask
workers); ``strategy.aggregate_fit`` makes the next global model;
``strategy.evaluate`` measures it; the ``callback`` hears about it.

Each client's data is *placed* once per run (:meth:`plsim.executor.Executor.place`):
on Dask a deterministic task produces it, so if a worker dies the scheduler
recomputes it elsewhere and the run goes on with the same result. Only the
global model (placed once per round) and the small updates travel.

Sequential, one worker and many workers give identical histories: every
random choice comes from ``random_state``, the round and the client index
(:func:`plsim._random.task_seed`), never from which worker ran what.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from plsim.i18n import _
from plsim._random import check_random_state, task_seed
from plsim.executor import Run, resolve_executor
from plsim.federated.algorithms import ClientData, planned_work
from plsim.federated.client import fit_client
from plsim.federated.clock import VirtualClock
from plsim.federated.history import FederatedHistory, RoundRecord
from plsim.federated.ledger import CommunicationLedger, payload_nbytes
from plsim.federated.privacy import DPConfig
from plsim.federated.sampling import client_seed, drop_out, select_clients
from plsim.federated.strategies import FitRes, Strategy, fresh, make_strategy
from plsim.progress import Progress, check_callback, has_diverged, notify
from plsim.validation import check_int, check_real

__all__ = ["run_federated", "client_seed", "select_clients"]

# the shorthand arguments that build a strategy, with their defaults (a strategy= replaces them all)
_SHORTHANDS = dict(algorithm="fedavg", client_fraction=0.1, local_epochs=1, batch_size=None, lr=0.1, mu=0.0,
                   server_optimizer=None, dp=None, secure_aggregation=False)


def _divergence_message(round_index: int, loss: float, initial_loss: float, settings: dict) -> str:
    lr, mu = settings.get("lr", math.nan), settings.get("mu", 0.0)
    text = (f"the run diverged in round {round_index}: test loss {loss:.3g} against {initial_loss:.3g} before "
            f"training. Lower the client learning rate lr={lr:g}")
    if settings.get("algorithm") == "fedprox" and lr * mu > 2:
        text += (f"; with FedProx, lr * mu = {lr * mu:g} > 2 makes every local step overshoot the proximal "
                 "term's minimum, so keep lr * mu below 2")
    return text + ". The history holds the rounds up to this one."


# -- input checks -----------------------------------------------------------------
def _check_parts(parts: Any, n_train: int) -> list[np.ndarray]:
    if isinstance(parts, np.ndarray) or not isinstance(parts, Sequence) or len(parts) == 0:
        raise TypeError("parts must be a non-empty list of index arrays, one per client (see plsim.data.partition)")
    if len(parts) > n_train:
        raise ValueError(f"{len(parts)} clients but only {n_train} training samples; every client needs data")
    out = []
    for k, p in enumerate(parts):
        p = np.asarray(p)
        if p.ndim != 1 or p.size == 0:
            raise ValueError(f"parts[{k}] must be a non-empty 1-D index array, got shape {p.shape}")
        if not np.issubdtype(p.dtype, np.integer) or p.min() < 0 or p.max() >= n_train:
            raise ValueError(f"parts[{k}] must hold integer indices in 0..{n_train - 1}")
        out.append(p)
    return out


def _check_model_and_data(model: Any, dataset: Any) -> None:
    for attr in ("loss_and_gradient", "init_params", "n_params", "accuracy", "loss"):
        if not hasattr(model, attr):
            raise TypeError(f"model must be a plsim.models model (missing {attr!r}), got {type(model).__name__}")
    for attr in ("X_train", "y_train", "X_test", "y_test"):
        if not hasattr(dataset, attr):
            raise TypeError(f"dataset must be a plsim.data.Dataset (missing {attr!r}), got {type(dataset).__name__}")


def _strategy(strategy: Any, shorthands: dict[str, Any]) -> Strategy:
    """A fresh strategy: the one given (copied), or the one the shorthand arguments stand for."""
    if strategy is None:
        return make_strategy(**shorthands)
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be None or a plsim.federated Strategy (FedAvg(...), FedProx(...), "
                        f"DPFedAvg(...), ...), got {type(strategy).__name__}")
    changed = sorted(k for k, v in shorthands.items() if v is not _SHORTHANDS[k] and v != _SHORTHANDS[k])
    if changed:
        raise ValueError(f"strategy= is given, so {changed} must be left out: set them on the strategy "
                         "(e.g. FedAvg(client_fraction=0.2, local_epochs=5, lr=0.05))")
    return fresh(strategy)


# -- one round ------------------------------------------------------------------------
class _Federation:
    """What a run keeps between rounds: the parties' placed data, the clock, the ledger, the running totals.

    :meth:`play_round` is one round: the strategy configures it, the environment drops clients
    out and the virtual clock cuts stragglers short, the executor trains the rest, the strategy
    aggregates and evaluates, the ledger counts every payload.
    """

    def __init__(self, ex: Any, strategy: Strategy, model: Any, datas: list[ClientData], *, clock: VirtualClock,
                 dropout_rate: float, root: int, ledger: CommunicationLedger, test: tuple[Any, Any]) -> None:
        self.ex = ex
        self.strategy, self.model, self.datas, self.clock = strategy, model, datas, clock
        self.dropout_rate, self.root, self.ledger, self.test = dropout_rate, root, ledger, test
        # what one client sends up (same size plain or masked: update + weight, 8 bytes each)
        self.up_bytes = payload_nbytes({"delta": np.zeros(int(model.n_params)), "weight": 0.0})
        self.placed: list[Any] = []
        self.cum_bytes, self.cum_sim = 0, 0.0

    def place(self) -> None:
        """Every party's data placed ONCE, spread over the workers; a lost worker's share is recomputed."""
        ex = self.ex
        # the parties are spread over the workers (about one in n_workers on each), checked before any is sent
        parties = ex.place_each([{"data": d} for d in self.datas], name="party", what="the federated clients' data")
        self.model_h = ex.place(model=self.model)["model"]
        self.data_h = [group["data"] for group in parties]
        self.placed = [self.model_h, *self.data_h]

    def _plan(self, traffic: Any, instructions: list, dropped: list[int]) -> tuple[list, list, dict]:
        """The virtual clock decides who can finish and how much local work fits: ``(timings, stragglers, jobs)``."""
        timings, stragglers, jobs = [], [], {}
        for k, ins in instructions:
            traffic.send_down({"weights": ins.weights})
            if k in dropped:
                continue
            c = ins.config
            steps, sizes = planned_work(self.datas[k].n_samples, c["algorithm"], c["local_epochs"], c["batch_size"])
            timing = self.clock.time_client(k, sizes, payload_nbytes(ins.weights), self.up_bytes)
            timings.append(timing)
            if timing.straggler:
                stragglers.append(k)
            if timing.steps_done == 0:
                continue  # straggler dropped at the deadline
            jobs[k] = (ins.weights, {**c, "max_steps": None if timing.steps_done == steps else timing.steps_done})
        return timings, stragglers, dict(sorted(jobs.items()))

    def _train(self, jobs: dict[int, tuple[np.ndarray, dict]]) -> list[tuple[int, FitRes]]:
        """Run the round's client tasks; ``(client id, FitRes)`` in client order."""
        if not jobs:
            return []
        ex = self.ex
        placed: dict[int, Any] = {}  # each distinct global model goes out once, not once per client
        for weights, _ in jobs.values():
            if id(weights) not in placed:
                placed[id(weights)] = ex.place(weights=weights)["weights"]
        handles = [ex.submit(fit_client, self.model_h, self.data_h[k], placed[id(weights)], config,
                             name="plsim-fedclient") for k, (weights, config) in jobs.items()]
        try:
            return list(zip(jobs, ex.gather(handles)))
        finally:
            ex.release([*handles, *placed.values()])

    def play_round(self, t: int, w: np.ndarray) -> tuple[np.ndarray, RoundRecord]:
        """Round ``t`` from global model ``w``: the next model and the round's record."""
        t0 = time.perf_counter()
        traffic = self.ledger.new_round(t)
        instructions = self.strategy.configure_fit(t, w, list(range(len(self.datas))))
        selected = [k for k, _ in instructions]
        dropped = drop_out(selected, self.dropout_rate, t, self.root)
        timings, stragglers, jobs = self._plan(traffic, instructions, dropped)
        results = self._train(jobs)
        reporting = [k for k, _ in results]
        for _, res in results:
            traffic.send_up(res.message)
        new_w, metrics = self.strategy.aggregate_fit(t, results, [k for k in selected if k not in jobs])
        w = w if new_w is None else new_w
        for down, up in metrics.get("extra_messages", ()):
            traffic.send_down(down)
            traffic.send_up(up)
        drift, norm = _drift(results)
        sim = self.clock.round_seconds(timings, reporting) + metrics.get("extra_latencies", 0) * self.clock.latency
        traffic.simulated_seconds = sim
        self.cum_bytes += traffic.total_bytes
        self.cum_sim += sim
        evaluated = self.strategy.evaluate(t, w)  # a custom strategy may leave evaluation to the runner
        loss, measured = evaluated if evaluated is not None else _evaluate(self.model, w, *self.test)
        return w, RoundRecord(
            round=t, test_accuracy=measured["accuracy"], test_loss=loss, selected=tuple(selected),
            reporting=tuple(reporting), dropped=tuple(dropped), stragglers=tuple(stragglers),
            bytes_down=traffic.bytes_down, bytes_up=traffic.bytes_up,
            messages=traffic.messages_down + traffic.messages_up, cumulative_bytes=self.cum_bytes,
            simulated_seconds=sim, cumulative_simulated_seconds=self.cum_sim,
            wall_seconds_measured=time.perf_counter() - t0, client_drift=drift, mean_update_norm=norm,
            epsilon=metrics.get("epsilon"), unmasked=metrics.get("unmasked"),
        )


def _evaluate(model: Any, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]]:
    loss, accuracy = model.evaluate(w, X, y)
    return float(loss), {"accuracy": float(accuracy)}


def _drift(results: list[tuple[int, FitRes]]) -> tuple[float, float]:
    """Client drift and mean update norm: simulator-only (a real server never sees single updates)."""
    if not results:
        return math.nan, math.nan
    raws = [r.raw_delta for _, r in results]
    sizes = [r.n_samples for _, r in results]
    mean_raw = sum(n * r for n, r in zip(sizes, raws)) / sum(sizes)
    return (float(np.mean([np.linalg.norm(r - mean_raw) for r in raws])),
            float(np.mean([np.linalg.norm(r) for r in raws])))


# -- the loop ----------------------------------------------------------------------
def run_federated(
    model: Any,
    dataset: Any,
    parts: Sequence[np.ndarray],
    *,
    strategy: Strategy | None = None,
    algorithm: str = "fedavg",
    rounds: int = 10,
    client_fraction: float = 0.1,
    local_epochs: int = 1,
    batch_size: int | None = None,
    lr: float = 0.1,
    mu: float = 0.0,
    server_optimizer: Any = None,
    dp: DPConfig | None = None,
    secure_aggregation: bool = False,
    dropout_rate: float = 0.0,
    clock: VirtualClock | None = None,
    executor: Any = None,
    random_state: Any = None,
    callback: Callable[[Progress], Any] | None = None,
    initial_weights: np.ndarray | None = None,
) -> FederatedHistory:
    """Train ``model`` federatedly: the clients' data (``parts`` of the training split) never leave them.

    Parameters
    ----------
    model : SoftmaxRegression or MLP
        From :mod:`plsim.models`.
    dataset : plsim.data.Dataset
        Training split to distribute; the test split measures the global model.
    parts : list of index arrays
        Client ``k`` holds ``dataset.X_train[parts[k]]`` (see :func:`plsim.data.partition`).
    strategy : Strategy, optional
        The algorithm as a strategy object (:mod:`plsim.federated.strategies`:
        ``FedAvg(...)``, ``FedProx(...)``, ``DPFedAvg(FedAvg(...), dp)``, ...).
        Given, it replaces the shorthand arguments ``algorithm`` to
        ``secure_aggregation`` below (leave those out). The object itself is
        not changed: the run works on a copy.
    algorithm : {"fedsgd", "fedavg", "fedprox"}
        Shorthand for the strategy (FedSGD, FedAvg, FedProx).
    rounds : int
        Communication rounds (>= 1).
    client_fraction : float
        C in (0, 1]: share of clients per round (``max(1, round(C K))`` clients;
        with ``dp``, each client independently with probability C).
    local_epochs : int
        E >= 1 (FedAvg/FedProx).
    batch_size : int or None
        B >= 1, or None / ``math.inf`` for the whole local data set.
    lr : float
        Client learning rate (FedSGD: the gradient-descent step size).
    mu : float
        FedProx proximal coefficient (only with ``algorithm="fedprox"``).
    server_optimizer : None, "fedavgm", "fedadam" or ServerOptimizer
        How the averaged update is applied (None: plain averaging).
    dp : DPConfig, optional
        DP-FedAvg (:class:`~plsim.federated.strategies.DPFedAvg`): clip each
        update, add Gaussian noise to the sum, track epsilon.
    secure_aggregation : bool
        :class:`~plsim.federated.strategies.SecAgg`: clients send pairwise-masked
        fixed-point vectors; the server only learns the sum.
    dropout_rate : float
        Probability a selected client drops out during the round, in [0, 1).
    clock : VirtualClock, optional
        Simulated speeds, bandwidths and deadline; default ``VirtualClock()``
        (all clients alike, no deadline), so simulated time is always reported.
    executor : None, "auto", dask.distributed.Client or Executor
        Where the client updates run (:func:`plsim.executor.resolve_executor`):
        None runs them here, one after the other; a Dask client runs each
        round's clients as parallel tasks. The history is the same.
    random_state : int, RandomState, Generator or None
        Root of the seed tree: initial model, selection, drop-outs, batches, noise, masks.
    callback : callable, optional
        Called here after each round with a :class:`plsim.progress.Progress`
        (``unit="round"``, ``record`` the :class:`RoundRecord`); a truthy return
        stops the run (``history.stopped_reason == "stopped"``).
    initial_weights : ndarray, optional
        Start from these parameters instead of ``model.init_params`` (seed stream ``"init"``).

    Returns
    -------
    FederatedHistory
        A KeyboardInterrupt (the kernel's stop button, or raised by ``callback``)
        cancels the round in progress and returns the rounds that finished,
        flagged ``partial`` with ``stopped_reason="interrupted"`` and a warning;
        the cluster stays usable. A diverging run stops with a RuntimeWarning
        (``diverged_round``).
    """
    shorthands = dict(algorithm=algorithm, client_fraction=client_fraction, local_epochs=local_epochs,
                      batch_size=batch_size, lr=lr, mu=mu, server_optimizer=server_optimizer, dp=dp,
                      secure_aggregation=secure_aggregation)
    strategy = _strategy(strategy, shorthands)
    rounds = check_int("rounds", rounds, 1)
    dropout_rate = check_real("dropout_rate", dropout_rate, minimum=0, maximum=1, high_open=True)
    if clock is not None and not isinstance(clock, VirtualClock):
        raise TypeError(f"clock must be None or a VirtualClock, got {type(clock).__name__}")
    clock = VirtualClock() if clock is None else clock
    root = check_random_state(random_state)
    callback = check_callback(callback)
    _check_model_and_data(model, dataset)
    parts = _check_parts(parts, len(dataset.y_train))
    if initial_weights is None:
        w = model.init_params(task_seed(root, "init"))
    else:
        w = np.array(initial_weights, dtype=np.float64, copy=True)
        if w.shape != (model.n_params,):
            raise ValueError(f"initial_weights has shape {w.shape}; the model needs ({model.n_params},)")
    ex = resolve_executor(executor)

    K = len(parts)
    datas = [ClientData(k, np.ascontiguousarray(dataset.X_train[p]), np.ascontiguousarray(dataset.y_train[p]))
             for k, p in enumerate(parts)]
    X_test, y_test = dataset.X_test, dataset.y_test
    strategy.start(root, K, evaluate_fn=lambda weights: model.evaluate(weights, X_test, y_test))
    settings = strategy.settings()
    history = FederatedHistory(
        ledger=CommunicationLedger(),
        settings=dict(settings, rounds=rounds, dp=settings.get("dp"),
                      secure_aggregation=settings.get("secure_aggregation", False), dropout_rate=dropout_rate,
                      clock=clock, n_clients=K, random_state=root, parallel=ex.concurrent,
                      strategy=strategy.name, executor=ex.describe()),
    )
    history.initial_loss, history.initial_accuracy = model.evaluate(w, X_test, y_test)
    history.weights = w
    fed = _Federation(ex, strategy, model, datas, clock=clock, dropout_rate=dropout_rate, root=root,
                      ledger=history.ledger, test=(X_test, y_test))
    done = (0, w)
    try:
        with Run("run_federated", ex) as run:
            fed.place()
            for t in range(1, rounds + 1):
                w, record = fed.play_round(t, w)
                history.records.append(record)
                history.weights = w
                done = (t, w)  # one assignment: an interrupt cannot separate a round from its model
                # Diverged: the model is no longer finite, or its test loss exploded far past the untrained model's.
                if not np.all(np.isfinite(w)) or has_diverged(record.test_loss, history.initial_loss):
                    history.diverged_round, history.stopped_reason = t, "diverged"
                    warnings.warn(_divergence_message(t, record.test_loss, history.initial_loss, settings),
                                  RuntimeWarning, stacklevel=2)
                    break
                if notify(callback, Progress(t, rounds, "round", loss=record.test_loss, record=record,
                                             message=_("round {t} of {rounds}: test accuracy {accuracy:.1%}").format(
                                                 t=t, rounds=rounds, accuracy=record.test_accuracy))):
                    history.stopped_early = t < rounds
                    history.stopped_reason = "stopped" if t < rounds else None
                    break
    finally:
        ex.release(fed.placed)  # the parties' data and the model leave the workers
    if run.interrupted is not None:
        # The round in flight is dropped (its tasks were cancelled); the rounds that finished are returned
        # with the model of the last one (``w`` when interrupted just after its record).
        history.weights = done[1] if len(history.records) == done[0] else w
        del history.ledger.rounds[len(history.records):]  # the traffic of the round in flight is not counted
        if len(history.records) < rounds:
            history.stopped_reason = run.reason
            run.warn_partial(
                f"run_federated was interrupted after {len(history.records)} of {rounds} rounds: the round in "
                "progress was cancelled and the history holds the rounds that finished (history.partial is True). "
                "The cluster is still usable.", stacklevel=2)
    return history
