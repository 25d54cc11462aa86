"""Federated learning on the Dask cluster: FedSGD, FedAvg, FedProx, server optimizers, DP and secure aggregation.

>>> from plsim import data, models, federated
>>> ds = data.load_dataset("digits")
>>> parts = data.partition(ds.y_train, 30, "dirichlet", alpha=0.5)
>>> model = models.MLP(ds.n_features, hidden=(32,), n_classes=ds.n_classes)
>>> hist = federated.run_federated(model, ds, parts, algorithm="fedavg", rounds=20,
...                                client_fraction=0.2, local_epochs=5, batch_size=10, lr=0.05)
>>> same = federated.run_federated(model, ds, parts, rounds=20, strategy=federated.FedAvg(
...     client_fraction=0.2, local_epochs=5, batch_size=10, lr=0.05))

Modules: :mod:`~plsim.federated.strategies` (FedSGD, FedAvg, FedProx, FedAvgM, FedAdam and the
DP / secure-aggregation wrappers, in Flower's configure_fit / aggregate_fit / evaluate shape),
:mod:`~plsim.federated.algorithms` (local training, ``weighted_average``, server optimizers),
:mod:`~plsim.federated.client` (one client's task), :mod:`~plsim.federated.sampling` (who takes part),
:mod:`~plsim.federated.runner` (the round loop on any :mod:`plsim.executor`),
:mod:`~plsim.federated.clock` (simulated time), :mod:`~plsim.federated.ledger`
(bytes counted from payloads), :mod:`~plsim.federated.privacy` (DP-FedAvg),
:mod:`~plsim.federated.secagg` (secure aggregation), :mod:`~plsim.federated.history`.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

from plsim.federated.algorithms import (
    ALGORITHMS,
    ClientData,
    LocalResult,
    ServerAdam,
    ServerMomentum,
    ServerOptimizer,
    ServerSGD,
    local_update,
    make_server_optimizer,
    prox_loss_and_gradient,
    weighted_average,
)
from plsim.federated.client import fit_client
from plsim.federated.clock import ClientTiming, VirtualClock
from plsim.federated.demo import FederatedDemo, demo_settings
from plsim.federated.comparison import compare_algorithms, tune_lr
from plsim.federated.history import FederatedHistory, RoundRecord
from plsim.federated.ledger import CommunicationLedger, RoundTraffic, payload_nbytes
from plsim.federated.privacy import DPConfig, PrivacyAccountant, clip_update, compute_epsilon
from plsim.federated.runner import run_federated
from plsim.federated.sampling import client_seed, drop_out, select_clients
from plsim.federated.strategies import (
    DPFedAvg,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedProx,
    FedSGD,
    FitIns,
    FitRes,
    SecAgg,
    Strategy,
    StrategyWrapper,
    make_strategy,
)

__all__ = [
    "ALGORITHMS", "ClientData", "ClientTiming", "CommunicationLedger", "DPConfig", "DPFedAvg", "FedAdam",
    "FedAvg", "FedAvgM", "FedProx", "FedSGD", "FederatedDemo", "FederatedHistory", "FitIns", "FitRes",
    "LocalResult", "PrivacyAccountant", "RoundRecord", "RoundTraffic", "SecAgg", "ServerAdam", "ServerMomentum",
    "ServerOptimizer", "ServerSGD", "Strategy", "StrategyWrapper", "VirtualClock", "client_seed", "clip_update",
    "compare_algorithms", "compute_epsilon", "demo_settings", "drop_out", "fit_client", "local_update",
    "make_server_optimizer", "make_strategy", "payload_nbytes", "prox_loss_and_gradient", "run_federated",
    "select_clients", "tune_lr", "weighted_average",
]
