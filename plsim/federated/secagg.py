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
   the server regenerates those masks and removes them. (The full protocol also
   adds self-masks and secret-shares the seeds so that a late client cannot be
   unmasked; omitted here.)

Taught in ``notebooks/03_federated_learning.ipynb`` (section "Secure aggregation").
"""

from __future__ import annotations

import numpy as np

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
]

FRACTION_BITS = 32  # resolution 2**-32 ~ 2.3e-10; sums must stay below 2**31 in absolute value
_SCALE = float(2 ** FRACTION_BITS)
_LIMIT = float(2 ** (63 - FRACTION_BITS))


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
    return np.random.SeedSequence(int(random_state), spawn_key=(3, int(round_index), a, b)).generate_state(4)


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


def unmask_sum(masked: dict[int, np.ndarray], revealed: dict[int, dict[int, np.ndarray]] | None = None) -> np.ndarray:
    """Server side: the decoded true sum of the survivors' vectors.

    Parameters
    ----------
    masked : dict
        ``client id -> masked vector`` for every client whose update arrived.
    revealed : dict, optional
        ``survivor id -> {dropped id -> pair seed}``: the seeds each survivor
        revealed with the clients that dropped out. Needed whenever a client
        that took part in the mask agreement did not send its vector.
    """
    if not masked:
        raise ValueError("no masked vectors arrived; nothing to aggregate")
    total = masked_sum([masked[k] for k in sorted(masked)])
    for survivor, seeds in sorted((revealed or {}).items()):
        if survivor not in masked:
            raise ValueError(f"client {survivor} revealed seeds but sent no vector")
        total -= dangling_mask_correction(survivor, seeds, total.size)
    return decode(total)
