"""A virtual clock for the federation: SIMULATED time, stragglers and deadlines.

A laptop cannot show phones on slow networks, so time in a federated round is
*simulated* from a simple cost model, never measured:

    client time = latency + bytes_down / bandwidth          (receive the model)
                + samples processed / compute speed          (local training)
                + latency + bytes_up / bandwidth             (send the update)

Each client has its own compute speed and bandwidth, drawn once from a
log-normal spread around the means (seeded by the clock's ``random_state`` and
the client id, so a client is always equally fast). With a ``deadline``, a
client that would finish late is a **straggler**: ``straggler_policy="drop"``
discards it (FedAvg); ``"partial"`` keeps the local steps it managed before the
deadline (FedProx's "variable amount of local work").

Taught in ``notebooks/03_federated_learning.ipynb`` (section "Drop-outs and stragglers").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from plsim._random import task_rng
from plsim.validation import check_int, check_real

__all__ = ["VirtualClock", "ClientTiming"]

POLICIES = ("drop", "partial")


def _positive(name: str, value: object, allow_none: bool = False, allow_zero: bool = False) -> None:
    if not (value is None and allow_none):
        check_real(name, value, minimum=0, low_open=not allow_zero)


@dataclass(frozen=True)
class ClientTiming:
    """Simulated seconds for one client in one round."""

    client_id: int
    download: float
    compute: float
    upload: float
    steps_done: int
    straggler: bool

    @property
    def total(self) -> float:
        return self.download + self.compute + self.upload


@dataclass(frozen=True)
class VirtualClock:
    """Per-client speeds and a round deadline; all times it returns are SIMULATED seconds.

    Parameters
    ----------
    compute_speed : float
        Mean samples per second a client's local training processes.
    speed_sigma : float
        Spread of log(speed) across clients (0 = all alike; 1 = some 5x slower).
    bandwidth : float
        Mean bytes per second of a client's link (both directions).
    bandwidth_sigma : float
        Spread of log(bandwidth) across clients.
    latency : float
        Seconds per message (one down, one up per round).
    deadline : float or None
        Seconds after which the server stops waiting; None = wait for everyone.
    straggler_policy : {"drop", "partial"}
        What happens to a client that cannot finish by the deadline.
    random_state : int
        Seeds the per-client speeds.
    """

    compute_speed: float = 5_000.0
    speed_sigma: float = 0.0
    bandwidth: float = 1_000_000.0
    bandwidth_sigma: float = 0.0
    latency: float = 0.05
    deadline: float | None = None
    straggler_policy: str = "drop"
    random_state: int = 0

    def __post_init__(self) -> None:
        _positive("compute_speed", self.compute_speed)
        _positive("bandwidth", self.bandwidth)
        _positive("speed_sigma", self.speed_sigma, allow_zero=True)
        _positive("bandwidth_sigma", self.bandwidth_sigma, allow_zero=True)
        _positive("latency", self.latency, allow_zero=True)
        _positive("deadline", self.deadline, allow_none=True)
        if self.straggler_policy not in POLICIES:
            raise ValueError(f"straggler_policy={self.straggler_policy!r} must be one of {POLICIES}")
        check_int("random_state", self.random_state, 0)

    def profile(self, client_id: int) -> tuple[float, float]:
        """``(compute speed in samples/s, bandwidth in bytes/s)`` of one client (fixed across rounds)."""
        rng = task_rng(self.random_state, "clock", int(client_id))
        z_speed, z_bw = rng.standard_normal(2)
        # log-normal with the given *mean* (the -sigma^2/2 keeps the mean at the nominal value)
        speed = self.compute_speed * math.exp(self.speed_sigma * z_speed - self.speed_sigma ** 2 / 2)
        bw = self.bandwidth * math.exp(self.bandwidth_sigma * z_bw - self.bandwidth_sigma ** 2 / 2)
        return speed, bw

    def time_client(self, client_id: int, batch_sizes: list[int], bytes_down: int, bytes_up: int) -> ClientTiming:
        """Simulate one client's round: how long it takes and how many of its planned steps fit.

        ``batch_sizes`` lists the samples of each planned local step in order.
        """
        speed, bw = self.profile(client_id)
        down = self.latency + bytes_down / bw
        up = self.latency + bytes_up / bw
        compute = sum(batch_sizes) / speed
        steps = len(batch_sizes)
        if self.deadline is None or down + compute + up <= self.deadline:
            return ClientTiming(client_id, down, compute, up, steps, False)
        if self.straggler_policy == "partial":
            budget = (self.deadline - down - up) * speed  # samples that fit before the deadline
            done, used = 0, 0
            for b in batch_sizes:
                if used + b > budget:
                    break
                used += b
                done += 1
            return ClientTiming(client_id, down, used / speed, up if done else 0.0, done, True)
        return ClientTiming(client_id, down, compute, up, 0, True)

    def round_seconds(self, timings: list[ClientTiming], reporting: list[int]) -> float:
        """Simulated length of a round: until the last reporting client is done, or the deadline."""
        by_id = {t.client_id: t for t in timings}
        waits = [by_id[k].total for k in reporting if k in by_id]
        end = max(waits, default=0.0)
        if self.deadline is not None and (any(t.straggler for t in timings) or len(reporting) < len(timings)):
            return float(self.deadline)  # the server waited for late or missing clients until the deadline
        return float(end)
