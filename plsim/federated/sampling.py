"""Who takes part in a federated round: client sampling, drop-outs, and each client's seed.

Every draw comes from the run's seed tree (:mod:`plsim._random`): the round's
sample from stream ``"server"`` (branch ``(round,)``), its drop-outs from
``"server"`` (branch ``(round, 1)``), a client's local batches from
``"client"`` (branch ``(round, client)``). So the same clients are chosen and
drop out however many workers run the round.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import numpy as np

from plsim._random import task_rng, task_seed
from plsim.validation import check_int, check_real

__all__ = ["client_seed", "select_clients", "drop_out"]


def client_seed(random_state: int, round_index: int, client_id: int) -> np.random.SeedSequence:
    """Seed of client ``client_id``'s local work in round ``round_index`` (1-based)."""
    return task_seed(random_state, "client", int(round_index), int(client_id))


def drop_out(selected: list[int], dropout_rate: float, round_index: int, random_state: int) -> list[int]:
    """The selected clients that drop out of round ``round_index``, each with probability ``dropout_rate``."""
    dropout_rate = check_real("dropout_rate", dropout_rate, minimum=0, maximum=1, high_open=True)
    if not selected or not dropout_rate:
        return []
    drops = task_rng(random_state, "server", int(round_index), 1).random(len(selected)) < dropout_rate
    return [int(k) for k, d in zip(selected, drops) if d]


def select_clients(n_clients: int, client_fraction: float, round_index: int, random_state: int,
                   *, poisson: bool = False, dropout_rate: float = 0.0) -> tuple[list[int], list[int]]:
    """``(selected, dropped)`` client ids of a round.

    Without ``poisson``: ``max(1, round(C * K))`` clients drawn without
    replacement (McMahan et al. 2017). With ``poisson`` (DP-FedAvg): each
    client independently with probability C. Each selected client then drops
    out with probability ``dropout_rate`` (:func:`drop_out`).
    """
    n_clients = check_int("n_clients", n_clients, 1)
    client_fraction = check_real("client_fraction", client_fraction, minimum=0, maximum=1, low_open=True)
    rng = task_rng(random_state, "server", int(round_index))
    if poisson:
        selected = [int(k) for k in np.flatnonzero(rng.random(n_clients) < client_fraction)]
    else:
        m = max(1, int(round(client_fraction * n_clients)))
        selected = sorted(int(k) for k in rng.choice(n_clients, size=m, replace=False))
    return selected, drop_out(selected, dropout_rate, round_index, random_state)
