"""The federated round loop: select clients, train locally (on Dask workers), aggregate.

Orchestration only; what a client computes is in :mod:`plsim.federated.algorithms`.

* With ``client=None`` every client update runs here, one after the other.
* With a :class:`dask.distributed.Client`, each federated client's data is
  placed on one worker ONCE (``client.scatter``, round-robin over the workers)
  and every round's client updates run there as parallel tasks that refer to
  that data by future; only the global model (scattered once per round) and
  the small updates travel.

Both give identical histories: every random choice is seeded from
``random_state`` and the round / client index (``numpy.random.SeedSequence``
spawn keys), never from which worker ran what.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from plsim.validation import check_int
from plsim.cluster import cancel_on_interrupt, check_data_fits, memory_guard

from plsim.federated import secagg
from plsim.validation import check_real as _real
from plsim.federated.algorithms import (
    ALGORITHMS,
    ClientData,
    local_update,
    make_server_optimizer,
    planned_work,
)
from plsim.federated.clock import VirtualClock
from plsim.federated.history import FederatedHistory, RoundRecord
from plsim.federated.ledger import CommunicationLedger, payload_nbytes
from plsim.federated.privacy import DPConfig, PrivacyAccountant, clip_update, gaussian_noise
from plsim.stopping import PartialResultWarning, has_diverged

__all__ = ["run_federated", "client_seed", "select_clients"]

# spawn-key tags: each random stream of a run has its own branch of the seed tree
_SERVER, _CLIENT, _NOISE, _INIT = 0, 1, 2, 4


def client_seed(random_state: int, round_index: int, client_id: int) -> np.random.SeedSequence:
    """Seed of client ``client_id``'s local work in round ``round_index`` (1-based)."""
    return np.random.SeedSequence(int(random_state), spawn_key=(_CLIENT, int(round_index), int(client_id)))


def select_clients(n_clients: int, client_fraction: float, round_index: int, random_state: int,
                   *, poisson: bool = False, dropout_rate: float = 0.0) -> tuple[list[int], list[int]]:
    """``(selected, dropped)`` client ids of a round.

    Without ``poisson``: ``max(1, round(C * K))`` clients drawn without
    replacement (McMahan et al. 2017). With ``poisson`` (DP-FedAvg): each
    client independently with probability C. Each selected client then drops
    out with probability ``dropout_rate``.
    """
    n_clients = check_int("n_clients", n_clients, 1)
    client_fraction = _real("client_fraction", client_fraction, minimum=0, maximum=1, low_open=True)
    dropout_rate = _real("dropout_rate", dropout_rate, minimum=0, maximum=1, high_open=True)
    rng = np.random.default_rng(np.random.SeedSequence(int(random_state), spawn_key=(_SERVER, int(round_index))))
    if poisson:
        selected = [int(k) for k in np.flatnonzero(rng.random(n_clients) < client_fraction)]
    else:
        m = max(1, int(round(client_fraction * n_clients)))
        selected = sorted(int(k) for k in rng.choice(n_clients, size=m, replace=False))
    drops = rng.random(len(selected)) < dropout_rate
    return selected, [k for k, d in zip(selected, drops) if d]


# -- the client task (runs on a worker or here) -------------------------------------
def _client_task(model: Any, data: ClientData, w_global: np.ndarray, spec: dict) -> tuple[dict, dict]:
    """One client's round: train, (clip), (mask), and build the message it sends.

    Returns ``(message, observer)``: ``message`` is what the server receives
    (and the ledger counts); ``observer`` holds the simulator's view (the raw
    update, for measuring client drift) that a real server would never see.
    """
    res = local_update(
        model, w_global, data.X, data.y,
        algorithm=spec["algorithm"], local_epochs=spec["local_epochs"], batch_size=spec["batch_size"],
        lr=spec["lr"], mu=spec["mu"], seed=spec["seed"], max_steps=spec["max_steps"],
    )
    delta = res.delta
    weight = float(res.n_samples)
    if spec["clip"] is not None:  # DP-FedAvg: clip, uniform weights
        delta, _ = clip_update(delta, spec["clip"])
        weight = 1.0
    if spec["secagg"] is not None:  # secure aggregation: send only a masked vector
        message = {"masked": spec["secagg"].mask(data.client_id, np.concatenate([weight * delta, [weight]]))}
    else:
        message = {"delta": delta, "weight": weight}
    observer = {"raw_delta": res.delta, "n_samples": res.n_samples, "steps": res.steps, "loss": res.loss}
    return message, observer


