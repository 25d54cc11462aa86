"""What a federated run records, round by round.

Every :class:`RoundRecord` separates **measured** numbers (accuracy and loss of
the global model on the test split, bytes counted from the real payloads, the
wall-clock seconds the round took on this machine) from **simulated** ones
(seconds on the virtual clock). Client drift is the mean distance of the
clients' local models from their (weighted) average: how far apart non-IID
clients pull the model.

Taught in ``notebooks/03_federated_learning.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from plsim.i18n import _
from plsim.federated.ledger import CommunicationLedger

__all__ = ["RoundRecord", "FederatedHistory"]


@dataclass(frozen=True)
class RoundRecord:
    """One round. ``*_seconds_measured`` is wall-clock; ``simulated_seconds`` comes from the virtual clock."""

    round: int                        # 1-based
    test_accuracy: float              # measured on the test split, global model after the round
    test_loss: float
    selected: tuple[int, ...]         # client ids sampled this round
    reporting: tuple[int, ...]        # whose update reached the server
    dropped: tuple[int, ...]          # dropped out (never sent)
    stragglers: tuple[int, ...]       # missed the deadline (dropped or partial work)
    bytes_down: int                   # counted from the real payloads
    bytes_up: int
    messages: int
    cumulative_bytes: int
    simulated_seconds: float          # SIMULATED (virtual clock)
    cumulative_simulated_seconds: float
    wall_seconds_measured: float      # MEASURED on this machine
    client_drift: float               # mean ||w_k - average of w_k|| over reporting clients (nan if < 1)
    mean_update_norm: float           # mean ||w_global - w_k|| before clipping
    epsilon: float | None = None      # DP budget so far (None without DP)
    unmasked: bool | None = None      # secure aggregation: threshold met and sum unmasked (None without it)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FederatedHistory:
    """All rounds of a run plus the final global model.

    Attributes
    ----------
    records : list of RoundRecord
    weights : ndarray
        Final global parameter vector.
    initial_accuracy, initial_loss : float
        The global model before round 1 (measured on the test split).
    ledger : CommunicationLedger
    settings : dict
        The arguments of the run (for labels and tables).
    stopped_early : bool
        True when the callback stopped the run.
    diverged_round : int or None
        The round after which the global model stopped being finite (the run
        stopped there, with a RuntimeWarning), or None.
    stopped_reason : str or None
        Why the run ended before its rounds: ``"interrupted"`` (KeyboardInterrupt:
        the round in progress was cancelled, a warning said so), ``"stopped"``
        (the callback, e.g. the playground's Stop), ``"diverged"``; None when
        every round ran.
    """

    records: list[RoundRecord] = field(default_factory=list)
    weights: np.ndarray | None = None
    initial_accuracy: float = math.nan
    initial_loss: float = math.nan
    ledger: CommunicationLedger = field(default_factory=CommunicationLedger)
    settings: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False
    diverged_round: int | None = None
    stopped_reason: str | None = None

    @property
    def partial(self) -> bool:
        """True when the run ended before its rounds (interrupted, stopped or diverged): it holds what finished."""
        return self.stopped_reason is not None

    def __len__(self) -> int:
        return len(self.records)

    def _col(self, name: str) -> np.ndarray:
        return np.array([getattr(r, name) for r in self.records], dtype=float)

    @property
    def rounds(self) -> np.ndarray:
        return self._col("round")

    @property
    def accuracy(self) -> np.ndarray:
        """Test accuracy after each round (measured)."""
        return self._col("test_accuracy")

    @property
    def loss(self) -> np.ndarray:
        return self._col("test_loss")

    @property
    def cumulative_bytes(self) -> np.ndarray:
        return self._col("cumulative_bytes")

    @property
    def simulated_time(self) -> np.ndarray:
        """Cumulative SIMULATED seconds at the end of each round."""
        return self._col("cumulative_simulated_seconds")

    @property
    def wall_time(self) -> np.ndarray:
        """Cumulative MEASURED wall-clock seconds at the end of each round."""
        return np.cumsum(self._col("wall_seconds_measured"))

    @property
    def drift(self) -> np.ndarray:
        return self._col("client_drift")

    @property
    def epsilon(self) -> np.ndarray:
        return np.array([np.nan if r.epsilon is None else r.epsilon for r in self.records])

    @property
    def final_accuracy(self) -> float:
        return float(self.records[-1].test_accuracy) if self.records else self.initial_accuracy

    def rounds_to(self, target: float) -> int | None:
        """First round whose test accuracy reaches ``target``; None if never."""
        for r in self.records:
            if r.test_accuracy >= target:
                return r.round
        return None

    def bytes_to(self, target: float) -> int | None:
        """Cumulative bytes moved when the test accuracy first reaches ``target``; None if never."""
        for r in self.records:
            if r.test_accuracy >= target:
                return r.cumulative_bytes
        return None

    def summary(self) -> str:
        """One line: final accuracy, rounds, bytes (measured), simulated time."""
        if not self.records:
            return "no rounds run" + (f" ({self.stopped_reason})" if self.stopped_reason else "")
        last = self.records[-1]
        eps = f", epsilon={last.epsilon:.2f}" if last.epsilon is not None else ""
        refused = sum(r.unmasked is False for r in self.records)
        skipped = (_(", {refused} round(s) not aggregated: too few survivors for secure "
                      "aggregation's threshold").format(refused=refused)
                   if refused else "")
        cut = (_(" (partial: {stopped_reason} after {n_records} of {rounds} rounds)").format(stopped_reason=self.stopped_reason, n_records=len(self.records), rounds=self.settings['rounds'])
               if self.partial and "rounds" in self.settings else "")
        return (_("{n_records} rounds{cut}: test accuracy {test_accuracy:.3f}, {value:.2f} MB "
                   "moved (measured), {cumulative_simulated_seconds:.1f} s simulated, "
                   "{value2:.2f} s wall (measured){eps}{skipped}").format(n_records=len(self.records), cut=cut, test_accuracy=last.test_accuracy, value=last.cumulative_bytes / 1e6, cumulative_simulated_seconds=last.cumulative_simulated_seconds, value2=self.wall_time[-1], eps=eps, skipped=skipped))
