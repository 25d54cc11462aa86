"""Federated algorithms as *strategies*, in the shape of Flower's ``flwr.server.strategy.Strategy``.

A strategy is the server's side of a federated algorithm. Each round the
runner (:func:`plsim.federated.run_federated`) asks it three things:

* :meth:`Strategy.configure_fit` ``(server_round, weights, available_clients)``
  -> ``[(client_id, FitIns), ...]``: which clients train this round and with
  what instructions (the global weights and a config: local epochs, batch size,
  learning rate, proximal term, the client's seed, clipping, masks);
* :meth:`Strategy.aggregate_fit` ``(server_round, results, failures)`` ->
  ``(new weights or None, metrics)``: how the clients' :class:`FitRes` become
  the next global model (``None``: no update this round);
* :meth:`Strategy.evaluate` ``(server_round, weights)`` -> ``(loss, metrics)``:
  the global model measured centrally on the held-out test split.

The strategies:

===================  ===========================================================
:class:`FedSGD`      one full-batch gradient step per client; the weighted average
                     of the steps (full-batch gradient descent with every client)
:class:`FedAvg`      ``local_epochs`` of mini-batch SGD per client; the weighted
                     average of the model changes (McMahan et al. 2017)
:class:`FedProx`     FedAvg with the proximal term ``mu/2 ||w - w_global||^2``
                     (Li et al. 2020)
:class:`FedAvgM`     FedAvg whose server applies the average with momentum (Hsu et al. 2019)
:class:`FedAdam`     FedAvg whose server applies the average with Adam (Reddi et al. 2021)
===================  ===========================================================

and two *wrappers* that add a property to any of them:

* :class:`DPFedAvg` -- differential privacy (DP-FedAvg, McMahan et al. 2018):
  Poisson sampling, every update clipped on the client, Gaussian noise added to
  the sum, a privacy accountant;
* :class:`SecAgg` -- secure aggregation (Bonawitz et al. 2017): clients send
  pairwise-masked vectors and the server learns only their sum. With DP too,
  wrap in this order: ``SecAgg(DPFedAvg(FedAvg(...), dp))``.

Aggregation goes through :func:`~plsim.federated.algorithms.weighted_average`,
the function the notebook teaches. Every random draw comes from the run's seed
tree (:func:`plsim._random.task_seed`): selection from stream ``"server"``,
local batches from ``"client"``, noise from ``"noise"``, masks from ``"secagg"``.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plsim._random import task_seed
from plsim.federated import secagg
from plsim.federated.algorithms import (
    ALGORITHMS,
    ServerAdam,
    ServerMomentum,
    make_server_optimizer,
    weighted_average,
)
from plsim.federated.privacy import DPConfig, PrivacyAccountant, gaussian_noise
from plsim.federated.sampling import select_clients
from plsim.validation import check_int, check_real

__all__ = ["FitIns", "FitRes", "Strategy", "FedSGD", "FedAvg", "FedProx", "FedAvgM", "FedAdam",
           "StrategyWrapper", "DPFedAvg", "SecAgg", "make_strategy"]

Metrics = dict[str, Any]


@dataclass(frozen=True, eq=False)
class FitIns:
    """What the server sends one client for a round: the global ``weights`` and a ``config``.

    ``config`` holds ``algorithm, local_epochs, batch_size, lr, mu, seed`` and,
    when a wrapper adds them, ``clip`` (DP) and ``secagg`` (the round's key
    material). The runner adds ``max_steps`` when the virtual clock cuts a
    straggler's work short.
    """

    weights: np.ndarray
    config: dict[str, Any]


@dataclass(frozen=True, eq=False)
class FitRes:
    """What one client's round produced.

    ``message`` is what the client sends (``{"delta", "weight"}``, or
    ``{"masked"}`` under secure aggregation): the server reads only it, and the
    ledger counts its bytes. The other fields are the simulator's view, which a
    real server never sees: the raw model change (for client drift), the
    sample count, the local steps and the local loss.
    """

    client_id: int
    message: dict[str, Any]
    raw_delta: np.ndarray
    n_samples: int
    steps: int
    loss: float


class Strategy:
    """The server's side of a federated algorithm (see the module docstring).

    The runner works on a fresh copy of the strategy it is given (a strategy
    holds server state such as momentum), calls :meth:`start` once, then the
    three methods every round.
    """

    name = "strategy"
    random_state: int = 0
    n_clients: int = 0
    evaluate_fn: Callable[[np.ndarray], tuple[float, float]] | None = None

    def start(self, random_state: int, n_clients: int,
              evaluate_fn: Callable[[np.ndarray], tuple[float, float]] | None = None) -> None:
        """Bind the run: its seed-tree root, the number of clients, the central evaluation ``(loss, accuracy)``."""
        self.random_state, self.n_clients, self.evaluate_fn = int(random_state), int(n_clients), evaluate_fn

    def configure_fit(self, server_round: int, weights: np.ndarray,
                      available_clients: Sequence[int]) -> list[tuple[int, FitIns]]:
        """``[(client_id, FitIns), ...]`` of the clients that train in ``server_round`` (1-based)."""
        raise NotImplementedError

    def aggregate_fit(self, server_round: int, results: list[tuple[int, FitRes]],
                      failures: list[int]) -> tuple[np.ndarray | None, Metrics]:
        """The next global model from the clients' results (None: keep the model), and metrics."""
        raise NotImplementedError

    def evaluate(self, server_round: int, weights: np.ndarray) -> tuple[float, Metrics] | None:
        """Central evaluation of ``weights``: ``(test loss, {"accuracy": ...})``, or None without ``evaluate_fn``."""
        if self.evaluate_fn is None:
            return None
        loss, accuracy = self.evaluate_fn(weights)
        return float(loss), {"accuracy": float(accuracy)}

    def settings(self) -> dict[str, Any]:
        """What the strategy was asked to do, for ``FederatedHistory.settings``."""
        return {}


