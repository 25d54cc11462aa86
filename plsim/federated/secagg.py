"""Secure aggregation with pairwise additive masks (Bonawitz et al. 2017, simplified).

The server should learn only the SUM of the client updates, never one client's.

1. **Encode**: each client turns its float vector into fixed-point integers
   modulo 2**64 (``FRACTION_BITS`` binary digits after the point), so sums wrap
   around exactly and the masks can be uniformly random.
2. **Pairwise masks**: every pair of clients ``i < j`` shares a seed ``s_ij``
   (in a deployment: from a Diffie-Hellman key agreement; here derived from
   ``random_state``, the round and the pair). Both expand it into the same
   random vector ``m_ij``. Client ``i`` *adds* ``m_ij``, client ``j``
   *subtracts* it. The server sees only masked vectors, which look uniformly random.
3. **Sum**: adding all masked vectors, every ``m_ij`` appears once with ``+``
   and once with ``-`` and cancels: the server gets the exact sum.
4. **Drop-outs**: if client ``j`` drops after masks were agreed, the masks
   ``m_ij`` of the survivors ``i`` with ``j`` no longer cancel. The survivors
   reveal their seeds ``s_ij`` with the dropped clients (never with each other),
   the server regenerates those masks and removes them (:func:`unmask_sum`).

That simplified version trusts the survivors and has no threshold: with one
survivor its "sum" is its own update. :class:`SecureAggregation` is the
protocol as Bonawitz et al. (2017, "Practical Secure Aggregation for
Privacy-Preserving Machine Learning", CCS) define it, for an honest-but-curious
server:

* pair seeds come from a (toy) Diffie-Hellman key agreement, ``s_uv = g^(sk_u sk_v) mod P``;
* each client also adds a **self-mask** from its own seed ``b_u``, so a late
  vector is never exposed by unmasking its pair masks;
* each client **Shamir-shares** ``b_u`` and ``sk_u`` with every participant
  (threshold ``t``): from the survivors' shares the server rebuilds ``b_u`` of
  every survivor and ``sk_u`` of every dropped client, never both for one client;
* fewer than ``t`` survivors: unmasking is refused with an error, so no lone
  update is revealed; ``t`` must exceed half the participants, so two disjoint
  groups cannot both be unmasked;
* the modulus is checked against the declared value range up front: the
  participants' fixed-point sum of values with ``|x| <= value_bound`` must fit,
  otherwise :class:`SecureAggregation` refuses to start instead of wrapping.

Taught in ``notebooks/03_federated_learning.ipynb`` (section "Secure aggregation").
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from plsim._random import task_rng, task_seed

__all__ = [
    "FRACTION_BITS",
    "encode",
    "decode",
    "pair_seed",
    "pair_mask",
    "mask_vector",
    "masked_sum",
    "dangling_mask_correction",
    "unmask_sum",
    "shamir_share",
    "shamir_reconstruct",
    "SecureAggregation",
    "SUM_LIMIT",
]

FRACTION_BITS = 32  # resolution 2**-32 ~ 2.3e-10; sums must stay below 2**31 in absolute value
_SCALE = float(2 ** FRACTION_BITS)
_LIMIT = float(2 ** (63 - FRACTION_BITS))
SUM_LIMIT = _LIMIT
"""Largest absolute value a fixed-point sum can hold (2**31 with 32 fraction bits)."""


def encode(x: np.ndarray) -> np.ndarray:
    """Fixed-point encode a float vector as uint64 (two's complement modulo 2**64)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)) or np.any(np.abs(x) >= _LIMIT):
        raise ValueError(f"secure aggregation can encode values with |x| < {_LIMIT:.3g}; got max {np.max(np.abs(x))}")
    return np.round(x * _SCALE).astype(np.int64).view(np.uint64)


def decode(v: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode` (for a single vector or a sum of encoded vectors)."""
    return np.asarray(v, dtype=np.uint64).view(np.int64).astype(np.float64) / _SCALE


def pair_seed(random_state: int, round_index: int, i: int, j: int) -> np.ndarray:
    """The seed clients ``i`` and ``j`` share in a round (4 x uint32 = 16 bytes); symmetric in i, j."""
    a, b = (int(i), int(j)) if i < j else (int(j), int(i))
    return task_seed(random_state, "secagg", int(round_index), a, b).generate_state(4)


def pair_mask(seed: np.ndarray, size: int) -> np.ndarray:
    """Expand a pair seed into a uniformly random uint64 vector (the same on both clients)."""
    return np.random.PCG64(np.random.SeedSequence(np.asarray(seed, dtype=np.uint32))).random_raw(size).astype(np.uint64)


def mask_vector(encoded: np.ndarray, client_id: int, peer_seeds: dict[int, np.ndarray]) -> np.ndarray:
    """Client side: add ``m_ij`` for each peer ``j > i`` and subtract it for each ``j < i`` (mod 2**64)."""
    out = np.array(encoded, dtype=np.uint64, copy=True)
    for peer, seed in sorted(peer_seeds.items()):
        m = pair_mask(seed, out.size)
        if peer > client_id:
            out += m
        elif peer < client_id:
            out -= m
        else:
            raise ValueError(f"client {client_id} cannot share a mask with itself")
    return out


def masked_sum(masked: list[np.ndarray]) -> np.ndarray:
    """Server side: sum of masked uint64 vectors (mod 2**64)."""
    total = np.zeros_like(np.asarray(masked[0], dtype=np.uint64))
    for v in masked:
        total += v
    return total


def dangling_mask_correction(survivor: int, revealed: dict[int, np.ndarray], size: int) -> np.ndarray:
    """What survivor ``survivor`` added for its masks with dropped peers (to subtract from the sum)."""
    return mask_vector(np.zeros(size, dtype=np.uint64), survivor, revealed)


def unmask_sum(masked: dict[int, np.ndarray], revealed: dict[int, dict[int, np.ndarray]] | None = None,
               *, participants: Iterable[int]) -> np.ndarray:
    """Server side: the decoded true sum of the survivors' vectors.

    Parameters
    ----------
    masked : dict
        ``client id -> masked vector`` for every client whose update arrived.
    revealed : dict, optional
        ``survivor id -> {dropped id -> pair seed}``: the seeds each survivor
        revealed with the clients that dropped out. Needed whenever a client
        that took part in the mask agreement did not send its vector.
    participants : iterable of int
        Every client that took part in the mask agreement (required: from the
        vectors alone the server cannot tell that one is missing, and a missing
        one leaves random masks in the sum). A dropped participant without
        every survivor's revealed seed is an error, not a sum off by a random mask.

    See Also
    --------
    masked_sum, decode : the raw sum, masks and all (what the server has before any recovery).
    """
    if not masked:
        raise ValueError("no masked vectors arrived; nothing to aggregate")
    if isinstance(participants, (str, bytes)) or not isinstance(participants, Iterable):
        raise TypeError(f"participants must be the ids of every client that agreed on masks, got {participants!r}")
    participants = {int(k) for k in participants}
    strangers = sorted(set(int(k) for k in masked) - participants)
    if strangers:
        raise ValueError(f"clients {strangers} sent masked vectors but are not in participants={sorted(participants)}")
    dropped = sorted(participants - set(masked))
    missing = [(k, j) for k in sorted(masked) for j in dropped if j not in (revealed or {}).get(k, {})]
    if missing:
        k, j = missing[0]
        raise ValueError(f"participant {j} sent no vector and survivor {k} has not revealed its seed with it "
                         f"({len(missing)} seed(s) missing): their masks would not cancel and the sum would be "
                         "random. Pass revealed={survivor: {dropped: seed}} for every survivor and dropped client.")
    total = masked_sum([masked[k] for k in sorted(masked)])
    for survivor, seeds in sorted((revealed or {}).items()):
        if survivor not in masked:
            raise ValueError(f"client {survivor} revealed seeds but sent no vector")
        total -= dangling_mask_correction(survivor, seeds, total.size)
    return decode(total)


# -- the threshold protocol (Bonawitz et al. 2017) ------------------------------------
PRIME = 2**127 - 1
"""A Mersenne prime: the field of the Shamir shares and the (toy) Diffie-Hellman group."""
GENERATOR = 3


def shamir_share(secret: int, threshold: int, holders: Iterable[int], rng: np.random.Generator) -> dict[int, int]:
    """Shamir shares of ``secret`` (an int in ``[0, PRIME)``): any ``threshold`` of them rebuild it, fewer reveal nothing.

    ``f(x) = secret + a_1 x + ... + a_{t-1} x^{t-1} (mod PRIME)`` with random
    ``a_i``; holder ``h`` gets ``f(h + 1)`` (``x = 0`` would be the secret itself).
    """
    holders = sorted(set(int(h) for h in holders))
    if not 1 <= threshold <= len(holders):
        raise ValueError(f"threshold={threshold} must be between 1 and the {len(holders)} holders")
    if not 0 <= secret < PRIME:
        raise ValueError("secret must be an integer in [0, PRIME)")
    coefficients = [int(secret)] + [int.from_bytes(rng.bytes(16), "little") % PRIME for _ in range(threshold - 1)]
    return {h: sum(c * pow(h + 1, k, PRIME) for k, c in enumerate(coefficients)) % PRIME for h in holders}


def shamir_reconstruct(shares: Mapping[int, int], threshold: int) -> int:
    """The secret from at least ``threshold`` shares ``{holder: f(holder + 1)}`` (Lagrange at 0)."""
    if len(shares) < threshold:
        raise ValueError(f"{len(shares)} share(s) cannot rebuild a secret shared with threshold {threshold}")
    points = sorted(shares.items())[:threshold]
    secret = 0
    for i, (hi, yi) in enumerate(points):
        xi, num, den = hi + 1, 1, 1
        for j, (hj, _) in enumerate(points):
            if i != j:
                num = num * (-(hj + 1)) % PRIME
                den = den * (xi - (hj + 1)) % PRIME
        secret = (secret + yi * num * pow(den, -1, PRIME)) % PRIME
    return secret


def _seed_words(value: int) -> np.ndarray:
    return np.array([(value >> (32 * k)) & 0xFFFFFFFF for k in range(4)], dtype=np.uint32)


@dataclass
class SecureAggregation:
    """One round of secure aggregation with a threshold, as in Bonawitz et al. (2017).

    Parameters
    ----------
    participants : iterable of int
        Client ids that agreed on keys and exchanged shares this round.
    threshold : int
        Fewest survivors whose vectors may be unmasked; more than half of the
        participants (``len // 2 + 1`` or more) and at most all of them.
    value_bound : float
        Every entry a client sends satisfies ``|x| <= value_bound``; the modulus
        must hold the participants' whole sum, checked here.
    random_state, round_index : int
        Seed the simulated keys, self-mask seeds and share polynomials of this round.

    The object plays every client's and the server's part; the methods say
    whose part each is. Secrets a real server never holds (``_keys``,
    ``_self_seeds``) are private attributes.
    """

    participants: tuple[int, ...]
    threshold: int
    value_bound: float
    random_state: int = 0
    round_index: int = 0
    _keys: dict[int, int] = field(default_factory=dict, repr=False)
    _self_seeds: dict[int, int] = field(default_factory=dict, repr=False)
    public_keys: dict[int, int] = field(default_factory=dict, repr=False)
    key_shares: dict[int, dict[int, int]] = field(default_factory=dict, repr=False)
    self_seed_shares: dict[int, dict[int, int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        ids = sorted(set(int(k) for k in self.participants))
        if len(ids) < 2:
            raise ValueError(f"participants={ids}: secure aggregation needs at least 2 clients")
        self.participants = tuple(ids)
        n = len(ids)
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, numbers.Integral):
            raise TypeError(f"threshold must be an integer, got {self.threshold!r}")
        if not n // 2 + 1 <= self.threshold <= n:
            raise ValueError(f"threshold={self.threshold} must be between {n // 2 + 1} (more than half of the "
                             f"{n} participants) and {n}")
        if isinstance(self.value_bound, bool) or not isinstance(self.value_bound, numbers.Real):
            raise TypeError(f"value_bound must be a number, got {self.value_bound!r}")
        if not (math.isfinite(self.value_bound) and self.value_bound > 0):
            raise ValueError(f"value_bound={self.value_bound!r} must be a finite number > 0")
        if n * self.value_bound >= _LIMIT:
            raise ValueError(
                f"value_bound={self.value_bound:g} with {n} participants: their sum can reach "
                f"{n * self.value_bound:g}, beyond the {_LIMIT:g} the 64-bit modulus holds with "
                f"{FRACTION_BITS} fraction bits; it would wrap silently. Clip the updates to a smaller bound "
                "or aggregate fewer clients per round.")
        rng = task_rng(self.random_state, "secagg", int(self.round_index))
        for u in ids:
            self._keys[u] = int.from_bytes(rng.bytes(16), "little") % (PRIME - 2) + 1
            self._self_seeds[u] = int.from_bytes(rng.bytes(16), "little") % PRIME
            self.public_keys[u] = pow(GENERATOR, self._keys[u], PRIME)
        for u in ids:  # client u sends one share of each secret to every participant
            for holder, share in shamir_share(self._keys[u], self.threshold, ids, rng).items():
                self.key_shares.setdefault(holder, {})[u] = share
            for holder, share in shamir_share(self._self_seeds[u], self.threshold, ids, rng).items():
                self.self_seed_shares.setdefault(holder, {})[u] = share

    # -- client side ------------------------------------------------------------------
    def _pair_seed(self, secret_key: int, peer: int) -> np.ndarray:
        """``g^(sk_u sk_v)``: computable from u's secret key and v's public key (Diffie-Hellman)."""
        return _seed_words(pow(self.public_keys[peer], secret_key, PRIME))

    def mask(self, client_id: int, x: np.ndarray) -> np.ndarray:
        """Client ``client_id``'s masked vector: encoded ``x`` + self-mask +- pair masks (mod 2**64)."""
        if client_id not in self._keys:
            raise ValueError(f"client {client_id} is not a participant of this round ({list(self.participants)})")
        x = np.asarray(x, dtype=np.float64)
        if np.any(~np.isfinite(x)) or np.any(np.abs(x) > self.value_bound):
            raise ValueError(f"client {client_id}'s vector leaves the declared range |x| <= {self.value_bound:g} "
                             f"(max {np.max(np.abs(x)):g}); clip it first")
        peers = {v: self._pair_seed(self._keys[client_id], v) for v in self.participants if v != client_id}
        out = mask_vector(encode(x), client_id, peers)
        return out + pair_mask(_seed_words(self._self_seeds[client_id]), out.size)

    # -- server side ------------------------------------------------------------------
    def unmask(self, masked: Mapping[int, np.ndarray]) -> np.ndarray:
        """The decoded sum of the survivors' vectors, rebuilt from the survivors' shares.

        Raises
        ------
        ValueError
            If fewer than ``threshold`` participants sent a vector (unmasking
            them would reveal too few clients' updates), or a sender was not a
            participant.
        """
        survivors = sorted(int(k) for k in masked)
        strangers = [k for k in survivors if k not in self._keys]
        if strangers:
            raise ValueError(f"clients {strangers} sent vectors but were not participants of this round")
        if len(survivors) < self.threshold:
            raise ValueError(
                f"only {len(survivors)} of {len(self.participants)} participants sent their vector, below the "
                f"threshold {self.threshold}: unmasking is refused, since so small a sum could expose single "
                "clients' updates. Skip this round's aggregation.")
        dropped = [u for u in self.participants if u not in masked]
        size = np.asarray(masked[survivors[0]]).size
        total = masked_sum([np.asarray(masked[k], dtype=np.uint64) for k in survivors])
        for u in survivors:  # rebuild b_u from the survivors' shares, remove the self-mask
            b_u = shamir_reconstruct({h: self.self_seed_shares[h][u] for h in survivors}, self.threshold)
            total -= pair_mask(_seed_words(b_u), size)
        for u in dropped:  # rebuild sk_u, remove the pair masks the survivors shared with u
            sk_u = shamir_reconstruct({h: self.key_shares[h][u] for h in survivors}, self.threshold)
            for v in survivors:
                m = pair_mask(self._pair_seed(sk_u, v), size)
                # survivor v added m if u > v and subtracted it if u < v
                total = total - m if u > v else total + m
        return decode(total)
