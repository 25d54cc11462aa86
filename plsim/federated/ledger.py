"""The communication ledger: bytes and messages moved in each federated round.

Bytes are counted from the **real payloads** the simulation sends by
:func:`plsim.comm.payload_nbytes` (numpy arrays' and scalars' ``nbytes``, 8 bytes per
Python number -- the same count the training loops use), not from a formula: the global
model going down to each selected client, the update (plus its weight) coming
back, and under secure aggregation the extra seed-revealing messages.
The *time* those bytes would take on a real network is **simulated** by
:class:`plsim.federated.clock.VirtualClock`.

Taught in ``notebooks/03_federated_learning.ipynb`` (section "Communication").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plsim.comm.sizes import payload_nbytes

# payload_nbytes is re-exported: plsim.federated.payload_nbytes is plsim.comm.payload_nbytes.
__all__ = ["payload_nbytes", "RoundTraffic", "CommunicationLedger"]


@dataclass
class RoundTraffic:
    """What moved in one round (bytes measured from payloads; seconds simulated)."""

    round: int
    bytes_down: int = 0
    bytes_up: int = 0
    messages_down: int = 0
    messages_up: int = 0
    simulated_seconds: float = 0.0

    def send_down(self, payload: Any) -> None:
        """Record one server -> client message."""
        self.bytes_down += payload_nbytes(payload)
        self.messages_down += 1

    def send_up(self, payload: Any) -> None:
        """Record one client -> server message."""
        self.bytes_up += payload_nbytes(payload)
        self.messages_up += 1

    @property
    def total_bytes(self) -> int:
        return self.bytes_down + self.bytes_up


@dataclass
class CommunicationLedger:
    """All rounds' traffic, with cumulative totals."""

    rounds: list[RoundTraffic] = field(default_factory=list)

    def new_round(self, round_index: int) -> RoundTraffic:
        entry = RoundTraffic(round_index)
        self.rounds.append(entry)
        return entry

    @property
    def bytes_down(self) -> int:
        return sum(r.bytes_down for r in self.rounds)

    @property
    def bytes_up(self) -> int:
        return sum(r.bytes_up for r in self.rounds)

    @property
    def total_bytes(self) -> int:
        return self.bytes_down + self.bytes_up

    @property
    def messages(self) -> int:
        return sum(r.messages_down + r.messages_up for r in self.rounds)

    def table(self) -> str:
        """A plain-text table: one row per round (bytes measured, seconds simulated)."""
        from plsim.i18n import _

        heads = (_("round"), _("bytes down"), _("bytes up"), _("messages"), _("simulated s"))
        lines = ["{:>5} {:>12} {:>12} {:>9} {:>12}".format(*heads)]
        for r in self.rounds:
            lines.append(f"{r.round:>5} {r.bytes_down:>12,} {r.bytes_up:>12,} "
                         f"{r.messages_down + r.messages_up:>9} {r.simulated_seconds:>12.3f}")
        return "\n".join(lines)