def _check_batch_size(batch_size: Any) -> int | None:
    """B >= 1, or None for the whole local data set (``math.inf`` means the same)."""
    if isinstance(batch_size, float) and math.isinf(batch_size) and batch_size > 0:
        return None
    return check_int("batch_size", batch_size, 1, allow_none=True)


@dataclass
class FedAvg(Strategy):
    """Federated averaging: each sampled client trains locally, the server averages the changes.

    Parameters
    ----------
    client_fraction : float
        C in (0, 1]: ``max(1, round(C K))`` of the K clients per round.
    local_epochs : int
        E >= 1 passes over the local data.
    batch_size : int or None
        B >= 1, or None for the whole local data set.
    lr : float
        Client learning rate.
    server_optimizer : None, "fedavgm", "fedadam" or ServerOptimizer
        How the averaged change is applied (None: subtracted, plain FedAvg).
    """

    client_fraction: float = 0.1
    local_epochs: int = 1
    batch_size: int | None = None
    lr: float = 0.1
    server_optimizer: Any = None
    algorithm: str = field(default="fedavg", init=False)
    mu: float = field(default=0.0, init=False)
    name = "fedavg"
    poisson = False  # DPFedAvg samples each client independently instead

    def __post_init__(self) -> None:
        self.client_fraction = check_real("client_fraction", self.client_fraction, minimum=0, maximum=1,
                                          low_open=True)
        self.local_epochs = check_int("local_epochs", self.local_epochs, 1)
        self.batch_size = _check_batch_size(self.batch_size)
        self.lr = check_real("lr", self.lr, minimum=0, low_open=True)
        self._server = make_server_optimizer(self.server_optimizer)
        self._weights: np.ndarray | None = None

    # -- configure ------------------------------------------------------------------
    def sample(self, server_round: int, available_clients: Sequence[int]) -> list[int]:
        """The clients of a round (seed stream ``"server"``): ``max(1, round(C K))`` without replacement."""
        chosen, _ = select_clients(len(available_clients), self.client_fraction, server_round, self.random_state,
                                   poisson=self.poisson)
        return [int(available_clients[i]) for i in chosen]

    def client_config(self, server_round: int, client_id: int) -> dict[str, Any]:
        """One client's training instructions; its batches are seeded from stream ``"client"``."""
        return dict(algorithm=self.algorithm, local_epochs=self.local_epochs, batch_size=self.batch_size,
                    lr=self.lr, mu=self.mu, seed=task_seed(self.random_state, "client", server_round, client_id))

    def configure_fit(self, server_round, weights, available_clients):
        self._weights = np.asarray(weights, dtype=np.float64)
        return [(k, FitIns(self._weights, self.client_config(server_round, k)))
                for k in self.sample(server_round, available_clients)]

    # -- aggregate ------------------------------------------------------------------
    def apply(self, delta: np.ndarray) -> np.ndarray:
        """The next global model: the averaged change applied by the server optimizer."""
        assert self._weights is not None, "configure_fit comes before aggregate_fit"
        return self._server.step(self._weights, delta)

    def aggregate_fit(self, server_round, results, failures):
        if not results:
            return None, {}
        delta = weighted_average([r.message["delta"] for _, r in results], [r.message["weight"] for _, r in results])
        return self.apply(delta), {}

    def settings(self) -> dict[str, Any]:
        return dict(algorithm=self.algorithm, client_fraction=self.client_fraction, local_epochs=self.local_epochs,
                    batch_size=self.batch_size, lr=self.lr, mu=self.mu,
                    server_optimizer=getattr(self._server, "name", None))


