"""DP-FedAvg: user-level differential privacy for federated averaging.

Following McMahan et al. 2018 ("Learning differentially private recurrent
language models"):

1. each client is sampled independently with probability ``q`` (Poisson sampling);
2. each sampled client **clips** its update to L2 norm at most ``clip``;
3. the server adds Gaussian noise ``N(0, (noise_multiplier * clip)^2 I)`` to the
   *sum* of the clipped updates and divides by the expected number of
   participants ``q * n_clients`` (a fixed denominator, so one client's presence
   changes the result by at most ``clip / (q n)``).

The privacy budget epsilon for a given delta after T rounds comes from Google's
``dp_accounting`` library (Rényi-DP accountant composing T Poisson-subsampled
Gaussian mechanisms), not from a hand-written formula.

Taught in ``notebooks/03_federated_learning.ipynb`` (section "Privacy").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from plsim.validation import check_int
from plsim.validation import check_real

__all__ = ["DPConfig", "clip_update", "gaussian_noise", "compute_epsilon", "PrivacyAccountant"]


@dataclass(frozen=True)
class DPConfig:
    """Settings of DP-FedAvg.

    Parameters
    ----------
    clip : float
        L2 bound every client update is clipped to (> 0).
    noise_multiplier : float
        Noise standard deviation divided by ``clip`` (>= 0; 0 = clipping only, no privacy).
    delta : float
        The delta of (epsilon, delta)-DP, in (0, 1); usually below 1 / n_clients.
    """

    clip: float = 1.0
    noise_multiplier: float = 1.0
    delta: float = 1e-3

    def __post_init__(self) -> None:
        check_real("DPConfig clip", self.clip, minimum=0, low_open=True)
        check_real("DPConfig noise_multiplier", self.noise_multiplier, minimum=0)
        check_real("DPConfig delta", self.delta, minimum=0, maximum=1, low_open=True, high_open=True)


def clip_update(delta: np.ndarray, clip: float) -> tuple[np.ndarray, float]:
    """Scale ``delta`` down to L2 norm at most ``clip``; returns ``(clipped, original norm)``.

    A new array; ``delta`` is not modified. ``clip`` must be a finite number > 0.
    """
    clip = check_real("clip", clip, minimum=0, low_open=True)
    norm = float(np.linalg.norm(delta))
    factor = min(1.0, clip / norm) if norm > 0 else 1.0
    return delta * factor, norm


def gaussian_noise(shape: int | tuple[int, ...], std: float, seed: np.random.SeedSequence) -> np.ndarray:
    """Gaussian noise of the given standard deviation, reproducible from ``seed``.

    ``shape`` is a length or a tuple of lengths (integers >= 0); ``std`` a finite number >= 0.
    """
    dims = shape if isinstance(shape, tuple) else (shape,)
    for i, n in enumerate(dims):
        check_int("shape" if dims is not shape else f"shape[{i}]", n, 0)
    std = check_real("std", std, minimum=0)
    return np.random.default_rng(seed).normal(0.0, std, size=shape)


class _QuietAbsl:
    """dp_accounting logs (via absl) every RDP order it skips at low noise; the result is still correct."""

    def __enter__(self) -> None:
        import logging

        self._logger = logging.getLogger("absl")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self._logger.setLevel(self._level)


def _dp_event(noise_multiplier: float, sampling_probability: float):
    import dp_accounting

    return dp_accounting.PoissonSampledDpEvent(
        sampling_probability, dp_accounting.GaussianDpEvent(noise_multiplier)
    )


def compute_epsilon(noise_multiplier: float, sampling_probability: float, rounds: int, delta: float) -> float:
    """Epsilon of ``rounds`` Poisson-sampled Gaussian mechanisms at ``delta`` (dp_accounting's RDP accountant).

    Parameters
    ----------
    noise_multiplier : float
        Noise std / clip (> 0; 0 means no privacy: epsilon is infinite).
    sampling_probability : float
        Probability that a client takes part in a round (the client fraction C), in (0, 1].
    rounds : int
        Number of rounds composed (>= 0).
    delta : float
        Target delta in (0, 1).

    Raises
    ------
    TypeError
        An argument is not a number (``rounds``: not an integer).
    ValueError
        An argument is NaN, infinite or outside its range.
    """
    from dp_accounting.rdp import RdpAccountant

    noise_multiplier = check_real("noise_multiplier", noise_multiplier, minimum=0)
    sampling_probability = check_real("sampling_probability", sampling_probability, minimum=0, maximum=1,
                                      low_open=True)
    rounds = check_int("rounds", rounds, 0)
    delta = check_real("delta", delta, minimum=0, maximum=1, low_open=True, high_open=True)
    if rounds == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    with _QuietAbsl():
        accountant = RdpAccountant()
        accountant.compose(_dp_event(noise_multiplier, sampling_probability), rounds)
        return float(accountant.get_epsilon(delta))


class PrivacyAccountant:
    """Tracks epsilon round by round during a DP-FedAvg run (dp_accounting's RDP accountant).

    Rényi-DP composes additively, so the accountant's RDP curve of ONE round is
    computed once and epsilon after ``t`` rounds is dp_accounting's
    ``compute_epsilon(orders, t * rdp_one_round, delta)`` -- the same number as
    composing the round ``t`` times, without recomputing the curve every round.
    """

    def __init__(self, config: DPConfig, sampling_probability: float) -> None:
        if not isinstance(config, DPConfig):
            raise TypeError(f"config must be a DPConfig(clip, noise_multiplier, delta), got {config!r}")
        self.config = config
        self.sampling_probability = check_real("sampling_probability", sampling_probability, minimum=0, maximum=1,
                                               low_open=True)
        self.rounds = 0
        self._orders: np.ndarray | None = None
        self._rdp_one: np.ndarray | None = None

    def step(self) -> float:
        """Compose one more round and return epsilon so far (inf without noise)."""
        from dp_accounting.rdp import RdpAccountant
        from dp_accounting.rdp.rdp_privacy_accountant import compute_epsilon as rdp_to_epsilon

        self.rounds += 1
        if self.config.noise_multiplier == 0:
            return math.inf
        with _QuietAbsl():
            if self._rdp_one is None:
                one = RdpAccountant()
                one.compose(_dp_event(self.config.noise_multiplier, self.sampling_probability))
                self._orders, self._rdp_one = one.orders, one.rdp
            return float(rdp_to_epsilon(self._orders, self.rounds * self._rdp_one, self.config.delta)[0])