def _divergence_message(round_index: int, loss: float, initial_loss: float, algorithm: str, lr: float,
                        mu: float) -> str:
    text = (f"the run diverged in round {round_index}: test loss {loss:.3g} against {initial_loss:.3g} before "
            f"training. Lower the client learning rate lr={lr:g}")
    if algorithm == "fedprox" and lr * mu > 2:
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


def _check_args(algorithm, rounds, client_fraction, local_epochs, batch_size, lr, mu, dp, secure_aggregation,
                dropout_rate, clock, random_state, callback) -> tuple:
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is unknown; choose one of {ALGORITHMS}")
    rounds = check_int("rounds", rounds, 1)
    client_fraction = _real("client_fraction", client_fraction)
    if not 0 < client_fraction <= 1:
        raise ValueError(f"client_fraction={client_fraction!r} must be in (0, 1]: the share of clients per round")
    local_epochs = check_int("local_epochs", local_epochs, 1)
    if batch_size is not None and not (isinstance(batch_size, float) and math.isinf(batch_size) and batch_size > 0):
        batch_size = check_int("batch_size", batch_size, 1)
    else:
        batch_size = None  # B = infinity: the whole local data set
    lr = _real("lr", lr)
    if lr <= 0:
        raise ValueError(f"lr={lr!r} must be > 0")
    mu = _real("mu", mu)
    if mu < 0:
        raise ValueError(f"mu={mu!r} must be >= 0")
    if mu and algorithm != "fedprox":
        raise ValueError(f"mu={mu} only applies to algorithm='fedprox' (got {algorithm!r}); leave mu=0")
    if algorithm == "fedsgd" and (local_epochs != 1 or batch_size is not None):
        raise ValueError(
            "algorithm='fedsgd' takes exactly one full-batch gradient step per client: leave local_epochs=1 and "
            f"batch_size=None (got local_epochs={local_epochs}, batch_size={batch_size}), or use 'fedavg'"
        )
    if dp is not None and not isinstance(dp, DPConfig):
        raise TypeError(f"dp must be None or a DPConfig(clip, noise_multiplier, delta), got {type(dp).__name__}")
    if not isinstance(secure_aggregation, bool):
        raise TypeError(f"secure_aggregation must be True or False, got {secure_aggregation!r}")
    dropout_rate = _real("dropout_rate", dropout_rate)
    if not 0 <= dropout_rate < 1:
        raise ValueError(f"dropout_rate={dropout_rate!r} must be in [0, 1)")
    if clock is not None and not isinstance(clock, VirtualClock):
        raise TypeError(f"clock must be None or a VirtualClock, got {type(clock).__name__}")
    random_state = check_int("random_state", random_state, 0)
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable (it receives each RoundRecord) or None")
    return rounds, client_fraction, local_epochs, batch_size, lr, mu, dropout_rate, random_state


# -- executors: the same tasks, here or on the cluster -------------------------------
class _Sequential:
    def __init__(self, model: Any, datas: list[ClientData]) -> None:
        self.model, self.datas = model, datas

    def run(self, w: np.ndarray, specs: dict[int, dict]) -> dict[int, tuple[dict, dict]]:
        return {k: _client_task(self.model, self.datas[k], w, spec) for k, spec in specs.items()}

    def close(self) -> None:
        pass


