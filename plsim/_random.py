"""One seed tree for every random draw in plsim.

Every randomized piece of work (a bootstrap sample, a client's local epochs in
round 7, the shards of a data-parallel run, the noise of a DP round) draws from
its own branch of one tree rooted at the user's ``random_state``::

    task_seed(random_state, "client", round_index, client_id)

A branch depends only on the root, the *stream* name and the task's indices --
never on which worker runs the task or when -- so a run gives the same result
sequentially, on one worker or on twenty (``tests/test_random.py``; the topics' tests compare
sequential and Dask runs).

Streams are named (the table :data:`STREAMS`) so that two kinds of draw can
never share a branch by accident. Taught in ``notebooks/02_ensembles.ipynb``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["STREAMS", "check_random_state", "task_seed", "task_rng", "seed_int"]

STREAMS: dict[str, int] = {
    # federated (tags kept from plsim <= 0.x so the course's seeds keep their meaning)
    "server": 0,      # which clients a round selects, and who drops out
    "client": 1,      # a client's local work in a round
    "noise": 2,       # DP Gaussian noise added to a round's sum
    "secagg": 3,      # secure-aggregation masks and secret shares
    "init": 4,        # initial model parameters (federated and training)
    "clock": 7,       # the virtual clock's sampled client speeds
    # ensembles
    "member": 8,      # member i of an ensemble: its bootstrap rows, features and estimator seed
    "folds": 9,       # cross-validation folds of stacking and sweeps
    # distributed training
    "shards": 10,     # which rows each data-parallel worker holds
    "batch": 11,      # worker i's mini-batch at step t
    "data": 12,       # generated data sets and partitions (and the vectors the collectives exchange)
    # measuring
    "order": 13,      # the coin that orders each pair of a paired timing (which of two runs goes first)
}
"""Named streams of the seed tree: the first spawn-key word of each branch."""

_ALLOWED = "None, a non-negative int, a numpy.random.RandomState or a numpy.random.Generator"


def check_random_state(random_state: Any, name: str = "random_state") -> int:
    """The root of the seed tree (a non-negative int) for ``random_state``.

    ``None`` draws fresh entropy once (so every task of one run still shares
    one root); an int is used as is; a ``RandomState`` or ``Generator`` gives
    one integer drawn from it (advancing it, as scikit-learn does). Anything
    else -- a bool, a float, a string, a negative int -- is a ``ValueError``
    naming the parameter and what is allowed, the same in every module.
    """
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)):
        if random_state < 0:
            raise ValueError(f"{name}={random_state!r} is not allowed: it must be {_ALLOWED}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    raise ValueError(f"{name}={random_state!r} ({type(random_state).__name__}) is not allowed: "
                     f"it must be {_ALLOWED}")


def _stream(stream: str) -> int:
    try:
        return STREAMS[stream]
    except (KeyError, TypeError):
        raise ValueError(f"stream={stream!r} is unknown; plsim's seed streams are {sorted(STREAMS)}") from None


def task_seed(random_state: Any, stream: str, *index: int) -> np.random.SeedSequence:
    """The seed of one task: branch ``(stream, *index)`` of the tree rooted at ``random_state``.

    ``random_state`` is checked with :func:`check_random_state`; pass the root
    it returned when a run makes many draws, so that ``None`` means one fresh
    root per run rather than one per task.
    """
    root = check_random_state(random_state)
    key = [_stream(stream)]
    for i in index:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or i < 0:
            raise ValueError(f"index={i!r} of seed stream {stream!r} must be a non-negative int")
        key.append(int(i))
    return np.random.SeedSequence(root, spawn_key=tuple(key))


def task_rng(random_state: Any, stream: str, *index: int) -> np.random.Generator:
    """A ``numpy.random.Generator`` on branch ``(stream, *index)`` (see :func:`task_seed`)."""
    return np.random.default_rng(task_seed(random_state, stream, *index))


def seed_int(seed: np.random.SeedSequence, word: int = 0) -> int:
    """A 31-bit int (valid as any scikit-learn ``random_state``) from a seed sequence."""
    return int(seed.generate_state(word + 1)[word] % np.iinfo(np.int32).max)