@dataclass
class FedSGD(FedAvg):
    """FedSGD: every sampled client takes ONE full-batch gradient step; the server averages them.

    With every client (``client_fraction=1``) this is exactly full-batch
    gradient descent on the pooled data with step size ``lr``.
    """

    local_epochs: int = field(default=1, init=False)
    batch_size: int | None = field(default=None, init=False)
    algorithm: str = field(default="fedsgd", init=False)
    name = "fedsgd"


@dataclass
class FedProx(FedAvg):
    """FedProx: FedAvg whose local objective adds ``mu/2 ||w - w_global||^2`` (keep ``lr * mu < 2``)."""

    mu: float = 0.01
    algorithm: str = field(default="fedprox", init=False)
    name = "fedprox"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.mu = check_real("mu", self.mu, minimum=0)


def _own_server(strategy: FedAvg) -> None:
    if strategy.server_optimizer is not None:
        raise ValueError(f"{type(strategy).__name__} brings its own server optimizer; leave server_optimizer out "
                         "(or use FedAvg(server_optimizer=...))")


@dataclass
class FedAvgM(FedAvg):
    """FedAvg with server momentum: ``v = momentum v + delta``, ``w -= server_lr v`` (Hsu et al. 2019)."""

    server_lr: float = 1.0
    momentum: float = 0.9
    name = "fedavgm"

    def __post_init__(self) -> None:
        _own_server(self)
        self.server_optimizer = ServerMomentum(lr=self.server_lr, momentum=self.momentum)
        super().__post_init__()


@dataclass
class FedAdam(FedAvg):
    """FedAvg with an Adam server (Reddi et al. 2021): ``w -= server_lr m / (sqrt(v) + tau)``."""

    server_lr: float = 0.03
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3
    name = "fedadam"

    def __post_init__(self) -> None:
        _own_server(self)
        self.server_optimizer = ServerAdam(lr=self.server_lr, beta1=self.beta1, beta2=self.beta2, tau=self.tau)
        super().__post_init__()


# -- wrappers ----------------------------------------------------------------------------
class StrategyWrapper(Strategy):
    """A strategy around another one; what it does not change, the inner strategy does."""

    def __init__(self, strategy: Strategy) -> None:
        if not isinstance(strategy, Strategy):
            raise TypeError(f"strategy must be a plsim.federated Strategy (FedAvg(...), ...), "
                            f"got {type(strategy).__name__}")
        self.strategy = strategy

    def __getattr__(self, name: str) -> Any:  # client_fraction, lr, algorithm, apply, ... of the inner strategy
        if name == "strategy":
            raise AttributeError(name)
        return getattr(self.strategy, name)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.strategy.name

    def start(self, random_state, n_clients, evaluate_fn=None):
        super().start(random_state, n_clients, evaluate_fn)
        self.strategy.start(random_state, n_clients, evaluate_fn)

    def configure_fit(self, server_round, weights, available_clients):
        return self.strategy.configure_fit(server_round, weights, available_clients)

    def aggregate_fit(self, server_round, results, failures):
        return self.strategy.aggregate_fit(server_round, results, failures)

    def evaluate(self, server_round, weights):
        return self.strategy.evaluate(server_round, weights)

    def settings(self):
        return self.strategy.settings()


def _base(strategy: Strategy) -> Strategy:
    while isinstance(strategy, StrategyWrapper):
        strategy = strategy.strategy
    return strategy