class _OnDask:
    """Client data shipped to the workers once; every round's tasks refer to it by future.

    Every worker receives every client's data (one broadcast scatter, before
    round 1), so the scheduler can run any sampled client on whichever worker
    is free. Pinning each client to one worker instead leaves the sampled
    clients of a round unevenly split (13 on one worker, 7 on the other) and
    the round waits for the busier worker. Only the global model is sent each
    round. (The simulation's own communication ledger counts what a real
    federation would send; this placement is how the simulation uses Dask.)
    """

    def __init__(self, client: Any, model: Any, datas: list[ClientData]) -> None:
        self.client = client
        from plsim.cluster import worker_threads

        if not worker_threads(client):
            raise RuntimeError("the Dask cluster has no workers; start some or pass client=None")
        # every worker receives every client's data (see above)
        check_data_fits(client, sum(d.X.nbytes + d.y.nbytes for d in datas),
                        what="the federated clients' data (every worker holds all of it)")
        with cancel_on_interrupt(client) as recording:  # interrupted while shipping: nothing left behind
            self.model_f = recording.scatter(model, broadcast=True, hash=False)
            self.data_f: list[Any] = recording.scatter(list(datas), broadcast=True, hash=False)

    def run(self, w: np.ndarray, specs: dict[int, dict]) -> dict[int, tuple[dict, dict]]:
        if not specs:
            return {}
        with cancel_on_interrupt(self.client) as client:
            w_f = client.scatter(w, broadcast=True, hash=False)
            futures = {k: client.submit(_client_task, self.model_f, self.data_f[k], w_f, spec, pure=False)
                       for k, spec in specs.items()}
            results = client.gather(list(futures.values()))
        return dict(zip(futures, results))

    def close(self) -> None:
        self.client.cancel([self.model_f, *self.data_f])


