"""Federated learning on the Dask cluster: FedSGD, FedAvg, FedProx, server optimizers, DP and secure aggregation.

>>> from plsim import data, models, federated
>>> ds = data.load_dataset("digits")
>>> parts = data.partition(ds.y_train, 30, "dirichlet", alpha=0.5)
>>> model = models.MLP(ds.n_features, hidden=(32,), n_classes=ds.n_classes)
>>> hist = federated.run_federated(model, ds, parts, algorithm="fedavg", rounds=20,
...                                client_fraction=0.2, local_epochs=5, batch_size=10, lr=0.05)

Modules: :mod:`~plsim.federated.algorithms` (what clients and server compute),
:mod:`~plsim.federated.runner` (the round loop, sequential or on Dask),
:mod:`~plsim.federated.clock` (simulated time), :mod:`~plsim.federated.ledger`
(bytes counted from payloads), :mod:`~plsim.federated.privacy` (DP-FedAvg),
:mod:`~plsim.federated.secagg` (secure aggregation), :mod:`~plsim.federated.history`.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

from plsim.federated.algorithms import (
    ALGORITHMS,
    ClientData,
    FedAdam,
    FedAvgM,
    LocalResult,
    ServerOptimizer,
    ServerSGD,
    local_update,
    make_server_optimizer,
    prox_loss_and_gradient,
    weighted_average,
)
from plsim.federated.clock import ClientTiming, VirtualClock
from plsim.federated.config import FederatedDemo, demo_config
from plsim.federated.history import FederatedHistory, RoundRecord
from plsim.federated.ledger import CommunicationLedger, RoundTraffic, payload_nbytes
from plsim.federated.privacy import DPConfig, PrivacyAccountant, clip_update, compute_epsilon
from plsim.federated.runner import client_seed, run_federated, select_clients

__all__ = [
    "ALGORITHMS", "ClientData", "ClientTiming", "CommunicationLedger", "DPConfig", "FedAdam", "FedAvgM",
    "FederatedDemo", "FederatedHistory", "LocalResult", "PrivacyAccountant", "RoundRecord", "RoundTraffic",
    "ServerOptimizer", "ServerSGD", "VirtualClock", "client_seed", "clip_update", "compute_epsilon",
    "demo_config", "local_update", "make_server_optimizer", "payload_nbytes", "prox_loss_and_gradient",
    "run_federated", "select_clients", "weighted_average",
]