class DPFedAvg(StrategyWrapper):
    """Differential privacy around a strategy (DP-FedAvg, McMahan et al. 2018; Flower's client-side fixed clipping).

    Each client is sampled independently with probability C (Poisson sampling,
    what the accountant assumes), clips its change to norm ``dp.clip`` and
    sends it with weight 1; the server adds Gaussian noise of std
    ``dp.noise_multiplier * dp.clip`` (seed stream ``"noise"``) to the sum,
    divides by the *expected* number of clients ``C K`` and lets the inner
    strategy's server optimizer apply it. The metrics carry ``epsilon``.
    """

    def __init__(self, strategy: Strategy, dp: DPConfig) -> None:
        super().__init__(strategy)
        if isinstance(strategy, SecAgg):
            raise TypeError("wrap DP inside secure aggregation, SecAgg(DPFedAvg(strategy, dp)): the server must "
                            "unmask the sum before it adds the noise")
        if not isinstance(dp, DPConfig):
            raise TypeError(f"dp must be a DPConfig(clip, noise_multiplier, delta), got {type(dp).__name__}")
        self.dp = dp
        self.accountant: PrivacyAccountant | None = None

    def start(self, random_state, n_clients, evaluate_fn=None):
        super().start(random_state, n_clients, evaluate_fn)
        _base(self.strategy).poisson = True
        self.accountant = PrivacyAccountant(self.dp, self.client_fraction)

    def configure_fit(self, server_round, weights, available_clients):
        return [(k, FitIns(ins.weights, {**ins.config, "clip": self.dp.clip}))
                for k, ins in self.strategy.configure_fit(server_round, weights, available_clients)]

    def aggregate_fit(self, server_round, results, failures):
        n_params = self._weights.size
        total = np.zeros(n_params)
        for _, r in results:
            total += r.message["weight"] * r.message["delta"]
        noise = gaussian_noise(n_params, self.dp.noise_multiplier * self.dp.clip,
                               task_seed(self.random_state, "noise", server_round))
        mean = (total + noise) / (self.client_fraction * self.n_clients)
        # the noisy mean, as the one result the inner strategy averages
        noisy = FitRes(-1, {"delta": mean, "weight": 1.0}, mean, 0, 0, math.nan)
        weights, metrics = self.strategy.aggregate_fit(server_round, [(-1, noisy)], failures)
        return weights, {**metrics, "epsilon": self.accountant.step()}

    def settings(self):
        return {**self.strategy.settings(), "dp": self.dp}