# -- the loop ----------------------------------------------------------------------
def run_federated(
    model: Any,
    dataset: Any,
    parts: Sequence[np.ndarray],
    *,
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
    client: Any = None,
    random_state: int = 0,
    callback: Callable[[RoundRecord], Any] | None = None,
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
    algorithm : {"fedsgd", "fedavg", "fedprox"}
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
        DP-FedAvg: clip each update, add Gaussian noise to the sum, track epsilon.
    secure_aggregation : bool
        Clients send pairwise-masked fixed-point vectors; the server only learns the sum.
    dropout_rate : float
        Probability a selected client drops out during the round, in [0, 1).
    clock : VirtualClock, optional
        Simulated speeds, bandwidths and deadline; default ``VirtualClock()``
        (all clients alike, no deadline), so simulated time is always reported.
    client : dask.distributed.Client, optional
        Run the client updates as parallel Dask tasks; None runs them here.
    random_state : int
        Seeds everything (initial model, selection, drop-outs, batches, noise, masks).
    callback : callable, optional
        Called with each :class:`RoundRecord`; return False (or raise StopIteration) to stop
        (``history.stopped_reason == "stopped"``).
    initial_weights : ndarray, optional
        Start from these parameters instead of ``model.init_params(seed from random_state)``.

    Returns
    -------
    FederatedHistory
        A KeyboardInterrupt (the kernel's stop button, or raised by ``callback``)
        cancels the round in progress and returns the rounds that finished,
        flagged ``partial`` with ``stopped_reason="interrupted"`` and a warning;
        the cluster stays usable. A diverging run stops with a RuntimeWarning
        (``diverged_round``).
    """
    rounds, client_fraction, local_epochs, batch_size, lr, mu, dropout_rate, random_state = _check_args(
        algorithm, rounds, client_fraction, local_epochs, batch_size, lr, mu, dp, secure_aggregation,
        dropout_rate, clock, random_state, callback)
    for attr in ("loss_and_gradient", "init_params", "n_params", "accuracy", "loss"):
        if not hasattr(model, attr):
            raise TypeError(f"model must be a plsim.models model (missing {attr!r}), got {type(model).__name__}")
    for attr in ("X_train", "y_train", "X_test", "y_test"):
        if not hasattr(dataset, attr):
            raise TypeError(f"dataset must be a plsim.data.Dataset (missing {attr!r}), got {type(dataset).__name__}")
    parts = _check_parts(parts, len(dataset.y_train))
    clock = VirtualClock() if clock is None else clock
    server_opt = make_server_optimizer(server_optimizer)
    if initial_weights is None:
        w = model.init_params(np.random.SeedSequence(random_state, spawn_key=(_INIT,)))
    else:
        w = np.array(initial_weights, dtype=np.float64, copy=True)
        if w.shape != (model.n_params,):
            raise ValueError(f"initial_weights has shape {w.shape}; the model needs ({model.n_params},)")

    K = len(parts)
    datas = [ClientData(k, np.ascontiguousarray(dataset.X_train[p]), np.ascontiguousarray(dataset.y_train[p]))
             for k, p in enumerate(parts)]
    n_params = int(model.n_params)
    accountant = PrivacyAccountant(dp, client_fraction) if dp is not None else None
    history = FederatedHistory(
        ledger=CommunicationLedger(),
        settings=dict(algorithm=algorithm, rounds=rounds, client_fraction=client_fraction,
                      local_epochs=local_epochs, batch_size=batch_size, lr=lr, mu=mu,
                      server_optimizer=getattr(server_opt, "name", None), dp=dp,
                      secure_aggregation=secure_aggregation, dropout_rate=dropout_rate, clock=clock,
                      n_clients=K, random_state=random_state, parallel=client is not None),
    )
    history.initial_loss, history.initial_accuracy = model.evaluate(w, dataset.X_test, dataset.y_test)
    # what one client sends up (same size plain or masked: update + weight, 8 bytes each)
    up_template = {"delta": np.zeros(n_params), "weight": 0.0}

    executor: _OnDask | _Sequential | None = None
    cum_bytes, cum_sim = 0, 0.0
    history.weights = w
    done = (0, w)
    try:
        with memory_guard(client, what="run_federated"):  # a worker lost to its memory limit: say so
            executor = _OnDask(client, model, datas) if client is not None else _Sequential(model, datas)
            for t in range(1, rounds + 1):
                t0 = time.perf_counter()
                traffic = history.ledger.new_round(t)
                selected, dropped = select_clients(K, client_fraction, t, random_state,
                                                   poisson=dp is not None, dropout_rate=dropout_rate)
                dropped_set = set(dropped)
                # Secure aggregation (Bonawitz et al. 2017): keys agreed and secrets shared among the selected
                # clients before training; unmasking needs more than half of them to report. (The simulator
                # hands every client the round's key material; a real client holds only its own.)
                agg = None
                if secure_aggregation and len(selected) >= 2:
                    agg = secagg.SecureAggregation(selected, threshold=len(selected) // 2 + 1,
                                                   value_bound=secagg.SUM_LIMIT / (len(selected) + 1),
                                                   random_state=random_state, round_index=t)
                # --- the virtual clock decides who can finish and how much local work fits
                timings, specs, stragglers = [], {}, []
                for k in selected:
                    traffic.send_down({"weights": w})
                    if k in dropped_set:
                        continue
                    steps, sizes = planned_work(datas[k].n_samples, algorithm, local_epochs, batch_size)
                    timing = clock.time_client(k, sizes, payload_nbytes(w), payload_nbytes(up_template))
                    timings.append(timing)
                    if timing.straggler:
                        stragglers.append(k)
                    if timing.steps_done == 0:
                        continue  # straggler dropped at the deadline
                    specs[k] = dict(
                        algorithm=algorithm, local_epochs=local_epochs, batch_size=batch_size, lr=lr, mu=mu,
                        seed=client_seed(random_state, t, k),
                        max_steps=None if timing.steps_done == steps else timing.steps_done,
                        clip=None if dp is None else dp.clip,
                        secagg=agg,
                    )
                results = executor.run(w, specs)
                reporting = sorted(results)
                for k in reporting:
                    traffic.send_up(results[k][0])
                missing = [k for k in selected if k not in results]

                # --- aggregation (what the server can compute)
                total = None  # [sum of weighted updates, sum of weights]
                recovery_seconds = 0.0
                unmasked = None
                if secure_aggregation:
                    # Too few survivors (or a lone selected client): the sum would expose single updates,
                    # so the round is not aggregated and the global model stays as it was.
                    unmasked = agg is not None and len(reporting) >= agg.threshold
                if unmasked:
                    for k in reporting:  # unmasking round: the survivors list, each survivor's shares back
                        traffic.send_down({"survivors": np.array(reporting, dtype=np.int64)})
                        traffic.send_up({"shares": np.zeros(len(selected), dtype="V16")})
                    recovery_seconds = 2 * clock.latency
                    summed = agg.unmask({k: results[k][0]["masked"] for k in reporting})
                    total = (summed[:-1], summed[-1])
                elif reporting and not secure_aggregation:
                    acc = np.zeros(n_params)
                    for k in reporting:
                        acc += results[k][0]["weight"] * results[k][0]["delta"]
                    total = (acc, float(sum(results[k][0]["weight"] for k in reporting)))

                if dp is not None:
                    noise = gaussian_noise(n_params, dp.noise_multiplier * dp.clip,
                                           np.random.SeedSequence(random_state, spawn_key=(_NOISE, t)))
                    summed_updates = noise if total is None else total[0] + noise
                    w = server_opt.step(w, summed_updates / (client_fraction * K))
                elif total is not None:
                    w = server_opt.step(w, total[0] / total[1])

                # --- simulator-only measurements (a real server could not see individual updates)
                raws = [results[k][1]["raw_delta"] for k in reporting]
                sizes_k = [results[k][1]["n_samples"] for k in reporting]
                if raws:
                    mean_raw = sum(n * r for n, r in zip(sizes_k, raws)) / sum(sizes_k)
                    drift = float(np.mean([np.linalg.norm(r - mean_raw) for r in raws]))
                    norm = float(np.mean([np.linalg.norm(r) for r in raws]))
                else:
                    drift = norm = math.nan

                sim = clock.round_seconds(timings, [k for k in reporting]) + recovery_seconds
                traffic.simulated_seconds = sim
                cum_bytes += traffic.total_bytes
                cum_sim += sim
                epsilon = accountant.step() if accountant is not None else None
                loss_t, acc_t = model.evaluate(w, dataset.X_test, dataset.y_test)
                record = RoundRecord(
                    round=t, test_accuracy=acc_t, test_loss=loss_t, selected=tuple(selected),
                    reporting=tuple(reporting), dropped=tuple(dropped), stragglers=tuple(stragglers),
                    bytes_down=traffic.bytes_down, bytes_up=traffic.bytes_up,
                    messages=traffic.messages_down + traffic.messages_up, cumulative_bytes=cum_bytes,
                    simulated_seconds=sim, cumulative_simulated_seconds=cum_sim,
                    wall_seconds_measured=time.perf_counter() - t0, client_drift=drift, mean_update_norm=norm,
                    epsilon=epsilon, unmasked=unmasked,
                )
                history.records.append(record)
                history.weights = w
                done = (t, w)  # one assignment: an interrupt cannot separate a round from its model
                # Diverged: the model is no longer finite, or its test loss exploded far past the untrained model's.
                if not np.all(np.isfinite(w)) or has_diverged(loss_t, history.initial_loss):
                    history.diverged_round = t
                    history.stopped_reason = "diverged"
                    warnings.warn(_divergence_message(t, loss_t, history.initial_loss, algorithm, lr, mu),
                                  RuntimeWarning, stacklevel=2)
                    break
                if callback is not None:
                    try:
                        keep_going = callback(record)
                    except StopIteration:
                        keep_going = False
                    if keep_going is False:
                        history.stopped_early = t < rounds
                        if t < rounds:
                            history.stopped_reason = "stopped"
                        break
    except KeyboardInterrupt:
        # The round in flight is dropped (its tasks were cancelled by cancel_on_interrupt); the rounds that
        # finished are returned with the model of the last one (``w`` when interrupted just after its record).
        history.weights = done[1] if len(history.records) == done[0] else w
        del history.ledger.rounds[len(history.records):]  # the traffic of the round in flight is not counted
        if len(history.records) < rounds:
            history.stopped_reason = "interrupted"
            warnings.warn(
                f"run_federated was interrupted after {len(history.records)} of {rounds} rounds: the round in "
                "progress was cancelled and the history holds the rounds that finished (history.partial is True). "
                "The cluster is still usable.", PartialResultWarning, stacklevel=2)
    finally:
        if executor is not None:
            executor.close()
    return history
