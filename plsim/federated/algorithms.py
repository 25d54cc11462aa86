"""What one federated client computes, and how the server combines the results.

* **FedSGD** (McMahan et al. 2017): each client takes ONE full-batch gradient
  step from the global model; the server averages. Exactly full-batch gradient
  descent on the pooled data when every client participates.
* **FedAvg**: each client runs ``local_epochs`` epochs of mini-batch SGD
  (batch size ``batch_size``) on its own data, then sends its model change; the
  server averages the changes weighted by the clients' sample counts.
* **FedProx** (Li et al. 2020): FedAvg whose local objective gets the proximal
  term ``mu / 2 * ||w - w_global||^2``, which pulls each client back towards the
  global model and so limits client drift on non-IID data.
* **Server optimizers** (Hsu et al. 2019; Reddi et al. 2021): the averaged
  model change is a *pseudo-gradient*; :class:`ServerMomentum` applies it with
  momentum (the FedAvgM strategy), :class:`ServerAdam` with Adam (FedAdam).
  Without one the server simply subtracts it (plain FedAvg).

The server's round (who is sampled, how results are combined) is a strategy:
:mod:`plsim.federated.strategies`.

Every client sends ``delta = w_global - w_local`` (for FedSGD that is
``lr * gradient``), so DP clipping, secure aggregation and the server
optimizers all act on the same kind of vector.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plsim.validation import check_int
from plsim.validation import check_real

__all__ = [
    "ALGORITHMS",
    "ClientData",
    "LocalResult",
    "prox_loss_and_gradient",
    "local_update",
    "weighted_average",
    "ServerOptimizer",
    "ServerSGD",
    "ServerMomentum",
    "ServerAdam",
    "make_server_optimizer",
]

ALGORITHMS = ("fedsgd", "fedavg", "fedprox")


@dataclass(frozen=True, eq=False)
class ClientData:
    """One client's private data: it is placed on a worker once and never leaves it."""

    client_id: int
    X: np.ndarray
    y: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the client's arrays: what a worker holds for it."""
        return int(self.X.nbytes + self.y.nbytes)


@dataclass(eq=False)
class LocalResult:
    """A client's local training result.

    Attributes
    ----------
    delta : ndarray
        ``w_global - w_local`` (FedSGD: ``lr * gradient``).
    n_samples : int
        Samples the client holds (its aggregation weight).
    steps : int
        Local gradient steps taken.
    samples_processed : int
        Sum of the batch sizes over those steps (the work the virtual clock charges for).
    loss : float
        Local objective (including the proximal term) at the start of local training.
    """

    delta: np.ndarray
    n_samples: int
    steps: int
    samples_processed: int
    loss: float


def prox_loss_and_gradient(model: Any, w: np.ndarray, w_global: np.ndarray, X: np.ndarray, y: np.ndarray,
                           mu: float) -> tuple[float, np.ndarray]:
    """FedProx's local objective ``F_k(w) + mu/2 ||w - w_global||^2`` and its gradient.

    ``F_k`` is the model's loss on the client's data; the gradient of the
    proximal term is ``mu * (w - w_global)``.
    """
    loss, grad = model.loss_and_gradient(w, X, y)
    if mu:
        diff = w - w_global
        loss += 0.5 * mu * float(diff @ diff)
        grad = grad + mu * diff
    return loss, grad


def _batches_per_epoch(n: int, batch_size: int | None) -> int:
    return 1 if batch_size is None or batch_size >= n else math.ceil(n / batch_size)