class SecAgg(StrategyWrapper):
    """Secure aggregation around a strategy (Bonawitz et al. 2017): the server learns only the sum.

    The sampled clients agree on keys and share secrets before training
    (:class:`plsim.federated.secagg.SecureAggregation`, seed stream
    ``"secagg"``); each sends its weighted change and weight, masked. If at
    least ``threshold`` (more than half) of them report, the survivors' shares
    unmask the sum (one more round trip each, in the metrics as
    ``extra_messages`` and ``extra_latencies``) and the inner strategy averages
    it; otherwise the round is not aggregated (``unmasked`` False).
    """

    def __init__(self, strategy: Strategy) -> None:
        super().__init__(strategy)
        self._round: secagg.SecureAggregation | None = None

    def start(self, random_state, n_clients, evaluate_fn=None):
        super().start(random_state, n_clients, evaluate_fn)
        base = _base(self.strategy)
        # Fixed-size sampling draws max(1, round(C K)) clients every round: below 2, no round could
        # ever be aggregated (a lone client's "sum" is its update), so refuse the run before it starts.
        per_round = n_clients if base.poisson else max(1, int(round(base.client_fraction * n_clients)))
        if per_round < 2:
            need = 1.5 / n_clients if n_clients >= 2 else None
            raise ValueError(
                f"secure_aggregation=True with client_fraction={base.client_fraction:g} of {n_clients} client(s) "
                f"samples {per_round} client per round, and secure aggregation needs at least 2 (a lone client's "
                "sum is its own update): no round could ever be aggregated. "
                + (f"Use client_fraction >= {need:.3g} (2 clients per round)." if need is not None
                   else "Give the federation at least 2 clients."))

    def configure_fit(self, server_round, weights, available_clients):
        instructions = self.strategy.configure_fit(server_round, weights, available_clients)
        selected = [k for k, _ in instructions]
        self._round, self._selected = None, selected
        if len(selected) < 2:
            # Poisson sampling (DP) can draw fewer than 2 clients. A lone client's masked "sum" would be its
            # own update, so the round is refused before any update leaves a client: nobody trains.
            warnings.warn(
                f"secure aggregation: round {server_round} sampled {len(selected)} client(s), fewer than the 2 a "
                "masked sum needs; no client trains or sends this round (nothing of theirs is aggregated). Raise "
                f"client_fraction (now {_base(self.strategy).client_fraction:g}) so that rounds sample 2 or more.",
                RuntimeWarning, stacklevel=2)
            self._selected = []
            return []
        self._round = secagg.SecureAggregation(selected, threshold=len(selected) // 2 + 1,
                                               value_bound=secagg.SUM_LIMIT / (len(selected) + 1),
                                               random_state=self.random_state, round_index=server_round)
        return [(k, FitIns(ins.weights, {**ins.config, "secagg": self._round})) for k, ins in instructions]

    def aggregate_fit(self, server_round, results, failures):
        agg = self._round
        if agg is None or len(results) < agg.threshold:
            # too few survivors: the sum would expose single updates, so nothing is unmasked
            weights, metrics = self.strategy.aggregate_fit(server_round, [], failures)
            return weights, {**metrics, "unmasked": False}
        survivors = [k for k, _ in results]
        summed = agg.unmask({k: r.message["masked"] for k, r in results})
        total = FitRes(-1, {"delta": summed[:-1] / summed[-1], "weight": float(summed[-1])}, summed[:-1], 0, 0,
                       math.nan)
        weights, metrics = self.strategy.aggregate_fit(server_round, [(-1, total)], failures)
        # unmasking round: the server sends the survivors list, each survivor its shares back
        extra = [({"survivors": np.array(survivors, dtype=np.int64)},
                  {"shares": np.zeros(len(self._selected), dtype="V16")}) for _ in survivors]
        return weights, {**metrics, "unmasked": True, "extra_messages": extra, "extra_latencies": 2}

    def settings(self):
        return {**self.strategy.settings(), "secure_aggregation": True}


# -- the shorthands of run_federated ---------------------------------------------------------
_STRATEGIES = {"fedsgd": FedSGD, "fedavg": FedAvg, "fedprox": FedProx}


def make_strategy(algorithm: str = "fedavg", *, client_fraction: float = 0.1, local_epochs: int = 1,
                  batch_size: int | None = None, lr: float = 0.1, mu: float = 0.0, server_optimizer: Any = None,
                  dp: DPConfig | None = None, secure_aggregation: bool = False) -> Strategy:
    """The strategy ``run_federated(algorithm=..., ...)`` stands for: a base strategy, wrapped for DP and SecAgg."""
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is unknown; choose one of {ALGORITHMS}")
    mu = check_real("mu", mu, minimum=0)
    if mu and algorithm != "fedprox":
        raise ValueError(f"mu={mu} only applies to algorithm='fedprox' (got {algorithm!r}); leave mu=0")
    if algorithm == "fedsgd":
        local_epochs = check_int("local_epochs", local_epochs, 1)
        batch_size = _check_batch_size(batch_size)
        if local_epochs != 1 or batch_size is not None:
            raise ValueError(
                "algorithm='fedsgd' takes exactly one full-batch gradient step per client: leave local_epochs=1 "
                f"and batch_size=None (got local_epochs={local_epochs}, batch_size={batch_size}), or use 'fedavg'")
        strategy: Strategy = FedSGD(client_fraction=client_fraction, lr=lr, server_optimizer=server_optimizer)
    else:
        kw = dict(client_fraction=client_fraction, local_epochs=local_epochs, batch_size=batch_size, lr=lr,
                  server_optimizer=server_optimizer)
        strategy = FedProx(**kw, mu=mu) if algorithm == "fedprox" else FedAvg(**kw)
    if dp is not None:
        strategy = DPFedAvg(strategy, dp)
    if not isinstance(secure_aggregation, bool):
        raise TypeError(f"secure_aggregation must be True or False, got {secure_aggregation!r}")
    if secure_aggregation:
        strategy = SecAgg(strategy)
    return strategy


def fresh(strategy: Strategy) -> Strategy:
    """A copy of ``strategy`` with no server state from an earlier run (the user's object is never changed)."""
    return copy.deepcopy(strategy)

