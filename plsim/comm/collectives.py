"""Collectives on the cluster: ring all-reduce over the workers' real arrays.

:func:`ring_allreduce` runs the ring algorithm (reduce-scatter + all-gather) over
the workers' REAL arrays on the Dask cluster: chunks travel from worker to worker as
task inputs, and the bytes of the chunks passed are counted.
:func:`ring_allreduce_local` is the same schedule in one process (the reference).

Taught in ``notebooks/05_collectives_compression_pipelines.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from plsim.executor import Executor, Run
from plsim.validation import check_positive_int

__all__ = ["RingResult", "ring_allreduce", "ring_allreduce_local"]


def _ring_steps(p: int) -> list[tuple[str, int, list[tuple[int, int, int]]]]:
    """The ring schedule: ``[(phase, step, [(src, dst, chunk), ...]), ...]``.

    Reduce-scatter step ``s``: rank ``r`` sends chunk ``(r - s) mod p`` to ``r + 1``,
    which adds it to its own copy. After ``p - 1`` steps rank ``r`` owns the full sum
    of chunk ``(r + 1) mod p``. All-gather step ``s``: rank ``r`` forwards chunk
    ``(r + 1 - s) mod p`` to ``r + 1``, which overwrites its copy.
    """
    steps = []
    for s in range(p - 1):
        steps.append(("reduce-scatter", s, [(r, (r + 1) % p, (r - s) % p) for r in range(p)]))
    for s in range(p - 1):
        steps.append(("all-gather", s, [(r, (r + 1) % p, (r + 1 - s) % p) for r in range(p)]))
    return steps


@dataclass
class RingResult:
    """Outcome of a ring all-reduce.

    Attributes
    ----------
    values : list of ndarray
        The reduced vector as held by each rank (all equal).
    bytes_sent : int
        Bytes of chunks passed between ranks, counted from the chunk payloads.
    bytes_per_rank : list of int
        Bytes each rank sent.
    messages : int
        Chunk transfers (``2 p (p - 1)``).
    steps : int
        Communication rounds (``2 (p - 1)``).
    """

    values: list[np.ndarray]
    bytes_sent: int
    bytes_per_rank: list[int]
    messages: int
    steps: int


def _check_vectors(arrays: Any) -> list[np.ndarray]:
    if not isinstance(arrays, (list, tuple)) or len(arrays) == 0:
        raise ValueError("arrays must be a non-empty list of equally shaped 1-D arrays (one per rank)")
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    shape = out[0].shape
    for i, a in enumerate(out):
        if a.ndim != 1 or a.shape != shape:
            raise ValueError(f"arrays[{i}] has shape {a.shape}; all must be 1-D with shape {shape}")
    return out


def ring_allreduce_local(arrays: list[np.ndarray], *, average: bool = True) -> RingResult:
    """The ring all-reduce schedule executed in this process (reference for :func:`ring_allreduce`)."""
    arrays = _check_vectors(arrays)
    p = len(arrays)
    chunks = [list(np.array_split(a.copy(), p)) for a in arrays]
    per_rank = [0] * p
    messages = 0
    for phase, _, sends in _ring_steps(p):
        payloads = [chunks[src][c].copy() for src, _, c in sends]  # all sends of a step happen at once
        for (src, dst, c), data in zip(sends, payloads):
            per_rank[src] += data.nbytes
            messages += 1
            chunks[dst][c] = chunks[dst][c] + data if phase == "reduce-scatter" else data
    values = [np.concatenate(c) / (p if average else 1) for c in chunks]
    return RingResult(values, sum(per_rank), per_rank, messages, 2 * (p - 1))


def _shape_of(v: np.ndarray) -> tuple[tuple[int, ...], int]:
    return np.shape(v), np.asarray(v).dtype.itemsize


def _split_chunk(vector: np.ndarray, index: int, p: int) -> np.ndarray:
    return np.array_split(vector, p)[index].copy()


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _add_scaled(a: np.ndarray, b: np.ndarray, factor: float) -> np.ndarray:
    return (a + b) * factor


def _concat_scale(scale: float, *parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts) / scale


def ring_exchange_chunks(chunks: list[list[Any]], where: list[str], chunk_bytes: list[int], *, executor: Executor,
                         scale: float | None = None) -> tuple[list[list[Any]], list[int]]:
    """The ring's ``2 (p - 1)`` communication steps on a table of chunk futures, nothing else.

    ``chunks[r][c]`` is rank ``r``'s chunk ``c`` (a future held by worker ``where[r]``).
    Every step is ``p`` tasks, one per rank, each pinned to the receiving rank's
    worker and taking one chunk from its left neighbour: the messages the alpha-beta
    model counts, and no other task (cutting the vectors into chunks and joining them
    happen outside). :func:`ring_allreduce` wraps it; :func:`plsim.comm.measure_exchange`
    times it alone.

    Parameters
    ----------
    chunks : list of list of handles
        ``p`` lists of ``p`` chunk handles (futures); not modified (a new table is returned).
    where : list of str
        The worker of each rank.
    chunk_bytes : list of int
        Bytes of chunk ``c`` (to count what each rank sends).
    executor : plsim.executor.Executor
        Runs each step's tasks on the receiving rank's worker (:meth:`~plsim.executor.Executor.submit`
        with ``worker=``).
    scale : float or None
        Multiply each reduced chunk by this in the last reduce-scatter step (``1 / p``
        for the mean); ``None`` leaves the sum.

    Returns
    -------
    (table, bytes_per_rank)
        The new chunk table, every chunk reduced over the ranks, and the bytes each rank sent.
    """
    p = len(chunks)
    table = [list(row) for row in chunks]
    per_rank = [0] * p
    steps = _ring_steps(p)
    last_reduce = p - 2  # index of the last reduce-scatter step
    for index, (phase, _, sends) in enumerate(steps):
        new = {}
        for src, dst, c in sends:
            per_rank[src] += chunk_bytes[c]
            if phase == "reduce-scatter" and index == last_reduce and scale is not None:
                new[(dst, c)] = executor.submit(_add_scaled, table[dst][c], table[src][c], scale,
                                                name="plsim-ring-reduce", worker=where[dst])
            elif phase == "reduce-scatter":
                new[(dst, c)] = executor.submit(_add, table[dst][c], table[src][c], name="plsim-ring-reduce",
                                                worker=where[dst])
            else:
                new[(dst, c)] = executor.submit(_identity, table[src][c], name="plsim-ring-gather", worker=where[dst])
        for (dst, c), fut in new.items():
            table[dst][c] = fut
    return table, per_rank


def ring_allreduce(arrays: list[Any], *, executor: Any = "auto", average: bool = True, gather: bool = True,
                   length: int | None = None) -> RingResult:
    """Ring all-reduce over arrays living on the Dask workers.

    Rank ``r`` lives on worker ``r mod n_workers``. Its vector is cut into ``p``
    chunks; in each of the ``2 (p - 1)`` steps every rank passes one chunk to the
    next rank as the input of a task pinned to the next rank's worker
    (:meth:`plsim.executor.Executor.submit` with ``worker=``), so the bytes really
    travel between worker processes.

    Parameters
    ----------
    arrays : list of ndarray or Future
        One flat vector per rank (numpy arrays are sent to their rank's worker first).
    executor : dask.distributed.Client, "auto" or plsim.executor.Executor
        The cluster (:func:`plsim.executor.resolve_executor`; ``"auto"``: the one
        :func:`plsim.start_cluster` started). :func:`ring_allreduce_local` runs the
        same schedule in this process.
    average : bool
        Divide the sum by ``p`` (the mean, as data-parallel SGD needs).
    gather : bool
        Return the arrays (True) or leave them as futures in ``values`` (False).
    length : int or None
        The vectors' common length when the caller knows it (futures made by the
        caller): skips the round trip that asks the workers for the shapes, so a timed
        exchange (:func:`plsim.comm.measure.measure_exchange`) times only the ring.

    Returns
    -------
    RingResult
        ``values`` equal ``mean(arrays)`` (up to floating-point summation order).
    """
    from plsim.executor import resolve_executor

    ex = resolve_executor(executor)
    ex.require_cluster("ring_allreduce", instead="ring_allreduce_local")
    if not isinstance(arrays, (list, tuple)) or len(arrays) == 0:
        raise ValueError("arrays must be a non-empty list (one vector or Future per rank)")

    addresses = ex.workers()
    p = len(arrays)
    where = [addresses[r % len(addresses)] for r in range(p)]
    # Interrupted (the kernel's interrupt button) or failed half-way, the chunks already submitted
    # are cancelled: the workers do not go on with an abandoned exchange.
    with Run("ring_allreduce", ex, keeps_partial=False):
        futures = []
        for r, a in enumerate(arrays):
            if hasattr(a, "key"):  # a future (handle) the caller made
                futures.append(a)
            else:
                (vec,) = _check_vectors([a])
                futures.append(ex.send(vec, worker=where[r]))
        if length is None:
            length_and_dtype = ex.gather([ex.submit(_shape_of, f, name="plsim-ring-shape") for f in futures])
            shapes = {s for s, _ in length_and_dtype}
            if len(shapes) != 1 or len(next(iter(shapes))) != 1:
                raise ValueError(f"all vectors must be 1-D with the same shape; got shapes {sorted(shapes)}")
            (n,) = next(iter(shapes))
        else:
            n = check_positive_int("length", length)
        itemsize = 8  # chunks are float64 after the additions
        chunk_len = [len(c) for c in np.array_split(np.empty(n), p)]

        chunks = [[ex.submit(_split_chunk, futures[r], c, p, name="plsim-ring-split", worker=where[r])
                   for c in range(p)] for r in range(p)]
        chunks, per_rank = ring_exchange_chunks(chunks, where, [n_c * itemsize for n_c in chunk_len], executor=ex)
        scale = float(p if average else 1)
        values = [ex.submit(_concat_scale, scale, *chunks[r], name="plsim-ring-join", worker=where[r])
                  for r in range(p)]
        if gather:
            values = ex.gather(values)
    return RingResult(values, sum(per_rank), per_rank, 2 * p * (p - 1), 2 * (p - 1))

