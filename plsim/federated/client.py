"""The client's side of a federated round: train from the global model, then build the message it sends.

:func:`fit_client` is the task the runner submits for each sampled client (to a
Dask worker, or here); its instructions come from a strategy's
``configure_fit`` (:class:`~plsim.federated.strategies.FitIns`), and what it
returns (:class:`~plsim.federated.strategies.FitRes`) goes to the strategy's
``aggregate_fit``.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plsim.federated.algorithms import ClientData, local_update
from plsim.federated.privacy import clip_update
from plsim.federated.strategies import FitRes

__all__ = ["fit_client"]


def fit_client(model: Any, data: ClientData, weights: np.ndarray, config: dict[str, Any]) -> FitRes:
    """One client's round: train locally, then (DP) clip and (secure aggregation) mask what it sends.

    ``config`` keys: ``algorithm, local_epochs, batch_size, lr, mu, seed`` and
    optionally ``max_steps`` (a straggler's partial work), ``clip`` (DP: clip
    the change to this norm and send it with weight 1) and ``secagg`` (the
    round's :class:`~plsim.federated.secagg.SecureAggregation`: send only the
    masked ``[weight * delta, weight]``).
    """
    res = local_update(model, weights, data.X, data.y, algorithm=config["algorithm"],
                       local_epochs=config["local_epochs"], batch_size=config["batch_size"], lr=config["lr"],
                       mu=config["mu"], seed=config["seed"], max_steps=config.get("max_steps"))
    delta, weight = res.delta, float(res.n_samples)
    if config.get("clip") is not None:  # DP-FedAvg: clipped, uniform weights
        delta, _ = clip_update(delta, config["clip"])
        weight = 1.0
    if config.get("secagg") is not None:
        message = {"masked": config["secagg"].mask(data.client_id, np.concatenate([weight * delta, [weight]]))}
    else:
        message = {"delta": delta, "weight": weight}
    return FitRes(data.client_id, message, res.delta, res.n_samples, res.steps, res.loss)