def planned_work(n_samples: int, algorithm: str, local_epochs: int, batch_size: int | None) -> tuple[int, list[int]]:
    """``(steps, batch sizes)`` a client with ``n_samples`` would run; the virtual clock prices this."""
    if algorithm == "fedsgd":
        return 1, [n_samples]
    b = n_samples if batch_size is None else min(batch_size, n_samples)
    per_epoch = [b] * (n_samples // b) + ([n_samples % b] if n_samples % b else [])
    sizes = per_epoch * local_epochs
    return len(sizes), sizes


def local_update(
    model: Any,
    w_global: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    algorithm: str = "fedavg",
    local_epochs: int = 1,
    batch_size: int | None = None,
    lr: float = 0.1,
    mu: float = 0.0,
    seed: np.random.SeedSequence | int = 0,
    max_steps: int | None = None,
) -> LocalResult:
    """Run one client's local training from ``w_global``.

    Parameters
    ----------
    model : SoftmaxRegression or MLP
    w_global : ndarray
        The global model received from the server (not modified).
    X, y : ndarray
        The client's data.
    algorithm : {"fedsgd", "fedavg", "fedprox"}
    local_epochs : int
        Passes over the local data (FedAvg/FedProx).
    batch_size : int or None
        Mini-batch size; ``None`` = the whole local data set (B = infinity).
    lr : float
        Client learning rate.
    mu : float
        FedProx proximal coefficient (0 gives FedAvg).
    seed : SeedSequence or int
        Seeds the batch order: each epoch uses ``rng.permutation(n)`` and cuts
        consecutive batches (the last one may be smaller).
    max_steps : int, optional
        Stop after this many steps (a straggler doing partial work before the deadline).

    Returns
    -------
    LocalResult

    Raises
    ------
    TypeError, ValueError
        ``lr``, ``mu``, ``local_epochs``, ``batch_size`` or ``max_steps`` is not a number or out of range
        (NaN and infinity included), or ``algorithm`` is unknown.
    """
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is unknown; choose one of {ALGORITHMS}")
    lr = check_real("lr", lr, minimum=0, low_open=True)
    mu = check_real("mu", mu, minimum=0)
    local_epochs = check_int("local_epochs", local_epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1, allow_none=True)
    max_steps = check_int("max_steps", max_steps, 0, allow_none=True)
    n = int(X.shape[0])
    if algorithm == "fedsgd":
        loss, grad = model.loss_and_gradient(w_global, X, y)
        return LocalResult(lr * grad, n, 1, n, float(loss))
    rng = np.random.default_rng(seed)
    w = np.array(w_global, dtype=np.float64, copy=True)
    b = n if batch_size is None else min(batch_size, n)
    steps = processed = 0
    budget = math.inf if max_steps is None else max_steps
    start_loss = float("nan")
    for _epoch in range(local_epochs):
        order = rng.permutation(n) if b < n else np.arange(n)
        for start in range(0, n, b):
            if steps >= budget:
                break
            idx = order[start:start + b]
            loss, grad = prox_loss_and_gradient(model, w, w_global, X[idx], y[idx], mu)
            if steps == 0:
                start_loss = float(loss)
            w -= lr * grad
            steps += 1
            processed += len(idx)
    return LocalResult(np.asarray(w_global, dtype=np.float64) - w, n, steps, processed, start_loss)


def weighted_average(vectors: list[np.ndarray], weights: list[float] | np.ndarray) -> np.ndarray:
    """``sum_k weights_k * vectors_k / sum_k weights_k``, summed in the given order (deterministic)."""
    weights = np.asarray(weights, dtype=np.float64)
    if len(vectors) == 0 or len(vectors) != len(weights):
        raise ValueError(f"need one weight per vector, got {len(vectors)} vectors and {len(weights)} weights")
    bad = weights[~np.isfinite(weights) | (weights < 0)]
    if bad.size or weights.sum() <= 0:
        shown = bad[0] if bad.size else weights.sum()
        raise ValueError(f"weights hold {float(shown)!r}: they must be finite, non-negative numbers with a "
                         "positive sum (e.g. each client's sample count)")
    total = np.zeros_like(np.asarray(vectors[0], dtype=np.float64))
    for v, wk in zip(vectors, weights):
        total += wk * np.asarray(v, dtype=np.float64)
    return total / weights.sum()


# -- server side ------------------------------------------------------------------
@dataclass
class ServerOptimizer:
    """Applies the averaged client change (a pseudo-gradient) to the global model.

    Plain FedAvg: ``w_next = w - lr * delta`` with ``lr = 1``.
    """

    lr: float = 1.0
    name: str = field(default="server_sgd", init=False)

    def step(self, w: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """The next global model (a new array; ``w`` is not modified)."""
        return w - self.lr * delta


@dataclass
class ServerSGD(ServerOptimizer):
    """Plain FedAvg server: subtract the averaged change (``lr`` = 1 reproduces FedAvg exactly)."""


@dataclass
class ServerMomentum(ServerOptimizer):
    """Server momentum (Hsu et al. 2019): ``v = momentum * v + delta``; ``w -= lr * v``."""

    momentum: float = 0.9
    name: str = field(default="fedavgm", init=False)
    _v: np.ndarray | None = field(default=None, init=False, repr=False)

    def step(self, w: np.ndarray, delta: np.ndarray) -> np.ndarray:
        self._v = delta.copy() if self._v is None else self.momentum * self._v + delta
        return w - self.lr * self._v


@dataclass
class ServerAdam(ServerOptimizer):
    """Adaptive server optimizer (Reddi et al. 2021, "Adaptive Federated Optimization").

    ``m = b1 m + (1-b1) delta``; ``v = b2 v + (1-b2) delta^2``; ``w -= lr * m / (sqrt(v) + tau)``.
    """

    lr: float = 0.03
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3
    name: str = field(default="fedadam", init=False)
    _m: np.ndarray | None = field(default=None, init=False, repr=False)
    _v: np.ndarray | None = field(default=None, init=False, repr=False)

    def step(self, w: np.ndarray, delta: np.ndarray) -> np.ndarray:
        if self._m is None:
            self._m = np.zeros_like(delta)
            self._v = np.zeros_like(delta)
        self._m = self.beta1 * self._m + (1 - self.beta1) * delta
        self._v = self.beta2 * self._v + (1 - self.beta2) * delta * delta
        return w - self.lr * self._m / (np.sqrt(self._v) + self.tau)


SERVER_OPTIMIZERS = {"fedavgm": ServerMomentum, "fedadam": ServerAdam}


def make_server_optimizer(spec: Any) -> ServerOptimizer:
    """A fresh server optimizer from ``None``, ``"fedavgm"``, ``"fedadam"`` or an instance (copied, never mutated)."""
    if spec is None:
        return ServerSGD()
    if isinstance(spec, str):
        if spec not in SERVER_OPTIMIZERS:
            raise ValueError(
                f"server_optimizer={spec!r} is unknown; use None, {sorted(SERVER_OPTIMIZERS)} or a ServerOptimizer"
            )
        return SERVER_OPTIMIZERS[spec]()
    if isinstance(spec, ServerOptimizer):
        for attr in ("lr", "momentum", "beta1", "beta2", "tau"):
            if hasattr(spec, attr):  # NaN, infinity and non-numbers rejected (ValueError / TypeError)
                check_real(f"server_optimizer.{attr}", getattr(spec, attr), minimum=0)
        return copy.deepcopy(spec)
    raise TypeError(
        f"server_optimizer must be None, 'fedavgm', 'fedadam' or a ServerOptimizer, got {type(spec).__name__}"
    )
