"""Demo sizes and hyperparameters of the federated-learning notebook and widget, in one place.

``PLSIM_SMALL=1`` (see :func:`plsim.config.small_mode`) shrinks them for CI and Binder.
Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from plsim.config import small_mode

__all__ = ["FederatedDemo", "demo_config"]


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
    lr: float = 0.05              # FedAvg client learning rate
    fedsgd_lr: float = 0.5        # FedSGD needs a larger step: one step per round
    alpha: float = 0.1            # Dirichlet concentration for the non-IID demos
    mu: float = 1.0               # FedProx
    clip: float = 1.0             # DP-FedAvg
    delta: float = 1e-3
    random_state: int = 0


def demo_config() -> FederatedDemo:
    """The demo settings, shrunk in small mode (fewer rounds)."""
    cfg = FederatedDemo()
    if small_mode():
        cfg = replace(cfg, rounds=10)
    return cfg
